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

/// A chunk that claims to expand more than this many times is taken as corrupt (a
/// decompression bomb, or a damaged length): the writer's chunks expand 2 to 20 times.
const MAX_RATIO: u64 = 4096;

/// Why a trace ended before its footer: everything before `offset` was read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Truncation {
    /// Byte offset of the first chunk that could not be read.
    pub offset: u64,
    pub reason: String,
    /// Bytes of the file from `offset` on, never read (known when the reader was opened
    /// on a file): what was lost.
    pub unread_bytes: Option<u64>,
}

/// What a reader could not read of a trace: the events of a cut or damaged file, or a
/// capture that did not finish. `None` from [`TraceReader::damage`] means the whole file
/// was read and ended with its footer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Damage {
    /// One sentence for people, with the numbers.
    pub reason: String,
    /// Bytes that were never read (0 when the file ends cleanly without a footer).
    pub unread_bytes: u64,
    /// The file's size, when known.
    pub file_bytes: Option<u64>,
}

impl Damage {
    /// The share of the file that was not read, when the size is known.
    pub fn unread_share(&self) -> Option<f64> {
        self.file_bytes
            .filter(|&n| n > 0)
            .map(|n| self.unread_bytes as f64 / n as f64)
    }
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
    /// The file's size, when opened from a file.
    file_len: Option<u64>,
    /// Bytes found after the footer.
    trailing: u64,
}

impl TraceReader<BufReader<File>> {
    /// Opens the trace at `path` and reads its header.
    pub fn open(path: &Path) -> Result<Self, TraceError> {
        let file = File::open(path).map_err(|source| TraceError::Open {
            path: path.to_owned(),
            source,
        })?;
        let len = file
            .metadata()
            .ok()
            .filter(|m| m.is_file())
            .map(|m| m.len());
        let mut r = TraceReader::new(BufReader::with_capacity(1 << 16, file))?;
        r.file_len = len;
        Ok(r)
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
        // flags and reserved bytes: a writer of this version sets none
        if pre[10..16] != [0; 6] {
            return Err(TraceError::Corrupt {
                offset: 10,
                reason: format!(
                    "preamble flags/reserved bytes {:02x?} are not zero: a damaged file, or a \
                     writer this build does not know",
                    &pre[10..16]
                ),
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
            file_len: None,
            trailing: 0,
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

    /// Bytes found after the footer (once the reader reached it): the file was appended
    /// to, or damaged.
    pub fn trailing_bytes(&self) -> u64 {
        self.trailing
    }

    /// What could not be read, once [`Self::next_event`] returned `Ok(None)`: a cut or
    /// damaged file, a capture that never wrote its footer, bytes after the footer.
    /// Events the kernel lost are counted in the events themselves (`Event::Lost`).
    pub fn damage(&self) -> Option<Damage> {
        if let Some(t) = &self.truncation {
            return Some(Damage {
                reason: t.reason.clone(),
                unread_bytes: t.unread_bytes.unwrap_or(0),
                file_bytes: self.file_len,
            });
        }
        (self.trailing > 0).then(|| Damage {
            reason: format!(
                "{} bytes follow the footer: the file was appended to or damaged",
                self.trailing
            ),
            unread_bytes: self.trailing,
            file_bytes: self.file_len,
        })
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
                    self.trailing = std::io::copy(&mut self.input, &mut std::io::sink())?;
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
                        unread_bytes: Some(0),
                    });
                    self.done = true;
                }
                ChunkRead::Cut(reason) => {
                    let unread = self.file_len.map(|n| n.saturating_sub(self.chunk_offset));
                    self.truncation = Some(Truncation {
                        offset: self.chunk_offset,
                        reason,
                        unread_bytes: unread,
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
        if u64::from(raw_len) > u64::from(comp_len).max(1) * MAX_RATIO {
            return Err(TraceError::Corrupt {
                offset: at,
                reason: format!(
                    "implausible chunk header: {comp_len} bytes claim to expand to {raw_len}"
                ),
            });
        }
        // read what is there (a damaged length must not allocate what the file lacks)
        let mut comp = Vec::new();
        let n = (&mut self.input)
            .take(u64::from(comp_len))
            .read_to_end(&mut comp)?;
        if n < comp_len as usize {
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
