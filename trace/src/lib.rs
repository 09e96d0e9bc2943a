//! The perfscope trace file: the boundary between capture and everything downstream.
//!
//! A trace is a preamble followed by chunks. Each chunk is zstd-compressed and carries a
//! CRC32 of its compressed bytes, so a reader can tell a file cut short by a crash
//! (it reads every complete chunk and reports the truncation) from a damaged one (an
//! error). The first chunk is the [`Header`] (JSON): what was traced and the function
//! table. Then come event chunks in a compact binary encoding, optional chunks with
//! further objects (shared libraries loaded late), and a [`Footer`] when the writer was
//! finished cleanly.
//!
//! ```text
//! preamble  b"PSTRACE\n" | version: u16 LE | flags: u16 | reserved: u32
//! chunk     kind: u8 | 0u8 x3 | raw_len: u32 | comp_len: u32 | crc32(comp): u32 | zstd payload
//! ```
//!
//! Neither the writer nor the reader ever holds more than one chunk in memory.

mod codec;
mod error;
mod event;
mod header;
mod reader;
mod sysno;
mod writer;

pub use error::TraceError;
pub use event::{CodeLocation, Event, Frame, MAX_FRAMES, StackKind, Syscall};
pub use header::{
    CaptureMode, EntryClass, Footer, Function, FunctionClass, Header, Object, ObjectKind,
};
pub use reader::{Damage, TraceReader, Truncation};
pub use sysno::{syscall_name, syscall_number};
pub use writer::{TraceWriter, WriterStats};

/// The first eight bytes of every trace file.
pub const MAGIC: [u8; 8] = *b"PSTRACE\n";

/// The on-disk format version this crate writes (3 added [`Event::Locks`], 4 the
/// run-queue wait of [`Event::ThreadState`]).
pub const FORMAT_VERSION: u16 = 4;

/// The oldest format version this crate reads (version 1 has no JVM objects).
pub const OLDEST_VERSION: u16 = 1;

/// A function's id: dense, global over all objects of a trace, and the BPF cookie of its
/// probe. Frames and invocation counts refer to functions by this id.
pub type FunctionId = u32;
