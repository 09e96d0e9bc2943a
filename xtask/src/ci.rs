//! `cargo xtask ci`: what CI runs once the machine is set up, in order, stopping at the
//! first failure: formatting, clippy, tidy, the workspace tests, a minute of fuzzing, the
//! demo, a quick training of lighttpd, the diff check on it (a retraining must not differ,
//! a one-line patch must show as its function alone) and one real bug case on it. Prints
//! each step's time and a summary.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::ValueEnum;

use crate::procs::{self, End, Job};

/// Run the CI steps in order (fmt, clippy, tidy, test, fuzz, demo, train, diffcheck, eval), stopping at the
/// first failure. demo, train and eval need root; as root, `cargo test` also runs the
/// privileged tests.
#[derive(Debug, clap::Args)]
pub struct Options {
    /// Leave out these steps (repeatable, or comma-separated).
    #[arg(long, value_enum, value_delimiter = ',', value_name = "STEP")]
    pub skip: Vec<StepName>,

    /// Work folder of train and eval; `ci-eval.json` is written there [default:
    /// WORKSPACE/work, or /var/tmp/perfscope-work when the workspace is not traversable by
    /// the test user].
    #[arg(long, value_name = "DIR")]
    pub work: Option<PathBuf>,
}

/// The steps, in the order they run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub enum StepName {
    /// cargo fmt --all -- --check
    Fmt,
    /// cargo clippy --workspace --all-targets --locked -- -D warnings
    Clippy,
    /// cargo xtask tidy: ARCHITECTURE.md's code map and invariants
    Tidy,
    /// cargo test --workspace --locked, with PERFSCOPE_NO_SKIP=1: a test that would skip
    /// (no root, no BTF, a missing tool) fails
    Test,
    /// cargo xtask fuzz --seconds 10: every fuzz target for 10 s (a minute in all; cargo-fuzz
    /// and the nightly toolchain are installed if missing)
    Fuzz,
    /// cargo xtask demo (the injected function must rank first)
    Demo,
    /// cargo xtask train --target lighttpd --quick
    Train,
    /// cargo xtask diffcheck --target lighttpd: one unpatched retraining (the train step's
    /// build and capture reused for the first) and one with
    /// fixtures/diffcheck/lighttpd.patch
    Diffcheck,
    /// cargo xtask eval --quick --cases eval/LT-3 (a miss is reported, not a failure)
    Eval,
}

const STEPS: [StepName; 9] = [
    StepName::Fmt,
    StepName::Clippy,
    StepName::Tidy,
    StepName::Test,
    StepName::Fuzz,
    StepName::Demo,
    StepName::Train,
    StepName::Diffcheck,
    StepName::Eval,
];

/// The case the eval step runs: a real development case on lighttpd.
const EVAL_CASE: &str = "eval/LT-3";

impl StepName {
    fn name(self) -> &'static str {
        match self {
            StepName::Fmt => "fmt",
            StepName::Clippy => "clippy",
            StepName::Tidy => "tidy",
            StepName::Test => "test",
            StepName::Fuzz => "fuzz",
            StepName::Demo => "demo",
            StepName::Train => "train",
            StepName::Diffcheck => "diffcheck",
            StepName::Eval => "eval",
        }
    }
}

/// How one step went.
#[derive(Clone, Debug, PartialEq)]
enum Outcome {
    Skipped,
    Passed { took: Duration, note: String },
    Failed { took: Duration, why: String },
}

/// The command line of a step: program and arguments.
fn command_of(step: StepName, xtask: &Path, work: &Path) -> Vec<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let x = xtask.display().to_string();
    let w = work.display().to_string();
    let case = crate::workspace_root()
        .join(EVAL_CASE)
        .display()
        .to_string();
    let json = work.join("ci-eval.json").display().to_string();
    let args: Vec<&str> = match step {
        StepName::Fmt => vec![&cargo, "fmt", "--all", "--", "--check"],
        StepName::Clippy => vec![
            &cargo,
            "clippy",
            "--workspace",
            "--all-targets",
            "--locked",
            "--",
            "-D",
            "warnings",
        ],
        StepName::Tidy => vec![&x, "tidy"],
        StepName::Test => vec![&cargo, "test", "--workspace", "--locked"],
        StepName::Fuzz => vec![&x, "fuzz", "--seconds", "10"],
        StepName::Demo => vec![&x, "demo"],
        StepName::Train => vec![&x, "train", "--target", "lighttpd", "--quick", "--work", &w],
        StepName::Diffcheck => vec![&x, "diffcheck", "--target", "lighttpd", "--work", &w],
        StepName::Eval => vec![
            &x, "eval", "--quick", "--cases", &case, "--json", &json, "--work", &w,
        ],
    };
    args.into_iter().map(str::to_string).collect()
}

pub fn run(opts: Options) -> anyhow::Result<ExitCode> {
    let root = crate::workspace_root();
    // train's own default: WORKSPACE/work, or /var/tmp/perfscope-work when the test user
    // could not reach into the checkout (a clone under /root)
    let work = std::path::absolute(
        opts.work
            .clone()
            .unwrap_or_else(|| crate::train::default_work(&root)),
    )
    .context("cannot resolve the work folder")?;
    let xtask = std::env::current_exe().context("cannot find the xtask's own executable")?;
    let started = Instant::now();
    let mut results: Vec<(StepName, Outcome)> = Vec::new();
    let todo: Vec<StepName> = STEPS
        .into_iter()
        .filter(|s| !opts.skip.contains(s))
        .collect();
    let needs_root = todo.iter().any(|s| {
        matches!(
            s,
            StepName::Demo | StepName::Train | StepName::Diffcheck | StepName::Eval
        )
    });
    if needs_root && !procs::is_root() {
        anyhow::bail!(
            "the demo, train, diffcheck and eval steps need root (BPF): run `cargo xtask ci` as \
             root, or --skip demo,train,diffcheck,eval"
        );
    }
    let mut failed = false;
    for (i, &step) in STEPS.iter().enumerate() {
        if failed || !todo.contains(&step) {
            results.push((step, Outcome::Skipped));
            continue;
        }
        let argv = command_of(step, &xtask, &work);
        eprintln!(
            "\n==> ci {}/{} {}: {}",
            i + 1,
            STEPS.len(),
            step.name(),
            argv.join(" ")
        );
        if step == StepName::Test && !procs::is_root() {
            eprintln!("    (not root: the privileged tests skip themselves)");
        }
        let outcome = run_step(step, &argv, &work)?;
        match &outcome {
            Outcome::Passed { took, note } => eprintln!(
                "<== ci {} ok ({:.1} s){}{note}",
                step.name(),
                took.as_secs_f64(),
                if note.is_empty() { "" } else { ": " }
            ),
            Outcome::Failed { took, why } => {
                eprintln!(
                    "<== ci {} FAILED ({:.1} s): {why}",
                    step.name(),
                    took.as_secs_f64()
                );
                failed = true;
            }
            Outcome::Skipped => {}
        }
        results.push((step, outcome));
    }
    print!("{}", summary(&results, started.elapsed()));
    if let Some((step, Outcome::Failed { why, .. })) = results
        .iter()
        .find(|(_, o)| matches!(o, Outcome::Failed { .. }))
    {
        eprintln!(
            "error: ci step {} failed: {why}; the steps after it did not run (fix it and \
             rerun, or leave steps out with --skip)",
            step.name()
        );
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs one step with its output going straight to ours (the CI log), in its own process
/// group so that a Ctrl-C stops it through us.
fn run_step(step: StepName, argv: &[String], work: &Path) -> anyhow::Result<Outcome> {
    let t0 = Instant::now();
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .current_dir(crate::workspace_root())
        // every test that would skip (no root, no BTF, a missing tool) fails instead
        .env("PERFSCOPE_NO_SKIP", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit());
    let mut job = Job::spawn(step.name(), &mut cmd, Duration::from_secs(10))?;
    let status = job.wait_timeout(None, &mut || {})?;
    job.stop();
    let took = t0.elapsed();
    let Some(status) = status else {
        anyhow::bail!("{} ended without a status", step.name());
    };
    let end = End::Exited(status);
    if !end.success() {
        let why = match (step, status.code()) {
            (StepName::Fmt, Some(1)) => "the code is not formatted: run `cargo fmt --all`".into(),
            (StepName::Demo, Some(1)) => {
                "the injected function was not ranked first (see the demo's report above)".into()
            }
            (StepName::Diffcheck, Some(1)) => "sigdb diff found a retraining different, or did \
                 not name the patched function alone (see the summary above)"
                .into(),
            _ => end.describe(),
        };
        return Ok(Outcome::Failed { took, why });
    }
    let note = match step {
        StepName::Eval => match eval_line(&work.join("ci-eval.json")) {
            Ok(line) => line,
            Err(e) => {
                return Ok(Outcome::Failed {
                    took,
                    why: format!("{e:#}"),
                });
            }
        },
        _ => String::new(),
    };
    Ok(Outcome::Passed { took, note })
}

/// The result line of the eval's JSON; an error when a case could not run (a miss is a
/// result, not an error).
fn eval_line(path: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("the eval wrote no {}", path.display()))?;
    let doc: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    let cases = doc["cases"].as_array().cloned().unwrap_or_default();
    if cases.is_empty() {
        anyhow::bail!("the eval ran no case ({})", path.display());
    }
    let mut lines = Vec::new();
    for c in &cases {
        let id = c["id"].as_str().unwrap_or("?");
        if c["status"] != "ok" {
            anyhow::bail!(
                "case {id} could not run: {}",
                c["error"].as_str().unwrap_or("unknown error")
            );
        }
        let scope = c["scope"]
            .as_f64()
            .map_or(String::new(), |s| format!(", scope {:.1} %", s * 100.0));
        lines.push(match c["rank"].as_u64() {
            Some(r) => format!(
                "{id}: culprit {} ranked {r} of {}{scope}",
                c["matched"].as_str().unwrap_or("?"),
                c["list_len"]
            ),
            None => format!(
                "{id}: miss (culprit not ranked; {} listed, verdict {}; top: {})",
                c["list_len"],
                c["verdict"].as_str().unwrap_or("?"),
                c["top"]
                    .as_array()
                    .map(|t| t
                        .iter()
                        .take(3)
                        .filter_map(|x| x.as_str())
                        .collect::<Vec<_>>()
                        .join(", "))
                    .unwrap_or_default()
            ),
        });
    }
    Ok(lines.join("; "))
}

fn summary(results: &[(StepName, Outcome)], total: Duration) -> String {
    let mut out = String::from("\nci summary\n");
    for (step, o) in results {
        let line = match o {
            Outcome::Skipped => format!("  {:<7} {:<7}", step.name(), "skipped"),
            Outcome::Passed { took, note } => format!(
                "  {:<7} {:<7} {:>7.1} s  {note}",
                step.name(),
                "ok",
                took.as_secs_f64()
            ),
            Outcome::Failed { took, why } => format!(
                "  {:<7} {:<7} {:>7.1} s  {why}",
                step.name(),
                "FAILED",
                took.as_secs_f64()
            ),
        };
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out.push_str(&format!(
        "  {:<7} {:<7} {:>7.1} s\n",
        "total",
        "",
        total.as_secs_f64()
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_steps_run_the_documented_commands() {
        let x = Path::new("/x/xtask");
        let w = Path::new("/w");
        let cmd = |s| command_of(s, x, w)[1..].join(" ");
        assert_eq!(cmd(StepName::Fmt), "fmt --all -- --check");
        assert_eq!(
            cmd(StepName::Clippy),
            "clippy --workspace --all-targets --locked -- -D warnings"
        );
        assert_eq!(cmd(StepName::Test), "test --workspace --locked");
        assert_eq!(command_of(StepName::Tidy, x, w), ["/x/xtask", "tidy"]);
        assert_eq!(command_of(StepName::Demo, x, w), ["/x/xtask", "demo"]);
        assert_eq!(
            cmd(StepName::Train),
            "train --target lighttpd --quick --work /w"
        );
        assert_eq!(
            cmd(StepName::Diffcheck),
            "diffcheck --target lighttpd --work /w"
        );
        assert!(
            crate::workspace_root()
                .join("fixtures/diffcheck/lighttpd.patch")
                .is_file()
        );
        let eval = cmd(StepName::Eval);
        assert!(eval.starts_with("eval --quick --cases /"), "{eval}");
        assert!(
            eval.ends_with("eval/LT-3 --json /w/ci-eval.json --work /w"),
            "{eval}"
        );
        assert!(
            crate::workspace_root()
                .join(EVAL_CASE)
                .join("case.toml")
                .is_file()
        );
    }

    #[test]
    fn the_eval_line_says_hit_miss_or_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("e.json");
        let write = |v: serde_json::Value| std::fs::write(&p, v.to_string()).unwrap();
        write(
            serde_json::json!({"cases": [{"id": "LT-3", "status": "ok", "rank": 2,
            "matched": "f", "list_len": 7, "scope": 0.0123}]}),
        );
        assert_eq!(
            eval_line(&p).unwrap(),
            "LT-3: culprit f ranked 2 of 7, scope 1.2 %"
        );
        write(
            serde_json::json!({"cases": [{"id": "LT-3", "status": "ok", "rank": null,
            "list_len": 3, "verdict": "findings", "top": ["a", "b", "c", "d"]}]}),
        );
        assert_eq!(
            eval_line(&p).unwrap(),
            "LT-3: miss (culprit not ranked; 3 listed, verdict findings; top: a, b, c)"
        );
        write(
            serde_json::json!({"cases": [{"id": "LT-3", "status": "error",
            "error": "the server was not ready"}]}),
        );
        let e = format!("{:#}", eval_line(&p).unwrap_err());
        assert!(
            e.contains("LT-3 could not run: the server was not ready"),
            "{e}"
        );
        write(serde_json::json!({"cases": []}));
        assert!(eval_line(&p).is_err());
        assert!(eval_line(&dir.path().join("missing.json")).is_err());
    }

    #[test]
    fn a_failed_step_is_in_the_summary() {
        let s = summary(
            &[
                (
                    StepName::Fmt,
                    Outcome::Passed {
                        took: Duration::from_millis(1500),
                        note: String::new(),
                    },
                ),
                (
                    StepName::Clippy,
                    Outcome::Failed {
                        took: Duration::from_secs(3),
                        why: "exit status 101".into(),
                    },
                ),
                (StepName::Test, Outcome::Skipped),
            ],
            Duration::from_secs(5),
        );
        assert!(s.contains("  fmt     ok          1.5 s\n"), "{s}");
        assert!(
            s.contains("  clippy  FAILED      3.0 s  exit status 101\n"),
            "{s}"
        );
        assert!(s.contains("  test    skipped\n"), "{s}");
        assert!(s.contains("  total               5.0 s\n"), "{s}");
    }
}
