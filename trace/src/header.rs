//! What a trace is about: the header chunk (what was traced, the function table) and the
//! footer chunk (how the capture ended). Both are JSON inside their chunks; these are the
//! on-disk types of format versions 2 and 3 (3 only adds an event; version 1 is the same
//! without JVM objects: its files read as files that hold none).

use serde::{Deserialize, Serialize};

use crate::FunctionId;

/// What the capture recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaptureMode {
    /// Function-entry probes and syscalls with their live application frames (training).
    Full,
    /// Syscalls only, no frames (production).
    SyscallsOnly,
}

/// Where a function comes from, decided from DWARF (the declaring file) when there is
/// DWARF, so the trainer can keep application code and filter out libraries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FunctionClass {
    /// Declared under one of the project's source roots.
    App,
    /// Rust's standard library (core, alloc, std).
    RustStd,
    /// A third-party Rust crate (cargo registry or git checkout).
    Crate,
    /// System headers and C/C++ runtime (libc, libstdc++, /usr/include).
    System,
    /// Known from the symbol table only: no DWARF said where it was declared.
    NoDwarf,
}

/// How the kernel handles the function's uprobe (on the instruction at `probe_offset`,
/// else the first one): emulated (`push`, `nop`, relative branches: cheap) or
/// single-stepped out of line (`mov`, `lea`, `sub`: ~20x dearer).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryClass {
    Emulated,
    SingleStep,
    Unknown,
}

/// One probed function.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Function {
    /// Global id (the probe's BPF cookie).
    pub id: FunctionId,
    /// Demangled name.
    pub name: String,
    /// Mangled (linkage) name, when it differs from `name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linkage_name: Option<String>,
    pub class: FunctionClass,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decl_file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decl_line: Option<u32>,
    /// Virtual address in the object (as in the symbol table).
    pub vaddr: u64,
    pub size: u64,
    /// File offset of the entry (what symbolization ranges start at).
    pub file_offset: u64,
    /// File offset of the uprobe when it is not on the entry: a later instruction of the
    /// function's straight-line prefix, reached once per call with the entry's stack
    /// pointer and return address. `None`: on the entry (`file_offset`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe_offset: Option<u64>,
    pub entry: EntryClass,
    /// A JVM method's descriptor (`(Ljava/lang/String;)V`): with `name`
    /// (`org.example.Server.handle`) it names one method among overloads. Format 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub descriptor: Option<String>,
}

/// What kind of code an object holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectKind {
    /// An ELF executable or shared object; functions are probed at file offsets.
    #[default]
    Elf,
    /// JVM classes of one code source (a jar or a class folder), instrumented by the
    /// perfscope agent; functions are methods (no addresses). Format 2.
    Jvm,
    /// The JIT-compiled code of one process, as its perf map gave it after an alarm:
    /// `path` is `jit:PID`, each function a compiled method (`vaddr` its start address,
    /// `size`, `name` as the JIT names it). Names frames of sampled stacks that lie in
    /// anonymous memory. Format 2.
    JitMap,
}

impl ObjectKind {
    fn is_elf(&self) -> bool {
        *self == ObjectKind::Elf
    }
}

/// One traced ELF object and its probed functions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Object {
    pub path: String,
    #[serde(default, skip_serializing_if = "ObjectKind::is_elf")]
    pub kind: ObjectKind,
    /// GNU build-id, lowercase hex (ELF); SHA-256 of the file, lowercase hex (a jar).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_id: Option<String>,
    pub functions: Vec<Function>,
}

/// The first chunk of every trace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// What wrote the trace, e.g. `perfscope-runner 0.1.0`.
    pub tool: String,
    pub mode: CaptureMode,
    /// Architecture whose syscall numbers the events use (`x86_64`).
    pub arch: String,
    #[serde(default)]
    pub host: String,
    #[serde(default)]
    pub kernel: String,
    /// The traced command line, if one was launched.
    #[serde(default)]
    pub command: Vec<String>,
    /// `CLOCK_MONOTONIC` and `CLOCK_REALTIME` (ns) read together at capture start, to
    /// place event times on the wall clock.
    pub start_monotonic_ns: u64,
    pub start_realtime_ns: u64,
    /// Frames recorded per syscall at most.
    pub max_frames: u8,
    /// Objects known at start; more may follow in object chunks.
    #[serde(default)]
    pub objects: Vec<Object>,
}

impl Header {
    /// A header for a capture starting now, with no objects.
    pub fn new(tool: impl Into<String>, mode: CaptureMode) -> Header {
        Header {
            tool: tool.into(),
            mode,
            arch: std::env::consts::ARCH.to_string(),
            host: String::new(),
            kernel: String::new(),
            command: Vec::new(),
            start_monotonic_ns: 0,
            start_realtime_ns: 0,
            max_frames: crate::MAX_FRAMES as u8,
            objects: Vec::new(),
        }
    }
}

/// The last chunk of a trace that was finished cleanly.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Footer {
    pub end_monotonic_ns: u64,
    /// Exit code of the traced command, if it exited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// Signal that ended the traced command, if one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_signal: Option<i32>,
    /// Events written (all kinds).
    pub events: u64,
    /// Events lost in the kernel, over all cpus.
    pub lost: u64,
    /// Free-form notes of the capture (warnings a reader should see).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}
