//! Probe planning: which functions of which ELF objects get an entry probe, with global
//! function ids, from the `symbols` function tables.
//!
//! A function is probed when its class is one of [`PlanOptions::classes`] (application
//! code by default), its name (or linkage name) matches an `--include` pattern (when there
//! are any) and no `--exclude` pattern, the kernel can probe its probe point, and, with
//! [`PlanOptions::skip_single_step`], the instruction there is emulated rather than
//! single-stepped. The probe point is the one `symbols` chose: the entry, or a later
//! emulated instruction of the function's straight-line prefix where the stack pointer
//! and return address are still the entry's (`probe_offset` in the trace header). Ids
//! are dense over all objects, in the order the objects were given and by address within
//! one; the id is also the probe's BPF cookie.
//!
//! **Pruning.** A function that `symbols` proves cannot reach a system call
//! ([`SyscallReach::Cannot`]: no syscall instruction in it or anything it calls, no
//! indirect call) is not probed unless [`PlanOptions::probe_all`]: the BPF attribution
//! gives a syscall to the top live frame, and such a function is never that frame, so
//! every syscall keeps its attribution while its caller's frame stays on top. It stays
//! in the trace header with an id (so the trainer gives it a record with its code range,
//! which the analysis needs to credit a sampled stack to it: a CPU-bound hang in a pure
//! function), but gets no probe: its invocation count is 0 and its signature empty by
//! construction. [`Plan::pruned`] names it (the runner summary lists them, a trace note
//! counts them) so that "not probed" is not read as "never ran".
//!
//! **Rebuilt binaries.** [`Plan::check_unchanged`] compares each object's identity
//! (device, inode, size, modification time; the build-id when those differ) with the one
//! seen when planning, so that probes planned on one build are never attached to another.

use std::path::PathBuf;

use symbols::{EntryInsn, FunctionTable, LoadOptions, SymClass, SymbolsError, SyscallReach};
use trace::{EntryClass, FunctionClass};

use crate::pattern::Glob;

/// What to probe.
#[derive(Clone, Debug, Default)]
pub struct PlanOptions {
    /// ELF executables and shared objects (modules loaded later included).
    pub bins: Vec<PathBuf>,
    /// Source folders of the application; empty: inferred per object by `symbols`.
    pub app_roots: Vec<PathBuf>,
    /// Function classes to probe; empty means application code only.
    pub classes: Vec<SymClass>,
    /// When not empty, only functions matching one of these.
    pub include: Vec<Glob>,
    pub exclude: Vec<Glob>,
    /// Leave out functions whose probed instruction the kernel single-steps (~10 µs a hit
    /// instead of ~0.5 µs).
    pub skip_single_step: bool,
    /// Probe the functions that cannot reach a system call too (for comparisons).
    pub probe_all: bool,
}

/// Why [`Plan::pruned`] functions are not probed.
pub const PRUNED_REASON: &str = "static: cannot reach a system call";

/// Why planning failed.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(transparent)]
    Symbols(#[from] SymbolsError),
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "nothing to probe: {detail}; pass --include-class (e.g. app,no_dwarf), --app-root \
         DIR or other --include patterns, or run with --syscalls-only"
    )]
    Empty { detail: String },
    #[error("too many functions to probe ({count}); narrow them with --include/--exclude")]
    TooMany { count: usize },
    #[error(
        "{path} changed since its probes were planned ({what}): it was rebuilt or replaced \
         while the runner read it; run the runner again once the build is done"
    )]
    Rebuilt { path: PathBuf, what: String },
}

/// What planning decided for one object.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObjectPlan {
    pub path: PathBuf,
    pub has_dwarf: bool,
    /// Functions in the object's table.
    pub functions: usize,
    /// Of the right class.
    pub in_class: usize,
    /// Of the right class but left out by `--include`/`--exclude`.
    pub excluded_by_name: usize,
    /// Left out because the kernel cannot probe their entry.
    pub unprobeable: usize,
    /// Probed although single-stepped (costly if hot).
    pub single_step: usize,
    /// Left out by `--skip-single-step`.
    pub single_step_skipped: usize,
    /// In the header but not probed: they cannot reach a system call ([`PRUNED_REASON`]).
    pub pruned: usize,
    /// Probed.
    pub probed: usize,
    /// The file as planned: what [`Plan::check_unchanged`] compares.
    pub identity: Option<FileIdentity>,
    pub build_id: Option<String>,
}

/// What tells one build of a file from another without reading it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileIdentity {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub mtime_ns: i128,
}

impl FileIdentity {
    pub fn of(path: &std::path::Path) -> std::io::Result<FileIdentity> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(path)?;
        Ok(FileIdentity {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime_ns: i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
        })
    }
}

/// A function left out of the plan although it matched: not probed, empty by
/// construction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrunedFunction {
    /// Its id in the trace header (no probe carries it).
    pub id: trace::FunctionId,
    /// The object's path, as in the trace header.
    pub object: String,
    pub name: String,
    pub linkage_name: Option<String>,
}

/// The probes of a run, ready for the trace header and for capture.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    /// Trace header objects; `functions[i].id` are dense from 0 over all objects.
    pub objects: Vec<trace::Object>,
    pub per_object: Vec<ObjectPlan>,
    /// Functions in the header without a probe (they cannot reach a system call), by id.
    pub pruned: Vec<PrunedFunction>,
}

impl Plan {
    /// Functions in the trace header over all objects (ids `0..functions()`), probed or
    /// pruned.
    pub fn functions(&self) -> usize {
        self.objects.iter().map(|o| o.functions.len()).sum()
    }

    /// Functions that get a probe.
    pub fn probed(&self) -> usize {
        self.functions() - self.pruned.len()
    }

    /// Probed functions whose probed instruction is single-stepped.
    pub fn single_step(&self) -> usize {
        self.per_object.iter().map(|o| o.single_step).sum()
    }

    /// Functions not probed because they cannot reach a system call.
    pub fn pruned(&self) -> usize {
        self.per_object.iter().map(|o| o.pruned).sum()
    }

    /// Refuses objects that changed since planning (module docs): the same device,
    /// inode, size and modification time, or else the same size and build-id.
    pub fn check_unchanged(&self) -> Result<(), PlanError> {
        for op in &self.per_object {
            let Some(planned) = &op.identity else {
                continue;
            };
            let now = FileIdentity::of(&op.path).map_err(|source| PlanError::Io {
                path: op.path.clone(),
                source,
            })?;
            if &now == planned {
                continue;
            }
            let build_id = symbols::build_id(&op.path).ok().flatten();
            let what = if now.size != planned.size {
                format!("size {} then {}", planned.size, now.size)
            } else if build_id.is_none() || build_id != op.build_id {
                format!(
                    "build-id {} then {}",
                    op.build_id.as_deref().unwrap_or("none"),
                    build_id.as_deref().unwrap_or("none")
                )
            } else {
                // Touched or copied, same build: the probes still fit.
                tracing::info!(
                    "{} was touched since planning; same size and build-id",
                    op.path.display()
                );
                continue;
            };
            return Err(PlanError::Rebuilt {
                path: op.path.clone(),
                what,
            });
        }
        Ok(())
    }

    /// The function of a global id.
    pub fn function(&self, id: trace::FunctionId) -> Option<&trace::Function> {
        // Ids are dense and in object order, so walk the objects' id ranges.
        let mut base = 0u32;
        for o in &self.objects {
            let n = o.functions.len() as u32;
            if id < base + n {
                return o.functions.get((id - base) as usize);
            }
            base += n;
        }
        None
    }

    /// One capture probe set per object, without the pruned functions.
    pub fn probes(&self) -> Vec<capture::ObjectProbes> {
        self.objects
            .iter()
            .map(|o| {
                let mut p = capture::ObjectProbes::from_object(o);
                p.probes.retain(|probe| {
                    self.pruned
                        .binary_search_by_key(&probe.func, |f| f.id)
                        .is_err()
                });
                p
            })
            .collect()
    }
}

/// Loads every `--bin` with `symbols` and plans its probes.
pub fn plan(opts: &PlanOptions) -> Result<Plan, PlanError> {
    let load = LoadOptions {
        app_roots: opts.app_roots.clone(),
    };
    let mut tables = Vec::new();
    let mut identities = Vec::new();
    let mut seen: Vec<PathBuf> = Vec::new();
    for bin in &opts.bins {
        // Absolute and without symlinks: the name under which the trace's readers (and
        // /proc/PID/maps) know the file.
        let path = std::fs::canonicalize(bin).map_err(|source| PlanError::Io {
            path: bin.clone(),
            source,
        })?;
        if seen.contains(&path) {
            tracing::warn!("{} is given twice; probing it once", bin.display());
            continue;
        }
        seen.push(path.clone());
        // Before reading: a rebuild that lands while symbols are read shows as a change.
        let identity = FileIdentity::of(&path).map_err(|source| PlanError::Io {
            path: path.clone(),
            source,
        })?;
        identities.push(identity);
        let table = symbols::load(&path, &load)?;
        tracing::info!(
            "{}: {} functions{}",
            path.display(),
            table.functions.len(),
            if table.has_dwarf { "" } else { ", no DWARF" }
        );
        tables.push(table);
    }
    let mut plan = plan_tables(&tables, opts)?;
    for (op, identity) in plan.per_object.iter_mut().zip(identities) {
        op.identity = Some(identity);
    }
    Ok(plan)
}

/// Plans the probes of already loaded function tables.
pub fn plan_tables(tables: &[FunctionTable], opts: &PlanOptions) -> Result<Plan, PlanError> {
    let classes: &[SymClass] = if opts.classes.is_empty() {
        &[SymClass::App]
    } else {
        &opts.classes
    };
    let mut plan = Plan::default();
    let mut next_id: u64 = 0;
    for table in tables {
        let mut op = ObjectPlan {
            path: table.path.clone(),
            has_dwarf: table.has_dwarf,
            functions: table.functions.len(),
            build_id: table.build_id.clone(),
            ..ObjectPlan::default()
        };
        let mut functions = Vec::new();
        for f in &table.functions {
            if !classes.contains(&f.class) {
                continue;
            }
            op.in_class += 1;
            let names = || std::iter::once(f.name.as_str()).chain(f.linkage_name.as_deref());
            let included = opts.include.is_empty()
                || opts.include.iter().any(|g| names().any(|n| g.matches(n)));
            let excluded = opts.exclude.iter().any(|g| names().any(|n| g.matches(n)));
            if !included || excluded {
                op.excluded_by_name += 1;
                continue;
            }
            let pruned = !opts.probe_all && f.syscalls == SyscallReach::Cannot;
            if !pruned {
                match f.entry {
                    EntryInsn::Unknown => {
                        op.unprobeable += 1;
                        continue;
                    }
                    EntryInsn::SingleStep if opts.skip_single_step => {
                        op.single_step_skipped += 1;
                        continue;
                    }
                    EntryInsn::SingleStep => op.single_step += 1,
                    EntryInsn::Emulated => {}
                }
            }
            let id = u32::try_from(next_id).map_err(|_| PlanError::TooMany {
                count: next_id as usize,
            })?;
            next_id += 1;
            if pruned {
                op.pruned += 1;
                plan.pruned.push(PrunedFunction {
                    id,
                    object: table.path.to_string_lossy().into_owned(),
                    name: f.name.clone(),
                    linkage_name: f.linkage_name.clone(),
                });
            }
            functions.push(trace::Function {
                id,
                name: f.name.clone(),
                linkage_name: f.linkage_name.clone(),
                class: function_class(f.class),
                decl_file: f.decl_file.clone(),
                decl_line: f.decl_line,
                vaddr: f.vaddr,
                size: f.size,
                file_offset: f.file_offset,
                probe_offset: (f.probe_offset != f.file_offset).then_some(f.probe_offset),
                entry: entry_class(f.entry),
                descriptor: None,
            });
        }
        op.probed = functions.len() - op.pruned;
        plan.per_object.push(op);
        plan.objects.push(trace::Object {
            path: table.path.to_string_lossy().into_owned(),
            build_id: table.build_id.clone(),
            functions,
            kind: trace::ObjectKind::Elf,
        });
    }
    if plan.probed() > 0 {
        for op in plan.per_object.iter().filter(|o| o.probed == 0) {
            tracing::warn!("{}", nothing_in(op, classes));
        }
    } else {
        let detail = if plan.per_object.is_empty() {
            "no --bin given".to_string()
        } else {
            plan.per_object
                .iter()
                .map(|o| nothing_in(o, classes))
                .collect::<Vec<_>>()
                .join("; ")
        };
        return Err(PlanError::Empty { detail });
    }
    Ok(plan)
}

fn nothing_in(op: &ObjectPlan, classes: &[SymClass]) -> String {
    let names: Vec<&str> = classes.iter().map(|&c| class_name(c)).collect();
    let mut s = format!(
        "no function of {} is probed ({} functions, {} of class {}",
        op.path.display(),
        op.functions,
        op.in_class,
        names.join(",")
    );
    if op.excluded_by_name > 0 {
        s.push_str(&format!(", {} left out by name", op.excluded_by_name));
    }
    if op.single_step_skipped > 0 {
        s.push_str(&format!(
            ", {} single-stepped skipped",
            op.single_step_skipped
        ));
    }
    if op.pruned > 0 {
        s.push_str(&format!(", {} left out ({PRUNED_REASON})", op.pruned));
    }
    s.push(')');
    if !op.has_dwarf {
        s.push_str(": it has no DWARF, so nothing is application code; rebuild it with -g");
    }
    s
}

/// The CLI name of a class (`--include-class`).
pub fn class_name(c: SymClass) -> &'static str {
    match c {
        SymClass::App => "app",
        SymClass::RustStd => "rust_std",
        SymClass::Crate => "crate",
        SymClass::System => "system",
        SymClass::NoDwarf => "no_dwarf",
    }
}

/// A class from its CLI name.
pub fn parse_class(s: &str) -> Result<SymClass, String> {
    Ok(match s.replace('-', "_").as_str() {
        "app" => SymClass::App,
        "rust_std" => SymClass::RustStd,
        "crate" => SymClass::Crate,
        "system" => SymClass::System,
        "no_dwarf" => SymClass::NoDwarf,
        _ => {
            return Err(format!(
                "unknown function class {s:?}: one of app, rust_std, crate, system, no_dwarf"
            ));
        }
    })
}

fn function_class(c: SymClass) -> FunctionClass {
    match c {
        SymClass::App => FunctionClass::App,
        SymClass::RustStd => FunctionClass::RustStd,
        SymClass::Crate => FunctionClass::Crate,
        SymClass::System => FunctionClass::System,
        SymClass::NoDwarf => FunctionClass::NoDwarf,
    }
}

fn entry_class(e: EntryInsn) -> EntryClass {
    match e {
        EntryInsn::Emulated => EntryClass::Emulated,
        EntryInsn::SingleStep => EntryClass::SingleStep,
        EntryInsn::Unknown => EntryClass::Unknown,
    }
}

#[cfg(test)]
mod tests;
