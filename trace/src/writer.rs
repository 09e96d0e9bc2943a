//! Streaming trace writer: events are encoded into a chunk buffer that is compressed and
//! written when it reaches the chunk size or on [`TraceWriter::flush`].

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use crate::codec::Encoder;
use crate::error::TraceError;
use crate::event::Event;
use crate::header::{Footer, Header, Object};
use crate::{FORMAT_VERSION, MAGIC};

pub(crate) const KIND_HEADER: u8 = 1;
pub(crate) const KIND_EVENTS: u8 = 2;
pub(crate) const KIND_FOOTER: u8 = 3;
pub(crate) const KIND_OBJECTS: u8 = 4;

/// Uncompressed size at which an event chunk is closed.
const CHUNK_BYTES: usize = 1 << 20;
/// zstd level: 1 keeps the writer far ahead of any capture rate we have measured.
const LEVEL: i32 = 1;

/// Counters of what a writer has written so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriterStats {
    pub events: u64,
    pub chunks: u64,
    /// Uncompressed payload bytes.
    pub raw_bytes: u64,
    /// Bytes written to the file, preamble and chunk headers included.
    pub file_bytes: u64,
}

/// Writes a trace. Dropping it without [`TraceWriter::finish`] loses the events of the
/// open chunk and leaves a trace without footer, which readers report as truncated.
pub struct TraceWriter<W: Write> {
    out: W,
    buf: Vec<u8>,
    enc: Encoder,
    stats: WriterStats,
}

impl TraceWriter<BufWriter<File>> {
    /// Creates (or replaces) the trace file at `path` and writes its header.
    pub fn create(path: &Path, header: &Header) -> Result<Self, TraceError> {
        let file = File::create(path).map_err(|source| TraceError::Open {
            path: path.to_owned(),
            source,
        })?;
        TraceWriter::new(BufWriter::new(file), header)
    }
}

impl<W: Write> TraceWriter<W> {
    /// Starts a trace on `out` with `header`.
    pub fn new(mut out: W, header: &Header) -> Result<Self, TraceError> {
        let mut pre = [0u8; 16];
        pre[..8].copy_from_slice(&MAGIC);
        pre[8..10].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.write_all(&pre)?;
        let mut w = TraceWriter {
            out,
            buf: Vec::with_capacity(CHUNK_BYTES + 4096),
            enc: Encoder::default(),
            stats: WriterStats {
                file_bytes: 16,
                ..WriterStats::default()
            },
        };
        let json = serde_json::to_vec(header).map_err(|e| TraceError::Encode(e.to_string()))?;
        w.write_chunk(KIND_HEADER, &json)?;
        Ok(w)
    }

    /// Appends one event.
    pub fn write(&mut self, ev: &Event) -> Result<(), TraceError> {
        self.enc.encode(ev, &mut self.buf);
        self.stats.events += 1;
        if self.buf.len() >= CHUNK_BYTES {
            self.end_chunk()?;
        }
        Ok(())
    }

    /// Records objects that became known after the header (a module loaded late). Events
    /// written before stay before them.
    pub fn add_objects(&mut self, objects: &[Object]) -> Result<(), TraceError> {
        self.end_chunk()?;
        let json = serde_json::to_vec(objects).map_err(|e| TraceError::Encode(e.to_string()))?;
        self.write_chunk(KIND_OBJECTS, &json)
    }

    /// Closes the open chunk and flushes the output, so that a crash after this loses
    /// nothing written so far.
    pub fn flush(&mut self) -> Result<(), TraceError> {
        self.end_chunk()?;
        self.out.flush()?;
        Ok(())
    }

    /// Writes the footer (its `events` is filled in here) and returns the output.
    pub fn finish(mut self, mut footer: Footer) -> Result<W, TraceError> {
        self.end_chunk()?;
        footer.events = self.stats.events;
        let json = serde_json::to_vec(&footer).map_err(|e| TraceError::Encode(e.to_string()))?;
        self.write_chunk(KIND_FOOTER, &json)?;
        self.out.flush()?;
        Ok(self.out)
    }

    pub fn stats(&self) -> WriterStats {
        self.stats
    }

    fn end_chunk(&mut self) -> Result<(), TraceError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let buf = std::mem::take(&mut self.buf);
        let r = self.write_chunk(KIND_EVENTS, &buf);
        self.buf = buf;
        self.buf.clear();
        self.enc = Encoder::default();
        r
    }

    fn write_chunk(&mut self, kind: u8, raw: &[u8]) -> Result<(), TraceError> {
        let comp = zstd::bulk::compress(raw, LEVEL)?;
        let raw_len = u32::try_from(raw.len())
            .map_err(|_| TraceError::Encode(format!("chunk of {} bytes", raw.len())))?;
        let comp_len = u32::try_from(comp.len())
            .map_err(|_| TraceError::Encode(format!("chunk of {} bytes", comp.len())))?;
        let mut head = [0u8; 16];
        head[0] = kind;
        head[4..8].copy_from_slice(&raw_len.to_le_bytes());
        head[8..12].copy_from_slice(&comp_len.to_le_bytes());
        head[12..16].copy_from_slice(&crc32fast::hash(&comp).to_le_bytes());
        self.out.write_all(&head)?;
        self.out.write_all(&comp)?;
        self.stats.chunks += 1;
        self.stats.raw_bytes += raw.len() as u64;
        self.stats.file_bytes += 16 + comp.len() as u64;
        Ok(())
    }
}
