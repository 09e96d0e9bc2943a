//! Tracers killed with SIGKILL at random moments (needs root): 20 runners and 20
//! watchers, each killed while its command runs. After each kill: no perfscope BPF
//! program, link or map is left in the kernel (counted with `capture::census`), no process
//! of the traced command is left running (one of them left the process group, as daemons
//! do), the runner's partial trace is readable and says it is damaged, and the watcher's
//! socket is gone.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use capture::census::Census;
use tests::{Scratch, bins, can_trace};

const ROUNDS: u64 = 20;

/// The fixture's processes still alive (their executable is `exe`).
fn alive_running(exe: &Path) -> Vec<u32> {
    host::procfs::scan()
        .into_iter()
        .filter(|p| p.is_alive())
        .filter(|p| std::fs::read_link(format!("/proc/{}/exe", p.pid)).is_ok_and(|e| e == exe))
        .map(|p| p.pid)
        .collect()
}

/// Waits until `f` holds (up to 10 s); false if it never did.
fn eventually(mut f: impl FnMut() -> bool) -> bool {
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(10) {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    f()
}

/// A deterministic delay of 300-1500 ms for round `n`.
fn moment(n: u64) -> Duration {
    let mut x = n.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5555;
    x ^= x >> 29;
    Duration::from_millis(300 + x % 1200)
}

/// The command both tracers run: two storms, one of them in a session of its own.
fn storm_command(storm: &Path) -> Vec<String> {
    let s = storm.display();
    vec![
        "sh".into(),
        "-c".into(),
        format!("{s} 1000000000 probed & setsid {s} 1000000000 & wait"),
    ]
}

/// How many rounds had the tracer's BPF objects and the command's processes alive at
/// the moment of the kill: the checks after it mean something only if they were there.
#[derive(Default)]
struct Seen {
    with_bpf: u64,
    with_processes: u64,
}

impl Seen {
    fn record(&mut self, before: &Census, storm: &Path) {
        self.with_bpf += u64::from(!Census::now().since(before).is_empty());
        self.with_processes += u64::from(alive_running(storm).len() >= 2);
    }

    fn check(&self) {
        assert!(
            self.with_bpf * 2 >= ROUNDS && self.with_processes * 2 >= ROUNDS,
            "too few rounds were killed mid-run: {} of {ROUNDS} with BPF objects loaded, {} \
             with the command's processes running",
            self.with_bpf,
            self.with_processes
        );
        eprintln!(
            "{ROUNDS} kills: {} with BPF objects loaded, {} with both storms running, none \
             left anything",
            self.with_bpf, self.with_processes
        );
    }
}

fn kill9(mut c: Child) {
    host::signals::kill(c.id() as i32, host::signals::SIGKILL);
    let _ = c.wait();
}

/// What a round left behind: kernel objects, processes; empty when clean.
fn leftovers(before: &Census, storm: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut census = Census::default();
    if !eventually(|| {
        census = Census::now().since(before);
        census.is_empty()
    }) {
        out.push(format!("BPF objects left: {}", census.describe()));
    }
    let mut left = Vec::new();
    if !eventually(|| {
        left = alive_running(storm);
        left.is_empty()
    }) {
        out.push(format!("traced processes left running: {left:?}"));
        for p in left {
            host::signals::kill(p as i32, host::signals::SIGKILL);
        }
    }
    out
}

#[test]
fn a_runner_killed_at_any_moment_leaves_nothing_behind() {
    if !can_trace("a_runner_killed_at_any_moment_leaves_nothing_behind") {
        return;
    }
    let dir = Scratch::new();
    let storm = dir.join("storm");
    tests::gcc(&tests::attribution_source("storm"), &storm, &[]);
    let mut failures = Vec::new();
    let mut seen = Seen::default();
    for n in 0..ROUNDS {
        let before = Census::now();
        let trace = dir.join(format!("run{n}.trace"));
        let runner = Command::new(&bins().runner)
            .args(["--bin"])
            .arg(&storm)
            .args(["--as-root", "--no-progress", "-o"])
            .arg(&trace)
            .arg("--")
            .args(storm_command(&storm))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting the runner");
        std::thread::sleep(moment(n));
        seen.record(&before, &storm);
        kill9(runner);
        let mut left = leftovers(&before, &storm);
        // the partial trace reads, and says it is not whole
        match trace::TraceReader::open(&trace) {
            Ok(mut r) => {
                while let Ok(Some(_)) = r.next_event() {}
                if r.damage().is_none() {
                    left.push("the partial trace does not say it is damaged".into());
                }
            }
            Err(trace::TraceError::MissingHeader) => {} // killed before the header was out
            Err(e) => left.push(format!("the partial trace does not read: {e}")),
        }
        if !left.is_empty() {
            failures.push(format!("round {n} ({:?}): {}", moment(n), left.join("; ")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    seen.check();
}

#[test]
fn a_watcher_killed_at_any_moment_leaves_nothing_behind() {
    if !can_trace("a_watcher_killed_at_any_moment_leaves_nothing_behind") {
        return;
    }
    let dir = Scratch::new();
    let storm = dir.join("storm");
    tests::gcc(&tests::attribution_source("storm"), &storm, &[]);
    let db = dir.join("threadsrv.sigdb");
    tests::train(
        &tests::workspace().join("fixtures/traces/threadsrv.trace"),
        &db,
    );
    let mut failures = Vec::new();
    let mut seen = Seen::default();
    for n in 0..ROUNDS {
        let before = Census::now();
        let socket = dir.join(format!("w{n}.sock"));
        let watcher = Command::new(&bins().perfscope)
            .args(["watch", "--db"])
            .arg(&db)
            .arg("--socket")
            .arg(&socket)
            .args(["--as-root", "--"])
            .args(storm_command(&storm))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting the watcher");
        std::thread::sleep(moment(n));
        seen.record(&before, &storm);
        kill9(watcher);
        let mut left = leftovers(&before, &storm);
        if !eventually(|| !socket.exists()) {
            left.push(format!("socket {} left", socket.display()));
        }
        if !left.is_empty() {
            failures.push(format!("round {n} ({:?}): {}", moment(n), left.join("; ")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    seen.check();
}
