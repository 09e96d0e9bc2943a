//! Format version 2: the on-disk types. Never change a field's meaning; a new format
//! version gets its own module (these types then freeze) and a conversion.
//!
//! Version 2 = version 1 plus JVM methods (a record's `descriptor`, part of its key) and
//! what was lost of the training traces (`unread_bytes`, `unknown_frames`). Every
//! version 1 file is a valid version 2 file without those fields, so the reader reads
//! both through these types; a version 1 build refuses version 2 files ("newer version:
//! upgrade perfscope").

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The first line of the file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    /// Always [`crate::FORMAT_NAME`].
    pub format: String,
    /// 2 (or 1 for a file read from version 1).
    pub version: u32,
    pub target: Target,
    pub training: Training,
    pub coverage: Coverage,
    /// Number of record lines that follow.
    pub records: u64,
    /// `sha256:<hex>` of the record lines, each with its `\n`.
    pub checksum: String,
}

/// Which build of which server the signatures describe.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    pub name: String,
    pub version: String,
    /// The traced ELF objects: the build-ids say which exact build was trained.
    pub objects: Vec<ObjectRef>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectRef {
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_id: Option<String>,
}

/// How the signatures were made.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Training {
    /// e.g. `perfscope-trainer 0.1.0`.
    pub tool: String,
    pub params: Params,
    pub traces: Vec<TraceSummary>,
}

/// The trainer's parameters, recorded so a result can be reproduced and compared.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// A syscall belongs to the innermost live application frame and to this many of
    /// its application callers (0: innermost only).
    pub callers: u32,
    /// Longest episode mined.
    pub max_episode_len: u32,
    /// An occurrence must span less than this; `None`: no expiry.
    pub expiry_ns: Option<u64>,
    /// Frequent = at least this many non-overlapped occurrences per invocation.
    pub min_support: f64,
    /// Functions seen fewer times than this get no signature.
    pub min_invocations: u64,
    /// At most this many episodes are kept per function, the most specific first.
    pub max_episodes: u32,
    /// Function classes whose frames count as application code.
    pub app_classes: Vec<Class>,
    /// Frequent also means: in at least this share of the invocations.
    pub min_coverage: f64,
    /// Which frequent episodes are kept: `closed`, `maximal` or `all`.
    pub selection: String,
    /// Syscalls outside application code are cut into segments at pauses this long.
    pub outside_gap_ns: u64,
    /// Candidates counted per function and episode length at most.
    pub max_candidates: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraceSummary {
    pub name: String,
    #[serde(default)]
    pub command: Vec<String>,
    pub events: u64,
    pub syscalls: u64,
    pub lost: u64,
    /// The trace ended without its footer.
    pub truncated: bool,
    /// Bytes of the trace after the last chunk that could be read (a cut or damaged
    /// file): what the training never saw. Version 2.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub unread_bytes: u64,
    /// Syscall frames naming a function the trace's function table does not hold
    /// (skipped). Version 2.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub unknown_frames: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl TraceSummary {
    /// Whether the trace lost part of what was captured: events the kernel dropped, a
    /// cut or damaged file, frames of unknown functions.
    pub fn is_damaged(&self) -> bool {
        self.lost > 0 || self.truncated || self.unread_bytes > 0 || self.unknown_frames > 0
    }
}

/// How much of the program the training saw.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Coverage {
    pub functions_probed: u64,
    /// Probed functions entered at least once.
    pub functions_hit: u64,
    /// Functions with at least one attributed syscall.
    pub functions_with_syscalls: u64,
    /// Functions with at least one episode.
    pub functions_with_signatures: u64,
    pub invocations: u64,
    pub syscalls: u64,
    /// Syscalls made with no live application frame.
    pub syscalls_outside_app: u64,
}

/// Where a function comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    App,
    RustStd,
    Crate,
    System,
    NoDwarf,
    /// The pseudo-function that collects syscalls made outside application code.
    Outside,
}

impl Class {
    pub fn as_str(self) -> &'static str {
        match self {
            Class::App => "app",
            Class::RustStd => "rust_std",
            Class::Crate => "crate",
            Class::System => "system",
            Class::NoDwarf => "no_dwarf",
            Class::Outside => "outside",
        }
    }
}

/// Everything known about one function.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    /// Demangled name (a JVM method: `org.example.Server.handle`); the key together with
    /// `file` and `descriptor`.
    pub name: String,
    /// A JVM method's descriptor (`(I)V`): overloads share a name and a file. Version 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub descriptor: Option<String>,
    /// Declaring source file, when DWARF said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linkage_name: Option<String>,
    /// File name of the object that holds it.
    pub object: String,
    pub class: Class,
    pub invocations: u64,
    pub invocations_with_syscalls: u64,
    /// Syscalls attributed to it.
    pub syscalls: u64,
    /// Attributed syscalls by name.
    pub profile: BTreeMap<String, u64>,
    /// Syscalls made while the function was live anywhere in the recorded frames (by
    /// itself or by its callees), by name: what the function normally causes.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub inclusive: BTreeMap<String, u64>,
    /// Thread names (`comm`) of the threads whose syscalls were attributed to it, with
    /// counts: which threads normally run it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub threads: BTreeMap<String, u64>,
    /// Where its code is in `object`: `[file offset, size]` per entry (several for clones
    /// merged under one name), so that sampled instruction pointers map to it without
    /// DWARF.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ranges: Vec<[u64; 2]>,
    /// The signature: frequent episodes, most specific first.
    pub episodes: Vec<Episode>,
}

impl Record {
    /// The sort and identity key: `(name, file, descriptor)`.
    pub fn key(&self) -> (&str, &str, &str) {
        (
            &self.name,
            self.file.as_deref().unwrap_or(""),
            self.descriptor.as_deref().unwrap_or(""),
        )
    }

    /// `name`, or `name(descriptor)` for a JVM method: the name among overloads.
    pub fn full_name(&self) -> String {
        match &self.descriptor {
            Some(d) => format!("{}{d}", self.name),
            None => self.name.clone(),
        }
    }

    /// [`Record::full_name`], with ` (file)` when there is one: as people read it.
    pub fn display_key(&self) -> String {
        let name = self.full_name();
        match &self.file {
            Some(f) => format!("{name} ({f})"),
            None => name,
        }
    }
}

/// A frequent serial episode of one function.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Episode {
    /// Syscall names, in order.
    pub events: Vec<String>,
    /// Non-overlapped occurrences summed over all invocations.
    pub occurrences: u64,
    /// Invocations with at least one occurrence.
    pub invocations: u64,
    /// `occurrences / record.invocations`, rounded to 6 decimals.
    pub support: f64,
    /// How specific the episode is: ln(functions with signatures / functions having it),
    /// rounded to 6 decimals; 0 for an episode every function has.
    pub weight: f64,
}

/// Rounds to 6 decimals, so databases compare and diff on meaningful digits only.
pub fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}
