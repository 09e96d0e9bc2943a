//! A target's source tree: packages, the source download (cached) or a local checkout
//! ([`checkout`]), a fresh unpack or copy into a folder of its own (optionally patched),
//! and the in-place build, each skipped when its stamp says nothing changed.
//!
//! Layout under the target's work folder (`WORK/targets/NAME/`):
//!
//! ```text
//! download/            apt-get source --download-only, once per recipe version
//! train/               fetch folder of the training tree (TREE inside), stamps, logs/
//! variants/KEY/        fetch folders of patched trees (KEY: patch hash or `unpatched`)
//! traces/              captured traces and their stamps
//! local/               the same layout (train/, traces/, logs/) for `--source DIR`
//! ```

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

use crate::procs;
use crate::progress::Progress;
use crate::recipe::{BASE_PATH, Recipe};
use crate::stamp::{self, Stamp};

pub mod checkout;

pub use checkout::Checkout;

/// The folders of one target.
#[derive(Clone, Debug)]
pub struct Layout {
    pub base: PathBuf,
}

impl Layout {
    pub fn new(work: &Path, recipe: &Recipe) -> Layout {
        Layout {
            base: work.join("targets").join(&recipe.name),
        }
    }
    /// The folders of a training on a local checkout (`--source`), apart from the
    /// Debian source's, so that neither invalidates the other.
    pub fn local(work: &Path, recipe: &Recipe) -> Layout {
        Layout {
            base: Layout::new(work, recipe).base.join("local"),
        }
    }
    pub fn download(&self) -> PathBuf {
        self.base.join("download")
    }
    pub fn logs(&self) -> PathBuf {
        self.base.join("logs")
    }
    pub fn train(&self) -> PathBuf {
        self.base.join("train")
    }
    pub fn traces(&self) -> PathBuf {
        self.base.join("traces")
    }
    /// The fetch folder of a patched tree: one per distinct patch content.
    pub fn variant(&self, patch: Option<&Path>) -> anyhow::Result<PathBuf> {
        let key = match patch {
            Some(p) => format!("patch-{}", &stamp::file_sha256(p)?[..16]),
            None => "unpatched".to_string(),
        };
        Ok(self.base.join("variants").join(key))
    }
}

/// Creates a folder (and its parents) that other users can traverse, whatever the umask.
pub fn make_dir(path: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(path).with_context(|| format!("cannot create {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .with_context(|| format!("cannot set the mode of {}", path.display()))
}

/// Every folder from `/` to `path` must let other users through: the test user runs
/// inside the tree.
pub fn check_traversable(path: &Path) -> anyhow::Result<()> {
    for dir in path.ancestors() {
        let Ok(meta) = std::fs::metadata(dir) else {
            continue;
        };
        if meta.is_dir() && meta.permissions().mode() & 0o001 == 0 {
            bail!(
                "{} (mode {:o}) cannot be traversed by the unprivileged test user: \
                 use --work with a folder outside it, or chmod o+x it",
                dir.display(),
                meta.permissions().mode() & 0o7777
            );
        }
    }
    Ok(())
}

/// Installs the missing `deps.apt` packages.
pub fn ensure_deps(recipe: &Recipe, logs: &Path, progress: &Progress) -> anyhow::Result<()> {
    let mut step = progress.step("deps");
    let missing = missing_packages(&recipe.deps.apt)?;
    if missing.is_empty() {
        step.reused(&format!("{} packages installed", recipe.deps.apt.len()));
        return Ok(());
    }
    make_dir(logs)?;
    let log = logs.join("deps.log");
    step.watch_log(&log);
    step.message(format!("apt-get install {}", missing.join(" ")));
    let mut cmd = Command::new("apt-get");
    cmd.args(["install", "-y", "-q"])
        .args(&missing)
        .env_clear()
        .env("PATH", BASE_PATH)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .env("LC_ALL", "C.UTF-8");
    let end = procs::run_logged("apt-get install", &mut cmd, &log, None, &mut || step.tick())?;
    if !end.success() {
        step.failed(&end.describe());
        let tail = procs::log_tail(&log, 10);
        let hint = if tail.contains("Unable to locate package") {
            "\nrun `apt-get update` first, or fix deps.apt in the recipe"
        } else {
            ""
        };
        bail!(
            "apt-get install {} failed ({}); see {}:\n{tail}{hint}",
            missing.join(" "),
            end.describe(),
            log.display()
        );
    }
    step.done(&format!("installed {}", missing.join(" ")));
    Ok(())
}

/// Packages of `wanted` that dpkg does not have installed, in the given order.
pub fn missing_packages(wanted: &[String]) -> anyhow::Result<Vec<String>> {
    let out = Command::new("dpkg-query")
        .args(["-W", "-f=${Package} ${db:Status-Status}\\n"])
        .args(wanted)
        .output()
        .context("cannot run dpkg-query (is this a Debian system?)")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let installed: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_suffix(" installed"))
        .map(|p| p.split(':').next().unwrap_or(p))
        .collect();
    Ok(wanted
        .iter()
        .filter(|w| !installed.contains(&w.as_str()))
        .cloned()
        .collect())
}

/// Downloads the recipe's source once: its Debian source package (and checks its
/// version), or what its Maven goals lay out.
pub fn ensure_download(
    recipe: &Recipe,
    layout: &Layout,
    progress: &Progress,
) -> anyhow::Result<Stamp> {
    let mut st = Stamp::new("download");
    st.add("origin", recipe.origin());
    if let Some(v) = &recipe.debian_version {
        st.add("debian_version", v.as_str());
    }
    if let Some(m) = &recipe.fetch.maven {
        st.add_file("pom", &recipe.dir.join(&m.pom))?
            .add_list("goals", &m.goals);
    }
    let dir = layout.download();
    let stamp_path = layout.base.join("download.stamp");
    let mut step = progress.step("download");
    let present = match &recipe.fetch.apt_source {
        Some(_) => find_dsc(recipe, &dir).is_ok(),
        None => dir.join(&recipe.fetch.tree).is_dir(),
    };
    if st.matches(&stamp_path) && present {
        step.reused(&recipe.origin());
        return Ok(st);
    }
    stamp::clear(&stamp_path)?;
    let tmp = layout.base.join("download.tmp");
    remove_dir(&tmp)?;
    make_dir(&tmp)?;
    make_dir(&layout.logs())?;
    let log = layout.logs().join("download.log");
    step.watch_log(&log);
    let (step, done) = match (&recipe.fetch.apt_source, &recipe.fetch.maven) {
        (Some(apt_source), _) => apt_download(recipe, apt_source, &tmp, &log, step)?,
        (None, Some(m)) => maven_download(recipe, m, &tmp, &log, step)?,
        (None, None) => bail!("{}: fetch has neither apt_source nor maven", recipe.name),
    };
    remove_dir(&dir)?;
    std::fs::rename(&tmp, &dir)
        .with_context(|| format!("cannot move {} to {}", tmp.display(), dir.display()))?;
    st.write(&stamp_path)?;
    step.done(&done);
    Ok(st)
}

/// `apt-get source --download-only` into `tmp`, and the version check.
fn apt_download(
    recipe: &Recipe,
    apt_source: &str,
    tmp: &Path,
    log: &Path,
    mut step: crate::progress::Step,
) -> anyhow::Result<(crate::progress::Step, String)> {
    let mut cmd = Command::new("apt-get");
    cmd.args(["source", "--download-only", apt_source])
        .current_dir(tmp)
        .env_clear()
        .env("PATH", BASE_PATH)
        .env("LC_ALL", "C.UTF-8")
        .env("HOME", "/root");
    let end = procs::run_logged("apt-get source", &mut cmd, log, None, &mut || step.tick())?;
    if !end.success() {
        step.failed(&end.describe());
        let tail = procs::log_tail(log, 8);
        let why = if tail.contains("Can not find version") {
            format!(
                "the recipe is out of date: the archive no longer has {apt_source}; re-verify \
                 the recipe against `{}/bookworm` (targets/README.md)",
                recipe.source_package()
            )
        } else if tail.contains("deb-src") || tail.contains("Unable to find a source package") {
            "apt has no source index: add the deb-src source of targets/README.md \
             (host prerequisites) and run `apt-get update`"
                .to_string()
        } else {
            format!("apt-get source failed ({})", end.describe())
        };
        bail!("{why}; see {}:\n{tail}", log.display());
    }
    let dsc = find_dsc(recipe, tmp)?;
    let version = dsc_version(&dsc)?;
    let want = recipe.debian_version.as_deref().unwrap_or_default();
    if version != want {
        step.failed("version mismatch");
        bail!(
            "{} is version {version}, the recipe was verified with {want}: update the recipe \
             (and the cases' patches) or pin apt_source",
            dsc.display(),
        );
    }
    let done = format!("{} {version}", recipe.source_package());
    Ok((step, done))
}

/// The recipe's POM copied into `tmp`, and `mvn -B -q GOALS` for each goal line: what the
/// goals lay out (the tree) is the download.
fn maven_download(
    recipe: &Recipe,
    m: &crate::recipe::Maven,
    tmp: &Path,
    log: &Path,
    mut step: crate::progress::Step,
) -> anyhow::Result<(crate::progress::Step, String)> {
    let pom = recipe.dir.join(&m.pom);
    std::fs::copy(&pom, tmp.join("pom.xml"))
        .with_context(|| format!("cannot copy {} into {}", pom.display(), tmp.display()))?;
    for (i, goals) in m.goals.iter().enumerate() {
        let mut cmd = Command::new("mvn");
        cmd.args(["-B", "-q"])
            .args(goals.split_whitespace())
            .current_dir(tmp)
            .env_clear()
            .env("PATH", BASE_PATH)
            .env("LC_ALL", "C.UTF-8")
            .env("HOME", "/root");
        let name = format!("fetch.maven.goals[{i}]");
        let end = procs::run_logged(&name, &mut cmd, log, None, &mut || step.tick())?;
        if !end.success() {
            step.failed(&end.describe());
            bail!(
                "mvn {goals} failed ({}): Maven Central must be reachable and the artifacts \
                 served; see {}:\n{}",
                end.describe(),
                log.display(),
                procs::log_tail(log, 12)
            );
        }
    }
    if !tmp.join(&recipe.fetch.tree).is_dir() {
        step.failed("no tree");
        bail!(
            "the Maven goals laid out no {} in {}: fix fetch.tree or fetch.maven",
            recipe.fetch.tree,
            tmp.display()
        );
    }
    let done = format!("{} {} from Maven Central", recipe.name, recipe.version);
    Ok((step, done))
}

fn find_dsc(recipe: &Recipe, dir: &Path) -> anyhow::Result<PathBuf> {
    let prefix = format!("{}_", recipe.source_package());
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension().is_some_and(|e| e == "dsc")
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(&prefix))
        })
        .collect();
    found.sort();
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => bail!("no {prefix}*.dsc in {}", dir.display()),
        _ => bail!("several {prefix}*.dsc in {}: {found:?}", dir.display()),
    }
}

/// The `Version:` field of a Debian source control file.
pub fn dsc_version(dsc: &Path) -> anyhow::Result<String> {
    let text =
        std::fs::read_to_string(dsc).with_context(|| format!("cannot read {}", dsc.display()))?;
    text.lines()
        .find_map(|l| l.strip_prefix("Version:"))
        .map(|v| v.trim().to_string())
        .with_context(|| format!("{} has no Version field", dsc.display()))
}

fn remove_dir(path: &Path) -> anyhow::Result<()> {
    match std::fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("cannot remove {}", path.display())),
    }
}

/// A built tree.
#[derive(Clone, Debug)]
pub struct Built {
    /// The fetch folder (holds the tree, the stamps and `logs/`).
    pub dir: PathBuf,
    /// `TARGET_SRC`.
    pub tree: PathBuf,
    /// Later steps chain on it.
    pub stamp: Stamp,
}

/// Where a tree comes from.
#[derive(Clone, Copy, Debug)]
pub enum Source<'a> {
    /// The recipe's source package: the stamp [`ensure_download`] returned, and its
    /// folder; unpacked with `dpkg-source -x` and `fetch.unpack`.
    Download { stamp: &'a Stamp, dir: &'a Path },
    /// A local checkout, copied as it is into `fetch.tree` (no unpack, no version check).
    Checkout(&'a Checkout),
}

/// Which tree to build, where.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    pub recipe: &'a Recipe,
    pub source: Source<'a>,
    /// The fetch folder: emptied and refilled when the tree is rebuilt.
    pub dir: &'a Path,
    pub patch: Option<&'a Path>,
    pub jobs: Option<u32>,
    /// Rebuild even when the stamp matches.
    pub redo: bool,
}

/// A fresh unpack of the download in `req.dir`, patched with `req.patch`, built in
/// place; reused as it is when its build stamp matches and the outputs exist.
pub fn ensure_built(req: &Request<'_>, progress: &Progress) -> anyhow::Result<Built> {
    let Request {
        recipe,
        source,
        dir,
        patch,
        jobs,
        redo,
    } = *req;
    let mut fetch = Stamp::new("fetch");
    match source {
        Source::Download { stamp, .. } => {
            fetch
                .add("download", stamp.hash())
                .add_list("unpack", &recipe.fetch.unpack);
            if recipe.files_dir().is_dir() {
                fetch.add_tree("recipe files", &recipe.files_dir())?;
            }
            &mut fetch
        }
        // the checkout's content, not its path: a moved checkout is the same source
        Source::Checkout(c) => fetch.add("checkout", format!("{}:{}", c.method, c.state)),
    };
    fetch.add("tree", recipe.fetch.tree.as_str());
    match patch {
        Some(p) => fetch.add_file("patch", p)?,
        None => fetch.add("patch", "none"),
    };
    let mut build = Stamp::new("build");
    build
        .add("fetch", fetch.hash())
        .add_map("env", &recipe.build_env(None))
        .add_list("steps", &recipe.build.steps)
        .add_list("outputs", &recipe.build.outputs);
    let tree = recipe.tree_in(dir);
    let build_stamp = dir.join("build.stamp");
    let outputs_exist = recipe.build.outputs.iter().all(|o| tree.join(o).exists());
    if !redo && build.matches(&build_stamp) && outputs_exist {
        progress.step("fetch").reused(&tree.display().to_string());
        progress.step("build").reused("build");
        return Ok(Built {
            dir: dir.to_path_buf(),
            tree,
            stamp: build,
        });
    }

    if let Source::Checkout(c) = source {
        c.check_apart(dir)?;
    }
    let mut step = progress.step("fetch");
    remove_dir(dir)?;
    make_dir(dir)?;
    let logs = dir.join("logs");
    make_dir(&logs)?;
    let log = logs.join("fetch.log");
    step.watch_log(&log);
    let root_env = recipe.build_env(jobs);
    let filled = match source {
        Source::Download {
            dir: download_dir, ..
        } => unpack(recipe, download_dir, dir, &root_env, &log, &mut || {
            step.tick()
        }),
        Source::Checkout(c) => c.copy_into(&tree, &log, &mut || step.tick()),
    };
    if let Err(e) = filled {
        step.failed(match source {
            Source::Download { .. } => "unpack failed",
            Source::Checkout(_) => "copy failed",
        });
        return Err(e);
    }
    if !tree.is_dir() {
        step.failed("no tree");
        bail!(
            "fetch.tree {} is not in {} after the unpack: fix the recipe",
            recipe.fetch.tree,
            dir.display()
        );
    }
    if let Some(p) = patch {
        let mut cmd = Command::new("patch");
        cmd.args(["-p1", "--batch", "--forward", "-i"])
            .arg(p)
            .current_dir(&tree)
            .env_clear()
            .envs(&root_env);
        let end = procs::run_logged("patch", &mut cmd, &log, None, &mut || step.tick())?;
        if !end.success() {
            step.failed("patch does not apply");
            bail!(
                "{} does not apply to {} with patch -p1; see {}:\n{}",
                p.display(),
                tree.display(),
                log.display(),
                procs::log_tail(&log, 10)
            );
        }
    }
    fetch.write(&dir.join("fetch.stamp"))?;
    step.done(&tree.display().to_string());

    let mut step = progress.step("build");
    let log = logs.join("build.log");
    step.watch_log(&log);
    for (i, s) in recipe.build.steps.iter().enumerate() {
        let mut cmd = Command::new("bash");
        cmd.arg("-c")
            .arg(s)
            .current_dir(&tree)
            .env_clear()
            .envs(&root_env);
        let name = format!("build.steps[{i}]");
        let what = format!("{name} of {} failed", recipe.name);
        step = step.run_logged(&name, &mut cmd, &log, None, &what, 15)?;
    }
    let missing: Vec<&String> = recipe
        .build
        .outputs
        .iter()
        .filter(|o| !tree.join(o).exists())
        .collect();
    if !missing.is_empty() {
        step.failed("outputs missing");
        bail!(
            "the build of {} did not produce {missing:?} (build.outputs); see {}",
            recipe.name,
            log.display()
        );
    }
    build.write(&build_stamp)?;
    step.done(&tree.display().to_string());
    Ok(Built {
        dir: dir.to_path_buf(),
        tree,
        stamp: build,
    })
}

/// `apt-get source`'s unpack, from the download: `dpkg-source -x` and `fetch.unpack` in
/// the fetch folder `dir`.
fn unpack(
    recipe: &Recipe,
    download_dir: &Path,
    dir: &Path,
    root_env: &BTreeMap<String, String>,
    log: &Path,
    tick: &mut dyn FnMut(),
) -> anyhow::Result<()> {
    if recipe.fetch.apt_source.is_none() {
        return copy_download(recipe, download_dir, dir, root_env, log, tick);
    }
    let dsc = find_dsc(recipe, download_dir)?;
    for e in std::fs::read_dir(download_dir)
        .with_context(|| format!("cannot read {}", download_dir.display()))?
    {
        let src = e?.path();
        if src.is_file() {
            let dst = dir.join(src.file_name().unwrap_or_default());
            if std::fs::hard_link(&src, &dst).is_err() {
                std::fs::copy(&src, &dst).with_context(|| {
                    format!("cannot copy {} to {}", src.display(), dst.display())
                })?;
            }
        }
    }
    // what `apt-get source` runs after its download (apt's DPkg::Source-Options)
    let mut steps: Vec<(String, Command)> = Vec::new();
    let mut x = Command::new("dpkg-source");
    x.args(["--no-check", "-x"]).arg(&dsc);
    steps.push(("dpkg-source -x".to_string(), x));
    for (i, u) in recipe.fetch.unpack.iter().enumerate() {
        let mut c = Command::new("bash");
        c.arg("-c").arg(u);
        steps.push((format!("fetch.unpack[{i}]"), c));
    }
    for (name, mut cmd) in steps {
        cmd.current_dir(dir).env_clear().envs(root_env);
        let end = procs::run_logged(&name, &mut cmd, log, None, tick)?;
        if !end.success() {
            bail!(
                "{name} failed in {} ({}); see {}:\n{}",
                dir.display(),
                end.describe(),
                log.display(),
                procs::log_tail(log, 10)
            );
        }
    }
    Ok(())
}

/// A Maven download's tree copied (hard links where possible) into the fetch folder,
/// then `fetch.unpack` with `RECIPE_DIR` set to the recipe's files.
fn copy_download(
    recipe: &Recipe,
    download_dir: &Path,
    dir: &Path,
    root_env: &BTreeMap<String, String>,
    log: &Path,
    tick: &mut dyn FnMut(),
) -> anyhow::Result<()> {
    let mut steps: Vec<(String, Command)> = Vec::new();
    let mut cp = Command::new("cp");
    cp.args(["-a", "--reflink=auto"])
        .arg(download_dir.join(&recipe.fetch.tree))
        .arg(dir);
    steps.push(("copy the download".to_string(), cp));
    for (i, u) in recipe.fetch.unpack.iter().enumerate() {
        let mut c = Command::new("bash");
        c.arg("-c").arg(u);
        steps.push((format!("fetch.unpack[{i}]"), c));
    }
    for (name, mut cmd) in steps {
        cmd.current_dir(dir)
            .env_clear()
            .envs(root_env)
            .env("RECIPE_DIR", recipe.files_dir());
        let end = procs::run_logged(&name, &mut cmd, log, None, tick)?;
        if !end.success() {
            bail!(
                "{name} failed in {} ({}); see {}:\n{}",
                dir.display(),
                end.describe(),
                log.display(),
                procs::log_tail(log, 10)
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
