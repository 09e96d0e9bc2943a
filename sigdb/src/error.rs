//! Errors of reading, writing and checking signature databases.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum SigdbError {
    #[error("cannot open signature database {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("i/o error on signature database: {0}")]
    Io(#[from] std::io::Error),
    #[error("not a signature database (not zstd-compressed JSON Lines): {0}")]
    NotASigdb(String),
    #[error("the signature database is empty")]
    Empty,
    #[error("not a perfscope signature database: format is {found:?}")]
    WrongFormat { found: String },
    #[error(
        "signature database format version {found} is newer than this build reads \
         ({supported}); upgrade perfscope"
    )]
    NewerVersion { found: u32, supported: u32 },
    #[error("signature database format version {found} is not supported")]
    UnsupportedVersion { found: u32 },
    #[error("line {line}: {reason}")]
    Malformed { line: usize, reason: String },
    #[error("the header announces {expected} records, the file holds {found}")]
    RecordCount { expected: u64, found: u64 },
    #[error("content checksum mismatch: header says {expected}, records hash to {found}")]
    Checksum { expected: String, found: String },
    #[error("records out of order or duplicated at line {line}: {key:?}")]
    Order { line: usize, key: String },
    /// A bound of the reader was hit: the file is damaged or crafted, not a database.
    #[error(
        "refusing to read further: {what} (bound: {limit}); the file is damaged or not a signature database"
    )]
    Bound { what: String, limit: String },
    /// Raised by the writer instead of producing a file that the reader would reject.
    #[error("refusing to write a signature database that could not be read back: {reason}")]
    Unwritable { reason: String },
}
