//! `trainer`: learns per-function syscall signatures from perfscope traces and writes a
//! signature database. Exit codes: 0 done, 2 error.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::{Parser, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use trace::FunctionClass;
use trainer::{Params, Selection, TrainOptions};

/// Train perfscope signatures: per-function frequent syscall episodes from traces
/// recorded by `runner`.
#[derive(Debug, Parser)]
#[command(name = "trainer", version)]
struct Cli {
    /// Signature database to write (replaced atomically).
    #[arg(short, long, value_name = "SIGDB")]
    output: PathBuf,

    /// Trace files; several traces (shards of one test suite) add up.
    #[arg(value_name = "TRACE", required = true)]
    traces: Vec<PathBuf>,

    /// Target name recorded in the database [default: file name of the first traced
    /// object].
    #[arg(long)]
    target_name: Option<String>,

    /// Target version recorded in the database.
    #[arg(long, default_value = "")]
    target_version: String,

    /// Also attribute each syscall to this many enclosing application frames.
    #[arg(long, default_value_t = Params::default().callers)]
    callers: u32,

    /// Longest episode mined.
    #[arg(long, default_value_t = Params::default().max_episode_len)]
    max_episode_len: u32,

    /// Occurrences must span less than this (e.g. 10ms, 500us, 1s; `off` for none).
    #[arg(long, default_value = "10ms", value_parser = parse_expiry)]
    expiry: Expiry,

    /// No expiry: occurrences may span any time (same as --expiry off).
    #[arg(long)]
    no_expiry: bool,

    /// Frequent needs at least this many non-overlapped occurrences per invocation.
    #[arg(long, default_value_t = Params::default().min_support)]
    min_support: f64,

    /// ...and an occurrence in at least this fraction of invocations (0 to 1).
    #[arg(long, default_value_t = Params::default().min_coverage)]
    min_coverage: f64,

    /// Functions invoked fewer times get no signature.
    #[arg(long, default_value_t = Params::default().min_invocations)]
    min_invocations: u64,

    /// At most this many episodes per function, most specific first (0: no cap).
    #[arg(long, default_value_t = Params::default().max_episodes)]
    max_episodes: u32,

    /// Function classes that count as application code (comma-separated).
    #[arg(long, value_enum, value_delimiter = ',', default_value = "app")]
    app_classes: Vec<ClassArg>,

    /// Which frequent episodes make the signature.
    #[arg(long, value_enum, default_value = "closed")]
    selection: SelectionArg,

    /// Cut syscalls outside application code into segments at gaps longer than this.
    #[arg(long, default_value = "10ms", value_parser = parse_duration)]
    outside_gap: u64,

    /// Stop going longer for a function whose candidates of some length exceed this.
    #[arg(long, default_value_t = Params::default().max_candidates)]
    max_candidates: usize,

    /// Signatures resting on fewer invocations are marked low evidence (a diff shows
    /// their changes without counting them).
    #[arg(long, default_value_t = Params::default().min_evidence)]
    min_evidence: u64,

    /// Train even on damaged traces (cut or damaged files, events the kernel lost,
    /// frames of unknown functions): the database records what each trace lost, and
    /// `sigdb verify` and perfscope say so. Without it such traces are refused (exit 2).
    #[arg(long)]
    keep_going: bool,

    /// Worker threads for mining [default: one per core].
    #[arg(long)]
    threads: Option<usize>,

    /// Summary format on stdout.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,

    /// More logging (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count)]
    verbose: u8,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Format {
    Text,
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum ClassArg {
    App,
    RustStd,
    Crate,
    System,
    NoDwarf,
}

impl From<ClassArg> for FunctionClass {
    fn from(c: ClassArg) -> FunctionClass {
        match c {
            ClassArg::App => FunctionClass::App,
            ClassArg::RustStd => FunctionClass::RustStd,
            ClassArg::Crate => FunctionClass::Crate,
            ClassArg::System => FunctionClass::System,
            ClassArg::NoDwarf => FunctionClass::NoDwarf,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum SelectionArg {
    Closed,
    Maximal,
    All,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Expiry(Option<u64>);

fn parse_expiry(s: &str) -> Result<Expiry, String> {
    match s {
        "off" | "none" => Ok(Expiry(None)),
        _ => parse_duration(s).map(|ns| Expiry(Some(ns))),
    }
}

/// `10ms`, `500us`, `2s`, `250000ns` → nanoseconds.
fn parse_duration(s: &str) -> Result<u64, String> {
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration like 10ms, 500us or 1s"))?;
    let scale = match unit {
        "ns" => 1,
        "us" | "µs" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "" if n == 0 => 1,
        _ => return Err(format!("{s:?} needs a unit: ns, us, ms or s")),
    };
    n.checked_mul(scale)
        .ok_or_else(|| format!("{s:?} is too long"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    host::cli::init_logging(cli.verbose);
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("trainer: error: {}", host::cli::error_text(e.as_ref()));
            ExitCode::from(2)
        }
    }
}

fn params(cli: &Cli) -> Params {
    Params {
        callers: cli.callers,
        max_episode_len: cli.max_episode_len,
        expiry_ns: if cli.no_expiry { None } else { cli.expiry.0 },
        min_support: cli.min_support,
        min_coverage: cli.min_coverage,
        min_invocations: cli.min_invocations,
        max_episodes: cli.max_episodes,
        app_classes: cli.app_classes.iter().map(|&c| c.into()).collect(),
        selection: match cli.selection {
            SelectionArg::Closed => Selection::Closed,
            SelectionArg::Maximal => Selection::Maximal,
            SelectionArg::All => Selection::All,
        },
        outside_gap_ns: cli.outside_gap,
        max_candidates: cli.max_candidates,
        min_evidence: cli.min_evidence,
    }
}

fn run(cli: &Cli) -> anyhow::Result<()> {
    let started = Instant::now();
    if let Some(n) = cli.threads {
        if n == 0 {
            bail!("--threads must be at least 1");
        }
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
            .context("cannot start the worker threads")?;
    }
    let opts = TrainOptions {
        target_name: cli.target_name.clone().unwrap_or_default(),
        target_version: cli.target_version.clone(),
        params: params(cli),
        keep_going: cli.keep_going,
    };
    opts.params.validate()?;

    let sizes: Vec<u64> = cli
        .traces
        .iter()
        .map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .collect();
    let bar = progress_bar(sizes.iter().sum());
    let mut done_before = vec![0u64; sizes.len() + 1];
    for (i, s) in sizes.iter().enumerate() {
        done_before[i + 1] = done_before[i] + s;
    }
    let mut collector = trainer::Collector::new(&opts.params);
    for (i, path) in cli.traces.iter().enumerate() {
        bar.set_message(path.display().to_string());
        tracing::info!("reading {}", path.display());
        collector.add_trace(path, &mut |p| {
            bar.set_position(done_before[i] + p.bytes);
        })?;
    }
    tracing::info!(
        "read the traces in {:.2} s",
        started.elapsed().as_secs_f64()
    );
    let collected = collector.finish();
    if let Err(e) = collected.check_damage(cli.keep_going) {
        bar.finish_and_clear();
        return Err(e.into());
    }
    if !collected.damage.is_empty() {
        tracing::warn!(
            "training on damaged traces (--keep-going):\n  {}",
            collected.damage.join("\n  ")
        );
    }
    bar.set_message("mining episodes");
    let mining = Instant::now();
    let mut trained = trainer::build(collected, &opts);
    bar.finish_and_clear();
    tracing::info!("mined in {:.2} s", mining.elapsed().as_secs_f64());

    if cli.target_name.is_none() {
        let db = &mut trained.sigdb;
        if let Some(o) = db.header.target.objects.first() {
            db.header.target.name = std::path::Path::new(&o.path)
                .file_name()
                .map_or_else(|| o.path.clone(), |n| n.to_string_lossy().into_owned());
        }
    }
    for w in &trained.summary.warnings {
        tracing::warn!("{w}");
    }
    let writing = Instant::now();
    sigdb::write(&trained.sigdb, &cli.output).with_context(|| {
        format!(
            "cannot write the signature database {}",
            cli.output.display()
        )
    })?;
    tracing::info!(
        "wrote the database in {:.2} s",
        writing.elapsed().as_secs_f64()
    );
    let elapsed = started.elapsed();
    match cli.format {
        Format::Text => print!("{}", trained.summary.to_text(elapsed)),
        Format::Json => println!("{}", trained.summary.to_json(elapsed)),
    }
    Ok(())
}

/// A bar over the bytes of all traces, hidden when stderr is not a terminal.
fn progress_bar(total: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_need_units_except_zero() {
        assert_eq!(parse_duration("10ms"), Ok(10_000_000));
        assert_eq!(parse_duration("500us"), Ok(500_000));
        assert_eq!(parse_duration("2s"), Ok(2_000_000_000));
        assert_eq!(parse_duration("7ns"), Ok(7));
        assert_eq!(parse_duration("0"), Ok(0));
        assert!(parse_duration("10").is_err());
        assert!(parse_duration("ms").is_err());
        assert!(parse_duration("99999999999999999999s").is_err());
        assert_eq!(parse_expiry("off"), Ok(Expiry(None)));
        assert_eq!(parse_expiry("1ms"), Ok(Expiry(Some(1_000_000))));
    }

    #[test]
    fn cli_defaults_are_the_library_defaults() {
        let cli = Cli::parse_from(["trainer", "-o", "x.sigdb", "t.trace"]);
        assert_eq!(params(&cli), Params::default());
        let cli = Cli::parse_from(["trainer", "-o", "x", "t", "--no-expiry"]);
        assert_eq!(params(&cli).expiry_ns, None);
    }
}
