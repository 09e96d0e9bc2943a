//! What the runner costs next to the tracers a user would reach for, side by side in one
//! run, as ratios to the untraced run. A bench program, not a timed test; needs root:
//!
//! ```text
//! cargo bench -p runner --bench overhead [-- --reps 5 --requests 20000 --only suites,requests,attach]
//! ```
//!
//! 1. `suites`: both fixture servers' own test suites (`make check`, ~3 s, much of it
//!    sleeps), median wall time of `--reps` interleaved rounds, under: nothing; `runner`
//!    probing every application function of both servers; `runner --syscalls-only`;
//!    `strace -f -o /dev/null`; `perf record -e 'raw_syscalls:*'`; and bpftrace counting
//!    the same uprobes plus every `sys_enter` by comm. bpftrace cannot follow a process
//!    tree, so it counts system-wide; its start-up (compiling, attaching) is not timed.
//! 2. `requests`: a syscall-heavy workload, so the ratios mean something: each server
//!    started under each tracer, then a closed-loop client (two connections, one request
//!    in flight each) sends `--requests` requests as fast as they are answered: threadsrv
//!    GETs of a 4 KiB file (read, openat, newfstatat, read, close, writev, write and 7
//!    probed functions per request), loopsrv GETs (epoll_wait, read, write, write and
//!    8 probed functions per request; the keys are SET during the warm-up, so that no
//!    AOF fdatasync swamps the timed part). Reported: the client's wall time (on this
//!    2-vCPU VM an idle untraced run pays wake-up latencies that a busier traced one
//!    does not, so wall ratios can even drop below 1), and the CPU time of the server and
//!    of the tracer process during the timed part, per request: the cost that does not
//!    depend on idle states (bpftrace's system-wide sys_enter cost in the client is not
//!    in it).
//! 3. `attach`: the runner's own attach and detach times for 1,000 and 20,000 probes on a
//!    generated program of 20,000 functions (`--include` picks them), from its summary.
//!
//! Everything runs as root (`runner --as-root`), so all configurations do the same work.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

const RUNNER: &str = env!("CARGO_BIN_EXE_runner");

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tracer {
    Untraced,
    Runner,
    RunnerNoSingleStep,
    RunnerSyscalls,
    Strace,
    Perf,
    Bpftrace,
}

const TRACERS: [Tracer; 7] = [
    Tracer::Untraced,
    Tracer::Runner,
    Tracer::RunnerNoSingleStep,
    Tracer::RunnerSyscalls,
    Tracer::Strace,
    Tracer::Perf,
    Tracer::Bpftrace,
];

impl Tracer {
    fn label(self) -> &'static str {
        match self {
            Tracer::Untraced => "untraced",
            Tracer::Runner => "runner (all app functions)",
            Tracer::RunnerNoSingleStep => "runner --skip-single-step",
            Tracer::RunnerSyscalls => "runner --syscalls-only",
            Tracer::Strace => "strace -f",
            Tracer::Perf => "perf record -e raw_syscalls:*",
            Tracer::Bpftrace => "bpftrace (same uprobes + sys_enter, system-wide)",
        }
    }

    fn tool(self) -> Option<&'static str> {
        match self {
            Tracer::Strace => Some("strace"),
            Tracer::Perf => Some("perf"),
            Tracer::Bpftrace => Some("bpftrace"),
            _ => None,
        }
    }

    /// The command line that runs `cmd` under this tracer (bpftrace runs beside it).
    fn argv(self, ctx: &Ctx, bins: &[PathBuf], cmd: &[OsString]) -> Vec<OsString> {
        let mut v: Vec<OsString> = Vec::new();
        let s = |x: &str| OsString::from(x);
        match self {
            Tracer::Untraced | Tracer::Bpftrace => {}
            Tracer::Runner | Tracer::RunnerNoSingleStep | Tracer::RunnerSyscalls => {
                v.push(s(RUNNER));
                if self == Tracer::RunnerSyscalls {
                    v.push(s("--syscalls-only"));
                } else {
                    for b in bins {
                        v.extend([s("--bin"), b.into()]);
                    }
                }
                if self == Tracer::RunnerNoSingleStep {
                    v.push(s("--skip-single-step"));
                }
                v.extend([s("--as-root"), s("--no-progress"), s("--format"), s("json")]);
                v.extend([s("--summary"), ctx.dir.join("summary.json").into()]);
                v.extend([s("-o"), ctx.dir.join("bench.trace").into(), s("--")]);
            }
            Tracer::Strace => v.extend(["strace", "-f", "-o", "/dev/null", "--"].map(s)),
            Tracer::Perf => {
                v.extend(["perf", "record", "-q", "-e", "raw_syscalls:*", "-o"].map(s));
                v.extend([ctx.dir.join("perf.data").into(), s("--")]);
            }
        }
        v.extend(cmd.iter().cloned());
        v
    }
}

struct Ctx {
    dir: PathBuf,
    ws: PathBuf,
    servers: PathBuf,
}

fn main() {
    if host::identity::euid() != 0 {
        eprintln!("overhead: needs root (it loads BPF and runs strace, perf and bpftrace)");
        std::process::exit(2);
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opt = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let reps: usize = opt("--reps").and_then(|s| s.parse().ok()).unwrap_or(5);
    let requests: usize = opt("--requests")
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_000);
    let only = opt("--only").unwrap_or_else(|| "suites,requests,attach".into());
    let dir = std::env::temp_dir().join(format!("perfscope-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch directory");
    let ws = PathBuf::from(env!("CARGO_WORKSPACE_DIR"));
    let ctx = Ctx {
        servers: dir.join("servers"),
        dir: dir.clone(),
        ws,
    };
    let result = std::panic::catch_unwind(|| {
        let make = Command::new("make")
            .arg("-C")
            .arg(ctx.ws.join("fixtures/servers"))
            .arg(format!("OUT={}", ctx.servers.display()))
            .output()
            .expect("make");
        assert!(make.status.success(), "building the fixture servers failed");
        let tracers: Vec<Tracer> = TRACERS
            .into_iter()
            .filter(|t| match t.tool() {
                Some(tool) if !have(tool) => {
                    println!("(no {tool} here: its row is left out)");
                    false
                }
                _ => true,
            })
            .collect();
        if only.contains("suites") {
            suites(&ctx, &tracers, reps);
        }
        if only.contains("requests") {
            for server in ["threadsrv", "loopsrv"] {
                request_storm(&ctx, &tracers, server, requests, reps.min(3));
            }
        }
        if only.contains("attach") {
            attach(&ctx, reps.min(3));
        }
    });
    let _ = std::fs::remove_dir_all(&dir);
    if result.is_err() {
        std::process::exit(1);
    }
}

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Wall and CPU (user + system of the whole process tree) seconds of one run.
#[derive(Clone, Copy, Debug, Default)]
struct Sample {
    wall: f64,
    cpu: f64,
}

/// Runs `argv` to completion (output to a log), returns its times; panics on failure.
fn run_timed(argv: &[OsString], log: &Path) -> Sample {
    let logf = std::fs::File::create(log).expect("log file");
    let t = Instant::now();
    // Reaped by wait4 below, which also gives the tree's resource usage.
    #[allow(clippy::zombie_processes)]
    let child = Command::new(&argv[0])
        .args(&argv[1..])
        .stdout(logf.try_clone().expect("log fd"))
        .stderr(logf)
        .spawn()
        .unwrap_or_else(|e| panic!("{:?}: {e}", argv[0]));
    let (status, cpu) = host::wait_with_usage(child.id()).expect("wait4");
    let wall = t.elapsed().as_secs_f64();
    if !status.success() {
        panic!(
            "{} failed ({status:?}):\n{}",
            show(argv),
            std::fs::read_to_string(log).unwrap_or_default()
        );
    }
    Sample {
        wall,
        cpu: cpu.as_secs_f64(),
    }
}

fn show(argv: &[OsString]) -> String {
    argv.iter()
        .map(|a| a.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ")
}

/// A bpftrace session counting `functions` of `bins` and every sys_enter by comm.
struct Bpftrace(Child);

impl Bpftrace {
    fn start(bins: &[PathBuf]) -> Bpftrace {
        let plan = runner::plan::plan(&runner::PlanOptions {
            bins: bins.to_vec(),
            ..runner::PlanOptions::default()
        })
        .expect("planning the bpftrace probes");
        let mut probes = Vec::new();
        for o in &plan.objects {
            for f in &o.functions {
                probes.push(format!("uprobe:{}:{}", o.path, f.name));
            }
        }
        let script = format!(
            "{} {{ @calls[probe] = count(); }}\n\
             tracepoint:raw_syscalls:sys_enter {{ @sys[comm] = count(); }}",
            probes.join(",\n")
        );
        let mut child = Command::new("bpftrace")
            .arg("-e")
            .arg(&script)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("bpftrace");
        let mut out = BufReader::new(child.stdout.take().expect("bpftrace stdout"));
        let mut line = String::new();
        // "Attaching N probes..." comes once everything is attached.
        while out.read_line(&mut line).unwrap_or(0) > 0 {
            if line.starts_with("Attaching") {
                break;
            }
            line.clear();
        }
        assert!(line.starts_with("Attaching"), "bpftrace did not start");
        // Keep draining its output (the maps printed at exit) on a thread.
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut out, &mut std::io::sink());
        });
        Bpftrace(child)
    }

    fn stop(mut self) {
        host::signals::kill(self.0.id() as i32, host::signals::SIGINT);
        let _ = self.0.wait();
    }
}

fn suites(ctx: &Ctx, tracers: &[Tracer], reps: usize) {
    let bins = [ctx.servers.join("threadsrv"), ctx.servers.join("loopsrv")];
    let cmd: Vec<OsString> = vec![
        "make".into(),
        "--no-print-directory".into(),
        "-C".into(),
        ctx.ws.join("fixtures/servers").into(),
        format!("OUT={}", ctx.servers.display()).into(),
        "check".into(),
    ];
    println!("\n== fixture test suites (make check, both servers), median of {reps} rounds ==");
    let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); tracers.len()];
    let mut runner_summary = None;
    for _ in 0..reps {
        for (i, t) in tracers.iter().enumerate() {
            let argv = t.argv(ctx, &bins, &cmd);
            let bt = (*t == Tracer::Bpftrace).then(|| Bpftrace::start(&bins));
            let s = run_timed(&argv, &ctx.dir.join("suite.log"));
            if let Some(b) = bt {
                b.stop();
            }
            if *t == Tracer::Runner {
                runner_summary = std::fs::read_to_string(ctx.dir.join("summary.json")).ok();
            }
            samples[i].push(s);
        }
    }
    report(tracers, &samples, "s");
    if let Some(s) = runner_summary
        .as_deref()
        .and_then(|s| serde_json::from_str::<serde_json::Value>(s).ok())
    {
        println!(
            "  runner, last round: {} functions probed, {} hit, {} invocations, {} syscalls, \
             {} events, {} lost, trace {} bytes; {} ms reading symbols, {} ms load+attach, \
             {} ms detach",
            s["functions_probed"],
            s["functions_hit"],
            s["invocations"],
            s["syscalls"],
            s["events"],
            s["lost"],
            s["trace_bytes"],
            s["plan_ms"],
            s["setup_ms"],
            s["detach_ms"]
        );
    }
}

/// Prints one row per tracer: median wall, ratio, CPU, ratio; and the goals.
fn report(tracers: &[Tracer], samples: &[Vec<Sample>], unit: &str) {
    let wall: Vec<f64> = samples
        .iter()
        .map(|v| median(v.iter().map(|s| s.wall).collect()))
        .collect();
    let cpu: Vec<f64> = samples
        .iter()
        .map(|v| median(v.iter().map(|s| s.cpu).collect()))
        .collect();
    println!(
        "  {:<50} {:>9} {:>7}   {:>9} {:>7}",
        "", "wall", "ratio", "cpu", "ratio"
    );
    for (i, t) in tracers.iter().enumerate() {
        println!(
            "  {:<50} {:>8.3}{unit} {:>6.2}x   {:>8.3}{unit} {:>6.2}x",
            t.label(),
            wall[i],
            wall[i] / wall[0],
            cpu[i],
            cpu[i] / cpu[0]
        );
    }
    goals(tracers, &wall, "wall");
}

/// The issue's goals on one metric: the runner within 1.3x of untraced, and adding at
/// least 10x less than strace -f.
fn goals(tracers: &[Tracer], wall: &[f64], metric: &str) {
    let at = |t: Tracer| tracers.iter().position(|&x| x == t).map(|i| wall[i]);
    let (Some(base), Some(r)) = (at(Tracer::Untraced), at(Tracer::Runner)) else {
        return;
    };
    let ratio = r / base;
    println!(
        "  goal ({metric}) runner <= 1.3x untraced: {ratio:.2}x, {}",
        if ratio <= 1.3 { "met" } else { "NOT met" }
    );
    if let Some(s) = at(Tracer::Strace) {
        let over_r = (r - base).max(1e-9);
        let over_s = s - base;
        println!(
            "  goal ({metric}) runner >= 10x cheaper than strace -f: strace adds {:.3}, runner \
             {:.3} ({:.1}x less), {}",
            over_s,
            r - base,
            over_s / over_r,
            if over_s / over_r >= 10.0 {
                "met"
            } else {
                "NOT met"
            }
        );
    }
}

/// A server running under a tracer.
struct Served {
    tracer: Child,
    server_pid: u32,
    port: u16,
}

fn serve(ctx: &Ctx, t: Tracer, server: &Path, work: &Path) -> Served {
    let cmd: Vec<OsString> = vec![
        server.into(),
        "-p".into(),
        "0".into(),
        "-d".into(),
        work.into(),
    ];
    let argv = t.argv(ctx, &[server.to_owned()], &cmd);
    let log = std::fs::File::create(ctx.dir.join("server.log")).expect("log");
    let mut child = Command::new(&argv[0])
        .args(&argv[1..])
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .expect("starting the server");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    out.read_line(&mut line).expect("the server's first line");
    let port: u16 = line
        .strip_prefix("listening on ")
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| {
            panic!(
                "{} did not start: {line:?}\n{}",
                show(&argv),
                std::fs::read_to_string(ctx.dir.join("server.log")).unwrap_or_default()
            )
        });
    let server_pid = if argv[0] == cmd[0] {
        child.id()
    } else {
        find_descendant(child.id(), server).expect("the server's pid under its tracer")
    };
    Served {
        tracer: child,
        server_pid,
        port,
    }
}

/// The descendant of `root` running `exe`.
fn find_descendant(root: u32, exe: &Path) -> Option<u32> {
    let exe = exe.canonicalize().ok()?;
    let mut todo = vec![root];
    while let Some(pid) = todo.pop() {
        if std::fs::read_link(format!("/proc/{pid}/exe"))
            .ok()
            .as_deref()
            == Some(&exe)
        {
            return Some(pid);
        }
        let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
        for task in tasks.flatten() {
            let children =
                std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
            todo.extend(
                children
                    .split_whitespace()
                    .filter_map(|c| c.parse::<u32>().ok()),
            );
        }
    }
    None
}

/// CPU seconds (user + system, all threads) a process has used so far.
fn proc_cpu(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    host::procfs::parse_stat(&stat).map_or(0.0, |s| {
        (s.utime + s.stime) as f64 * host::procfs::ns_per_tick() as f64 / 1e9
    })
}

impl Served {
    /// CPU seconds of the server and of its tracer process (and of `other`, bpftrace).
    fn cpu(&self, other: Option<u32>) -> f64 {
        let mut pids = vec![self.server_pid];
        if self.tracer.id() != self.server_pid {
            pids.push(self.tracer.id());
        }
        pids.extend(other);
        pids.into_iter().map(proc_cpu).sum()
    }

    fn stop(mut self) {
        host::signals::kill(self.server_pid as i32, host::signals::SIGTERM);
        let _ = self.tracer.wait();
    }
}

/// `total` requests over `conns` connections, one in flight each; returns seconds.
fn drive(port: u16, server: &str, total: usize, conns: usize) -> f64 {
    let per = total / conns;
    let start = std::sync::Barrier::new(conns + 1);
    std::thread::scope(|s| {
        let start = &start;
        let workers: Vec<_> = (0..conns)
            .map(|c| {
                s.spawn(move || {
                    let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
                    stream.set_nodelay(true).expect("nodelay");
                    let mut w = stream.try_clone().expect("clone");
                    let mut r = BufReader::new(stream);
                    // Warm up (the connection's thread, the page cache, loopsrv's keys),
                    // then go together.
                    for i in 0..128 {
                        request(&mut r, &mut w, server, c, Some(i));
                    }
                    start.wait();
                    for _ in 0..per {
                        request(&mut r, &mut w, server, c, None);
                    }
                })
            })
            .collect();
        start.wait();
        let t = Instant::now();
        for w in workers {
            w.join().expect("client thread");
        }
        t.elapsed().as_secs_f64()
    })
}

/// One request: a threadsrv GET; a loopsrv SET of key `set` (warm-up) or GET of a key
/// set before (the timed part: no AOF flush, whose fdatasync would swamp the rest).
fn request(
    r: &mut BufReader<TcpStream>,
    w: &mut TcpStream,
    server: &str,
    c: usize,
    set: Option<usize>,
) {
    let mut line = String::new();
    if server == "threadsrv" {
        w.write_all(b"GET page.html\n").expect("send");
        r.read_line(&mut line).expect("reply");
        let len: usize = line
            .split_whitespace()
            .nth(1)
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("threadsrv said {line:?}"));
        let mut body = vec![0u8; len];
        r.read_exact(&mut body).expect("body");
    } else if let Some(i) = set {
        write!(w, "SET k{c}_{} value-{i}\r\n", i % 64).expect("send");
        r.read_line(&mut line).expect("reply");
        assert_eq!(line, "+OK\r\n");
    } else {
        write!(w, "GET k{c}_7\r\n").expect("send");
        r.read_line(&mut line).expect("reply");
        let len: usize = line[1..].trim().parse().expect("bulk length");
        let mut body = vec![0u8; len + 2];
        r.read_exact(&mut body).expect("value");
    }
}

fn request_storm(ctx: &Ctx, tracers: &[Tracer], server: &str, total: usize, reps: usize) {
    let exe = ctx.servers.join(server);
    let work = ctx.dir.join(format!("work-{server}"));
    std::fs::create_dir_all(work.join("www")).expect("work dir");
    std::fs::write(work.join("www/page.html"), vec![b'x'; 4096]).expect("page");
    println!(
        "\n== {server}: {total} requests, 2 connections, closed loop, median of {reps} rounds =="
    );
    let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); tracers.len()];
    let mut runner_summary = None;
    for _ in 0..reps {
        for (i, t) in tracers.iter().enumerate() {
            let bt = (*t == Tracer::Bpftrace).then(|| Bpftrace::start(std::slice::from_ref(&exe)));
            let served = serve(ctx, *t, &exe, &work);
            let bpftrace_pid = bt.as_ref().map(|b| b.0.id());
            let cpu0 = served.cpu(bpftrace_pid);
            let secs = drive(served.port, server, total, 2);
            let cpu = served.cpu(bpftrace_pid) - cpu0;
            served.stop();
            if let Some(b) = bt {
                b.stop();
            }
            if *t == Tracer::Runner {
                runner_summary = std::fs::read_to_string(ctx.dir.join("summary.json")).ok();
            }
            samples[i].push(Sample { wall: secs, cpu });
        }
    }
    let col = |f: fn(&Sample) -> f64| -> Vec<f64> {
        samples
            .iter()
            .map(|v| median(v.iter().map(f).collect()))
            .collect()
    };
    let (wall, cpu) = (col(|s| s.wall), col(|s| s.cpu));
    println!(
        "  {:<50} {:>8} {:>8} {:>6}  {:>15} {:>6} {:>9}",
        "", "time", "req/s", "ratio", "server+tracer", "ratio", "CPU/req +"
    );
    let per = |x: f64| x / total as f64 * 1e6;
    for (i, t) in tracers.iter().enumerate() {
        println!(
            "  {:<50} {:>7.3}s {:>8.0} {:>5.2}x  {:>10.1}µs/req {:>5.2}x {:>7.1}µs",
            t.label(),
            wall[i],
            total as f64 / wall[i],
            wall[i] / wall[0],
            per(cpu[i]),
            cpu[i] / cpu[0],
            per(cpu[i] - cpu[0])
        );
    }
    goals(tracers, &wall, "client wall");
    goals(tracers, &cpu, "server+tracer CPU");
    if let Some(s) = runner_summary
        .as_deref()
        .and_then(|s| serde_json::from_str::<serde_json::Value>(s).ok())
    {
        println!(
            "  runner, last round: {} invocations ({} single-stepped: {}), {} syscalls, {} lost",
            s["invocations"],
            s["single_step_invocations"],
            s["hot_single_step"],
            s["syscalls"],
            s["lost"]
        );
    }
}

fn attach(ctx: &Ctx, reps: usize) {
    const FUNCS: usize = 20_000;
    let src = ctx.dir.join("many.c");
    let mut c = String::with_capacity(FUNCS * 64);
    for i in 0..FUNCS {
        c.push_str(&format!(
            "__attribute__((noipa)) int f{i}(int x) {{ return x * {i} + 1; }}\n"
        ));
    }
    c.push_str("int main(void) { return f0(1) == 1 ? 0 : 1; }\n");
    std::fs::write(&src, c).expect("many.c");
    let exe = ctx.dir.join("many");
    let t = Instant::now();
    testkit::gcc(&src, &exe, testkit::Flags::Bench, &[]);
    println!(
        "\n== runner attach/detach, generated program of {FUNCS} functions (built in {:.1} s), \
         median of {reps} ==",
        t.elapsed().as_secs_f64()
    );
    println!(
        "  {:<28} {:>9} {:>12} {:>10} {:>10} {:>10}",
        "", "symbols", "load+attach", "attach", "detach", "total"
    );
    let summary = ctx.dir.join("attach.json");
    let cases: [(&str, &[&str]); 3] = [
        ("0 probes (--syscalls-only)", &["--syscalls-only"]),
        (
            "1,000 probes",
            &["--include", "f?", "--include", "f??", "--include", "f???"],
        ),
        ("20,000 probes", &["--include", "f*"]),
    ];
    for (label, opts) in cases {
        let mut rows: Vec<[f64; 5]> = Vec::new();
        for _ in 0..reps {
            let mut argv: Vec<OsString> = vec![RUNNER.into(), "--bin".into(), exe.clone().into()];
            argv.extend(opts.iter().map(OsString::from));
            argv.extend(
                [
                    "--as-root",
                    "--no-progress",
                    "--format",
                    "json",
                    "--summary",
                ]
                .map(OsString::from),
            );
            argv.push(summary.clone().into());
            argv.extend(["-o".into(), ctx.dir.join("attach.trace").into()]);
            argv.extend(["--", "true"].map(OsString::from));
            let s = run_timed(&argv, &ctx.dir.join("attach.log"));
            let j: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(&summary).expect("summary"))
                    .expect("json summary");
            let probes = j["functions_probed"].as_u64().unwrap_or(0);
            let want = match opts.first().copied() {
                Some("--syscalls-only") => 0,
                Some(_) if opts.len() > 2 => 1_000,
                _ => FUNCS as u64,
            };
            assert_eq!(probes, want, "{label}: {j}");
            let ms = |k: &str| j[k].as_f64().unwrap_or(0.0);
            rows.push([
                ms("plan_ms"),
                ms("setup_ms"),
                ms("attach_ms"),
                ms("detach_ms"),
                s.wall * 1e3,
            ]);
        }
        let col = |k: usize| median(rows.iter().map(|r| r[k]).collect());
        println!(
            "  {label:<28} {:>7.1}ms {:>10.1}ms {:>8.1}ms {:>8.1}ms {:>8.1}ms",
            col(0),
            col(1),
            col(2),
            col(3),
            col(4)
        );
    }
}
