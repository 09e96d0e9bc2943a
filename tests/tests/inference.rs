//! The production side end to end (needs root): a fixture server is trained on its own
//! test suite, then run with an injected bug under `perfscope watch` (syscalls only; user
//! stacks sampled after the alarm) with a normal workload; the bug is triggered, the
//! alarm raised, and the injected function must rank first. One bug per kind: a slowdown
//! through extra syscalls, a hang in a blocking syscall, a hang in a CPU spin with no
//! syscalls at all (fixtures/servers/README.md documents each bug).

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tests::{Scratch, bins, build_servers, can_trace, runner, train};

/// One scenario at a time: they measure timing-dependent behaviour on a small machine.
static SERIAL: Mutex<()> = Mutex::new(());

/// Seconds of normal traffic before the trigger, and of the bug before the alarm.
const NORMAL_S: u64 = 15;
const AFTER_S: u64 = 8;

struct Watcher(Child);

impl Drop for Watcher {
    fn drop(&mut self) {
        host::signals::kill(self.0.id() as i32, host::signals::SIGTERM);
        let until = Instant::now() + Duration::from_secs(20);
        while Instant::now() < until {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The Java fixture servers (fixtures/jvm) are named with a `j`.
fn is_jvm(server: &str) -> bool {
    server.starts_with('j')
}

/// Builds the fixture servers (C or Java) into `out`.
fn build(out: &Path, server: &str) {
    if is_jvm(server) {
        let st = Command::new("sh")
            .arg(tests::workspace().join("fixtures/jvm/build.sh"))
            .arg(out)
            .env_remove("JAVA_TOOL_OPTIONS")
            .stdout(Stdio::null())
            .status()
            .expect("running fixtures/jvm/build.sh");
        assert!(st.success(), "fixtures/jvm/build.sh");
    } else {
        build_servers(out);
    }
}

/// Trains on the server's own test suite; returns the database.
fn trained(dir: &Scratch, out: &Path, server: &str) -> PathBuf {
    let trace = dir.join(format!("{server}.trace"));
    let run = if is_jvm(server) {
        runner(
            [
                "--jvm-app".into(),
                "perfscope.fixture".into(),
                "--user".into(),
                "nobody".into(),
                "-o".into(),
                trace.clone().into_os_string(),
                "--".into(),
                "sh".into(),
                tests::workspace()
                    .join("fixtures/jvm/check.sh")
                    .into_os_string(),
                "--no-build".into(),
                out.into(),
            ],
            &[],
        )
    } else {
        runner(
            [
                "--bin".into(),
                out.join(server).into_os_string(),
                "--user".into(),
                "nobody".into(),
                "-o".into(),
                trace.clone().into_os_string(),
                "--".into(),
                "make".into(),
                "--no-print-directory".into(),
                "-C".into(),
                tests::workspace().join("fixtures/servers").into_os_string(),
                format!("OUT={}", out.display()).into(),
                format!("check-{server}").into(),
            ],
            &[],
        )
    };
    assert_eq!(run.code, 0, "training suite: {}", run.stderr);
    let db = dir.join(format!("{server}.sigdb"));
    train(&trace, &db);
    db
}

/// Runs the scenario and returns the ranked function names.
fn ranking(server: &str, bug: &str) -> Option<Vec<String>> {
    if !can_trace(&format!("inference::{server}::{bug}")) {
        return None;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = Scratch::new();
    let out = dir.join("build");
    build(&out, server);
    let db = trained(&dir, &out, server);
    let srv = dir.join("srv");
    std::fs::create_dir_all(&srv).unwrap();
    // the server runs as nobody (the watcher's identity rule), and writes here
    std::fs::set_permissions(&srv, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let socket = dir.join("watch.sock");
    let mut w = Command::new(&bins().perfscope)
        .arg("watch")
        .arg("--db")
        .arg(&db)
        .arg("--socket")
        .arg(&socket)
        .arg("--report-dir")
        .arg(dir.join("reports"))
        .args(["--user", "nobody", "--"])
        .args(["env", &format!("PERFSCOPE_FIXTURE_BUG={bug}")])
        .arg(out.join(server))
        .args(["-p", "0", "-d"])
        .arg(&srv)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("starting perfscope watch");
    let stdout = w.stdout.take().unwrap();
    let w = Watcher(w);
    let mut line = String::new();
    std::io::BufReader::new(stdout)
        .read_line(&mut line)
        .unwrap();
    let port = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("the server's first line: {line:?}"))
        .to_string();
    let fixtures = tests::workspace().join("fixtures/servers");
    let mut workload = Command::new("python3");
    workload
        .arg(fixtures.join("workload.py"))
        .args(["--server", server, "--port", &port, "--rate", "200"])
        .args(["--seconds", &(NORMAL_S + AFTER_S + 30).to_string()])
        .args(["--trigger-at", &NORMAL_S.to_string()])
        .stdout(Stdio::null());
    if server.ends_with("threadsrv") {
        workload.arg("--dir").arg(&srv);
    }
    let mut workload = workload.spawn().expect("starting the workload");
    std::thread::sleep(Duration::from_secs(NORMAL_S + AFTER_S));
    let alarm = Command::new(&bins().perfscope)
        .args([
            "alarm", "--wait", "--format", "json", "--label", "test", "--socket",
        ])
        .arg(&socket)
        .output()
        .expect("raising the alarm");
    let _ = workload.kill();
    let _ = workload.wait();
    drop(w);
    let text = String::from_utf8_lossy(&alarm.stdout);
    assert_eq!(
        alarm.status.code(),
        Some(1),
        "the report must have findings:\n{text}\n{}",
        String::from_utf8_lossy(&alarm.stderr)
    );
    let names: Vec<String> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|r| r["type"] == "function")
        .map(|r| r["name"].as_str().unwrap_or_default().to_string())
        .collect();
    eprintln!("{server} {bug}: {names:?}");
    Some(names)
}

fn check(server: &str, bug: &str, culprit: &str) {
    if let Some(names) = ranking(server, bug) {
        assert_eq!(
            names.first().map(String::as_str),
            Some(culprit),
            "{server} with {bug}: the injected function must rank first: {names:?}"
        );
    }
}

#[test]
fn a_slowdown_through_extra_syscalls_is_ranked_on_its_function() {
    check("threadsrv", "slow_fsync", "store_append");
}

#[test]
fn a_hang_in_a_blocking_syscall_is_ranked_on_its_function() {
    check("loopsrv", "hang_sleep", "kv_get");
}

#[test]
fn a_hang_in_a_cpu_spin_without_syscalls_is_ranked_on_its_function() {
    check("loopsrv", "spin", "expire_keys");
}

/// The same on the JVM: the Java thread-pool server, trained through the agent, watched
/// with syscalls only.
#[test]
fn a_jvm_slowdown_through_extra_syscalls_is_ranked_on_its_method() {
    if !testkit::require_tool("jvm inference", "java") {
        return;
    }
    check(
        "jthreadsrv",
        "slow_fsync",
        "perfscope.fixture.JThreadSrv.storeAppend",
    );
}
