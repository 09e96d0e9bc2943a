//! Format version 3: the on-disk types. Never change a field's meaning; a new format
//! version gets its own module (these types then freeze) and a conversion.
//!
//! Version 3 = version 2 plus what a diff needs to tell a change from noise: per episode
//! the sum of the squared per-invocation occurrence counts (`sumsq`, so the support has a
//! standard error), and in the parameters the number of invocations a signature must rest
//! on to be trusted (`min_evidence`). The types version 3 did not change are version 2's.
//! Every version 2 (and 1) file is a valid version 3 file without those fields, so the
//! reader reads them all through these types; a version 2 build refuses version 3 files
//! ("newer version: upgrade perfscope").

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use crate::v2::{Class, Coverage, ObjectRef, Target, TraceSummary};

/// The first line of the file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    /// Always [`crate::FORMAT_NAME`].
    pub format: String,
    /// 3 (or 2 or 1 for a file read from those versions).
    pub version: u32,
    pub target: Target,
    pub training: Training,
    pub coverage: Coverage,
    /// Number of record lines that follow.
    pub records: u64,
    /// `sha256:<hex>` of the record lines, each with its `\n`.
    pub checksum: String,
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
    /// A signature resting on fewer invocations than this is "low evidence": shown, but
    /// a diff does not count its changes. Version 3; files of older versions read as
    /// [`DEFAULT_MIN_EVIDENCE`].
    #[serde(default = "default_min_evidence")]
    pub min_evidence: u64,
}

/// The evidence rule of databases written before version 3 (and the trainer's default):
/// with 5 invocations one odd invocation moves a support by at most 0.2, and a start-up
/// function run once per server start (1 to 4 times in a suite) is never "enough".
pub const DEFAULT_MIN_EVIDENCE: u64 = 5;

fn default_min_evidence() -> u64 {
    DEFAULT_MIN_EVIDENCE
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

    /// Whether its signature rests on enough invocations (`min_evidence`, from the
    /// header's parameters) for a change of it to mean a change of the code.
    pub fn has_enough_evidence(&self, min_evidence: u64) -> bool {
        self.invocations >= min_evidence.max(1)
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
    /// Sum over the function's invocations of the squared number of occurrences in each:
    /// the support's spread. Version 3; `None` in files of older versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sumsq: Option<u64>,
}

impl Episode {
    /// The standard error of [`Episode::support`] as an estimate of the mean number of
    /// occurrences per invocation, over `n` invocations: sqrt(variance / n), the
    /// variance taken from `sumsq` (without it, as for counts of rare independent events:
    /// the mean), and never below that of one invocation in `n` differing by one
    /// occurrence (≈ 1/n), so that n alike invocations do not claim certainty.
    pub fn standard_error(&self, n: u64) -> f64 {
        let n = n.max(1) as f64;
        let mean = self.support;
        let var = match self.sumsq {
            Some(sq) => (sq as f64 / n - mean * mean).max(0.0),
            None => mean,
        };
        let floor = (1.0 / n) * (1.0 - 1.0 / n).max(1.0 / n);
        (var.max(floor) / n).sqrt()
    }
}
