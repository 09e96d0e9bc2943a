//! The signature database and what it was trained on: loading it, refusing a database
//! of another target when asked to, and comparing the builds it names with the builds
//! actually running (or recorded in a trace), so a report says "trained on build X,
//! running build Y" instead of ranking confidently against the wrong program.

use std::path::{Path, PathBuf};

use analysis::report::Database;
use analysis::signature::Compiled;
use anyhow::{Context, bail};
use sigdb::Sigdb;

/// A database ready for analysis.
pub struct Loaded {
    pub db: Sigdb,
    pub compiled: Compiled,
}

impl Loaded {
    /// What makes the database untrustworthy (a training on damaged traces, no
    /// signatures), for the first lines of every report.
    pub fn doubts(&self) -> Vec<String> {
        self.db
            .doubts()
            .into_iter()
            .map(|d| format!("the signature database: {d}"))
            .collect()
    }

    pub fn info(&self) -> Database {
        Database {
            target: self.db.header.target.name.clone(),
            version: self.db.header.target.version.clone(),
            ..Database::default()
        }
    }
}

pub fn load(path: &Path) -> anyhow::Result<Loaded> {
    let db = sigdb::read(path).with_context(|| {
        format!(
            "reading the signature database {} (make one with the trainer)",
            path.display()
        )
    })?;
    let compiled = Compiled::new(&db);
    Ok(Loaded { db, compiled })
}

/// With `--expect-target NAME`: an error for another target unless `force`, in which
/// case the mismatch becomes a warning of every report.
pub fn check_name(db: &Sigdb, expect: Option<&str>, force: bool) -> anyhow::Result<Vec<String>> {
    let Some(want) = expect else {
        return Ok(Vec::new());
    };
    let t = &db.header.target;
    if t.name == want {
        return Ok(Vec::new());
    }
    let msg = format!(
        "the signature database is for target {:?} {}, not {want:?}",
        t.name, t.version
    );
    if force {
        Ok(vec![format!(
            "{msg}: carrying on because of --force; the ranking names functions of {:?}",
            t.name
        )])
    } else {
        bail!("{msg}; give the database of {want:?}, or --force to carry on anyway")
    }
}

/// An ELF object seen running (or recorded in a trace).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Running {
    pub path: String,
    pub build_id: Option<String>,
}

fn base(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// The executables of `pids` and the mapped files among them that the database names,
/// with their build-ids (read through /proc, so other mount namespaces work too).
pub fn running_objects(db: &Sigdb, pids: &[u32]) -> Vec<Running> {
    let wanted: Vec<&str> = db
        .header
        .target
        .objects
        .iter()
        .map(|o| base(&o.path))
        .collect();
    let mut out: Vec<Running> = Vec::new();
    let mut add = |path: String, file: &Path| {
        if !out.iter().any(|r| r.path == path) {
            // a jar's build-id is its SHA-256 (as the runner recorded it), an ELF's its note
            let build_id = if path.ends_with(".jar") {
                jvm::methods::jar_hash(file)
            } else {
                build_id(file)
            };
            out.push(Running { path, build_id });
        }
    };
    for &pid in pids.iter().take(64) {
        if let Ok(exe) = std::fs::read_link(format!("/proc/{pid}/exe")) {
            let path = exe.to_string_lossy().into_owned();
            add(path, Path::new(&format!("/proc/{pid}/exe")));
        }
        // a JVM's class path: its jars (open or not yet) and class folders
        for (path, file) in class_path(pid, &wanted) {
            add(path, &file);
        }
        // the jars a JVM has open (it reads them, it does not map them)
        if let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) {
            for fd in fds.flatten() {
                let Ok(target) = std::fs::read_link(fd.path()) else {
                    continue;
                };
                let path = target.to_string_lossy().into_owned();
                if path.ends_with(".jar") && wanted.contains(&base(&path)) {
                    add(path.clone(), &fd.path());
                }
            }
        }
        let Ok(maps) = std::fs::read_to_string(format!("/proc/{pid}/maps")) else {
            continue;
        };
        for m in maps.lines().filter_map(host::procfs::parse_maps_line) {
            let path = m.path.strip_suffix(" (deleted)").unwrap_or(m.path);
            if !m.exec || !path.starts_with('/') || !wanted.contains(&base(path)) {
                continue;
            }
            add(
                path.to_string(),
                Path::new(&format!("/proc/{pid}/root{path}")),
            );
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

/// The entries of a JVM's class path whose file names the database has, as (path in the
/// process, path to read it through `/proc/PID/root`); `dir/*` entries are listed.
fn class_path(pid: u32, wanted: &[&str]) -> Vec<(String, PathBuf)> {
    let is_java = std::fs::read_link(format!("/proc/{pid}/exe"))
        .is_ok_and(|e| e.file_name().is_some_and(|n| n == "java"));
    let Some(args) = host::procfs::cmdline(pid).filter(|_| is_java) else {
        return Vec::new();
    };
    let env_cp = host::procfs::environ_var(pid, "CLASSPATH");
    let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap_or_default();
    let root = PathBuf::from(format!("/proc/{pid}/root"));
    let inside = |p: &Path| root.join(p.strip_prefix("/").unwrap_or(p));
    let mut out = Vec::new();
    for entry in jvm::classpath(&args, env_cp.as_deref()) {
        let abs = cwd.join(&entry);
        if let Some(dir) = entry.strip_suffix("/*").map(|d| cwd.join(d)) {
            let Ok(list) = std::fs::read_dir(inside(&dir)) else {
                continue;
            };
            for f in list.flatten() {
                let name = f.file_name().to_string_lossy().into_owned();
                if name.ends_with(".jar") && wanted.contains(&name.as_str()) {
                    let p = dir.join(&name);
                    out.push((p.display().to_string(), inside(&p)));
                }
            }
        } else if wanted.contains(&base(&abs.to_string_lossy())) {
            out.push((abs.display().to_string(), inside(&abs)));
        }
    }
    out
}

/// The GNU build-id of an ELF file as lowercase hex (`None`: unreadable, not ELF, or no
/// build-id). Reads only the headers and notes, through a read cache.
pub fn build_id(path: &Path) -> Option<String> {
    use object::Object as _;
    let file = std::fs::File::open(path).ok()?;
    let cache = object::ReadCache::new(file);
    let elf = object::File::parse(&cache).ok()?;
    let id = elf.build_id().ok()??;
    Some(id.iter().map(|b| format!("{b:02x}")).collect())
}

/// The database against what runs (or was recorded): another build of a trained object,
/// or another program altogether.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Mismatch {
    /// The database is for another program: none of its objects runs, or the running
    /// object of that name shares too few of its functions.
    pub other_program: Option<String>,
    /// Another build of a trained object (functions may have changed).
    pub other_builds: Vec<String>,
    /// The database cannot be checked (it names no objects).
    pub unchecked: Option<String>,
}

impl Mismatch {
    /// The warnings of a report that went ahead (another program is said as damage).
    pub fn into_warnings(self) -> Vec<String> {
        self.unchecked
            .into_iter()
            .chain(self.other_builds)
            .collect()
    }
}

/// With a database for another program: an error (exit 2) unless `force`, in which case
/// the mismatch is the first thing the report says.
pub fn refuse_other_program(m: &Mismatch, force: bool) -> anyhow::Result<Vec<String>> {
    match &m.other_program {
        None => Ok(Vec::new()),
        Some(why) if force => Ok(vec![format!("{why} (analysed anyway: --force)")]),
        Some(why) => bail!(
            "{why}; give the database of this program (or pass --force to rank its functions \
             anyway)"
        ),
    }
}

/// Share of the database's functions of object `base_name` that the ELF file at `path`
/// defines, when it can be read and the database has enough of them to tell.
fn shared_functions(db: &Sigdb, base_name: &str, path: &Path) -> Option<f64> {
    use object::{Object as _, ObjectSymbol as _};
    let trained: Vec<&str> = db
        .records
        .iter()
        .filter(|r| r.object == base_name && r.class == sigdb::Class::App)
        .map(|r| r.name.as_str())
        .collect();
    if trained.len() < 10 {
        return None;
    }
    let data = std::fs::read(path).ok()?;
    let elf = object::File::parse(&*data).ok()?;
    let names: std::collections::HashSet<&str> = elf
        .symbols()
        .chain(elf.dynamic_symbols())
        .filter_map(|s| s.name().ok())
        .collect();
    if names.is_empty() {
        return None;
    }
    let shared = trained.iter().filter(|n| names.contains(**n)).count();
    Some(shared as f64 / trained.len() as f64)
}

/// Compares the database with what runs (or was recorded): another build of a trained
/// object, or none of the trained objects at all (another target).
pub fn compare(db: &Sigdb, running: &[Running]) -> Mismatch {
    let t = &db.header.target;
    let mut m = Mismatch::default();
    if running.is_empty() {
        return m;
    }
    if t.objects.is_empty() {
        m.unchecked = Some(format!(
            "the signature database ({} {}) names no trained objects: cannot check that it \
             matches the running build",
            t.name, t.version
        ));
        return m;
    }
    let mut matched = false;
    for o in &t.objects {
        for r in running.iter().filter(|r| base(&r.path) == base(&o.path)) {
            matched = true;
            if let (Some(want), Some(have)) = (&o.build_id, &r.build_id)
                && want != have
            {
                // another build of the same program, or another program of that name?
                let share = shared_functions(db, base(&o.path), Path::new(&r.path));
                if share.is_some_and(|f| f < 0.5) {
                    m.other_program = Some(format!(
                        "the signature database is for another program: {} ({}) defines \
                         only {:.0} % of the {} functions the database has for {}",
                        r.path,
                        short(have),
                        100.0 * share.unwrap_or(0.0),
                        t.name,
                        base(&o.path)
                    ));
                    continue;
                }
                m.other_builds.push(format!(
                    "trained on build {} of {}, running build {} ({}): another build (or the \
                     same source built elsewhere); functions may have changed",
                    short(want),
                    base(&o.path),
                    short(have),
                    r.path
                ));
            }
        }
    }
    if !matched {
        let trained: Vec<&str> = t.objects.iter().map(|o| base(&o.path)).collect();
        let seen: Vec<&str> = running.iter().map(|r| base(&r.path)).collect();
        m.other_program = Some(format!(
            "the signature database is for {} {} ({}), but the traced processes run {}: it is \
             for another program",
            t.name,
            t.version,
            trained.join(", "),
            seen.join(", ")
        ));
    }
    m
}

fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use sigdb::{Coverage, Header, ObjectRef, Params, Target, Training};

    fn db(objects: &[(&str, Option<&str>)]) -> Sigdb {
        let header = Header {
            format: String::new(),
            version: 0,
            target: Target {
                name: "demo".into(),
                version: "1.0".into(),
                objects: objects
                    .iter()
                    .map(|(p, b)| ObjectRef {
                        path: (*p).into(),
                        build_id: b.map(str::to_string),
                    })
                    .collect(),
            },
            training: Training {
                tool: "test".into(),
                params: Params {
                    callers: 0,
                    max_episode_len: 4,
                    expiry_ns: None,
                    min_support: 0.5,
                    min_invocations: 1,
                    max_episodes: 8,
                    app_classes: vec![],
                    min_coverage: 0.0,
                    selection: "all".into(),
                    outside_gap_ns: 0,
                    max_candidates: 0,
                    min_evidence: sigdb::DEFAULT_MIN_EVIDENCE,
                },
                traces: vec![],
            },
            coverage: Coverage::default(),
            records: 0,
            checksum: String::new(),
        };
        Sigdb::new(header, vec![])
    }

    fn run(path: &str, id: Option<&str>) -> Running {
        Running {
            path: path.into(),
            build_id: id.map(str::to_string),
        }
    }

    #[test]
    fn the_same_build_is_quiet_another_build_is_named() {
        let d = db(&[("/build/demo", Some("aaaa"))]);
        assert_eq!(
            compare(&d, &[run("/srv/demo", Some("aaaa"))]),
            Mismatch::default()
        );
        let m = compare(&d, &[run("/srv/demo", Some("bbbb"))]);
        assert_eq!(m.other_program, None, "another build, not another program");
        let w = m.into_warnings();
        assert_eq!(w.len(), 1);
        assert!(
            w[0].contains("trained on build aaaa of demo, running build bbbb"),
            "{w:?}"
        );
    }

    #[test]
    fn another_target_is_named() {
        let d = db(&[("/build/demo", Some("aaaa"))]);
        let m = compare(&d, &[run("/usr/bin/python3", Some("cccc"))]);
        let why = m.other_program.clone().expect("another program");
        assert!(
            why.contains("for another program") && why.contains("python3"),
            "{why}"
        );
        // refused unless forced, and then said first
        let e = refuse_other_program(&m, false).unwrap_err();
        assert!(e.to_string().contains("--force"), "{e}");
        let said = refuse_other_program(&m, true).unwrap();
        assert!(said[0].contains("--force"), "{said:?}");
    }

    #[test]
    fn a_binary_of_the_same_name_with_other_functions_is_another_program() {
        // a database whose "demo" has functions this test binary lacks
        let mut d = db(&[("/build/demo", Some("aaaa"))]);
        d.records = (0..20)
            .map(|i| {
                let mut r = testkit::sigdbs::record(&format!("demo_fn_{i}"), "demo.c", 1, vec![]);
                r.object = "demo".into();
                r
            })
            .collect();
        let me = std::env::current_exe().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let demo = dir.path().join("demo");
        std::fs::copy(&me, &demo).unwrap();
        let m = compare(&d, &[run(demo.to_str().unwrap(), Some("bbbb"))]);
        let why = m.other_program.expect("another program of the same name");
        assert!(why.contains("defines only 0 %"), "{why}");
    }

    #[test]
    fn expect_target_refuses_unless_forced() {
        let d = db(&[]);
        assert!(check_name(&d, Some("demo"), false).unwrap().is_empty());
        let e = check_name(&d, Some("nginx"), false).unwrap_err();
        assert!(e.to_string().contains("--force"), "{e}");
        let w = check_name(&d, Some("nginx"), true).unwrap();
        assert_eq!(w.len(), 1);
    }

    #[test]
    fn the_running_executable_is_found_with_its_build_id() {
        let d = db(&[("/x/cargo-test-binary", None)]);
        let me = std::process::id();
        let r = running_objects(&d, &[me]);
        let exe = std::env::current_exe().unwrap();
        let found = r.iter().find(|o| o.path == exe.to_string_lossy());
        assert!(found.is_some(), "{r:?}");
        // rustc gives test binaries a build-id unless told otherwise
        let direct = build_id(&exe);
        assert!(
            direct
                .as_ref()
                .is_some_and(|id| id.len() >= 16 && id.bytes().all(|b| b.is_ascii_hexdigit())),
            "{direct:?}"
        );
        assert_eq!(found.unwrap().build_id, direct);
        assert_eq!(build_id(Path::new("/etc/hostname")), None, "not ELF");
    }
}
