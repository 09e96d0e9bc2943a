//! Tests of process handling: sessions, stops, interrupts.

use super::*;

fn bash(script: &str) -> Command {
    let mut c = Command::new("bash");
    c.arg("-c").arg(script);
    c
}

fn wait_for_file(path: &Path) -> String {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        if let Ok(s) = std::fs::read_to_string(path)
            && s.ends_with('\n')
        {
            return s;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("{} never appeared", path.display());
}

fn alive(pid: i32) -> bool {
    host::procfs::proc_info(pid as u32).is_some_and(|p| p.is_alive())
}

#[test]
fn a_stop_reaches_processes_that_left_the_group() {
    let tmp = tempfile::tempdir().unwrap();
    let pidfile = tmp.path().join("pids");
    // the grandchild starts its own session, so a group kill alone misses it
    let script = format!(
        "setsid sleep 1000 & echo $! > {p}.tmp; sleep 1000 & echo $! >> {p}.tmp; mv {p}.tmp {p}; wait",
        p = pidfile.display()
    );
    let mut cmd = bash(&script);
    cmd.stdout(Stdio::null());
    let mut job = Job::spawn("tree", &mut cmd, Duration::from_secs(2)).unwrap();
    let pids: Vec<i32> = wait_for_file(&pidfile)
        .lines()
        .map(|l| l.trim().parse().unwrap())
        .collect();
    assert_eq!(pids.len(), 2);
    job.poll().unwrap();
    assert!(pids.iter().all(|&p| alive(p)));
    let stopped = job.stop();
    assert!(stopped.was_running);
    assert!(!stopped.killed, "sleep and bash die on SIGTERM");
    for p in pids {
        assert!(!alive(p), "pid {p} survived the stop");
    }
    assert!(job.status().is_some(), "the child was reaped");
    assert_eq!(job.stop(), stopped, "a second stop does nothing");
}

#[test]
fn sigterm_ignored_means_sigkill_after_the_grace() {
    let tmp = tempfile::tempdir().unwrap();
    let ready = tmp.path().join("ready");
    let script = format!(
        "trap '' TERM; echo ready > {}; while :; do sleep 0.05; done",
        ready.display()
    );
    let mut job = Job::spawn("stubborn", &mut bash(&script), Duration::from_millis(500)).unwrap();
    wait_for_file(&ready);
    let t = Instant::now();
    let stopped = job.stop();
    assert!(stopped.killed);
    assert!(t.elapsed() >= Duration::from_millis(500));
    assert!(!alive(job.pid()));
}

#[test]
fn logged_runs_time_out_and_keep_their_output() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("step.log");
    let mut ticks = 0;
    let end = run_logged(
        "sleepy",
        &mut bash("echo started; sleep 30"),
        &log,
        Some(Duration::from_millis(300)),
        &mut || ticks += 1,
    )
    .unwrap();
    assert_eq!(end, End::TimedOut);
    assert!(ticks >= 1);
    let end = run_logged(
        "fails",
        &mut bash("echo oops >&2; exit 3"),
        &log,
        None,
        &mut || {},
    )
    .unwrap();
    assert_eq!(end.describe(), "exit status 3");
    assert!(!end.success());
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("==> sleepy: bash -c 'echo started; sleep 30'"),
        "{text}"
    );
    assert!(text.contains("started\n"));
    assert!(text.contains("==> sleepy: timed out"));
    assert!(text.contains("oops\n==> fails: exit status 3"), "{text}");
    assert_eq!(log_tail(&log, 2), "oops\n==> fails: exit status 3");
    assert_eq!(log_tail(&tmp.path().join("none"), 2), "");
}

#[test]
fn users_resolve() {
    assert_eq!(lookup_user("root").unwrap(), Some((0, 0)));
    assert_eq!(lookup_user("no-such-user-xtask").unwrap(), None);
    let prefix = setpriv_prefix("root").unwrap();
    assert_eq!(prefix[1], "--reuid=0");
    assert!(setpriv_prefix("no-such-user-xtask").is_err());
}
