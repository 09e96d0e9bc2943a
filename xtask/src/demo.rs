//! `cargo xtask demo`: the whole perfscope story on a bundled fixture server in about a
//! minute: build it, trace its own test suite, train, run it with an injected bug under
//! `perfscope watch`, trigger the bug, raise the alarm, and check where the injected
//! function ranks. Exit 0 when it ranks first, 1 otherwise, 2 on error.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::ValueEnum;

use crate::procs;
use crate::progress::Progress;
use crate::tools;

mod live;

#[cfg(test)]
use live::trigger_reply;
use live::watch_and_alarm;

/// Build a fixture server, train on its test suite, inject a bug and show perfscope
/// naming the function behind it. Needs root (BPF).
#[derive(Debug, clap::Args)]
pub struct Options {
    /// The fixture server: thread per connection, or one epoll loop.
    #[arg(long, value_enum, default_value = "threadsrv")]
    pub server: Server,

    /// The injected bug (fixtures/servers/README.md, "Injected bugs").
    #[arg(long, value_enum, default_value = "slow_fsync")]
    pub bug: Bug,

    /// Run in DIR and keep every file there (trace, database, server data, logs,
    /// reports). Without it the run's folder is WORKSPACE/work/demo/SERVER-BUG and only
    /// the database, the logs and the reports stay.
    #[arg(long, value_name = "DIR")]
    pub keep: Option<PathBuf>,

    /// Seconds of normal traffic before the bug is triggered.
    #[arg(long, default_value_t = 20, value_name = "SECS")]
    pub normal: u64,

    /// Seconds between the trigger and the alarm.
    #[arg(long, default_value_t = 10, value_name = "SECS")]
    pub after: u64,

    /// Requests per second of the workload.
    #[arg(long, default_value_t = 100, value_name = "N")]
    pub rate: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Server {
    Threadsrv,
    Loopsrv,
}

impl Server {
    pub fn name(self) -> &'static str {
        match self {
            Server::Threadsrv => "threadsrv",
            Server::Loopsrv => "loopsrv",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum Bug {
    Spin,
    HangSleep,
    SlowFsync,
}

impl Bug {
    pub fn name(self) -> &'static str {
        match self {
            Bug::Spin => "spin",
            Bug::HangSleep => "hang_sleep",
            Bug::SlowFsync => "slow_fsync",
        }
    }
}

/// The function each injected bug lives in (fixtures/servers/README.md).
pub fn culprit(server: Server, bug: Bug) -> &'static str {
    match (server, bug) {
        (Server::Threadsrv, Bug::SlowFsync) => "store_append",
        (Server::Threadsrv, Bug::HangSleep) => "handle_get",
        (Server::Threadsrv, Bug::Spin) => "parse_request",
        (Server::Loopsrv, Bug::SlowFsync) => "aof_flush",
        (Server::Loopsrv, Bug::HangSleep) => "kv_get",
        (Server::Loopsrv, Bug::Spin) => "expire_keys",
    }
}

/// What the bug does once armed, for the narration.
fn symptom(server: Server, bug: Bug) -> &'static str {
    match (server, bug) {
        (Server::Threadsrv, Bug::SlowFsync) => "every PUT now adds 10 fsyncs and 10 ms of sleep",
        (Server::Threadsrv, Bug::HangSleep) => "every GET now blocks in a one-hour nanosleep",
        (Server::Threadsrv, Bug::Spin) => "the next request parsed spins its worker at 100 % CPU",
        (Server::Loopsrv, Bug::SlowFsync) => "every AOF flush now adds 10 fdatasyncs and 10 ms",
        (Server::Loopsrv, Bug::HangSleep) => "the next GET blocks the event loop in a read",
        (Server::Loopsrv, Bug::Spin) => "the next timer tick spins the event loop at 100 % CPU",
    }
}

/// The marker that says a folder holds a demo run (and may be emptied by the next one).
const MARKER: &str = ".perfscope-demo";

/// Files of one run.
struct Layout {
    build: PathBuf,
    srv: PathBuf,
    logs: PathBuf,
    report: PathBuf,
    trace: PathBuf,
    sigdb: PathBuf,
    socket: PathBuf,
}

impl Layout {
    fn new(dir: &Path, server: Server) -> Layout {
        let socket = dir.join("perfscope.sock");
        // sun_path holds 108 bytes
        let socket = if socket.as_os_str().len() < 100 {
            socket
        } else {
            std::env::temp_dir().join(format!("perfscope-demo-{}.sock", std::process::id()))
        };
        Layout {
            build: dir.join("build"),
            srv: dir.join("srv"),
            logs: dir.join("logs"),
            report: dir.join("report"),
            trace: dir.join(format!("{}.trace", server.name())),
            sigdb: dir.join(format!("{}.sigdb", server.name())),
            socket,
        }
    }

    fn exe(&self, server: Server) -> PathBuf {
        self.build.join(server.name())
    }
}

/// Empties `dir` when it is new, empty or an earlier demo run; refuses anything else.
fn prepare(dir: &Path) -> anyhow::Result<()> {
    if dir.exists() {
        let mut entries =
            std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?;
        let empty = entries.next().is_none();
        if !empty && !dir.join(MARKER).is_file() {
            bail!(
                "{} is not empty and holds no earlier demo run: give a new folder to --keep",
                dir.display()
            );
        }
        std::fs::remove_dir_all(dir).with_context(|| format!("cannot empty {}", dir.display()))?;
    }
    crate::tree::make_dir(dir)?;
    std::fs::write(
        dir.join(MARKER),
        "a `cargo xtask demo` run: the next one empties it\n",
    )
    .with_context(|| format!("cannot write in {}", dir.display()))
}

fn python() -> &'static str {
    // Debian's interpreter, not a pyenv shim (the Makefile's choice too)
    if Path::new("/usr/bin/python3").is_file() {
        "/usr/bin/python3"
    } else {
        "python3"
    }
}

pub fn run(opts: Options) -> anyhow::Result<ExitCode> {
    if !procs::is_root() {
        bail!(
            "cargo xtask demo needs root: perfscope's capture loads BPF programs \
             (run it as root, or with sudo -E)"
        );
    }
    let (server, bug) = (opts.server, opts.bug);
    let root = crate::workspace_root();
    let dir = match &opts.keep {
        Some(d) => {
            std::path::absolute(d).with_context(|| format!("cannot resolve {}", d.display()))?
        }
        None => root
            .join("work/demo")
            .join(format!("{}-{}", server.name(), bug.name())),
    };
    prepare(&dir)?;
    let l = Layout::new(&dir, server);
    for d in [&l.build, &l.srv, &l.logs, &l.report] {
        crate::tree::make_dir(d)?;
    }
    let started = Instant::now();
    let expected = culprit(server, bug);
    println!(
        "perfscope demo: {} with the injected bug {} (in {expected}); files in {}",
        server.name(),
        bug.name(),
        dir.display()
    );
    let progress = Progress::new("demo");
    let tools = tools::locate(
        &["runner", "trainer", "perfscope", "sigdb"],
        &l.logs,
        &progress,
    )?;
    let fixtures = root.join("fixtures/servers");

    build_fixture(&fixtures, &l, &progress)?;
    test_suite(&tools["runner"], &fixtures, server, &l, &progress)?;
    train(&tools["trainer"], &tools["sigdb"], server, &l, &progress)?;
    let story = watch_and_alarm(&tools["perfscope"], &fixtures, &opts, &l, &progress)?;

    if opts.keep.is_none() {
        for d in [&l.srv, &l.build] {
            let _ = std::fs::remove_dir_all(d);
        }
        let _ = std::fs::remove_file(&l.trace);
    }
    let html = l.report.join("alarm-1.html");
    println!();
    if html.is_file() {
        println!("HTML report: {}", html.display());
    }
    println!(
        "logs: {}; the analysed window: perfscope analyze --db {} {}",
        l.logs.display(),
        l.sigdb.display(),
        l.report.join("alarm-1.trace").display()
    );
    let took = started.elapsed().as_secs_f64();
    match story.rank {
        Some(1) => {
            println!(
                "result: {expected}, the function with the injected bug, is ranked first of {} \
                 (database of {} functions) [{took:.0} s]",
                story.listed, story.total
            );
            Ok(ExitCode::SUCCESS)
        }
        Some(r) => {
            println!(
                "result: {expected}, the function with the injected bug, is ranked {r} of {} \
                 (first: {}) [{took:.0} s]",
                story.listed,
                story.first.as_deref().unwrap_or("-")
            );
            Ok(ExitCode::from(1))
        }
        None => {
            println!(
                "result: {expected}, the function with the injected bug, is not in the ranking \
                 ({} listed, verdict {}) [{took:.0} s]",
                story.listed, story.verdict
            );
            Ok(ExitCode::from(1))
        }
    }
}

/// `make` of both fixture servers with the flags the tracer wants.
fn build_fixture(fixtures: &Path, l: &Layout, progress: &Progress) -> anyhow::Result<()> {
    const CFLAGS: &str = "-O2 -g -fno-omit-frame-pointer";
    let log = l.logs.join("build.log");
    let mut step = progress.step("1/9 build the fixture servers");
    step.watch_log(&log);
    let mut cmd = Command::new("make");
    cmd.arg("-C")
        .arg(fixtures)
        .arg(format!("OUT={}", l.build.display()))
        .arg(format!("CFLAGS={CFLAGS}"));
    let step = step.run_logged(
        "make",
        &mut cmd,
        &log,
        Some(Duration::from_secs(300)),
        "building the fixture servers failed",
        10,
    )?;
    step.done(&format!("threadsrv, loopsrv ({CFLAGS})"));
    Ok(())
}

/// The server's own test suite under the runner: the training trace.
fn test_suite(
    runner: &Path,
    fixtures: &Path,
    server: Server,
    l: &Layout,
    progress: &Progress,
) -> anyhow::Result<()> {
    let log = l.logs.join("test-suite.log");
    let summary = l.logs.join("runner.json");
    let target = format!("check-{}", server.name());
    let mut step = progress.step(&format!("2/9 its test suite under runner (make {target})"));
    step.watch_log(&log);
    let mut cmd = Command::new(runner);
    // The fixture's suite is harmless as root, and runs wherever the checkout is (a
    // `--user nobody` run cannot read a checkout under /root, as on a fresh machine).
    cmd.arg("--bin")
        .arg(l.exe(server))
        .args([
            "--as-root",
            "--no-progress",
            "--format",
            "json",
            "--summary",
        ])
        .arg(&summary)
        .arg("-o")
        .arg(&l.trace)
        .args(["--", "make", "--no-print-directory", "-C"])
        .arg(fixtures)
        .arg(format!("OUT={}", l.build.display()))
        .arg(&target);
    let step = step.run_logged(
        "runner",
        &mut cmd,
        &log,
        Some(Duration::from_secs(300)),
        "the test suite under runner failed",
        15,
    )?;
    let s: serde_json::Value = std::fs::read_to_string(&summary)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    let tests = passed_tests(&procs::log_tail(&log, 40));
    step.done(&format!(
        "{}passed; {} functions probed, {} hit, {} invocations, {} syscalls, {} lost",
        tests.map_or(String::new(), |n| format!("{n} tests ")),
        s["functions_probed"],
        s["functions_hit"],
        s["invocations"],
        s["syscalls"],
        s["lost"]
    ));
    Ok(())
}

/// `11/11` of the harness's last line, `threadsrv: 11/11 passed in 0.34 s`.
fn passed_tests(log: &str) -> Option<String> {
    log.lines().rev().find_map(|l| {
        let (_, rest) = l.trim().split_once(": ")?;
        let (count, tail) = rest.split_once(' ')?;
        let (a, b) = count.split_once('/')?;
        let all = a.parse::<u32>().is_ok() && b.parse::<u32>().is_ok();
        (all && tail.starts_with("passed")).then(|| count.to_string())
    })
}

fn train(
    trainer: &Path,
    sigdb_bin: &Path,
    server: Server,
    l: &Layout,
    progress: &Progress,
) -> anyhow::Result<()> {
    let log = l.logs.join("trainer.log");
    let mut step = progress.step("3/9 train the signatures (trainer)");
    step.watch_log(&log);
    let mut cmd = Command::new(trainer);
    cmd.arg("-o")
        .arg(&l.sigdb)
        .args(["--target-name", server.name()])
        .arg(&l.trace);
    let step = step.run_logged(
        "trainer",
        &mut cmd,
        &log,
        Some(Duration::from_secs(300)),
        "the trainer failed",
        10,
    )?;
    let db = sigdb::read(&l.sigdb)
        .with_context(|| format!("cannot read the trained {}", l.sigdb.display()))?;
    let c = &db.header.coverage;
    step.done(&format!(
        "{} functions, {} with signatures",
        db.records.len(),
        c.functions_with_signatures
    ));
    let show = Command::new(sigdb_bin)
        .arg("show")
        .arg(&l.sigdb)
        .output()
        .context("cannot run sigdb show")?;
    print!(
        "{}",
        signature_summary(&db, &l.sigdb, &String::from_utf8_lossy(&show.stdout))
    );
    Ok(())
}

/// The header block of `sigdb show`, then one line per function with a signature.
fn signature_summary(db: &sigdb::Sigdb, path: &Path, text: &str) -> String {
    let mut out = String::from("\n$ sigdb show ");
    let _ = writeln!(out, "{}", path.display());
    for line in text.lines().take_while(|l| !l.trim().is_empty()) {
        let _ = writeln!(out, "  {line}");
    }
    out.push_str("  signatures (most specific episodes first):\n");
    for r in db.records.iter().filter(|r| !r.episodes.is_empty()) {
        let eps: Vec<String> = r
            .episodes
            .iter()
            .take(2)
            .map(|e| e.events.join("→"))
            .collect();
        let more = r.episodes.len().saturating_sub(2);
        let _ = writeln!(
            out,
            "    {:<28} {:>5} calls  {}{}",
            r.name,
            r.invocations,
            eps.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        );
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bug_has_a_culprit_named_in_the_fixture_readme() {
        let readme =
            std::fs::read_to_string(crate::workspace_root().join("fixtures/servers/README.md"))
                .unwrap();
        for server in [Server::Threadsrv, Server::Loopsrv] {
            for bug in [Bug::Spin, Bug::HangSleep, Bug::SlowFsync] {
                let row = format!(
                    "| `{}` | {} | `{}` |",
                    bug.name(),
                    server.name(),
                    culprit(server, bug)
                );
                assert!(
                    readme.contains(&row),
                    "no row {row} in fixtures/servers/README.md"
                );
            }
        }
    }

    #[test]
    fn the_suite_count_is_read() {
        let log = "ok   test_access_log (0.02 s)\nthreadsrv: 11/11 passed in 0.34 s\n==> runner: exit status 0";
        assert_eq!(passed_tests(log).as_deref(), Some("11/11"));
        assert_eq!(passed_tests("make: *** [check] Error 1\n"), None);
    }

    #[test]
    fn the_reply_is_the_last_line_before_the_footer() {
        let log = "==> trigger.py: python3 trigger.py --port 1\nOK bug armed slow_fsync\n==> trigger.py: exit status 0";
        assert_eq!(trigger_reply(log), "OK bug armed slow_fsync");
    }

    #[test]
    fn a_folder_with_other_files_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("precious.txt"), "x").unwrap();
        let err = prepare(dir.path()).unwrap_err();
        assert!(format!("{err:#}").contains("not empty"), "{err:#}");
        assert!(dir.path().join("precious.txt").exists());
        // an earlier run is emptied
        let run = dir.path().join("run");
        prepare(&run).unwrap();
        std::fs::write(run.join("old.log"), "x").unwrap();
        prepare(&run).unwrap();
        assert!(!run.join("old.log").exists());
        assert!(run.join(MARKER).is_file());
    }
}
