//! Reading and writing the canonical file: zstd(JSON Lines), header first.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::v3::{Header, Record};
use crate::{FORMAT_NAME, FORMAT_VERSION, Sigdb, SigdbError};

/// zstd level: databases are small and written once, read many times.
const LEVEL: i32 = 12;

/// Bounds of the reader: a damaged or crafted file (a decompression bomb: a few KB of
/// zstd that expand to gigabytes of one line) is refused before it costs memory or time,
/// and the error says which bound it hit.
/// The header line at most.
pub const MAX_HEADER_LINE: usize = 1 << 20;
/// One record line at most (a real record is a few kilobytes).
pub const MAX_RECORD_LINE: usize = 16 << 20;
/// Records at most, whatever the header says.
pub const MAX_RECORDS: u64 = 16_000_000;
/// Decompressed bytes per compressed byte at most (JSON Lines of signatures compresses
/// 5-30 times), beyond a floor of [`RATIO_FLOOR`] bytes.
pub const MAX_RATIO: u64 = 1000;
pub const RATIO_FLOOR: u64 = 64 << 20;

/// Writes `db` in canonical form (records sorted, checksum and count recomputed).
///
/// Refuses (with [`SigdbError::Unwritable`]) what [`read_from`] would reject: duplicate
/// keys, and non-finite numbers (JSON has none; serde_json would write `null`).
pub fn write_to(db: &Sigdb, out: impl Write) -> Result<(), SigdbError> {
    let mut records = db.records.iter().collect::<Vec<_>>();
    records.sort_by(|a, b| a.key().cmp(&b.key()));
    check_writable(&db.header, &records)?;
    let mut body = Vec::new();
    for r in records {
        serde_json::to_writer(&mut body, r).map_err(std::io::Error::other)?;
        body.push(b'\n');
    }
    let mut header = db.header.clone();
    header.format = FORMAT_NAME.into();
    header.version = FORMAT_VERSION;
    header.records = db.records.len() as u64;
    header.checksum = checksum(&body);
    let mut plain = serde_json::to_vec(&header).map_err(std::io::Error::other)?;
    plain.push(b'\n');
    plain.extend_from_slice(&body);
    let mut enc = zstd::Encoder::new(out, LEVEL)?;
    enc.include_checksum(true)?;
    // Telling zstd the size lets level 19 size its tables to the data: without it the
    // encoder sets up ~80 MB of tables for a few kilobytes (seconds in a debug build).
    // The size also goes into the frame header, so the decoder checks it.
    enc.set_pledged_src_size(Some(plain.len() as u64))?;
    enc.include_contentsize(true)?;
    enc.write_all(&plain)?;
    enc.finish()?.flush()?;
    Ok(())
}

fn check_writable(header: &Header, sorted: &[&Record]) -> Result<(), SigdbError> {
    let unwritable = |reason: String| Err(SigdbError::Unwritable { reason });
    if !header.training.params.min_support.is_finite() {
        return unwritable("training parameter min_support is not a finite number".into());
    }
    for pair in sorted.windows(2) {
        if pair[0].key() == pair[1].key() {
            return unwritable(format!("two records for {}", pair[1].display_key()));
        }
    }
    for r in sorted {
        if let Some(e) = r
            .episodes
            .iter()
            .find(|e| !e.support.is_finite() || !e.weight.is_finite())
        {
            return unwritable(format!(
                "{}: episode {} has a non-finite support or weight",
                r.display_key(),
                e.events.join("→")
            ));
        }
    }
    Ok(())
}

/// Writes `db` to `path` atomically (a temporary file, synced, renamed into place).
pub fn write(db: &Sigdb, path: &Path) -> Result<(), SigdbError> {
    let tmp = path.with_extension("sigdb.tmp");
    let file = File::create(&tmp).map_err(|source| SigdbError::Open {
        path: tmp.clone(),
        source,
    })?;
    let mut out = std::io::BufWriter::new(file);
    let written = write_to(db, &mut out)
        .and_then(|()| out.into_inner().map_err(|e| e.into_error().into()))
        // without the sync a crash soon after the rename can leave an empty file in place
        .and_then(|file| file.sync_all().map_err(SigdbError::from));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, path).map_err(|source| SigdbError::Open {
        path: path.to_owned(),
        source,
    })?;
    Ok(())
}

/// Reads and fully checks a database: format, version, JSON of every line, record count,
/// order and uniqueness of keys, and the content checksum.
pub fn read_from(mut input: impl Read) -> Result<Sigdb, SigdbError> {
    // The magic number tells a file that is not a sigdb at all from a damaged or truncated
    // one, which the zstd decoder alike reports as a read error.
    let mut magic = [0u8; 4];
    let got = read_up_to(&mut input, &mut magic)?;
    if got == 0 {
        return Err(SigdbError::Empty);
    }
    if got < magic.len() || magic != ZSTD_MAGIC {
        return Err(SigdbError::NotASigdb(
            "the file does not start with the zstd magic number".into(),
        ));
    }
    let compressed = std::rc::Rc::new(std::cell::Cell::new(0u64));
    let counted = Counting {
        inner: std::io::Cursor::new(magic).chain(input),
        bytes: compressed.clone(),
    };
    let dec = zstd::Decoder::new(counted).map_err(|e| SigdbError::NotASigdb(e.to_string()))?;
    let mut lines = BufReader::new(dec);
    let mut line = Vec::new();
    let mut plain = 0u64;
    if next_line(&mut lines, &mut line, 1, MAX_HEADER_LINE)? == 0 {
        return Err(SigdbError::Empty);
    }
    plain += line.len() as u64;
    let header = parse_header(&line)?;
    if header.records > MAX_RECORDS {
        return Err(SigdbError::Bound {
            what: format!("the header announces {} records", header.records),
            limit: format!("{MAX_RECORDS} records"),
        });
    }
    let mut records = Vec::new();
    let mut hasher = Sha256::new();
    let mut n = 1;
    loop {
        n += 1;
        if next_line(&mut lines, &mut line, n, MAX_RECORD_LINE)? == 0 {
            break;
        }
        plain += line.len() as u64;
        let allowed = RATIO_FLOOR.max(compressed.get().saturating_mul(MAX_RATIO));
        if plain > allowed {
            return Err(SigdbError::Bound {
                what: format!(
                    "{plain} bytes decompressed from {} compressed (a decompression bomb, or a \
                     damaged file)",
                    compressed.get()
                ),
                limit: format!("{MAX_RATIO} times the compressed size, or {RATIO_FLOOR} bytes"),
            });
        }
        if records.len() as u64 >= header.records {
            return Err(SigdbError::RecordCount {
                expected: header.records,
                found: records.len() as u64 + 1,
            });
        }
        if !line.ends_with(b"\n") {
            return Err(SigdbError::Malformed {
                line: n,
                reason: "last line has no newline: the file is cut short".into(),
            });
        }
        hasher.update(&line);
        let r: Record = serde_json::from_slice(&line).map_err(|e| SigdbError::Malformed {
            line: n,
            reason: e.to_string(),
        })?;
        if let Some(prev) = records.last().map(Record::key)
            && prev >= r.key()
        {
            return Err(SigdbError::Order {
                line: n,
                key: r.display_key(),
            });
        }
        records.push(r);
    }
    if records.len() as u64 != header.records {
        return Err(SigdbError::RecordCount {
            expected: header.records,
            found: records.len() as u64,
        });
    }
    let found = format!("sha256:{}", hex(&hasher.finalize()));
    if found != header.checksum {
        return Err(SigdbError::Checksum {
            expected: header.checksum,
            found,
        });
    }
    Ok(Sigdb { header, records })
}

/// The first four bytes of every zstd frame.
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// Fills as much of `buf` as the input holds; short only at end of input.
fn read_up_to(input: &mut impl Read, buf: &mut [u8]) -> Result<usize, SigdbError> {
    let mut got = 0;
    while got < buf.len() {
        match input.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(k) => got += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(SigdbError::Io(e)),
        }
    }
    Ok(got)
}

/// Reads line `n` (with its `\n`) into `line`, `max` bytes at most; 0 at the end of the
/// file.
fn next_line(
    input: &mut impl BufRead,
    line: &mut Vec<u8>,
    n: usize,
    max: usize,
) -> Result<usize, SigdbError> {
    line.clear();
    let got = input
        .take(max as u64 + 1)
        .read_until(b'\n', line)
        .map_err(|e| SigdbError::Malformed {
            line: n,
            reason: format!("cannot decompress, the file is damaged or cut short: {e}"),
        })?;
    if got > max {
        return Err(SigdbError::Bound {
            what: format!("line {n} is longer than {max} bytes"),
            limit: format!("{max} bytes per line"),
        });
    }
    Ok(got)
}

/// Counts the bytes read through it (the compressed size, for the ratio bound).
struct Counting<R> {
    inner: R,
    bytes: std::rc::Rc<std::cell::Cell<u64>>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes.set(self.bytes.get() + n as u64);
        Ok(n)
    }
}

/// Reads and fully checks the database at `path`.
pub fn read(path: &Path) -> Result<Sigdb, SigdbError> {
    let file = File::open(path).map_err(|source| SigdbError::Open {
        path: path.to_owned(),
        source,
    })?;
    read_from(BufReader::new(file))
}

/// Looks at `format` and `version` before the typed parse, so that a newer file is
/// reported as newer and not as a JSON mismatch.
fn parse_header(line: &[u8]) -> Result<Header, SigdbError> {
    let v: serde_json::Value = serde_json::from_slice(line).map_err(|e| SigdbError::Malformed {
        line: 1,
        reason: format!("header is not JSON: {e}"),
    })?;
    let format = v.get("format").and_then(|f| f.as_str()).unwrap_or_default();
    if format != FORMAT_NAME {
        return Err(SigdbError::WrongFormat {
            found: format.to_string(),
        });
    }
    let version =
        v.get("version")
            .and_then(|x| x.as_u64())
            .ok_or_else(|| SigdbError::Malformed {
                line: 1,
                reason: "header has no numeric version".into(),
            })?;
    let version = u32::try_from(version).unwrap_or(u32::MAX);
    if version > FORMAT_VERSION {
        return Err(SigdbError::NewerVersion {
            found: version,
            supported: FORMAT_VERSION,
        });
    }
    if version < crate::OLDEST_VERSION {
        return Err(SigdbError::UnsupportedVersion { found: version });
    }
    serde_json::from_value(v).map_err(|e| SigdbError::Malformed {
        line: 1,
        reason: e.to_string(),
    })
}

fn checksum(body: &[u8]) -> String {
    format!("sha256:{}", hex(&Sha256::digest(body)))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}
