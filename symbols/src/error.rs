//! Errors of reading a function table from an ELF file.

use std::path::PathBuf;

/// Everything that can go wrong when loading a [`crate::FunctionTable`].
#[derive(Debug, thiserror::Error)]
pub enum SymbolsError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not an ELF file; point at the executable or shared object to trace")]
    NotElf { path: PathBuf },
    #[error(
        "{path} has no symbol table and no DWARF (it was stripped); rebuild it with -g, \
         keep the unstripped binary, or put its .debug file next to it (found through \
         .gnu_debuglink or the build-id) or pass it with load_with_debug_file"
    )]
    Stripped { path: PathBuf },
    #[error("cannot parse ELF file {path}: {reason}")]
    Parse { path: PathBuf, reason: String },
}
