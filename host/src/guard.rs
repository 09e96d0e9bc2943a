//! No traced process outlives its tracer, even when the tracer is killed with SIGKILL.
//!
//! A traced command runs in a cgroup of its own (v2, under the tracer's cgroup; its
//! process group when there is no cgroup v2) and its first process dies with the tracer
//! (`PR_SET_PDEATHSIG`, set in [`crate::launch`]). That alone would leave the rest of a
//! test suite running: `make` dies, its children do not. So a *guard*, a tiny process
//! forked from the tracer that shares nothing with it but one pipe, waits for the pipe's
//! end of file, which comes when the tracer ends for any reason, and then kills the
//! cgroup (`cgroup.kill`) and the process group, removes the cgroup and unlinks the files
//! it was given (a watcher's socket). The guard leaves the tracer's session and process
//! group, so a signal to the tracer's group does not take it along, and closes every file
//! descriptor but its pipe: it must never hold a BPF link or a trace open.
//!
//! The guard runs only async-signal-safe calls on memory prepared before the fork, as a
//! child of a multi-threaded process must.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::error::HostError;

/// A cgroup made for one traced command, with the guard that empties it if the tracer
/// dies. Dropping it (the tracer's normal end) also kills what is left in it.
#[derive(Debug)]
pub struct Guard {
    cgroup: Option<PathBuf>,
    /// Why there is no cgroup (for the capture notes).
    no_cgroup: Option<String>,
    pgid: i32,
    guard_pid: Option<i32>,
    pipe: Option<OwnedFd>,
}

/// Paths the guard uses, as C strings, made before the fork.
struct Setup {
    pipe_r: i32,
    kill: Option<CString>,
    events: Option<CString>,
    dir: Option<CString>,
    pgid: i32,
    unlink: Vec<CString>,
    devnull: CString,
}

impl Guard {
    /// Makes a cgroup for a command labelled `label` under this process's cgroup (v2).
    /// Without cgroup v2 (or the right to make one) the guard falls back on the process
    /// group and [`Guard::limitation`] says so.
    pub fn new(label: &str) -> Guard {
        let (cgroup, no_cgroup) = match make_cgroup(label) {
            Ok(dir) => (Some(dir), None),
            Err(why) => (None, Some(why)),
        };
        Guard {
            cgroup,
            no_cgroup,
            pgid: 0,
            guard_pid: None,
            pipe: None,
        }
    }

    /// The command's cgroup, if one was made.
    pub fn cgroup(&self) -> Option<&Path> {
        self.cgroup.as_deref()
    }

    /// Why processes that leave the command's process group could outlive a killed
    /// tracer, if they could.
    pub fn limitation(&self) -> Option<&str> {
        self.no_cgroup.as_deref()
    }

    /// Moves the paused child `pid` (the leader of process group `pgid`, or 0 when it
    /// shares ours) into the cgroup and starts the guard; `unlink` are files to remove
    /// when the tracer ends. Call before the child is released.
    pub fn adopt(&mut self, pid: u32, pgid: i32, unlink: &[PathBuf]) -> Result<(), HostError> {
        self.pgid = pgid;
        if let Some(dir) = &self.cgroup
            && let Err(e) = std::fs::write(dir.join("cgroup.procs"), pid.to_string())
        {
            self.no_cgroup = Some(format!("cannot move pid {pid} into {}: {e}", dir.display()));
            let _ = std::fs::remove_dir(dir);
            self.cgroup = None;
        }
        let c = |p: &Path| {
            CString::new(p.as_os_str().as_bytes())
                .map_err(|_| HostError::Config(format!("NUL byte in path {}", p.display())))
        };
        let (pipe_r, pipe_w) =
            crate::launch::pipe().map_err(|e| HostError::io("creating the guard's pipe", e))?;
        let setup = Setup {
            pipe_r: pipe_r.as_raw_fd(),
            kill: self
                .cgroup
                .as_ref()
                .map(|d| c(&d.join("cgroup.kill")))
                .transpose()?,
            events: self
                .cgroup
                .as_ref()
                .map(|d| c(&d.join("cgroup.events")))
                .transpose()?,
            dir: self.cgroup.as_deref().map(c).transpose()?,
            pgid,
            unlink: unlink.iter().map(|p| c(p)).collect::<Result<_, _>>()?,
            devnull: CString::from(c"/dev/null"),
        };
        // SAFETY: fork has no preconditions; the child only runs `setup.run()`, which
        // makes async-signal-safe calls on memory prepared above and never returns.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(HostError::io(
                "forking the guard",
                io::Error::last_os_error(),
            ));
        }
        if pid == 0 {
            // SAFETY: we are the freshly forked guard.
            unsafe { setup.run() }
        }
        drop(pipe_r);
        self.guard_pid = Some(pid);
        self.pipe = Some(pipe_w);
        Ok(())
    }

    /// Kills everything left of the command now (its cgroup, its process group).
    pub fn kill_all(&self) {
        if let Some(dir) = &self.cgroup {
            let _ = std::fs::write(dir.join("cgroup.kill"), "1");
        }
        if self.pgid > 0 {
            crate::signals::kill(-self.pgid, libc::SIGKILL);
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        // The guard sees the end of its pipe, kills what is left and cleans up.
        self.pipe.take();
        match self.guard_pid.take() {
            Some(pid) => {
                // SAFETY: waiting for our own child; a null status pointer is allowed.
                unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
            }
            None => {
                if let Some(dir) = &self.cgroup {
                    let _ = std::fs::remove_dir(dir);
                }
            }
        }
    }
}

/// `OWN_CGROUP/perfscope-LABEL-PID`.
fn make_cgroup(label: &str) -> Result<PathBuf, String> {
    let own = crate::procfs::own_cgroup().ok_or("no cgroup v2 filesystem is mounted")?;
    let dir = own.join(format!("perfscope-{label}-{}", std::process::id()));
    std::fs::create_dir(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    if !dir.join("cgroup.kill").exists() {
        let _ = std::fs::remove_dir(&dir);
        return Err("the kernel has no cgroup.kill (Linux 5.14 or newer needed)".into());
    }
    Ok(dir)
}

impl Setup {
    /// # Safety
    /// Only in the guard right after fork. Makes async-signal-safe calls only.
    unsafe fn run(&self) -> ! {
        // SAFETY: raw syscall wrappers on fds and pointers valid in this process image.
        unsafe {
            libc::setsid();
            // Nothing of the tracer's: no BPF link, no trace, no terminal.
            let null = libc::open(self.devnull.as_ptr(), libc::O_RDWR);
            for fd in 0..3 {
                if null >= 0 && null != fd {
                    libc::dup2(null, fd);
                }
            }
            let keep = self.pipe_r as libc::c_uint;
            libc::syscall(libc::SYS_close_range, 3u32, keep - 1, 0u32);
            libc::syscall(libc::SYS_close_range, keep + 1, u32::MAX, 0u32);
            let mut b = [0u8; 64];
            loop {
                let n = libc::read(self.pipe_r, b.as_mut_ptr().cast(), b.len());
                if n == 0 || (n < 0 && *libc::__errno_location() != libc::EINTR) {
                    break;
                }
            }
            self.kill_all();
            // Wait (up to 5 s) for the cgroup to empty, then remove it.
            for _ in 0..50 {
                if !self.populated() {
                    break;
                }
                self.kill_all();
                let ts = libc::timespec {
                    tv_sec: 0,
                    tv_nsec: 100_000_000,
                };
                libc::nanosleep(&ts, std::ptr::null_mut());
            }
            if let Some(dir) = &self.dir {
                libc::rmdir(dir.as_ptr());
            }
            for p in &self.unlink {
                libc::unlink(p.as_ptr());
            }
            libc::_exit(0)
        }
    }

    /// # Safety
    /// As [`Setup::run`].
    unsafe fn kill_all(&self) {
        // SAFETY: as in run.
        unsafe {
            if let Some(kill) = &self.kill {
                let fd = libc::open(kill.as_ptr(), libc::O_WRONLY);
                if fd >= 0 {
                    libc::write(fd, b"1".as_ptr().cast(), 1);
                    libc::close(fd);
                }
            }
            if self.pgid > 0 {
                libc::kill(-self.pgid, libc::SIGKILL);
            }
        }
    }

    /// Whether the cgroup still holds processes (`populated 1` in cgroup.events).
    ///
    /// # Safety
    /// As [`Setup::run`].
    unsafe fn populated(&self) -> bool {
        let Some(events) = &self.events else {
            return false;
        };
        let mut buf = [0u8; 256];
        // SAFETY: as in run; buf is a valid buffer of its length.
        let n = unsafe {
            let fd = libc::open(events.as_ptr(), libc::O_RDONLY);
            if fd < 0 {
                return false;
            }
            let n = libc::read(fd, buf.as_mut_ptr().cast(), buf.len());
            libc::close(fd);
            n
        };
        let Ok(n) = usize::try_from(n) else {
            return false;
        };
        let text = &buf[..n];
        !text.windows(11).any(|w| w == b"populated 0")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn populated_parses_cgroup_events() {
        let dir = tempfile::tempdir().unwrap();
        let events = dir.path().join("cgroup.events");
        let setup = |path: &Path| Setup {
            pipe_r: -1,
            kill: None,
            events: Some(CString::new(path.as_os_str().as_bytes()).unwrap()),
            dir: None,
            pgid: 0,
            unlink: Vec::new(),
            devnull: CString::from(c"/dev/null"),
        };
        std::fs::write(&events, "populated 1\nfrozen 0\n").unwrap();
        // SAFETY: reads a file; fine outside a forked child too.
        assert!(unsafe { setup(&events).populated() });
        std::fs::write(&events, "populated 0\nfrozen 0\n").unwrap();
        // SAFETY: as above.
        assert!(!unsafe { setup(&events).populated() });
    }
}
