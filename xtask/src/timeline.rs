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
            ready: Duration::from_secs(30),
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
    let case = r.case;
    empty_dir(r.dir)?;
    let cwd = r.dir.join("cwd");
    let work = r.dir.join("work");
    let logs = r.dir.join("logs");
    let report_dir = r.dir.join("report");
    for d in [&cwd, &work, &logs, &report_dir] {
        crate::tree::make_dir(d)?;
    }
    let socket = socket_path(r.dir, case.id());
    let _ = std::fs::remove_file(&socket);
    let mut tl = Timeline {
        start: Instant::now(),
        text: String::new(),
        path: logs.join("timeline.log"),
    };
    let log_file = |name: &str| -> anyhow::Result<(Stdio, Stdio)> {
        let path = logs.join(name);
        let f = std::fs::File::create(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        let g = f
            .try_clone()
            .with_context(|| format!("cannot open {}", path.display()))?;
        Ok((f.into(), g.into()))
    };
    let script = |name: &str, which: &str, grace: Duration| -> anyhow::Result<Job> {
        let (out, err) = log_file(&format!("{which}.log"))?;
        let mut cmd = Command::new("bash");
        cmd.arg(case.script(name))
            .current_dir(&cwd)
            .env_clear()
            .env("PATH", BASE_PATH)
            .env("HOME", &work)
            .env("LC_ALL", "C.UTF-8")
            .env("TARGET_SRC", r.target_src)
            .env("CASE_DIR", &case.dir)
            .env("WORK", &work)
            .env("PORT", r.port.to_string())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        Job::spawn(which, &mut cmd, grace)
    };
    let w = &case.file.workload;

    // 1. the server, and right after it the monitor seeded with its pid
    status("starting the server");
    let mut server = script(&w.start, "start", r.limits.stop_grace)?;
    tl.event(&format!("start.sh: pid {}, port {}", server.pid(), r.port));
    let (out, err) = log_file("watch.log")?;
    let mut watch_cmd = Command::new(r.perfscope);
    watch_cmd
        .arg("watch")
        .arg("--db")
        .arg(r.sigdb)
        .arg("--pid")
        .arg(server.pid().to_string())
        .arg("--report-dir")
        .arg(&report_dir)
        .arg("--socket")
        .arg(&socket)
        .arg("--analyze")
        .arg(&r.limits.analyze)
        .arg("--expect-target")
        .arg(&case.file.target)
        // the analysed window as a trace: `perfscope analyze --at-mark alarm` replays it
        .arg("--save-window")
        .arg(&report_dir)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err);
    let mut watch = Job::spawn("perfscope watch", &mut watch_cmd, r.limits.stop_grace)?;
    tl.event(&format!(
        "{}: pid {}",
        procs::describe(&watch_cmd),
        watch.pid()
    ));

    // 2. readiness: the port accepts connections and the monitor takes alarms
    let (mut port_ok, mut socket_ok) = (false, false);
    let ready_start = Instant::now();
    loop {
        if let Some(s) = server.poll()? {
            tl.event(&format!("start.sh exited: {s}"));
            bail!(
                "start.sh exited before the server was ready ({s}); see {}:\n{}",
                logs.join("start.log").display(),
                procs::log_tail(&logs.join("start.log"), 10)
            );
        }
        if let Some(s) = watch.poll()? {
            tl.event(&format!("perfscope watch exited: {s}"));
            bail!(
                "perfscope watch exited before the server was ready ({s}); see {}:\n{}",
                logs.join("watch.log").display(),
                procs::log_tail(&logs.join("watch.log"), 10)
            );
        }
        procs::check_interrupted()?;
        port_ok = port_ok || port_open(r.port);
        socket_ok = socket_ok || socket.exists();
        if port_ok && socket_ok {
            break;
        }
        if ready_start.elapsed() >= r.limits.ready {
            let what = match (port_ok, socket_ok) {
                (false, false) => format!(
                    "port {} never accepted connections and perfscope watch never created {}",
                    r.port,
                    socket.display()
                ),
                (false, true) => format!("port {} never accepted connections", r.port),
                _ => format!("perfscope watch never created {}", socket.display()),
            };
            tl.event(&format!("not ready: {what}"));
            bail!(
                "the server was not ready after {} s: {what}; see {}",
                r.limits.ready.as_secs_f64(),
                logs.display()
            );
        }
        std::thread::sleep(procs::TICK);
    }
    let ready_after = ready_start.elapsed();
    tl.event("ready");

    // 3. normal traffic, then the trigger, then the alarm
    let mut server_exited = None;
    let mut normal = script(&w.normal, "normal", r.limits.script_grace)?;
    tl.event(&format!("normal.sh: pid {}", normal.pid()));
    let mut watched = |what: &str,
                       len: Duration,
                       server: &mut Job,
                       watch: &mut Job,
                       extra: &mut [&mut Job],
                       tl: &mut Timeline|
     -> anyhow::Result<()> {
        let t0 = Instant::now();
        while t0.elapsed() < len {
            status(&format!(
                "{what} {:.0}/{:.0} s",
                t0.elapsed().as_secs_f64(),
                len.as_secs_f64()
            ));
            procs::check_interrupted()?;
            if server_exited.is_none()
                && let Some(s) = server.poll()?
            {
                tl.event(&format!("the server exited: {s}"));
                server_exited = Some(s.to_string());
            }
            if let Some(s) = watch.poll()? {
                tl.event(&format!("perfscope watch exited: {s}"));
                bail!(
                    "perfscope watch exited during the run ({s}); see {}:\n{}",
                    logs.join("watch.log").display(),
                    procs::log_tail(&logs.join("watch.log"), 10)
                );
            }
            for j in extra.iter_mut() {
                let before = j.status();
                if let (None, Some(s)) = (before, j.poll()?) {
                    tl.event(&format!("{} exited: {s}", j.name()));
                }
            }
            std::thread::sleep(procs::TICK.min(len.saturating_sub(t0.elapsed())));
        }
        Ok(())
    };
    watched(
        "normal traffic",
        case.normal(),
        &mut server,
        &mut watch,
        &mut [&mut normal],
        &mut tl,
    )?;
    let mut trigger = script(&w.trigger, "trigger", r.limits.script_grace)?;
    tl.event(&format!("trigger.sh: pid {}", trigger.pid()));
    watched(
        "after the trigger",
        case.after_trigger(),
        &mut server,
        &mut watch,
        &mut [&mut normal, &mut trigger],
        &mut tl,
    )?;

    status("alarm: analysing");
    let alarm_out = logs.join("alarm.jsonl");
    let out = std::fs::File::create(&alarm_out)
        .with_context(|| format!("cannot create {}", alarm_out.display()))?;
    let (_, err) = log_file("alarm.log")?;
    let mut alarm_cmd = Command::new(r.perfscope);
    alarm_cmd
        .arg("alarm")
        .arg("--socket")
        .arg(&socket)
        .args(["--wait", "--format", "json", "--label"])
        .arg(format!("eval {}", case.id()))
        .arg("--timeout")
        .arg(format!("{}s", r.limits.alarm.as_secs()))
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err);
    tl.event(&format!("alarm: {}", procs::describe(&alarm_cmd)));
    let mut alarm = Job::spawn("perfscope alarm", &mut alarm_cmd, Duration::from_secs(2))?;
    let alarm_status =
        alarm.wait_timeout(Some(r.limits.alarm + Duration::from_secs(15)), &mut || {})?;
    alarm.stop();
    tl.event(&format!(
        "alarm done: {}",
        alarm_status.map_or("timed out".to_string(), |s| s.to_string())
    ));

    // 4. stop everything, traffic first
    status("stopping");
    for (job, label) in [(&mut trigger, "trigger.sh"), (&mut normal, "normal.sh")] {
        let s = job.stop();
        if s.was_running {
            tl.event(&format!(
                "{label} stopped{}",
                if s.killed { " (SIGKILL)" } else { "" }
            ));
        }
    }
    let stopped = server.stop();
    tl.event(&format!(
        "server stopped: {}",
        if stopped.killed {
            "SIGTERM ignored, SIGKILL"
        } else if stopped.was_running {
            "SIGTERM"
        } else {
            "had exited"
        }
    ));
    watch.stop();
    tl.event("perfscope watch stopped");
    if socket.starts_with(std::env::temp_dir()) {
        let _ = std::fs::remove_file(&socket);
    }

    let Some(alarm_status) = alarm_status else {
        bail!(
            "perfscope alarm gave no report within {} s; see {}",
            r.limits.alarm.as_secs(),
            logs.join("alarm.log").display()
        );
    };
    let code = alarm_status.code().unwrap_or(-1);
    if !(code == 0 || code == 1) {
        bail!(
            "perfscope alarm failed ({alarm_status}); see {}:\n{}",
            logs.join("alarm.log").display(),
            procs::log_tail(&logs.join("alarm.log"), 10)
        );
    }
    let report = std::fs::read_to_string(&alarm_out)
        .with_context(|| format!("cannot read {}", alarm_out.display()))?;
    Ok(Outcome {
        report,
        ready_after,
        server_exited,
        server_killed: stopped.killed,
        logs,
    })
}

#[cfg(test)]
pub(crate) mod tests;
