//! Streaming trace reader: one chunk in memory at a time.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use crate::codec::Decoder;
use crate::error::TraceError;
use crate::event::Event;
use crate::header::{Footer, Header, Object};
use crate::writer::{KIND_EVENTS, KIND_FOOTER, KIND_HEADER, KIND_OBJECTS};
use crate::{FORMAT_VERSION, MAGIC};

/// A chunk that claims more than this uncompressed is taken as corrupt.
const MAX_CHUNK_BYTES: u32 = 256 << 20;

/// Why a trace ended before its footer: everything before `offset` was read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Truncation {
    /// Byte offset of the first chunk that could not be read.
    pub offset: u64,
    pub reason: String,
}

/// Reads a trace as a stream of events.
pub struct TraceReader<R: Read> {
    input: R,
    offset: u64,
    header: Header,
    late_objects: Vec<Object>,
    footer: Option<Footer>,
    truncation: Option<Truncation>,
    chunk: Vec<u8>,
    chunk_offset: u64,
    pos: usize,
    prev_ts: u64,
    done: bool,
}

impl TraceReader<BufReader<File>> {
    /// Opens the trace at `path` and reads its header.
    pub fn open(path: &Path) -> Result<Self, TraceError> {
        let file = File::open(path).map_err(|source| TraceError::Open {
            path: path.to_owned(),
            source,
        })?;
        TraceReader::new(BufReader::with_capacity(1 << 16, file))
    }
}

enum ChunkRead {
    Chunk(u8),
    End,
    Cut(String),
}

impl<R: Read> TraceReader<R> {
    /// Reads the preamble and header chunk of `input`.
    pub fn new(mut input: R) -> Result<Self, TraceError> {
        let mut pre = [0u8; 16];
        match read_full(&mut input, &mut pre)? {
            16 => {}
            n if n >= 8 && pre[..8] != MAGIC => return Err(TraceError::NotATrace),
            _ => return Err(TraceError::MissingHeader),
        }
        if pre[..8] != MAGIC {
            return Err(TraceError::NotATrace);
        }
        let version = u16::from_le_bytes([pre[8], pre[9]]);
        if version > FORMAT_VERSION {
            return Err(TraceError::NewerVersion {
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        if version < crate::OLDEST_VERSION {
            return Err(TraceError::UnsupportedVersion {
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        let mut r = TraceReader {
            input,
            offset: 16,
            header: Header::new("", crate::CaptureMode::Full),
            late_objects: Vec::new(),
            footer: None,
            truncation: None,
            chunk: Vec::new(),
            chunk_offset: 16,
            pos: 0,
            prev_ts: 0,
            done: false,
        };
        match r.read_chunk()? {
            ChunkRead::Chunk(KIND_HEADER) => {
                r.header = serde_json::from_slice(&r.chunk).map_err(TraceError::HeaderJson)?;
                r.chunk.clear();
                Ok(r)
            }
            ChunkRead::Chunk(kind) => Err(TraceError::Corrupt {
                offset: 16,
                reason: format!("first chunk has kind {kind}, expected the header"),
            }),
            ChunkRead::End | ChunkRead::Cut(_) => Err(TraceError::MissingHeader),
        }
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    /// All objects seen so far: the header's, then those of later object chunks.
    pub fn objects(&self) -> impl Iterator<Item = &Object> {
        self.header.objects.iter().chain(&self.late_objects)
    }

    /// The footer, once the reader has reached it.
    pub fn footer(&self) -> Option<&Footer> {
        self.footer.as_ref()
    }

    /// Set when the stream ended without a footer (the capture was killed or the file cut).
    pub fn truncation(&self) -> Option<&Truncation> {
        self.truncation.as_ref()
    }

    /// The next event; `Ok(None)` at the end (check [`Self::truncation`] then).
    pub fn next_event(&mut self) -> Result<Option<Event>, TraceError> {
        loop {
            if self.pos < self.chunk.len() {
                let mut dec = Decoder::resume(&self.chunk, self.pos, self.prev_ts);
                let ev = dec.next_event().map_err(|reason| TraceError::Corrupt {
                    offset: self.chunk_offset,
                    reason: format!("event at payload byte {}: {reason}", self.pos),
                })?;
                self.pos = dec.pos;
                self.prev_ts = dec.prev_ts;
                if let Some(ev) = ev {
                    return Ok(Some(ev));
                }
            }
            if self.done {
                return Ok(None);
            }
            self.chunk_offset = self.offset;
            match self.read_chunk()? {
                ChunkRead::Chunk(KIND_EVENTS) => {
                    self.pos = 0;
                    self.prev_ts = 0;
                }
                ChunkRead::Chunk(KIND_OBJECTS) => {
                    let objs: Vec<Object> =
                        serde_json::from_slice(&self.chunk).map_err(|e| TraceError::Corrupt {
                            offset: self.chunk_offset,
                            reason: format!("object chunk: {e}"),
                        })?;
                    self.late_objects.extend(objs);
                    self.chunk.clear();
                    self.pos = 0;
                }
                ChunkRead::Chunk(KIND_FOOTER) => {
                    let footer =
                        serde_json::from_slice(&self.chunk).map_err(|e| TraceError::Corrupt {
                            offset: self.chunk_offset,
                            reason: format!("footer: {e}"),
                        })?;
                    self.footer = Some(footer);
                    self.chunk.clear();
                    self.pos = 0;
                    self.done = true;
                }
                ChunkRead::Chunk(kind) => {
                    return Err(TraceError::Corrupt {
                        offset: self.chunk_offset,
                        reason: format!("unknown chunk kind {kind}"),
                    });
                }
                ChunkRead::End => {
                    self.truncation = Some(Truncation {
                        offset: self.offset,
                        reason: "the trace has no footer: the capture did not finish cleanly"
                            .into(),
                    });
                    self.done = true;
                }
                ChunkRead::Cut(reason) => {
                    self.truncation = Some(Truncation {
                        offset: self.chunk_offset,
                        reason,
                    });
                    self.done = true;
                }
            }
        }
    }

    /// Reads the next chunk into `self.chunk`.
    fn read_chunk(&mut self) -> Result<ChunkRead, TraceError> {
        let at = self.offset;
        let mut head = [0u8; 16];
        match read_full(&mut self.input, &mut head)? {
            0 => return Ok(ChunkRead::End),
            16 => {}
            n => {
                return Ok(ChunkRead::Cut(format!(
                    "file ends inside a chunk header ({n} of 16 bytes)"
                )));
            }
        }
        let kind = head[0];
        let raw_len = u32::from_le_bytes(head[4..8].try_into().expect("4 bytes"));
        let comp_len = u32::from_le_bytes(head[8..12].try_into().expect("4 bytes"));
        let crc = u32::from_le_bytes(head[12..16].try_into().expect("4 bytes"));
        if head[1..4] != [0, 0, 0] || raw_len > MAX_CHUNK_BYTES || comp_len > MAX_CHUNK_BYTES {
            return Err(TraceError::Corrupt {
                offset: at,
                reason: format!("implausible chunk header (raw {raw_len}, compressed {comp_len})"),
            });
        }
        let mut comp = vec![0u8; comp_len as usize];
        let n = read_full(&mut self.input, &mut comp)?;
        if n < comp.len() {
            return Ok(ChunkRead::Cut(format!(
                "file ends inside a chunk ({n} of {comp_len} bytes)"
            )));
        }
        if crc32fast::hash(&comp) != crc {
            return Err(TraceError::Corrupt {
                offset: at,
                reason: "checksum mismatch".into(),
            });
        }
        self.chunk =
            zstd::bulk::decompress(&comp, raw_len as usize).map_err(|e| TraceError::Corrupt {
                offset: at,
                reason: format!("zstd: {e}"),
            })?;
        if self.chunk.len() != raw_len as usize {
            return Err(TraceError::Corrupt {
                offset: at,
                reason: format!(
                    "chunk holds {} bytes, header says {raw_len}",
                    self.chunk.len()
                ),
            });
        }
        self.offset += 16 + u64::from(comp_len);
        Ok(ChunkRead::Chunk(kind))
    }
}

/// Reads until `buf` is full or the input ends; returns the bytes read.
fn read_full(input: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match input.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}
