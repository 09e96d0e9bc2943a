//! Errors of the host glue: each names what failed and, where it helps, what to do.

/// Everything launching, looking up users or reading the system can fail with.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("command not found: {command} (not an executable file, nor found on PATH)")]
    CommandNotFound { command: String },
    #[error("cannot execute {command}: {source}")]
    Exec {
        command: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot switch the command to uid {uid} gid {gid}: {source}")]
    DropPrivileges {
        uid: u32,
        gid: u32,
        #[source]
        source: std::io::Error,
    },
    #[error("no user named {name:?}")]
    NoSuchUser { name: String },
    #[error("invalid launch configuration: {0}")]
    Config(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

impl HostError {
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> HostError {
        HostError::Io {
            what: what.into(),
            source,
        }
    }
}
