//! Reading and writing the canonical file: zstd(JSON Lines), header first.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::v1::{Header, Record};
use crate::{FORMAT_NAME, FORMAT_VERSION, Sigdb, SigdbError};

/// zstd level: databases are small and written once, read many times.
const LEVEL: i32 = 19;

/// Writes `db` in canonical form (records sorted, checksum and count recomputed).
pub fn write_to(db: &Sigdb, out: impl Write) -> Result<(), SigdbError> {
    let mut records = db.records.iter().collect::<Vec<_>>();
    records.sort_by(|a, b| a.key().cmp(&b.key()));
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
    let mut enc = zstd::Encoder::new(out, LEVEL)?;
    enc.include_checksum(true)?;
    serde_json::to_writer(&mut enc, &header).map_err(std::io::Error::other)?;
    enc.write_all(b"\n")?;
    enc.write_all(&body)?;
    enc.finish()?.flush()?;
    Ok(())
}

/// Writes `db` to `path` atomically (a temporary file renamed into place).
pub fn write(db: &Sigdb, path: &Path) -> Result<(), SigdbError> {
    let tmp = path.with_extension("sigdb.tmp");
    let file = File::create(&tmp).map_err(|source| SigdbError::Open {
        path: tmp.clone(),
        source,
    })?;
    write_to(db, std::io::BufWriter::new(file))?;
    std::fs::rename(&tmp, path).map_err(|source| SigdbError::Open {
        path: path.to_owned(),
        source,
    })?;
    Ok(())
}

/// Reads and fully checks a database: format, version, JSON of every line, record count,
/// order and uniqueness of keys, and the content checksum.
pub fn read_from(input: impl Read) -> Result<Sigdb, SigdbError> {
    let dec = zstd::Decoder::new(input).map_err(|e| SigdbError::NotASigdb(e.to_string()))?;
    let mut lines = BufReader::new(dec);
    let mut first = String::new();
    match lines.read_line(&mut first) {
        Ok(0) => return Err(SigdbError::Empty),
        Ok(_) => {}
        Err(e) => return Err(SigdbError::NotASigdb(e.to_string())),
    }
    let header = parse_header(&first)?;
    let mut records = Vec::new();
    let mut hasher = Sha256::new();
    let mut line = String::new();
    let mut n = 1;
    loop {
        line.clear();
        n += 1;
        let got = lines
            .read_line(&mut line)
            .map_err(|e| SigdbError::Malformed {
                line: n,
                reason: format!("cannot decompress: {e}"),
            })?;
        if got == 0 {
            break;
        }
        if !line.ends_with('\n') {
            return Err(SigdbError::Malformed {
                line: n,
                reason: "last line has no newline: the file is cut short".into(),
            });
        }
        hasher.update(line.as_bytes());
        let r: Record = serde_json::from_str(&line).map_err(|e| SigdbError::Malformed {
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
fn parse_header(line: &str) -> Result<Header, SigdbError> {
    let v: serde_json::Value = serde_json::from_str(line).map_err(|e| SigdbError::Malformed {
        line: 1,
        reason: format!("header is not JSON: {e}"),
    })?;
    let format = v.get("format").and_then(|f| f.as_str()).unwrap_or_default();
    if format != FORMAT_NAME {
        return Err(SigdbError::WrongFormat {
            found: format.to_string(),
        });
    }
    let version = v
        .get("version")
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
    if version != FORMAT_VERSION {
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
