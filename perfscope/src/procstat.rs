//! Scheduler samples of the traced threads from /proc: state letter, CPU time and name,
//! once a second. A thread that makes no syscall is invisible to the capture; these
//! samples tell a spinning thread (running, CPU time growing) from an idle one.

use host::procfs;

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
    /// Time spent runnable, waiting for a CPU, so far (schedstat; `None` without it).
    pub wait_ns: Option<u64>,
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
        Sampler {
            buf: String::with_capacity(512),
            ns_per_tick: procfs::ns_per_tick(),
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
                if !procfs::read_into(&base.join("stat"), &mut self.buf) {
                    continue;
                }
                let Some(stat) = procfs::parse_stat(&self.buf) else {
                    continue;
                };
                let (comm, state, ticks) =
                    (stat.comm.to_string(), stat.state, stat.utime + stat.stime);
                let sched = if procfs::read_into(&base.join("schedstat"), &mut self.buf) {
                    procfs::parse_schedstat(&self.buf)
                } else {
                    None
                };
                out.push(ThreadSample {
                    pid,
                    tid,
                    state,
                    cpu_ns: sched.map_or(ticks * self.ns_per_tick, |s| s.0),
                    wait_ns: sched.map(|s| s.1),
                    comm,
                });
            }
        }
        out.sort_by_key(|s| s.tid);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
