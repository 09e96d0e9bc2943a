//! `cargo xtask diffcheck`: does `sigdb diff` tell a change of the code from the noise of
//! retraining? Trains a target's quick suite, retrains it unpatched (the same commit: the
//! diff must find nothing) and patched with a fixture of `fixtures/diffcheck/` (the
//! diff must name exactly the function the patch changes), and prints a summary.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};

use crate::progress::Progress;
use crate::publish;
use crate::recipe::{Recipe, Suite};
use crate::train::{self, Ctx, Origin, StepName};
use crate::{Common, tools, tree};

/// Train a target's quick suite, retrain it unpatched and patched, and check that
/// `sigdb diff` finds nothing between the unpatched trainings and exactly the patched
/// function in the patched one. Needs root. Exit 0: both hold; 1: one does not.
#[derive(Debug, clap::Args)]
pub struct Options {
    /// Target recipe: `targets/NAME.toml`.
    #[arg(long, value_name = "NAME")]
    pub target: String,

    /// Unpatched retrainings, each compared with the first training.
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub attempts: u32,

    /// The patch; its text before the diff names the changed function in a line
    /// `Function: NAME` [default: `fixtures/diffcheck/NAME.patch`].
    #[arg(long, value_name = "FILE")]
    pub patch: Option<PathBuf>,

    #[command(flatten)]
    pub common: Common,
}

/// One comparison: what `sigdb diff OLD NEW` would say.
#[derive(Clone, Debug, PartialEq)]
pub struct Comparison {
    pub label: String,
    /// `sigdb diff`'s exit code: 0 the same, 1 different.
    pub exit: u8,
    /// The functions that make it differ (added, removed, moved or changed).
    pub counted: Vec<String>,
    /// Shown but not counted, by kind (low evidence, newly covered, ...).
    pub not_counted: BTreeMap<String, usize>,
}

pub fn run(opts: Options) -> anyhow::Result<ExitCode> {
    if !crate::procs::is_root() {
        bail!("cargo xtask diffcheck trains under the runner and needs root: run it as root");
    }
    let ctx = Ctx::from_common(&opts.common, None, false)?;
    let recipe = Recipe::find(&ctx.targets, &opts.target)?;
    let patch = match &opts.patch {
        Some(p) => p.clone(),
        None => default_patch(&recipe.name)?,
    };
    let text = std::fs::read_to_string(&patch)
        .with_context(|| format!("cannot read {}", patch.display()))?;
    let expected = expected_function(&text).with_context(|| {
        format!(
            "{} names no function: add a line `Function: NAME` before the diff",
            patch.display()
        )
    })?;
    let progress = Progress::new(format!("diffcheck {}", recipe.name));
    let tools = tools::locate(&["runner", "trainer"], &ctx.work.join("logs"), &progress)?;
    let out = ctx.work.join("diffcheck").join(&recipe.name);
    tree::make_dir(&out)?;
    let train = |origin: &Origin, ctx: &Ctx, name: &str| -> anyhow::Result<sigdb::Sigdb> {
        train::ensure_trained(
            &recipe,
            origin,
            Suite::Quick,
            ctx,
            &tools,
            StepName::Train,
            &progress,
        )?;
        let db = origin
            .layout(&ctx.work, &recipe)
            .base
            .join(publish::versioned_file_name(
                &recipe.name,
                origin.version(&recipe),
                Suite::Quick,
            ));
        let kept = out.join(name);
        std::fs::copy(&db, &kept)
            .with_context(|| format!("cannot copy {} to {}", db.display(), kept.display()))?;
        sigdb::read(&kept).with_context(|| format!("cannot read {}", kept.display()))
    };
    // the first training is whatever is there (a CI job's train step made it already)
    let first = train(&Origin::Debian, &ctx, "a.sigdb")?;
    let mut results = Vec::new();
    let again = Ctx {
        redo: Some(StepName::Capture),
        ..ctx.clone()
    };
    for i in 1..=opts.attempts {
        let db = train(&Origin::Debian, &again, &format!("b{i}.sigdb"))?;
        results.push(compare(&format!("a vs b{i} (unpatched)"), &first, &db)?);
    }
    let patched = train(&Origin::patched(&patch)?, &ctx, "patched.sigdb")?;
    results.push(compare("a vs patched", &first, &patched)?);
    let (text, ok) = summary(&recipe.name, &patch, &expected, &results);
    print!("{text}");
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `fixtures/diffcheck/NAME.patch`. Not under `targets/NAME/`: that folder's files are
/// part of the recipe, and a patch there would make every training of it rebuild.
fn default_patch(name: &str) -> anyhow::Result<PathBuf> {
    let p = crate::workspace_root()
        .join("fixtures/diffcheck")
        .join(format!("{name}.patch"));
    if !p.is_file() {
        bail!(
            "no diffcheck patch for {name} ({} does not exist): give one with --patch",
            p.display()
        );
    }
    Ok(p)
}

/// The `Function: NAME` line of a patch's text before its first `--- ` line.
pub fn expected_function(patch: &str) -> Option<String> {
    patch
        .lines()
        .take_while(|l| !l.starts_with("--- "))
        .find_map(|l| l.strip_prefix("Function:"))
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty())
}

/// What `sigdb diff` would say of `old` → `new` under its default options.
pub fn compare(label: &str, old: &sigdb::Sigdb, new: &sigdb::Sigdb) -> anyhow::Result<Comparison> {
    sigdb::comparable(old, new).map_err(|e| anyhow::anyhow!("{label}: {e}"))?;
    let d = sigdb::diff(old, new);
    let mut counted: Vec<String> = d
        .added
        .iter()
        .map(|f| f.name.clone())
        .chain(d.removed.iter().map(|f| f.name.clone()))
        .chain(d.moved.iter().map(|m| m.name.clone()))
        .chain(d.counted_changes().map(|c| c.name.clone()))
        .collect();
    counted.sort();
    counted.dedup();
    let mut not_counted = BTreeMap::new();
    for c in d.uncounted_changes() {
        *not_counted.entry(c.kind.as_str().to_string()).or_insert(0) += 1;
    }
    Ok(Comparison {
        label: label.to_string(),
        exit: u8::from(d.differs()),
        counted,
        not_counted,
    })
}

/// The summary, and whether the check holds: every unpatched comparison exits 0, the
/// patched one (the last) exits 1 naming `expected` and nothing else.
pub fn summary(
    target: &str,
    patch: &Path,
    expected: &str,
    results: &[Comparison],
) -> (String, bool) {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "diffcheck {target} (quick suite; {} changes {expected})",
        patch.file_name().map_or("".into(), |n| n.to_string_lossy())
    );
    let mut ok = true;
    for (i, r) in results.iter().enumerate() {
        let patched = i + 1 == results.len();
        let holds = if patched {
            r.exit == 1 && r.counted == [expected]
        } else {
            r.exit == 0
        };
        ok &= holds;
        let rest: Vec<String> = r
            .not_counted
            .iter()
            .map(|(k, n)| format!("{n} {k}"))
            .collect();
        let _ = writeln!(
            out,
            "  {:<26} exit {}  {} counted{}{}  {}",
            r.label,
            r.exit,
            r.counted.len(),
            if r.counted.is_empty() {
                String::new()
            } else {
                format!(": {}", r.counted.join(", "))
            },
            if rest.is_empty() {
                String::new()
            } else {
                format!(" (not counted: {})", rest.join(", "))
            },
            if holds { "ok" } else { "WRONG" }
        );
    }
    let _ = writeln!(
        out,
        "{}",
        if ok {
            format!("ok: retrainings agree and the patch shows as {expected} alone")
        } else {
            format!(
                "FAILED: an unpatched retraining differs, or the patched one does not name \
                 {expected} alone"
            )
        }
    );
    (out, ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_function_is_named_before_the_diff() {
        let p = "why\n\nFunction: connection_close\n\n--- a/x.c\n+++ b/x.c\n+Function: no\n";
        assert_eq!(expected_function(p).as_deref(), Some("connection_close"));
        assert_eq!(expected_function("--- a/x\nFunction: late\n"), None);
        assert_eq!(expected_function("Function:   \n--- a/x\n"), None);
    }

    fn cmp(label: &str, exit: u8, counted: &[&str]) -> Comparison {
        Comparison {
            label: label.into(),
            exit,
            counted: counted.iter().map(|s| s.to_string()).collect(),
            not_counted: BTreeMap::from([("low evidence".to_string(), 2)]),
        }
    }

    #[test]
    fn the_check_needs_silence_unpatched_and_exactly_the_function_patched() {
        let p = Path::new("fixtures/diffcheck/x.patch");
        let good = [cmp("b1", 0, &[]), cmp("patched", 1, &["f"])];
        let (text, ok) = summary("x", p, "f", &good);
        assert!(ok, "{text}");
        assert!(text.contains("(not counted: 2 low evidence)"), "{text}");
        for bad in [
            [cmp("b1", 1, &["g"]), cmp("patched", 1, &["f"])],
            [cmp("b1", 0, &[]), cmp("patched", 1, &["f", "g"])],
            [cmp("b1", 0, &[]), cmp("patched", 0, &[])],
            [cmp("b1", 0, &[]), cmp("patched", 1, &["g"])],
        ] {
            let (text, ok) = summary("x", p, "f", &bad);
            assert!(
                !ok && text.contains("WRONG") && text.contains("FAILED"),
                "{text}"
            );
        }
    }

    #[test]
    fn two_targets_are_not_compared() {
        let a = sigdb::Sigdb::new(testkit::sigdbs::header("1", "00"), vec![]);
        let mut b = a.clone();
        b.header.target.name = "other".into();
        let e = compare("a vs b", &a, &b).unwrap_err().to_string();
        assert!(e.contains("two different targets"), "{e}");
        assert_eq!(compare("a vs a", &a, &a).unwrap().exit, 0);
    }
}
