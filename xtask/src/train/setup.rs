//! The steps between a built tree and what runs in it: the test suite's set-up
//! (`test.setup` as root, `test.prepare` as the test user) and a bug case tree's
//! (`test.case_setup` as root), each stamped so that it runs once per build.

use std::collections::BTreeMap;
use std::process::Command;

use crate::procs;
use crate::progress::Progress;
use crate::recipe::{BASE_PATH, Recipe};
use crate::stamp::{self, Stamp};
use crate::tree;

use super::StepName;

/// test.setup as root, then test.prepare as the test user.
pub(super) fn ensure_setup(
    recipe: &Recipe,
    built: &tree::Built,
    ctx: &super::Ctx,
    progress: &Progress,
) -> anyhow::Result<Stamp> {
    let t = &recipe.test;
    let mut st = Stamp::new("setup");
    st.add("build", built.stamp.hash())
        .add_list("setup", &t.setup)
        .add_list("prepare", &t.prepare)
        .add("user", t.user.as_str())
        .add_map("env", &t.env);
    let steps = Steps {
        name: "setup",
        root: ("test.setup", &t.setup),
        user: ("test.prepare", &t.prepare),
        stamp_file: "setup.stamp",
    };
    run(
        recipe,
        built,
        &steps,
        st,
        ctx.redo(StepName::Setup),
        progress,
    )
}

/// test.case_setup as root in a bug case's tree (what its scripts use of the suite's
/// environment: a client library, say), once per build of the tree. Nothing to do for
/// recipes without it.
pub(super) fn ensure_case_setup(
    recipe: &Recipe,
    built: &tree::Built,
    progress: &Progress,
) -> anyhow::Result<()> {
    let t = &recipe.test;
    if t.case_setup.is_empty() {
        return Ok(());
    }
    let mut st = Stamp::new("case setup");
    st.add("build", built.stamp.hash())
        .add_list("case_setup", &t.case_setup);
    let steps = Steps {
        name: "case setup",
        root: ("test.case_setup", &t.case_setup),
        user: ("", &[]),
        stamp_file: "case-setup.stamp",
    };
    run(recipe, built, &steps, st, false, progress).map(|_| ())
}

/// Shell steps to run in a built tree: as root, then as the test user.
struct Steps<'a> {
    name: &'static str,
    root: (&'static str, &'a [String]),
    user: (&'static str, &'a [String]),
    stamp_file: &'static str,
}

/// Runs `steps` in `built`'s tree unless `st` matches its stamp (and `redo` is not asked).
fn run(
    recipe: &Recipe,
    built: &tree::Built,
    steps: &Steps<'_>,
    st: Stamp,
    redo: bool,
    progress: &Progress,
) -> anyhow::Result<Stamp> {
    let t = &recipe.test;
    let path = built.dir.join(steps.stamp_file);
    let mut step = progress.step(steps.name);
    if !redo && st.matches(&path) {
        step.reused(steps.name);
        return Ok(st);
    }
    stamp::clear(&path)?;
    let log = built
        .dir
        .join(format!("logs/{}.log", steps.name.replace(' ', "-")));
    step.watch_log(&log);
    let mut root_env = BTreeMap::new();
    root_env.insert("PATH".to_string(), BASE_PATH.to_string());
    root_env.insert("HOME".to_string(), "/root".to_string());
    root_env.insert("LC_ALL".to_string(), "C.UTF-8".to_string());
    let su = procs::setpriv_prefix(&t.user)?;
    let mut all: Vec<(String, &String, bool)> = Vec::new();
    for ((label, list), as_user) in [(steps.root, false), (steps.user, true)] {
        for (i, s) in list.iter().enumerate() {
            all.push((format!("{label}[{i}]"), s, as_user));
        }
    }
    for (name, script, as_user) in all {
        let mut cmd = if as_user {
            let mut c = Command::new(&su[0]);
            c.args(&su[1..]).env_clear().envs(&t.env);
            c.arg("bash");
            c
        } else {
            let mut c = Command::new("bash");
            c.env_clear().envs(&root_env);
            c
        };
        cmd.args(["-c", script]).current_dir(&built.tree);
        let what = format!("{name} of {} failed", recipe.name);
        step = step.run_logged(&name, &mut cmd, &log, None, &what, 15)?;
    }
    st.write(&path)?;
    step.done("");
    Ok(st)
}
