//! Fuzzes the signature database reader and its round trip: whatever `sigdb::read_from`
//! accepts, `sigdb::write_to` must write, and reading that back must give the same
//! database (up to the header's version and checksum, which the writer recomputes);
//! writing it again must give the same bytes. Also `Sigdb::doubts`.
//!
//! An input that starts with the zstd magic number is read as it is (a sigdb file). Any
//! other input is the *plain* JSON Lines of a database: the harness fills in the header's
//! `records` and `checksum` for the lines that follow (when the header is a JSON object)
//! and compresses it, so that mutations reach the record parser and the round trip
//! instead of stopping at zstd or the sha256 checksum.

#![no_main]

use std::cell::RefCell;

use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};

const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

fuzz_target!(|data: &[u8]| {
    if data.starts_with(&ZSTD_MAGIC) {
        check(data);
    } else if let Some(file) = frame(data) {
        check(&file);
    }
});

fn check(file: &[u8]) {
    let Ok(db) = sigdb::read_from(file) else {
        return;
    };
    let _ = db.doubts();
    let mut first = Vec::new();
    if let Err(e) = sigdb::write_to(&db, &mut first) {
        panic!("the writer refuses a database the reader accepted: {e}");
    }
    let again = match sigdb::read_from(&first[..]) {
        Ok(db) => db,
        Err(e) => panic!("a database as written does not read back: {e}"),
    };
    let mut expected = db.clone();
    expected.header.version = sigdb::FORMAT_VERSION;
    expected.header.checksum = again.header.checksum.clone();
    assert_eq!(again, expected, "the database changed in a round trip");
    let mut second = Vec::new();
    sigdb::write_to(&again, &mut second).expect("the writer writes what it wrote");
    assert!(
        first == second,
        "writing a database twice gave different bytes"
    );
}

/// The sigdb file of plain JSON Lines: header counters filled in, zstd-compressed.
fn frame(plain: &[u8]) -> Option<Vec<u8>> {
    let (head, body) = match plain.iter().position(|&b| b == b'\n') {
        Some(i) => (&plain[..i], &plain[i + 1..]),
        None => (plain, &[][..]),
    };
    let mut text = match serde_json::from_slice::<serde_json::Value>(head) {
        Ok(serde_json::Value::Object(mut h)) => {
            let lines = body.split_inclusive(|&b| b == b'\n').count();
            h.insert("records".into(), lines.into());
            let sum: String = Sha256::digest(body)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            h.insert("checksum".into(), format!("sha256:{sum}").into());
            serde_json::to_vec(&h).ok()?
        }
        _ => head.to_vec(),
    };
    if plain.len() > head.len() {
        text.push(b'\n');
    }
    text.extend_from_slice(body);
    COMPRESSOR.with(|c| c.borrow_mut().as_mut()?.compress(&text).ok())
}

thread_local! {
    static COMPRESSOR: RefCell<Option<zstd::bulk::Compressor<'static>>> =
        RefCell::new(zstd::bulk::Compressor::new(1).ok());
}
