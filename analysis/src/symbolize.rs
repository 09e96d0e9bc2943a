//! Code locations of sampled stacks to functions of the signature database: through the
//! mapped file's own symbol table when it has one (the build running may differ from the
//! one trained, e.g. a patched release: names still match), else through the database's
//! code ranges when the file is the very build that was trained (same build-id; the usual
//! case for stripped production binaries). No DWARF is read here.

use std::path::Path;

use object::{Object, ObjectSegment, ObjectSymbol, SymbolKind};
use rustc_hash::FxHashMap;

use crate::signature::Compiled;

mod imports;

use imports::{Exports, Imports};

/// One file's functions as file-offset ranges, sorted by start, and its bytes when it
/// could be read (to check call instructions).
struct FileMap {
    ranges: Vec<(u64, u64, u32)>,
    data: Vec<u8>,
}

impl FileMap {
    fn new(mut ranges: Vec<(u64, u64, u32)>, data: Vec<u8>) -> FileMap {
        ranges.sort_unstable();
        FileMap { ranges, data }
    }

    fn find(&self, off: u64) -> Option<u32> {
        let i = self.ranges.partition_point(|r| r.0 <= off);
        let r = self.ranges.get(i.checked_sub(1)?)?;
        (off < r.1).then_some(r.2)
    }
}

/// Maps code locations to database functions, caching per file.
pub struct Symbolizer<'a> {
    db: &'a Compiled,
    by_name: FxHashMap<&'a str, u32>,
    /// (object file name, function name): static functions of one name in several
    /// modules (`check_password` in every mod_authn_*) stay apart.
    by_object: FxHashMap<(&'a str, &'a str), u32>,
    files: FxHashMap<String, Option<FileMap>>,
    /// Per application file: what its calls into shared libraries go to.
    imports: FxHashMap<String, Option<Imports>>,
    /// Per shared library: its exported functions.
    exports: FxHashMap<String, Option<Exports>>,
    /// Build-ids recorded at capture, by path.
    recorded: FxHashMap<String, String>,
    /// JIT-compiled code per process: (start, end, database function or none).
    jit: FxHashMap<u32, Vec<(u64, u64, Option<u32>)>>,
    /// Frames in anonymous memory of a process with a JIT map that no compiled method
    /// covers (the interpreter, stubs), and those naming a method the database lacks.
    pub jit_unnamed: u64,
    /// What could not be symbolized and why, once per file.
    pub warnings: Vec<String>,
}

/// `foo.constprop.0`, `foo.isra.0`, `foo.part.1`, `foo.cold` are all `foo`.
fn base_name(sym: &str) -> &str {
    match sym.find('.') {
        Some(i) if i > 0 => &sym[..i],
        _ => sym,
    }
}

impl<'a> Symbolizer<'a> {
    pub fn new(db: &'a Compiled) -> Symbolizer<'a> {
        let mut by_name = FxHashMap::default();
        let mut by_object = FxHashMap::default();
        for (i, f) in db.funcs.iter().enumerate() {
            by_name.entry(f.name.as_str()).or_insert(i as u32);
            by_object
                .entry((f.object.as_str(), f.name.as_str()))
                .or_insert(i as u32);
            if let Some(l) = &f.linkage_name {
                by_name.entry(l.as_str()).or_insert(i as u32);
                by_object
                    .entry((f.object.as_str(), l.as_str()))
                    .or_insert(i as u32);
            }
        }
        Symbolizer {
            db,
            by_name,
            by_object,
            files: FxHashMap::default(),
            imports: FxHashMap::default(),
            exports: FxHashMap::default(),
            recorded: FxHashMap::default(),
            jit: FxHashMap::default(),
            jit_unnamed: 0,
            warnings: Vec::new(),
        }
    }

    /// The JIT maps of the window's processes (a JVM's perf map): frames in their
    /// anonymous memory are named through them.
    pub fn with_jit(mut self, maps: &[(u32, crate::window::JitMap)]) -> Self {
        for (pid, ranges) in maps {
            let named = ranges
                .iter()
                .map(|(a, b, name)| {
                    let f = jvm::perfmap::method_name(name)
                        .and_then(|n| self.by_name.get(n.as_str()).copied());
                    (*a, *b, f)
                })
                .collect();
            self.jit.insert(*pid, named);
        }
        self
    }

    /// The database function holding a sampled frame of process `pid`: a file location,
    /// or JIT-compiled code (an empty path, the address as offset).
    pub fn frame(&mut self, pid: u32, path: &str, offset: u64) -> Option<u32> {
        // a Java frame of a thread dump, named already
        if let Some(name) = path.strip_prefix("jvm:") {
            return self.by_name.get(name).copied();
        }
        if !path.is_empty() {
            return self.function(path, offset);
        }
        let ranges = self.jit.get(&pid)?;
        let i = ranges.partition_point(|r| r.0 <= offset);
        let range = i
            .checked_sub(1)
            .and_then(|i| ranges.get(i))
            .filter(|r| offset < r.1);
        match range {
            // compiled code of a method the database has, or of one it has not (the
            // JDK's, a library's): named either way
            Some(r) => r.2,
            None => {
                self.jit_unnamed += 1;
                None
            }
        }
    }

    /// Build-ids of the mapped files as recorded at capture: a file that cannot be read
    /// here (another machine) is named through the database's ranges when its recorded
    /// build-id is the trained one.
    pub fn with_recorded(mut self, objects: &[(String, Option<String>)]) -> Self {
        self.recorded = objects
            .iter()
            .filter_map(|(p, id)| Some((p.clone(), id.clone()?)))
            .collect();
        self
    }

    /// The trained object's code ranges, if `base` with `build_id` is the trained build.
    fn trained_ranges(&self, base: &str, build_id: Option<&str>) -> Option<Vec<(u64, u64, u32)>> {
        let trained = self.db.objects.iter().any(|(p, id)| {
            Path::new(p)
                .file_name()
                .is_some_and(|n| n.to_string_lossy() == base)
                && id.is_some()
                && id.as_deref() == build_id
        });
        trained.then(|| {
            let mut ranges = Vec::new();
            for (i, f) in self.db.funcs.iter().enumerate() {
                if f.object == base {
                    ranges.extend(f.ranges.iter().map(|r| (r[0], r[0] + r[1], i as u32)));
                }
            }
            ranges
        })
    }

    /// The database function holding `offset` of file `path` (capture already turned
    /// return addresses into the address of their call).
    pub fn function(&mut self, path: &str, offset: u64) -> Option<u32> {
        // JIT code (no file) and thread-dump frames (`jvm:`, named by `frame`) have no
        // file to read
        if path.is_empty() || path.starts_with("jvm:") {
            return None;
        }
        if !self.files.contains_key(path) {
            let map = self.load(path);
            self.files.insert(path.to_string(), map);
        }
        self.files.get(path)?.as_ref()?.find(offset)
    }

    /// For a return location (capture reports a return address minus one), the function
    /// its direct call instruction (`e8 rel32`) calls, when the file is at hand and the
    /// call is direct and lands in a known function. Lets a caller frame be checked
    /// against the callee below it: a stale return address left in a stack slot calls
    /// something else.
    pub fn call_target(&mut self, path: &str, offset: u64) -> Option<u32> {
        self.function(path, offset)?;
        let map = self.files.get(path)?.as_ref()?;
        // the call ends at offset + 1 and starts 5 bytes before that
        let at = usize::try_from(offset.checked_sub(4)?).ok()?;
        let bytes = map.data.get(at..at + 5)?;
        if bytes[0] != 0xe8 {
            return None;
        }
        let rel = i32::from_le_bytes(bytes[1..5].try_into().ok()?);
        let target = (offset + 1).checked_add_signed(i64::from(rel))?;
        map.find(target)
    }

    /// For a return location of an application file, the shared-library function its
    /// call goes to (`fsync` for `call fsync@plt`), when the file is at hand.
    pub fn import_called(&mut self, path: &str, offset: u64) -> Option<String> {
        self.function(path, offset)?;
        let map = self.files.get(path)?.as_ref()?;
        if !self.imports.contains_key(path) {
            let imports = Imports::of(&map.data);
            self.imports.insert(path.to_string(), imports);
        }
        let imports = self.imports.get(path)?.as_ref()?;
        imports.called(&map.data, offset).map(str::to_string)
    }

    /// For a location in a shared library that is not application code (libc), the
    /// names of the exported function holding it, when the file can be read.
    pub fn library_names(&mut self, path: &str, offset: u64) -> Option<&[String]> {
        if path.is_empty() || path.starts_with("jvm:") || self.function(path, offset).is_some() {
            return None;
        }
        if !self.exports.contains_key(path) {
            let exports = std::fs::read(path).ok().and_then(|d| Exports::of(&d));
            self.exports.insert(path.to_string(), exports);
        }
        self.exports.get(path)?.as_ref()?.names_at(offset)
    }

    /// Uses `ranges` (`[start, end)` file offsets → function) for `path` instead of
    /// reading it.
    pub fn insert_file(&mut self, path: &str, ranges: Vec<(u64, u64, u32)>) {
        self.files
            .insert(path.to_string(), Some(FileMap::new(ranges, Vec::new())));
    }

    /// [`Self::insert_file`] with the file's bytes, so call instructions can be read.
    #[cfg(test)]
    pub fn insert_code(&mut self, path: &str, ranges: Vec<(u64, u64, u32)>, data: Vec<u8>) {
        self.files
            .insert(path.to_string(), Some(FileMap::new(ranges, data)));
    }

    fn load(&mut self, path: &str) -> Option<FileMap> {
        let base = Path::new(path).file_name()?.to_string_lossy().into_owned();
        let data = match std::fs::read(path) {
            Ok(d) => d,
            Err(e) => {
                let recorded = self.recorded.get(path).map(String::as_str);
                if let Some(ranges) = self.trained_ranges(&base, recorded) {
                    return Some(FileMap::new(ranges, Vec::new()));
                }
                self.warnings
                    .push(format!("cannot read {path} to name sampled code: {e}"));
                return None;
            }
        };
        let file = object::File::parse(&*data).ok()?;
        // the file now at `path` may not be the one that ran (rebuilt since, or another
        // machine's tree at the same path): its offsets would name the wrong functions
        let on_disk = file.build_id().ok().flatten().map(hex);
        if let Some(ran) = self.recorded.get(path)
            && on_disk.as_deref() != Some(ran.as_str())
        {
            let ran = ran.clone();
            if let Some(ranges) = self.trained_ranges(&base, Some(&ran)) {
                return Some(FileMap::new(ranges, Vec::new()));
            }
            self.warnings.push(format!(
                "{path} is not the build that ran (build-id {}, recorded {ran}) nor the \
                 trained one: its sampled stacks cannot be named",
                on_disk.as_deref().unwrap_or("none")
            ));
            return None;
        }
        let segments: Vec<(u64, u64, u64)> = file
            .segments()
            .filter_map(|s| {
                let (off, size) = s.file_range();
                (size > 0).then_some((s.address(), size, off))
            })
            .collect();
        let to_off = |addr: u64| {
            segments
                .iter()
                .find(|&&(a, size, _)| addr >= a && addr < a + size)
                .map(|&(a, _, off)| addr - a + off)
        };
        let mut ranges = Vec::new();
        for sym in file.symbols() {
            if sym.kind() != SymbolKind::Text || sym.size() == 0 {
                continue;
            }
            let Ok(name) = sym.name() else { continue };
            let Some(&func) = self
                .by_object
                .get(&(base.as_str(), name))
                .or_else(|| self.by_object.get(&(base.as_str(), base_name(name))))
                .or_else(|| self.by_name.get(name))
                .or_else(|| self.by_name.get(base_name(name)))
            else {
                continue;
            };
            if let Some(off) = to_off(sym.address()) {
                ranges.push((off, off + sym.size(), func));
            }
        }
        if ranges.is_empty() {
            // stripped: the trained build's own ranges, if this is that build
            if let Some(r) = self.trained_ranges(&base, on_disk.as_deref()) {
                ranges = r;
            } else if self.db.objects.iter().any(|(p, _)| p.ends_with(&base)) {
                self.warnings.push(format!(
                    "{path} has no symbol table and is not the build the signatures were \
                     trained on: its sampled stacks cannot be named"
                ));
            }
        }
        if ranges.is_empty() {
            return None;
        }
        drop(file);
        Some(FileMap::new(ranges, data))
    }
}

fn hex(b: &[u8]) -> String {
    use std::fmt::Write as _;
    b.iter().fold(String::new(), |mut s, x| {
        let _ = write!(s, "{x:02x}");
        s
    })
}
