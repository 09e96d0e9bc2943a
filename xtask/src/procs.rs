//! Child processes of the xtask: each started in its own process group, with its output in
//! a log file and a time limit, and stopped so that nothing it started is left behind.
//!
//! Test suites and servers start processes that leave the process group (daemonized
//! postmasters, Apache::Test's httpd, `setsid` helpers), so a [`Job`] also records the
//! descendants it sees in `/proc` (pid and start time, so a reused pid is never signalled)
//! and stops those too. A process that is born and orphaned between two looks (every
//! [`TICK`]) can still escape; a server that daemonizes that fast is outside the case
//! contract (`start.sh` runs the server in the foreground).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
pub use host::procfs::{same_and_alive, scan};
use host::signals;

/// How often a running job is looked at.
pub const TICK: Duration = Duration::from_millis(100);

/// Our jobs run in process groups of their own, so a Ctrl-C reaches only the xtask:
/// catch SIGINT, SIGTERM and SIGHUP and let the waits return an error, so that every
/// job is stopped on the way out. A second signal exits at once.
pub fn handle_interrupts() {
    let _ = signals::catch(&signals::TERMINATION, signals::Second::Exit(130));
}

/// An error once the xtask was asked to stop.
pub fn check_interrupted() -> anyhow::Result<()> {
    if signals::received().0 > 0 {
        bail!("interrupted: stopped everything this task had started");
    }
    Ok(())
}

/// How a job ended when it was stopped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stopped {
    /// Something was still running when the stop began.
    pub was_running: bool,
    /// SIGTERM was not enough: SIGKILL was sent after the grace period.
    pub killed: bool,
}

/// A child process in its own process group, with the descendants seen so far.
pub struct Job {
    name: String,
    child: Child,
    pid: i32,
    status: Option<ExitStatus>,
    /// Descendants outside the child itself: pid → start time.
    seen: BTreeMap<u32, u64>,
    grace: Duration,
    stopped: Option<Stopped>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Job({} pid {})", self.name, self.pid)
    }
}

impl Job {
    /// Starts `cmd` as the leader of a new process group. `grace` is how long a stop
    /// waits after SIGTERM before it sends SIGKILL.
    pub fn spawn(name: &str, cmd: &mut Command, grace: Duration) -> anyhow::Result<Job> {
        cmd.process_group(0);
        let child = cmd
            .spawn()
            .with_context(|| format!("cannot start {name} ({:?})", cmd.get_program()))?;
        let pid = child.id() as i32;
        tracing::debug!("started {name}: pid {pid}");
        Ok(Job {
            name: name.to_string(),
            child,
            pid,
            status: None,
            seen: BTreeMap::new(),
            grace,
            stopped: None,
        })
    }

    pub fn pid(&self) -> i32 {
        self.pid
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The exit status once the child has exited (and records new descendants).
    pub fn poll(&mut self) -> anyhow::Result<Option<ExitStatus>> {
        if self.status.is_none() {
            self.status = self
                .child
                .try_wait()
                .with_context(|| format!("cannot wait for {}", self.name))?;
        }
        self.snapshot();
        Ok(self.status)
    }

    /// Waits for the child to exit, up to `timeout`; `None` when the time ran out.
    /// `tick` runs about every [`TICK`].
    pub fn wait_timeout(
        &mut self,
        timeout: Option<Duration>,
        tick: &mut dyn FnMut(),
    ) -> anyhow::Result<Option<ExitStatus>> {
        let start = Instant::now();
        loop {
            if let Some(s) = self.poll()? {
                return Ok(Some(s));
            }
            check_interrupted()?;
            if timeout.is_some_and(|t| start.elapsed() >= t) {
                return Ok(None);
            }
            tick();
            std::thread::sleep(TICK);
        }
    }

    /// Adds the live descendants of the child and of those seen before, and forgets
    /// the ones that are gone.
    fn snapshot(&mut self) {
        let procs = scan();
        self.seen
            .retain(|pid, start| procs.iter().any(|p| p.pid == *pid && p.starttime == *start));
        let mut frontier: Vec<u32> = vec![self.pid as u32];
        frontier.extend(self.seen.keys());
        let mut known: Vec<u32> = frontier.clone();
        while let Some(parent) = frontier.pop() {
            for p in procs.iter().filter(|p| p.ppid == parent) {
                if !known.contains(&p.pid) {
                    known.push(p.pid);
                    frontier.push(p.pid);
                    self.seen.insert(p.pid, p.starttime);
                }
            }
        }
        // members of the group that were never seen as descendants (adopted by init)
        for p in procs
            .iter()
            .filter(|p| p.pgrp == self.pid && p.pid != self.pid as u32)
        {
            self.seen.entry(p.pid).or_insert(p.starttime);
        }
    }

    fn anything_alive(&mut self) -> bool {
        if self.status.is_none() {
            self.status = self.child.try_wait().ok().flatten();
        }
        self.status.is_none()
            || self.seen.iter().any(|(&pid, &st)| same_and_alive(pid, st))
            || scan().iter().any(|p| p.pgrp == self.pid && p.is_alive())
    }

    fn signal_all(&mut self, sig: i32) {
        signals::kill(-self.pid, sig);
        for (&pid, &st) in &self.seen {
            if same_and_alive(pid, st) {
                signals::kill(pid as i32, sig);
            }
        }
    }

    /// SIGTERM to the group and every descendant seen, SIGKILL to what is left after
    /// the grace period, then reaps the child. Idempotent.
    pub fn stop(&mut self) -> Stopped {
        if let Some(s) = self.stopped {
            return s;
        }
        self.snapshot();
        let mut out = Stopped::default();
        if self.anything_alive() {
            out.was_running = true;
            tracing::debug!("stopping {} (pid {})", self.name, self.pid);
            self.signal_all(signals::SIGTERM);
            let deadline = Instant::now() + self.grace;
            while Instant::now() < deadline {
                self.snapshot();
                if !self.anything_alive() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            if self.anything_alive() {
                out.killed = true;
                tracing::debug!("killing {} (pid {})", self.name, self.pid);
                self.signal_all(signals::SIGKILL);
                let deadline = Instant::now() + Duration::from_secs(5);
                while self.anything_alive() && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
        if self.status.is_none() {
            self.status = self.child.try_wait().ok().flatten();
        }
        self.stopped = Some(out);
        out
    }

    pub fn status(&self) -> Option<ExitStatus> {
        self.status
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        self.stop();
    }
}

/// How a logged command ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    Exited(ExitStatus),
    TimedOut,
}

impl End {
    pub fn success(self) -> bool {
        matches!(self, End::Exited(s) if s.success())
    }

    pub fn describe(self) -> String {
        match self {
            End::Exited(s) => match (s.code(), std::os::unix::process::ExitStatusExt::signal(&s)) {
                (Some(c), _) => format!("exit status {c}"),
                (None, Some(sig)) => format!("killed by signal {sig}"),
                _ => "unknown status".to_string(),
            },
            End::TimedOut => "timed out".to_string(),
        }
    }
}

/// Runs `cmd` with stdout and stderr appended to `log` (after a header line), in its
/// own process group, up to `timeout`, then stops whatever it left running.
pub fn run_logged(
    name: &str,
    cmd: &mut Command,
    log: &Path,
    timeout: Option<Duration>,
    tick: &mut dyn FnMut(),
) -> anyhow::Result<End> {
    run_logged_grace(name, cmd, log, timeout, Duration::from_secs(10), tick)
}

/// [`run_logged`] with the time between SIGTERM and SIGKILL at a timeout.
pub fn run_logged_grace(
    name: &str,
    cmd: &mut Command,
    log: &Path,
    timeout: Option<Duration>,
    grace: Duration,
    tick: &mut dyn FnMut(),
) -> anyhow::Result<End> {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("cannot open the log {}", log.display()))?;
    writeln!(file, "==> {name}: {}", describe(cmd))
        .with_context(|| format!("cannot write the log {}", log.display()))?;
    let err = file
        .try_clone()
        .with_context(|| format!("cannot open the log {}", log.display()))?;
    cmd.stdin(Stdio::null()).stdout(file).stderr(err);
    let mut job = Job::spawn(name, cmd, grace)?;
    let end = match job.wait_timeout(timeout, tick) {
        Ok(Some(s)) => End::Exited(s),
        Ok(None) => End::TimedOut,
        Err(e) => {
            job.stop();
            if let Ok(mut f) = std::fs::OpenOptions::new().append(true).open(log) {
                let _ = writeln!(f, "==> {name}: {e:#}");
            }
            return Err(e);
        }
    };
    job.stop();
    if let Ok(mut f) = std::fs::OpenOptions::new().append(true).open(log) {
        let _ = writeln!(f, "==> {name}: {}", end.describe());
    }
    Ok(end)
}

/// A command line for logs: program and arguments, shell-quoted where needed.
pub fn describe(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| {
            let s = a.to_string_lossy();
            if !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c))
            {
                s.into_owned()
            } else {
                format!("'{}'", s.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The last `lines` lines of a log (at most the last 16 KiB of it).
pub fn log_tail(path: &Path, lines: usize) -> String {
    let Ok(mut f) = File::open(path) else {
        return String::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(16 * 1024)));
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    let all: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// uid and primary gid of a user, from the password database.
pub fn lookup_user(name: &str) -> anyhow::Result<Option<(u32, u32)>> {
    match host::User::lookup(name) {
        Ok(u) => Ok(Some((u.uid, u.gid))),
        Err(host::HostError::NoSuchUser { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

pub fn is_root() -> bool {
    host::identity::euid() == 0
}

/// `setpriv` arguments that run the rest of a command line as `user` (uid, primary gid
/// and that user's groups), the way the recipes' `prepare` steps expect.
pub fn setpriv_prefix(user: &str) -> anyhow::Result<Vec<String>> {
    let (uid, gid) = lookup_user(user)?.with_context(|| {
        format!("the user {user} does not exist: create it (see targets/README.md)")
    })?;
    Ok(vec![
        "setpriv".to_string(),
        format!("--reuid={uid}"),
        format!("--regid={gid}"),
        "--init-groups".to_string(),
        "--".to_string(),
    ])
}

#[cfg(test)]
mod tests;
