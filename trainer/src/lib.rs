//! perfscope trainer: per-function syscall sequences from traces, Laxman episode mining,
//! signature selection, and the signature database it writes.
//!
//! The trainer is pure: it reads trace files, never spawns a process, needs no privilege,
//! and is deterministic (the same traces and parameters give the same database bytes,
//! whatever the number of threads).
//!
//! - [`episode`], [`counter`], [`mining`] (re-exported from the `episodes` crate):
//!   serial episodes, Laxman's non-overlapped counters, apriori level-wise mining.
//! - [`Collector`]: traces → per-function invocation sequences (attribution to the
//!   innermost application frame, the library filter, the outside pseudo-function).
//! - [`signature`]: closed/maximal selection, IDF weights, order and cap.
//! - [`train`]: the whole pipeline; [`Summary`]: what it saw.
//!
//! # Decisions
//!
//! - **Frequency** of an episode in a function = non-overlapped occurrences summed over
//!   its invocations (each invocation a segment; counts reset at boundaries). Frequent =
//!   `occurrences ≥ min_support × invocations` *and* `invocations containing it ≥
//!   min_coverage × invocations` (both anti-monotone, so apriori stays exact). The
//!   denominator counts invocations without syscalls (from the trace's `Invocations`
//!   events: per trace the largest cumulative count, never less than the invocations
//!   seen with syscalls; shards add up; without counts, the invocations seen).
//! - **Expiry**: an occurrence spans `t_last − t_first < T` (entry times). With
//!   timestamps non-decreasing within an invocation (the trainer clamps them), Laxman's
//!   expiry counter computes exactly the maximum number of such non-overlapped
//!   occurrences; the property tests compare it with an exhaustive oracle.
//! - **Selection** (default closed): an episode is dropped when a frequent episode one
//!   node longer containing it has the same occurrences and the same number of
//!   invocations containing it. `maximal` drops it when any frequent super-episode exists.
//! - **Weight** = ln(records with a signature / records whose signature has the episode),
//!   the outside pseudo-function included. Order: weight, length, support (descending),
//!   then names; cap `max_episodes`.
//! - **Attribution**: innermost frame of an application class (library frames skipped),
//!   plus `callers` enclosing application frames; no application frame: the pseudo-
//!   function [`OUTSIDE_NAME`], cut per thread at gaps > `outside_gap_ns` and whenever
//!   application code runs in between. See `attribution` for when invocations close.
//! - **Records**: every probed function has one (merged by `(name, file)`), with or
//!   without syscalls, so the record count is the size of the search scope; the outside
//!   pseudo-function has one when it has syscalls. Coverage counts exclude it.
//! - Every parameter is recorded in the database (`training.params`).

pub use episodes::{counter, episode, mining};

mod attribution;
mod collect;
mod error;
mod feed;
mod params;
pub mod signature;
mod store;
mod summary;
pub mod synth;
mod train;

pub use collect::{Collected, Collector, OUTSIDE_NAME, Progress};
pub use error::TrainError;
pub use params::{Params, Selection, class_of};
pub use store::{FunctionSeqs, SyscallTable};
pub use summary::{SUMMARY_VERSION, Summary};
pub use train::{TrainOptions, Trained, build, train};
