//! A minimal, bounded zip reader for jars: the central directory (zip64 included) and the
//! bytes of stored or deflated entries; enough to list a jar's classes, nothing more.
//!
//! Never panics on a damaged file: every offset and length is checked against the file,
//! and sizes are capped ([`MAX_ENTRY`], [`MAX_ENTRIES`]), so a hostile jar costs a clear
//! error, not memory.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// The largest entry read (a class file is at most a few MiB).
pub const MAX_ENTRY: u64 = 64 << 20;
/// The most entries a central directory may list.
pub const MAX_ENTRIES: u64 = 1 << 20;
/// The largest central directory read.
const MAX_DIRECTORY: u64 = 256 << 20;

const EOCD: u32 = 0x0605_4b50;
const EOCD64: u32 = 0x0606_4b50;
const EOCD64_LOCATOR: u32 = 0x0706_4b50;
const CENTRAL: u32 = 0x0201_4b50;
const LOCAL: u32 = 0x0403_4b50;

/// Why a jar or one of its entries could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ZipError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a readable zip file: {reason}")]
    Format { path: PathBuf, reason: String },
}

/// One file of the archive, as the central directory lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    method: u16,
    flags: u16,
    compressed: u64,
    pub size: u64,
    local_offset: u64,
}

/// An open jar: its file and central directory.
#[derive(Debug)]
pub struct Archive {
    path: PathBuf,
    file: File,
    len: u64,
    pub entries: Vec<Entry>,
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

impl Archive {
    /// Opens `path` and reads its central directory.
    pub fn open(path: &Path) -> Result<Archive, ZipError> {
        let io = |source| ZipError::Io {
            path: path.to_owned(),
            source,
        };
        let file = File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        let mut a = Archive {
            path: path.to_owned(),
            file,
            len,
            entries: Vec::new(),
        };
        a.entries = a.directory()?;
        Ok(a)
    }

    fn bad(&self, reason: impl Into<String>) -> ZipError {
        ZipError::Format {
            path: self.path.clone(),
            reason: reason.into(),
        }
    }

    /// `len` bytes at `offset`, both checked against the file.
    fn read(&self, offset: u64, len: u64) -> Result<Vec<u8>, ZipError> {
        if offset.checked_add(len).is_none_or(|end| end > self.len) {
            return Err(self.bad(format!(
                "{len} bytes at offset {offset} lie past the end ({} bytes)",
                self.len
            )));
        }
        let mut buf = vec![0; usize::try_from(len).map_err(|_| self.bad("size too large"))?];
        self.file
            .read_exact_at(&mut buf, offset)
            .map_err(|source| ZipError::Io {
                path: self.path.clone(),
                source,
            })?;
        Ok(buf)
    }

    fn directory(&self) -> Result<Vec<Entry>, ZipError> {
        // the end record is in the last 22 + 65535 (comment) bytes
        let tail_len = self.len.min(22 + 65_535);
        let tail = self.read(self.len - tail_len, tail_len)?;
        let at = (0..tail.len().saturating_sub(21))
            .rev()
            .find(|&i| u32_at(&tail, i) == Some(EOCD))
            .ok_or_else(|| self.bad("no end of central directory record"))?;
        let eocd_pos = self.len - tail_len + at as u64;
        let field = |off: usize| u16_at(&tail, at + off).map(u64::from);
        let mut count = field(10).unwrap_or(0);
        let mut dir_size = u32_at(&tail, at + 12).map_or(0, u64::from);
        let mut dir_offset = u32_at(&tail, at + 16).map_or(0, u64::from);
        if count == 0xFFFF || dir_size == 0xFFFF_FFFF || dir_offset == 0xFFFF_FFFF {
            // zip64: the locator is the 20 bytes before the end record
            let loc = eocd_pos
                .checked_sub(20)
                .map(|p| self.read(p, 20))
                .transpose()?
                .filter(|l| u32_at(l, 0) == Some(EOCD64_LOCATOR))
                .ok_or_else(|| self.bad("zip64 end record locator missing"))?;
            let e64 = self.read(u64_at(&loc, 8).unwrap_or(u64::MAX), 56)?;
            if u32_at(&e64, 0) != Some(EOCD64) {
                return Err(self.bad("zip64 end record missing"));
            }
            count = u64_at(&e64, 32).unwrap_or(0);
            dir_size = u64_at(&e64, 40).unwrap_or(0);
            dir_offset = u64_at(&e64, 48).unwrap_or(0);
        }
        if count > MAX_ENTRIES || dir_size > MAX_DIRECTORY {
            return Err(self.bad(format!(
                "{count} entries in {dir_size} bytes: more than this reader accepts"
            )));
        }
        let dir = self.read(dir_offset, dir_size)?;
        let mut entries = Vec::with_capacity(count as usize);
        let mut p = 0usize;
        for i in 0..count {
            let bad = || self.bad(format!("central directory entry {i} is damaged"));
            if u32_at(&dir, p) != Some(CENTRAL) {
                return Err(bad());
            }
            let h = |off: usize| u16_at(&dir, p + off).ok_or_else(bad);
            let w = |off: usize| u32_at(&dir, p + off).map(u64::from).ok_or_else(bad);
            let (flags, method) = (h(8)?, h(10)?);
            let (mut compressed, mut size) = (w(20)?, w(24)?);
            let (name_len, extra_len, comment_len) =
                (h(28)? as usize, h(30)? as usize, h(32)? as usize);
            let mut local_offset = w(42)?;
            let name_at = p + 46;
            let name = dir.get(name_at..name_at + name_len).ok_or_else(bad)?;
            let extra = dir
                .get(name_at + name_len..name_at + name_len + extra_len)
                .ok_or_else(bad)?;
            // zip64 extra field: the 64-bit values of the fields that are all ones
            let mut e = 0;
            while e + 4 <= extra.len() {
                let (id, n) = (u16_at(extra, e), u16_at(extra, e + 2).unwrap_or(0) as usize);
                let body = extra.get(e + 4..e + 4 + n).ok_or_else(bad)?;
                if id == Some(1) {
                    let mut q = 0;
                    for v in [&mut size, &mut compressed, &mut local_offset] {
                        if *v == 0xFFFF_FFFF {
                            *v = u64_at(body, q).ok_or_else(bad)?;
                            q += 8;
                        }
                    }
                }
                e += 4 + n;
            }
            entries.push(Entry {
                name: String::from_utf8_lossy(name).into_owned(),
                method,
                flags,
                compressed,
                size,
                local_offset,
            });
            p = name_at + name_len + extra_len + comment_len;
        }
        Ok(entries)
    }

    /// The uncompressed bytes of `entry` (stored or deflated; at most [`MAX_ENTRY`]).
    pub fn bytes(&self, entry: &Entry) -> Result<Vec<u8>, ZipError> {
        let what = |r: &str| self.bad(format!("{}: {r}", entry.name));
        if entry.flags & 1 != 0 {
            return Err(what("encrypted"));
        }
        if entry.size > MAX_ENTRY || entry.compressed > MAX_ENTRY {
            return Err(what("larger than this reader accepts"));
        }
        let local = self.read(entry.local_offset, 30)?;
        if u32_at(&local, 0) != Some(LOCAL) {
            return Err(what("local header missing"));
        }
        let skip = 30
            + u64::from(u16_at(&local, 26).unwrap_or(0))
            + u64::from(u16_at(&local, 28).unwrap_or(0));
        let data = self.read(entry.local_offset + skip, entry.compressed)?;
        let out = match entry.method {
            0 => data,
            8 => miniz_oxide::inflate::decompress_to_vec_with_limit(&data, entry.size as usize)
                .map_err(|e| what(&format!("deflate: {e}")))?,
            m => return Err(what(&format!("compression method {m} not supported"))),
        };
        if out.len() as u64 != entry.size {
            return Err(what(&format!(
                "{} bytes inflated, the directory says {}",
                out.len(),
                entry.size
            )));
        }
        Ok(out)
    }
}
