//! The runner's behaviour at its edges: bad input, the command's exit status, crashes,
//! signals, privilege drop, ring-buffer overflow. Each case drives the real binary;
//! cases that load BPF need root and skip with a printed reason elsewhere.

use std::ffi::{OsStr, OsString};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tests::{
    RunnerRun, Scratch, TraceFile, attribution_source, bins, can_trace, exit_code, gcc, is_root,
    runner,
};

/// One program with DWARF to probe (storm.c: N getppid calls through probed_getppid()),
/// built into `dir` on first use.
fn storm(dir: &Scratch) -> PathBuf {
    let exe = dir.join("storm");
    if !exe.exists() {
        gcc(&attribution_source("storm"), &exe, &[]);
    }
    exe
}

/// Runs the runner probing storm (in `dir`) with `extra` options and the command `cmd`,
/// writing the trace to `dir/t.trace`.
fn run_storm(dir: &Scratch, extra: &[&str], cmd: &[&str], env: &[(&str, &str)]) -> RunnerRun {
    let trace = dir.join("t.trace");
    let mut args: Vec<OsString> = vec!["--bin".into(), storm(dir).into()];
    args.extend(extra.iter().map(OsString::from));
    args.extend(["-o".into(), trace.into(), "--".into()]);
    args.extend(cmd.iter().map(OsString::from));
    runner(args, env)
}

/// Expects the runner to fail with exit 2 and a message containing every `needle`.
fn check_error(run: &RunnerRun, needles: &[&str]) {
    assert_eq!(run.code, 2, "exit status; stderr:\n{}", run.stderr);
    for n in needles {
        assert!(
            run.stderr.contains(n),
            "the error should mention {n:?}:\n{}",
            run.stderr
        );
    }
}

/// Expects a finished trace whose footer says how the command ended.
fn check_trace(trace: &Path, code: Option<i32>, signal: Option<i32>) -> TraceFile {
    let t = TraceFile::read(trace);
    assert!(t.truncated.is_none(), "truncated: {:?}", t.truncated);
    let f = t.footer.as_ref().expect("a footer");
    assert_eq!((f.exit_code, f.exit_signal), (code, signal), "{f:?}");
    t
}

#[test]
fn not_root() {
    if !is_root() {
        // The plain run is the test then.
        let run = runner(["--syscalls-only", "-o", "/tmp/x", "--", "true"], &[]);
        check_error(&run, &["needs root"]);
        return;
    }
    if !testkit::require_tool("not_root", "setpriv") {
        return;
    }
    // A copy nobody can reach (the build may live under /root, mode 700).
    let scratch = Scratch::new();
    let runner_exe = scratch.join("runner");
    std::fs::copy(&bins().runner, &runner_exe).unwrap();
    // Drop to nobody with setpriv (util-linux).
    let out = Command::new("setpriv")
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"])
        .arg(&runner_exe)
        .args([
            "--syscalls-only",
            "-o",
            "/tmp/perfscope-never.trace",
            "--",
            "true",
        ])
        .output()
        .expect("running setpriv");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(exit_code(out.status), 2, "{stderr}");
    assert!(stderr.contains("needs root"), "{stderr}");
    assert!(stderr.contains("CAP_BPF"), "{stderr}");
    assert!(!Path::new("/tmp/perfscope-never.trace").exists());
}

#[test]
fn root_must_choose_who_runs_the_tests() {
    if !can_trace("root_must_choose_who_runs_the_tests") || !is_root() {
        return;
    }
    let dir = Scratch::new();
    let trace = dir.join("t.trace");
    let run = run_storm(&dir, &[], &["true"], &[]);
    check_error(&run, &["--user NAME", "--as-root"]);
    assert!(!trace.exists(), "no trace without a run");
}

#[test]
fn bad_bins() {
    if !can_trace("bad_bins") {
        return;
    }
    let dir = Scratch::new();
    let trace = dir.join("t.trace");
    // Stripped: no symbol table, no DWARF.
    let stripped = dir.join("stripped");
    std::fs::copy(storm(&dir), &stripped).unwrap();
    let st = Command::new("strip").arg(&stripped).status().unwrap();
    assert!(st.success());
    // Not an ELF file at all.
    let text = dir.join("notes.txt");
    std::fs::write(&text, "not a program\n").unwrap();
    let cases: [(&Path, &[&str]); 3] = [
        (&stripped, &["stripped", "-g"]),
        (&text, &["not an ELF file"]),
        (Path::new("/nonexistent/server"), &["/nonexistent/server"]),
    ];
    for (bin, needles) in cases {
        let args = [
            OsStr::new("--bin"),
            bin.as_os_str(),
            OsStr::new("--as-root"),
            OsStr::new("-o"),
            trace.as_os_str(),
            OsStr::new("--"),
            OsStr::new("true"),
        ];
        check_error(&runner(args, &[]), needles);
        assert!(!trace.exists());
    }
    // No --bin and no --syscalls-only.
    let run = runner(["--as-root", "-o", "/tmp/x.trace", "--", "true"], &[]);
    check_error(&run, &["--bin", "--syscalls-only"]);
}

#[test]
fn command_not_found() {
    if !can_trace("command_not_found") {
        return;
    }
    let dir = Scratch::new();
    let trace = dir.join("t.trace");
    let run = run_storm(&dir, &["--as-root"], &["no-such-command-perfscope"], &[]);
    check_error(&run, &["command not found", "no-such-command-perfscope"]);
    assert!(!trace.exists(), "no trace for a command that never ran");
}

#[test]
fn exit_status_passes_through() {
    if !can_trace("exit_status_passes_through") {
        return;
    }
    let dir = Scratch::new();
    let trace = dir.join("t.trace");
    let run = run_storm(&dir, &["--as-root"], &["sh", "-c", "exit 3"], &[]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    check_trace(&trace, Some(3), None);
    assert_eq!(run.summary.unwrap()["command_exit_code"], 3);
}

#[test]
fn a_crash_still_gives_a_valid_trace() {
    if !can_trace("a_crash_still_gives_a_valid_trace") {
        return;
    }
    let dir = Scratch::new();
    let trace = dir.join("t.trace");
    // storm runs (probe hits, syscalls), then the shell kills itself with SIGSEGV.
    let storm = storm(&dir).to_str().unwrap().to_string();
    let script = format!("{storm} 1000 probed >/dev/null; kill -SEGV $$");
    let run = run_storm(&dir, &["--as-root"], &["sh", "-c", &script], &[]);
    assert_eq!(run.code, 128 + host::signals::SIGSEGV, "{}", run.stderr);
    let t = check_trace(&trace, None, Some(host::signals::SIGSEGV));
    assert!(t.syscalls() >= 1000, "{} syscalls", t.syscalls());
    let summary = run.summary.unwrap();
    assert_eq!(summary["command_signal"], host::signals::SIGSEGV);
    assert!(
        summary["invocations"].as_u64().unwrap() >= 1000,
        "probed_getppid's calls: {summary}"
    );
}

#[test]
fn signals_to_the_runner_are_forwarded_and_the_trace_finished() {
    if !can_trace("signals_to_the_runner_are_forwarded_and_the_trace_finished") {
        return;
    }
    let dir = Scratch::new();
    let trace = dir.join("t.trace");
    let child = Command::new(&bins().runner)
        .args(["--no-progress", "--syscalls-only", "--as-root", "-o"])
        .arg(&trace)
        .args(["--", "sleep", "60"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The header is written before the command is released.
    let t0 = Instant::now();
    while std::fs::metadata(&trace).map_or(0, |m| m.len()) == 0 {
        assert!(t0.elapsed() < Duration::from_secs(20), "no trace header");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    host::signals::kill(child.id() as i32, host::signals::SIGTERM);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        t0.elapsed() < Duration::from_secs(30),
        "sleep 60 was not stopped"
    );
    assert_eq!(
        exit_code(out.status),
        128 + host::signals::SIGTERM,
        "{stderr}"
    );
    assert!(stderr.contains("SIGTERM"), "{stderr}");
    let t = check_trace(&trace, None, Some(host::signals::SIGTERM));
    let notes = &t.footer.unwrap().notes;
    assert!(notes.iter().any(|n| n.contains("SIGTERM")), "{notes:?}");
}

#[test]
fn the_command_runs_as_the_user_asked() {
    if !can_trace("the_command_runs_as_the_user_asked") || !is_root() {
        return;
    }
    let dir = Scratch::new();
    let cwd = std::env::current_dir().unwrap();
    let script = "echo $(id -u) $(id -g) $HOME $USER $(pwd) $PERFSCOPE_E2E_MARK";
    let env = [("PERFSCOPE_E2E_MARK", "kept")];
    for (opts, sudo, uid) in [
        (&["--user", "nobody"][..], None, "65534"),
        (&[][..], Some("nobody"), "65534"),
        (&["--as-root"][..], None, "0"),
    ] {
        let trace = dir.join("t.trace");
        let mut env = env.to_vec();
        if let Some(s) = sudo {
            env.push(("SUDO_USER", s));
        }
        let run = run_storm(&dir, opts, &["sh", "-c", script], &env);
        assert_eq!(run.code, 0, "{opts:?} {sudo:?}: {}", run.stderr);
        let f: Vec<&str> = run.stdout.split_whitespace().collect();
        assert_eq!(f[0], uid, "{opts:?} {sudo:?}: {}", run.stdout);
        if uid != "0" {
            assert_eq!(
                &f[1..4],
                ["65534", "/nonexistent", "nobody"],
                "{}",
                run.stdout
            );
        }
        assert_eq!(Path::new(f[f.len() - 2]), cwd, "working directory kept");
        assert_eq!(f[f.len() - 1], "kept", "environment kept");
        if sudo.is_some() {
            assert!(run.stderr.contains("SUDO_USER"), "{}", run.stderr);
        }
        // Written by the runner, readable by everyone; under sudo, the user's.
        let meta = std::fs::metadata(&trace).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o644);
        assert_eq!(meta.uid(), if sudo.is_some() { 65534 } else { 0 });
        check_trace(&trace, Some(0), None);
        std::fs::remove_file(&trace).unwrap();
    }
}

#[test]
fn ring_buffer_overflow_is_counted_and_reported() {
    if !can_trace("ring_buffer_overflow_is_counted_and_reported") {
        return;
    }
    let dir = Scratch::new();
    let trace = dir.join("t.trace");
    // One page of ring buffer against 300,000 syscalls drained every 20 ms.
    let storm = storm(&dir).to_str().unwrap().to_string();
    let run = run_storm(
        &dir,
        &["--as-root", "--ring-size", "4K"],
        &[&storm, "300000", "probed"],
        &[],
    );
    assert_eq!(run.code, 0, "the command's status: {}", run.stderr);
    let summary = run.summary.unwrap();
    let lost = summary["lost"].as_u64().unwrap();
    assert!(lost > 0, "{summary}");
    let notes = summary["notes"].to_string();
    assert!(
        notes.contains("lost") && notes.contains("--ring-size"),
        "{notes}"
    );
    let t = check_trace(&trace, Some(0), None);
    let footer = t.footer.as_ref().unwrap();
    assert_eq!(footer.lost, lost);
    let in_events: u64 = t
        .events
        .iter()
        .map(|e| match e {
            trace::Event::Lost { count, .. } => *count,
            _ => 0,
        })
        .sum();
    assert_eq!(in_events, lost, "every loss is an event too");
    // What was lost plus what was kept covers the storm.
    assert!(t.syscalls() as u64 + lost >= 300_000);
}

#[test]
fn a_killed_runner_leaves_a_readable_prefix() {
    if !can_trace("a_killed_runner_leaves_a_readable_prefix") {
        return;
    }
    let dir = Scratch::new();
    let trace = dir.join("t.trace");
    let script = format!(
        "{} 2000 probed >/dev/null; exec sleep 60",
        storm(&dir).to_str().unwrap()
    );
    let mut child = Command::new(&bins().runner)
        .args(["--no-progress", "--as-root", "--bin"])
        .arg(storm(&dir))
        .arg("-o")
        .arg(&trace)
        .args(["--", "sh", "-c", &script])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The trace is flushed every second: after 2.5 s the storm's syscalls are on disk.
    std::thread::sleep(Duration::from_millis(2500));
    let command =
        std::fs::read_to_string(format!("/proc/{}/task/{}/children", child.id(), child.id()))
            .unwrap_or_default();
    child.kill().unwrap();
    child.wait().unwrap();
    // The command runs in its own process group, which a SIGKILLed runner cannot stop.
    for pid in command
        .split_whitespace()
        .filter_map(|p| p.parse::<i32>().ok())
    {
        host::signals::kill(-pid, host::signals::SIGKILL);
    }
    let t = TraceFile::read(&trace);
    assert!(t.footer.is_none(), "no footer after SIGKILL");
    assert!(t.truncated.is_some(), "the reader says the trace was cut");
    let probed = t.header.objects[0]
        .functions
        .iter()
        .find(|f| f.name == "probed_getppid")
        .expect("probed_getppid in the header")
        .id;
    let getppid = trace::syscall_number("getppid").unwrap();
    let n = t
        .events
        .iter()
        .filter(|e| {
            matches!(e, trace::Event::Syscall(s)
                if s.nr == getppid && s.frames().first().is_some_and(|f| f.func == probed))
        })
        .count();
    assert_eq!(
        n, 2000,
        "the storm's syscalls were flushed, with their frames"
    );
    assert!(
        t.events
            .iter()
            .any(|e| matches!(e, trace::Event::Invocations { .. })),
        "invocation counts are flushed with them"
    );
}
