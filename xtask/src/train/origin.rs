//! Where a training's tree comes from: the recipe's Debian source, a local checkout
//! (`--source`), or the Debian source with a patch (`--patch`), each with folders of its
//! own.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use super::Options;
use crate::publish::Provenance;
use crate::recipe::Recipe;
use crate::stamp;
use crate::tree::{Checkout, Layout};

/// Where the training tree comes from.
#[derive(Clone, Debug)]
pub enum Origin {
    /// The recipe's Debian source package (`fetch`), at the recipe's version.
    Debian,
    /// A local checkout (`--source`), published as `version`.
    Local { checkout: Checkout, version: String },
    /// The recipe's Debian source with `patch` applied (`--patch`); `key` names its
    /// folders (`patch-` and the first 16 hex digits of the patch's SHA-256).
    Patched { patch: PathBuf, key: String },
}

impl Origin {
    /// `--source`, `--version` and `--patch`, checked.
    pub(super) fn from_options(opts: &Options, recipe: &Recipe) -> anyhow::Result<Origin> {
        if let Some(patch) = &opts.patch {
            return Origin::patched(patch);
        }
        let Some(dir) = &opts.source else {
            if opts.version.is_some() {
                bail!("--version only names the build of a --source checkout: add --source DIR");
            }
            return Ok(Origin::Debian);
        };
        let version = opts
            .version
            .clone()
            .unwrap_or_else(|| recipe.version.clone());
        check_version(&version)?;
        let checkout = Checkout::inspect(dir)?;
        Ok(Origin::Local { checkout, version })
    }

    /// The Debian source patched with the file at `patch`.
    pub fn patched(patch: &Path) -> anyhow::Result<Origin> {
        let patch = std::path::absolute(patch)
            .with_context(|| format!("cannot resolve {}", patch.display()))?;
        if !patch.is_file() {
            bail!("--patch {}: no such file", patch.display());
        }
        let key = format!("patch-{}", &stamp::file_sha256(&patch)?[..16]);
        Ok(Origin::Patched { patch, key })
    }

    pub fn version<'a>(&'a self, recipe: &'a Recipe) -> &'a str {
        match self {
            Origin::Debian | Origin::Patched { .. } => &recipe.version,
            Origin::Local { version, .. } => version,
        }
    }

    /// The patch to apply to the fresh tree, if any.
    pub fn patch(&self) -> Option<&Path> {
        match self {
            Origin::Patched { patch, .. } => Some(patch),
            _ => None,
        }
    }

    /// The folders of this training: a local checkout's and each patch's apart from the
    /// Debian source's, so that none invalidates another.
    pub fn layout(&self, work: &Path, recipe: &Recipe) -> Layout {
        match self {
            Origin::Debian => Layout::new(work, recipe),
            Origin::Local { .. } => Layout::local(work, recipe),
            Origin::Patched { key, .. } => Layout {
                base: Layout::new(work, recipe).base.join("patched").join(key),
            },
        }
    }

    pub(super) fn provenance(&self, recipe: &Recipe) -> Provenance {
        match self {
            Origin::Debian | Origin::Patched { .. } => Provenance::debian(recipe),
            Origin::Local { checkout, version } => Provenance::local(checkout, version),
        }
    }
}

/// A version goes into file names: one word of ASCII letters, digits and `.+~:_-`,
/// starting with a letter or digit.
pub(super) fn check_version(v: &str) -> anyhow::Result<()> {
    let ok = v.starts_with(|c: char| c.is_ascii_alphanumeric())
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || ".+~:_-".contains(c));
    if !ok {
        bail!(
            "--version {v:?} cannot name a database file: use ASCII letters, digits and \
             . + ~ : _ - only, starting with a letter or digit (e.g. 1.4.69+pr123)"
        );
    }
    Ok(())
}
