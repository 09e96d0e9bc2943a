//! `cargo xtask train`: fetch (or copy a local checkout of), build and test a real server
//! under the runner, train its signature database and publish it, each step reused when
//! nothing it depends on changed (see [`crate::stamp`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use clap::ValueEnum;

use crate::procs::{self, End};
use crate::progress::Progress;
use crate::publish::{self, Coverage};
use crate::recipe::{Recipe, Suite};
use crate::stamp::{self, Stamp};
use crate::tree::{self, Layout};
use crate::{Common, glob, tools};

mod origin;
mod setup;
pub use origin::Origin;
use setup::{ensure_case_setup, ensure_setup};

/// Fetch (or copy a local checkout, --source), build and test a target under the runner,
/// train its signatures and publish `sigdb/NAME-VERSION.sigdb` (with --quick:
/// `NAME-VERSION.quick.sigdb`) and `sigdb/index.json`. Needs root.
#[derive(Debug, clap::Args)]
pub struct Options {
    /// Target recipe: `targets/NAME.toml`.
    #[arg(long, value_name = "NAME")]
    pub target: String,

    /// Trace the recipe's quick subset of the test suite (`test.quick`, for CI)
    /// instead of the full suite.
    #[arg(long)]
    pub quick: bool,

    /// Train on the recipe's source patched with FILE (`patch -p1` in the tree), in
    /// folders of its own keyed on the patch's content (WORK/targets/NAME/patched/KEY/),
    /// so that neither it nor the unpatched training invalidates the other. Never
    /// published. With `--until build`: only build it and print the tree's path.
    #[arg(long, value_name = "FILE")]
    pub patch: Option<PathBuf>,

    /// Train on this local checkout of the server (a CI job's checkout of a pull request,
    /// say) instead of the recipe's Debian source: it is copied without `.git` into
    /// WORK/targets/NAME/local/ and built there with the recipe's deps, build, probe and
    /// test sections; the checkout itself is never written to.
    #[arg(long, value_name = "DIR", conflicts_with = "patch")]
    pub source: Option<PathBuf>,

    /// With --source: the version to publish the database under (its file name, header
    /// and index entry), e.g. `1.4.69+pr123` [default: the recipe's version].
    #[arg(long, value_name = "V", requires = "source")]
    pub version: Option<String>,

    /// Stop after this step.
    #[arg(long, value_enum, default_value = "publish")]
    pub until: StepName,

    /// Redo this step and every later one even when nothing changed.
    #[arg(long, value_enum)]
    pub redo: Option<StepName>,

    /// Train on the trace even when the test suite failed or timed out.
    #[arg(long)]
    pub keep_going: bool,

    #[command(flatten)]
    pub common: Common,
}

/// The steps of a training, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub enum StepName {
    /// apt packages and the test user
    Deps,
    /// source download and a fresh unpack (with --source: a fresh copy)
    Fetch,
    /// the in-place build
    Build,
    /// test.setup (root) and test.prepare (test user)
    Setup,
    /// the test suite under the runner
    Capture,
    /// the trainer
    Train,
    /// copy to the publish folder, update the index
    Publish,
}

pub fn run(opts: Options) -> anyhow::Result<()> {
    if !procs::is_root() {
        bail!(
            "cargo xtask train needs root (apt-get, chown to the test user, uprobes): \
             run it as root"
        );
    }
    let ctx = Ctx::from_common(&opts.common, opts.redo, opts.keep_going)?;
    let recipe = Recipe::find(&ctx.targets, &opts.target)?;
    let origin = Origin::from_options(&opts, &recipe)?;
    let suite = if opts.quick {
        Suite::Quick
    } else {
        Suite::Full
    };
    let progress = Progress::new(format!("train {}", recipe.name));
    // a patched training stops before publishing: it must never replace the real one
    let until = match origin {
        Origin::Patched { .. } => opts.until.min(StepName::Train),
        _ => opts.until,
    };
    let tools = if until >= StepName::Capture {
        let names: &[&str] = if until >= StepName::Train {
            &["runner", "trainer"]
        } else {
            &["runner"]
        };
        tools::locate(names, &ctx.work.join("logs"), &progress)?
    } else {
        BTreeMap::new()
    };
    if let Origin::Local { checkout, .. } = &origin {
        progress.note(&format!(
            "source {} ({}), state {}",
            checkout.dir.display(),
            checkout.commit.as_deref().unwrap_or("not a git checkout"),
            &checkout.state[..16]
        ));
    }
    let out = ensure_trained(&recipe, &origin, suite, &ctx, &tools, until, &progress)?;
    let version = origin.version(&recipe);
    match &out.published {
        Some(p) => println!(
            "{} {version} ({}): published {}; tree {}",
            recipe.name,
            suite.as_str(),
            p.display(),
            out.tree.display()
        ),
        None => println!(
            "{} {version}: stopped after {}; tree {}",
            recipe.name,
            format!("{until:?}").to_lowercase(),
            out.tree.display()
        ),
    }
    if let Some(c) = &out.coverage {
        println!("coverage: {}", c.describe());
    }
    Ok(())
}

/// Where things go and what to redo; shared by train and eval.
#[derive(Clone, Debug)]
pub struct Ctx {
    pub work: PathBuf,
    pub targets: PathBuf,
    pub publish_dir: PathBuf,
    pub jobs: Option<u32>,
    pub redo: Option<StepName>,
    pub keep_going: bool,
}

/// `<workspace>/work`, unless the unprivileged test user cannot reach into the
/// workspace (a clone under `/root`, say): then `/var/tmp/perfscope-work`.
pub fn default_work(root: &Path) -> PathBuf {
    if crate::tree::check_traversable(root).is_ok() {
        root.join("work")
    } else {
        PathBuf::from("/var/tmp/perfscope-work")
    }
}

impl Ctx {
    pub fn from_common(
        c: &Common,
        redo: Option<StepName>,
        keep_going: bool,
    ) -> anyhow::Result<Ctx> {
        let abs = |p: &Path| {
            std::path::absolute(p).with_context(|| format!("cannot resolve {}", p.display()))
        };
        let root = crate::workspace_root();
        Ok(Ctx {
            work: abs(c.work.as_deref().unwrap_or(&default_work(&root)))?,
            targets: abs(c.targets.as_deref().unwrap_or(&root.join("targets")))?,
            publish_dir: abs(c.publish_dir.as_deref().unwrap_or(&root.join("sigdb")))?,
            jobs: c.jobs,
            redo,
            keep_going,
        })
    }

    fn redo(&self, step: StepName) -> bool {
        self.redo.is_some_and(|r| r <= step)
    }
}

/// What [`ensure_trained`] produced.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub tree: PathBuf,
    /// The published database (when the run went that far).
    pub published: Option<PathBuf>,
    pub coverage: Option<Coverage>,
}

/// Deps, download and a patched (or unpatched) tree in `variants/`, for eval cases.
pub fn build_variant(
    recipe: &Recipe,
    patch: Option<&Path>,
    ctx: &Ctx,
    progress: &Progress,
) -> anyhow::Result<tree::Built> {
    let layout = Layout::new(&ctx.work, recipe);
    tree::make_dir(&layout.base)?;
    tree::ensure_deps(recipe, &layout.logs(), progress)?;
    let download = tree::ensure_download(recipe, &layout, progress)?;
    let dir = layout.variant(patch)?;
    tree::ensure_built(
        &tree::Request {
            recipe,
            source: tree::Source::Download {
                stamp: &download,
                dir: &layout.download(),
            },
            dir: &dir,
            patch,
            jobs: ctx.jobs,
            redo: ctx.redo(StepName::Fetch) || ctx.redo(StepName::Build),
        },
        progress,
    )
    .and_then(|built| {
        ensure_case_setup(recipe, &built, progress)?;
        Ok(built)
    })
}

/// Runs (or reuses) every step up to `until` on the tree `origin` says (the recipe's
/// Debian source, or a local checkout, which has folders of its own
/// ([`Layout::local`]) and no download step) and returns what exists afterwards.
pub fn ensure_trained(
    recipe: &Recipe,
    origin: &Origin,
    suite: Suite,
    ctx: &Ctx,
    tools: &BTreeMap<String, PathBuf>,
    until: StepName,
    progress: &Progress,
) -> anyhow::Result<Outcome> {
    let layout = origin.layout(&ctx.work, recipe);
    tree::make_dir(&layout.base)?;
    // the download makes it for a Debian source; capture and train write their logs there
    tree::make_dir(&layout.logs())?;
    tree::ensure_deps(recipe, &layout.logs(), progress)?;
    ensure_user(&recipe.test.user, progress)?;
    let mut out = Outcome {
        tree: layout.train().join(&recipe.fetch.tree),
        published: None,
        coverage: None,
    };
    if until == StepName::Deps {
        return Ok(out);
    }
    // a patched tree is unpacked from the recipe's own download
    let debian = Layout::new(&ctx.work, recipe);
    let download_dir = debian.download();
    let download;
    let source = match origin {
        Origin::Debian | Origin::Patched { .. } => {
            download = tree::ensure_download(recipe, &debian, progress)?;
            tree::Source::Download {
                stamp: &download,
                dir: &download_dir,
            }
        }
        Origin::Local { checkout, .. } => tree::Source::Checkout(checkout),
    };
    let train_dir = layout.train();
    let built = tree::ensure_built(
        &tree::Request {
            recipe,
            source,
            dir: &train_dir,
            patch: origin.patch(),
            jobs: ctx.jobs,
            redo: ctx.redo(StepName::Fetch) || ctx.redo(StepName::Build),
        },
        progress,
    )?;
    tree::check_traversable(&built.tree)?;
    if until <= StepName::Build {
        return Ok(out);
    }
    let setup = ensure_setup(recipe, &built, ctx, progress)?;
    if until == StepName::Setup {
        return Ok(out);
    }
    let runner = tools
        .get("runner")
        .context("the runner binary was not located")?;
    let trace = ensure_capture(
        recipe, suite, &built, &setup, runner, &layout, ctx, progress,
    )?;
    if until == StepName::Capture {
        return Ok(out);
    }
    let trainer = tools
        .get("trainer")
        .context("the trainer binary was not located")?;
    let version = origin.version(recipe);
    let db = ensure_train(
        recipe, version, suite, &trace, trainer, &layout, ctx, progress,
    )?;
    let header = sigdb::read(&db)
        .with_context(|| format!("cannot read the trained database {}", db.display()))?
        .header;
    out.coverage = Some(Coverage::from(&header.coverage));
    if until == StepName::Train {
        out.published = None;
        return Ok(out);
    }
    let step = progress.step("publish");
    let from = origin.provenance(recipe);
    let (dest, entry) = publish::publish(&db, recipe, suite, &from, &built.tree, &ctx.publish_dir)?;
    step.done(&format!(
        "{} ({} functions, {} bytes)",
        dest.display(),
        entry.functions,
        entry.bytes
    ));
    out.published = Some(dest);
    Ok(out)
}

/// Creates the unprivileged test user when it is missing (targets/README.md).
fn ensure_user(user: &str, progress: &Progress) -> anyhow::Result<()> {
    if procs::lookup_user(user)?.is_some() {
        return Ok(());
    }
    let step = progress.step(&format!("create user {user}"));
    let out = Command::new("useradd")
        .args([
            "--system",
            "--user-group",
            "--no-create-home",
            "--home-dir",
            "/nonexistent",
            "--shell",
            "/usr/sbin/nologin",
            user,
        ])
        .output()
        .context("cannot run useradd")?;
    if !out.status.success() {
        step.failed("");
        bail!(
            "useradd {user} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    step.done("");
    Ok(())
}

/// The ELF objects to probe, resolved in the tree: binaries, then module globs; one
/// path per file (symlinks and hard links dropped by inode).
pub fn probe_objects(recipe: &Recipe, tree: &Path) -> anyhow::Result<Vec<PathBuf>> {
    use std::os::unix::fs::MetadataExt;
    let mut out: Vec<PathBuf> = Vec::new();
    let mut inodes: Vec<(u64, u64)> = Vec::new();
    let mut candidates = Vec::new();
    for b in &recipe.probe.binaries {
        let p = tree.join(b);
        if !p.is_file() {
            bail!(
                "probe binary {b} does not exist in {}: fix probe.binaries or the build",
                tree.display()
            );
        }
        candidates.push(p);
    }
    for m in &recipe.probe.modules {
        let found = glob::expand(tree, m);
        if found.is_empty() {
            bail!(
                "probe module pattern {m} matches nothing in {}: fix probe.modules",
                tree.display()
            );
        }
        candidates.extend(found.into_iter().filter(|p| p.is_file()));
    }
    for p in candidates {
        let meta = std::fs::metadata(&p).with_context(|| format!("cannot stat {}", p.display()))?;
        let key = (meta.dev(), meta.ino());
        if inodes.contains(&key) {
            continue;
        }
        let mut magic = [0u8; 4];
        let is_elf = std::fs::File::open(&p)
            .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic))
            .is_ok()
            && magic == *b"\x7fELF";
        if !is_elf {
            bail!("probe object {} is not an ELF file", p.display());
        }
        inodes.push(key);
        out.push(p);
    }
    Ok(out)
}

/// The runner's command line (without the program): probes, roots, user, trace and
/// JSON summary files, then `bash -c COMMAND`.
pub fn runner_args(
    recipe: &Recipe,
    suite: Suite,
    tree: &Path,
    objects: &[PathBuf],
    library_roots: bool,
    output: &Path,
    summary: &Path,
) -> Vec<String> {
    let mut a = Vec::new();
    for o in objects {
        a.push("--bin".to_string());
        a.push(o.display().to_string());
    }
    for r in &recipe.probe.app_roots {
        a.push("--app-root".to_string());
        a.push(tree.join(r).display().to_string());
    }
    if library_roots {
        for r in &recipe.probe.library_roots {
            a.push("--library-root".to_string());
            a.push(tree.join(r).display().to_string());
        }
    }
    if let Some(j) = &recipe.probe.jvm {
        for p in &j.packages {
            a.push("--jvm-app".to_string());
            a.push(p.clone());
        }
        for jar in &j.jars {
            a.push("--jvm-jar".to_string());
            a.push(tree.join(jar).display().to_string());
        }
    }
    a.extend([
        "--user".to_string(),
        recipe.test.user.clone(),
        "-o".to_string(),
        output.display().to_string(),
        "--summary".to_string(),
        summary.display().to_string(),
        "--format".to_string(),
        "json".to_string(),
        "--no-progress".to_string(),
        "--".to_string(),
        "bash".to_string(),
        "-c".to_string(),
        recipe.test_command(suite).to_string(),
    ]);
    a
}

/// Whether the runner knows `--library-root` (its interface may not have it yet).
fn runner_has_library_roots(runner: &Path) -> bool {
    Command::new(runner)
        .arg("--help")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("--library-root"))
}

#[allow(clippy::too_many_arguments)]
fn ensure_capture(
    recipe: &Recipe,
    suite: Suite,
    built: &tree::Built,
    setup: &Stamp,
    runner: &Path,
    layout: &Layout,
    ctx: &Ctx,
    progress: &Progress,
) -> anyhow::Result<PathBuf> {
    let objects = probe_objects(recipe, &built.tree)?;
    let with_libs = !recipe.probe.library_roots.is_empty() && runner_has_library_roots(runner);
    let traces = layout.traces();
    tree::make_dir(&traces)?;
    let trace = traces.join(format!("{}.trace", suite.as_str()));
    let tmp = traces.join(format!("{}.trace.tmp", suite.as_str()));
    let summary = traces.join(format!("{}.runner.json", suite.as_str()));
    let args = runner_args(
        recipe,
        suite,
        &built.tree,
        &objects,
        with_libs,
        &tmp,
        &summary,
    );
    let mut st = Stamp::new("capture");
    st.add("setup", setup.hash())
        .add("suite", suite.as_str())
        .add_list("args", &args)
        .add_map("env", &recipe.test.env)
        .add_file("runner", runner)?;
    let stamp_path = traces.join(format!("{}.stamp", suite.as_str()));
    let mut step = progress.step(&format!("capture ({} suite)", suite.as_str()));
    if !ctx.redo(StepName::Capture) && st.matches(&stamp_path) && trace.is_file() {
        step.reused(&trace.display().to_string());
        return Ok(trace);
    }
    stamp::clear(&stamp_path)?;
    if !recipe.probe.library_roots.is_empty() && !with_libs {
        progress.note(&format!(
            "the runner has no --library-root: {:?} count as application code",
            recipe.probe.library_roots
        ));
    }
    let log = layout
        .logs()
        .join(format!("capture-{}.log", suite.as_str()));
    for old in [&log, &tmp, &summary] {
        let _ = std::fs::remove_file(old);
    }
    step.watch_log(&log);
    let mut cmd = Command::new(runner);
    cmd.args(&args)
        .current_dir(built.tree.join(&recipe.test.cwd))
        .env_clear()
        .envs(&recipe.test.env);
    let timeout = recipe.test_timeout(suite);
    // the runner forwards SIGTERM to the suite and still finishes the trace
    let grace = std::time::Duration::from_secs(60);
    let end = procs::run_logged_grace("runner", &mut cmd, &log, Some(timeout), grace, &mut || {
        step.tick()
    })?;
    let report = std::fs::read_to_string(&summary)
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(t.trim()).ok());
    let have_trace = tmp.is_file() && std::fs::metadata(&tmp).is_ok_and(|m| m.len() > 0);
    let Some(report) = report else {
        step.failed(&end.describe());
        let what = if end == End::TimedOut {
            format!("the test suite timed out after {} s", timeout.as_secs())
        } else {
            format!("the runner failed ({})", end.describe())
        };
        bail!(
            "{what} and wrote no summary; see {}:\n{}",
            log.display(),
            procs::log_tail(&log, 15)
        );
    };
    let suite_ok = end.success() && report["command_exit_code"].as_i64() == Some(0);
    if !suite_ok {
        let what = match end {
            End::TimedOut => format!("the test suite timed out after {} s", timeout.as_secs()),
            _ => format!(
                "the test suite failed (exit code {}, signal {})",
                report["command_exit_code"], report["command_signal"]
            ),
        };
        if !(ctx.keep_going && have_trace) {
            step.failed(&end.describe());
            bail!(
                "{what}; see {} (--keep-going trains on the trace anyway):\n{}",
                log.display(),
                procs::log_tail(&log, 15)
            );
        }
        progress.note(&format!(
            "{what}; training on the trace anyway (--keep-going)"
        ));
    }
    if !have_trace {
        step.failed("no trace");
        bail!(
            "the runner wrote no trace {}; see {}",
            tmp.display(),
            log.display()
        );
    }
    std::fs::rename(&tmp, &trace)
        .with_context(|| format!("cannot move {} to {}", tmp.display(), trace.display()))?;
    // a failed suite's trace is used once, never reused silently
    if suite_ok {
        st.write(&stamp_path)?;
    }
    step.done(&format!(
        "{} events, {} lost, {} functions probed, {} hit, {:.0} s under capture",
        report["events"],
        report["lost"],
        report["functions_probed"],
        report["functions_hit"],
        report["wall_s"].as_f64().unwrap_or(0.0)
    ));
    Ok(trace)
}

#[allow(clippy::too_many_arguments)]
fn ensure_train(
    recipe: &Recipe,
    version: &str,
    suite: Suite,
    trace: &Path,
    trainer: &Path,
    layout: &Layout,
    ctx: &Ctx,
    progress: &Progress,
) -> anyhow::Result<PathBuf> {
    let db = layout
        .base
        .join(publish::versioned_file_name(&recipe.name, version, suite));
    let mut st = Stamp::new("train");
    st.add("name", recipe.name.as_str())
        .add("version", version)
        .add_file("trace", trace)?
        .add_file("trainer", trainer)?;
    let stamp_path = db.with_extension("sigdb.stamp");
    let mut step = progress.step("train");
    if !ctx.redo(StepName::Train) && st.matches(&stamp_path) && db.is_file() {
        step.reused(&db.display().to_string());
        return Ok(db);
    }
    stamp::clear(&stamp_path)?;
    let log = layout.logs().join(format!("train-{}.log", suite.as_str()));
    let _ = std::fs::remove_file(&log);
    step.watch_log(&log);
    let summary = layout
        .base
        .join(format!("train-{}.summary.json", suite.as_str()));
    let out = std::fs::File::create(&summary)
        .with_context(|| format!("cannot create {}", summary.display()))?;
    let err =
        std::fs::File::create(&log).with_context(|| format!("cannot create {}", log.display()))?;
    let mut cmd = Command::new(trainer);
    cmd.arg("-o")
        .arg(&db)
        .args(["--target-name", &recipe.name, "--target-version", version])
        .args(["--format", "json"])
        // with --keep-going the xtask trains on what the run left, the trainer too; the
        // database then records the damage
        .args(ctx.keep_going.then_some("--keep-going"))
        .arg(trace)
        .env("NO_COLOR", "1")
        .stdout(out)
        .stderr(err);
    let mut job = procs::Job::spawn("trainer", &mut cmd, std::time::Duration::from_secs(5))?;
    let status = job
        .wait_timeout(None, &mut || step.tick())?
        .context("the trainer did not finish")?;
    if !status.success() {
        step.failed(&format!("{status}"));
        bail!(
            "the trainer failed ({status}); see {}:\n{}",
            log.display(),
            procs::log_tail(&log, 10)
        );
    }
    st.write(&stamp_path)?;
    let line = std::fs::read_to_string(&summary).unwrap_or_default();
    let note = serde_json::from_str::<serde_json::Value>(line.trim())
        .ok()
        .map(|v| {
            format!(
                "{} functions with signatures, {} episodes",
                v["functions_with_signatures"], v["episodes"]
            )
        })
        .unwrap_or_default();
    step.done(&note);
    Ok(db)
}

#[cfg(test)]
mod tests;
