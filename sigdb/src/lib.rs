//! The perfscope signature database (sigdb): what the trainer learned about each function
//! of one build of a target, in a stable, versioned, diffable file.
//!
//! On disk a sigdb is zstd-compressed JSON Lines: a header line (format name, version,
//! target, training parameters, coverage, and a checksum of the records), then one line
//! per function sorted by key. Writing the same database twice gives the same bytes.
//! The serde types of each format version live in their own module and never change;
//! the current version's types are re-exported here.

pub mod diff;
mod error;
pub mod index;
mod io;
pub mod v2;
pub mod v3;

pub use diff::{Diff, DiffOptions, Incomparable, comparable, diff, diff_with};
pub use error::SigdbError;
pub use io::{read, read_from, write, write_to};
pub use v2::round6;
pub use v3::*;

/// The `format` field of every sigdb header.
pub const FORMAT_NAME: &str = "perfscope-sigdb";

/// The format version this build writes.
pub const FORMAT_VERSION: u32 = 3;

/// The oldest format version this build reads (its files read as version 3 files).
pub const OLDEST_VERSION: u32 = 1;

/// A whole signature database in memory (they are small: one record per function).
#[derive(Clone, Debug, PartialEq)]
pub struct Sigdb {
    pub header: Header,
    /// Sorted by [`Record::key`], keys unique.
    pub records: Vec<Record>,
}

impl Sigdb {
    /// A database of `records`, sorted into canonical order, with header counters filled in.
    pub fn new(mut header: Header, mut records: Vec<Record>) -> Sigdb {
        records.sort_by(|a, b| a.key().cmp(&b.key()));
        header.format = FORMAT_NAME.to_string();
        header.version = FORMAT_VERSION;
        header.records = records.len() as u64;
        Sigdb { header, records }
    }

    /// What makes this well-formed database untrustworthy, in sentences: a training on
    /// damaged traces (what each lost), or no signature at all. Empty for a sound one.
    /// `sigdb verify` and perfscope say these before anything else.
    pub fn doubts(&self) -> Vec<String> {
        let mut out = Vec::new();
        for t in self
            .header
            .training
            .traces
            .iter()
            .filter(|t| t.is_damaged())
        {
            let mut parts = Vec::new();
            if t.truncated {
                parts.push("cut short (no footer)".to_string());
            }
            if t.unread_bytes > 0 {
                parts.push(format!("{} bytes never read", t.unread_bytes));
            }
            if t.lost > 0 {
                parts.push(format!("{} events lost in the kernel", t.lost));
            }
            if t.unknown_frames > 0 {
                parts.push(format!("{} frames of unknown functions", t.unknown_frames));
            }
            out.push(format!(
                "trained on a damaged trace {}: {} (trained with --keep-going)",
                t.name,
                parts.join(", ")
            ));
        }
        if self.header.training.traces.is_empty() {
            out.push("trained on no trace".into());
        }
        if self.header.coverage.functions_with_signatures == 0 {
            out.push("no function has a signature: nothing can be matched".into());
        }
        out
    }

    /// The record named `name` (the first of several, when static functions share it).
    pub fn get(&self, name: &str) -> Option<&Record> {
        let i = self.records.partition_point(|r| r.name.as_str() < name);
        self.records.get(i).filter(|r| r.name == name)
    }
}
