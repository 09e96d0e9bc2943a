//! One run of a case's workload, following the timeline of `shared/EVAL.md`: start the
//! server and the production-side monitor, wait until it serves, normal traffic, the
//! trigger, the alarm; then stop every process the run started.

use std::fmt::Write as _;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::case::Case;
use crate::procs::{self, Job};
use crate::recipe::BASE_PATH;

/// Time limits of a run; the defaults are the contract of EVAL.md.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Until the port accepts connections and the monitor listens for alarms.
    pub ready: Duration,
    /// SIGTERM → SIGKILL for the server and the monitor.
    pub stop_grace: Duration,
    /// SIGTERM → SIGKILL for normal.sh and trigger.sh.
    pub script_grace: Duration,
    /// Longest wait for the alarm's report.
    pub alarm: Duration,
    /// `perfscope watch --analyze`.
    pub analyze: String,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            // EVAL.md asks servers to be ready within 30 s; a JVM (Cassandra: 7-27 s
            // here) on a loaded machine may need more, and waiting longer costs a case
            // that fails to start only time
            ready: Duration::from_secs(90),
            stop_grace: Duration::from_secs(5),
            script_grace: Duration::from_secs(2),
            alarm: Duration::from_secs(300),
            analyze: "90s".to_string(),
        }
    }
}

/// What to run.
#[derive(Clone, Copy, Debug)]
pub struct Run<'a> {
    pub case: &'a Case,
    /// `TARGET_SRC`: the patched, built tree.
    pub target_src: &'a Path,
    pub sigdb: &'a Path,
    pub perfscope: &'a Path,
    /// This run's folder: emptied, then `cwd/`, `work/`, `logs/`, `report/`.
    pub dir: &'a Path,
    pub port: u16,
    pub limits: &'a Limits,
}

/// How the run went.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// What `perfscope alarm --format json` printed.
    pub report: String,
    pub ready_after: Duration,
    /// How the server ended when it did so on its own before the alarm.
    pub server_exited: Option<String>,
    /// The server ignored SIGTERM and was killed.
    pub server_killed: bool,
    pub logs: PathBuf,
}

/// A free TCP port on 127.0.0.1, outside the fixed ranges of the redis (21079-29110
/// and +10000 for the cluster bus) and apache2 (8529-8563) test suites.
pub fn free_port() -> anyhow::Result<u16> {
    for _ in 0..200 {
        let l = TcpListener::bind("127.0.0.1:0").context("cannot bind a port on 127.0.0.1")?;
        let port = l.local_addr().context("cannot read a bound port")?.port();
        if !reserved_port(port) {
            return Ok(port);
        }
    }
    bail!("no free port outside the test suites' ranges on 127.0.0.1")
}

pub fn reserved_port(port: u16) -> bool {
    (8529..=8563).contains(&port)
        || (21079..=29110).contains(&port)
        || (31079..=39110).contains(&port)
}

/// The run's log of what happened when.
struct Timeline {
    start: Instant,
    text: String,
    path: PathBuf,
}

impl Timeline {
    fn event(&mut self, what: &str) {
        let _ = writeln!(
            self.text,
            "{:>8.3} s  {what}",
            self.start.elapsed().as_secs_f64()
        );
        let _ = std::fs::write(&self.path, &self.text);
    }
}

fn socket_path(dir: &Path, id: &str) -> PathBuf {
    let p = dir.join("perfscope.sock");
    // sun_path holds 108 bytes
    if p.as_os_str().len() < 100 {
        p
    } else {
        std::env::temp_dir().join(format!("xtask-{}-{id}.sock", std::process::id()))
    }
}

fn empty_dir(path: &Path) -> anyhow::Result<()> {
    match std::fs::remove_dir_all(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("cannot empty {}", path.display())),
    }
    crate::tree::make_dir(path)
}

fn port_open(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
}

/// Runs the timeline; `status` receives a short line for a progress bar.
pub fn run(r: &Run<'_>, status: &mut dyn FnMut(&str)) -> anyhow::Result<Outcome> {
    let mut s = Stage::new(r)?;
    let w = &r.case.file.workload;

    // 1. the server, and right after it the monitor seeded with its pid
    status("starting the server");
    let mut server = s.script(&w.start, "start", r.limits.stop_grace)?;
    s.tl.event(&format!("start.sh: pid {}, port {}", server.pid(), r.port));
    let mut watch = s.start_watch(server.pid())?;

    // 2. readiness: the port accepts connections and the monitor takes alarms
    let ready_after = s.wait_ready(&mut server, &mut watch)?;

    // 3. normal traffic, then the trigger, then the alarm
    let mut normal = s.script(&w.normal, "normal", r.limits.script_grace)?;
    s.tl.event(&format!("normal.sh: pid {}", normal.pid()));
    let mut jobs = Jobs {
        server: &mut server,
        watch: &mut watch,
        scripts: vec![&mut normal],
    };
    s.watch_for("normal traffic", r.case.normal(), &mut jobs, status)?;
    let mut trigger = s.script(&w.trigger, "trigger", r.limits.script_grace)?;
    s.tl.event(&format!("trigger.sh: pid {}", trigger.pid()));
    jobs.scripts.push(&mut trigger);
    s.watch_for(
        "after the trigger",
        r.case.after_trigger(),
        &mut jobs,
        status,
    )?;
    status("alarm: analysing");
    let alarm = s.raise_alarm();

    // 4. stop everything, traffic first
    status("stopping");
    let server_killed = s.stop_all(jobs);
    let report = s.report(alarm?)?;
    Ok(Outcome {
        report,
        ready_after,
        server_exited: s.server_exited,
        server_killed,
        logs: s.logs,
    })
}

/// One run's folders, socket and timeline.
struct Stage<'a> {
    r: &'a Run<'a>,
    cwd: PathBuf,
    work: PathBuf,
    logs: PathBuf,
    report_dir: PathBuf,
    socket: PathBuf,
    tl: Timeline,
    /// How the server ended, when it did so on its own.
    server_exited: Option<String>,
}

/// The processes of a run that are watched while time passes.
struct Jobs<'j> {
    server: &'j mut Job,
    watch: &'j mut Job,
    /// normal.sh, then trigger.sh too.
    scripts: Vec<&'j mut Job>,
}

impl<'a> Stage<'a> {
    fn new(r: &'a Run<'a>) -> anyhow::Result<Stage<'a>> {
        empty_dir(r.dir)?;
        let [cwd, work, logs, report_dir] =
            ["cwd", "work", "logs", "report"].map(|d| r.dir.join(d));
        for d in [&cwd, &work, &logs, &report_dir] {
            crate::tree::make_dir(d)?;
        }
        let socket = socket_path(r.dir, r.case.id());
        let _ = std::fs::remove_file(&socket);
        let tl = Timeline {
            start: Instant::now(),
            text: String::new(),
            path: logs.join("timeline.log"),
        };
        Ok(Stage {
            r,
            cwd,
            work,
            logs,
            report_dir,
            socket,
            tl,
            server_exited: None,
        })
    }

    /// A log file in `logs/` as stdout and stderr of a command.
    fn log_file(&self, name: &str) -> anyhow::Result<(Stdio, Stdio)> {
        let path = self.logs.join(name);
        let f = std::fs::File::create(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        let g = f
            .try_clone()
            .with_context(|| format!("cannot open {}", path.display()))?;
        Ok((f.into(), g.into()))
    }

    /// Starts one of the case's scripts with the environment of EVAL.md.
    fn script(&self, name: &str, which: &str, grace: Duration) -> anyhow::Result<Job> {
        let (out, err) = self.log_file(&format!("{which}.log"))?;
        let mut cmd = Command::new("bash");
        cmd.arg(self.r.case.script(name))
            .current_dir(&self.cwd)
            .env_clear()
            .env("PATH", BASE_PATH)
            .env("HOME", &self.work)
            .env("LC_ALL", "C.UTF-8")
            .env("TARGET_SRC", self.r.target_src)
            .env("CASE_DIR", &self.r.case.dir)
            .env("WORK", &self.work)
            .env("PORT", self.r.port.to_string())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        Job::spawn(which, &mut cmd, grace)
    }

    /// `perfscope watch` of the server's process tree.
    fn start_watch(&mut self, server: i32) -> anyhow::Result<Job> {
        let r = self.r;
        let (out, err) = self.log_file("watch.log")?;
        let mut cmd = Command::new(r.perfscope);
        cmd.arg("watch")
            .arg("--db")
            .arg(r.sigdb)
            .arg("--pid")
            .arg(server.to_string())
            .arg("--report-dir")
            .arg(&self.report_dir)
            .arg("--socket")
            .arg(&self.socket)
            .arg("--analyze")
            .arg(&r.limits.analyze)
            .arg("--expect-target")
            .arg(&r.case.file.target)
            // the analysed window as a trace: `perfscope analyze --at-mark alarm` replays it
            .arg("--save-window")
            .arg(&self.report_dir)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        let watch = Job::spawn("perfscope watch", &mut cmd, r.limits.stop_grace)?;
        self.tl
            .event(&format!("{}: pid {}", procs::describe(&cmd), watch.pid()));
        Ok(watch)
    }

    /// An error that shows the end of a log.
    fn exited(
        &mut self,
        who: &str,
        when: &str,
        log: &str,
        s: impl std::fmt::Display,
    ) -> anyhow::Error {
        self.tl.event(&format!("{who} exited: {s}"));
        let path = self.logs.join(log);
        anyhow::anyhow!(
            "{who} exited {when} ({s}); see {}:\n{}",
            path.display(),
            procs::log_tail(&path, 10)
        )
    }

    /// Until the port accepts connections and the monitor's socket exists.
    fn wait_ready(&mut self, server: &mut Job, watch: &mut Job) -> anyhow::Result<Duration> {
        let r = self.r;
        let (mut port_ok, mut socket_ok) = (false, false);
        let start = Instant::now();
        loop {
            if let Some(s) = server.poll()? {
                return Err(self.exited("start.sh", "before the server was ready", "start.log", s));
            }
            if let Some(s) = watch.poll()? {
                let when = "before the server was ready";
                return Err(self.exited("perfscope watch", when, "watch.log", s));
            }
            procs::check_interrupted()?;
            port_ok = port_ok || port_open(r.port);
            socket_ok = socket_ok || self.socket.exists();
            if port_ok && socket_ok {
                self.tl.event("ready");
                return Ok(start.elapsed());
            }
            if start.elapsed() >= r.limits.ready {
                let what = match (port_ok, socket_ok) {
                    (false, false) => format!(
                        "port {} never accepted connections and perfscope watch never created {}",
                        r.port,
                        self.socket.display()
                    ),
                    (false, true) => format!("port {} never accepted connections", r.port),
                    _ => format!("perfscope watch never created {}", self.socket.display()),
                };
                self.tl.event(&format!("not ready: {what}"));
                bail!(
                    "the server was not ready after {} s: {what}; see {}",
                    r.limits.ready.as_secs_f64(),
                    self.logs.display()
                );
            }
            std::thread::sleep(procs::TICK);
        }
    }

    /// Lets `len` pass, noting what exits; the monitor exiting ends the run.
    fn watch_for(
        &mut self,
        what: &str,
        len: Duration,
        jobs: &mut Jobs<'_>,
        status: &mut dyn FnMut(&str),
    ) -> anyhow::Result<()> {
        let t0 = Instant::now();
        while t0.elapsed() < len {
            status(&format!(
                "{what} {:.0}/{:.0} s",
                t0.elapsed().as_secs_f64(),
                len.as_secs_f64()
            ));
            procs::check_interrupted()?;
            if self.server_exited.is_none()
                && let Some(s) = jobs.server.poll()?
            {
                self.tl.event(&format!("the server exited: {s}"));
                self.server_exited = Some(s.to_string());
            }
            if let Some(s) = jobs.watch.poll()? {
                return Err(self.exited("perfscope watch", "during the run", "watch.log", s));
            }
            for j in jobs.scripts.iter_mut() {
                let before = j.status();
                if let (None, Some(s)) = (before, j.poll()?) {
                    self.tl.event(&format!("{} exited: {s}", j.name()));
                }
            }
            std::thread::sleep(procs::TICK.min(len.saturating_sub(t0.elapsed())));
        }
        Ok(())
    }

    /// `perfscope alarm --wait`: how it exited, or None when it gave no report in time.
    fn raise_alarm(&mut self) -> anyhow::Result<Option<std::process::ExitStatus>> {
        let r = self.r;
        let alarm_out = self.logs.join("alarm.jsonl");
        let out = std::fs::File::create(&alarm_out)
            .with_context(|| format!("cannot create {}", alarm_out.display()))?;
        let (_, err) = self.log_file("alarm.log")?;
        let mut cmd = Command::new(r.perfscope);
        cmd.arg("alarm")
            .arg("--socket")
            .arg(&self.socket)
            .args(["--wait", "--format", "json", "--label"])
            .arg(format!("eval {}", r.case.id()))
            .arg("--timeout")
            .arg(format!("{}s", r.limits.alarm.as_secs()))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        self.tl.event(&format!("alarm: {}", procs::describe(&cmd)));
        let mut alarm = Job::spawn("perfscope alarm", &mut cmd, Duration::from_secs(2))?;
        let status =
            alarm.wait_timeout(Some(r.limits.alarm + Duration::from_secs(15)), &mut || {})?;
        alarm.stop();
        self.tl.event(&format!(
            "alarm done: {}",
            status.map_or("timed out".to_string(), |s| s.to_string())
        ));
        Ok(status)
    }

    /// Stops the scripts, the server and the monitor; whether the server needed SIGKILL.
    fn stop_all(&mut self, jobs: Jobs<'_>) -> bool {
        for job in jobs.scripts.into_iter().rev() {
            let s = job.stop();
            if s.was_running {
                let how = if s.killed { " (SIGKILL)" } else { "" };
                self.tl.event(&format!("{}.sh stopped{how}", job.name()));
            }
        }
        let stopped = jobs.server.stop();
        self.tl.event(&format!(
            "server stopped: {}",
            if stopped.killed {
                "SIGTERM ignored, SIGKILL"
            } else if stopped.was_running {
                "SIGTERM"
            } else {
                "had exited"
            }
        ));
        jobs.watch.stop();
        self.tl.event("perfscope watch stopped");
        if self.socket.starts_with(std::env::temp_dir()) {
            let _ = std::fs::remove_file(&self.socket);
        }
        stopped.killed
    }

    /// The alarm's report, once it answered 0 or 1.
    fn report(&self, alarm: Option<std::process::ExitStatus>) -> anyhow::Result<String> {
        let r = self.r;
        let alarm_log = self.logs.join("alarm.log");
        let Some(status) = alarm else {
            bail!(
                "perfscope alarm gave no report within {} s; see {}",
                r.limits.alarm.as_secs(),
                alarm_log.display()
            );
        };
        // 0 nothing abnormal, 1 findings, 2 inconclusive (data was lost) or an error:
        // the report tells which
        let code = status.code().unwrap_or(-1);
        let out = self.logs.join("alarm.jsonl");
        let printed = std::fs::metadata(&out).is_ok_and(|m| m.len() > 0);
        if !(code == 0 || code == 1 || (code == 2 && printed)) {
            bail!(
                "perfscope alarm failed ({status}); see {}:\n{}",
                alarm_log.display(),
                procs::log_tail(&alarm_log, 10)
            );
        }
        std::fs::read_to_string(&out).with_context(|| format!("cannot read {}", out.display()))
    }
}

#[cfg(test)]
pub(crate) mod tests;
