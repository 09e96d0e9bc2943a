//! Capture overhead benchmark (needs root):
//! `cargo run --release -p capture --example overhead [-- ITERATIONS [syscalls|attach]]`.
//!
//! 1. Cost per getppid() syscall of fixtures/attribution/storm.c: untraced, traced with
//!    programs that return at once (the kernel's own cost of syscall tracing: the floor
//!    under any tracer built on the syscall tracepoints), traced syscall-only, traced in
//!    Full mode (frames), and traced in Full mode through a uprobe'd function (one entry
//!    probe hit + one syscall per iteration). The ring buffer is drained every 20 ms
//!    meanwhile, as in real use. Median of 5 runs.
//! 2. Attach and detach time of one uprobe_multi link with 1,000 and 20,000 probes, on a
//!    generated C program of 20,000 tiny functions.
//!
//! `overhead hold PID` attaches the syscall programs to process PID in attach-only mode
//! until killed (the floor in `perfscope/benches/online_overhead.sh`); `overhead hold PID
//! record` records its syscalls (syscalls only) and drains them every 20 ms into a sink
//! that only counts them: the capture's cost without perfscope's processing.

use std::path::{Path, PathBuf};
use std::process::Command as Process;
use std::time::{Duration, Instant};

use capture::{Config, Filter, ObjectProbes, Probe, Session};
use host::Command;

const RUNS: usize = 5;

fn main() {
    if !capture::preflight::privileged() {
        eprintln!("overhead: needs root (or CAP_BPF and CAP_PERFMON)");
        std::process::exit(2);
    }
    let iterations: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2_000_000);
    if std::env::args().nth(1).as_deref() == Some("hold") {
        hold(
            std::env::args().nth(2).and_then(|p| p.parse().ok()),
            std::env::args().nth(3).as_deref() == Some("record"),
        );
    }
    let dir = std::env::temp_dir().join(format!("perfscope-overhead-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temporary directory");
    let only = std::env::args().nth(2);
    let result = std::panic::catch_unwind(|| {
        if only.as_deref() != Some("attach") {
            syscall_costs(&dir, iterations);
        }
        if only.as_deref() != Some("syscalls") {
            attach_costs(&dir);
        }
    });
    let _ = std::fs::remove_dir_all(&dir);
    if result.is_err() {
        std::process::exit(1);
    }
}

/// Attach-only tracing (or, with `record`, recording drained into a counter) of one
/// process until it exits or this process is killed.
fn hold(pid: Option<u32>, record: bool) -> ! {
    let Some(pid) = pid else {
        eprintln!("usage: overhead hold PID [record]");
        std::process::exit(2);
    };
    let config = Config {
        attach_only: !record,
        ..Config::syscalls_only(Filter::Pids(vec![pid]))
    };
    let mut session = Session::start(config).unwrap_or_else(|e| {
        eprintln!("overhead: {e}");
        std::process::exit(1)
    });
    println!("attached");
    let mut events = 0u64;
    let mut sink = |_e: trace::Event| events += 1;
    let result = session.run_until(&mut sink, || !Path::new(&format!("/proc/{pid}")).exists());
    if let Err(e) = result {
        eprintln!("overhead: {e}");
        std::process::exit(1)
    }
    std::process::exit(0)
}

/// Function name → file offset, from `nm` and `readelf -lW` (no symbols crate here).
fn offsets(exe: &Path) -> Vec<(String, u64)> {
    let run = |cmd: &str, args: &[&str]| {
        let out = Process::new(cmd).args(args).arg(exe).output().expect(cmd);
        String::from_utf8(out.stdout).expect("text")
    };
    let segs: Vec<(u64, u64, u64)> = run("readelf", &["-lW"])
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let hex = |s: &str| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok();
            (f.first() == Some(&"LOAD") && f.len() >= 6)
                .then(|| Some((hex(f[1])?, hex(f[2])?, hex(f[5])?)))
                .flatten()
        })
        .collect();
    run("nm", &["--defined-only"])
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() != 3 || !matches!(f[1], "T" | "t") {
                return None;
            }
            let vaddr = u64::from_str_radix(f[0], 16).ok()?;
            let (off, v, _) = segs.iter().find(|(_, v, m)| (*v..v + m).contains(&vaddr))?;
            Some((f[2].to_string(), vaddr - v + off))
        })
        .collect()
}

fn probes_of(exe: &Path, names: impl Fn(&str) -> bool) -> ObjectProbes {
    ObjectProbes {
        path: exe.to_owned(),
        probes: offsets(exe)
            .into_iter()
            .filter(|(n, _)| names(n))
            .enumerate()
            .map(|(i, (_, file_offset))| Probe {
                file_offset,
                func: i as u32,
            })
            .collect(),
    }
}

enum Mode {
    Untraced,
    AttachOnly,
    SyscallsOnly,
    Full,
}

/// One run of storm; returns its own ns per iteration and the events captured.
fn storm(exe: &Path, n: u64, probed: bool, mode: &Mode) -> (f64, u64) {
    let out = dir_of(exe).join("storm.out");
    let paused = Command::new(exe)
        .arg(n.to_string())
        .arg(if probed { "probed" } else { "direct" })
        .stdout(std::fs::File::create(&out).expect("storm.out"))
        .spawn_paused()
        .expect("spawn");
    let config = match mode {
        Mode::Untraced => None,
        Mode::AttachOnly => Some(Config {
            attach_only: true,
            ..Config::syscalls_only(Filter::Tree { root: paused.pid() })
        }),
        Mode::SyscallsOnly => Some(Config::syscalls_only(Filter::Tree { root: paused.pid() })),
        Mode::Full => Some(Config::full(
            Filter::Tree { root: paused.pid() },
            vec![probes_of(exe, |_| true)],
        )),
    };
    let mut session = config.map(|c| Session::start(c).expect("session"));
    let mut child = paused.release().expect("release");
    let mut events = 0u64;
    let mut sink = |_e: trace::Event| events += 1;
    if let Some(s) = session.as_mut() {
        s.run_until(&mut sink, || matches!(child.try_wait(), Ok(Some(_))))
            .expect("drain");
    }
    assert!(child.wait().expect("wait").success());
    if let Some(s) = session {
        let stats = s.finish(&mut sink).expect("finish");
        assert_eq!(stats.lost, 0, "events lost: raise the ring buffer size");
    }
    let ns: f64 = std::fs::read_to_string(&out)
        .expect("storm output")
        .trim()
        .parse()
        .expect("ns per call");
    (ns, events)
}

fn dir_of(p: &Path) -> PathBuf {
    p.parent()
        .map_or_else(|| PathBuf::from("."), Path::to_owned)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn syscall_costs(dir: &Path, n: u64) {
    let src = Path::new(env!("CARGO_WORKSPACE_DIR")).join("fixtures/attribution/storm.c");
    let exe = dir.join("storm");
    testkit::gcc(&src, &exe, testkit::Flags::Fixture, &[]);
    println!("getppid() cost, {n} iterations, median of {RUNS} runs (ns per iteration):");
    let cases: [(&str, bool, Mode); 6] = [
        ("untraced", false, Mode::Untraced),
        ("untraced, through probed_getppid()", true, Mode::Untraced),
        (
            "traced, attach only (the kernel's floor)",
            false,
            Mode::AttachOnly,
        ),
        ("traced, syscalls only", false, Mode::SyscallsOnly),
        ("traced, full (frames), no probe hit", false, Mode::Full),
        ("traced, full, uprobe hit + syscall", true, Mode::Full),
    ];
    // Interleaved rounds, so that drift of a noisy VM hits every case alike.
    let mut ns = vec![Vec::new(); cases.len()];
    let mut events = vec![0; cases.len()];
    for _ in 0..RUNS {
        for (i, (_, probed, mode)) in cases.iter().enumerate() {
            let (t, e) = storm(&exe, n, *probed, mode);
            ns[i].push(t);
            events[i] = e;
        }
    }
    let base = median(ns[0].clone());
    for (i, (label, _, _)) in cases.iter().enumerate() {
        let m = median(ns[i].clone());
        println!(
            "  {label:<40} {m:>8.1}   (+{:>6.1})   events/run {}",
            m - base,
            events[i]
        );
    }
}

fn attach_costs(dir: &Path) {
    const FUNCS: usize = 20_000;
    let src = dir.join("many.c");
    let mut c = String::with_capacity(FUNCS * 64);
    for i in 0..FUNCS {
        c.push_str(&format!(
            "__attribute__((noipa)) int f{i}(int x) {{ return x * {i} + 1; }}\n"
        ));
    }
    c.push_str("int main(void) { return f0(1) == 1 ? 0 : 1; }\n");
    std::fs::write(&src, c).expect("write many.c");
    let exe = dir.join("many");
    let t = Instant::now();
    testkit::gcc(&src, &exe, testkit::Flags::Bench, &[]);
    println!(
        "\nattach/detach of one uprobe_multi link (generated {FUNCS}-function program, built in {:.1} s):",
        t.elapsed().as_secs_f64()
    );
    for count in [0usize, 1_000, FUNCS] {
        let mut attach = Vec::new();
        let mut detach = Vec::new();
        for _ in 0..RUNS {
            let paused = Command::new("true").spawn_paused().expect("spawn");
            let mut probes = probes_of(&exe, |n| {
                n.starts_with('f') && n[1..].parse::<u32>().is_ok()
            });
            probes.probes.truncate(count);
            assert_eq!(probes.probes.len(), count);
            let mut config = Config::full(Filter::Tree { root: paused.pid() }, Vec::new());
            config.function_capacity = Some(FUNCS as u32);
            let mut session = Session::start(config).expect("session");
            if count > 0 {
                let info = session.attach(&probes).expect("attach");
                attach.push(info.took);
            }
            let t = Instant::now();
            drop(session);
            detach.push(t.elapsed());
            drop(paused);
        }
        let ms = |v: Vec<Duration>| {
            if v.is_empty() {
                return "-".to_string();
            }
            format!(
                "{:.1}",
                median(v.into_iter().map(|d| d.as_secs_f64() * 1e3).collect())
            )
        };
        println!(
            "  {count:>6} probes: attach {:>7} ms, session drop (detach all) {:>7} ms",
            ms(attach),
            ms(detach)
        );
    }
}
