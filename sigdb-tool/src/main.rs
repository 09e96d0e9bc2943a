//! `sigdb`: look at, check and compare perfscope signature databases.
//!
//! Exit codes, like grep and diff: `show` 0, or 1 when a `--function` was not found;
//! `verify` 0 when every file is good, 1 when a file is well formed but not to be trusted
//! (trained on damaged traces, or without any signature); `diff` 0 when the signatures are
//! the same (differences within the noise model, or resting on too few invocations, are
//! shown but do not count), 1 when they differ; 2 for any error (unreadable, damaged,
//! newer-format or non-sigdb file, databases of two targets or two ways of mining, bad
//! arguments).

mod render;
mod show;
mod table;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::render::Labels;
use anyhow::{Context as _, anyhow, bail};
use clap::{Parser, Subcommand, ValueEnum};
use serde::Serialize;
use sigdb::{DiffOptions, Sigdb, SigdbError};

#[derive(Parser)]
#[command(
    name = "sigdb",
    version,
    about = "Show, verify and diff perfscope signature databases"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print a database: a header summary and the signature of every function.
    Show(ShowArgs),
    /// Check databases fully (structure, order, record count, checksum).
    Verify(VerifyArgs),
    /// Compare two databases; exit 0 when the signatures are the same, 1 when they differ.
    Diff(DiffArgs),
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Text,
    Json,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum DiffFormat {
    Text,
    Json,
    Markdown,
    Sarif,
}

#[derive(clap::Args)]
struct ShowArgs {
    /// The signature database (.sigdb).
    db: PathBuf,
    /// text for people, json for programs (JSON Lines, see the sigdb README).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Only this function (all records of that name), with every detail in text; repeatable.
    #[arg(long, value_name = "NAME")]
    function: Vec<String>,
}

#[derive(clap::Args)]
struct VerifyArgs {
    /// Signature databases (.sigdb).
    #[arg(required = true)]
    dbs: Vec<PathBuf>,
    /// text for people, json for programs (one line per file).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

#[derive(clap::Args)]
struct DiffArgs {
    /// The database before (e.g. of the last release).
    old: PathBuf,
    /// The database after.
    new: PathBuf,
    /// One line per changed function with a +/-/~ bar of its episodes, like `git diff --stat`.
    #[arg(long)]
    stat: bool,
    /// text for a terminal, markdown for a pull-request comment, json for programs, sarif
    /// (2.1.0) for code scanning.
    #[arg(long, value_enum, default_value_t = DiffFormat::Text)]
    format: DiffFormat,
    /// With --format sarif or markdown: source files under DIR (the folder the trained
    /// build was compiled in) get paths relative to it.
    #[arg(long, value_name = "DIR")]
    source_root: Option<PathBuf>,
    /// With --format markdown and --source-root: link functions to their source lines at
    /// URL/PATH#LLINE (e.g. https://github.com/o/r/blob/COMMIT).
    #[arg(long, value_name = "URL", requires = "source_root")]
    repo_url: Option<String>,
    /// Smallest change of an episode's support (occurrences per invocation) that counts.
    #[arg(long, value_name = "X", default_value_t = DiffOptions::default().support_abs,
          value_parser = non_negative)]
    tolerance: f64,
    /// ... and the smallest relative change, of the larger support (0.25 = 25 %).
    #[arg(long, value_name = "R", default_value_t = DiffOptions::default().support_rel,
          value_parser = non_negative)]
    relative_tolerance: f64,
    /// ... and how many standard errors of the two supports it must be away from zero.
    #[arg(long, value_name = "Z", default_value_t = DiffOptions::default().z,
          value_parser = non_negative)]
    significance: f64,
    /// Count a change of a function's invocation count as a signature change.
    #[arg(long)]
    invocations: bool,
    /// Count changes of the pseudo-function of syscalls outside application code.
    #[arg(long)]
    outside: bool,
    /// Count changes made only of syscalls that follow the process's state: the heap's
    /// (brk, mmap, munmap, mremap, madvise) and lock contention (futex).
    #[arg(long)]
    process_state: bool,
}

fn non_negative(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if x.is_finite() && x >= 0.0 => Ok(x),
        _ => Err(format!("{s:?} is not a non-negative number")),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Show(a) => run_show(&a),
        Command::Verify(a) => run_verify(&a),
        Command::Diff(a) => run_diff(&a),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("sigdb: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run_show(a: &ShowArgs) -> anyhow::Result<u8> {
    let db = open(&a.db)?;
    let path = a.db.display().to_string();
    let missing = show::missing(&db, &a.function);
    for name in &missing {
        eprintln!("sigdb: no function named `{name}` in {path}");
    }
    let out = match a.format {
        Format::Text => show::text(&db, &path, &a.function),
        Format::Json => show::json_lines(&db, &path, &a.function),
    };
    emit(&out)?;
    Ok(if missing.is_empty() { 0 } else { 1 })
}

#[derive(Serialize)]
struct VerifyLine<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    path: &'a str,
    ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    records: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    doubts: Vec<String>,
}

fn run_verify(a: &VerifyArgs) -> anyhow::Result<u8> {
    let (mut failed, mut doubted) = (false, false);
    for p in &a.dbs {
        let path = p.display().to_string();
        let result = open(p);
        failed |= result.is_err();
        let doubts = result.as_ref().map(Sigdb::doubts).unwrap_or_default();
        doubted |= !doubts.is_empty();
        match a.format {
            Format::Text => match &result {
                Ok(db) => {
                    let verdict = if doubts.is_empty() { "ok" } else { "doubtful" };
                    let mut out = format!(
                        "{verdict} {path} ({} records, format v{})\n",
                        db.records.len(),
                        db.header.version
                    );
                    for d in &doubts {
                        out.push_str(&format!("  {d}\n"));
                    }
                    emit(&out)?;
                }
                Err(e) => eprintln!("sigdb: error: {e:#}"),
            },
            Format::Json => {
                let line = VerifyLine {
                    kind: "verify",
                    path: &path,
                    ok: result.is_ok(),
                    records: result.as_ref().ok().map(|db| db.records.len()),
                    version: result.as_ref().ok().map(|db| db.header.version),
                    error: result.as_ref().err().map(|e| format!("{e:#}")),
                    doubts,
                };
                emit(&(serde_json::to_string(&line)? + "\n"))?;
            }
        }
    }
    Ok(if failed {
        2
    } else if doubted {
        1
    } else {
        0
    })
}

fn run_diff(a: &DiffArgs) -> anyhow::Result<u8> {
    if a.stat && a.format != DiffFormat::Text {
        bail!("--stat is a text report: use it without --format, or drop --stat");
    }
    if a.source_root.is_some() && !matches!(a.format, DiffFormat::Sarif | DiffFormat::Markdown) {
        bail!(
            "--source-root only changes SARIF locations and Markdown links: add --format sarif \
             or markdown, or drop it"
        );
    }
    let old = open(&a.old)?;
    let new = open(&a.new)?;
    sigdb::comparable(&old, &new).map_err(|e| {
        anyhow!(
            "cannot compare {} with {}: {e}",
            a.old.display(),
            a.new.display()
        )
    })?;
    let options = DiffOptions {
        support_abs: a.tolerance,
        support_rel: a.relative_tolerance,
        invocations: a.invocations,
        z: a.significance,
        outside: a.outside,
        process_state: a.process_state,
    };
    let d = sigdb::diff_with(&old, &new, &options);
    let (old_label, new_label) = (a.old.display().to_string(), a.new.display().to_string());
    let labels = Labels {
        old: &old_label,
        new: &new_label,
    };
    let out = match (a.format, a.stat) {
        (DiffFormat::Text, true) => render::stat(&d),
        (DiffFormat::Text, false) => render::text(&d, labels),
        (DiffFormat::Markdown, _) => render::markdown(
            &d,
            labels,
            &render::Links {
                source_root: a.source_root.as_deref(),
                repo_url: a.repo_url.as_deref(),
            },
        ),
        (DiffFormat::Json, _) => render::json(&d, labels),
        (DiffFormat::Sarif, _) => render::sarif(
            &d,
            &old,
            &new,
            labels,
            &render::SarifOptions {
                source_root: a.source_root.as_deref(),
            },
        ),
    };
    emit(&out)?;
    Ok(if d.differs() { 1 } else { 0 })
}

/// Reads and checks a database; the error names the file and what to do about it.
fn open(path: &Path) -> anyhow::Result<Sigdb> {
    sigdb::read(path).map_err(|e| {
        let what = match &e {
            SigdbError::Open { source, .. } => format!("cannot open: {source}"),
            other => other.to_string(),
        };
        match hint(&e) {
            Some(h) => anyhow!("{}: {what}; {h}", path.display()),
            None => anyhow!("{}: {what}", path.display()),
        }
    })
}

fn hint(e: &SigdbError) -> Option<&'static str> {
    match e {
        SigdbError::NotASigdb(_) | SigdbError::WrongFormat { .. } | SigdbError::Empty => {
            Some("check the path: signature databases are the .sigdb files the trainer writes")
        }
        SigdbError::UnsupportedVersion { .. } => {
            Some("train again with this perfscope to re-create it")
        }
        SigdbError::Malformed { .. }
        | SigdbError::RecordCount { .. }
        | SigdbError::Checksum { .. }
        | SigdbError::Order { .. } => Some(
            "the file is damaged, cut short or was edited by hand: train again to re-create it",
        ),
        _ => None,
    }
}

/// Writes to stdout; a reader that went away (`| head`) is not an error.
fn emit(s: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(s.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => r.context("cannot write to standard output"),
    }
}
