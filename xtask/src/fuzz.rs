//! `cargo xtask fuzz`: runs the fuzz targets of `fuzz/` (cargo-fuzz, libFuzzer, nightly)
//! for a fixed time each and says, per target, how much was run and whether anything
//! crashed. Exit status 0: no finding; 1: a target crashed, hung or ran out of memory (the
//! input is in `fuzz/artifacts/TARGET/`); 2: the fuzzers could not be run.
//!
//! New corpus entries go to `fuzz/target/corpus/TARGET/`, not to the committed seeds in
//! `fuzz/corpus/TARGET/`, so that a run leaves the checkout as it was (but for findings).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::procs;
use crate::progress::Progress;

/// Run the fuzz targets of fuzz/ for a while each (cargo-fuzz on the nightly toolchain,
/// which is installed if missing, as is cargo-fuzz). Exit status 1: a target crashed.
#[derive(Debug, clap::Args)]
pub struct Options {
    /// Seconds of fuzzing per target.
    #[arg(long, value_name = "N", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub seconds: u64,

    /// Only this target (repeatable) [default: every fuzz/fuzz_targets/*.rs].
    #[arg(long = "target", value_name = "NAME")]
    pub targets: Vec<String>,
}

/// libFuzzer's limits: an input that takes longer (seconds) is a hang, a process that
/// grows larger (MB; with ASan, also one allocation that large) is out of memory.
const INPUT_TIMEOUT: u64 = 10;
const RSS_LIMIT_MB: u64 = 2048;

/// Findings are artifacts with these prefixes (`slow-unit-` ones are not).
const FINDINGS: [&str; 5] = ["crash-", "oom-", "timeout-", "leak-", "deadly-signal-"];

/// What libFuzzer said about one run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub executions: Option<u64>,
    pub exec_per_sec: Option<u64>,
    pub new_units: Option<u64>,
    pub peak_rss_mb: Option<u64>,
    /// Edges covered (`cov:`) and features (`ft:`) at the last status line.
    pub coverage: Option<u64>,
    pub features: Option<u64>,
    /// Corpus entries at the end (`corp:`).
    pub corpus: Option<u64>,
}

/// How one target's run went.
#[derive(Debug)]
struct Outcome {
    target: String,
    stats: Stats,
    findings: Vec<PathBuf>,
    /// The panic (or libFuzzer's error line) of a finding, from the log.
    why: String,
    log: PathBuf,
}

pub fn run(opts: Options) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let root = crate::workspace_root();
    let fuzz_dir = root.join("fuzz");
    let all = targets(&fuzz_dir)?;
    let chosen = if opts.targets.is_empty() {
        all.clone()
    } else {
        for t in &opts.targets {
            if !all.contains(t) {
                bail!("no fuzz target {t:?} (known: {})", all.join(", "));
            }
        }
        opts.targets.clone()
    };
    let progress = Progress::new("fuzz");
    let logs = fuzz_dir.join("target").join("xtask");
    std::fs::create_dir_all(&logs).with_context(|| format!("cannot create {}", logs.display()))?;
    ensure_nightly(&progress, &logs)?;
    ensure_cargo_fuzz(&progress, &logs)?;

    let log = fresh_log(&logs, "build.log")?;
    let mut cmd = cargo_fuzz(&root, &fuzz_dir, "build");
    progress
        .step("build (cargo +nightly fuzz build -a)")
        .run_logged(
            "cargo fuzz build",
            &mut cmd,
            &log,
            None,
            "cannot build the fuzz targets",
            20,
        )?
        .done("");

    let mut outcomes = Vec::new();
    for t in &chosen {
        outcomes.push(fuzz_one(
            &root,
            &fuzz_dir,
            &logs,
            t,
            opts.seconds,
            &progress,
        )?);
    }
    print_summary(&outcomes);
    let found: Vec<&Outcome> = outcomes.iter().filter(|o| !o.findings.is_empty()).collect();
    for o in &found {
        for f in &o.findings {
            let rel = f.strip_prefix(&root).unwrap_or(f);
            println!("\n{}: {} ({})", o.target, rel.display(), kind_of(f));
            if !o.why.is_empty() {
                println!("  {}", o.why.replace('\n', "\n  "));
            }
            println!(
                "  reproduce (in {}): cargo +nightly fuzz run -a {} {}",
                root.display(),
                o.target,
                rel.display()
            );
            println!(
                "  minimize: cargo +nightly fuzz tmin -a {} {}",
                o.target,
                rel.display()
            );
            println!("  log: {}", o.log.display());
        }
    }
    eprintln!(
        "fuzz: {} target(s), {} s each, {:.0} s in all",
        outcomes.len(),
        opts.seconds,
        started.elapsed().as_secs_f64()
    );
    Ok(if found.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Runs one target for `seconds` and collects what it found.
fn fuzz_one(
    root: &Path,
    fuzz_dir: &Path,
    logs: &Path,
    target: &str,
    seconds: u64,
    progress: &Progress,
) -> anyhow::Result<Outcome> {
    let work = fuzz_dir.join("target").join("corpus").join(target);
    let seeds = fuzz_dir.join("corpus").join(target);
    let artifacts = fuzz_dir.join("artifacts").join(target);
    for d in [&work, &seeds, &artifacts] {
        std::fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
    }
    let before = findings_in(&artifacts);
    let log = fresh_log(logs, &format!("{target}.log"))?;
    let mut cmd = cargo_fuzz(root, fuzz_dir, "run");
    cmd.arg(target)
        .arg(&work)
        .arg(&seeds)
        .arg("--")
        .arg(format!("-max_total_time={seconds}"))
        .arg(format!("-rss_limit_mb={RSS_LIMIT_MB}"))
        .arg(format!("-timeout={INPUT_TIMEOUT}"))
        .arg("-print_final_stats=1");
    let mut step = progress.step(&format!("{target} ({seconds} s)"));
    step.watch_log(&log);
    // libFuzzer stops itself; the margin covers loading the corpus and a last hang
    let limit = Duration::from_secs(seconds + 4 * INPUT_TIMEOUT + 120);
    let end = procs::run_logged(target, &mut cmd, &log, Some(limit), &mut || step.tick())?;
    let text = String::from_utf8_lossy(&std::fs::read(&log).unwrap_or_default()).into_owned();
    let stats = parse_stats(&text);
    let findings: Vec<PathBuf> = findings_in(&artifacts)
        .into_iter()
        .filter(|f| !before.contains(f))
        .collect();
    if findings.is_empty() && !end.success() {
        step.failed(&end.describe());
        bail!(
            "fuzz target {target} failed ({}) without leaving an input; see {}:\n{}",
            end.describe(),
            log.display(),
            procs::log_tail(&log, 20)
        );
    }
    let note = format!(
        "{} executions, {}/s",
        show(stats.executions),
        show(stats.exec_per_sec)
    );
    if findings.is_empty() {
        step.done(&note);
    } else {
        step.failed(&format!("{note}; {}", kind_of(&findings[0])));
    }
    Ok(Outcome {
        target: target.to_string(),
        stats,
        findings,
        why: why(&text),
        log,
    })
}

/// The fuzz targets: `fuzz/fuzz_targets/*.rs`, by name.
fn targets(fuzz_dir: &Path) -> anyhow::Result<Vec<String>> {
    let dir = fuzz_dir.join("fuzz_targets");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .with_context(|| format!("cannot list the fuzz targets in {}", dir.display()))?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let p = e.path();
            (p.extension()? == "rs")
                .then(|| p.file_stem()?.to_str().map(str::to_string))
                .flatten()
        })
        .collect();
    names.sort();
    if names.is_empty() {
        bail!("no fuzz target in {}", dir.display());
    }
    Ok(names)
}

/// `cargo +nightly fuzz SUB --fuzz-dir fuzz -a`, in the workspace, with none of the
/// toolchain choices of the `cargo run` that started the xtask.
fn cargo_fuzz(root: &Path, fuzz_dir: &Path, sub: &str) -> Command {
    let mut cmd = toolchain_cargo("+nightly");
    cmd.args(["fuzz", sub, "--fuzz-dir"])
        .arg(fuzz_dir)
        // debug assertions: an overflow in our code on a crafted input is a finding
        .arg("--debug-assertions")
        .current_dir(root);
    cmd
}

/// `cargo` through rustup's proxy (not `$CARGO`, the stable cargo that runs the xtask).
fn toolchain_cargo(toolchain: &str) -> Command {
    let mut cmd = Command::new("cargo");
    if !toolchain.is_empty() {
        cmd.arg(toolchain);
    }
    cmd.env_remove("RUSTUP_TOOLCHAIN")
        .env_remove("CARGO")
        .env_remove("RUSTC")
        .env_remove("RUSTDOC");
    cmd
}

/// Whether `cmd` runs and succeeds (its output discarded).
fn succeeds(cmd: &mut Command) -> bool {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The nightly toolchain, installed once (minimal profile) if missing.
fn ensure_nightly(progress: &Progress, logs: &Path) -> anyhow::Result<()> {
    let mut check = Command::new("rustup");
    check.args(["run", "nightly", "rustc", "--version"]);
    check.env_remove("RUSTUP_TOOLCHAIN");
    if succeeds(&mut check) {
        return Ok(());
    }
    if !succeeds(Command::new("rustup").arg("--version")) {
        bail!(
            "rustup is not installed: cargo-fuzz needs the nightly toolchain through rustup \
             (https://rustup.rs), then `rustup toolchain install nightly --profile minimal`"
        );
    }
    progress.note(
        "the nightly toolchain is missing: installing it with `rustup toolchain install \
         nightly --profile minimal`",
    );
    let log = fresh_log(logs, "nightly.log")?;
    let mut cmd = Command::new("rustup");
    cmd.args(["toolchain", "install", "nightly", "--profile", "minimal"]);
    progress
        .step("rustup toolchain install nightly")
        .run_logged(
            "rustup",
            &mut cmd,
            &log,
            None,
            "cannot install the nightly toolchain, which cargo-fuzz needs; install it by \
             hand (`rustup toolchain install nightly --profile minimal`) and run again",
            10,
        )?
        .done("");
    Ok(())
}

/// `cargo fuzz`, installed (`cargo install cargo-fuzz --locked`) if missing.
fn ensure_cargo_fuzz(progress: &Progress, logs: &Path) -> anyhow::Result<()> {
    if succeeds(toolchain_cargo("").args(["fuzz", "--version"])) {
        return Ok(());
    }
    progress.note(
        "cargo-fuzz is not installed: installing it with `cargo install cargo-fuzz --locked` \
         (once, a few minutes)",
    );
    let log = fresh_log(logs, "cargo-install.log")?;
    let mut cmd = toolchain_cargo("");
    cmd.args(["install", "cargo-fuzz", "--locked"]);
    progress
        .step("cargo install cargo-fuzz")
        .run_logged(
            "cargo install",
            &mut cmd,
            &log,
            None,
            "cannot install cargo-fuzz",
            15,
        )?
        .done("");
    if !succeeds(toolchain_cargo("").args(["fuzz", "--version"])) {
        bail!("cargo-fuzz was installed but `cargo fuzz` does not run: is ~/.cargo/bin on PATH?");
    }
    Ok(())
}

/// `dir/name`, emptied (the logger appends).
fn fresh_log(dir: &Path, name: &str) -> anyhow::Result<PathBuf> {
    let log = dir.join(name);
    std::fs::write(&log, "").with_context(|| format!("cannot create {}", log.display()))?;
    Ok(log)
}

/// Crash, hang and out-of-memory inputs in an artifact folder.
fn findings_in(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| FINDINGS.iter().any(|f| n.starts_with(f)))
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// What an artifact is, from its name.
fn kind_of(artifact: &Path) -> &'static str {
    let name = artifact.file_name().and_then(|n| n.to_str()).unwrap_or("");
    match name.split('-').next().unwrap_or("") {
        "crash" => "crash",
        "oom" => "out of memory",
        "timeout" => "hang",
        "leak" => "leak",
        _ => "deadly signal",
    }
}

/// libFuzzer's final stats (`-print_final_stats=1`) and its last status line.
pub fn parse_stats(log: &str) -> Stats {
    let stat = |name: &str| {
        log.lines()
            .rev()
            .find_map(|l| l.trim().strip_prefix(name)?.strip_prefix(':'))
            .and_then(|v| v.trim().parse().ok())
    };
    let status = log
        .lines()
        .rev()
        .find(|l| l.starts_with('#') && l.contains(" cov: "));
    let field = |name: &str| -> Option<u64> {
        let words: Vec<&str> = status?.split_whitespace().collect();
        let i = words.iter().position(|w| *w == name)?;
        let v = words.get(i + 1)?;
        // `corp: 41/3567b`: entries/bytes
        v.split('/').next()?.parse().ok()
    };
    Stats {
        executions: stat("stat::number_of_executed_units"),
        exec_per_sec: stat("stat::average_exec_per_sec"),
        new_units: stat("stat::new_units_added"),
        peak_rss_mb: stat("stat::peak_rss_mb"),
        coverage: field("cov:"),
        features: field("ft:"),
        corpus: field("corp:"),
    }
}

/// The panic of a finding (message and location), or libFuzzer's error line.
fn why(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    if let Some(i) = lines.iter().position(|l| l.contains("panicked at")) {
        let end = (i + 4).min(lines.len());
        let msg: Vec<&str> = lines[i..end]
            .iter()
            .take_while(|l| !l.starts_with("note:") && !l.starts_with("==") && !l.is_empty())
            .copied()
            .collect();
        return msg.join("\n");
    }
    lines
        .iter()
        .find(|l| l.contains("ERROR: libFuzzer:") || l.contains("ERROR: AddressSanitizer"))
        .map(|l| {
            l.trim_start_matches(|c: char| c == '=' || c.is_ascii_digit())
                .trim()
                .to_string()
        })
        .unwrap_or_default()
}

fn show(v: Option<u64>) -> String {
    v.map_or_else(|| "?".to_string(), |v| v.to_string())
}

fn print_summary(outcomes: &[Outcome]) {
    println!(
        "{:<16} {:>12} {:>9} {:>5} {:>6} {:>7} {:>6} {:>7} {:>8}",
        "target", "executions", "exec/s", "new", "corpus", "cov", "ft", "rss MB", "findings"
    );
    for o in outcomes {
        let s = &o.stats;
        println!(
            "{:<16} {:>12} {:>9} {:>5} {:>6} {:>7} {:>6} {:>7} {:>8}",
            o.target,
            show(s.executions),
            show(s.exec_per_sec),
            show(s.new_units),
            show(s.corpus),
            show(s.coverage),
            show(s.features),
            show(s.peak_rss_mb),
            o.findings.len()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libfuzzer_final_stats_are_read() {
        let log = "\
INFO: seed corpus: files: 3 min: 1b max: 30b total: 40b rss: 30Mb
#3\tINITED cov: 10 ft: 11 corp: 3/40b exec/s: 0 rss: 31Mb
#64\tNEW    cov: 12 ft: 14 corp: 4/52b lim: 4 exec/s: 0 rss: 31Mb L: 12/30 MS: 1 ChangeBit-
#1024\tDONE   cov: 321 ft: 654 corp: 41/3567b lim: 4096 exec/s: 512 rss: 48Mb
Done 1024 runs in 2 second(s)
stat::number_of_executed_units: 1024
stat::average_exec_per_sec:     512
stat::new_units_added:          38
stat::slowest_unit_time_sec:    0
stat::peak_rss_mb:              48
";
        assert_eq!(
            parse_stats(log),
            Stats {
                executions: Some(1024),
                exec_per_sec: Some(512),
                new_units: Some(38),
                peak_rss_mb: Some(48),
                coverage: Some(321),
                features: Some(654),
                corpus: Some(41),
            }
        );
        assert_eq!(parse_stats(""), Stats::default());
    }

    #[test]
    fn a_panic_is_found_in_the_log() {
        let log = "\
#12\tNEW    cov: 12 ft: 14 corp: 4/52b
thread '<unnamed>' panicked at trace/src/codec.rs:12:5:
attempt to subtract with overflow
note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace
==123== ERROR: libFuzzer: deadly signal
";
        assert_eq!(
            why(log),
            "thread '<unnamed>' panicked at trace/src/codec.rs:12:5:\n\
             attempt to subtract with overflow"
        );
        assert_eq!(
            why("==1== ERROR: libFuzzer: timeout after 10 seconds"),
            "ERROR: libFuzzer: timeout after 10 seconds"
        );
        assert_eq!(kind_of(Path::new("a/timeout-abc")), "hang");
    }
}
