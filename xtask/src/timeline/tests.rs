//! The timeline with stand-ins: a python server on PORT, shell traffic scripts and a fake
//! `perfscope` (a bash script) that records what it was asked and prints a canned report.

use super::*;
use crate::case::Case;
use std::path::Path;

/// A fake perfscope: `watch` records its arguments and pid and creates the socket path;
/// `alarm` checks the socket, then prints `report` and exits with `alarm_exit`.
pub fn fake_perfscope(dir: &Path, report: &str, alarm_exit: i32) -> PathBuf {
    let state = dir.join("fake-state");
    std::fs::create_dir_all(&state).unwrap();
    std::fs::write(state.join("report.jsonl"), report).unwrap();
    let path = dir.join("perfscope");
    let script = format!(
        r#"#!/bin/bash
state={state}
cmd=$1; shift
all=("$@")
sock=
while [ $# -gt 0 ]; do
  case $1 in --socket) sock=$2; shift;; esac
  shift
done
case $cmd in
  watch)
    echo "$$" > "$state/watch.pid"
    printf '%s\n' "${{all[@]}}" > "$state/watch.args"
    trap 'echo stopped > "$state/watch.stopped"; exit 0' TERM
    touch "$sock"
    while :; do sleep 0.05; done ;;
  alarm)
    [ -e "$sock" ] || {{ echo "no socket $sock" >&2; exit 2; }}
    cat "$state/report.jsonl"
    exit {alarm_exit} ;;
esac
exit 2
"#,
        state = state.display()
    );
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    path
}

/// A python server listening on $PORT; `ignore_term` makes it a hung server.
pub fn server_script(ignore_term: bool, setsid_helper: bool) -> String {
    let mut s = String::from("#!/bin/bash\necho $$ > \"$WORK/start.pid\"\n");
    if setsid_helper {
        // a helper that leaves the process group: the stop must still find it
        s.push_str("setsid sleep 1000 & echo $! > \"$WORK/helper.pid\"\n");
    }
    let term = if ignore_term {
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    } else {
        ""
    };
    s.push_str(&format!(
        "exec python3 -c '\nimport os, signal, socket\n{term}s = socket.socket()\ns.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\ns.bind((\"127.0.0.1\", int(os.environ[\"PORT\"])))\ns.listen(16)\nwhile True:\n    c, _ = s.accept()\n    c.close()\n'\n"
    ));
    s
}

pub const NORMAL: &str = "#!/bin/bash\necho $$ > \"$WORK/normal.pid\"\necho \"TARGET_SRC=$TARGET_SRC CASE_DIR=$CASE_DIR PWD=$PWD\" > \"$WORK/env.txt\"\nwhile :; do sleep 0.05; done\n";
pub const TRIGGER: &str = "#!/bin/bash\necho $$ > \"$WORK/trigger.pid\"\nsleep 1000 &\necho $! > \"$WORK/trigger-child.pid\"\nwait\n";

/// A case folder with the given start script.
pub fn fake_case(dir: &Path, id: &str, start: &str, culprits: &[&str]) -> PathBuf {
    let c = dir.join(id);
    std::fs::create_dir_all(&c).unwrap();
    let culprits: Vec<String> = culprits.iter().map(|s| format!("{s:?}")).collect();
    std::fs::write(
        c.join("case.toml"),
        format!(
            "id = \"{id}\"\ntarget = \"fake\"\nkind = \"hang\"\nsummary = \"s\"\norigin = \"test\"\nculprits = [{}]\n[workload]\nstart = \"start.sh\"\nnormal = \"normal.sh\"\ntrigger = \"trigger.sh\"\nnormal_seconds = 0.6\nafter_trigger_seconds = 0.6\n",
            culprits.join(", ")
        ),
    )
    .unwrap();
    std::fs::write(c.join("start.sh"), start).unwrap();
    std::fs::write(c.join("normal.sh"), NORMAL).unwrap();
    std::fs::write(c.join("trigger.sh"), TRIGGER).unwrap();
    c
}

pub fn fast_limits() -> Limits {
    Limits {
        ready: Duration::from_secs(5),
        stop_grace: Duration::from_millis(800),
        script_grace: Duration::from_millis(500),
        alarm: Duration::from_secs(10),
        analyze: "30s".to_string(),
    }
}

pub fn report(functions: &[&str]) -> String {
    let mut s = serde_json::json!({
        "type": "report", "version": 1, "verdict": if functions.is_empty() { "normal" } else { "findings" },
        "database": {"target": "fake", "version": "1", "functions": 200, "with_signatures": 50},
        "listed": functions.len(), "scope": functions.len() as f64 / 200.0,
        "stats": {"syscalls": 4321, "lost": 2, "analysis_ms": 250.0}
    })
    .to_string();
    s.push('\n');
    for (i, f) in functions.iter().enumerate() {
        s.push_str(&serde_json::json!({"type": "function", "rank": i + 1, "name": f}).to_string());
        s.push('\n');
    }
    s
}

fn read_pid(path: &Path) -> i32 {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .trim()
        .parse()
        .unwrap()
}

fn gone(pid: i32) -> bool {
    !host::procfs::proc_info(pid as u32).is_some_and(|p| p.is_alive())
}

fn python_ok() -> bool {
    Command::new("python3")
        .arg("-c")
        .arg("pass")
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn a_full_run_with_stand_ins_leaves_nothing_behind() {
    if !testkit::require(
        "a_full_run_with_stand_ins_leaves_nothing_behind",
        python_ok(),
        "needs python3 for the stand-in server",
    ) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let perfscope = fake_perfscope(tmp.path(), &report(&["a", "b.constprop.0", "c"]), 1);
    let case_dir = fake_case(tmp.path(), "T-1", &server_script(true, true), &["b"]);
    let case = Case::load(&case_dir).unwrap();
    let run_dir = tmp.path().join("run");
    let src = tmp.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    let limits = fast_limits();
    let port = free_port().unwrap();
    let mut phases = Vec::new();
    let t = Instant::now();
    let out = run(
        &Run {
            case: &case,
            target_src: &src,
            sigdb: Path::new("/db/fake.sigdb"),
            perfscope: &perfscope,
            dir: &run_dir,
            port,
            limits: &limits,
        },
        &mut |s| {
            let p = s.split(' ').next().unwrap_or("").to_string();
            if phases.last() != Some(&p) {
                phases.push(p);
            }
        },
    )
    .unwrap();
    let elapsed = t.elapsed();
    let parsed = crate::score::parse_report(&out.report).unwrap();
    assert_eq!(
        crate::score::first_culprit(&parsed.ranking, &["b".into()])
            .unwrap()
            .0,
        2
    );
    assert!(out.server_killed, "the server ignores SIGTERM");
    assert_eq!(out.server_exited, None);
    assert!(out.ready_after < Duration::from_secs(5));
    assert!(
        elapsed >= Duration::from_millis(1200 + 800),
        "normal + after-trigger + the grace before SIGKILL: {elapsed:?}"
    );
    assert_eq!(
        phases,
        ["starting", "normal", "after", "alarm:", "stopping"]
    );

    // the monitor was seeded with start.sh's pid and got the socket and the window
    let work = run_dir.join("work");
    let state = tmp.path().join("fake-state");
    let args = std::fs::read_to_string(state.join("watch.args")).unwrap();
    let start_pid = read_pid(&work.join("start.pid"));
    let args: Vec<&str> = args.lines().collect();
    assert_eq!(
        args[..4],
        ["--db", "/db/fake.sigdb", "--pid", &start_pid.to_string()]
    );
    assert!(args.contains(&"--analyze") && args.contains(&"30s"));
    assert!(args.contains(&"--expect-target") && args.contains(&"fake"));
    assert!(
        state.join("watch.stopped").exists(),
        "the watcher got SIGTERM"
    );

    // the scripts saw the contract's environment, from the scratch folder
    let env = std::fs::read_to_string(work.join("env.txt")).unwrap();
    assert_eq!(
        env.trim(),
        format!(
            "TARGET_SRC={} CASE_DIR={} PWD={}",
            src.display(),
            case_dir.display(),
            run_dir.join("cwd").display()
        )
    );

    // nothing is left running: server, its setsid helper, traffic, trigger's child, watcher
    for f in [
        "start.pid",
        "helper.pid",
        "normal.pid",
        "trigger.pid",
        "trigger-child.pid",
    ] {
        let pid = read_pid(&work.join(f));
        assert!(gone(pid), "{f}: pid {pid} is still running");
    }
    assert!(gone(read_pid(&state.join("watch.pid"))));
    assert!(!port_open(port), "the port is closed");
    let timeline = std::fs::read_to_string(run_dir.join("logs/timeline.log")).unwrap();
    assert!(timeline.contains("SIGTERM ignored, SIGKILL"), "{timeline}");
    assert!(run_dir.join("logs/alarm.jsonl").is_file());
}

#[test]
fn a_server_that_never_listens_is_an_error_and_is_stopped() {
    let tmp = tempfile::tempdir().unwrap();
    let perfscope = fake_perfscope(tmp.path(), &report(&[]), 0);
    let start = "#!/bin/bash\necho $$ > \"$WORK/start.pid\"\nexec sleep 1000\n";
    let case = Case::load(&fake_case(tmp.path(), "T-2", start, &["x"])).unwrap();
    let run_dir = tmp.path().join("run");
    let limits = Limits {
        ready: Duration::from_millis(700),
        ..fast_limits()
    };
    let err = run(
        &Run {
            case: &case,
            target_src: tmp.path(),
            sigdb: Path::new("/db"),
            perfscope: &perfscope,
            dir: &run_dir,
            port: free_port().unwrap(),
            limits: &limits,
        },
        &mut |_| {},
    )
    .unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("never accepted connections"), "{msg}");
    assert!(
        !msg.contains("never created"),
        "the fake monitor made its socket: {msg}"
    );
    assert!(gone(read_pid(&run_dir.join("work/start.pid"))));
    assert!(gone(read_pid(&tmp.path().join("fake-state/watch.pid"))));
}

#[test]
fn a_start_script_that_fails_is_reported_with_its_log() {
    let tmp = tempfile::tempdir().unwrap();
    let perfscope = fake_perfscope(tmp.path(), &report(&[]), 0);
    let start = "#!/bin/bash\necho 'cannot open config' >&2\nexit 3\n";
    let case = Case::load(&fake_case(tmp.path(), "T-3", start, &["x"])).unwrap();
    let err = run(
        &Run {
            case: &case,
            target_src: tmp.path(),
            sigdb: Path::new("/db"),
            perfscope: &perfscope,
            dir: &tmp.path().join("run"),
            port: free_port().unwrap(),
            limits: &fast_limits(),
        },
        &mut |_| {},
    )
    .unwrap_err();
    let msg = format!("{err:#}");
    assert!(
        msg.contains("start.sh exited before the server was ready"),
        "{msg}"
    );
    assert!(msg.contains("cannot open config"), "{msg}");
}

#[test]
fn ports_avoid_the_suites_ranges() {
    assert!(reserved_port(8529) && reserved_port(8563) && reserved_port(21079));
    assert!(reserved_port(35000));
    assert!(!reserved_port(8528) && !reserved_port(40000) && !reserved_port(20000));
    for _ in 0..20 {
        assert!(!reserved_port(free_port().unwrap()));
    }
}
