//! Function tables of ELF files: what the runner puts entry uprobes on, and what the
//! trainer uses to tell application code from libraries.
//!
//! [`load`] reads one executable or shared object (with its DWARF, or a separate debug
//! file found through `.gnu_debuglink` or the build-id) and returns every out-of-line
//! function once per entry address, with its demangled name, where it was declared, its
//! class ([`SymClass`]), the file offsets of its entry and of its uprobe, and whether the
//! kernel can emulate the probed instruction ([`EntryInsn`]). The uprobe goes on the
//! entry, or a few instructions further when the entry would be single-stepped and a
//! later emulated instruction is reached exactly once per call with the entry's stack
//! pointer and return address (`entry.rs` has the measurements and the rule).
//!
//! Each function also gets its [`SyscallReach`]: whether a static call graph of the
//! file's machine code proves it cannot make a system call (`reach.rs`), which the runner
//! uses to leave its probe out.
//!
//! Invariants: this crate never spawns a process, never panics on a malformed file
//! (it returns an error, or drops to the symbol table when the DWARF is broken), and
//! returns the same table for the same file and options.
//!
//! Not handled: split DWARF (`.dwo`, functions then get their unit's class only), dwz
//! supplementary files, and 32-bit or non-x86 entry-instruction classes (those are
//! computed by the x86-64 rules).

mod class;
mod dwarf;
mod elf;
mod entry;
mod error;
mod names;
mod reach;

use std::path::{Path, PathBuf};

use object::Object;

pub use error::SymbolsError;
pub use reach::NO_SYSCALL_IMPORTS;

/// How to tell application code from libraries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// Source folders of the application. Empty: inferred from the units that are not
    /// Rust std, crates or system code, as the deepest folder (two levels or more) common
    /// to their compilation directories and source folders, else those directories.
    pub app_roots: Vec<PathBuf>,
}

/// The functions of one ELF object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionTable {
    pub path: PathBuf,
    /// GNU build-id, lowercase hex.
    pub build_id: Option<String>,
    /// `ET_DYN`: a position-independent executable or a shared object.
    pub pie: bool,
    /// DWARF was found (in the file or its separate debug file) and read.
    pub has_dwarf: bool,
    /// Sorted by `vaddr`, one per entry address.
    pub functions: Vec<FunctionSym>,
}

/// One out-of-line function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionSym {
    /// Demangled, without Rust hashes and without compiler clone suffixes.
    pub name: String,
    /// The raw symbol name when it differs from `name`.
    pub linkage_name: Option<String>,
    pub class: SymClass,
    /// Normalized, absolute where the DWARF allows.
    pub decl_file: Option<String>,
    pub decl_line: Option<u32>,
    /// Virtual address as in the symbol table.
    pub vaddr: u64,
    pub size: u64,
    /// File offset of the entry (through the `PT_LOAD` segment holding `vaddr`): what
    /// symbolization ranges start at.
    pub file_offset: u64,
    /// File offset where the uprobe goes: `file_offset`, or a later instruction of the
    /// function's straight-line prefix where the user SP and the return address at
    /// `[SP]` are still those of the entry and every call passes exactly once.
    pub probe_offset: u64,
    /// Cost class of the instruction at `probe_offset`.
    pub entry: EntryInsn,
    /// Whether the function may make a system call, from the static call graph.
    pub syscalls: SyscallReach,
}

/// Whether a function may make a system call, by the static call graph of the file's
/// machine code (`reach.rs` has the rules).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SyscallReach {
    /// Proved: no syscall instruction in it or anything it calls, no indirect call, no
    /// shared-library call outside [`NO_SYSCALL_IMPORTS`].
    Cannot,
    /// Holds a `syscall`, `sysenter` or `int` instruction itself.
    Direct,
    /// Calls or tail-jumps to a function that may.
    Callee,
    /// Not provable: an indirect call or jump, a shared-library call, a target outside
    /// every function, or code that does not decode or is not in the file.
    Unknown,
}

/// Where a function's code comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SymClass {
    /// Declared under one of the application roots.
    App,
    /// Rust's standard library and its private dependencies.
    RustStd,
    /// A third-party Rust crate (cargo registry, git checkout, vendored).
    Crate,
    /// System headers, the C/C++ runtime, and anything outside the application roots.
    System,
    /// No DWARF covers the function: known from the symbol table only.
    NoDwarf,
}

/// Cost class of a uprobe on an instruction (the one at the function's probe offset).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EntryInsn {
    /// The kernel emulates it (push, canonical nops, jmp/call/jcc): cheap.
    Emulated,
    /// The kernel single-steps it out of line (mov, lea, sub, endbr64, ...): ~10x dearer.
    SingleStep,
    /// The bytes are not in the file, or the kernel refuses to probe the instruction.
    Unknown,
}

/// Reads the function table of the ELF file at `path`.
///
/// A file without `.symtab` and DWARF is looked up a separate debug file for (by build-id
/// under /usr/lib/debug, or by `.gnu_debuglink`); without one it is
/// [`SymbolsError::Stripped`].
pub fn load(path: &Path, opts: &LoadOptions) -> Result<FunctionTable, SymbolsError> {
    load_impl(path, None, opts)
}

/// Like [`load`], with symbols and DWARF taken from `debug_file` (as written by
/// `objcopy --only-keep-debug`) and segments and code bytes from `path`.
pub fn load_with_debug_file(
    path: &Path,
    debug_file: &Path,
    opts: &LoadOptions,
) -> Result<FunctionTable, SymbolsError> {
    load_impl(path, Some(debug_file), opts)
}

/// The GNU build-id (lowercase hex) of the ELF file at `path`, without reading its
/// symbols: what tells two builds of a file apart.
pub fn build_id(path: &Path) -> Result<Option<String>, SymbolsError> {
    let map = elf::Mapped::open(path)?;
    let file = elf::parse(path, map.bytes())?;
    Ok(elf::build_id(&file))
}

fn load_impl(
    path: &Path,
    debug_file: Option<&Path>,
    opts: &LoadOptions,
) -> Result<FunctionTable, SymbolsError> {
    let main_map = elf::Mapped::open(path)?;
    let main = elf::parse(path, main_map.bytes())?;
    if elf::is_debug_only(&main) {
        return Err(SymbolsError::Parse {
            path: path.to_owned(),
            reason: "this is a separate debug file without code; load the executable it \
                     belongs to (it is found next to it) or use load_with_debug_file"
                .to_owned(),
        });
    }
    let debug_path = match debug_file {
        Some(p) => Some(p.to_owned()),
        None if elf::self_describing(&main) => None,
        None => find_debug_file(path, &main),
    };
    let debug_map = debug_path.as_deref().map(elf::Mapped::open).transpose()?;
    let debug = match (&debug_path, &debug_map) {
        (Some(p), Some(m)) => Some(elf::parse(p, m.bytes())?),
        _ => None,
    };
    let described = debug.as_ref().unwrap_or(&main);
    if !elf::self_describing(described) {
        return Err(SymbolsError::Stripped {
            path: debug_path.unwrap_or_else(|| path.to_owned()),
        });
    }

    let raw = elf::functions(described);
    let dwarf = dwarf::read(described);
    let image = elf::CodeImage::new(&main);
    let roots = match &dwarf {
        _ if !opts.app_roots.is_empty() => class::normalize_roots(&opts.app_roots),
        Some(d) => class::infer_roots(d.units.iter().filter_map(|u| {
            Some((
                d.paths.get(u.comp_dir? as usize)?.as_str(),
                d.paths.get(u.file? as usize)?.as_str(),
            ))
        })),
        None => Vec::new(),
    };
    let mut class_cache: Vec<Option<SymClass>> =
        vec![None; dwarf.as_ref().map_or(0, |d| d.paths.len())];

    let code: Vec<entry::FunctionCode<'_>> = raw
        .iter()
        .map(|f| entry::FunctionCode {
            addr: f.addr,
            size: f.size,
            code: image.bytes_from(f.addr),
        })
        .collect();
    let sites = entry::probe_sites(&code, image.exec_sections());
    let reach = syscall_reach(&main, described, &image, &raw);

    let mut functions = Vec::with_capacity(raw.len());
    for ((f, site), syscalls) in raw.into_iter().zip(sites).zip(reach) {
        // A function outside every loadable segment cannot be probed or run.
        let Some(file_offset) = image.file_offset(f.addr) else {
            continue;
        };
        let (probe_offset, entry) = match image.file_offset(site.addr) {
            Some(offset) => (offset, site.insn),
            None => (file_offset, entry::classify(image.bytes_from(f.addr))),
        };
        let base = names::split_suffixes(&f.raw).base;
        let name = names::display_name(base);
        let linkage_name = (name != f.raw).then(|| f.raw.clone().into_owned());
        let (class, decl_file, decl_line) = match &dwarf {
            Some(d) => describe(d, f.addr, &roots, &mut class_cache),
            None => (SymClass::NoDwarf, None, None),
        };
        functions.push(FunctionSym {
            name,
            linkage_name,
            class,
            decl_file,
            decl_line,
            vaddr: f.addr,
            size: f.size,
            file_offset,
            probe_offset,
            entry,
            syscalls,
        });
    }
    Ok(FunctionTable {
        path: path.to_owned(),
        build_id: elf::build_id(&main),
        pie: main.kind() == object::ObjectKind::Dynamic,
        has_dwarf: dwarf.is_some(),
        functions,
    })
}

/// The syscall reach of each of `raw` (same order): symbols (and `.cold` parts) from the
/// described file, code, PLT, relocations and data from the executed one (`main`).
fn syscall_reach(
    main: &object::File<'_>,
    described: &object::File<'_>,
    image: &elf::CodeImage<'_>,
    raw: &[elf::RawFunction<'_>],
) -> Vec<SyscallReach> {
    let part = |addr: u64, size: u64| {
        let bytes = image.bytes_from(addr);
        let len = usize::try_from(size).unwrap_or(usize::MAX).min(bytes.len());
        (addr, size, &bytes[..len])
    };
    let mut bodies: Vec<reach::Body<'_>> = raw
        .iter()
        .map(|f| reach::Body {
            addr: f.addr,
            parts: vec![part(f.addr, f.size)],
        })
        .collect();
    for (addr, size, owner) in elf::cold_parts(described) {
        if let Ok(i) = bodies.binary_search_by_key(&owner, |b| b.addr) {
            bodies[i].parts.push(part(addr, size));
        }
    }
    reach::analyze(&bodies, &elf::reach_image(main))
}

/// Class and declaration of the function at `addr`: from its subprogram DIE, else from
/// the unit whose ranges hold it, else `NoDwarf`.
fn describe(
    d: &dwarf::DwarfIndex,
    addr: u64,
    roots: &[String],
    cache: &mut [Option<SymClass>],
) -> (SymClass, Option<String>, Option<u32>) {
    let mut class_of = |id: u32| -> Option<SymClass> {
        let slot = cache.get_mut(id as usize)?;
        let path = d.paths.get(id as usize)?;
        Some(*slot.get_or_insert_with(|| class::classify(path, roots)))
    };
    let unit_file = |unit: u32| d.units.get(unit as usize).and_then(|u| u.file);
    if let Some(e) = d.entry_at(addr) {
        let file = e.file.and_then(|id| d.paths.get(id as usize).cloned());
        let class = e
            .file
            .or_else(|| unit_file(e.unit))
            .and_then(&mut class_of)
            .unwrap_or(SymClass::NoDwarf);
        return (class, file, e.line);
    }
    let class = d
        .unit_at(addr)
        .and_then(unit_file)
        .and_then(class_of)
        .unwrap_or(SymClass::NoDwarf);
    (class, None, None)
}

/// The first separate debug file that exists, parses, names functions and (when both
/// carry one) has the same build-id.
fn find_debug_file(path: &Path, main: &object::File<'_>) -> Option<PathBuf> {
    let want = elf::build_id(main);
    elf::debug_file_candidates(path, main)
        .into_iter()
        .filter(|p| p.is_file())
        .find(|p| {
            let Ok(map) = elf::Mapped::open(p) else {
                return false;
            };
            let Ok(file) = elf::parse(p, map.bytes()) else {
                return false;
            };
            let id = elf::build_id(&file);
            elf::self_describing(&file) && (want.is_none() || id.is_none() || want == id)
        })
}
