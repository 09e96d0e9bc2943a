//! perfscope's analysis: names the functions behind a hang or slowdown from a window of
//! syscalls.
//!
//! The analysis is pure: a [`window::Window`] of syscalls (from a trace file, or from the
//! online rolling buffer) and a signature database go in, a [`report::Report`] comes out.
//! Only the `watch` side of the binary touches the kernel.

pub mod abnormal;
pub mod analysis;
pub mod cluster;
pub mod confidence;
pub mod onset;
pub mod rank;
pub mod report;
pub mod runtime;
pub mod signature;
pub mod stacks;
pub mod symbolize;
pub mod unit;
pub mod window;

pub use analysis::{Alarm, Params, analyze};
