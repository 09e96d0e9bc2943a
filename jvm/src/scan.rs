//! Every method of the application's JVM code, loaded or not: the classes of a jar or
//! class folder read from their class files, as the agent would list them had it loaded
//! them (same class, name, descriptor, source, first line, leaf flag and location), and
//! the class path entries of a JVM ([`crate::classpath`]) made paths.
//!
//! The agent's tables only know the classes a JVM loaded; a method of a class the test
//! suite never loaded would otherwise be missing from the database, and production could
//! never name it. A bad class file is skipped and counted, never fatal.

use std::path::{Path, PathBuf};

use crate::classfile;
use crate::methods::{LEAF, Method};
use crate::zip::{Archive, MAX_ENTRIES, MAX_ENTRY, ZipError};

/// Which classes of a code source are the application's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Filter {
    /// Every class (a jar named with `--jvm-jar`).
    All,
    /// Classes in these dotted packages, or named exactly so (`--jvm-app`).
    Packages(Vec<String>),
}

impl Filter {
    /// Whether the class of internal name `name` is application code, by the agent's rules
    /// (its own classes, the platform's and lambda proxies never are).
    pub fn admits(&self, name: &str) -> bool {
        const EXCLUDED: [&str; 6] = [
            "perfscope/agent/",
            "java/",
            "javax/",
            "jdk/",
            "sun/",
            "com/sun/",
        ];
        if EXCLUDED.iter().any(|p| name.starts_with(p))
            || name.contains("$$Lambda")
            || name.contains("/0x")
            || name.contains("+0x")
        {
            return false;
        }
        match self {
            Filter::All => true,
            Filter::Packages(ps) => ps.iter().any(|p| {
                let p = p.trim_end_matches('.').replace('.', "/");
                !p.is_empty()
                    && (name == p || name.strip_prefix(&p).is_some_and(|r| r.starts_with('/')))
            }),
        }
    }
}

/// The methods of one code source.
#[derive(Debug, Default)]
pub struct Listing {
    /// Methods with code, leaves flagged with [`LEAF`]; ids are 0 (not the agent's).
    pub methods: Vec<Method>,
    /// Classes read.
    pub classes: usize,
    /// Class files that could not be read, with why (the first few).
    pub failed: Vec<String>,
    pub failed_count: usize,
}

const FAILURES_KEPT: usize = 5;

impl Listing {
    fn fail(&mut self, what: &str, why: impl std::fmt::Display) {
        self.failed_count += 1;
        if self.failed.len() < FAILURES_KEPT {
            self.failed.push(format!("{what}: {why}"));
        }
    }

    fn add(&mut self, entry: &str, bytes: &[u8], filter: &Filter, location: &str) {
        let c = match classfile::parse(bytes) {
            Ok(c) => c,
            Err(e) => return self.fail(entry, e),
        };
        if !filter.admits(&c.name) {
            return;
        }
        self.classes += 1;
        let class = c.name.replace('/', ".");
        let source = c.source_file.as_ref().map(|s| match c.name.rfind('/') {
            Some(i) => format!("{}{s}", &c.name[..=i]),
            None => s.clone(),
        });
        for m in c.methods {
            self.methods.push(Method {
                id: 0,
                class: class.clone(),
                name: m.name,
                descriptor: m.descriptor,
                access: u32::from(m.access) | if m.leaf { LEAF } else { 0 },
                source: source.clone(),
                line: m.line.filter(|&l| l > 0),
                location: Some(location.to_string()),
            });
        }
    }
}

/// Whether a jar entry or a file under a class folder is a class the JVM would load
/// under its own name (not a multi-release variant, not a module or package descriptor).
fn is_class(name: &str) -> bool {
    name.ends_with(".class")
        && !name.starts_with("META-INF/")
        && !name.ends_with("module-info.class")
        && !name.ends_with("package-info.class")
}

/// Every method of the admitted classes of the jar or class folder `path`, with the
/// location the agent would give them (the canonical path).
pub fn list(path: &Path, filter: &Filter) -> Result<Listing, ZipError> {
    let io = |source| ZipError::Io {
        path: path.to_owned(),
        source,
    };
    let canon = std::fs::canonicalize(path).map_err(io)?;
    let location = canon.to_string_lossy().into_owned();
    let mut out = Listing::default();
    if canon.is_dir() {
        let mut stack = vec![(canon.clone(), 0usize)];
        let mut seen = 0u64;
        while let Some((dir, depth)) = stack.pop() {
            let Ok(rd) = std::fs::read_dir(&dir) else {
                out.fail(&dir.to_string_lossy(), "unreadable folder");
                continue;
            };
            for e in rd.flatten() {
                seen += 1;
                if seen > MAX_ENTRIES {
                    out.fail(
                        &location,
                        "more files than this reader accepts; the rest skipped",
                    );
                    return Ok(out);
                }
                let p = e.path();
                let Ok(ft) = e.file_type() else { continue };
                if ft.is_dir() && depth < 64 {
                    stack.push((p, depth + 1));
                } else if ft.is_file() {
                    let rel = p.strip_prefix(&canon).unwrap_or(&p).to_string_lossy();
                    if !is_class(&rel) {
                        continue;
                    }
                    match e.metadata() {
                        Ok(m) if m.len() <= MAX_ENTRY => match std::fs::read(&p) {
                            Ok(b) => out.add(&rel, &b, filter, &location),
                            Err(err) => out.fail(&rel, err),
                        },
                        _ => out.fail(&rel, "too large or unreadable"),
                    }
                }
            }
        }
        return Ok(out);
    }
    let jar = Archive::open(&canon)?;
    for e in &jar.entries {
        if !is_class(&e.name) {
            continue;
        }
        // the class name is the entry's path: skip what the filter refuses unread
        let name = e.name.trim_end_matches(".class");
        if !filter.admits(name) {
            continue;
        }
        match jar.bytes(e) {
            Ok(b) => out.add(&e.name, &b, filter, &location),
            Err(err) => out.fail(&e.name, err),
        }
    }
    Ok(out)
}

/// Class path entries ([`crate::classpath`]) resolved against the JVM's working folder `cwd`: a `DIR/*` entry
/// becomes the jars of `DIR` (as the launcher expands it), entries that do not exist are
/// dropped, the rest made canonical (the agent's locations are).
pub fn resolve_class_path(entries: &[String], cwd: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in entries {
        let p = cwd.join(e);
        if p.file_name().is_some_and(|n| n == "*") {
            let Some(dir) = p.parent() else { continue };
            let Ok(rd) = std::fs::read_dir(dir) else {
                continue;
            };
            let mut jars: Vec<PathBuf> = rd
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x.eq_ignore_ascii_case("jar")))
                .collect();
            jars.sort();
            out.extend(jars.iter().filter_map(|j| std::fs::canonicalize(j).ok()));
        } else if let Ok(c) = std::fs::canonicalize(&p) {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
#[path = "scan/tests.rs"]
mod tests;
