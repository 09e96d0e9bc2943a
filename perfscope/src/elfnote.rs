//! The GNU build-id of an ELF file, from its note segments (or note sections): just
//! enough ELF to tell which build is running, reading a few hundred bytes of the file.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

const PT_NOTE: u32 = 4;
const SHT_NOTE: u32 = 7;
const NT_GNU_BUILD_ID: u32 = 3;
/// Notes read per segment at most: build-id notes are tiny, and this bounds the read.
const MAX_NOTES: u64 = 1 << 16;

/// The build-id as lowercase hex; `None` for a file that is not ELF or carries none.
pub fn build_id(path: &Path) -> std::io::Result<Option<String>> {
    let f = File::open(path)?;
    let mut head = [0u8; 64];
    let n = f.read_at(&mut head, 0)?;
    if n < 52 || head[..4] != *b"\x7fELF" {
        return Ok(None);
    }
    let (wide, big) = (head[4] == 2, head[5] == 2);
    let r = Reader { big };
    // (table offset, entry size, count) of the program headers, then section headers
    let tables = if wide {
        [
            (r.u64(&head, 32), r.u16(&head, 54), r.u16(&head, 56), true),
            (r.u64(&head, 40), r.u16(&head, 58), r.u16(&head, 60), false),
        ]
    } else {
        [
            (
                r.u32(&head, 28).into(),
                r.u16(&head, 42),
                r.u16(&head, 44),
                true,
            ),
            (
                r.u32(&head, 32).into(),
                r.u16(&head, 46),
                r.u16(&head, 48),
                false,
            ),
        ]
    };
    for (off, size, count, segments) in tables {
        let (size, count) = (u64::from(size), u64::from(count));
        if off == 0 || !(32..=256).contains(&size) || count == 0 || count > 4096 {
            continue;
        }
        let mut table = vec![0u8; (size * count) as usize];
        if f.read_at(&mut table, off)? < table.len() {
            continue;
        }
        for e in table.chunks_exact(size as usize) {
            // (type, file offset, size, alignment) of a note segment or section
            let (kind, offset, len, align) = match (segments, wide) {
                (true, true) => (r.u32(e, 0), r.u64(e, 8), r.u64(e, 32), r.u64(e, 48)),
                (true, false) => (
                    r.u32(e, 0),
                    r.u32(e, 4).into(),
                    r.u32(e, 16).into(),
                    r.u32(e, 28).into(),
                ),
                (false, true) if e.len() >= 64 => {
                    (r.u32(e, 4), r.u64(e, 24), r.u64(e, 32), r.u64(e, 48))
                }
                (false, false) => (
                    r.u32(e, 4),
                    r.u32(e, 16).into(),
                    r.u32(e, 20).into(),
                    r.u32(e, 32).into(),
                ),
                _ => continue,
            };
            if kind != if segments { PT_NOTE } else { SHT_NOTE } {
                continue;
            }
            let mut notes = vec![0u8; len.min(MAX_NOTES) as usize];
            let got = f.read_at(&mut notes, offset)?;
            notes.truncate(got);
            if let Some(id) = find_build_id(&notes, if align == 8 { 8 } else { 4 }, r) {
                return Ok(Some(id));
            }
        }
    }
    Ok(None)
}

#[derive(Clone, Copy)]
struct Reader {
    big: bool,
}

impl Reader {
    fn bytes<const N: usize>(&self, b: &[u8], at: usize) -> [u8; N] {
        let mut x = [0u8; N];
        if let Some(s) = b.get(at..at + N) {
            x.copy_from_slice(s);
        }
        if self.big {
            x.reverse();
        }
        x
    }
    fn u16(&self, b: &[u8], at: usize) -> u16 {
        u16::from_le_bytes(self.bytes(b, at))
    }
    fn u32(&self, b: &[u8], at: usize) -> u32 {
        u32::from_le_bytes(self.bytes(b, at))
    }
    fn u64(&self, b: &[u8], at: usize) -> u64 {
        u64::from_le_bytes(self.bytes(b, at))
    }
}

/// Walks notes (`namesz descsz type name desc`, name and desc padded to `align`).
fn find_build_id(mut b: &[u8], align: usize, r: Reader) -> Option<String> {
    let pad = |n: usize| n.div_ceil(align) * align;
    while b.len() >= 12 {
        let namesz = r.u32(b, 0) as usize;
        let descsz = r.u32(b, 4) as usize;
        let kind = r.u32(b, 8);
        let name_end = 12usize.checked_add(pad(namesz))?;
        let desc_end = name_end.checked_add(pad(descsz))?;
        let name = b.get(12..12 + namesz)?;
        let desc = b.get(name_end..name_end.checked_add(descsz)?)?;
        if kind == NT_GNU_BUILD_ID && name == b"GNU\0" && !desc.is_empty() {
            return Some(desc.iter().map(|x| format!("{x:02x}")).collect());
        }
        b = b.get(desc_end..)?;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn readelf_build_id(path: &Path) -> Option<String> {
        let out = std::process::Command::new("readelf")
            .arg("-n")
            .arg(path)
            .output()
            .ok()?;
        let text = String::from_utf8_lossy(&out.stdout);
        text.lines()
            .find_map(|l| l.trim().strip_prefix("Build ID: ").map(str::to_string))
    }

    #[test]
    fn agrees_with_readelf_on_system_binaries() {
        let mut checked = 0;
        for p in ["/bin/sh", "/usr/bin/ls", "/lib/x86_64-linux-gnu/libc.so.6"] {
            let p = Path::new(p);
            let Some(want) = readelf_build_id(p) else {
                continue;
            };
            assert_eq!(build_id(p).unwrap(), Some(want), "{}", p.display());
            checked += 1;
        }
        if checked == 0 {
            eprintln!("skipped: readelf or the system binaries are missing");
        }
    }

    #[test]
    fn a_note_list_is_walked_past_other_notes() {
        let mut b = Vec::new();
        // an ABI tag note first, then the build-id
        for (name, kind, desc) in [
            (
                &b"GNU\0"[..],
                1u32,
                &[0u8, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0][..],
            ),
            (&b"GNU\0"[..], 3, &[0xde, 0xad, 0xbe, 0xef, 0x01][..]),
        ] {
            b.extend((name.len() as u32).to_le_bytes());
            b.extend((desc.len() as u32).to_le_bytes());
            b.extend(kind.to_le_bytes());
            b.extend(name);
            b.extend(desc);
            while b.len() % 4 != 0 {
                b.push(0);
            }
        }
        let r = Reader { big: false };
        assert_eq!(find_build_id(&b, 4, r).as_deref(), Some("deadbeef01"));
        // cut anywhere: no panic, no wrong answer
        for n in 0..b.len() {
            let got = find_build_id(&b[..n], 4, r);
            assert!(got.is_none() || got.as_deref() == Some("deadbeef01"));
        }
    }

    #[test]
    fn garbage_is_no_build_id() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x");
        std::fs::write(&p, b"\x7fELF\x02\x01garbage that is far too short").unwrap();
        assert_eq!(build_id(&p).unwrap(), None);
        std::fs::write(&p, b"#!/bin/sh\necho hi\n").unwrap();
        assert_eq!(build_id(&p).unwrap(), None);
        let mut junk = vec![0xffu8; 4096];
        junk[..4].copy_from_slice(b"\x7fELF");
        junk[4] = 2;
        std::fs::write(&p, &junk).unwrap();
        assert!(build_id(&p).is_ok());
    }
}
