//! Fuzzes the trace reader: `TraceReader::new`, every event, then what it says about the
//! end of the file. It must never panic, hang, or allocate more than the input justifies.
//!
//! An input is read as it is (a trace file), and, when it starts with [`PLAIN_MAGIC`]
//! instead of the trace magic, as a *plain* trace: the same preamble and chunk kinds but
//! uncompressed payloads without checksums, which the harness compresses and checksums
//! before reading. Mutations of a real file almost never get past the chunks' CRC32 and
//! zstd; the plain form lets them reach the header JSON and the event decoder.
//!
//! Plain form: `PSPLAIN\n | version: u16 LE | flags/reserved: 6 bytes`, then chunks of
//! `kind: u8 | pad: 3 bytes | len: u32 LE | payload`; a chunk longer than the input left
//! is copied as it is (a cut file).

#![no_main]

use std::cell::RefCell;
use std::io::Cursor;

use libfuzzer_sys::fuzz_target;

const PLAIN_MAGIC: &[u8; 8] = b"PSPLAIN\n";

fuzz_target!(|data: &[u8]| {
    match data.strip_prefix(PLAIN_MAGIC) {
        Some(rest) => read_all(&frame(rest)),
        None => read_all(data),
    }
});

fn read_all(file: &[u8]) {
    let Ok(mut reader) = trace::TraceReader::new(Cursor::new(file)) else {
        return;
    };
    let _ = reader.header();
    // a chunk expands at most 4096 times and an event takes at least two bytes: more
    // events than that is a reader that loops
    let mut budget = 2048 * file.len() + 16;
    loop {
        match reader.next_event() {
            Ok(Some(ev)) => {
                let _ = ev.ts();
                budget = budget
                    .checked_sub(1)
                    .expect("more events than the input can hold: the reader loops");
            }
            Ok(None) | Err(_) => break,
        }
    }
    let _ = reader.damage().map(|d| d.unread_share());
    let _ = reader.truncation();
    assert!(
        reader.trailing_bytes() <= file.len() as u64,
        "more trailing bytes than the file has"
    );
    let _ = reader.objects().count();
    let _ = reader.footer();
}

thread_local! {
    static COMPRESSOR: RefCell<Option<zstd::bulk::Compressor<'static>>> =
        RefCell::new(zstd::bulk::Compressor::new(1).ok());
}

/// The trace file of a plain input: payloads compressed, lengths and CRC32 filled in.
fn frame(rest: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(rest.len() + 64);
    out.extend_from_slice(&trace::MAGIC);
    let pre = rest.len().min(8);
    out.extend_from_slice(&rest[..pre]);
    let mut rest = &rest[pre..];
    while !rest.is_empty() {
        if rest.len() < 8 {
            out.extend_from_slice(rest);
            break;
        }
        let len = u32::from_le_bytes(rest[4..8].try_into().expect("4 bytes")) as usize;
        if rest.len() - 8 < len {
            out.extend_from_slice(rest);
            break;
        }
        let payload = &rest[8..8 + len];
        let comp = COMPRESSOR.with(|c| {
            c.borrow_mut()
                .as_mut()
                .and_then(|c| c.compress(payload).ok())
                .expect("zstd compresses")
        });
        out.extend_from_slice(&rest[..4]);
        out.extend_from_slice(&(len as u32).to_le_bytes());
        out.extend_from_slice(&(comp.len() as u32).to_le_bytes());
        out.extend_from_slice(&crc32fast::hash(&comp).to_le_bytes());
        out.extend_from_slice(&comp);
        rest = &rest[8 + len..];
    }
    out
}
