//! Builds the Java agent (`jvm/agent/`, a Maven project) into
//! `$OUT_DIR/perfscope-agent.jar` so that the runner can embed it. The sources are copied to `$OUT_DIR` first: the build
//! never writes into the source tree, and two builds never share a Maven target folder.
//!
//! `PERFSCOPE_AGENT_JAR=PATH` uses a jar built elsewhere instead. Without Maven (or
//! without network for its first run) the crate still builds: the jar is then missing and
//! `runner::jvm::agent_jar()` says why, so only the JVM features fail, with that reason.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR"));
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("manifest dir"));
    let agent = manifest.join("../jvm/agent");
    println!("cargo:rerun-if-changed=../jvm/agent/pom.xml");
    println!("cargo:rerun-if-changed=../jvm/agent/src/main");
    println!("cargo:rerun-if-env-changed=PERFSCOPE_AGENT_JAR");
    let jar = out.join("perfscope-agent.jar");
    let status = out.join("agent-status.txt");
    let result = match std::env::var_os("PERFSCOPE_AGENT_JAR") {
        Some(given) => std::fs::copy(&given, &jar).map(|_| ()).map_err(|e| {
            format!(
                "PERFSCOPE_AGENT_JAR={}: {e}",
                PathBuf::from(&given).display()
            )
        }),
        None => build(&agent, &out, &jar),
    };
    match result {
        Ok(()) => write(&status, ""),
        Err(why) => {
            println!("cargo:warning=the JVM agent was not built: {why}");
            write(&jar, "");
            write(&status, &why);
        }
    }
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}

/// `mvn package` of a copy of the agent's sources.
fn build(agent: &Path, out: &Path, jar: &Path) -> Result<(), String> {
    let work = out.join("agent-build");
    let _ = std::fs::remove_dir_all(&work);
    copy_tree(&agent.join("src/main"), &work.join("src/main"))
        .map_err(|e| format!("copying the agent's sources: {e}"))?;
    std::fs::copy(agent.join("pom.xml"), work.join("pom.xml"))
        .map_err(|e| format!("copying pom.xml: {e}"))?;
    let output = Command::new("mvn")
        .args(["-q", "-B", "-Dmaven.test.skip=true", "package"])
        .current_dir(&work)
        .output()
        .map_err(|e| format!("cannot run mvn ({e}): install Maven 3.8+ and a JDK 17"))?;
    if !output.status.success() {
        let mut log = String::from_utf8_lossy(&output.stdout).into_owned();
        log.push_str(&String::from_utf8_lossy(&output.stderr));
        let tail: Vec<&str> = log.lines().rev().take(15).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(format!(
            "mvn package failed ({}): {}",
            output.status,
            tail.join(" | ")
        ));
    }
    std::fs::copy(work.join("target/perfscope-agent.jar"), jar)
        .map(|_| ())
        .map_err(|e| format!("mvn built no target/perfscope-agent.jar: {e}"))
}

fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let dest = to.join(e.file_name());
        if e.file_type()?.is_dir() {
            copy_tree(&e.path(), &dest)?;
        } else {
            std::fs::copy(e.path(), dest)?;
        }
    }
    Ok(())
}
