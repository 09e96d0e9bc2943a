//! `cargo xtask bench-train`: a target's test suite untraced and under the runner, side by
//! side in one run, with what the probes cost: wall times, ratio, probe hits, hits
//! avoided by leaving out the functions that cannot reach a system call and by removing
//! the probes of hot functions once they converge, single-steps.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::procs;
use crate::progress::Progress;
use crate::recipe::{Recipe, Suite};
use crate::train::{self, Ctx, Origin, StepName};
use crate::tree::{self, Layout};
use crate::{Common, tools};

/// Run a target's test suite untraced, under the runner as `train` runs it (pruned probes,
/// converged ones removed), without removing any (pruned only), and with every probe
/// (`--probe-all`), one after the other on the same build, and report the cost of
/// tracing. Needs root.
#[derive(Debug, clap::Args)]
pub struct Options {
    /// Target recipe: `targets/NAME.toml`.
    #[arg(long, value_name = "NAME")]
    pub target: String,

    /// The recipe's quick subset of the test suite instead of the full suite.
    #[arg(long)]
    pub quick: bool,

    /// Leave out the `--probe-all` run (the slowest): hits avoided are then unknown.
    #[arg(long)]
    pub no_probe_all: bool,

    /// Also leave out the run without muting (`pruned`): postgresql-15's takes more than
    /// ten minutes. The muted run is then compared with the untraced one only.
    #[arg(long)]
    pub muted_only: bool,

    /// Also train each trace (`trainer`) into WORK/targets/NAME/bench/, for `sigdb diff`.
    #[arg(long)]
    pub train: bool,

    /// Write the results as one JSON object to FILE too.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,

    #[command(flatten)]
    pub common: Common,
}

/// One run of the suite.
#[derive(Clone, Debug, Default)]
struct RunResult {
    mode: &'static str,
    wall: Duration,
    exit_ok: bool,
    /// The runner's JSON summary (traced runs).
    summary: Option<serde_json::Value>,
    sigdb: Option<PathBuf>,
}

impl RunResult {
    fn num(&self, key: &str) -> Option<u64> {
        self.summary.as_ref().and_then(|s| s[key].as_u64())
    }

    /// Functions whose probes the runner removed once they converged.
    fn muted(&self) -> Option<u64> {
        let s = self.summary.as_ref()?;
        Some(
            s["muted"]["functions"]
                .as_array()
                .map_or(0, |a| a.len() as u64),
        )
    }
}

pub fn run(opts: Options) -> anyhow::Result<()> {
    if !procs::is_root() {
        bail!("cargo xtask bench-train needs root (uprobes, the test user): run it as root");
    }
    let ctx = Ctx::from_common(&opts.common, None, false)?;
    let recipe = Recipe::find(&ctx.targets, &opts.target)?;
    let suite = if opts.quick {
        Suite::Quick
    } else {
        Suite::Full
    };
    let progress = Progress::new(format!("bench-train {}", recipe.name));
    let names: &[&str] = if opts.train {
        &["runner", "trainer"]
    } else {
        &["runner"]
    };
    let tools = tools::locate(names, &ctx.work.join("logs"), &progress)?;
    // The same build and setup as `train` (reused when its stamps match).
    let out = train::ensure_trained(
        &recipe,
        &Origin::Debian,
        suite,
        &ctx,
        &tools,
        StepName::Setup,
        &progress,
    )?;
    let runner = tools.get("runner").context("the runner was not located")?;
    let layout = Layout::new(&ctx.work, &recipe);
    let dir = layout.base.join("bench");
    tree::make_dir(&dir)?;
    let objects = train::probe_objects(&recipe, &out.tree)?;

    let mut results = vec![untraced(&recipe, suite, &out.tree, &dir, &progress)?];
    let modes: &[&'static str] = if opts.muted_only {
        &["muted"]
    } else if opts.no_probe_all {
        &["muted", "pruned"]
    } else {
        &["muted", "pruned", "probe-all"]
    };
    for &mode in modes {
        let mut r = traced(
            &recipe, suite, &out.tree, &objects, runner, mode, &dir, &progress,
        )?;
        if let Some(trainer) = tools.get("trainer").filter(|_| opts.train) {
            r.sigdb = Some(train_trace(&recipe, trainer, &dir, mode, &progress)?);
        }
        results.push(r);
    }
    let text = table(&recipe.name, suite, &results);
    print!("{text}");
    if let Some(path) = &opts.json {
        std::fs::write(path, json(&recipe.name, suite, &results).to_string() + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// The suite as `train` runs it, without the runner: as the test user, same cwd and env.
fn untraced(
    recipe: &Recipe,
    suite: Suite,
    tree: &Path,
    dir: &Path,
    progress: &Progress,
) -> anyhow::Result<RunResult> {
    let su = procs::setpriv_prefix(&recipe.test.user)?;
    let mut cmd = Command::new(&su[0]);
    cmd.args(&su[1..])
        .args(["bash", "-c", recipe.test_command(suite)])
        .current_dir(tree.join(&recipe.test.cwd))
        .env_clear()
        .envs(&recipe.test.env);
    let log = dir.join("untraced.log");
    let _ = std::fs::remove_file(&log);
    let mut step = progress.step("untraced suite");
    step.watch_log(&log);
    let started = Instant::now();
    let end = procs::run_logged(
        "suite",
        &mut cmd,
        &log,
        Some(recipe.test_timeout(suite)),
        &mut || step.tick(),
    )?;
    let wall = started.elapsed();
    step.done(&format!("{:.1} s, {}", wall.as_secs_f64(), end.describe()));
    Ok(RunResult {
        mode: "untraced",
        wall,
        exit_ok: end.success(),
        ..RunResult::default()
    })
}

/// The suite under the runner: "muted" as `train` runs it (pruned, and converged hot
/// functions lose their probes), "pruned" without that (`--mute-after 0`), "probe-all"
/// with every probe all along (`--probe-all --mute-after 0`).
#[allow(clippy::too_many_arguments)]
fn traced(
    recipe: &Recipe,
    suite: Suite,
    tree: &Path,
    objects: &[PathBuf],
    runner: &Path,
    mode: &'static str,
    dir: &Path,
    progress: &Progress,
) -> anyhow::Result<RunResult> {
    let trace = dir.join(format!("{mode}.trace"));
    let summary = dir.join(format!("{mode}.runner.json"));
    let log = dir.join(format!("{mode}.log"));
    for old in [&trace, &summary, &log] {
        let _ = std::fs::remove_file(old);
    }
    let mut args = train::runner_args(recipe, suite, tree, objects, false, &trace, &summary);
    if mode != "muted" {
        args.splice(0..0, ["--mute-after".to_string(), "0".to_string()]);
    }
    if mode == "probe-all" {
        args.insert(0, "--probe-all".to_string());
    }
    let mut cmd = Command::new(runner);
    cmd.args(&args)
        .current_dir(tree.join(&recipe.test.cwd))
        .env_clear()
        .envs(&recipe.test.env);
    let mut step = progress.step(&format!("suite under the runner ({mode})"));
    step.watch_log(&log);
    let started = Instant::now();
    let end = procs::run_logged_grace(
        "runner",
        &mut cmd,
        &log,
        Some(recipe.test_timeout(suite)),
        Duration::from_secs(60),
        &mut || step.tick(),
    )?;
    let wall = started.elapsed();
    let report = std::fs::read_to_string(&summary)
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(t.trim()).ok());
    let exit_ok = end.success()
        && report
            .as_ref()
            .is_some_and(|r| r["command_exit_code"].as_i64() == Some(0));
    step.done(&format!("{:.1} s, {}", wall.as_secs_f64(), end.describe()));
    Ok(RunResult {
        mode,
        wall,
        exit_ok,
        summary: report,
        sigdb: None,
    })
}

/// Trains one bench trace into `DIR/MODE.sigdb`.
fn train_trace(
    recipe: &Recipe,
    trainer: &Path,
    dir: &Path,
    mode: &str,
    progress: &Progress,
) -> anyhow::Result<PathBuf> {
    let db = dir.join(format!("{mode}.sigdb"));
    let log = dir.join(format!("{mode}.train.log"));
    let mut cmd = Command::new(trainer);
    cmd.arg("-o")
        .arg(&db)
        .args(["--target-name", &recipe.name, "--target-version"])
        .arg(&recipe.version)
        .arg("--keep-going")
        .arg(dir.join(format!("{mode}.trace")))
        .env("NO_COLOR", "1");
    let step = progress.step(&format!("train ({mode})"));
    let step = step.run_logged(
        "trainer",
        &mut cmd,
        &log,
        None,
        &format!("the trainer failed on the {mode} trace"),
        10,
    )?;
    step.done(&db.display().to_string());
    Ok(db)
}

/// The results as a table: one row per run.
fn table(name: &str, suite: Suite, results: &[RunResult]) -> String {
    let base = results.first().map_or(0.0, |r| r.wall.as_secs_f64());
    let all_hits = results
        .iter()
        .find(|r| r.mode == "probe-all")
        .and_then(|r| r.num("invocations"));
    let mut out = format!(
        "{name} ({} suite)\n{:<10} {:>9} {:>6} {:>13} {:>13} {:>12} {:>8} {:>7} {:>6}  suite\n",
        suite.as_str(),
        "run",
        "wall s",
        "ratio",
        "probe hits",
        "hits avoided",
        "single-steps",
        "probed",
        "pruned",
        "muted"
    );
    let opt = |v: Option<u64>| v.map_or("-".to_string(), |v| v.to_string());
    for r in results {
        let hits = r.num("invocations");
        let avoided = match (r.mode, all_hits, hits) {
            ("pruned" | "muted", Some(a), Some(h)) => Some(a.saturating_sub(h)),
            _ => None,
        };
        let ratio = if base > 0.0 {
            r.wall.as_secs_f64() / base
        } else {
            0.0
        };
        out.push_str(&format!(
            "{:<10} {:>9.1} {:>5.2}x {:>13} {:>13} {:>12} {:>8} {:>7} {:>6}  {}\n",
            r.mode,
            r.wall.as_secs_f64(),
            ratio,
            opt(hits),
            opt(avoided),
            opt(r.num("single_step_invocations")),
            opt(r.num("functions_probed")),
            opt(r.num("functions_pruned")),
            opt(r.muted()),
            if r.exit_ok { "passed" } else { "FAILED" }
        ));
    }
    for r in results {
        if let Some(db) = &r.sigdb {
            out.push_str(&format!("{} database: {}\n", r.mode, db.display()));
        }
    }
    out
}

fn json(name: &str, suite: Suite, results: &[RunResult]) -> serde_json::Value {
    let base = results.first().map_or(0.0, |r| r.wall.as_secs_f64());
    serde_json::json!({
        "type": "bench-train",
        "version": 1,
        "target": name,
        "suite": suite.as_str(),
        "runs": results.iter().map(|r| serde_json::json!({
            "mode": r.mode,
            "wall_s": (r.wall.as_secs_f64() * 1000.0).round() / 1000.0,
            "ratio": if base > 0.0 { r.wall.as_secs_f64() / base } else { 0.0 },
            "suite_passed": r.exit_ok,
            "probe_hits": r.num("invocations"),
            "single_steps": r.num("single_step_invocations"),
            "functions_probed": r.num("functions_probed"),
            "functions_pruned": r.num("functions_pruned"),
            "functions_muted": r.muted(),
            "functions_hit": r.num("functions_hit"),
            "hot_single_step": r.summary.as_ref().map(|s| s["hot_single_step"].clone()),
            "sigdb": r.sigdb.as_ref().map(|p| p.display().to_string()),
        })).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(mode: &'static str, secs: u64, summary: Option<serde_json::Value>) -> RunResult {
        RunResult {
            mode,
            wall: Duration::from_secs(secs),
            exit_ok: true,
            summary,
            sigdb: None,
        }
    }

    #[test]
    fn the_table_has_ratios_and_hits_avoided() {
        let results = [
            run("untraced", 10, None),
            run(
                "pruned",
                15,
                Some(
                    serde_json::json!({"invocations": 400, "single_step_invocations": 7,
                    "functions_probed": 90, "functions_pruned": 10,
                    "muted": {"functions": [{"function": "zmalloc", "invocations": 100000}]}}),
                ),
            ),
            run(
                "probe-all",
                40,
                Some(
                    serde_json::json!({"invocations": 1000, "functions_probed": 100,
                    "functions_pruned": 0}),
                ),
            ),
        ];
        let t = table("srv", Suite::Quick, &results);
        let pruned = t.lines().find(|l| l.starts_with("pruned")).unwrap();
        let cols: Vec<&str> = pruned.split_whitespace().collect();
        assert_eq!(
            cols,
            [
                "pruned", "15.0", "1.50x", "400", "600", "7", "90", "10", "1", "passed"
            ]
        );
        let all = t.lines().find(|l| l.starts_with("probe-all")).unwrap();
        assert!(all.contains("4.00x"), "{all}");
        let j = json("srv", Suite::Quick, &results);
        assert_eq!(j["runs"][1]["probe_hits"], 400);
        assert_eq!(j["runs"][2]["ratio"], 4.0);
    }
}
