//! Serial episodes of syscalls, the "FSM" algorithm of PerfScope: Laxman et al.'s
//! non-overlapped occurrence counting, with and without expiry time, and apriori
//! level-wise mining. Shared by the trainer (mining signatures) and perfscope (matching
//! units against them), so both count exactly the same way.
//!
//! - [`episode`]: episode sets of one length in flat storage; apriori candidate join.
//! - [`counter`]: the two counters, per segment (one function invocation, one unit).
//! - [`mining`]: level-wise mining of the frequent episodes of a sequence.

pub mod counter;
pub mod episode;
pub mod mining;
#[cfg(test)]
mod oracle;

pub use counter::{Count, Sequence, count};
pub use episode::{EpisodeSet, EventType};
