//! Launching a command under capture: fork a child that waits on a pipe, let the caller
//! seed the process set with its pid and attach, then release it to exec.
//!
//! ```no_run
//! # fn main() -> Result<(), host::HostError> {
//! let paused = host::Command::new("make").arg("check").contain("runner").spawn_paused()?;
//! // ... seed a capture with paused.pid(), attach ...
//! let mut child = paused.release()?; // CommandNotFound, Exec... if exec failed
//! let status = child.wait()?;
//! # Ok(()) }
//! ```
//!
//! The child runs only async-signal-safe code between fork and exec (everything it needs
//! is prepared before the fork), as a multi-threaded parent requires. An exec failure is
//! reported through a close-on-exec pipe, so "command not found" is an error of
//! [`PausedChild::release`], not an exit status 127.

use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::error::HostError;
use crate::user::User;

/// A command to launch paused.
#[derive(Debug)]
pub struct Command {
    program: OsString,
    args: Vec<OsString>,
    env: Vec<(OsString, Option<OsString>)>,
    cwd: Option<PathBuf>,
    user: Option<User>,
    process_group: bool,
    /// Label of the cgroup and guard that contain the command (see [`crate::guard`]).
    contain: Option<String>,
    /// Files the guard removes when the tracer ends.
    unlink: Vec<PathBuf>,
    /// Replacements for fds 0, 1, 2 (inherited when None).
    stdio: [Option<OwnedFd>; 3],
}

/// How a child ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    /// `exit(code)`.
    Exited(i32),
    /// Killed by this signal.
    Signaled(i32),
}

impl ExitStatus {
    fn from_wait(status: libc::c_int) -> ExitStatus {
        if libc::WIFEXITED(status) {
            ExitStatus::Exited(libc::WEXITSTATUS(status))
        } else {
            ExitStatus::Signaled(libc::WTERMSIG(status))
        }
    }

    /// Whether it exited with status 0.
    pub fn success(self) -> bool {
        self == ExitStatus::Exited(0)
    }
}

/// Where the child failed (first word of its error report).
/// Setting up the directory or standard streams.
const STAGE_CWD: i32 = 1;
const STAGE_PRIVILEGES: i32 = 2;
const STAGE_EXEC: i32 = 3;

impl Command {
    /// `program` is looked up on `PATH` unless it contains a `/`.
    pub fn new(program: impl AsRef<OsStr>) -> Command {
        Command {
            program: program.as_ref().to_owned(),
            args: Vec::new(),
            env: Vec::new(),
            cwd: None,
            user: None,
            process_group: false,
            contain: None,
            unlink: Vec::new(),
            stdio: [None, None, None],
        }
    }

    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Command {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    pub fn args<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(&mut self, args: I) -> &mut Command {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// Sets an environment variable (the rest of the environment is inherited).
    pub fn env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Command {
        self.env
            .push((key.as_ref().to_owned(), Some(value.as_ref().to_owned())));
        self
    }

    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Command {
        self.env.push((key.as_ref().to_owned(), None));
        self
    }

    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut Command {
        self.cwd = Some(dir.as_ref().to_owned());
        self
    }

    /// Runs the command as `user` (setgroups, setgid, setuid; `HOME`, `USER`, `LOGNAME`
    /// set from it unless given with [`Command::env`]).
    pub fn user(&mut self, user: User) -> &mut Command {
        self.user = Some(user);
        self
    }

    /// Puts the child in a new process group (its pid), so that the whole test run can
    /// be signalled at once.
    pub fn process_group(&mut self, new_group: bool) -> &mut Command {
        self.process_group = new_group;
        self
    }

    /// Contains the command so that nothing of it outlives this process, even killed with
    /// SIGKILL: its first process dies with the thread that launched it
    /// (`PR_SET_PDEATHSIG`, set after the privilege drop, with a check that the parent is
    /// still this process), and the whole command runs in a cgroup of its own (named
    /// after `label`) that a guard process empties when this process ends. Implies a new
    /// process group. Launch from a thread that lives as long as the capture.
    pub fn contain(&mut self, label: &str) -> &mut Command {
        self.contain = Some(label.to_string());
        self.process_group = true;
        self
    }

    /// A file the guard of a contained command removes when this process ends, however
    /// it ends (a watcher's socket).
    pub fn unlink_at_end(&mut self, path: impl Into<PathBuf>) -> &mut Command {
        self.unlink.push(path.into());
        self
    }

    /// Redirects the child's standard input (e.g. from a `File`); inherited by default.
    pub fn stdin(&mut self, fd: impl Into<OwnedFd>) -> &mut Command {
        self.stdio[0] = Some(fd.into());
        self
    }

    /// Redirects the child's standard output (e.g. to a `File`).
    pub fn stdout(&mut self, fd: impl Into<OwnedFd>) -> &mut Command {
        self.stdio[1] = Some(fd.into());
        self
    }

    /// Redirects the child's standard error.
    pub fn stderr(&mut self, fd: impl Into<OwnedFd>) -> &mut Command {
        self.stdio[2] = Some(fd.into());
        self
    }

    /// A display form of the command line.
    pub fn display(&self) -> String {
        std::iter::once(&self.program)
            .chain(&self.args)
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn environment(&self) -> Vec<(OsString, OsString)> {
        let mut env: Vec<(OsString, OsString)> = std::env::vars_os().collect();
        let mut set = |k: &str, v: OsString| {
            env.retain(|(key, _)| key != k);
            env.push((k.into(), v));
        };
        if let Some(u) = &self.user {
            if let Some(name) = &u.name {
                set("USER", name.into());
                set("LOGNAME", name.into());
            }
            if let Some(home) = &u.home {
                set("HOME", home.clone().into_os_string());
            }
        }
        for (k, v) in &self.env {
            env.retain(|(key, _)| key != k);
            if let Some(v) = v {
                env.push((k.clone(), v.clone()));
            }
        }
        env
    }

    /// Forks the child, which waits for [`PausedChild::release`] before it execs. On
    /// return the child holds none of this process's close-on-exec descriptors (it closed
    /// them before waiting), so none of them outlives its owner because of the child.
    /// A program that cannot be found is reported here, before anything is forked.
    pub fn spawn_paused(&self) -> Result<PausedChild, HostError> {
        let display = self.display();
        let env = self.environment();
        let path_var = env
            .iter()
            .find(|(k, _)| k == "PATH")
            .map(|(_, v)| v.clone());
        let exe =
            resolve(&self.program, path_var.as_deref(), self.cwd.as_deref()).ok_or_else(|| {
                HostError::CommandNotFound {
                    command: self.program.to_string_lossy().into_owned(),
                }
            })?;
        let cstr = |s: &OsStr| {
            CString::new(s.as_bytes()).map_err(|_| {
                HostError::Config(format!(
                    "NUL byte in the command line or environment: {s:?}"
                ))
            })
        };
        let exe = cstr(exe.as_os_str())?;
        let argv: Vec<CString> = std::iter::once(&self.program)
            .chain(&self.args)
            .map(|a| cstr(a))
            .collect::<Result<_, _>>()?;
        let envp: Vec<CString> = env
            .iter()
            .map(|(k, v)| {
                let mut kv = k.clone();
                kv.push("=");
                kv.push(v);
                cstr(&kv)
            })
            .collect::<Result<_, _>>()?;
        let cwd = self.cwd.as_ref().map(|d| cstr(d.as_os_str())).transpose()?;
        let mut argv_p: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
        argv_p.push(std::ptr::null());
        let mut envp_p: Vec<*const libc::c_char> = envp.iter().map(|a| a.as_ptr()).collect();
        envp_p.push(std::ptr::null());
        let groups: Vec<libc::gid_t> = self
            .user
            .as_ref()
            .map(|u| u.groups.clone())
            .unwrap_or_default();

        let (go_r, go_w) = pipe().map_err(|e| HostError::io("creating the launch pipe", e))?;
        let (err_r, err_w) = pipe().map_err(|e| HostError::io("creating the launch pipe", e))?;
        let (ready_r, ready_w) =
            pipe().map_err(|e| HostError::io("creating the launch pipe", e))?;
        let child = ChildSetup {
            go_r: go_r.as_raw_fd(),
            go_w: go_w.as_raw_fd(),
            err_r: err_r.as_raw_fd(),
            err_w: err_w.as_raw_fd(),
            ready_r: ready_r.as_raw_fd(),
            ready_w: ready_w.as_raw_fd(),
            exe: exe.as_ptr(),
            argv: argv_p.as_ptr(),
            envp: envp_p.as_ptr(),
            cwd: cwd.as_ref().map_or(std::ptr::null(), |c| c.as_ptr()),
            user: self.user.as_ref().map(|u| (u.uid, u.gid)),
            groups: &groups,
            process_group: self.process_group,
            // SAFETY: getpid has no preconditions.
            parent: self.contain.is_some().then(|| unsafe { libc::getpid() }),
            stdio: self
                .stdio
                .each_ref()
                .map(|fd| fd.as_ref().map_or(-1, |f| f.as_raw_fd())),
        };
        // SAFETY: fork has no preconditions; the child branch only runs `child.run()`,
        // which makes async-signal-safe calls on memory prepared above and never returns.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(HostError::io("fork", io::Error::last_os_error()));
        }
        if pid == 0 {
            // SAFETY: we are the freshly forked child.
            unsafe { child.run() }
        }
        drop(go_r);
        drop(err_w);
        drop(ready_w);
        // Until the child says so it may hold the parent's descriptors (another thread's
        // BPF links among them); a child that died instead ends the wait too (end of file)
        // and is reported by release or wait.
        let mut b = 0u8;
        // SAFETY: reading one byte into a local from a pipe we own.
        while unsafe { libc::read(ready_r.as_raw_fd(), (&raw mut b).cast(), 1) } < 0
            && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted
        {}
        drop(ready_r);
        let guard = match &self.contain {
            Some(label) => {
                let mut g = crate::guard::Guard::new(label);
                // On error the child (waiting on its pipe) is ended and reaped below.
                match g.adopt(pid as u32, pid, &self.unlink) {
                    Ok(()) => Some(g),
                    Err(e) => {
                        drop(go_w);
                        let _ = Child {
                            pid: pid as u32,
                            status: None,
                            guard: None,
                        }
                        .wait();
                        return Err(e);
                    }
                }
            }
            None => None,
        };
        Ok(PausedChild {
            pid: pid as u32,
            guard,
            go: Some(go_w),
            err: err_r,
            command: display,
            uid_gid: self.user.as_ref().map(|u| (u.uid, u.gid)),
            released: false,
        })
    }
}

/// What the child needs between fork and exec, all prepared before the fork.
struct ChildSetup<'a> {
    go_r: i32,
    go_w: i32,
    err_r: i32,
    err_w: i32,
    /// Written once the child holds only what exec keeps.
    ready_r: i32,
    ready_w: i32,
    exe: *const libc::c_char,
    argv: *const *const libc::c_char,
    envp: *const *const libc::c_char,
    cwd: *const libc::c_char,
    user: Option<(u32, u32)>,
    groups: &'a [libc::gid_t],
    process_group: bool,
    /// Die with this pid (`PR_SET_PDEATHSIG`), when contained.
    parent: Option<libc::pid_t>,
    stdio: [i32; 3],
}

impl ChildSetup<'_> {
    /// # Safety
    /// Only in the child right after fork. Makes async-signal-safe calls only.
    unsafe fn run(&self) -> ! {
        // SAFETY: raw syscall wrappers on fds and pointers valid in this process image.
        unsafe {
            libc::close(self.go_w);
            libc::close(self.err_r);
            libc::close(self.ready_r);
            // Exec would close them; while paused the child would hold them open: a
            // tracer's BPF links made after the fork by another thread would outlive it.
            let [stdin, stdout, stderr] = self.stdio;
            close_exec_fds(&[self.go_r, self.err_w, self.ready_w, stdin, stdout, stderr]);
            libc::write(self.ready_w, [1u8].as_ptr().cast(), 1);
            libc::close(self.ready_w);
            let mut b = 0u8;
            loop {
                let n = libc::read(self.go_r, (&raw mut b).cast(), 1);
                if n == 1 {
                    break;
                }
                if n == 0 || *libc::__errno_location() != libc::EINTR {
                    // The parent went away (or dropped us) without releasing.
                    libc::_exit(127);
                }
            }
            libc::close(self.go_r);
            for (target, &fd) in self.stdio.iter().enumerate() {
                let target = target as i32;
                // dup2 clears close-on-exec on the copy, but does nothing when the fd is
                // already the target.
                let ok = if fd == target {
                    libc::fcntl(fd, libc::F_SETFD, 0) == 0
                } else {
                    fd < 0 || libc::dup2(fd, target) >= 0
                };
                if !ok {
                    self.fail(STAGE_CWD);
                }
            }
            if self.process_group {
                libc::setpgid(0, 0);
            }
            // Rust ignores SIGPIPE, and ignored signals survive exec; the signal mask too.
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
            if !self.cwd.is_null() && libc::chdir(self.cwd) != 0 {
                self.fail(STAGE_CWD);
            }
            if let Some((uid, gid)) = self.user
                && (libc::setgroups(self.groups.len(), self.groups.as_ptr()) != 0
                    || libc::setgid(gid) != 0
                    || libc::setuid(uid) != 0)
            {
                self.fail(STAGE_PRIVILEGES);
            }
            // After the drop: a change of credentials clears the parent-death signal.
            if let Some(parent) = self.parent
                && (libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0
                    || libc::getppid() != parent)
            {
                // The tracer died before the signal was armed: never run untraced.
                libc::_exit(127);
            }
            libc::execve(self.exe, self.argv, self.envp);
            self.fail(STAGE_EXEC)
        }
    }

    /// # Safety
    /// As [`ChildSetup::run`].
    unsafe fn fail(&self, stage: i32) -> ! {
        // SAFETY: as in run.
        unsafe {
            let errno = *libc::__errno_location();
            let mut msg = [0u8; 8];
            msg[..4].copy_from_slice(&stage.to_ne_bytes());
            msg[4..].copy_from_slice(&errno.to_ne_bytes());
            libc::write(self.err_w, msg.as_ptr().cast(), msg.len());
            libc::_exit(127)
        }
    }
}

/// Closes now every descriptor above stderr that exec would close (close-on-exec),
/// but those in `keep`. Async-signal-safe: raw `getdents64` on `/proc/self/fd` into a
/// stack buffer, passes repeated until one closes nothing (closing moves the listing).
/// Without `/proc` nothing is closed early: exec still closes them.
///
/// # Safety
/// Only in a freshly forked child: it closes descriptors it does not own.
unsafe fn close_exec_fds(keep: &[i32]) {
    // SAFETY: open/lseek/getdents64/fcntl/close on descriptors of this process and a
    // buffer on this stack frame.
    unsafe {
        let dir = libc::open(
            c"/proc/self/fd".as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        );
        if dir < 0 {
            return;
        }
        let mut buf = [0u64; 512];
        loop {
            let mut closed = false;
            libc::lseek(dir, 0, libc::SEEK_SET);
            loop {
                let n = libc::syscall(
                    libc::SYS_getdents64,
                    dir,
                    buf.as_mut_ptr(),
                    std::mem::size_of_val(&buf),
                );
                if n <= 0 {
                    break;
                }
                let bytes = std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), n as usize);
                let mut at = 0;
                // linux_dirent64: ino u64, off i64, reclen u16, type u8, name NUL-ended.
                while at + 19 < bytes.len() {
                    let reclen = u16::from_ne_bytes([bytes[at + 16], bytes[at + 17]]) as usize;
                    if reclen == 0 {
                        break;
                    }
                    let fd = parse_fd(&bytes[at + 19..(at + reclen).min(bytes.len())]);
                    at += reclen;
                    let Some(fd) = fd else { continue };
                    if fd > 2
                        && fd != dir
                        && !keep.contains(&fd)
                        && libc::fcntl(fd, libc::F_GETFD) & libc::FD_CLOEXEC != 0
                    {
                        libc::close(fd);
                        closed = true;
                    }
                }
            }
            if !closed {
                break;
            }
        }
        libc::close(dir);
    }
}

/// The descriptor number a `/proc/self/fd` entry names (`.` and `..` are none).
fn parse_fd(name: &[u8]) -> Option<i32> {
    let digits = name.split(|&b| b == 0).next()?;
    if digits.is_empty() || digits.len() > 9 {
        return None;
    }
    digits.iter().try_fold(0i32, |n, &b| {
        b.is_ascii_digit().then(|| n * 10 + i32::from(b - b'0'))
    })
}

pub(crate) fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0i32; 2];
    // SAFETY: fds has room for the two descriptors.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 returned two fresh descriptors we now own.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// The file exec will run: `program` itself if it has a `/` (relative to `cwd`, if any,
/// as exec in the child will see it), else the first executable match on `PATH`.
fn resolve(program: &OsStr, path: Option<&OsStr>, cwd: Option<&Path>) -> Option<PathBuf> {
    let executable = |p: &Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.as_bytes().contains(&b'/') {
        let p = PathBuf::from(program);
        let check = match cwd {
            Some(d) if p.is_relative() => d.join(&p),
            _ => p.clone(),
        };
        // Existing but not executable: let exec report EACCES.
        return check.exists().then_some(p);
    }
    let path = path.map_or_else(
        || OsString::from("/usr/local/bin:/usr/bin:/bin"),
        OsStr::to_owned,
    );
    path.as_bytes()
        .split(|&b| b == b':')
        .map(|dir| {
            let dir = if dir.is_empty() { b"." as &[u8] } else { dir };
            Path::new(OsStr::from_bytes(dir)).join(program)
        })
        .find(|p| executable(p))
}

/// A forked child waiting to exec. Dropping it without [`PausedChild::release`] ends
/// the child (it exits 127 without running the command) and reaps it.
pub struct PausedChild {
    pid: u32,
    guard: Option<crate::guard::Guard>,
    go: Option<OwnedFd>,
    err: OwnedFd,
    command: String,
    uid_gid: Option<(u32, u32)>,
    released: bool,
}

impl PausedChild {
    /// The child's pid: seed the capture's process set with it before releasing.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Lets the child exec the command; returns once it has (or reports why it could
    /// not, after reaping the child).
    pub fn release(mut self) -> Result<Child, HostError> {
        self.released = true;
        let go = self.go.take().expect("a PausedChild is released once");
        // SAFETY: writing one byte from a valid buffer to our pipe end.
        let n = unsafe { libc::write(go.as_raw_fd(), [1u8].as_ptr().cast(), 1) };
        let write_err = io::Error::last_os_error();
        drop(go);
        let mut msg = [0u8; 8];
        let got = read_full(&self.err, &mut msg);
        let mut child = Child {
            pid: self.pid,
            status: None,
            guard: self.guard.take(),
        };
        if n != 1 {
            let _ = child.wait();
            return Err(HostError::io("releasing the child", write_err));
        }
        match got {
            Ok(0) => Ok(child), // the exec closed the close-on-exec pipe
            Ok(8) => {
                let _ = child.wait();
                let stage = i32::from_ne_bytes(msg[..4].try_into().unwrap_or_default());
                let errno = i32::from_ne_bytes(msg[4..].try_into().unwrap_or_default());
                let source = io::Error::from_raw_os_error(errno);
                Err(match stage {
                    STAGE_EXEC if errno == libc::ENOENT => HostError::CommandNotFound {
                        command: self.command.clone(),
                    },
                    STAGE_EXEC => HostError::Exec {
                        command: self.command.clone(),
                        source,
                    },
                    STAGE_PRIVILEGES => {
                        let (uid, gid) = self.uid_gid.unwrap_or_default();
                        HostError::DropPrivileges { uid, gid, source }
                    }
                    _ => HostError::io(
                        "setting up the command's directory or standard streams",
                        source,
                    ),
                })
            }
            Ok(_) => {
                let _ = child.wait();
                Err(HostError::io(
                    "launching the command",
                    io::Error::other("short error report from the child"),
                ))
            }
            Err(e) => {
                let _ = child.wait();
                Err(HostError::io("launching the command", e))
            }
        }
    }
}

impl Drop for PausedChild {
    fn drop(&mut self) {
        if !self.released {
            // Closing the pipe makes the child exit without exec; reap it.
            self.go.take();
            let _ = Child {
                pid: self.pid,
                status: None,
                guard: self.guard.take(),
            }
            .wait();
        }
    }
}

fn read_full(fd: &OwnedFd, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        // SAFETY: reading into the unfilled tail of buf.
        let n = unsafe {
            libc::read(
                fd.as_raw_fd(),
                buf[got..].as_mut_ptr().cast(),
                buf.len() - got,
            )
        };
        match n {
            0 => break,
            n if n > 0 => got += n as usize,
            _ => {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
        }
    }
    Ok(got)
}

/// Waits for the child `pid` (any child of this process, e.g. one of `std::process`) and
/// returns how it ended with the CPU time (user + system) it and its waited-for
/// descendants used: `wait4`'s resource usage.
pub fn wait_with_usage(pid: u32) -> io::Result<(ExitStatus, std::time::Duration)> {
    let mut status = 0;
    // SAFETY: rusage is plain old data; both pointers are valid.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: as above; waits for a child of ours.
        let r = unsafe { libc::wait4(pid as libc::pid_t, &mut status, 0, &mut ru) };
        if r >= 0 {
            let d = |tv: libc::timeval| {
                std::time::Duration::from_secs(tv.tv_sec.max(0) as u64)
                    + std::time::Duration::from_micros(tv.tv_usec.max(0) as u64)
            };
            return Ok((
                ExitStatus::from_wait(status),
                d(ru.ru_utime) + d(ru.ru_stime),
            ));
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// A launched command. Waiting reaps this pid only (never other children).
#[derive(Debug)]
pub struct Child {
    pid: u32,
    status: Option<ExitStatus>,
    /// The containment of a [`Command::contain`]ed command; dropped last, it kills what
    /// is left of the command.
    guard: Option<crate::guard::Guard>,
}

impl Child {
    pub fn pid(&self) -> u32 {
        self.pid
    }

    fn waitpid(&mut self, flags: libc::c_int) -> io::Result<Option<ExitStatus>> {
        if let Some(s) = self.status {
            return Ok(Some(s));
        }
        loop {
            let mut status = 0;
            // SAFETY: status is a valid out pointer.
            let r = unsafe { libc::waitpid(self.pid as libc::pid_t, &mut status, flags) };
            if r == 0 {
                return Ok(None);
            }
            if r > 0 {
                let s = ExitStatus::from_wait(status);
                self.status = Some(s);
                return Ok(Some(s));
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }

    /// Blocks until the child ends.
    pub fn wait(&mut self) -> Result<ExitStatus, HostError> {
        self.waitpid(0)
            .map_err(|e| HostError::io(format!("waiting for pid {}", self.pid), e))?
            .ok_or_else(|| HostError::io("waitpid", io::Error::other("no status")))
    }

    /// The exit status if the child has ended, without blocking.
    pub fn try_wait(&mut self) -> Result<Option<ExitStatus>, HostError> {
        self.waitpid(libc::WNOHANG)
            .map_err(|e| HostError::io(format!("waiting for pid {}", self.pid), e))
    }

    /// The cgroup and guard of a contained command.
    pub fn containment(&self) -> Option<&crate::guard::Guard> {
        self.guard.as_ref()
    }

    /// Sends `signal` to the child (to its process group with `group`).
    pub fn signal(&self, signal: i32, group: bool) -> Result<(), HostError> {
        if self.status.is_some() {
            return Ok(());
        }
        let target = if group {
            -(self.pid as libc::pid_t)
        } else {
            self.pid as libc::pid_t
        };
        // SAFETY: kill has no memory preconditions.
        if unsafe { libc::kill(target, signal) } != 0 {
            return Err(HostError::io(
                format!("signalling pid {}", self.pid),
                io::Error::last_os_error(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
