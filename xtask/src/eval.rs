//! `cargo xtask eval`: runs bug cases and healthy cases (shared/EVAL.md) end to end and
//! scores where the culprits land in perfscope's ranking, and whether a healthy window is
//! called "nothing abnormal". `--repeat N` runs each case N times and reports the spread
//! of its ranks. A case that cannot run is reported as an error and the others still run.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use serde::Serialize;

use crate::case::{self, Case};
use crate::progress::Progress;
use crate::recipe::{Recipe, Suite};
use crate::score::{self, Point, Spread, Summary};
use crate::timeline::{self, Limits};
use crate::train::{self, Ctx, StepName};
use crate::{Common, procs, publish, tools};

/// Run bug cases: build each case's patched target, train (or reuse) its signature
/// database on the unpatched build, run the workload under `perfscope watch`, raise the
/// alarm and score the ranking. Needs root.
#[derive(Debug, clap::Args)]
pub struct Options {
    /// Case folders (holding case.toml), or folders of case folders.
    #[arg(long, required = true, num_args = 1.., value_name = "DIR")]
    pub cases: Vec<PathBuf>,

    /// Train (or reuse) databases on the quick test subset instead of the full suite.
    #[arg(long)]
    pub quick: bool,

    /// Use the published databases as they are; never train.
    #[arg(long)]
    pub no_train: bool,

    /// Also write the results as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,

    /// Analysis window of `perfscope watch --analyze`.
    #[arg(long, default_value = "90s")]
    pub analyze: String,

    /// Run each case this many times: the summary counts every run, and each case shows
    /// its best, median and worst rank and whether its top-1 stayed the same.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub repeat: u32,

    /// Longest wait for the alarm's report, in seconds.
    #[arg(long, default_value_t = 300)]
    pub alarm_timeout: u64,

    /// Train on a trace even when the target's test suite failed.
    #[arg(long)]
    pub keep_going: bool,

    #[command(flatten)]
    pub common: Common,
}

pub fn run(opts: Options) -> anyhow::Result<()> {
    if !procs::is_root() {
        bail!("cargo xtask eval needs root (builds, training, perfscope's syscall capture)");
    }
    let ctx = Ctx::from_common(&opts.common, None, opts.keep_going)?;
    let dirs = case::discover(&opts.cases)?;
    let progress = Progress::new("eval");
    let names: &[&str] = if opts.no_train {
        &["perfscope"]
    } else {
        &["perfscope", "runner", "trainer"]
    };
    let tools = tools::locate(names, &ctx.work.join("logs"), &progress)?;
    let perfscope = tools["perfscope"].clone();
    let limits = Limits {
        alarm: Duration::from_secs(opts.alarm_timeout),
        analyze: opts.analyze.clone(),
        ..Limits::default()
    };
    let mut provider = Targets {
        ctx: ctx.clone(),
        suite: if opts.quick {
            Suite::Quick
        } else {
            Suite::Full
        },
        no_train: opts.no_train,
        tools,
        progress: progress.clone(),
        recipes: BTreeMap::new(),
        sigdbs: BTreeMap::new(),
        trees: BTreeMap::new(),
    };
    let results = run_cases(
        &dirs,
        &mut provider,
        &perfscope,
        &limits,
        &ctx.work.join("eval"),
        opts.repeat as usize,
        &progress,
    );
    let summary = summarize(&results);
    print!("{}", render_text(&results, &summary));
    if let Some(path) = &opts.json {
        let doc = json(&results, &summary);
        let mut text = serde_json::to_string_pretty(&doc).context("cannot encode the results")?;
        text.push('\n');
        std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    procs::check_interrupted()
        .with_context(|| format!("{} of {} cases ran", results.len(), dirs.len()))
}

/// Where a case's database and tree come from (real builds, or stand-ins in tests).
pub trait Provider {
    /// The signature database of the case's target, trained on the unpatched build.
    fn sigdb(&mut self, case: &Case) -> anyhow::Result<PathBuf>;
    /// `TARGET_SRC`: the case's patched tree, built.
    fn tree(&mut self, case: &Case) -> anyhow::Result<PathBuf>;
}

/// The real provider: recipes, trainings and builds, each done once per run.
struct Targets {
    ctx: Ctx,
    suite: Suite,
    no_train: bool,
    tools: BTreeMap<String, PathBuf>,
    progress: Progress,
    recipes: BTreeMap<String, Result<Recipe, String>>,
    sigdbs: BTreeMap<String, Result<PathBuf, String>>,
    trees: BTreeMap<(String, Option<PathBuf>), Result<PathBuf, String>>,
}

impl Targets {
    fn recipe(&mut self, name: &str) -> anyhow::Result<Recipe> {
        let targets = &self.ctx.targets;
        self.recipes
            .entry(name.to_string())
            .or_insert_with(|| Recipe::find(targets, name).map_err(|e| format!("{e:#}")))
            .clone()
            .map_err(anyhow::Error::msg)
    }
}

impl Provider for Targets {
    fn sigdb(&mut self, case: &Case) -> anyhow::Result<PathBuf> {
        let recipe = self.recipe(&case.file.target)?;
        if let Some(r) = self.sigdbs.get(&recipe.name) {
            return r.clone().map_err(anyhow::Error::msg);
        }
        let result = if self.no_train {
            let p = self
                .ctx
                .publish_dir
                .join(publish::file_name(&recipe, self.suite));
            if p.is_file() {
                Ok(p)
            } else {
                Err(anyhow::anyhow!(
                    "no published database {}: run `cargo xtask train --target {}{}` or drop --no-train",
                    p.display(),
                    recipe.name,
                    if self.suite == Suite::Quick {
                        " --quick"
                    } else {
                        ""
                    }
                ))
            }
        } else {
            let progress = self.progress.with_prefix(format!("train {}", recipe.name));
            train::ensure_trained(
                &recipe,
                &train::Origin::Debian,
                self.suite,
                &self.ctx,
                &self.tools,
                StepName::Publish,
                &progress,
            )
            .and_then(|o| o.published.context("the training published nothing"))
        };
        let stored = result.map_err(|e| format!("training {} failed: {e:#}", recipe.name));
        self.sigdbs.insert(recipe.name.clone(), stored.clone());
        stored.map_err(anyhow::Error::msg)
    }

    fn tree(&mut self, case: &Case) -> anyhow::Result<PathBuf> {
        let recipe = self.recipe(&case.file.target)?;
        let key = (recipe.name.clone(), case.patch());
        if let Some(r) = self.trees.get(&key) {
            return r.clone().map_err(anyhow::Error::msg);
        }
        let progress = self
            .progress
            .with_prefix(format!("{} {}", case.id(), recipe.name));
        let result = train::build_variant(&recipe, case.patch().as_deref(), &self.ctx, &progress)
            .map(|b| b.tree)
            .map_err(|e| format!("building the case's tree failed: {e:#}"));
        self.trees.insert(key, result.clone());
        result.map_err(anyhow::Error::msg)
    }
}

/// The result of one case.
#[derive(Clone, Debug, Serialize)]
pub struct CaseResult {
    pub id: String,
    pub dir: PathBuf,
    pub target: Option<String>,
    pub kind: Option<String>,
    /// `ok` or `error`.
    pub status: String,
    pub error: Option<String>,
    /// Rank of the first culprit; null for a miss (or an error).
    pub rank: Option<usize>,
    pub matched: Option<String>,
    pub culprits: Vec<String>,
    pub list_len: Option<usize>,
    pub total_functions: Option<u64>,
    pub scope: Option<f64>,
    pub analysis_seconds: Option<f64>,
    pub events: Option<u64>,
    pub lost: Option<u64>,
    pub verdict: Option<String>,
    /// The first ranked functions.
    pub top: Vec<String>,
    /// How strong the evidence of abnormal behaviour was, and perfscope's threshold for
    /// findings.
    pub strength: Option<f64>,
    pub threshold: Option<f64>,
    /// A healthy case (no culprits): scored by its verdict, not by a rank.
    pub healthy: bool,
    /// Healthy runs that did not answer "nothing abnormal".
    pub false_alarms: Option<usize>,
    /// Every run (the fields above are the first run's), and over them the spread of
    /// the ranks and whether the first ranked function was the same in all.
    pub runs: Vec<RunResult>,
    pub spread: Option<Spread>,
    pub same_top1: Option<bool>,
    pub ready_seconds: Option<f64>,
    /// The server ended on its own before the alarm.
    pub server_exited: Option<String>,
    /// The server ignored SIGTERM.
    pub server_killed: Option<bool>,
    pub sigdb: Option<PathBuf>,
    pub target_src: Option<PathBuf>,
    pub logs: Option<PathBuf>,
}

impl CaseResult {
    fn new(id: String, dir: &Path) -> CaseResult {
        CaseResult {
            id,
            dir: dir.to_path_buf(),
            target: None,
            kind: None,
            status: "error".to_string(),
            error: None,
            rank: None,
            matched: None,
            culprits: Vec::new(),
            list_len: None,
            total_functions: None,
            scope: None,
            analysis_seconds: None,
            events: None,
            lost: None,
            verdict: None,
            top: Vec::new(),
            strength: None,
            threshold: None,
            healthy: false,
            false_alarms: None,
            runs: Vec::new(),
            spread: None,
            same_top1: None,
            ready_seconds: None,
            server_exited: None,
            server_killed: None,
            sigdb: None,
            target_src: None,
            logs: None,
        }
    }

    pub fn is_ok(&self) -> bool {
        self.status == "ok"
    }

    /// The spread and top-1 stability over the runs, and the false alarms of a healthy
    /// case.
    fn sum_up_runs(&mut self) {
        let ok: Vec<&RunResult> = self.runs.iter().filter(|r| r.error.is_none()).collect();
        if ok.is_empty() {
            return;
        }
        let ranks: Vec<Option<usize>> = ok.iter().map(|r| r.rank).collect();
        self.spread = Some(score::spread(&ranks));
        self.same_top1 = Some(ok.iter().all(|r| r.top1 == ok[0].top1));
        if self.healthy {
            self.false_alarms = Some(ok.iter().filter(|r| r.alarmed()).count());
        }
    }
}

/// One run of a case.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RunResult {
    pub error: Option<String>,
    pub rank: Option<usize>,
    pub verdict: Option<String>,
    pub top1: Option<String>,
    pub strength: Option<f64>,
    pub scope: Option<f64>,
    pub analysis_seconds: Option<f64>,
    pub logs: Option<PathBuf>,
}

impl RunResult {
    /// The run's verdict was anything but "nothing abnormal".
    pub fn alarmed(&self) -> bool {
        self.verdict.as_deref().is_some_and(|v| v != "normal")
    }
}

/// Runs every case in order, `repeat` times each; a failure is recorded in that case's
/// result only. With one run a case's files are under `eval_dir/ID`, else under
/// `eval_dir/ID/run-K`.
pub fn run_cases(
    dirs: &[PathBuf],
    provider: &mut dyn Provider,
    perfscope: &Path,
    limits: &Limits,
    eval_dir: &Path,
    repeat: usize,
    progress: &Progress,
) -> Vec<CaseResult> {
    let mut results: Vec<CaseResult> = Vec::new();
    for dir in dirs {
        if procs::check_interrupted().is_err() {
            break;
        }
        let fallback = dir.file_name().map_or_else(
            || dir.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let mut res = CaseResult::new(fallback, dir);
        let case = match Case::load(dir) {
            Ok(c) => c,
            Err(e) => {
                res.error = Some(format!("{e:#}"));
                progress.note(&format!("{}: error: {e:#}", res.id));
                results.push(res);
                continue;
            }
        };
        res.id = case.id().to_string();
        res.dir = case.dir.clone();
        res.target = Some(case.file.target.clone());
        res.kind = Some(case.file.kind.as_str().to_string());
        res.culprits = case.file.culprits.clone();
        res.healthy = case.is_healthy();
        if results.iter().any(|r| r.id == res.id) {
            res.error = Some(format!(
                "duplicate case id {}: ids name the run folders",
                res.id
            ));
        } else {
            let case_dir = eval_dir.join(case.id());
            for k in 1..=repeat.max(1) {
                let dir = if repeat > 1 {
                    case_dir.join(format!("run-{k}"))
                } else {
                    case_dir.clone()
                };
                let mut run = res.clone();
                let outcome =
                    run_case(&case, provider, perfscope, limits, &dir, progress, &mut run);
                let error = outcome.err().map(|e| format!("{e:#}"));
                res.runs.push(RunResult {
                    error: error.clone(),
                    rank: run.rank,
                    verdict: run.verdict.clone(),
                    top1: run.top.first().cloned(),
                    strength: run.strength,
                    scope: run.scope,
                    analysis_seconds: run.analysis_seconds,
                    logs: run.logs.clone(),
                });
                // the case's own fields are its first run's that worked (or its first
                // error when none did)
                if !res.is_ok() && (error.is_none() || k == 1) {
                    let runs = std::mem::take(&mut res.runs);
                    res = CaseResult { runs, ..run };
                    res.error = error;
                }
                if procs::check_interrupted().is_err() {
                    break;
                }
            }
            res.sum_up_runs();
        }
        match &res.error {
            Some(e) => progress.note(&format!("{}: error: {e}", res.id)),
            None => progress.note(&format!("{}: {}", res.id, one_line(&res))),
        }
        results.push(res);
    }
    results
}

/// One run of `case`, its files under `dir`.
fn run_case(
    case: &Case,
    provider: &mut dyn Provider,
    perfscope: &Path,
    limits: &Limits,
    dir: &Path,
    progress: &Progress,
    res: &mut CaseResult,
) -> anyhow::Result<()> {
    procs::check_interrupted()?;
    let sigdb = provider.sigdb(case)?;
    res.sigdb = Some(sigdb.clone());
    let tree = provider.tree(case)?;
    res.target_src = Some(tree.clone());
    res.logs = Some(dir.join("logs"));
    let port = timeline::free_port()?;
    let p = progress.with_prefix(format!("eval {}", case.id()));
    let step = p.step("run");
    let run = timeline::Run {
        case,
        target_src: &tree,
        sigdb: &sigdb,
        perfscope,
        dir,
        port,
        limits,
    };
    let outcome = match timeline::run(&run, &mut |s| step.message(s.to_string())) {
        Ok(o) => o,
        Err(e) => {
            step.failed("");
            return Err(e);
        }
    };
    res.ready_seconds = Some(outcome.ready_after.as_secs_f64());
    res.server_exited = outcome.server_exited.clone();
    res.server_killed = Some(outcome.server_killed);
    let report = score::parse_report(&outcome.report).with_context(|| {
        format!(
            "cannot read perfscope's report {}",
            outcome.logs.join("alarm.jsonl").display()
        )
    })?;
    let hit = score::first_culprit(&report.ranking, &case.file.culprits);
    res.status = "ok".to_string();
    res.rank = hit.as_ref().map(|h| h.0);
    res.matched = hit.map(|h| h.1);
    res.list_len = Some(report.listed);
    res.total_functions = Some(report.total_functions);
    res.scope = Some(report.scope);
    res.analysis_seconds = Some(report.analysis_ms / 1000.0);
    res.events = Some(report.syscalls);
    res.lost = Some(report.lost);
    res.verdict = Some(report.verdict.clone());
    res.strength = report.strength.map(|s| s.0);
    res.threshold = report.strength.map(|s| s.1);
    res.top = report.ranking.iter().take(10).cloned().collect();
    step.done(&one_line(res));
    Ok(())
}

fn one_line(r: &CaseResult) -> String {
    if r.healthy {
        return match r.verdict.as_deref() {
            Some("normal") => "nothing abnormal (right)".to_string(),
            v => format!(
                "false alarm: verdict {}, {} functions listed",
                v.unwrap_or("?"),
                r.list_len.unwrap_or(0)
            ),
        };
    }
    match r.rank {
        Some(k) => format!(
            "culprit {} at rank {k} of {}",
            r.matched.as_deref().unwrap_or("?"),
            r.list_len.unwrap_or(0)
        ),
        None => format!(
            "miss ({} functions listed, verdict {})",
            r.list_len.unwrap_or(0),
            r.verdict.as_deref().unwrap_or("?")
        ),
    }
}

/// The summary over every run of every case.
pub fn summarize(results: &[CaseResult]) -> Summary {
    let mut points = Vec::new();
    let mut errors = 0;
    for r in results {
        if r.runs.is_empty() {
            // a case that could not even be loaded
            errors += 1;
            continue;
        }
        for run in &r.runs {
            if run.error.is_some() {
                errors += 1;
                continue;
            }
            points.push(Point {
                healthy: r.healthy,
                alarmed: run.alarmed(),
                rank: run.rank,
                scope: run.scope.unwrap_or(0.0),
                analysis_seconds: run.analysis_seconds.unwrap_or(0.0),
            });
        }
    }
    score::summarize(&points, errors)
}

/// The JSON document of `--json`.
pub fn json(results: &[CaseResult], summary: &Summary) -> serde_json::Value {
    serde_json::json!({
        "type": "eval",
        "version": 1,
        "cases": results,
        "summary": summary,
    })
}

/// `0.0052` → `5.2 ms`, `1.234` → `1.23 s`.
fn seconds(x: f64) -> String {
    if x < 1.0 {
        format!("{:.1} ms", x * 1000.0)
    } else {
        format!("{x:.2} s")
    }
}

/// `1`, `miss`; `1/1/3 =` (best/median/worst, `=` when every run had the same top-1).
fn rank_cell(r: &CaseResult) -> String {
    let rank = |k: Option<usize>| k.map_or_else(|| "miss".to_string(), |k| k.to_string());
    if r.healthy {
        return match (r.false_alarms, r.runs.len()) {
            (Some(0), _) => "normal".to_string(),
            (Some(n), 1) if n > 0 => "ALARM".to_string(),
            (Some(n), runs) => format!("ALARM {n}/{runs}"),
            (None, _) => "-".to_string(),
        };
    }
    match (r.spread, r.runs.len()) {
        (Some(s), runs) if runs > 1 => format!(
            "{}/{}/{} {}",
            rank(s.min),
            rank(s.median),
            rank(s.max),
            if r.same_top1 == Some(true) { "=" } else { "~" }
        ),
        _ => rank(r.rank),
    }
}

/// The table and summary for a terminal.
pub fn render_text(results: &[CaseResult], s: &Summary) -> String {
    const COLS: usize = 11;
    let repeated = results.iter().any(|r| r.runs.len() > 1);
    let mut rows: Vec<[String; COLS]> = vec![
        [
            "case",
            "target",
            "kind",
            if repeated { "rank min/med/max" } else { "rank" },
            "listed",
            "total",
            "scope",
            "strength",
            "analysis",
            "events",
            "lost",
        ]
        .map(str::to_string),
    ];
    let opt = |v: Option<String>| v.unwrap_or_else(|| "-".to_string());
    for r in results.iter().filter(|r| r.is_ok()) {
        rows.push([
            r.id.clone(),
            opt(r.target.clone()),
            opt(r.kind.clone()),
            rank_cell(r),
            opt(r.list_len.map(|n| n.to_string())),
            opt(r.total_functions.map(|n| n.to_string())),
            opt(r.scope.map(|x| format!("{:.2} %", 100.0 * x))),
            opt(r
                .strength
                .zip(r.threshold)
                .map(|(x, t)| format!("{x:.2}/{t:.2}"))),
            opt(r.analysis_seconds.map(seconds)),
            opt(r.events.map(|n| n.to_string())),
            opt(r.lost.map(|n| n.to_string())),
        ]);
    }
    let mut widths = [0usize; COLS];
    for row in &rows {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    for row in &rows {
        let mut line = String::new();
        for (i, (c, w)) in row.iter().zip(widths).enumerate() {
            if i < 3 {
                let _ = write!(line, "{c:<w$}  ");
            } else {
                let _ = write!(line, "{c:>w$}  ");
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    for r in results.iter().filter(|r| !r.is_ok()) {
        let first = r
            .error
            .as_deref()
            .unwrap_or("")
            .lines()
            .next()
            .unwrap_or("");
        let _ = writeln!(out, "{}  error: {first}", r.id);
    }
    out.push('\n');
    let _ = writeln!(
        out,
        "{} {}: {} scored, {} errors; culprit found in {} of {}",
        s.cases,
        if repeated { "runs" } else { "cases" },
        s.scored,
        s.errors,
        s.hits,
        s.bug_runs
    );
    let _ = writeln!(
        out,
        "top-1 {:.1} %  top-5 {:.1} %  MRR {:.3}  median scope {}  analysis time median {} (max {})",
        100.0 * s.top1,
        100.0 * s.top5,
        s.mrr,
        s.median_scope
            .map_or_else(|| "-".to_string(), |x| format!("{:.2} %", 100.0 * x)),
        s.median_analysis_seconds
            .map_or_else(|| "-".to_string(), seconds),
        s.max_analysis_seconds
            .map_or_else(|| "-".to_string(), seconds),
    );
    if let Some(rate) = s.false_alarm_rate {
        let _ = writeln!(
            out,
            "false alarms {} of {} healthy runs ({:.1} %)",
            s.false_alarms,
            s.healthy_runs,
            100.0 * rate
        );
    }
    if repeated {
        let bug: Vec<&CaseResult> = results.iter().filter(|r| r.is_ok() && !r.healthy).collect();
        let stable = bug.iter().filter(|r| r.same_top1 == Some(true)).count();
        let _ = writeln!(
            out,
            "same top-1 in every run: {stable} of {} bug cases",
            bug.len()
        );
    }
    let logs: Vec<String> = results
        .iter()
        .filter_map(|r| {
            r.logs
                .as_ref()
                .map(|l| format!("{}: {}", r.id, l.display()))
        })
        .collect();
    if !logs.is_empty() {
        let _ = writeln!(out, "logs: {}", logs.join(", "));
    }
    out
}

#[cfg(test)]
mod tests;
