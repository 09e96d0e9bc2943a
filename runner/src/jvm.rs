//! JVM suites: the runner adds perfscope's Java agent to every JVM the command starts
//! (through `JAVA_TOOL_OPTIONS`, which child JVMs inherit), and turns the JVM frames of
//! the capture (method ids of each process's own table) into trace functions as they come.
//!
//! The agent writes its method tables and invocation counts into a folder of the runner's
//! (`/tmp/perfscope-runner-PID-jvm/out`, writable by the command's user); the runner reads
//! a table again whenever a frame names a method it does not know yet, writes the new
//! methods into the trace as a JVM object chunk before the event that names them, and at
//! the end adds every instrumented method and the agents' invocation counts. The folder
//! is removed when the runner ends normally.
//!
//! The agents only list the classes their JVM loaded. So that the database also knows
//! the methods of classes the suite never loaded (0 invocations, as native functions the
//! suite never ran), the end also lists the application's code from its class files: the
//! `--jvm-jar` paths, and for `--jvm-app` the class path of every traced JVM (its command
//! line or `CLASSPATH`, read from `/proc` when the JVM is first seen).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use host::identity::Identity;
use jvm::methods::{Catalog, FRAME_JVM};
use trace::{Event, FunctionId, Object};

/// The agent jar built with the runner (`build.rs`), or why there is none (Maven missing
/// when the runner was built).
pub fn agent_jar() -> Result<&'static [u8], &'static str> {
    const JAR: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/perfscope-agent.jar"));
    const STATUS: &str = include_str!(concat!(env!("OUT_DIR"), "/agent-status.txt"));
    if JAR.is_empty() {
        Err(if STATUS.is_empty() {
            "the JVM agent was not built"
        } else {
            STATUS
        })
    } else {
        Ok(JAR)
    }
}

/// Which JVM code is the application's.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JvmOptions {
    /// Package prefixes (`--jvm-app org.example`).
    pub packages: Vec<String>,
    /// Jars or class folders (`--jvm-jar lib/app.jar`).
    pub jars: Vec<PathBuf>,
}

impl JvmOptions {
    pub fn is_empty(&self) -> bool {
        self.packages.is_empty() && self.jars.is_empty()
    }
}

/// The JVM part of one recording.
#[derive(Debug)]
pub struct JvmRun {
    dir: PathBuf,
    catalog: Catalog,
    /// Threads of the agent itself (its counts writers): their syscalls are not the
    /// application's and are left out of the trace.
    agent_threads: HashSet<u32>,
    /// Processes whose agent showed itself (a thread of its own, or a method table).
    agent_pids: HashSet<u32>,
    /// Processes that executed a `java` launcher, with its path.
    java_pids: BTreeMap<u32, String>,
    /// `--jvm-app` packages and `--jvm-jar` paths (canonical).
    packages: Vec<String>,
    jars: Vec<PathBuf>,
    /// Class path entries of the traced JVMs (canonical), and the JVMs read.
    class_path: BTreeSet<PathBuf>,
    class_path_read: HashSet<u32>,
    pub dropped_agent_syscalls: u64,
    /// Frames whose method no table knew (dropped from their syscall).
    pub unknown_frames: u64,
    /// Set by [`JvmRun::finish`].
    pub coverage: JvmCoverage,
}

/// What the agents instrumented and what the suite ran, for the summary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JvmCoverage {
    /// JVMs that ran the agent.
    pub processes: usize,
    /// Application methods instrumented, in all of them.
    pub methods: usize,
    /// Leaf methods left out (they cannot make a syscall).
    pub leaves: usize,
    /// Methods invoked at least once.
    pub hit: usize,
    /// Their invocations.
    pub invocations: u64,
    /// Methods of application classes no JVM loaded, listed from their class files.
    pub never_loaded: usize,
}

/// Why the JVM support could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum JvmSetupError {
    #[error(
        "JVM application code was named (--jvm-app/--jvm-jar) but this runner has no JVM agent: \
         {0}; rebuild perfscope with Maven 3.8+ and a JDK 17 installed"
    )]
    NoAgent(&'static str),
    #[error(transparent)]
    Args(#[from] jvm::JvmError),
    #[error("preparing {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl JvmRun {
    /// Writes the agent where the command's user can read it, makes the side-file folder,
    /// and returns the run and the `JAVA_TOOL_OPTIONS` value for the command. Trace ids of
    /// JVM methods start at `first_id`.
    pub fn prepare(
        opts: &JvmOptions,
        identity: &Identity,
        first_id: FunctionId,
    ) -> Result<(JvmRun, String), JvmSetupError> {
        let jar_bytes = agent_jar().map_err(JvmSetupError::NoAgent)?;
        let dir = std::env::temp_dir().join(format!("perfscope-runner-{}-jvm", std::process::id()));
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| JvmSetupError::Io { path, source }
        };
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).map_err(io(&dir))?;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).map_err(io(&dir))?;
        let jar = dir.join("perfscope-agent.jar");
        std::fs::write(&jar, jar_bytes).map_err(io(&jar))?;
        std::fs::set_permissions(&jar, std::fs::Permissions::from_mode(0o644)).map_err(io(&jar))?;
        let out = dir.join("out");
        std::fs::create_dir(&out).map_err(io(&out))?;
        match identity {
            Identity::User { user, .. } => {
                std::os::unix::fs::chown(&out, Some(user.uid), Some(user.gid)).map_err(io(&out))?;
                std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o755))
                    .map_err(io(&out))?;
            }
            // any JVM of the command may write here, whoever it runs as
            _ => std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o1777))
                .map_err(io(&out))?,
        }
        let args = jvm::AgentArgs {
            packages: opts.packages.clone(),
            jars: opts
                .jars
                .iter()
                .map(|j| std::fs::canonicalize(j).unwrap_or_else(|_| j.clone()))
                .collect(),
            out: out.clone(),
        };
        let jars = args.jars.clone();
        let option = args.java_option(&jar)?;
        let tool_options =
            jvm::tool_options(std::env::var("JAVA_TOOL_OPTIONS").ok().as_deref(), &option);
        Ok((
            JvmRun {
                dir,
                catalog: Catalog::new(out, first_id),
                agent_threads: HashSet::new(),
                agent_pids: HashSet::new(),
                java_pids: BTreeMap::new(),
                packages: opts.packages.clone(),
                jars,
                class_path: BTreeSet::new(),
                class_path_read: HashSet::new(),
                dropped_agent_syscalls: 0,
                unknown_frames: 0,
                coverage: JvmCoverage::default(),
            },
            tool_options,
        ))
    }

    /// Prepares `ev` for the trace: JVM frames become trace function ids (methods new to
    /// the trace are returned, to be written first); `false` when the event is the agent's
    /// own and is left out.
    pub fn translate(&mut self, ev: &mut Event, new: &mut Vec<Object>) -> bool {
        match ev {
            Event::Exec { pid, path, .. } => {
                if Path::new(path.as_str())
                    .file_name()
                    .is_some_and(|n| n == "java")
                {
                    self.java_pids.insert(*pid, path.clone());
                    self.read_class_path(*pid);
                }
                true
            }
            Event::Comm { pid, tid, comm, .. } => {
                if jvm::is_agent_thread(comm) {
                    self.read_class_path(*pid);
                    self.agent_pids.insert(*pid);
                    self.agent_threads.insert(*tid);
                } else {
                    self.agent_threads.remove(tid);
                }
                true
            }
            Event::Syscall(s) => {
                if self.agent_threads.contains(&s.tid) {
                    self.dropped_agent_syscalls += 1;
                    return false;
                }
                if s.frames().iter().all(|f| f.func & FRAME_JVM == 0) {
                    return true;
                }
                let mut frames = Vec::with_capacity(s.frames().len());
                for f in s.frames() {
                    if f.func & FRAME_JVM == 0 {
                        frames.push(*f);
                    } else if let Some(id) = self.catalog.global(s.pid, f.func & !FRAME_JVM) {
                        frames.push(trace::Frame { func: id, ..*f });
                    } else {
                        self.unknown_frames += 1;
                    }
                }
                s.set_frames(&frames);
                new.extend(self.catalog.take_new());
                true
            }
            _ => true,
        }
    }

    /// At the end: every instrumented method of every JVM (so methods that made no
    /// syscall count as instrumented), and the agents' invocation counts as one
    /// `Invocations` event (summed over processes). Also notes for the footer.
    pub fn finish(&mut self, ts: u64) -> (Vec<Object>, Option<Event>, Vec<String>) {
        let mut notes = Vec::new();
        if let Err(e) = self.catalog.read_all() {
            notes.push(format!("JVM method tables: {e}"));
        }
        let pids: Vec<u32> = self.catalog.pids().collect();
        let mut totals: BTreeMap<FunctionId, u64> = BTreeMap::new();
        let mut partial = Vec::new();
        for &pid in &pids {
            self.catalog.ensure_all(pid);
            match jvm::counts::read(&self.catalog.dir().join(format!("{pid}.counts"))) {
                Ok(Some(c)) => {
                    if !c.last {
                        partial.push(pid);
                    }
                    for (local, n) in c.by_id {
                        if let Some(id) = self.catalog.global(pid, local) {
                            *totals.entry(id).or_default() += n;
                        }
                    }
                }
                Ok(None) => {}
                Err(e) => notes.push(format!("JVM invocation counts of pid {pid}: {e}")),
            }
        }
        for &pid in &pids {
            self.read_class_path(pid);
        }
        let never_loaded = self.add_never_loaded(&mut notes);
        let objects = self.catalog.take_new();
        let (instrumented, leaves) = self.catalog.instrumented_and_leaves();
        notes.push(format!(
            "JVM: {} processes ran the agent; {instrumented} application methods \
             instrumented, {leaves} leaf methods left out (they cannot make a syscall)",
            pids.len()
        ));
        if !partial.is_empty() {
            notes.push(format!(
                "JVM invocation counts of pids {partial:?} are up to a second short: those \
                 JVMs did not exit normally (killed by a signal?)"
            ));
        }
        if self.unknown_frames > 0 {
            notes.push(format!(
                "{} JVM frames named methods no method table listed; their syscalls went to \
                 the next known frame",
                self.unknown_frames
            ));
        }
        self.coverage = JvmCoverage {
            processes: pids.len(),
            methods: instrumented,
            leaves,
            hit: totals.values().filter(|&&n| n > 0).count(),
            invocations: totals.values().sum(),
            never_loaded,
        };
        self.agent_pids.extend(pids.iter().copied());
        notes.extend(without_agent(&self.java_pids, &self.agent_pids));
        let counts: Vec<(FunctionId, u64)> = totals.into_iter().collect();
        let event = (!counts.is_empty()).then_some(Event::Invocations { ts, counts });
        (objects, event, notes)
    }

    /// The folder of the agent and its side files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Notes the class path of JVM `pid` (once per process; with `--jvm-app` only: the
    /// `--jvm-jar` paths are known already). A JVM already gone is skipped.
    fn read_class_path(&mut self, pid: u32) {
        if self.packages.is_empty() || !self.class_path_read.insert(pid) {
            return;
        }
        let Some(args) = host::procfs::cmdline(pid) else {
            return;
        };
        let env_cp = host::procfs::environ_var(pid, "CLASSPATH");
        let Ok(cwd) = std::fs::read_link(format!("/proc/{pid}/cwd")) else {
            return;
        };
        let entries = jvm::classpath(&args, env_cp.as_deref());
        self.class_path
            .extend(jvm::scan::resolve_class_path(&entries, &cwd));
    }

    /// Lists the application's code from its class files and gives ids to the methods
    /// of classes no JVM loaded; returns how many.
    fn add_never_loaded(&mut self, notes: &mut Vec<String>) -> usize {
        use jvm::scan::Filter;
        let app = Filter::Packages(self.packages.clone());
        let sources = self.jars.iter().map(|j| (j, &Filter::All)).chain(
            self.class_path
                .iter()
                .filter(|p| !self.jars.contains(p))
                .map(|p| (p, &app)),
        );
        let (mut listed, mut failed, mut examples) = (Vec::new(), 0, Vec::new());
        for (path, filter) in sources {
            match jvm::scan::list(path, filter) {
                Ok(l) => {
                    failed += l.failed_count;
                    examples.extend(l.failed);
                    listed.extend(l.methods);
                }
                Err(e) => notes.push(format!(
                    "JVM: the methods of {} could not be listed, so those of its classes the \
                     suite never loaded are not in the trace: {e}",
                    path.display()
                )),
            }
        }
        if failed > 0 {
            examples.truncate(3);
            notes.push(format!(
                "JVM: {failed} class files of the application could not be read and were \
                 skipped (their methods, if never loaded, are not in the trace): {}",
                examples.join("; ")
            ));
        }
        self.catalog.add_unloaded(&listed)
    }
}

/// A note naming the JVMs that ran without the agent (their methods are invisible), and
/// what drops it.
fn without_agent(java: &BTreeMap<u32, String>, agent: &HashSet<u32>) -> Option<String> {
    let missing: Vec<String> = java
        .iter()
        .filter(|(pid, _)| !agent.contains(pid))
        .map(|(pid, path)| format!("{pid} ({path})"))
        .collect();
    (!missing.is_empty()).then(|| {
        format!(
            "JVM: {} java processes ran without perfscope's agent, so none of their methods \
             was seen: {}. The agent reaches a JVM through JAVA_TOOL_OPTIONS (its \
             -javaagent: option); a script that clears the environment (env -i, a sudo) or \
             replaces JAVA_TOOL_OPTIONS drops it: keep the variable, or add its -javaagent: \
             option to that JVM's flags",
            missing.len(),
            missing.join(", ")
        )
    })
}

impl Drop for JvmRun {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jvms_without_the_agent_are_named() {
        let java: BTreeMap<u32, String> = [
            (
                10,
                "/usr/lib/jvm/java-17-openjdk-amd64/bin/java".to_string(),
            ),
            (11, "/usr/bin/java".to_string()),
        ]
        .into();
        assert_eq!(without_agent(&java, &[10, 11].into()), None);
        assert_eq!(without_agent(&BTreeMap::new(), &HashSet::new()), None);
        let note = without_agent(&java, &[10].into()).unwrap();
        assert!(
            note.starts_with("JVM: 1 java processes ran without"),
            "{note}"
        );
        assert!(note.contains("11 (/usr/bin/java)") && note.contains("JAVA_TOOL_OPTIONS"));
        assert!(!note.contains("10 ("));
    }

    #[test]
    fn the_agent_is_embedded_or_says_why_not() {
        match agent_jar() {
            Ok(jar) => assert_eq!(&jar[..2], b"PK", "a jar is a zip"),
            Err(why) => assert!(!why.is_empty()),
        }
    }
}
