//! perfscope's OS glue, in one place: launching a command paused so a capture can seed
//! its process set before it runs ([`launch`]), as which user ([`user`], and the rule
//! both tracers follow, [`identity`]), contained so that nothing of it outlives the
//! tracer ([`guard`]); what /proc and cgroups say about tasks ([`procfs`]); signals
//! ([`signals`]).
//!
//! With `capture`, this is the only crate that calls `libc` or holds `unsafe` code
//! (`cargo xtask tidy` checks it).

pub mod caps;
pub mod cli;
mod error;
pub mod guard;
pub mod identity;
pub mod launch;
pub mod procfs;
pub mod signals;
pub mod user;

pub use error::HostError;
pub use launch::{Child, Command, ExitStatus, PausedChild, wait_with_usage};
pub use user::User;
