//! `runner`: runs a test suite under perfscope's capture and writes a trace for the
//! trainer. Exit status: the command's (128 + signal if a signal ended it or the runner);
//! 2 when the runner itself failed.

use std::ffi::OsString;
use std::io::{IsTerminal, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::{Parser, ValueEnum};
use host::ExitStatus;
use host::identity::{self, Request};
use runner::plan::{self, PlanOptions};
use runner::{Glob, RecordOptions, Summary, record};
use symbols::SymClass;

const AFTER_HELP: &str = "\
Privileges: capture needs root (or CAP_BPF and CAP_PERFMON); the command does not get \
them unless asked. --user NAME runs it as NAME, --as-root as root. As root with neither, \
the command runs as $SUDO_USER when set, and otherwise the runner refuses (exit 2). The \
working directory and environment are kept, with HOME, USER and LOGNAME of that user.

Exit status: the command's; 128+N when signal N ended it, or when the runner received \
SIGINT, SIGTERM or SIGHUP (forwarded to the command's process group; the trace is still \
finished; a second signal sends SIGKILL); 2 when the runner failed (privilege or kernel \
feature missing, bad --bin, command not found, trace not writable).

Examples:
  runner --bin build/server --user nobody -o check.trace -- make check
  runner --bin build/server --bin build/modules/*.so --exclude 'log_*' --as-root -o t.trace -- ./run-tests
  runner --syscalls-only --user ci -o sys.trace -- make check";

/// Run a test-suite command under perfscope's capture and write a trace.
#[derive(Debug, Parser)]
#[command(name = "runner", version, after_long_help = AFTER_HELP)]
struct Cli {
    /// ELF executable or shared object whose functions get entry probes; repeatable.
    /// Shared objects the tests load later (modules) are covered too.
    #[arg(long = "bin", value_name = "ELF")]
    bins: Vec<PathBuf>,

    /// Source folder of the application (repeatable) [default: inferred from DWARF].
    #[arg(long = "app-root", value_name = "DIR")]
    app_roots: Vec<PathBuf>,

    /// Function classes to probe, comma-separated: app, no_dwarf, system, crate, rust_std.
    #[arg(long, value_name = "CLASSES", value_delimiter = ',', default_value = "app",
          value_parser = plan::parse_class)]
    include_class: Vec<SymClass>,

    /// Only probe functions whose name matches this glob (`*`, `?`, `[a-z]`); repeatable.
    #[arg(long, value_name = "GLOB")]
    include: Vec<Glob>,

    /// Do not probe functions whose name matches this glob; repeatable.
    #[arg(long, value_name = "GLOB")]
    exclude: Vec<Glob>,

    /// Leave out functions whose probe the kernel single-steps (~10 µs per call instead
    /// of ~0.5 µs): their entry is not emulated, and no instruction a few in could take
    /// the probe with the entry's stack pointer. Their syscalls then go to their callers.
    #[arg(long)]
    skip_single_step: bool,

    /// Probe every matching function, also those a static call graph of the machine code
    /// proves cannot reach a system call (left out by default: their signatures are
    /// empty by construction and no syscall's attribution depends on them). For
    /// comparisons.
    #[arg(long)]
    probe_all: bool,

    /// Remove a function's probe once it has been entered N times with at most one
    /// syscall per 10,000 entries made by itself (hot helpers: allocators, lookups,
    /// comparators); its signature is empty either way, and what it still makes goes to
    /// its caller. 0: never.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    mute_after: u64,

    /// Record syscalls and process events only: no function probes, no --bin needed.
    #[arg(long, conflicts_with_all = ["jvm_app", "jvm_jar"])]
    syscalls_only: bool,

    /// JVM application code: a package prefix (`org.apache.cassandra`) whose classes the
    /// perfscope Java agent instruments in every JVM the command starts (added through
    /// JAVA_TOOL_OPTIONS); the JDK and other jars are library code. Methods of its classes
    /// on a traced JVM's class path that no JVM loaded are added from their class files
    /// (0 invocations). Repeatable.
    #[arg(long, value_name = "PACKAGE")]
    jvm_app: Vec<String>,

    /// JVM application code: a jar or class folder whose classes are instrumented (as
    /// --jvm-app); methods of its classes no JVM loaded are added too. Repeatable.
    #[arg(long, value_name = "JAR")]
    jvm_jar: Vec<PathBuf>,

    /// Run the command as this user.
    #[arg(long, value_name = "NAME", conflicts_with = "as_root")]
    user: Option<String>,

    /// Run the command as root (needed explicitly when the runner is root).
    #[arg(long)]
    as_root: bool,

    /// The trace file to write.
    #[arg(short, long, value_name = "TRACE")]
    output: PathBuf,

    /// Kernel ring buffer size (e.g. 64M, 512K); a power of two is used.
    #[arg(long, value_name = "SIZE", default_value = "64M", value_parser = parse_size)]
    ring_size: usize,

    /// Live application frames recorded per syscall (1 to 8).
    #[arg(long, value_name = "N", default_value_t = trace::MAX_FRAMES as u8,
          value_parser = clap::value_parser!(u8).range(1..=trace::MAX_FRAMES as i64))]
    max_frames: u8,

    /// Summary format.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,

    /// Write the summary to this file instead of stderr.
    #[arg(long, value_name = "FILE")]
    summary: Option<PathBuf>,

    /// No status line while the command runs.
    #[arg(long)]
    no_progress: bool,

    /// More logging (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count)]
    verbose: u8,

    /// The test command and its arguments.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    command: Vec<OsString>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Format {
    Text,
    Json,
}

/// `64M`, `512K`, `1G`, `4096` → bytes.
fn parse_size(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let (num, scale) = match t.char_indices().last() {
        Some((i, 'k' | 'K')) => (&t[..i], 1usize << 10),
        Some((i, 'm' | 'M')) => (&t[..i], 1 << 20),
        Some((i, 'g' | 'G')) => (&t[..i], 1 << 30),
        _ => (t, 1),
    };
    let n: usize = num
        .parse()
        .map_err(|_| format!("{s:?} is not a size like 64M, 512K or 4096"))?;
    n.checked_mul(scale)
        .filter(|&b| b > 0)
        .ok_or_else(|| format!("{s:?} is not a usable size"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    host::cli::init_logging(cli.verbose);
    match run(&cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("runner: error: {}", host::cli::error_text(e.as_ref()));
            ExitCode::from(2)
        }
    }
}

fn run(cli: &Cli) -> anyhow::Result<u8> {
    let who = identity::for_this_process(
        &Request {
            user: cli.user.clone(),
            as_root: cli.as_root,
        },
        "runner",
    )?;
    // Before the (possibly long) symbol loading: without these nothing can work.
    capture::preflight::check()?;

    let plan_started = Instant::now();
    let plan = if cli.syscalls_only {
        if !cli.bins.is_empty() {
            tracing::warn!("--syscalls-only: the --bin objects are not probed");
        }
        None
    } else {
        let jvm_only = cli.bins.is_empty() && !(cli.jvm_app.is_empty() && cli.jvm_jar.is_empty());
        if cli.bins.is_empty() && !jvm_only {
            anyhow::bail!(
                "no --bin given: name the ELF executables (and modules) the tests run, \
                 e.g. --bin build/server, or the JVM application code (--jvm-app PACKAGE, \
                 --jvm-jar JAR), or pass --syscalls-only"
            );
        }
        let opts = PlanOptions {
            bins: cli.bins.clone(),
            app_roots: cli.app_roots.clone(),
            classes: cli.include_class.clone(),
            include: cli.include.clone(),
            exclude: cli.exclude.clone(),
            skip_single_step: cli.skip_single_step,
            probe_all: cli.probe_all,
        };
        let plan = if jvm_only {
            runner::Plan::default()
        } else {
            plan::plan(&opts)?
        };
        let single = plan.single_step();
        if !jvm_only {
            eprintln!(
                "runner: probing {} functions in {} object{}{}{}",
                plan.probed(),
                plan.objects.len(),
                if plan.objects.len() == 1 { "" } else { "s" },
                match plan.pruned() {
                    0 => String::new(),
                    n => format!(
                        "; {n} not probed ({}; --probe-all probes them)",
                        plan::PRUNED_REASON
                    ),
                },
                if single > 0 {
                    format!(
                        "; {single} are probed on an instruction the kernel single-steps (~10 \
                     µs per call; the summary names the hot ones; --skip-single-step leaves \
                     them out)"
                    )
                } else {
                    String::new()
                }
            );
        }
        Some(plan)
    };
    let plan_time = plan_started.elapsed();

    let rec = record(&RecordOptions {
        output: cli.output.clone(),
        command: cli.command.clone(),
        identity: who.clone(),
        plan: plan.as_ref(),
        jvm: Some(&runner::JvmOptions {
            packages: cli.jvm_app.clone(),
            jars: cli.jvm_jar.clone(),
        }),
        ring_bytes: cli.ring_size,
        max_frames: cli.max_frames,
        flush_every: Duration::from_secs(1),
        progress: !cli.no_progress && std::io::stderr().is_terminal(),
        mute_after: (cli.mute_after > 0).then_some(cli.mute_after),
    })?;

    let code = match (rec.interrupted, rec.status) {
        (Some(sig), _) | (None, ExitStatus::Signaled(sig)) => 128 + sig,
        (None, ExitStatus::Exited(c)) => c,
    };
    let mut summary = Summary::new(
        cli.output.clone(),
        plan.as_ref(),
        &rec,
        who.describe(),
        code,
    );
    summary.plan = plan_time;
    summary.runner_cpu = host::procfs::self_cpu();
    let text = match cli.format {
        Format::Text => summary.to_text(),
        Format::Json => summary.to_json() + "\n",
    };
    match &cli.summary {
        Some(path) => std::fs::write(path, text)
            .with_context(|| format!("cannot write the summary to {}", path.display()))?,
        None => {
            let _ = std::io::stderr().write_all(text.as_bytes());
        }
    }
    // Exit statuses are 8 bits, like the shell's view of them.
    Ok((code & 0xff) as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("64M"), Ok(64 << 20));
        assert_eq!(parse_size("512k"), Ok(512 << 10));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("0").is_err());
        assert!(parse_size("M").is_err());
        assert!(parse_size("12Q").is_err());
    }

    #[test]
    fn command_line() {
        let cli = Cli::parse_from([
            "runner",
            "--bin",
            "a",
            "--bin",
            "b.so",
            "--include",
            "kv_*",
            "--user",
            "nobody",
            "-o",
            "t.trace",
            "--",
            "make",
            "-C",
            "x",
            "check",
        ]);
        assert_eq!(cli.bins.len(), 2);
        assert_eq!(cli.include_class, [SymClass::App]);
        assert_eq!(cli.command, ["make", "-C", "x", "check"]);
        assert_eq!(cli.max_frames, 8);
        assert!(
            Cli::try_parse_from([
                "runner",
                "--user",
                "x",
                "--as-root",
                "-o",
                "t",
                "--",
                "true"
            ])
            .is_err()
        );
        assert!(Cli::try_parse_from(["runner", "-o", "t"]).is_err());
        let cli = Cli::try_parse_from([
            "runner",
            "--include-class",
            "app,no_dwarf",
            "-o",
            "t",
            "--",
            "true",
        ])
        .unwrap();
        assert_eq!(cli.include_class, [SymClass::App, SymClass::NoDwarf]);
    }
}
