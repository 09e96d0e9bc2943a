//! Errors of training.

use std::path::PathBuf;

/// Everything that stops a training run. Damaged input is an error carrying its path; a
/// trace cut short is not (it is used and reported as truncated).
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("cannot read trace {path}: {source}")]
    Trace {
        path: PathBuf,
        #[source]
        source: trace::TraceError,
    },
    #[error("invalid parameter: {0}")]
    Params(String),
    #[error(
        "trace {path} uses more than 65536 distinct syscall numbers; it is probably \
         damaged (re-record it)"
    )]
    TooManySyscalls { path: PathBuf },
    #[error(
        "function {name} has more than 4294967295 attributed syscalls; split the \
         training traces"
    )]
    TooManyEvents { name: String },
    #[error("no trace given: pass at least one trace file")]
    NoTraces,
    #[error(
        "refusing to train on damaged traces: signatures learnt from them would miss what was \
         lost:\n  {list}\nrecord the suite again, or pass --keep-going to train anyway (the \
         database then records the damage, and `sigdb verify` and perfscope report it)"
    )]
    Damaged { list: String },
}
