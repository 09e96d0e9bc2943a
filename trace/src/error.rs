//! Errors of reading and writing traces.

use std::path::PathBuf;

/// Everything that can go wrong with a trace file.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    #[error("cannot open trace {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("i/o error on trace: {0}")]
    Io(#[from] std::io::Error),
    #[error("not a perfscope trace (bad magic bytes); expected a file written by `runner`")]
    NotATrace,
    #[error(
        "trace format version {found} is newer than this build reads ({supported}); \
         upgrade perfscope to read it"
    )]
    NewerVersion { found: u16, supported: u16 },
    #[error(
        "trace format version {found} is not supported (this build reads versions 1 to {supported})"
    )]
    UnsupportedVersion { found: u16, supported: u16 },
    #[error("the trace is empty or cut off before its header chunk")]
    MissingHeader,
    #[error("corrupt trace chunk at byte offset {offset}: {reason}")]
    Corrupt { offset: u64, reason: String },
    #[error("invalid header JSON: {0}")]
    HeaderJson(#[source] serde_json::Error),
    #[error("event too large to encode: {0}")]
    Encode(String),
}
