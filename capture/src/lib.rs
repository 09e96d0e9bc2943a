//! perfscope's kernel side: BPF programs that record syscalls (with the application
//! functions they belong to) and process events of a set of tasks, and the user-space
//! session that loads them, drains their ring buffer and turns records into
//! [`trace::Event`]s.
//!
//! # Using it
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use capture::{Config, Filter, ObjectProbes, Probe, Session};
//! use host::Command;
//!
//! // Launch paused, so that nothing the command does escapes the capture.
//! let paused = Command::new("./server-tests").spawn_paused()?;
//! let probes = ObjectProbes {
//!     path: "./server-tests".into(),
//!     probes: vec![Probe { file_offset: 0x1139, func: 0 }],
//! };
//! let config = Config::full(Filter::Tree { root: paused.pid() }, vec![probes]);
//! let mut session = Session::start(config)?;
//! let mut child = paused.release()?;
//!
//! let mut events = Vec::new();
//! let mut sink = |ev: trace::Event| events.push(ev);
//! session.run_until(&mut sink, || matches!(child.try_wait(), Ok(Some(_))))?;
//! let stats = session.finish(&mut sink)?; // in-flight syscalls, invocation counts, losses
//! # Ok(()) }
//! ```
//!
//! * [`Config`] chooses the mode ([`trace::CaptureMode::Full`]: entry probes and syscall
//!   frames, for training; `SyscallsOnly`: for production), the [`Filter`] (a process
//!   tree followed in the kernel, a pid list, or a cgroup), the ring buffer size, the
//!   frames per syscall and the drain period.
//! * [`Session`] owns every kernel object: dropping it (or the process dying, even by
//!   SIGKILL) detaches everything, because all attachments are BPF links held by file
//!   descriptors; no tracefs probe is ever created. [`Session::poll`] drains the ring
//!   buffer into a caller's sink (any `FnMut(Event)`, or an [`EventSink`] that takes
//!   syscalls by reference, as decoded) without allocating for syscall events;
//!   [`Session::run_until`] polls on a timer; [`Session::flush`] also hands over the
//!   syscalls a `SyscallsOnly` session still holds in its threads' batches (it sends a
//!   busy thread's syscalls up to 8 at a time), for when the stream must be complete up
//!   to now; [`Session::finish`] detaches and reports what is left: records, syscalls
//!   still blocked ([`trace::Syscall::dur`] `None`), [`trace::Event::Invocations`] and
//!   [`trace::Event::Lost`]. [`Session::stats`] gives counters for a progress display.
//!   Events come in drain order, not sorted: a syscall is recorded when it returns, with
//!   its entry time as `ts`, records of different CPUs interleave, and a batch arrives
//!   up to a few milliseconds after its first syscall returned.
//! * [`StackSampler`] ([`Session::stack_sampler`]) samples the user stacks of the
//!   session's traced threads for a short burst after an alarm, as
//!   [`trace::Event::Stack`]s: on CPU (a perf `cpu-clock` event per CPU), at syscalls
//!   (rate-limited per thread) and while blocked in a syscall (a sleepable task
//!   iterator), each with a frame-pointer walk plus a scan of the raw stack for the
//!   frames the walk skips. It attaches nothing between bursts. See [`stacks`].
//! * `host::Command` launches a command paused (fork, wait on a pipe), so its pid can
//!   seed the capture before it runs (the `host` crate holds the OS glue).
//!
//! # What the kernel side records
//!
//! Entry probes are one `uprobe_multi` link per ELF object (cookie = function id, and the
//! link's generation in the high half, see [`Session::mute`]), each
//! on the function's entry or on a later instruction of its straight-line prefix where
//! the SP and the return address at `[SP]` are still the entry's
//! ([`trace::Function::probe_offset`]). Each
//! traced thread has a shadow stack of live application frames in task local storage
//! (src/bpf/README.md has the details and the limits). At the entry of `f` with user SP
//! `s`, frames with entry SP ≤ `s` are popped (returned, or replaced by a tail call),
//! then frames whose return-address slot no longer holds the return address recorded at
//! their entry (returned, and the slot reused by a later call), and `(f, call number, s,
//! return address at s)` is pushed; the call number counts the thread's function
//! entries, so `(tid, call)` names an invocation. At a syscall with user SP `s`, frames
//! with entry SP < `s` are dropped, then frames from the top whose slot changed; the
//! innermost survivors are the syscall's [`trace::Frame`]s. Checking slots at entries too
//! keeps every frame an ancestor of the one above it, so a syscall only has to check the
//! top frame. Syscalls are sent at exit with their duration; `exit` and `exit_group`
//! never return and are sent at entry with `dur: None`.
//!
//! Process events: [`trace::Event::Fork`] (thread or process; followed by the child's
//! [`trace::Event::Comm`]), [`trace::Event::Exec`], [`trace::Event::Exit`] (per thread;
//! `code` is the exit status, or minus the signal number for a death by signal), and
//! `Comm` whenever a thread is renamed (exec, `prctl`, `pthread_setname_np`), plus one
//! `Comm` per thread that existed when the session started.

pub mod census;
mod config;
mod counters;
mod error;
mod loader;
mod mmap;
pub mod preflight;
mod record;
mod ring;
mod session;
pub mod stacks;

pub use config::{
    Config, DEFAULT_POLL_INTERVAL, DEFAULT_RING_BYTES, Filter, ObjectProbes, Probe, STACK_DEPTH,
};
pub use error::CaptureError;
pub use record::EventSink;
pub use session::{AttachInfo, Session, Stats};
pub use stacks::{Burst, StackConfig, StackSampler, StackStats};

// A session can be moved to the thread that drains it.
const _: fn() = || {
    fn send<T: Send>() {}
    send::<Session>();
    send::<StackSampler>();
};

/// `CLOCK_MONOTONIC` now, in ns: the clock of every event timestamp.
pub fn monotonic_ns() -> u64 {
    host::procfs::clock_ns(libc::CLOCK_MONOTONIC)
}

/// `(CLOCK_MONOTONIC, CLOCK_REALTIME)` now, read back to back, to place event times on
/// the wall clock (see [`trace::Header::start_monotonic_ns`]).
pub fn clock_pair() -> (u64, u64) {
    (
        host::procfs::clock_ns(libc::CLOCK_MONOTONIC),
        host::procfs::clock_ns(libc::CLOCK_REALTIME),
    )
}
