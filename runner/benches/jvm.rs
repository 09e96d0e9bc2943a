//! What the runner costs on JVM code, side by side in one run, as ratios to the untraced
//! run. A bench program, not a timed test; needs root, a JDK (`java`, `javac`) and python3:
//!
//! ```text
//! cargo bench -p runner --bench jvm [-- --reps 5 --only suites,entry]
//! ```
//!
//! 1. `suites`: the JVM fixture servers' own test suites (`fixtures/jvm/check.sh`: the C
//!    servers' Python suites against `jthreadsrv` and `jloopsrv`, one JVM start per test
//!    server), median wall and CPU time of `--reps` interleaved rounds, under: nothing; the
//!    agent alone (`JAVA_TOOL_OPTIONS=-javaagent:...`, no BPF: what the rewritten classes
//!    cost); `runner --syscalls-only` (BPF only, no agent); and `runner --jvm-app
//!    perfscope.fixture` (both: what training pays). Ratios are taken per round against
//!    that round's untraced run, then the median.
//! 2. `entry`: the cost of one application-method entry: a generated program calls a small
//!    static method 200 million times (it cannot be inlined away: its result feeds the
//!    next call) and prints the nanoseconds per call of its last of five timed loops,
//!    untraced and under `runner --jvm-app`; the difference is the cost per entry and exit
//!    with the agent and the capture attached.
//!
//! Everything runs as root (`runner --as-root`), so all configurations do the same work.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const RUNNER: &str = env!("CARGO_BIN_EXE_runner");

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Config {
    Untraced,
    AgentOnly,
    RunnerSyscalls,
    Runner,
}

const CONFIGS: [Config; 4] = [
    Config::Untraced,
    Config::AgentOnly,
    Config::RunnerSyscalls,
    Config::Runner,
];

impl Config {
    fn label(self) -> &'static str {
        match self {
            Config::Untraced => "untraced",
            Config::AgentOnly => "agent only (no BPF)",
            Config::RunnerSyscalls => "runner --syscalls-only (no agent)",
            Config::Runner => "runner --jvm-app (agent + BPF)",
        }
    }
}

struct Ctx {
    dir: PathBuf,
    ws: PathBuf,
    /// The JVM fixture build.
    build: PathBuf,
    /// The agent jar, for the agent-only configuration.
    agent: PathBuf,
}

fn main() {
    if host::identity::euid() != 0 {
        eprintln!("jvm bench: needs root (it loads BPF)");
        std::process::exit(2);
    }
    let agent = match runner::jvm::agent_jar() {
        Ok(jar) => jar,
        Err(why) => {
            eprintln!("jvm bench: no JVM agent in this runner: {why}");
            std::process::exit(2);
        }
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opt = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let reps: usize = opt("--reps").and_then(|s| s.parse().ok()).unwrap_or(5);
    let only = opt("--only").unwrap_or_else(|| "suites,entry".into());
    let dir = std::env::temp_dir().join(format!("perfscope-jvm-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch directory");
    let ctx = Ctx {
        build: dir.join("build"),
        agent: dir.join("perfscope-agent.jar"),
        dir: dir.clone(),
        ws: PathBuf::from(env!("CARGO_WORKSPACE_DIR")),
    };
    std::fs::write(&ctx.agent, agent).expect("agent jar");
    let result = std::panic::catch_unwind(|| {
        let built = Command::new("sh")
            .arg(ctx.ws.join("fixtures/jvm/build.sh"))
            .arg(&ctx.build)
            .env_remove("JAVA_TOOL_OPTIONS")
            .output()
            .expect("fixtures/jvm/build.sh");
        assert!(
            built.status.success(),
            "building the JVM fixtures failed: {}",
            String::from_utf8_lossy(&built.stderr)
        );
        if only.contains("suites") {
            suites(&ctx, reps);
        }
        if only.contains("entry") {
            entry(&ctx, reps.min(3));
        }
    });
    let _ = std::fs::remove_dir_all(&dir);
    if result.is_err() {
        std::process::exit(1);
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Wall and CPU (user + system of the whole process tree) seconds of one run, and its
/// output.
struct Sample {
    wall: f64,
    cpu: f64,
    out: String,
}

/// Runs `argv` with `env` to completion; panics on failure.
fn run_timed(argv: &[OsString], env: &[(&str, String)], log: &Path) -> Sample {
    let logf = std::fs::File::create(log).expect("log file");
    let t = Instant::now();
    // Reaped by wait4 below, which also gives the tree's resource usage.
    #[allow(clippy::zombie_processes)]
    let child = Command::new(&argv[0])
        .args(&argv[1..])
        .env_remove("JAVA_TOOL_OPTIONS")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(logf.try_clone().expect("log fd"))
        .stderr(logf)
        .spawn()
        .unwrap_or_else(|e| panic!("{:?}: {e}", argv[0]));
    let (status, cpu) = host::wait_with_usage(child.id()).expect("wait4");
    let wall = t.elapsed().as_secs_f64();
    let out = std::fs::read_to_string(log).unwrap_or_default();
    assert!(
        status.success(),
        "{} failed ({status:?}):\n{out}",
        argv.iter()
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ")
    );
    Sample {
        wall,
        cpu: cpu.as_secs_f64(),
        out,
    }
}

/// The command line and environment of `cmd` under `config`.
fn under(
    config: Config,
    ctx: &Ctx,
    app: &str,
    cmd: &[OsString],
) -> (Vec<OsString>, Vec<(&'static str, String)>) {
    let s = |x: &str| OsString::from(x);
    let mut v = Vec::new();
    let mut env = Vec::new();
    match config {
        Config::Untraced => {}
        Config::AgentOnly => {
            let out = ctx.dir.join("agent-out");
            let _ = std::fs::remove_dir_all(&out);
            std::fs::create_dir_all(&out).expect("agent folder");
            env.push((
                "JAVA_TOOL_OPTIONS",
                format!(
                    "-javaagent:{}=app={app},out={}",
                    ctx.agent.display(),
                    out.display()
                ),
            ));
        }
        Config::RunnerSyscalls | Config::Runner => {
            v.push(s(RUNNER));
            if config == Config::RunnerSyscalls {
                v.push(s("--syscalls-only"));
            } else {
                v.extend([s("--jvm-app"), s(app)]);
            }
            v.extend([s("--as-root"), s("--no-progress"), s("--format"), s("json")]);
            v.extend([s("--summary"), ctx.dir.join("summary.json").into()]);
            v.extend([s("-o"), ctx.dir.join("bench.trace").into(), s("--")]);
        }
    }
    v.extend(cmd.iter().cloned());
    (v, env)
}

fn suites(ctx: &Ctx, reps: usize) {
    let cmd: Vec<OsString> = vec![
        "sh".into(),
        ctx.ws.join("fixtures/jvm/check.sh").into(),
        "--no-build".into(),
        ctx.build.clone().into(),
    ];
    println!("\nJVM fixture suites (fixtures/jvm/check.sh), {reps} interleaved rounds");
    let mut samples: Vec<Vec<Sample>> = CONFIGS.iter().map(|_| Vec::new()).collect();
    for round in 0..reps {
        for (i, &c) in CONFIGS.iter().enumerate() {
            let (argv, env) = under(c, ctx, "perfscope.fixture", &cmd);
            let log = ctx.dir.join(format!("suite-{round}-{i}.log"));
            samples[i].push(run_timed(&argv, &env, &log));
        }
    }
    let base_wall: Vec<f64> = samples[0].iter().map(|s| s.wall).collect();
    let base_cpu: Vec<f64> = samples[0].iter().map(|s| s.cpu).collect();
    println!(
        "{:<36} {:>9} {:>11} {:>9} {:>11}",
        "", "wall s", "wall ratio", "CPU s", "CPU ratio"
    );
    for (i, &c) in CONFIGS.iter().enumerate() {
        let s = &samples[i];
        let ratio = |f: fn(&Sample) -> f64, base: &[f64]| {
            let r: Vec<f64> = s.iter().zip(base).map(|(x, b)| f(x) / b).collect();
            let lo = r.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = r.iter().copied().fold(0.0, f64::max);
            format!("{:.2} ({lo:.2}-{hi:.2})", median(r))
        };
        println!(
            "{:<36} {:>9.2} {:>11} {:>9.2} {:>11}",
            c.label(),
            median(s.iter().map(|x| x.wall).collect()),
            ratio(|x| x.wall, &base_wall),
            median(s.iter().map(|x| x.cpu).collect()),
            ratio(|x| x.cpu, &base_cpu),
        );
    }
}

/// The generated program of the `entry` part.
const ENTRY_JAVA: &str = r#"package perfscope.benchentry;

public final class Entry {
    // not final: reading it is a GETSTATIC, so `step` is no leaf and is instrumented
    static int mul = 1103515245;

    static int step(int x) {
        return x * mul + 12345;
    }

    public static void main(String[] args) {
        long n = Long.parseLong(args[0]);
        int x = 1;
        double last = 0;
        for (int round = 0; round < 5; round++) {
            long t = System.nanoTime();
            for (long i = 0; i < n; i++) {
                x = step(x);
            }
            last = (System.nanoTime() - t) / (double) n;
        }
        System.out.println("ns_per_call " + last + " " + x);
    }
}
"#;

fn entry(ctx: &Ctx, reps: usize) {
    let src = ctx.dir.join("entry/perfscope/benchentry");
    std::fs::create_dir_all(&src).expect("source folder");
    std::fs::write(src.join("Entry.java"), ENTRY_JAVA).expect("Entry.java");
    let classes = ctx.dir.join("entry/classes");
    let javac = Command::new("javac")
        .arg("-d")
        .arg(&classes)
        .arg(src.join("Entry.java"))
        .env_remove("JAVA_TOOL_OPTIONS")
        .output()
        .expect("javac");
    assert!(javac.status.success(), "javac failed");
    let calls: u64 = 200_000_000;
    let cmd: Vec<OsString> = vec![
        "java".into(),
        "-cp".into(),
        classes.into(),
        "perfscope.benchentry.Entry".into(),
        calls.to_string().into(),
    ];
    println!(
        "\nOne application-method entry: {calls} calls of a small static method, {reps} rounds"
    );
    let per_call = |config: Config, round: usize| -> f64 {
        let (argv, env) = under(config, ctx, "perfscope.benchentry", &cmd);
        let log = ctx.dir.join(format!("entry-{round}-{config:?}.log"));
        let s = run_timed(&argv, &env, &log);
        s.out
            .lines()
            .find_map(|l| l.strip_prefix("ns_per_call "))
            .and_then(|l| l.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("no ns_per_call in {}", s.out))
    };
    let (mut plain, mut traced) = (Vec::new(), Vec::new());
    for round in 0..reps {
        plain.push(per_call(Config::Untraced, round));
        traced.push(per_call(Config::Runner, round));
    }
    let (p, t) = (median(plain), median(traced));
    println!("{:<36} {p:>9.2} ns per call", Config::Untraced.label());
    println!("{:<36} {t:>9.2} ns per call", Config::Runner.label());
    println!(
        "{:<36} {:>9.2} ns per application-method entry (and exit)",
        "cost",
        t - p
    );
}
