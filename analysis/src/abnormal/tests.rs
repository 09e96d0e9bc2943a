//! Evidence on small synthetic windows, one case per kind.

use super::*;
use crate::cluster::{ClusterParams, cluster};
use crate::unit::{UnitParams, split};
use crate::window::{PENDING, StateSample, Thread};

const S: u64 = 1_000_000_000;

fn nr(name: &str) -> u16 {
    trace::syscall_number(name).unwrap() as u16
}

/// A request every `every_ms` from `from` to `to` seconds: the named syscalls 100 µs apart.
fn requests(from: u64, to: u64, every_ms: u64, names: &[&str]) -> Vec<Call> {
    let mut v = Vec::new();
    let mut t = from * S;
    while t < to * S {
        for (k, n) in names.iter().enumerate() {
            v.push(Call {
                ts: t + k as u64 * 100_000,
                dur: 20_000,
                ret: 0,
                nr: nr(n),
                cpu: 0,
            });
        }
        t += every_ms * 1_000_000;
    }
    v
}

fn thread(tid: u32, comm: &str, calls: Vec<Call>) -> Thread {
    Thread {
        pid: 1,
        tid,
        comm: comm.into(),
        calls,
        ..Thread::default()
    }
}

fn evidence(w: &Window, onset_s: u64) -> Vec<Evidence> {
    let units = split(w, &UnitParams::default());
    let cl = cluster(&units, w, &ClusterParams::default());
    find(
        w,
        &units,
        &cl,
        &Groups::of(w),
        onset_s * S,
        &AbnormalParams::default(),
    )
}

fn window(threads: Vec<Thread>) -> Window {
    Window {
        start: 0,
        end: 60 * S,
        threads,
        ..Window::default()
    }
}

#[test]
fn poisson_tails_match_known_values() {
    // P(X >= 3 | 1) = 1 - e^-1 (1 + 1 + 1/2) = 0.080301...
    assert!((ln_upper_tail(3, 1.0).exp() - 0.0803014).abs() < 1e-6);
    // P(X <= 1 | 4) = e^-4 (1 + 4) = 0.0915782...
    assert!((ln_lower_tail(1, 4.0).exp() - 0.0915782).abs() < 1e-6);
    assert_eq!(ln_upper_tail(0, 3.0), 0.0);
    assert!(ln_upper_tail(500, 0.1) < -1000.0);
}

#[test]
fn a_new_kind_of_unit_is_new_evidence_in_its_group() {
    let w = window(vec![
        thread(1, "worker", requests(0, 60, 20, &["read", "sendto"])),
        thread(2, "flusher", requests(40, 60, 10, &["pwrite64", "fsync"])),
    ]);
    let ev = evidence(&w, 40);
    let top = &ev[0];
    assert_eq!(top.kind, Kind::New, "{ev:?}");
    assert_eq!(top.group, 1);
    assert!(
        ev.iter().all(|e| e.group != 0),
        "the steady worker is normal: {ev:?}"
    );
}

#[test]
fn the_same_units_much_more_often_are_more_frequent() {
    let mut calls = requests(0, 40, 1000, &["clock_nanosleep"]);
    calls.extend(requests(40, 60, 50, &["clock_nanosleep"]));
    let w = window(vec![thread(1, "maint", calls)]);
    let ev = evidence(&w, 40);
    assert_eq!(ev[0].kind, Kind::MoreFrequent, "{ev:?}");
    assert!(ev[0].rate.1 > 10.0 * ev[0].rate.0);
}

#[test]
fn slower_units_of_a_known_shape_are_slower() {
    let mut calls = requests(0, 40, 50, &["read", "write"]);
    let mut slow = requests(40, 60, 50, &["read", "write"]);
    for c in slow.iter_mut().filter(|c| c.nr == nr("write")) {
        c.ts += 3_000_000;
    }
    calls.extend(slow);
    let w = window(vec![thread(1, "srv", calls)]);
    let ev = evidence(&w, 40);
    assert!(ev.iter().any(|e| e.kind == Kind::Slower), "{ev:?}");
}

/// Scheduler samples once a second: waiting for a CPU 1 ms a second, then `after_ms` a
/// second from `onset` seconds on.
fn run_queue(onset: u64, after_ms: u64) -> Vec<StateSample> {
    (0..=60u64)
        .map(|s| StateSample {
            ts: s * S,
            state: b'S',
            cpu_ns: s * 10_000_000,
            wait_ns: Some(s * 1_000_000 + s.saturating_sub(onset) * (after_ms - 1) * 1_000_000),
        })
        .collect()
}

#[test]
fn units_slower_by_what_their_thread_waited_for_a_cpu_are_not_slower() {
    // each unit takes 3 ms longer from 40 s on (20 units a second)...
    let mut calls = requests(0, 40, 50, &["read", "write"]);
    let mut slow = requests(40, 60, 50, &["read", "write"]);
    for c in slow.iter_mut().filter(|c| c.nr == nr("write")) {
        c.ts += 3_000_000;
    }
    calls.extend(slow);
    let slower = |after_ms| {
        let mut t = thread(1, "srv", calls.clone());
        t.states = run_queue(40, after_ms);
        evidence(&window(vec![t]), 40)
            .into_iter()
            .filter(|e| e.kind == Kind::Slower)
            .collect::<Vec<_>>()
    };
    // ... while the thread waited 70 ms a second for a CPU instead of 1 ms (3.5 ms a
    // unit): the machine was busy, not its code
    let ev = slower(71);
    assert!(ev.is_empty(), "{ev:?}");
    // waiting as before: its code is slower
    let ev = slower(1);
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!(ev[0].cpu_wait_ns, 0);
    // waiting 1 ms a unit more: the rest still counts, and the report says how much waited
    let ev = slower(21);
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert!((900_000..1_100_000).contains(&ev[0].cpu_wait_ns), "{ev:?}");
}

#[test]
fn a_thread_quiet_while_on_cpu_is_spinning_and_one_stuck_in_a_syscall_is_blocked() {
    let mut spinner = thread(
        1,
        "loop",
        requests(0, 45, 20, &["epoll_wait", "read", "writev"]),
    );
    spinner.states = (0..60)
        .map(|s| StateSample {
            ts: s * S,
            state: b'R',
            cpu_ns: if s < 45 {
                s * 10_000_000
            } else {
                450_000_000 + (s - 45) * 950_000_000
            },
            wait_ns: None,
        })
        .collect();
    let mut blocked_calls = requests(0, 44, 20, &["recvfrom", "sendto"]);
    blocked_calls.push(Call {
        ts: 44 * S,
        dur: PENDING,
        ret: 0,
        nr: nr("clock_nanosleep"),
        cpu: 1,
    });
    let blocked = thread(2, "handler", blocked_calls);
    let w = window(vec![spinner, blocked]);
    let ev = evidence(&w, 44);
    let spin = ev
        .iter()
        .find(|e| e.kind == Kind::Spinning)
        .expect("spinning thread");
    assert_eq!(spin.thread, Some(0));
    let stuck = ev
        .iter()
        .find(|e| e.kind == Kind::Blocked)
        .expect("blocked thread");
    assert_eq!(stuck.pending.map(|c| c.nr), Some(nr("clock_nanosleep")));
}

#[test]
fn an_idle_thread_parked_since_the_start_is_not_blocked_evidence() {
    let mut calls = requests(0, 1, 100, &["futex"]);
    calls.push(Call {
        ts: 2 * S,
        dur: PENDING,
        ret: 0,
        nr: nr("futex"),
        cpu: 0,
    });
    let w = window(vec![
        thread(1, "idle", calls),
        thread(2, "srv", requests(0, 60, 20, &["read", "write"])),
    ]);
    let ev = evidence(&w, 40);
    assert!(
        ev.iter().all(|e| e.kind != Kind::Blocked || e.score < 1.5),
        "{ev:?}"
    );
}

#[test]
fn a_spinner_starved_of_cpu_on_a_loaded_machine_is_still_spinning_a_sleeper_is_not() {
    // quiet from 45 s; gets 5 % of a CPU since (load 20 on 2 CPUs), always runnable
    let quiet = |state: u8, cpu_after: u64| {
        let mut t = thread(
            1,
            "loop",
            requests(0, 45, 20, &["epoll_wait", "read", "writev"]),
        );
        t.states = (0..60)
            .map(|s| StateSample {
                ts: s * S,
                state: if s < 45 { b'S' } else { state },
                cpu_ns: if s < 45 {
                    s * 10_000_000
                } else {
                    450_000_000 + (s - 45) * cpu_after
                },
                wait_ns: None,
            })
            .collect();
        t
    };
    let ev = evidence(&window(vec![quiet(b'R', 50_000_000)]), 44);
    assert!(ev.iter().any(|e| e.kind == Kind::Spinning), "{ev:?}");
    // the same CPU use while sleeping between samples: not a spin
    let ev = evidence(&window(vec![quiet(b'S', 50_000_000)]), 44);
    assert!(ev.iter().all(|e| e.kind != Kind::Spinning), "{ev:?}");
}

#[test]
fn closes_count_as_connection_ends_only_while_connections_arrive_as_fast() {
    // from 40 s, short connections: each asks once and is closed
    let closes = |w: &Window| -> Vec<f64> {
        let ev = evidence(w, 40);
        let close = nr("close");
        ev.iter()
            .filter(|e| e.kind == Kind::New)
            .filter(|e| {
                let units = split(w, &UnitParams::default());
                e.units
                    .iter()
                    .any(|&i| units[i as usize].calls(w).iter().any(|c| c.nr == close))
            })
            .map(|e| e.lifecycle)
            .collect()
    };
    let steady = thread(1, "srv", requests(0, 60, 20, &["read", "write"]));
    let ends = thread(3, "srv", requests(40, 60, 10, &["read", "write", "close"]));
    // the connections arrive (accepted) as fast as they end: their ends are lifecycle
    let w = window(vec![
        steady.clone(),
        thread(2, "srv", requests(40, 60, 10, &["accept4", "setsockopt"])),
        ends.clone(),
    ]);
    let with_accepts = closes(&w);
    assert!(!with_accepts.is_empty());
    assert!(with_accepts.iter().all(|&l| l == 1.0), "{with_accepts:?}");
    // no new connections: a new close is new behaviour (a file closed after each request)
    let w = window(vec![steady, ends]);
    let without = closes(&w);
    assert!(!without.is_empty());
    assert!(without.iter().all(|&l| l == 0.0), "{without:?}");
}

#[test]
fn units_that_vanished_count_only_as_far_as_their_syscalls_fell() {
    // a backend's commits: [pwrite64 fdatasync] alone until 40 s, then merged with the
    // next statement's reply (more clients): the shape stopped, its syscalls did not
    let mut calls = requests(0, 40, 20, &["pwrite64", "fdatasync"]);
    calls.extend(requests(40, 60, 10, &["pwrite64", "fdatasync", "sendto"]));
    let reshuffled = window(vec![thread(1, "postgres", calls)]);
    let gone = |ev: &[Evidence]| ev.iter().find(|e| e.kind == Kind::Vanished).cloned();
    let e = gone(&evidence(&reshuffled, 40)).expect("the old shape vanished");
    assert!(e.score > 1.0, "{e:?}");
    assert_eq!(crate::confidence::strength(&e), 0.0, "{e:?}");
    // the same shape gone with its syscalls (the commits stopped): it counts
    let mut calls = requests(0, 40, 20, &["pwrite64", "fdatasync"]);
    calls.extend(requests(40, 60, 20, &["sendto", "recvfrom"]));
    let stopped = window(vec![thread(1, "postgres", calls)]);
    let e = gone(&evidence(&stopped, 40)).expect("the commits vanished");
    assert!(crate::confidence::strength(&e) > 0.5, "{e:?}");
}

/// A pool's requests, `futex` handoffs and a reply each, 20 ms apart; from 40 s one in
/// eight also reads a file: two `pread64` that take `read_ns` each in the kernel.
fn pool_reading_from_40(read_ns: u64) -> Window {
    let mut names = vec!["prctl"];
    names.extend(["futex"; 30]);
    names.push("write");
    let mut calls = Vec::new();
    let mut t = 0;
    for k in 0..3000u64 {
        let reads = t >= 40 * S && k % 8 == 0;
        let mut at = t;
        for n in &names {
            calls.push(Call {
                ts: at,
                dur: 20_000,
                ret: 0,
                nr: nr(n),
                cpu: 0,
            });
            at += 100_000;
        }
        for n in ["prctl", "pread64", "prctl", "pread64"]
            .iter()
            .filter(|_| reads)
        {
            let dur = if *n == "pread64" { read_ns } else { 20_000 };
            calls.push(Call {
                ts: at,
                dur,
                ret: 0,
                nr: nr(n),
                cpu: 0,
            });
            at += dur + 80_000;
        }
        t += 20_000_000;
    }
    window(vec![thread(1, "pool", calls)])
}

#[test]
fn a_new_kind_of_unit_counts_as_far_as_the_groups_syscalls_moved_into_it() {
    let strongest = |w: &Window| {
        let ev = evidence(w, 40);
        let new = ev
            .iter()
            .filter(|e| e.kind == Kind::New)
            .max_by(|a, b| a.score.total_cmp(&b.score))
            .cloned()
            .unwrap_or_else(|| panic!("the units with a read are new: {ev:?}"));
        (crate::confidence::strength(&new), new)
    };
    // a memtable flushed: some requests now read a cached file, 4 µs each, a few calls
    // in a thousand of the pool's: new units, but next to none of the pool's work
    let (s, e) = strongest(&pool_reading_from_40(4_000));
    assert!(e.moved < 0.02, "{e:?}");
    assert!(s < crate::confidence::THRESHOLD, "{s} {e:?}");
    // the same new reads taking 5 ms each (a disk read on the request path): most of
    // the pool's time moved into them
    let (s, e) = strongest(&pool_reading_from_40(5_000_000));
    assert!(e.moved > 0.5, "{e:?}");
    assert!(s > 2.0 * crate::confidence::THRESHOLD, "{s} {e:?}");
}

#[test]
fn a_thread_that_only_started_before_it_parked_did_not_work_before() {
    // a pool thread born 0.3 s before the onset: its start-up, then parked for good
    let mut calls: Vec<Call> = [
        "set_robust_list",
        "rseq",
        "mmap",
        "mprotect",
        "rt_sigprocmask",
        "rt_sigprocmask",
        "sched_getaffinity",
        "sched_getaffinity",
        "gettid",
        "prctl",
        "futex",
        "futex",
    ]
    .iter()
    .enumerate()
    .map(|(k, n)| Call {
        ts: 39 * S + 700_000_000 + k as u64 * 10_000,
        dur: 2_000,
        ret: 0,
        nr: nr(n),
        cpu: 0,
    })
    .collect();
    calls.push(Call {
        ts: 39 * S + 800_000_000,
        dur: PENDING,
        ret: 0,
        nr: nr("futex"),
        cpu: 0,
    });
    let born = thread(3, "scheduler", calls);
    let w = window(vec![
        born,
        thread(1, "srv", requests(0, 60, 20, &["read", "write"])),
    ]);
    let ev = evidence(&w, 40);
    let stuck = ev
        .iter()
        .find(|e| e.kind == Kind::Blocked)
        .expect("stuck for 20 s");
    assert!(!stuck.worked_before, "{stuck:?}");
    assert_eq!(crate::confidence::strength(stuck), 0.0);
}

#[test]
fn a_pool_idle_before_the_onset_that_starts_a_job_does_not_decide_the_verdict() {
    // a flush writer parked since before the window, then writing and syncing files
    let flusher = |idle: bool| {
        let mut calls = if idle {
            vec![Call {
                ts: S / 2,
                dur: 39 * S,
                ret: 0,
                nr: nr("futex"),
                cpu: 0,
            }]
        } else {
            // a writer that worked before: a small file now and then
            requests(0, 40, 500, &["openat", "write", "fsync", "close"])
        };
        calls.extend(requests(
            40,
            60,
            100,
            &["openat", "write", "write", "fdatasync", "close"],
        ));
        thread(2, "flusher", calls)
    };
    let requests_pool = thread(1, "worker", requests(0, 60, 20, &["read", "sendto"]));
    let strongest = |idle: bool| {
        let w = window(vec![requests_pool.clone(), flusher(idle)]);
        let ev = evidence(&w, 40);
        let e = ev
            .iter()
            .filter(|e| e.group == 1 && matches!(e.kind, Kind::New | Kind::MoreFrequent))
            .max_by(|a, b| a.score.total_cmp(&b.score))
            .cloned()
            .unwrap_or_else(|| panic!("the flusher's new units: {ev:?}"));
        (crate::confidence::strength(&e), e)
    };
    let (s, e) = strongest(true);
    assert_eq!(e.part, 0.0, "{e:?}");
    assert_eq!(s, 0.0);
    // the same units from a writer that worked before: a change of what it does
    let (s, e) = strongest(false);
    assert!(e.part > 0.5, "{e:?}");
    assert!(s > crate::confidence::THRESHOLD, "{s} {e:?}");
}

#[test]
fn an_event_loop_registering_new_connections_as_fast_as_they_come_is_lifecycle() {
    // an event loop's turns; from 40 s a burst of short-lived clients: the loop accepts
    // each, and its first turn on it registers the socket (`epoll_ctl`) and answers
    let new_turns = |w: &Window| -> Vec<f64> {
        let ev = evidence(w, 40);
        let units = split(w, &UnitParams::default());
        let ctl = nr("epoll_ctl");
        ev.iter()
            .filter(|e| e.kind == Kind::New)
            .filter(|e| {
                e.units
                    .iter()
                    .any(|&i| units[i as usize].calls(w).iter().any(|c| c.nr == ctl))
            })
            .map(|e| e.lifecycle)
            .collect()
    };
    let turns = thread(
        1,
        "loop",
        requests(0, 60, 20, &["epoll_wait", "read", "write"]),
    );
    let first_turns = thread(
        2,
        "loop",
        requests(
            40,
            60,
            10,
            &["epoll_wait", "recvfrom", "writev", "epoll_ctl"],
        ),
    );
    let w = window(vec![
        turns.clone(),
        thread(
            3,
            "loop",
            requests(40, 60, 10, &["epoll_wait", "accept4", "setsockopt"]),
        ),
        first_turns.clone(),
    ]);
    let with_accepts = new_turns(&w);
    assert!(!with_accepts.is_empty());
    assert!(with_accepts.iter().all(|&l| l == 1.0), "{with_accepts:?}");
    // no new connections: turns that now change what the loop watches are new behaviour
    let w = window(vec![turns, first_turns]);
    let without = new_turns(&w);
    assert!(!without.is_empty());
    assert!(without.iter().all(|&l| l == 0.0), "{without:?}");
}
