//! Helpers of perfscope's end-to-end tests (the files under `tests/`): the real
//! `runner`, `trainer` and `sigdb` binaries, fixtures compiled into temporary
//! directories, and checks of traces and signature databases.
//!
//! # How the binaries are found
//!
//! Cargo exposes `CARGO_BIN_EXE_*` only for binaries of the package under test, and these
//! live in other packages. So [`bins`] runs `cargo build -p runner -p trainer -p sigdb
//! --bins` once per test process (a no-op when they are fresh), with the profile the
//! tests were built with and the caller's `CARGO_TARGET_DIR`, and takes the executables'
//! paths from cargo's JSON messages: no guessing of target directories.
//!
//! # Privileges
//!
//! Everything that loads BPF needs root: such tests call [`can_trace`] first and skip with
//! a printed reason elsewhere. Traced test suites run as `nobody`, so fixture builds go
//! to directories everyone can read ([`Scratch`]).

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use sigdb::Sigdb;
use trace::{Event, Footer, Header, TraceReader};

/// The workspace root.
pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_WORKSPACE_DIR"))
}

/// The perfscope binaries the tests drive.
#[derive(Debug)]
pub struct Bins {
    pub runner: PathBuf,
    pub trainer: PathBuf,
    pub sigdb: PathBuf,
    pub perfscope: PathBuf,
}

/// Builds (once per process) and returns the binaries.
pub fn bins() -> &'static Bins {
    static BINS: OnceLock<Bins> = OnceLock::new();
    BINS.get_or_init(build_bins)
}

fn build_bins() -> Bins {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace()).args([
        "build",
        "--quiet",
        "--message-format=json-render-diagnostics",
        "-p",
        "runner",
        "-p",
        "trainer",
        "-p",
        "sigdb-tool",
        "-p",
        "perfscope",
        "--bins",
    ]);
    if !cfg!(debug_assertions) {
        cmd.arg("--release");
    }
    let out = cmd
        .stderr(Stdio::inherit())
        .output()
        .expect("running cargo build for the runner, trainer and sigdb binaries");
    assert!(out.status.success(), "cargo build of the binaries failed");
    let mut found = std::collections::BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if msg["reason"] != "compiler-artifact" {
            continue;
        }
        if let (Some(name), Some(exe)) =
            (msg["target"]["name"].as_str(), msg["executable"].as_str())
        {
            found.insert(name.to_string(), PathBuf::from(exe));
        }
    }
    let take = |name: &str| {
        found
            .get(name)
            .cloned()
            .unwrap_or_else(|| panic!("cargo built no {name} executable"))
    };
    Bins {
        runner: take("runner"),
        trainer: take("trainer"),
        sigdb: take("sigdb"),
        perfscope: take("perfscope"),
    }
}

/// Whether capture can run here; prints why not (the caller then returns), and fails
/// under `cargo xtask ci`.
pub fn can_trace(test: &str) -> bool {
    testkit::require_root(test)
}

/// Whether this process is root (for tests that switch users).
pub fn is_root() -> bool {
    host::identity::euid() == 0
}

pub use testkit::Scratch;

/// Compiles the C file `src` into `out` with the attribution fixtures' flags (see
/// fixtures/attribution/README.md) plus `extra`.
pub fn gcc(src: &Path, out: &Path, extra: &[&str]) {
    testkit::gcc(src, out, testkit::Flags::Fixture, extra);
}

/// fixtures/attribution/NAME.c
pub fn attribution_source(name: &str) -> PathBuf {
    workspace()
        .join("fixtures/attribution")
        .join(format!("{name}.c"))
}

/// Builds the fixture servers into `out` with the Makefile's flags (-O2 -g
/// -fno-omit-frame-pointer).
pub fn build_servers(out: &Path) {
    let o = Command::new("make")
        .arg("-C")
        .arg(workspace().join("fixtures/servers"))
        .arg(format!("OUT={}", out.display()))
        .output()
        .expect("running make");
    assert!(
        o.status.success(),
        "make fixtures/servers: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// What one `runner` invocation did.
#[derive(Debug)]
pub struct RunnerRun {
    /// The runner's exit status (128 + signal if it was killed).
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    /// The JSON summary, when the runner got that far.
    pub summary: Option<serde_json::Value>,
}

/// Runs `runner ARGS` with a JSON summary written to a side file; `env` adds variables,
/// and `SUDO_USER` is removed unless given.
pub fn runner<I, S>(args: I, env: &[(&str, &str)]) -> RunnerRun
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let side = tempfile::NamedTempFile::new().expect("summary file");
    let mut cmd = Command::new(&bins().runner);
    cmd.args(["--format", "json", "--no-progress", "--summary"])
        .arg(side.path())
        .args(args)
        .env_remove("SUDO_USER");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("running the runner");
    let text = std::fs::read_to_string(side.path()).unwrap_or_default();
    RunnerRun {
        code: exit_code(out.status),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        summary: serde_json::from_str(text.trim()).ok(),
    }
}

/// The shell's view of an exit status: the code, or 128 + the signal.
/// The bundled suite traces (`fixtures/traces/NAME.trace`): the C servers' each, and one
/// of both JVM servers.
pub const BUNDLED_SUITES: [&str; 3] = ["threadsrv", "loopsrv", "jvm"];

/// The bundled suite trace a bundled window (`SERVER-BUG.window.trace`) is analysed
/// with: `jvm` for the JVM servers (`jthreadsrv`, `jloopsrv`), else the server's own.
pub fn bundled_suite(window: &str) -> &'static str {
    let server = window.split('-').next().unwrap_or_default();
    match server {
        "threadsrv" => "threadsrv",
        "loopsrv" => "loopsrv",
        _ if server.starts_with('j') => "jvm",
        _ => panic!("no bundled suite trace for {window}"),
    }
}

pub fn exit_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

/// Runs `trainer --format json -o DB TRACE` and returns its JSON summary.
pub fn train(trace: &Path, db: &Path) -> serde_json::Value {
    let out = Command::new(&bins().trainer)
        .args(["--format", "json", "-o"])
        .arg(db)
        .arg(trace)
        .output()
        .expect("running the trainer");
    assert!(
        out.status.success(),
        "trainer failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the trainer's JSON summary")
}

/// Runs `sigdb verify DB`; returns whether it passed, with its output.
pub fn sigdb_verify(db: &Path) -> (bool, String) {
    let out = Command::new(&bins().sigdb)
        .arg("verify")
        .arg(db)
        .output()
        .expect("running sigdb verify");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

/// A trace read to its end.
#[derive(Debug)]
pub struct TraceFile {
    pub header: Header,
    /// The header's objects, then those of later object chunks (JVM methods, modules).
    pub objects: Vec<trace::Object>,
    pub footer: Option<Footer>,
    pub truncated: Option<String>,
    pub events: Vec<Event>,
}

impl TraceFile {
    pub fn read(path: &Path) -> TraceFile {
        let mut r = TraceReader::open(path).expect("a readable trace");
        let mut events = Vec::new();
        while let Some(ev) = r.next_event().expect("a well-formed trace") {
            events.push(ev);
        }
        TraceFile {
            header: r.header().clone(),
            objects: r.objects().cloned().collect(),
            footer: r.footer().cloned(),
            truncated: r.truncation().map(|t| t.reason.clone()),
            events,
        }
    }

    pub fn syscalls(&self) -> usize {
        self.events
            .iter()
            .filter(|e| matches!(e, Event::Syscall(_)))
            .count()
    }
}

/// A fact of a fixture's code that the trained database must show.
#[derive(Clone, Copy, Debug)]
pub enum Fact {
    /// The function has an episode containing this syscall.
    Episode(&'static str, &'static str),
    /// This syscall was attributed to the function at least once.
    Makes(&'static str, &'static str),
    /// ...exactly this many times.
    MakesExactly(&'static str, &'static str, u64),
    /// ...once per invocation of the function.
    MakesPerCall(&'static str, &'static str),
    /// This syscall was never attributed to the function.
    Never(&'static str, &'static str),
    /// The function has a record, was invoked, and has no signature.
    NoSignature(&'static str),
    /// The function was invoked, and no syscall at all was attributed to it.
    NoSyscalls(&'static str),
    /// The function has a record, declared in this file, and was never invoked (code the
    /// suite never ran).
    NeverRan(&'static str, &'static str),
}

/// Checks every fact against the database; panics listing all that fail.
pub fn check_facts(db: &Sigdb, facts: &[Fact]) {
    let mut failed = Vec::new();
    for fact in facts {
        if let Err(why) = check_fact(db, *fact) {
            failed.push(format!("{fact:?}: {why}"));
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {} facts do not hold:\n  {}",
        failed.len(),
        facts.len(),
        failed.join("\n  ")
    );
}

fn check_fact(db: &Sigdb, fact: Fact) -> Result<(), String> {
    let get = |name: &str| db.get(name).ok_or_else(|| format!("no record {name}"));
    let profile = |r: &sigdb::Record| format!("profile {:?}", r.profile);
    match fact {
        Fact::Episode(f, sys) => {
            let r = get(f)?;
            if r.episodes.iter().any(|e| e.events.iter().any(|s| s == sys)) {
                Ok(())
            } else {
                let eps: Vec<_> = r.episodes.iter().map(|e| e.events.join(",")).collect();
                Err(format!("episodes {eps:?}, {}", profile(r)))
            }
        }
        Fact::Makes(f, sys) => {
            let r = get(f)?;
            match r.profile.get(sys) {
                Some(&n) if n > 0 => Ok(()),
                _ => Err(profile(r)),
            }
        }
        Fact::MakesExactly(f, sys, n) => {
            let r = get(f)?;
            match r.profile.get(sys) {
                Some(&m) if m == n => Ok(()),
                _ => Err(profile(r)),
            }
        }
        Fact::MakesPerCall(f, sys) => {
            let r = get(f)?;
            match r.profile.get(sys) {
                Some(&m) if m == r.invocations && m > 0 => Ok(()),
                _ => Err(format!("{} invocations, {}", r.invocations, profile(r))),
            }
        }
        Fact::Never(f, sys) => {
            let r = get(f)?;
            match r.profile.get(sys) {
                None | Some(0) => Ok(()),
                Some(_) => Err(profile(r)),
            }
        }
        Fact::NoSignature(f) => {
            let r = get(f)?;
            if r.invocations == 0 {
                Err("never invoked".into())
            } else if r.episodes.is_empty() {
                Ok(())
            } else {
                let eps: Vec<_> = r.episodes.iter().map(|e| e.events.join(",")).collect();
                Err(format!("episodes {eps:?}"))
            }
        }
        Fact::NoSyscalls(f) => {
            let r = get(f)?;
            if r.invocations == 0 {
                Err("never invoked".into())
            } else if r.syscalls == 0 {
                Ok(())
            } else {
                Err(profile(r))
            }
        }
        Fact::NeverRan(f, file) => {
            let r = get(f)?;
            if r.invocations != 0 {
                Err(format!("invoked {} times", r.invocations))
            } else if r.file.as_deref() != Some(file) {
                Err(format!("declared in {:?}", r.file))
            } else {
                Ok(())
            }
        }
    }
}
