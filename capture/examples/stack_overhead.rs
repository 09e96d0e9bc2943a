//! Stack-sampling cost benchmark (needs root):
//! `cargo run --release -p capture --example stack_overhead [-- ITERATIONS [syscalls|oncpu|programs]]`.
//!
//! 1. Cost per getppid() of fixtures/attribution/storm.c (ITERATIONS calls, default
//!    2,000,000): untraced; under a syscalls-only session; with a stack sampler loaded but
//!    no burst (must equal the previous line: nothing is attached between bursts); during
//!    a syscall-sampling burst at the default 2 ms per thread (almost every syscall takes
//!    the rate-limited path); and during a burst sampling every syscall (interval 0, no
//!    cap: the full cost of taking a stack, ring buffer overflow included). Median and
//!    minimum of 5 interleaved runs.
//! 2. On-CPU sampling: ns per iteration of fixtures/stacks/cpu_loop.c (a ~1 s CPU-bound
//!    loop) untraced and during bursts at 99 Hz and 999 Hz per CPU.
//! 3. With kernel.bpf_stats_enabled on for the duration (restored after): the run time of
//!    each sampler program per run, and the time of one blocked-thread pass and of a
//!    burst's start and finish.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use capture::{Config, Filter, Session, StackConfig, StackSampler};
use host::Command;

const RUNS: usize = 5;

fn main() {
    if !capture::preflight::privileged() {
        eprintln!("stack_overhead: needs root (or CAP_BPF and CAP_PERFMON)");
        std::process::exit(2);
    }
    let iterations: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2_000_000);
    let dir = std::env::temp_dir().join(format!("perfscope-stacks-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temporary directory");
    let only = std::env::args().nth(2);
    let part = |name: &str| only.as_deref().is_none_or(|o| o == name);
    let result = std::panic::catch_unwind(|| {
        if part("syscalls") {
            syscall_costs(&dir, iterations);
        }
        if part("oncpu") {
            on_cpu_costs(&dir);
        }
        if part("programs") {
            program_costs(&dir);
        }
    });
    let _ = std::fs::remove_dir_all(&dir);
    if result.is_err() {
        std::process::exit(1);
    }
}

fn gcc(name: &str, subdir: &str, dir: &Path) -> PathBuf {
    let src = testkit::workspace()
        .join("fixtures")
        .join(subdir)
        .join(format!("{name}.c"));
    let exe = dir.join(name);
    testkit::gcc(&src, &exe, testkit::Flags::Fixture, &[]);
    exe
}

#[derive(Clone, Copy)]
enum Case {
    Untraced,
    Session,
    SamplerIdle,
    Burst(Source),
}

#[derive(Clone, Copy)]
enum Source {
    /// Syscall sampling with this interval (0: every syscall, no cap).
    Syscalls(Duration),
    /// On-CPU sampling at this rate.
    OnCpu(u32),
}

fn config_for(kind: Source) -> StackConfig {
    match kind {
        Source::Syscalls(interval) => StackConfig {
            on_cpu_hz: 0,
            blocked: false,
            syscall_interval: interval,
            max_per_thread: if interval.is_zero() { u32::MAX } else { 256 },
            max_samples: u32::MAX,
            ..StackConfig::default()
        },
        Source::OnCpu(hz) => StackConfig {
            on_cpu_hz: hz,
            syscalls: false,
            blocked: false,
            max_per_thread: u32::MAX,
            max_samples: u32::MAX,
            ..StackConfig::default()
        },
    }
}

/// Runs `exe args` under `case`; returns the number it prints (ns per iteration), the
/// samples taken and the samples lost.
fn run(exe: &Path, args: &[&str], case: Case) -> (f64, u64, u64) {
    let out = exe.with_extension("out");
    let paused = Command::new(exe)
        .args(args)
        .stdout(std::fs::File::create(&out).expect("output file"))
        .spawn_paused()
        .expect("spawn");
    let session = match case {
        Case::Untraced => None,
        _ => Some(
            Session::start(Config::syscalls_only(Filter::Tree { root: paused.pid() }))
                .expect("session"),
        ),
    };
    let mut sampler = match (case, &session) {
        (Case::SamplerIdle, Some(s)) => {
            Some(s.stack_sampler(config_for(Source::Syscalls(Duration::from_millis(2)))))
        }
        (Case::Burst(kind), Some(s)) => Some(s.stack_sampler(config_for(kind))),
        _ => None,
    }
    .map(|r| r.expect("sampler"));
    let mut session = session;
    let mut child = paused.release().expect("release");
    let mut drained = |_e: trace::Event| {};
    let (mut samples, mut lost) = (0, 0);
    match (case, sampler.as_mut()) {
        (Case::Burst(_), Some(sampler)) => {
            let mut burst = sampler.start().expect("burst");
            while !matches!(child.try_wait(), Ok(Some(_))) {
                burst.poll(&mut drained).expect("poll");
                if let Some(s) = session.as_mut() {
                    s.poll(&mut drained).expect("session poll");
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            let stats = burst.finish(&mut drained).expect("finish");
            samples = stats.on_cpu + stats.syscall;
            lost = stats.lost;
        }
        _ => {
            if let Some(s) = session.as_mut() {
                s.run_until(&mut drained, || matches!(child.try_wait(), Ok(Some(_))))
                    .expect("drain");
            }
        }
    }
    assert!(child.wait().expect("wait").success());
    drop(sampler);
    if let Some(s) = session {
        s.finish(&mut drained).expect("finish");
    }
    let ns = std::fs::read_to_string(&out)
        .expect("output")
        .trim()
        .parse()
        .expect("ns per iteration");
    (ns, samples, lost)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn table(exe: &Path, args: &[&str], cases: &[(&str, Case)], unit: &str) {
    let mut ns = vec![Vec::new(); cases.len()];
    let mut samples = vec![(0, 0); cases.len()];
    for _ in 0..RUNS {
        for (i, (_, case)) in cases.iter().enumerate() {
            let (t, s, l) = run(exe, args, *case);
            ns[i].push(t);
            samples[i] = (s, l);
        }
    }
    // The minimum too: on a VM shared with other jobs it is the steadier figure.
    let min = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
    let (base, base_min) = (median(ns[0].clone()), min(&ns[0]));
    println!("  {:<52} {:>9} {unit:<3} {:>9} {unit}", "", "median", "min");
    for (i, (label, _)) in cases.iter().enumerate() {
        let (m, lo) = (median(ns[i].clone()), min(&ns[i]));
        let (s, l) = samples[i];
        println!(
            "  {label:<52} {m:>9.3} (+{:>8.3})  {lo:>9.3} (+{:>8.3})   samples/run {s}, lost {l}",
            m - base,
            lo - base_min,
        );
    }
}

fn syscall_costs(dir: &Path, n: u64) {
    let exe = gcc("storm", "attribution", dir);
    println!("getppid() cost, {n} iterations, {RUNS} runs (ns per call):");
    let n = n.to_string();
    table(
        &exe,
        &[&n, "direct"],
        &[
            ("untraced", Case::Untraced),
            ("syscalls-only session", Case::Session),
            ("session + sampler loaded, no burst", Case::SamplerIdle),
            (
                "burst: syscall stacks, 1 per 2 ms per thread",
                Case::Burst(Source::Syscalls(Duration::from_millis(2))),
            ),
            (
                "burst: a stack at every syscall",
                Case::Burst(Source::Syscalls(Duration::ZERO)),
            ),
        ],
        "ns",
    );
}

fn on_cpu_costs(dir: &Path) {
    let exe = gcc("cpu_loop", "stacks", dir);
    println!("\nCPU-bound loop, {RUNS} runs (ns per iteration):");
    table(
        &exe,
        &["300000000"],
        &[
            ("untraced", Case::Untraced),
            ("syscalls-only session", Case::Session),
            (
                "burst: on-CPU stacks at 99 Hz",
                Case::Burst(Source::OnCpu(99)),
            ),
            (
                "burst: on-CPU stacks at 999 Hz",
                Case::Burst(Source::OnCpu(999)),
            ),
        ],
        "ns",
    );
}

/// kernel.bpf_stats_enabled on while alive, restored after.
struct BpfStats(String);

const BPF_STATS: &str = "/proc/sys/kernel/bpf_stats_enabled";

impl BpfStats {
    fn enable() -> BpfStats {
        let old = std::fs::read_to_string(BPF_STATS).unwrap_or_else(|_| "0".into());
        std::fs::write(BPF_STATS, "1").expect("enabling kernel.bpf_stats_enabled");
        BpfStats(old.trim().to_string())
    }
}

impl Drop for BpfStats {
    fn drop(&mut self) {
        let _ = std::fs::write(BPF_STATS, &self.0);
    }
}

/// `(name, runs, ns per run)` of the sampler's programs.
fn prog_stats(sampler: &StackSampler) -> Vec<(String, u64, f64)> {
    let ids = sampler.prog_ids();
    libbpf_rs::query::ProgInfoIter::default()
        .filter(|p| ids.contains(&p.id))
        .map(|p| {
            let per = if p.run_cnt > 0 {
                p.run_time_ns as f64 / p.run_cnt as f64
            } else {
                0.0
            };
            (p.name.to_string_lossy().into_owned(), p.run_cnt, per)
        })
        .collect()
}

fn program_costs(dir: &Path) {
    let _stats = BpfStats::enable();
    println!("\nper run of each sampler program (kernel.bpf_stats_enabled):");

    // A thread spinning and one making syscalls, sampled with every source at once.
    let spin = gcc("spin", "stacks", dir);
    let syscaller = gcc("syscaller", "stacks", dir);
    let sleeper = gcc("sleeper", "stacks", dir);
    let a = Command::new(&spin).spawn_paused().expect("spawn");
    let root = a.pid();
    let b = Command::new(&syscaller).spawn_paused().expect("spawn");
    let c = Command::new(&sleeper).spawn_paused().expect("spawn");
    let pids = vec![root, b.pid(), c.pid()];
    let session = Session::start(Config::syscalls_only(Filter::Pids(pids))).expect("session");
    let children = [
        a.release().expect("release"),
        b.release().expect("release"),
        c.release().expect("release"),
    ];
    std::thread::sleep(Duration::from_millis(300));

    let mut sampler = session
        .stack_sampler(StackConfig::default())
        .expect("sampler");
    let t = Instant::now();
    let mut burst = sampler.start().expect("burst");
    let start = t.elapsed();
    burst.poll(&mut |_| {}).expect("poll");
    let t = Instant::now();
    burst.finish(&mut |_| {}).expect("finish");
    let finish = t.elapsed();
    let mut samples = 0u64;
    let stats = sampler
        .sample(Duration::from_secs(1), &mut |_| samples += 1)
        .expect("burst");
    println!("  1 s burst, default config: {stats:?}");
    for (name, runs, per) in prog_stats(&sampler) {
        println!("  {name:<20} {runs:>8} runs  {per:>8.0} ns per run");
    }
    println!(
        "  burst start (attach {} perf events + syscall hook): {:.2} ms; finish (detach, drain): {:.2} ms",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        start.as_secs_f64() * 1e3,
        finish.as_secs_f64() * 1e3
    );
    // Every sample taken (no interval, no cap): the cost of one stack of each kind.
    for (label, source) in [
        ("a stack at every syscall", Source::Syscalls(Duration::ZERO)),
        ("on-CPU stacks at 999 Hz", Source::OnCpu(999)),
    ] {
        let mut all = session.stack_sampler(config_for(source)).expect("sampler");
        let stats = all
            .sample(Duration::from_millis(500), &mut |_| {})
            .expect("burst");
        for (name, runs, per) in prog_stats(&all) {
            println!(
                "  {label}, 0.5 s: {name:<20} {runs:>8} runs  {per:>8.0} ns per run \
                 ({} samples, {} lost)",
                stats.on_cpu + stats.syscall,
                stats.lost
            );
        }
    }
    let mut times = Vec::new();
    for _ in 0..RUNS {
        let t = Instant::now();
        let n = sampler.blocked(&mut |_| {}).expect("blocked pass");
        times.push(t.elapsed().as_secs_f64() * 1e6);
        assert_eq!(n, 2, "the sleeper's two threads");
    }
    let tasks = std::fs::read_dir("/proc")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
                .map(|p| std::fs::read_dir(format!("/proc/{p}/task")).map_or(0, |t| t.count()))
                .sum::<usize>()
        })
        .unwrap_or(0);
    println!(
        "  blocked-thread pass over ~{tasks} tasks (2 blocked traced threads): {:.0} µs median",
        median(times)
    );
    drop(sampler);
    for mut c in children {
        let _ = c.signal(host::signals::SIGKILL, false);
        let _ = c.wait();
    }
    session.finish(&mut |_| {}).expect("finish");
}
