//! When the trouble began: the split of the window into a normal part and an abnormal
//! part, found as the single change point that best separates the per-second syscall
//! mix before it from the mix after it (per thread group and syscall). The series
//! starts after any warm-up: seconds before the usual activity, and a server that started
//! inside the window until it accepted its first connection.

use rustc_hash::FxHashMap;

use crate::window::Window;

#[derive(Clone, Debug, PartialEq)]
pub struct OnsetParams {
    /// Width of the time bins compared.
    pub bin_ns: u64,
    /// The normal part is at least this long.
    pub min_normal_ns: u64,
    /// The abnormal part is at least this long.
    pub min_abnormal_ns: u64,
    /// A change point is reported as detected when its score (a z-score of the summed
    /// two-sample statistics against their no-change expectation) reaches this.
    pub min_score: f64,
}

impl Default for OnsetParams {
    fn default() -> Self {
        OnsetParams {
            bin_ns: 1_000_000_000,
            min_normal_ns: 5_000_000_000,
            min_abnormal_ns: 2_000_000_000,
            min_score: 6.0,
        }
    }
}

/// The best change point.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Onset {
    pub ts: u64,
    pub score: f64,
    /// The score reached [`OnsetParams::min_score`].
    pub detected: bool,
    /// Where the compared series starts: the window's first syscall of a live process, or
    /// the end of a warm-up. What came before is neither the normal part nor the onset.
    pub from: u64,
}

/// Finds the change point of `w`; `group` maps each thread to its group. `None` when the
/// window is too short to hold both parts.
pub fn detect(w: &Window, group: &[u32], runtime: &[bool], p: &OnsetParams) -> Option<Onset> {
    // a process that ended stops for a known reason: its silence is no change of
    // behaviour (the processes of a start-up script, a finished job); threads that end
    // in a live process (a connection's thread) still count
    let ended: rustc_hash::FxHashSet<u32> = w
        .threads
        .iter()
        .filter(|t| t.tid == t.pid && t.exited.is_some())
        .map(|t| t.pid)
        .collect();
    // the series starts with the first syscall of a process that is still there: the
    // seconds a start-up script spent before the server existed are not its normal
    let first = w
        .threads
        .iter()
        .filter(|t| !ended.contains(&t.pid))
        .filter_map(|t| t.calls.first().map(|c| c.ts))
        .chain(w.tallies.first().map(|t| t.ts))
        .min()?
        .max(w.start);
    let span = w.end.checked_sub(first)?;
    let nb = usize::try_from(span.div_ceil(p.bin_ns)).ok()?;
    let min_b = usize::try_from(p.min_normal_ns.div_ceil(p.bin_ns))
        .ok()?
        .max(1);
    let min_a = usize::try_from(p.min_abnormal_ns.div_ceil(p.bin_ns))
        .ok()?
        .max(1);
    if nb < min_b + min_a {
        return None;
    }
    // per (group, syscall) feature, its count per bin
    let mut feature: FxHashMap<(u32, u16), usize> = FxHashMap::default();
    let mut counts: Vec<Vec<f64>> = Vec::new();
    for (ti, t) in w.threads.iter().enumerate() {
        // a runtime's own threads (GC, JIT) follow the load, not a change of the code's
        if ended.contains(&t.pid) || runtime[group[ti] as usize] {
            continue;
        }
        for c in &t.calls {
            if c.ts < first {
                continue;
            }
            let b = (((c.ts - first) / p.bin_ns) as usize).min(nb - 1);
            let f = *feature.entry((group[ti], c.nr)).or_insert_with(|| {
                counts.push(vec![0.0; nb]);
                counts.len() - 1
            });
            counts[f][b] += 1.0;
        }
    }
    // what a full window evicted early, counted per second: the normal part of a storm
    let group_of: FxHashMap<&str, u32> = w
        .threads
        .iter()
        .zip(group)
        .filter(|(t, g)| !runtime[**g as usize] && !ended.contains(&t.pid))
        .map(|(t, &g)| (t.comm.as_str(), g))
        .collect();
    for t in &w.tallies {
        let Some(&g) = group_of.get(t.comm.as_str()) else {
            continue;
        };
        if t.ts < first.saturating_sub(p.bin_ns) {
            continue;
        }
        let b = ((t.ts.max(first) - first) / p.bin_ns) as usize;
        let f = *feature.entry((g, t.nr)).or_insert_with(|| {
            counts.push(vec![0.0; nb]);
            counts.len() - 1
        });
        counts[f][b.min(nb - 1)] += f64::from(t.calls);
    }
    if counts.is_empty() {
        return None;
    }
    // a window that reaches back before the traffic began (the server starting, idle)
    // is compared from the first of `min_b` seconds in a row with at least a quarter of
    // the usual activity: a warm-up is not the normal part, and its end is no onset
    let totals: Vec<f64> = (0..nb).map(|b| counts.iter().map(|r| r[b]).sum()).collect();
    let mut sorted = totals.clone();
    sorted.sort_by(f64::total_cmp);
    let usual = sorted[nb / 2];
    let warm = (0..=nb - min_b - min_a)
        .find(|&b| totals[b..b + min_b].iter().all(|&t| t >= 0.25 * usual))
        .unwrap_or(0);
    // a server that started inside the window warms up until it serves
    let serving = serving_from(w, &ended).map_or(0, |t| {
        ((t.saturating_sub(first) / p.bin_ns) as usize).min(nb - min_b - min_a)
    });
    let warm = warm.max(serving);
    if warm > 0 {
        for row in &mut counts {
            row.drain(..warm);
        }
    }
    let (first, nb) = (first + warm as u64 * p.bin_ns, nb - warm);
    // log scale, prefix sums of x and x²
    let prefix: Vec<Prefix> = counts
        .iter()
        .map(|row| {
            let (mut s, mut q) = (vec![0.0; nb + 1], vec![0.0; nb + 1]);
            for (i, &c) in row.iter().enumerate() {
                let x = c.ln_1p();
                s[i + 1] = s[i] + x;
                q[i + 1] = q[i] + x * x;
            }
            (s, q)
        })
        .collect();
    let (k, z) = best_split(&prefix, 0, nb, min_b, min_a)?;
    Some(Onset {
        ts: first + k as u64 * p.bin_ns,
        score: z,
        detected: z >= p.min_score,
        from: first,
    })
}

/// Prefix sums of one feature's log counts and their squares.
type Prefix = (Vec<f64>, Vec<f64>);

/// The best split of bins `lo..hi` with at least `min_b` bins before it and `min_a` after,
/// and its score: the summed two-sample statistics of every feature, as a z-score against
/// their no-change expectation.
fn best_split(
    prefix: &[Prefix],
    lo: usize,
    hi: usize,
    min_b: usize,
    min_a: usize,
) -> Option<(usize, f64)> {
    let nf = prefix.len() as f64;
    let n = (hi - lo) as f64;
    let mut best: Option<(usize, f64)> = None;
    for k in lo + min_b..=hi.checked_sub(min_a)? {
        let (nbf, naf) = ((k - lo) as f64, (hi - k) as f64);
        let mut stat = 0.0;
        for (s, q) in prefix {
            let (sb, sa) = (s[k] - s[lo], s[hi] - s[k]);
            let (qb, qa) = (q[k] - q[lo], q[hi] - q[k]);
            let (mb, ma) = (sb / nbf, sa / naf);
            let var = ((qb - sb * mb) + (qa - sa * ma)) / (n - 2.0).max(1.0);
            // the floor keeps a feature that is constant on both sides from dominating
            let t2 = (nbf * naf / (nbf + naf)) * (ma - mb).powi(2) / (var + 0.05);
            stat += t2;
        }
        let z = (stat - nf) / (2.0 * nf).sqrt();
        if best.is_none_or(|(_, bz)| z > bz) {
            best = Some((k, z));
        }
    }
    best
}

/// When the servers that started inside the window began to serve: for each live process
/// that made an `execve` in the window (or whose start a watcher marked, [`Mark::started`]), the end of its first accept (of a connection, not
/// one still waiting) after its last `execve`; the latest of them. A server's start-up
/// (loading, recovering, opening its files) is not how it behaves when it serves, and a
/// restart is a new life. `None` when no live process started in the window or none of
/// those accepted a connection.
fn serving_from(w: &Window, ended: &rustc_hash::FxHashSet<u32>) -> Option<u64> {
    let sys = |name| trace::syscall_number(name).and_then(|n| u16::try_from(n).ok());
    let execve = sys("execve")?;
    let accepts = [sys("accept"), sys("accept4")];
    let mut exec_at: FxHashMap<u32, u64> = FxHashMap::default();
    // processes that a watcher attached to after they started
    for (pid, ts) in w
        .marks
        .iter()
        .filter_map(|m| Some((m.started_pid()?, m.ts)))
    {
        if ts >= w.start && !ended.contains(&pid) {
            let at = exec_at.entry(pid).or_default();
            *at = (*at).max(ts);
        }
    }
    for t in w.threads.iter().filter(|t| !ended.contains(&t.pid)) {
        if let Some(c) = t.calls.iter().rev().find(|c| c.nr == execve) {
            let at = exec_at.entry(t.pid).or_default();
            *at = (*at).max(c.ts);
        }
    }
    let mut serving: Option<u64> = None;
    for (&pid, &at) in &exec_at {
        let accepted = w
            .threads
            .iter()
            .filter(|t| t.pid == pid)
            .flat_map(|t| &t.calls)
            .filter(|c| c.ts > at && accepts.contains(&Some(c.nr)) && !c.is_pending())
            .filter(|c| c.ret >= 0)
            .map(|c| c.end(w.end))
            .min();
        if let Some(a) = accepted {
            serving = Some(serving.map_or(a, |s| s.max(a)));
        }
    }
    serving
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::window::{Call, Mark, Thread};

    fn nr(name: &str) -> u16 {
        trace::syscall_number(name).unwrap() as u16
    }

    /// `per_sec` calls of each named syscall every second from `from` to `to` seconds.
    fn calls(from: u64, to: u64, per_sec: u64, names: &[&str]) -> Vec<Call> {
        let mut v = Vec::new();
        for s in from..to {
            for i in 0..per_sec {
                for (k, n) in names.iter().enumerate() {
                    v.push(Call {
                        ts: s * 1_000_000_000 + i * (1_000_000_000 / per_sec) + k as u64,
                        dur: 1000,
                        ret: 0,
                        nr: nr(n),
                        cpu: 0,
                    });
                }
            }
        }
        v
    }

    fn window(threads: Vec<Vec<Call>>) -> Window {
        Window {
            start: 0,
            end: 60_000_000_000,
            threads: threads
                .into_iter()
                .enumerate()
                .map(|(i, calls)| Thread {
                    pid: 1,
                    tid: i as u32 + 1,
                    calls,
                    ..Thread::default()
                })
                .collect(),
            ..Window::default()
        }
    }

    #[test]
    fn a_new_syscall_stream_marks_the_onset() {
        let w = window(vec![
            calls(0, 60, 50, &["epoll_wait", "read", "sendmsg"]),
            calls(40, 60, 300, &["fsync"]),
        ]);
        let o = detect(&w, &[0, 1], &[false, false], &OnsetParams::default()).unwrap();
        assert!(o.detected, "{o:?}");
        assert_eq!(o.ts, 40_000_000_000);
    }

    #[test]
    fn a_thread_that_goes_silent_marks_the_onset() {
        let w = window(vec![calls(0, 35, 100, &["epoll_wait", "read", "writev"])]);
        let o = detect(&w, &[0], &[false], &OnsetParams::default()).unwrap();
        assert!(o.detected, "{o:?}");
        assert_eq!(o.ts, 35_000_000_000);
    }

    #[test]
    fn a_steady_workload_has_no_onset() {
        let w = window(vec![
            calls(0, 60, 50, &["epoll_wait", "read", "sendmsg"]),
            calls(0, 60, 10, &["clock_nanosleep"]),
        ]);
        let o = detect(&w, &[0, 1], &[false, false], &OnsetParams::default()).unwrap();
        assert!(!o.detected, "{o:?}");
    }

    #[test]
    fn a_warm_up_before_the_traffic_is_not_the_onset() {
        // the server starts idle (a timer tick a second) for 10 s, then serves; its
        // writes grow at 40 s
        let w = window(vec![
            calls(0, 60, 1, &["epoll_wait"]),
            calls(10, 60, 80, &["read", "sendmsg"]),
            calls(40, 60, 80, &["write"]),
        ]);
        let o = detect(&w, &[0, 0, 0], &[false], &OnsetParams::default()).unwrap();
        assert!(o.detected, "{o:?}");
        assert_eq!(o.ts, 40_000_000_000);
    }

    #[test]
    fn a_server_starting_in_the_window_warms_up_until_it_serves() {
        // exec'd at 0 s, the server starts busily (opening, reading, mapping its files)
        // for 20 s, accepts its first connection at 20 s, serves, and goes silent at 50 s;
        // the end of the start-up is the bigger change, but it is no onset
        let mut start = calls(0, 20, 400, &["openat", "read", "mmap", "futex"]);
        start[0].nr = nr("execve");
        let mut serve = calls(20, 50, 60, &["epoll_wait", "read", "write"]);
        serve[0].nr = nr("accept4");
        serve[0].ret = 7;
        let w = window(vec![start, serve]);
        let o = detect(&w, &[0, 0], &[false], &OnsetParams::default()).unwrap();
        assert!(o.detected, "{o:?}");
        assert_eq!((o.from, o.ts), (20_000_000_000, 50_000_000_000));
        // without the execve the start-up is part of the series, and its end the onset
        let mut w = w;
        w.threads[0].calls[0].nr = nr("openat");
        let o = detect(&w, &[0, 0], &[false], &OnsetParams::default()).unwrap();
        assert_eq!((o.from, o.ts), (0, 20_000_000_000));
        // a watcher that attached after the exec marked when the process started: the
        // same warm-up; the mark of another process, or of a start before the window, not
        let pid = w.threads[0].pid;
        for (mark, from) in [
            (Mark::started(0, pid), 20_000_000_000),
            (Mark::started(0, pid + 1), 0),
        ] {
            w.marks = vec![mark];
            let o = detect(&w, &[0, 0], &[false], &OnsetParams::default()).unwrap();
            assert_eq!(o.from, from, "{:?}", w.marks);
        }
        w.start = 1;
        w.marks = vec![Mark::started(0, pid)];
        let o = detect(&w, &[0, 0], &[false], &OnsetParams::default()).unwrap();
        assert!(o.from < 1_000_000_000, "{o:?}");
    }

    #[test]
    fn a_window_too_short_for_both_parts_has_none() {
        let mut w = window(vec![calls(0, 3, 10, &["read"])]);
        w.end = 3_000_000_000;
        assert_eq!(detect(&w, &[0], &[false], &OnsetParams::default()), None);
    }

    #[test]
    fn a_start_up_script_that_ended_does_not_start_the_series() {
        // a set-up script works for 8 s and exits; the server starts at 8 s, serves, and
        // a new syscall stream begins at 40 s
        let mut w = window(vec![
            calls(0, 8, 200, &["newfstatat", "linkat"]),
            calls(8, 40, 50, &["epoll_wait", "read", "sendmsg"]),
            calls(40, 60, 20, &["epoll_wait", "read", "sendmsg"]),
        ]);
        w.threads[0].pid = 9;
        w.threads[0].tid = 9;
        w.threads[0].exited = Some(8_000_000_000);
        let o = detect(
            &w,
            &[0, 1, 2],
            &[false, false, false],
            &OnsetParams::default(),
        )
        .unwrap();
        assert!(o.detected, "{o:?}");
        assert_eq!(o.ts, 40_000_000_000);
    }
}
