//! Errors of capture: each names what is missing and what to do about it.

use std::path::PathBuf;

/// Everything that can go wrong when capturing.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error(
        "capture needs root, or the capabilities CAP_BPF and CAP_PERFMON (effective: {have}); \
         run it with sudo"
    )]
    NotPrivileged { have: String },
    #[error(
        "the kernel has no BTF ({path} is missing): build it with CONFIG_DEBUG_INFO_BTF=y \
         (perfscope needs Linux 6.6 or newer with BTF)"
    )]
    NoBtf { path: PathBuf },
    #[error(
        "kernel {release} is too old for {feature} (needs Linux {needs} or newer){}",
        source.as_ref().map(|e| format!(": {e}")).unwrap_or_default()
    )]
    KernelTooOld {
        release: String,
        feature: &'static str,
        needs: &'static str,
        #[source]
        source: Option<libbpf_rs::Error>,
    },
    #[error("loading the BPF programs failed: {source}\n{log_tail}")]
    Load {
        /// The last lines libbpf printed (the verifier log on a rejected program).
        log_tail: String,
        #[source]
        source: libbpf_rs::Error,
    },
    #[error("attaching {what} failed: {source}")]
    Attach {
        what: String,
        #[source]
        source: libbpf_rs::Error,
    },
    #[error("cannot probe {path}: {source}")]
    Object {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "function id {id} of {path} is not below the session's function capacity {capacity}; \
         raise Config::function_capacity"
    )]
    FunctionCapacity {
        path: PathBuf,
        id: u32,
        capacity: u32,
    },
    #[error("function probes need a Full session; this one is SyscallsOnly")]
    NotFull,
    #[error("invalid capture configuration: {0}")]
    Config(String),
    #[error("cgroup {path}: {reason}")]
    Cgroup { path: PathBuf, reason: String },
    #[error("BPF map {map}: {source}")]
    Map {
        map: &'static str,
        #[source]
        source: libbpf_rs::Error,
    },
    #[error("the BPF object does not match this build ({0}); rebuild the capture crate")]
    Layout(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "opening the cpu-clock perf event on cpu {cpu} failed: {source}; on-CPU stack samples \
         need root or CAP_PERFMON (check kernel.perf_event_paranoid), or set \
         StackConfig::on_cpu_hz to 0 to sample only syscalls and blocked threads"
    )]
    PerfEvent {
        cpu: u32,
        #[source]
        source: std::io::Error,
    },
}

impl CaptureError {
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> CaptureError {
        CaptureError::Io {
            what: what.into(),
            source,
        }
    }
}
