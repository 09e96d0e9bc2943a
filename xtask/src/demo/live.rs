//! The demo's production half: the fixture server with its bug configured under
//! `perfscope watch`, traffic, the trigger, the alarm and its report, then everything
//! stopped, checked to leave nothing running.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::{Layout, Options, Server, culprit, python, symptom};
use crate::procs::{self, End, Job};
use crate::progress::{Progress, Step};
use crate::score;

/// What the alarm's report said.
pub(super) struct Story {
    pub rank: Option<usize>,
    pub first: Option<String>,
    pub listed: usize,
    pub total: u64,
    pub verdict: String,
}

/// The production half: the server with the bug configured under `perfscope watch`,
/// traffic, the trigger, the alarm, the report; then everything stopped.
pub(super) fn watch_and_alarm(
    perfscope: &Path,
    fixtures: &Path,
    opts: &Options,
    l: &Layout,
    progress: &Progress,
) -> anyhow::Result<Story> {
    let (server, bug) = (opts.server, opts.bug);
    let (mut watch, port) = start_watch(perfscope, opts, l, progress)?;

    // normal traffic that goes on through the trigger until just after the alarm
    let step = progress.step(&format!(
        "5/9 normal traffic, {} req/s for {} s",
        opts.rate, opts.normal
    ));
    let mut workload = start_workload(fixtures, opts, l, port)?;
    let normal = Duration::from_secs(opts.normal);
    hold(normal, &step, &mut watch, &mut workload, l)?;
    step.done("");

    trigger(fixtures, opts, l, port, progress)?;
    let step = progress.step(&format!("7/9 the bug at work for {} s", opts.after));
    let after = Duration::from_secs(opts.after);
    hold(after, &step, &mut watch, &mut workload, l)?;
    step.done("");

    let report = raise_alarm(perfscope, l, progress)?;
    stop_all(&mut watch, &mut workload, server, l, progress)?;
    print_workload(l);

    // the report as the watcher wrote it
    let txt = l.report.join("alarm-1.txt");
    match std::fs::read_to_string(&txt) {
        Ok(t) => {
            println!("\n$ cat {}", txt.display());
            print!("{t}");
        }
        Err(e) => println!("(no text report at {}: {e})", txt.display()),
    }
    let hit = score::first_culprit(&report.ranking, &[culprit(server, bug).to_string()]);
    Ok(Story {
        rank: hit.map(|(r, _)| r),
        first: report.ranking.first().cloned(),
        listed: report.listed,
        total: report.total_functions,
        verdict: report.verdict,
    })
}

/// A log file of the demo.
fn log_file(l: &Layout, name: &str) -> anyhow::Result<std::fs::File> {
    let p = l.logs.join(name);
    std::fs::File::create(&p).with_context(|| format!("cannot create {}", p.display()))
}

/// Step 4: the server, paused until the capture is attached, then serving; the watcher
/// and the port the server listens on.
fn start_watch(
    perfscope: &Path,
    opts: &Options,
    l: &Layout,
    progress: &Progress,
) -> anyhow::Result<(Job, u16)> {
    let (server, bug) = (opts.server, opts.bug);
    let step = progress.step(&format!(
        "4/9 start {} under perfscope watch, bug {} configured (dormant)",
        server.name(),
        bug.name()
    ));
    let watch_out = l.logs.join("watch.out");
    let mut cmd = Command::new(perfscope);
    cmd.arg("watch")
        .arg("--db")
        .arg(&l.sigdb)
        .arg("--report-dir")
        .arg(&l.report)
        .arg("--save-window")
        .arg(&l.report)
        .arg("--socket")
        .arg(&l.socket)
        .args(["--expect-target", server.name()])
        // the whole run: the watcher starts with the server, so there is no more to see
        .args(["--analyze", &format!("{}s", opts.normal + opts.after)])
        // as the runner above: the demo server writes into the demo's root-owned folder
        .arg("--as-root")
        .arg("--")
        .arg("env")
        .arg(format!("PERFSCOPE_FIXTURE_BUG={}", bug.name()))
        .arg(l.exe(server))
        .args(["-p", "0", "-d"])
        .arg(&l.srv)
        .stdin(Stdio::null())
        .stdout(log_file(l, "watch.out")?)
        .stderr(log_file(l, "watch.log")?);
    let mut watch = Job::spawn("perfscope watch", &mut cmd, Duration::from_secs(10))?;
    let port = wait_ready(&mut watch, &watch_out, l, &step)?;
    step.done(&format!(
        "listening on 127.0.0.1:{port}; watcher pid {}",
        watch.pid()
    ));
    Ok((watch, port))
}

/// The traffic generator, for the whole run and 3 s more.
fn start_workload(fixtures: &Path, opts: &Options, l: &Layout, port: u16) -> anyhow::Result<Job> {
    let total = opts.normal + opts.after + 3;
    let mut cmd = Command::new(python());
    cmd.arg(fixtures.join("workload.py"))
        .args(["--server", opts.server.name(), "--port", &port.to_string()])
        .args(["--seconds", &total.to_string()])
        .args(["--rate", &opts.rate.to_string()]);
    if opts.server == Server::Threadsrv {
        cmd.arg("--dir").arg(&l.srv);
    }
    cmd.env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::null())
        .stdout(log_file(l, "workload.out")?)
        .stderr(log_file(l, "workload.log")?);
    Job::spawn("workload", &mut cmd, Duration::from_secs(2))
}

/// Step 6: arms the bug through the server's control request.
fn trigger(
    fixtures: &Path,
    opts: &Options,
    l: &Layout,
    port: u16,
    progress: &Progress,
) -> anyhow::Result<()> {
    let step = progress.step("6/9 trigger the bug (trigger.py)");
    let trigger_log = l.logs.join("trigger.log");
    let mut trig = Command::new(python());
    trig.arg(fixtures.join("trigger.py"))
        .args(["--port", &port.to_string()])
        .env("PYTHONDONTWRITEBYTECODE", "1");
    let end = procs::run_logged(
        "trigger.py",
        &mut trig,
        &trigger_log,
        Some(Duration::from_secs(10)),
        &mut || {},
    )?;
    let reply = trigger_reply(&procs::log_tail(&trigger_log, 3));
    if !end.success() {
        step.failed(&end.describe());
        bail!(
            "trigger.py could not arm the bug ({}): {reply}; see {}",
            end.describe(),
            trigger_log.display()
        );
    }
    step.done(&format!("{reply}: {}", symptom(opts.server, opts.bug)));
    Ok(())
}

/// Step 8: `perfscope alarm --wait` and its report.
fn raise_alarm(perfscope: &Path, l: &Layout, progress: &Progress) -> anyhow::Result<score::Report> {
    let step = progress.step("8/9 raise the alarm (perfscope alarm --wait)");
    let alarm_json = l.logs.join("alarm.jsonl");
    let mut cmd = Command::new(perfscope);
    cmd.arg("alarm")
        .arg("--socket")
        .arg(&l.socket)
        .args(["--wait", "--format", "json", "--label", "demo"])
        .args(["--timeout", "120s"])
        .stdin(Stdio::null())
        .stdout(log_file(l, "alarm.jsonl")?)
        .stderr(log_file(l, "alarm.log")?);
    let mut alarm = Job::spawn("perfscope alarm", &mut cmd, Duration::from_secs(2))?;
    let status = alarm.wait_timeout(Some(Duration::from_secs(135)), &mut || {})?;
    alarm.stop();
    let code = status.and_then(|s| s.code());
    // 2 with a report: inconclusive (data was lost), which the report says
    let printed = std::fs::metadata(&alarm_json).is_ok_and(|m| m.len() > 0);
    let answered = matches!(code, Some(0 | 1)) || (code == Some(2) && printed);
    if !answered {
        step.failed("");
        bail!(
            "perfscope alarm failed ({}); see {}:\n{}",
            status.map_or("timed out".to_string(), |s| s.to_string()),
            l.logs.join("alarm.log").display(),
            procs::log_tail(&l.logs.join("alarm.log"), 10)
        );
    }
    let text = std::fs::read_to_string(&alarm_json)
        .with_context(|| format!("cannot read {}", alarm_json.display()))?;
    let report = score::parse_report(&text).context("cannot read the alarm's report")?;
    step.done(&format!(
        "{}: {} functions ranked, {} syscalls analysed in {:.0} ms",
        report.verdict, report.listed, report.syscalls, report.analysis_ms
    ));
    Ok(report)
}

/// Step 9: the rest of the traffic (its summary), then the watcher, which stops the
/// server; nothing of the server may be left running.
fn stop_all(
    watch: &mut Job,
    workload: &mut Job,
    server: Server,
    l: &Layout,
    progress: &Progress,
) -> anyhow::Result<()> {
    let step = progress.step("9/9 stop the traffic, the server and the watcher");
    let _ = workload.wait_timeout(Some(Duration::from_secs(8)), &mut || {})?;
    workload.stop();
    let w = watch.stop();
    let exe = l.exe(server);
    let left = running_exe(&exe);
    if !left.is_empty() {
        step.failed("");
        bail!("{} is still running (pids {left:?})", exe.display());
    }
    let _ = std::fs::remove_file(&l.socket);
    step.done(&format!(
        "watcher {}; nothing left running",
        match (w.killed, watch.status()) {
            (true, _) => "killed after SIGTERM".to_string(),
            (false, Some(s)) => format!("exited ({})", End::Exited(s).describe()),
            (false, None) => "stopped".to_string(),
        }
    ));
    Ok(())
}

/// The traffic generator's summary line, as people read it.
fn print_workload(l: &Layout) {
    if let Some(w) = std::fs::read_to_string(l.logs.join("workload.out"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(t.lines().last()?).ok())
    {
        println!(
            "workload: {} requests in {} s, {} answered, {} timeouts, {} errors; latency p50 \
             {} ms, p99 {} ms, max {} ms",
            w["sent"],
            w["seconds"],
            w["ok"],
            w["timeouts"],
            w["errors"],
            w["p50_ms"],
            w["p99_ms"],
            w["max_ms"]
        );
    }
}

/// Waits for the server's `listening on PORT` (on the watcher's stdout: the server's
/// is the same file) and the watcher's alarm socket.
fn wait_ready(watch: &mut Job, out: &Path, l: &Layout, step: &Step) -> anyhow::Result<u16> {
    let t0 = Instant::now();
    let mut port = None;
    loop {
        if let Some(s) = watch.poll()? {
            bail!(
                "perfscope watch exited before the server was ready ({s}); see {}:\n{}",
                l.logs.join("watch.log").display(),
                procs::log_tail(&l.logs.join("watch.log"), 10)
            );
        }
        procs::check_interrupted()?;
        if port.is_none() {
            port = std::fs::read_to_string(out).ok().and_then(|t| {
                t.lines()
                    .find_map(|x| x.trim().strip_prefix("listening on ")?.parse::<u16>().ok())
            });
        }
        if let Some(p) = port
            && l.socket.exists()
        {
            return Ok(p);
        }
        if t0.elapsed() > Duration::from_secs(30) {
            bail!(
                "the server was not ready after 30 s ({}); see {}",
                if port.is_none() {
                    "it never printed `listening on PORT`"
                } else {
                    "perfscope watch never created its socket"
                },
                l.logs.display()
            );
        }
        step.message(format!("{:.0} s", t0.elapsed().as_secs_f64()));
        std::thread::sleep(procs::TICK);
    }
}

/// Waits `len` while the watcher and the workload run; either ending is an error.
fn hold(
    len: Duration,
    step: &Step,
    watch: &mut Job,
    workload: &mut Job,
    l: &Layout,
) -> anyhow::Result<()> {
    let t0 = Instant::now();
    while t0.elapsed() < len {
        procs::check_interrupted()?;
        if let Some(s) = watch.poll()? {
            bail!(
                "perfscope watch exited during the run ({s}); see {}:\n{}",
                l.logs.join("watch.log").display(),
                procs::log_tail(&l.logs.join("watch.log"), 10)
            );
        }
        if let Some(s) = workload.poll()? {
            bail!(
                "the workload stopped early ({s}); see {}:\n{}",
                l.logs.join("workload.log").display(),
                procs::log_tail(&l.logs.join("workload.log"), 10)
            );
        }
        step.message(format!(
            "{:.0}/{:.0} s",
            t0.elapsed().as_secs_f64(),
            len.as_secs_f64()
        ));
        std::thread::sleep(procs::TICK.min(len.saturating_sub(t0.elapsed())));
    }
    Ok(())
}

/// The server's reply in trigger.py's log (the line between run_logged's headers).
pub(super) fn trigger_reply(log: &str) -> String {
    log.lines()
        .rfind(|l| !l.starts_with("==> "))
        .unwrap_or("no reply")
        .trim()
        .to_string()
}

/// Pids of live processes running `exe`.
fn running_exe(exe: &Path) -> Vec<i32> {
    procs::scan()
        .into_iter()
        .filter(|p| p.is_alive())
        .filter(|p| std::fs::read_link(format!("/proc/{}/exe", p.pid)).is_ok_and(|e| e == exe))
        .map(|p| p.pid as i32)
        .collect()
}
