//! A local source checkout given to `cargo xtask train --source DIR`: checked, summed up
//! by a hash that changes whenever what would be copied changes, and copied into the work
//! folder (the build never runs in the user's checkout).
//!
//! The hash of a git checkout (a `DIR/.git` folder or file) is made of `HEAD`, `git status`,
//! the diff of the working tree against `HEAD`, the content of untracked files and the
//! size and mtime of ignored ones, so a fresh clone of the same commit hashes the same.
//! Anything else, or a checkout git cannot read (no git, no commit yet, a repository
//! owned by another user), is hashed from a listing of every path with its type, mode,
//! size, mtime and symlink target. The top-level `.git` is neither copied nor hashed.

use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use sha2::{Digest, Sha256};

use crate::procs;

/// Top-level entries of a checkout that are never copied nor hashed.
pub const EXCLUDED: &[&str] = &[".git"];

/// A local checkout to train on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkout {
    /// Absolute, symlinks resolved.
    pub dir: PathBuf,
    /// `HEAD` of a git checkout, with `-dirty` appended when the working tree differs
    /// from it (tracked changes or untracked files), as `git describe --dirty` does.
    pub commit: Option<String>,
    /// How [`Checkout::state`] was computed: `git` or `listing`.
    pub method: &'static str,
    /// Hex SHA-256 of what would be copied (see the module documentation).
    pub state: String,
}

impl Checkout {
    /// Checks that `dir` is a non-empty folder and hashes its state.
    pub fn inspect(dir: &Path) -> anyhow::Result<Checkout> {
        let abs = std::path::absolute(dir)
            .with_context(|| format!("--source {}: cannot resolve the path", dir.display()))?;
        let meta = match std::fs::metadata(&abs) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                bail!("--source {}: no such folder", abs.display())
            }
            Err(e) => {
                return Err(e).with_context(|| format!("--source {}: cannot stat", abs.display()));
            }
        };
        if !meta.is_dir() {
            bail!(
                "--source {} is not a folder: give the top folder of the server's checkout",
                abs.display()
            );
        }
        let dir = abs
            .canonicalize()
            .with_context(|| format!("--source {}: cannot resolve the path", abs.display()))?;
        if entries(&dir)?.is_empty() {
            bail!(
                "--source {} is empty (or holds only .git): nothing to build",
                dir.display()
            );
        }
        if dir.join(".git").exists() {
            match git_state(&dir) {
                Ok((commit, state)) => {
                    return Ok(Checkout {
                        dir,
                        commit: Some(commit),
                        method: "git",
                        state,
                    });
                }
                Err(e) => tracing::warn!(
                    "{} looks like a git checkout but git cannot read it ({e:#}); \
                     hashing a listing of its files instead",
                    dir.display()
                ),
            }
        }
        let state = listing_state(&dir)?;
        Ok(Checkout {
            dir,
            commit: None,
            method: "listing",
            state,
        })
    }

    /// `local:DIR`, what the index records as the source of a database.
    pub fn source(&self) -> String {
        format!("local:{}", self.dir.display())
    }

    /// Fails when `dest` (a folder that will be emptied and refilled) and the checkout
    /// overlap: emptying it must never touch the checkout, and the checkout must not
    /// hold its own copy.
    pub fn check_apart(&self, dest: &Path) -> anyhow::Result<()> {
        let dest = resolve(dest)?;
        if dest.starts_with(&self.dir) || self.dir.starts_with(&dest) {
            bail!(
                "--source {} and the work folder's copy {} overlap: use --work with a folder \
                 outside the checkout",
                self.dir.display(),
                dest.display()
            );
        }
        Ok(())
    }

    /// Copies the checkout (without [`EXCLUDED`]) into `tree`, which must be empty or
    /// missing: `cp -a --reflink=auto`, so a copy-on-write filesystem shares the blocks.
    pub fn copy_into(&self, tree: &Path, log: &Path, tick: &mut dyn FnMut()) -> anyhow::Result<()> {
        self.check_apart(tree)?;
        super::make_dir(tree)?;
        let mut cmd = Command::new("cp");
        cmd.args(["-a", "--reflink=auto", "-t"])
            .arg(tree)
            .arg("--")
            .args(entries(&self.dir)?)
            .env_clear()
            .env("PATH", crate::recipe::BASE_PATH)
            .env("LC_ALL", "C.UTF-8");
        let end = procs::run_logged("copy --source", &mut cmd, log, None, tick)?;
        if !end.success() {
            bail!(
                "copying {} to {} failed ({}); see {}:\n{}",
                self.dir.display(),
                tree.display(),
                end.describe(),
                log.display(),
                procs::log_tail(log, 10)
            );
        }
        Ok(())
    }
}

/// `path` absolute with the symlinks of its longest existing ancestor resolved (the rest
/// does not exist yet).
fn resolve(path: &Path) -> anyhow::Result<PathBuf> {
    let abs =
        std::path::absolute(path).with_context(|| format!("cannot resolve {}", path.display()))?;
    let mut rest = Vec::new();
    let mut cur = abs.as_path();
    loop {
        if let Ok(real) = cur.canonicalize() {
            return Ok(rest.iter().rev().fold(real, |p, c| p.join(c)));
        }
        match (cur.parent(), cur.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                cur = parent;
            }
            _ => return Ok(abs),
        }
    }
}

/// The checkout's top-level entries that get copied, sorted, as absolute paths.
fn entries(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let e = e.with_context(|| format!("cannot read {}", dir.display()))?;
        let name = e.file_name();
        if !EXCLUDED.iter().any(|x| name.as_bytes() == x.as_bytes()) {
            out.push(e.path());
        }
    }
    out.sort();
    Ok(out)
}

/// Length-prefixed, so that no two different sequences of parts hash alike.
fn frame(h: &mut Sha256, part: &[u8]) {
    h.update((part.len() as u64).to_le_bytes());
    h.update(part);
}

fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs `git -C DIR ARGS` for its output. It never takes the index lock (`git status`
/// would otherwise refresh the index of the user's checkout) and never looks for a
/// repository above DIR (a broken `DIR/.git` inside another repository must not make
/// git describe that one).
fn git(dir: &Path, args: &[&str]) -> anyhow::Result<Vec<u8>> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_OPTIONAL_LOCKS", "0")
        .env(
            "GIT_CEILING_DIRECTORIES",
            dir.parent().unwrap_or(Path::new("/")),
        )
        .env("LC_ALL", "C")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .output()
        .context("cannot run git")?;
    if !out.status.success() {
        bail!(
            "git {} failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(out.stdout)
}

/// `(HEAD[-dirty], hash)` of a git checkout.
fn git_state(dir: &Path) -> anyhow::Result<(String, String)> {
    let top = git(dir, &["rev-parse", "--show-toplevel"])?;
    let top = PathBuf::from(String::from_utf8_lossy(&top).trim_end_matches('\n'));
    if top.canonicalize().ok().as_deref() != Some(dir) {
        bail!("git's top folder is {}, not the checkout", top.display());
    }
    let head = String::from_utf8_lossy(&git(dir, &["rev-parse", "--verify", "HEAD"])?)
        .trim()
        .to_string();
    let status = git(
        dir,
        &["status", "--porcelain=v1", "-z", "--untracked-files=all"],
    )?;
    let diff = git(
        dir,
        &[
            "diff",
            "HEAD",
            "--binary",
            "--no-color",
            "--no-ext-diff",
            "--no-textconv",
        ],
    )?;
    let untracked = git(dir, &["ls-files", "-z", "--others", "--exclude-standard"])?;
    let ignored = git(
        dir,
        &[
            "ls-files",
            "-z",
            "--others",
            "--ignored",
            "--exclude-standard",
        ],
    )?;
    let mut h = Sha256::new();
    frame(&mut h, b"git");
    frame(&mut h, head.as_bytes());
    frame(&mut h, &status);
    frame(&mut h, &diff);
    for rel in untracked.split(|&b| b == 0).filter(|p| !p.is_empty()) {
        let path = dir.join(std::ffi::OsStr::from_bytes(rel));
        frame(&mut h, rel);
        frame(&mut h, describe_entry(&path, true)?.as_bytes());
    }
    frame(&mut h, b"ignored");
    for rel in ignored.split(|&b| b == 0).filter(|p| !p.is_empty()) {
        let path = dir.join(std::ffi::OsStr::from_bytes(rel));
        frame(&mut h, rel);
        frame(&mut h, describe_entry(&path, false)?.as_bytes());
    }
    let commit = if status.is_empty() {
        head
    } else {
        format!("{head}-dirty")
    };
    Ok((commit, hex(&h.finalize())))
}

/// Type, mode, size, mtime and symlink target of one path; with `content`, the SHA-256
/// of a regular file's bytes instead of its mtime.
fn describe_entry(path: &Path, content: bool) -> anyhow::Result<String> {
    let meta = std::fs::symlink_metadata(path)
        .with_context(|| format!("cannot stat {}", path.display()))?;
    let ft = meta.file_type();
    let kind = if ft.is_symlink() {
        let target = std::fs::read_link(path)
            .with_context(|| format!("cannot read the link {}", path.display()))?;
        return Ok(format!("l {}", target.display()));
    } else if ft.is_dir() {
        'd'
    } else if ft.is_file() {
        'f'
    } else {
        'o'
    };
    let mode = meta.mode() & 0o7777;
    if content && ft.is_file() {
        let sum = crate::stamp::file_sha256(path)?;
        return Ok(format!("{kind} {mode:o} {} {sum}", meta.len()));
    }
    Ok(format!(
        "{kind} {mode:o} {} {}.{:09}",
        meta.len(),
        meta.mtime(),
        meta.mtime_nsec()
    ))
}

/// The hash of every path under `dir` (but the top-level `.git`), in sorted order, with
/// what [`describe_entry`] says of it; symlinks are not followed.
pub fn listing_state(dir: &Path) -> anyhow::Result<String> {
    let mut h = Sha256::new();
    frame(&mut h, b"listing");
    let mut stack: Vec<PathBuf> = entries(dir)?.into_iter().rev().collect();
    while let Some(path) = stack.pop() {
        let rel = path.strip_prefix(dir).unwrap_or(&path);
        frame(&mut h, rel.as_os_str().as_bytes());
        frame(&mut h, describe_entry(&path, false)?.as_bytes());
        let meta = std::fs::symlink_metadata(&path)
            .with_context(|| format!("cannot stat {}", path.display()))?;
        if meta.is_dir() {
            let mut children: Vec<PathBuf> = std::fs::read_dir(&path)
                .with_context(|| format!("cannot read {}", path.display()))?
                .map(|e| e.map(|e| e.path()))
                .collect::<Result<_, _>>()
                .with_context(|| format!("cannot read {}", path.display()))?;
            children.sort();
            stack.extend(children.into_iter().rev());
        }
    }
    Ok(hex(&h.finalize()))
}

#[cfg(test)]
mod tests;
