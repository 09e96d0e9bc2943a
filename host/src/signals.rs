//! Termination signals (Ctrl-C, `kill`, a CI timeout) and their names. Two ways to take
//! them: [`catch`] records them with an async-signal-safe handler for a loop to act on
//! (the runner forwards them and finishes its trace; xtask stops its jobs), and
//! [`SignalFd`] turns them into a readable file descriptor for a poll loop (the watcher).

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};

pub use libc::{SIGHUP, SIGINT, SIGKILL, SIGSEGV, SIGTERM, SIGUSR1, SIGUSR2};

/// The signals that ask a tool to stop.
pub const TERMINATION: [i32; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

static LAST: AtomicI32 = AtomicI32::new(0);
static COUNT: AtomicU32 = AtomicU32::new(0);
/// Exit status for a second signal; 0: keep counting.
static EXIT_ON_SECOND: AtomicI32 = AtomicI32::new(0);

/// What a second termination signal does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Second {
    /// Counted like the first: the loop decides (the runner sends SIGKILL then).
    Count,
    /// `_exit(status)` at once: the user insisted, a clean stop is given up.
    Exit(i32),
}

extern "C" fn on_signal(sig: libc::c_int) {
    LAST.store(sig, Ordering::SeqCst);
    let before = COUNT.fetch_add(1, Ordering::SeqCst);
    let code = EXIT_ON_SECOND.load(Ordering::SeqCst);
    if before >= 1 && code != 0 {
        // SAFETY: _exit is async-signal-safe.
        unsafe { libc::_exit(code) }
    }
}

/// Installs a recording handler for `signals` (before any command is launched).
pub fn catch(signals: &[i32], second: Second) -> io::Result<()> {
    EXIT_ON_SECOND.store(
        match second {
            Second::Count => 0,
            Second::Exit(code) => code.max(1),
        },
        Ordering::SeqCst,
    );
    for &sig in signals {
        // SAFETY: a zeroed sigaction is valid; the handler only touches atomics and may
        // call _exit, both async-signal-safe.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as *const () as usize;
            sa.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut sa.sa_mask);
            if libc::sigaction(sig, &sa, std::ptr::null_mut()) != 0 {
                return Err(io::Error::last_os_error());
            }
        }
    }
    Ok(())
}

/// How many caught signals arrived so far, and the last one (0 if none).
pub fn received() -> (u32, i32) {
    (COUNT.load(Ordering::SeqCst), LAST.load(Ordering::SeqCst))
}

/// Signals as a readable, non-blocking fd. Create it before any thread is spawned: the
/// signals are blocked in this thread and in every thread created after.
#[derive(Debug)]
pub struct SignalFd {
    fd: OwnedFd,
}

impl SignalFd {
    pub fn new(signals: &[i32]) -> io::Result<SignalFd> {
        // SAFETY: plain libc calls on a local sigset.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            for &s in signals {
                libc::sigaddset(&mut set, s);
            }
            if libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) != 0 {
                return Err(io::Error::last_os_error());
            }
            let fd = libc::signalfd(-1, &set, libc::SFD_NONBLOCK | libc::SFD_CLOEXEC);
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(SignalFd {
                fd: OwnedFd::from_raw_fd(fd),
            })
        }
    }

    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// The signals received since the last call.
    pub fn read(&self) -> Vec<i32> {
        let mut out = Vec::new();
        loop {
            // SAFETY: signalfd_siginfo is plain old data, read into from our fd.
            let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
            let size = std::mem::size_of::<libc::signalfd_siginfo>();
            // SAFETY: info is a valid buffer of `size` bytes.
            let n = unsafe { libc::read(self.fd(), (&raw mut info).cast(), size) };
            if n != size as isize {
                return out;
            }
            out.push(info.ssi_signo as i32);
        }
    }
}

/// Sends `sig` to `pid` (a process group when negative); false when it failed (ESRCH:
/// already gone).
pub fn kill(pid: i32, sig: i32) -> bool {
    // SAFETY: kill(2) has no memory-safety preconditions.
    unsafe { libc::kill(pid, sig) == 0 }
}

/// Sleeps until one of `fds` is readable or `timeout` passed (at most 1 s a call).
pub fn wait_readable(fds: &[RawFd], timeout: std::time::Duration) {
    let mut p: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    // SAFETY: p is a valid array of pollfd of the length given.
    unsafe {
        libc::poll(
            p.as_mut_ptr(),
            p.len() as libc::nfds_t,
            timeout.as_millis().min(1000) as i32,
        )
    };
}

/// A signal's name for messages (`SIGTERM`), or its number.
pub fn name(sig: i32) -> String {
    let known = [
        (libc::SIGHUP, "SIGHUP"),
        (libc::SIGINT, "SIGINT"),
        (libc::SIGQUIT, "SIGQUIT"),
        (libc::SIGILL, "SIGILL"),
        (libc::SIGABRT, "SIGABRT"),
        (libc::SIGBUS, "SIGBUS"),
        (libc::SIGFPE, "SIGFPE"),
        (libc::SIGKILL, "SIGKILL"),
        (libc::SIGSEGV, "SIGSEGV"),
        (libc::SIGPIPE, "SIGPIPE"),
        (libc::SIGALRM, "SIGALRM"),
        (libc::SIGTERM, "SIGTERM"),
        (libc::SIGUSR1, "SIGUSR1"),
        (libc::SIGUSR2, "SIGUSR2"),
    ];
    known
        .iter()
        .find(|(n, _)| *n == sig)
        .map_or_else(|| format!("signal {sig}"), |(_, s)| (*s).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(name(libc::SIGTERM), "SIGTERM");
        assert_eq!(name(64), "signal 64");
    }

    #[test]
    fn signalfd_reads_a_raised_signal() {
        // SIGUSR2 only in this test; blocked for this thread by SignalFd::new.
        let fd = SignalFd::new(&[libc::SIGUSR2]).unwrap();
        // SAFETY: raising a blocked signal at this thread.
        unsafe { libc::pthread_kill(libc::pthread_self(), libc::SIGUSR2) };
        assert_eq!(fd.read(), vec![libc::SIGUSR2]);
        assert!(fd.read().is_empty());
    }
}
