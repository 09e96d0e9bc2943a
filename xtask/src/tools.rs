//! The project's binaries that the tasks drive (`runner`, `trainer`, `perfscope`, `sigdb`): built
//! in release mode with cargo and found through cargo's JSON messages. `XTASK_RUNNER`,
//! `XTASK_TRAINER`, `XTASK_PERFSCOPE` name a binary to use instead (tests use stand-ins).

use std::collections::BTreeMap;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, bail};
use cargo_metadata::Message;

use crate::procs;
use crate::progress::Progress;

/// The environment variable that overrides binary `name`.
pub fn override_var(name: &str) -> String {
    format!("XTASK_{}", name.to_uppercase())
}

/// The package that builds binary `bin` (the package of the same name, but for `sigdb`).
fn package_of(bin: &str) -> &str {
    match bin {
        "sigdb" => "sigdb-tool",
        b => b,
    }
}

/// Paths of the binaries `names`.
pub fn locate(
    names: &[&str],
    log_dir: &Path,
    progress: &Progress,
) -> anyhow::Result<BTreeMap<String, PathBuf>> {
    let mut found = BTreeMap::new();
    let mut build = Vec::new();
    for &n in names {
        match std::env::var_os(override_var(n)) {
            Some(p) => {
                let p = PathBuf::from(p);
                if !p.is_file() {
                    bail!(
                        "{} names {}, which is not a file",
                        override_var(n),
                        p.display()
                    );
                }
                found.insert(n.to_string(), p);
            }
            None => build.push(n),
        }
    }
    if build.is_empty() {
        return Ok(found);
    }
    std::fs::create_dir_all(log_dir)
        .with_context(|| format!("cannot create {}", log_dir.display()))?;
    let log = log_dir.join("cargo-build.log");
    let mut step = progress.step(&format!("cargo build {}", build.join(" ")));
    step.watch_log(&log);
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args([
        "build",
        "--release",
        "--message-format=json-render-diagnostics",
    ])
    .current_dir(crate::workspace_root());
    for n in &build {
        cmd.args(["-p", package_of(n), "--bin", n]);
    }
    let err =
        std::fs::File::create(&log).with_context(|| format!("cannot create {}", log.display()))?;
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(err);
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot run {}", procs::describe(&cmd)))?;
    let stdout = child.stdout.take().context("cargo's output is not piped")?;
    for msg in Message::parse_stream(BufReader::new(stdout)) {
        step.tick();
        if let Message::CompilerArtifact(a) = msg.context("cannot read cargo's messages")?
            && let Some(exe) = a.executable
            && build.contains(&a.target.name.as_str())
        {
            found.insert(a.target.name.clone(), exe.into_std_path_buf());
        }
    }
    let status = child.wait().context("cannot wait for cargo")?;
    procs::check_interrupted()?;
    if !status.success() {
        step.failed("");
        bail!(
            "cargo build failed ({status}); see {}:\n{}",
            log.display(),
            procs::log_tail(&log, 15)
        );
    }
    let missing: Vec<&&str> = build.iter().filter(|n| !found.contains_key(**n)).collect();
    if !missing.is_empty() {
        step.failed("");
        bail!("cargo built no executable for {missing:?}");
    }
    step.done("");
    Ok(found)
}
