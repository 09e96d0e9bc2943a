//! Scheduler samples of the traced threads from /proc: state letter, CPU time and name,
//! once a second. A thread that makes no syscall is invisible to the capture; these
//! samples tell a spinning thread (running, CPU time growing) from an idle one.

use std::io::Read;
use std::path::Path;

/// Threads sampled per round at most: reading /proc costs ~10 µs per thread.
pub const MAX_THREADS: usize = 4096;

/// One thread's sample.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThreadSample {
    pub pid: u32,
    pub tid: u32,
    /// `R` running, `S` sleeping, `D` disk wait...
    pub state: u8,
    /// CPU time used so far (from schedstat, ns; else stat's ticks).
    pub cpu_ns: u64,
    pub comm: String,
}

/// Reads samples, reusing its buffers.
pub struct Sampler {
    buf: String,
    ns_per_tick: u64,
    /// Threads left out of the last round because of [`MAX_THREADS`].
    pub skipped: usize,
}

impl Default for Sampler {
    fn default() -> Self {
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        Sampler {
            buf: String::with_capacity(512),
            ns_per_tick: 1_000_000_000 / u64::try_from(hz).unwrap_or(100).max(1),
            skipped: 0,
        }
    }
}

impl Sampler {
    /// Samples every thread of `pids` into `out` (cleared first), sorted by tid.
    pub fn sample(&mut self, pids: &[u32], out: &mut Vec<ThreadSample>) {
        out.clear();
        self.skipped = 0;
        for &pid in pids {
            let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
                continue; // exited meanwhile
            };
            for e in dir.flatten() {
                let Some(tid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                    continue;
                };
                if out.len() >= MAX_THREADS {
                    self.skipped += 1;
                    continue;
                }
                let base = e.path();
                if !read_into(&base.join("stat"), &mut self.buf) {
                    continue;
                }
                let Some((comm, state, ticks)) = parse_stat(&self.buf) else {
                    continue;
                };
                let comm = comm.to_string();
                let cpu_ns = if read_into(&base.join("schedstat"), &mut self.buf) {
                    parse_schedstat(&self.buf)
                } else {
                    None
                }
                .unwrap_or(ticks * self.ns_per_tick);
                out.push(ThreadSample {
                    pid,
                    tid,
                    state,
                    cpu_ns,
                    comm,
                });
            }
        }
        out.sort_by_key(|s| s.tid);
    }
}

fn read_into(path: &Path, buf: &mut String) -> bool {
    buf.clear();
    std::fs::File::open(path)
        .and_then(|mut f| f.read_to_string(buf))
        .is_ok()
}

/// `(comm, state, utime + stime in ticks)` from /proc/PID/task/TID/stat. The name may
/// hold spaces and parentheses: the fields start after its last `)`.
pub fn parse_stat(s: &str) -> Option<(&str, u8, u64)> {
    let open = s.find('(')?;
    let close = s.rfind(')')?;
    let comm = s.get(open + 1..close)?;
    let mut f = s.get(close + 1..)?.split_ascii_whitespace();
    let state = *f.next()?.as_bytes().first()?;
    // after the state: ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
    let mut f = f.skip(10);
    let utime: u64 = f.next()?.parse().ok()?;
    let stime: u64 = f.next()?.parse().ok()?;
    Some((comm, state, utime + stime))
}

/// Time on CPU in ns: the first field of /proc/PID/task/TID/schedstat.
pub fn parse_schedstat(s: &str) -> Option<u64> {
    s.split_ascii_whitespace().next()?.parse().ok()
}

/// The processes in a cgroup directory and below it.
pub fn cgroup_procs(path: &Path, out: &mut Vec<u32>) {
    let mut dirs = vec![path.to_owned()];
    while let Some(d) = dirs.pop() {
        if let Ok(s) = std::fs::read_to_string(d.join("cgroup.procs")) {
            out.extend(s.lines().filter_map(|l| l.trim().parse::<u32>().ok()));
        }
        if let Ok(rd) = std::fs::read_dir(&d) {
            dirs.extend(
                rd.flatten()
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                    .map(|e| e.path()),
            );
        }
    }
    out.sort_unstable();
    out.dedup();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_with_odd_names_parse() {
        let line = "1177 (we ird) (x)) R 1174 1174 17377 0 -1 4194304 99 0 0 0 12 30 0 0 20 0 1";
        assert_eq!(parse_stat(line), Some(("we ird) (x)", b'R', 42)));
        assert_eq!(parse_stat("12 (x) S 1"), None);
        assert_eq!(parse_stat(""), None);
        assert_eq!(parse_schedstat("2125348 50324 3\n"), Some(2_125_348));
    }

    #[test]
    fn a_spinning_thread_shows_running_and_cpu_time() {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let s2 = stop.clone();
        let spinner = std::thread::Builder::new()
            .name("spinner".into())
            .spawn(move || {
                let mut x = 0u64;
                while !s2.load(std::sync::atomic::Ordering::Relaxed) {
                    x = std::hint::black_box(x.wrapping_add(1));
                }
            })
            .unwrap();
        // the thread names itself once it runs
        std::thread::sleep(std::time::Duration::from_millis(50));
        let mut s = Sampler::default();
        let mut a = Vec::new();
        let mut b = Vec::new();
        s.sample(&[std::process::id()], &mut a);
        std::thread::sleep(std::time::Duration::from_millis(300));
        s.sample(&[std::process::id()], &mut b);
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        spinner.join().unwrap();
        let find = |v: &[ThreadSample]| v.iter().find(|t| t.comm == "spinner").cloned();
        let (a, b) = (find(&a).unwrap(), find(&b).unwrap());
        assert_eq!(a.pid, std::process::id());
        assert!(b.cpu_ns > a.cpu_ns, "{a:?} {b:?}");
        // on a loaded machine it may wait for a CPU, but it never sleeps: still R
        assert_eq!(b.state, b'R', "{b:?}");
    }
}
