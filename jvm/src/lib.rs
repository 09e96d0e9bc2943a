//! perfscope's JVM support, on the Rust side.
//!
//! The Java agent itself is the Maven project `jvm/agent` (built and embedded by the
//! runner's build script): it rewrites application classes so that each thread keeps a
//! shadow stack of (method id, call number) in its own memory, where the capture's BPF
//! program reads it at every syscall (protocol: `jvm/agent/README.md`). This crate is
//! pure: it reads and writes files, never spawns a process.
//!
//! * [`AgentArgs`]: the `-javaagent:` option a tracer adds to `JAVA_TOOL_OPTIONS`.
//! * [`methods`]: the agent's per-process method tables, and [`methods::Catalog`], which
//!   turns (process, method id) into trace function ids and function-table entries.
//! * [`counts`]: the agent's per-process invocation counts.
//! * [`scan`]: every method of a jar or class folder, loaded or not (through [`zip`]
//!   and [`classfile`]), and the class path of a `java` command line.
//! * [`dump`]: HotSpot thread dumps (`jcmd PID Thread.print`), to name Java frames.
//! * [`perfmap`]: the JIT's perf map (`/tmp/perf-PID.map`), to name JIT-compiled frames
//!   of sampled stacks.

pub mod classfile;
pub mod counts;
pub mod dump;
pub mod methods;
pub mod perfmap;
pub mod scan;
pub mod zip;

use std::path::{Path, PathBuf};

/// What the agent is told: which classes are the application's, where its side files go.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AgentArgs {
    /// Package prefixes (dotted) of application classes.
    pub packages: Vec<String>,
    /// Jar files or class folders whose classes are the application's.
    pub jars: Vec<PathBuf>,
    /// The folder the agent writes `PID.methods` and `PID.counts` into.
    pub out: PathBuf,
}

/// Why agent arguments cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum JvmError {
    #[error("no application packages or jars given: name them (e.g. --jvm-app org.example)")]
    NoApplication,
    #[error(
        "{what} {value:?} holds a character the agent's arguments cannot carry (',', ':', '=' or a space)"
    )]
    BadArgument { what: &'static str, value: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} line {line}: {reason}")]
    Format {
        path: PathBuf,
        line: usize,
        reason: String,
    },
}

impl AgentArgs {
    /// `-javaagent:JAR=app=...,jars=...,out=...` for the agent at `jar`.
    pub fn java_option(&self, jar: &Path) -> Result<String, JvmError> {
        if self.packages.is_empty() && self.jars.is_empty() {
            return Err(JvmError::NoApplication);
        }
        let clean = |what: &'static str, v: &str| {
            if v.is_empty() || v.contains([',', ':', '=', ' ', '\t', '\n']) {
                Err(JvmError::BadArgument {
                    what,
                    value: v.to_string(),
                })
            } else {
                Ok(v.to_string())
            }
        };
        let mut parts = Vec::new();
        if !self.packages.is_empty() {
            let p: Result<Vec<String>, _> = self
                .packages
                .iter()
                .map(|p| clean("package", p.trim_end_matches('.')))
                .collect();
            parts.push(format!("app={}", p?.join(":")));
        }
        if !self.jars.is_empty() {
            let j: Result<Vec<String>, _> = self
                .jars
                .iter()
                .map(|j| clean("jar", &j.to_string_lossy()))
                .collect();
            parts.push(format!("jars={}", j?.join(":")));
        }
        parts.push(format!(
            "out={}",
            clean("folder", &self.out.to_string_lossy())?
        ));
        Ok(format!(
            "-javaagent:{}={}",
            clean("agent jar", &jar.to_string_lossy())?,
            parts.join(",")
        ))
    }
}

/// Whether a thread named `comm` is one of the agent's own (its counts writers): their
/// syscalls are the tracer's work, not the application's.
pub fn is_agent_thread(comm: &str) -> bool {
    comm.starts_with("perfscope-count")
}

/// The class path a `java` command line gives (`-cp`, `-classpath`, `--class-path[=]`,
/// or the jar of `-jar`), else `CLASSPATH`, split into entries; `dir/*` entries are kept
/// as they are (the caller lists the folder). Options after the main class or jar are the
/// application's and are not read.
pub fn classpath(args: &[String], env_classpath: Option<&str>) -> Vec<String> {
    let mut it = args.iter().skip(1);
    let mut found: Option<String> = None;
    while let Some(a) = it.next() {
        match a.as_str() {
            "-cp" | "-classpath" | "--class-path" => found = it.next().cloned(),
            "-jar" => {
                found = it.next().cloned();
                break;
            }
            _ if a.starts_with("--class-path=") => {
                found = Some(a["--class-path=".len()..].to_string());
            }
            // options that take a separate value
            "--module-path"
            | "-p"
            | "--add-modules"
            | "--add-opens"
            | "--add-exports"
            | "--add-reads"
            | "--patch-module"
            | "--limit-modules"
            | "--upgrade-module-path" => {
                it.next();
            }
            _ if a.starts_with('-') => {}
            // the main class: what follows is the application's
            _ => break,
        }
    }
    found
        .or_else(|| env_classpath.map(str::to_string))
        .map(|cp| {
            cp.split(':')
                .filter(|e| !e.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// `JAVA_TOOL_OPTIONS` with `option` appended to what it already held.
pub fn tool_options(existing: Option<&str>, option: &str) -> String {
    match existing.map(str::trim).filter(|e| !e.is_empty()) {
        Some(e) => format!("{e} {option}"),
        None => option.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_agent_option_names_packages_jars_and_the_folder() {
        let a = AgentArgs {
            packages: vec!["org.apache.cassandra.".into(), "com.x".into()],
            jars: vec!["/opt/lib/app.jar".into()],
            out: "/tmp/ps".into(),
        };
        assert_eq!(
            a.java_option(Path::new("/tmp/agent.jar")).unwrap(),
            "-javaagent:/tmp/agent.jar=app=org.apache.cassandra:com.x,jars=/opt/lib/app.jar,out=/tmp/ps"
        );
        let none = AgentArgs {
            out: "/tmp".into(),
            ..AgentArgs::default()
        };
        assert!(matches!(
            none.java_option(Path::new("/a.jar")),
            Err(JvmError::NoApplication)
        ));
        let bad = AgentArgs {
            packages: vec!["a,b".into()],
            out: "/tmp".into(),
            ..AgentArgs::default()
        };
        assert!(bad.java_option(Path::new("/a.jar")).is_err());
        assert_eq!(
            tool_options(Some(" -Xmx1g "), "-javaagent:x"),
            "-Xmx1g -javaagent:x"
        );
        assert_eq!(tool_options(None, "-javaagent:x"), "-javaagent:x");
    }

    #[test]
    fn class_paths_from_command_lines() {
        let args = |s: &str| s.split(' ').map(str::to_string).collect::<Vec<_>>();
        assert_eq!(
            classpath(
                &args("java -Xmx1g -cp /a/classes:/b/lib/* org.x.Main -cp nope"),
                None
            ),
            ["/a/classes", "/b/lib/*"]
        );
        assert_eq!(
            classpath(
                &args("java --class-path=x.jar --add-opens java.base/a=ALL Main"),
                None
            ),
            ["x.jar"]
        );
        assert_eq!(
            classpath(&args("java -jar app.jar -cp other"), Some("env.jar")),
            ["app.jar"]
        );
        assert_eq!(classpath(&args("java Main"), Some("e1:e2")), ["e1", "e2"]);
        assert!(classpath(&args("java Main"), None).is_empty());
        assert!(classpath(&args("java -cp"), None).is_empty());
    }
}
