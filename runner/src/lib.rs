//! perfscope's runner: runs a test-suite command under capture and writes the trace the
//! trainer learns from.
//!
//! ```text
//! runner --bin build/server [--bin modules/*.so] [--app-root DIR] --user nobody \
//!        -o suite.trace -- make check
//! ```
//!
//! 1. **Plan** ([`plan`]): every `--bin` is read with `symbols`; the application
//!    functions (DWARF says they are declared under the application roots, given with
//!    `--app-root` or inferred) get an entry probe, narrowed by `--include-class`,
//!    `--include` and `--exclude` globs ([`pattern`]). Ids are dense over all objects and
//!    are the probes' cookies. A probe sits on the entry, or a few instructions in when
//!    `symbols` found an emulated instruction there with the entry's stack pointer and
//!    return address (`endbr64; push`, `test; je`). Functions whose probed instruction the
//!    kernel still single-steps (~10 µs per hit instead of ~0.5 µs) are counted, and left
//!    out with `--skip-single-step`. Functions that `symbols` proves cannot reach a system
//!    call (a static call graph of the machine code) are not probed: no syscall's
//!    attribution depends on them, their signatures are empty by construction, and the
//!    summary names them (`--probe-all` probes them too). A `--bin` may be a shared object
//!    the tests load later: uprobes sit on the file, so attaching it up front covers every
//!    process that maps it. An object rebuilt between planning and attaching is refused.
//! 2. **Launch** ([`mod@record`]): the command is forked in its own process group and waits on
//!    a pipe; the capture starts on its process tree (followed in the kernel through
//!    forks, threads and execs), the probes are attached, the trace header is written,
//!    and only then the command is released to exec. Nothing it does escapes the trace.
//!    Its own process group lets the runner stop the whole test run at once; it also
//!    means a command that reads from the terminal is stopped (SIGTTIN): give it its
//!    input from elsewhere.
//! 3. **Record**: the ring buffer is drained every 20 ms into the trace; every second the
//!    trace is flushed with the invocation counts so far, so a killed runner leaves a
//!    readable prefix. A status line (hidden when stderr is not a terminal) shows
//!    elapsed time, events/s, functions hit and lost events.
//! 4. **End**: when the command ends (exit, crash, or a signal), the capture detaches,
//!    the last events, in-flight syscalls and invocation counts are written, then the
//!    footer (exit code or signal, lost events, notes), and a [`summary`] is printed.
//!
//! # Privileges ([`identity`])
//!
//! The capture needs root (or CAP_BPF + CAP_PERFMON). The test suite does not get it
//! unless asked: `--user NAME` runs it as NAME, `--as-root` as root. Run as root with
//! neither, the runner uses `$SUDO_USER` when set (and says so), and otherwise refuses
//! (exit 2). The command keeps the runner's working directory and environment, with
//! `HOME`, `USER` and `LOGNAME` of the user it runs as. The trace file is written by the
//! runner, mode 0644 (owned by the `$SUDO_USER` when that is who the command ran as).
//!
//! # Exit status
//!
//! The command's exit status, or 128 + the signal that killed it; 128 + the signal when
//! the runner itself was interrupted (SIGINT, SIGTERM, SIGHUP: forwarded to the command's
//! process group, then the trace is finished; a second signal sends SIGKILL); 2 when the
//! runner could not do its job (missing privilege or kernel feature, bad `--bin`, command
//! not found, unwritable trace). In every case where the command ran, the trace is
//! complete and valid.
//!
//! Invariants: the runner never leaves kernel state behind (every attachment is a BPF
//! link owned by a file descriptor; nothing goes through tracefs, so tracefs need not be
//! mounted); events lost in the kernel are always counted, shown and written in the
//! footer.

pub mod jvm;
pub mod pattern;
pub mod plan;
mod progress;
pub mod record;
pub mod summary;

pub use jvm::JvmOptions;
pub use pattern::Glob;
pub use plan::{Plan, PlanOptions};
pub use record::{RecordOptions, Recording, record};
pub use summary::Summary;

/// The `tool` field of the traces the runner writes.
pub const TOOL: &str = concat!("perfscope-runner ", env!("CARGO_PKG_VERSION"));
