//! The agent's method tables (`OUT/PID.methods`, format in `jvm/agent/README.md`) and the
//! [`Catalog`] that gives each method one trace function id, whatever process it ran in.
//!
//! The BPF program records a JVM frame as the method's id in its own process's table
//! (with [`FRAME_JVM`] set). A method table only grows, and every line of a class is
//! written before the class can run, so an id not yet known is found by reading the file
//! again from where the last read stopped.

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use trace::{EntryClass, Function, FunctionClass, FunctionId, Object, ObjectKind};

use crate::JvmError;

/// The bit a capture sets on a frame's function id when it is a JVM method id
/// (`FRAME_JVM` in capture's records.h).
pub const FRAME_JVM: u32 = 0x8000_0000;

/// The flag in `access` of a method the agent listed but did not instrument (a leaf: it
/// cannot make a syscall).
pub const LEAF: u32 = 0x4000_0000;

const HEADER: &str = "# perfscope-jvm methods v1 ";

/// One line of a method table.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Method {
    pub id: u32,
    /// Dotted binary name: `org.example.Server$Worker`.
    pub class: String,
    /// `handle`, `<init>`, `<clinit>`, `lambda$run$0`.
    pub name: String,
    pub descriptor: String,
    pub access: u32,
    /// `org/example/Server.java`, when the class says.
    pub source: Option<String>,
    /// First line of the method, when the class says.
    pub line: Option<u32>,
    /// The jar or class folder it was loaded from.
    pub location: Option<String>,
}

impl Method {
    /// `org.example.Server$Worker.handle`: how perfscope names a method.
    pub fn qualified_name(&self) -> String {
        format!("{}.{}", self.class, self.name)
    }

    pub fn is_leaf(&self) -> bool {
        self.access & LEAF != 0
    }
}

/// Parses one data line of a method table.
pub fn parse_line(line: &str) -> Result<Method, String> {
    let f: Vec<&str> = line.split('\t').collect();
    if f.len() != 8 {
        return Err(format!("{} fields, expected 8", f.len()));
    }
    let opt = |s: &str| (s != "-" && !s.is_empty()).then(|| s.to_string());
    let num = |s: &str, what: &str| {
        s.parse::<u32>()
            .map_err(|_| format!("{what} {s:?} is not a number"))
    };
    if f[1].is_empty() || f[2].is_empty() || !f[3].starts_with('(') {
        return Err("empty class or method, or a descriptor that is not one".into());
    }
    Ok(Method {
        id: num(f[0], "id")?,
        class: f[1].to_string(),
        name: f[2].to_string(),
        descriptor: f[3].to_string(),
        access: num(f[4], "access")?,
        source: opt(f[5]),
        line: Some(num(f[6], "line")?).filter(|&l| l > 0),
        location: opt(f[7]),
    })
}

/// One process's method table, read incrementally.
#[derive(Debug)]
pub struct Table {
    path: PathBuf,
    /// Bytes of the file consumed (complete lines only).
    offset: u64,
    /// By id (dense: ids start at 0).
    methods: Vec<Option<Method>>,
    /// Lines that did not parse.
    pub bad_lines: usize,
}

impl Table {
    pub fn new(path: PathBuf) -> Table {
        Table {
            path,
            offset: 0,
            methods: Vec::new(),
            bad_lines: 0,
        }
    }

    pub fn get(&self, id: u32) -> Option<&Method> {
        self.methods.get(id as usize)?.as_ref()
    }

    /// Every method read so far.
    pub fn methods(&self) -> impl Iterator<Item = &Method> {
        self.methods.iter().flatten()
    }

    /// Reads the lines added since the last call; returns how many methods were new.
    pub fn refresh(&mut self) -> Result<usize, JvmError> {
        let io = |source| JvmError::Io {
            path: self.path.clone(),
            source,
        };
        let mut f = match std::fs::File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(io(e)),
        };
        f.seek(SeekFrom::Start(self.offset)).map_err(io)?;
        let mut buf = Vec::new();
        f.read_to_end(&mut buf).map_err(io)?;
        // only complete lines: the agent may be writing the rest
        let Some(end) = buf.iter().rposition(|&b| b == b'\n') else {
            return Ok(0);
        };
        let text = String::from_utf8_lossy(&buf[..end]);
        let mut added = 0;
        for (i, line) in text.lines().enumerate() {
            if self.offset == 0 && i == 0 {
                if !line.starts_with(HEADER) {
                    return Err(JvmError::Format {
                        path: self.path.clone(),
                        line: 1,
                        reason: format!("not a perfscope-jvm method table: {line:?}"),
                    });
                }
                continue;
            }
            match parse_line(line) {
                Ok(m) => {
                    let i = m.id as usize;
                    if i >= self.methods.len() {
                        self.methods.resize(i + 1, None);
                    }
                    if self.methods[i].is_none() {
                        added += 1;
                    }
                    self.methods[i] = Some(m);
                }
                Err(_) => self.bad_lines += 1,
            }
        }
        self.offset += end as u64 + 1;
        Ok(added)
    }
}

/// Identity of a method across processes: two JVMs running the same jar share its ids.
type Key = (String, String, String, Option<String>);

/// Every JVM method seen in a capture, with its trace function id.
#[derive(Debug)]
pub struct Catalog {
    dir: PathBuf,
    tables: HashMap<u32, Table>,
    /// (pid, local id) → global id, per process.
    local: HashMap<u32, Vec<Option<FunctionId>>>,
    by_key: HashMap<Key, FunctionId>,
    next: FunctionId,
    /// Functions given ids since the last [`Catalog::take_new`], by location.
    fresh: Vec<(Option<String>, Function)>,
    /// Frames naming a method no table knows (the table was unreadable or damaged).
    pub unknown: u64,
    /// SHA-256 of each jar seen, by path (`None`: a folder, or unreadable).
    hashes: HashMap<String, Option<String>>,
}

impl Catalog {
    /// A catalog of the tables in `dir`, giving ids from `first_id` on (above the ids of
    /// the ELF functions of the same trace).
    pub fn new(dir: impl Into<PathBuf>, first_id: FunctionId) -> Catalog {
        Catalog {
            dir: dir.into(),
            tables: HashMap::new(),
            local: HashMap::new(),
            by_key: HashMap::new(),
            next: first_id,
            fresh: Vec::new(),
            unknown: 0,
            hashes: HashMap::new(),
        }
    }

    /// The folder of the agent's side files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The trace function id of method `local` of process `pid` (a frame id without its
    /// [`FRAME_JVM`] bit), reading the process's table again when it does not know it yet.
    pub fn global(&mut self, pid: u32, local: u32) -> Option<FunctionId> {
        if let Some(Some(id)) = self.local.get(&pid).and_then(|v| v.get(local as usize)) {
            return Some(*id);
        }
        let dir = &self.dir;
        let table = self
            .tables
            .entry(pid)
            .or_insert_with(|| Table::new(dir.join(format!("{pid}.methods"))));
        if table.get(local).is_none() {
            let _ = table.refresh();
        }
        let Some(m) = table.get(local).cloned() else {
            self.unknown += 1;
            return None;
        };
        let id = self.id_of(&m);
        let map = self.local.entry(pid).or_default();
        if map.len() <= local as usize {
            map.resize(local as usize + 1, None);
        }
        map[local as usize] = Some(id);
        Some(id)
    }

    fn id_of(&mut self, m: &Method) -> FunctionId {
        let key = (
            m.class.clone(),
            m.name.clone(),
            m.descriptor.clone(),
            m.location.clone(),
        );
        if let Some(&id) = self.by_key.get(&key) {
            return id;
        }
        let id = self.next;
        self.next += 1;
        self.by_key.insert(key, id);
        self.fresh.push((m.location.clone(), function(id, m)));
        id
    }

    /// The functions given ids since the last call, as trace objects (one per code
    /// source), to write into the trace before the events that name them.
    pub fn take_new(&mut self) -> Vec<Object> {
        let mut by_loc: Vec<Object> = Vec::new();
        for (loc, f) in std::mem::take(&mut self.fresh) {
            let path = loc.unwrap_or_else(|| "[jvm]".to_string());
            match by_loc.iter_mut().find(|o| o.path == path) {
                Some(o) => o.functions.push(f),
                None => {
                    let build_id = self
                        .hashes
                        .entry(path.clone())
                        .or_insert_with(|| jar_hash(Path::new(&path)))
                        .clone();
                    by_loc.push(Object {
                        path,
                        kind: ObjectKind::Jvm,
                        build_id,
                        functions: vec![f],
                    })
                }
            }
        }
        by_loc
    }

    /// Methods the agents instrumented in every process whose table was read, and leaf
    /// methods they left out (they cannot make a syscall).
    pub fn instrumented_and_leaves(&self) -> (usize, usize) {
        let mut seen: std::collections::HashSet<&Method> = Default::default();
        let (mut inst, mut leaves) = (0, 0);
        for m in self.tables.values().flat_map(Table::methods) {
            if seen.insert(m) {
                if m.is_leaf() {
                    leaves += 1;
                } else {
                    inst += 1;
                }
            }
        }
        (inst, leaves)
    }

    /// Reads every table in the folder (at the end of a capture: methods of processes
    /// that never made a syscall in application code still count as instrumented).
    pub fn read_all(&mut self) -> Result<(), JvmError> {
        let rd = std::fs::read_dir(&self.dir).map_err(|source| JvmError::Io {
            path: self.dir.clone(),
            source,
        })?;
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(pid) = name
                .strip_suffix(".methods")
                .and_then(|p| p.parse::<u32>().ok())
            {
                let dir = &self.dir;
                let t = self
                    .tables
                    .entry(pid)
                    .or_insert_with(|| Table::new(dir.join(format!("{pid}.methods"))));
                t.refresh()?;
            }
        }
        Ok(())
    }

    /// Gives ids to the methods of `listed` (a [`crate::scan`] of the application's code)
    /// whose class no process loaded from that location: methods the suite never ran,
    /// which the database must still know by name. Leaves are left out as the agent
    /// leaves them out. Returns how many were added; call after every table was read.
    pub fn add_unloaded(&mut self, listed: &[Method]) -> usize {
        let loaded: std::collections::HashSet<(&str, Option<&str>)> = self
            .tables
            .values()
            .flat_map(Table::methods)
            .map(|m| (m.class.as_str(), m.location.as_deref()))
            .collect();
        let unloaded: Vec<&Method> = listed
            .iter()
            .filter(|m| {
                !m.is_leaf() && !loaded.contains(&(m.class.as_str(), m.location.as_deref()))
            })
            .collect();
        let before = self.next;
        for m in unloaded {
            self.id_of(m);
        }
        (self.next - before) as usize
    }

    /// The global id of `(pid, local)` if it was given one.
    pub fn known(&self, pid: u32, local: u32) -> Option<FunctionId> {
        *self.local.get(&pid)?.get(local as usize)?
    }

    /// Pids whose tables were read.
    pub fn pids(&self) -> impl Iterator<Item = u32> + '_ {
        self.tables.keys().copied()
    }

    /// Every method of process `pid`'s table, for ids given to none yet.
    pub fn ensure_all(&mut self, pid: u32) {
        let methods: Vec<Method> = match self.tables.get(&pid) {
            Some(t) => t.methods().filter(|m| !m.is_leaf()).cloned().collect(),
            None => return,
        };
        for m in methods {
            let _ = self.global(pid, m.id);
        }
    }
}

/// The SHA-256 of a jar file as lowercase hex: a JVM object's build-id, so that a
/// database tells which build of the application it was trained on (`None` for a class
/// folder or an unreadable file).
pub fn jar_hash(path: &Path) -> Option<String> {
    use sha2::{Digest, Sha256};
    if !path.is_file() {
        return None;
    }
    let mut f = std::fs::File::open(path).ok()?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h).ok()?;
    Some(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// The trace function of a method.
fn function(id: FunctionId, m: &Method) -> Function {
    Function {
        id,
        name: m.qualified_name(),
        linkage_name: None,
        class: FunctionClass::App,
        decl_file: m.source.clone(),
        decl_line: m.line,
        vaddr: 0,
        size: 0,
        file_offset: 0,
        probe_offset: None,
        entry: EntryClass::Unknown,
        descriptor: Some(m.descriptor.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = "# perfscope-jvm methods v1 pid=7 java=17.0.15\n\
        0\torg.x.Srv\thandle\t(I)V\t1\torg/x/Srv.java\t12\t/opt/app.jar\n\
        1\torg.x.Srv\thandle\t(J)V\t1\torg/x/Srv.java\t20\t/opt/app.jar\n\
        2\torg.x.Srv\tleaf\t()I\t1073741825\torg/x/Srv.java\t30\t/opt/app.jar\n";

    #[test]
    fn lines_parse_and_bad_ones_say_why() {
        let m = parse_line("3\ta.B$C\t<init>\t()V\t0\t-\t0\t-").unwrap();
        assert_eq!(m.qualified_name(), "a.B$C.<init>");
        assert_eq!((m.source, m.line, m.location), (None, None, None));
        assert!(parse_line("x\ta\tb\t()V\t0\t-\t0\t-").is_err());
        assert!(parse_line("1\ta\tb").is_err());
        assert!(parse_line("1\ta\tb\tV\t0\t-\t0\t-").is_err());
    }

    #[test]
    fn overloads_get_their_own_ids_and_processes_share_them() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("7.methods"), TABLE).unwrap();
        std::fs::write(
            dir.path().join("8.methods"),
            TABLE.replace("pid=7", "pid=8"),
        )
        .unwrap();
        let mut c = Catalog::new(dir.path(), 100);
        assert_eq!(c.global(7, 0), Some(100));
        assert_eq!(c.global(7, 1), Some(101));
        // the same method in another JVM (same jar) is the same function
        assert_eq!(c.global(8, 1), Some(101));
        assert_eq!(c.global(7, 9), None);
        assert_eq!(c.unknown, 1);
        let objs = c.take_new();
        assert_eq!(objs.len(), 1);
        assert_eq!(objs[0].kind, ObjectKind::Jvm);
        let f = &objs[0].functions;
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].name, "org.x.Srv.handle");
        assert_eq!(f[1].descriptor.as_deref(), Some("(J)V"));
        assert_eq!(f[1].decl_line, Some(20));
        assert!(c.take_new().is_empty());
        c.read_all().unwrap();
        assert_eq!(c.instrumented_and_leaves(), (2, 1));
    }

    #[test]
    fn methods_of_classes_never_loaded_get_ids_once() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("7.methods"), TABLE).unwrap();
        let mut c = Catalog::new(dir.path(), 100);
        c.read_all().unwrap();
        c.ensure_all(7);
        assert_eq!(
            c.take_new()
                .iter()
                .map(|o| o.functions.len())
                .sum::<usize>(),
            2
        );
        let listed = |class: &str, name: &str, access: u32, loc: &str| Method {
            id: 0,
            class: class.into(),
            name: name.into(),
            descriptor: "()V".into(),
            access,
            source: Some("org/x/Other.java".into()),
            line: Some(5),
            location: Some(loc.into()),
        };
        let listing = [
            // a class loaded from this jar: the agent's table is the truth
            listed("org.x.Srv", "notInTable", 1, "/opt/app.jar"),
            listed("org.x.Other", "run", 1, "/opt/app.jar"),
            listed("org.x.Other", "pure", 1 | LEAF, "/opt/app.jar"),
            // the same class from another jar was never loaded
            listed("org.x.Srv", "handle", 1, "/opt/old.jar"),
        ];
        assert_eq!(c.add_unloaded(&listing), 2);
        assert_eq!(c.add_unloaded(&listing), 0, "twice is once");
        let objs = c.take_new();
        let names: Vec<(String, &str)> = objs
            .iter()
            .flat_map(|o| {
                o.functions
                    .iter()
                    .map(move |f| (o.path.clone(), f.name.as_str()))
            })
            .collect();
        assert_eq!(
            names,
            [
                ("/opt/app.jar".to_string(), "org.x.Other.run"),
                ("/opt/old.jar".to_string(), "org.x.Srv.handle")
            ]
        );
        let run = &objs[0].functions[0];
        assert_eq!(
            (run.id, run.probe_offset, run.decl_line),
            (102, None, Some(5))
        );
        assert_eq!(run.decl_file.as_deref(), Some("org/x/Other.java"));
    }

    #[test]
    fn a_table_is_read_as_it_grows_complete_lines_only() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("9.methods");
        let (first, rest) = TABLE.split_at(TABLE.find("\n1\t").unwrap() + 5);
        std::fs::write(&p, first).unwrap();
        let mut t = Table::new(p.clone());
        assert_eq!(t.refresh().unwrap(), 1);
        assert!(t.get(1).is_none(), "a half-written line is left for later");
        std::fs::write(&p, format!("{first}{rest}")).unwrap();
        assert_eq!(t.refresh().unwrap(), 2);
        assert_eq!(t.get(2).map(Method::is_leaf), Some(true));
        std::fs::write(&p, "not a table\n").unwrap();
        assert!(Table::new(p).refresh().is_err());
    }
}
