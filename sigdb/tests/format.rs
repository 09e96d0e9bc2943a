//! The canonical file: round trips, and what the reader does with every kind of bad file.

use testkit::sigdbs as common;

use common::{bytes, new_db, old_db, parts, raw};
use sigdb::{Sigdb, SigdbError, read_from};

#[test]
fn round_trip_gives_the_same_database() {
    for db in [old_db(), new_db()] {
        let back = read_from(bytes(&db).as_slice()).unwrap();
        assert_eq!(back.records, db.records);
        assert_eq!(back.header.target, db.header.target);
        assert_eq!(back.header.training, db.header.training);
        assert_eq!(back.header.records, db.records.len() as u64);
        assert!(back.header.checksum.starts_with("sha256:"));
        // a database read back writes the same bytes again
        assert_eq!(bytes(&back), bytes(&db));
    }
}

#[test]
fn writing_twice_gives_identical_bytes_whatever_the_record_order() {
    let db = new_db();
    let mut shuffled = db.clone();
    shuffled.records.reverse();
    assert_eq!(bytes(&db), bytes(&db));
    assert_eq!(bytes(&shuffled), bytes(&db));
}

#[test]
fn write_to_a_path_is_read_back_and_leaves_no_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("demo.sigdb");
    sigdb::write(&old_db(), &path).unwrap();
    sigdb::write(&new_db(), &path).unwrap(); // replaces
    let back = sigdb::read(&path).unwrap();
    assert_eq!(back.records, new_db().records);
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["demo.sigdb"]);
}

#[test]
fn any_finite_float_survives_a_round_trip() {
    // serde_json without float_roundtrip parses ~5 % of these one ulp off
    let mut db = old_db();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..50 {
        for e in db.records.iter_mut().flat_map(|r| r.episodes.iter_mut()) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            e.weight = (x >> 11) as f64 / (1u64 << 53) as f64 * 1000.0;
        }
        let back = read_from(bytes(&db).as_slice()).unwrap();
        assert_eq!(back.records, db.records);
    }
}

#[test]
fn newer_version_is_reported_as_newer() {
    let (mut header, lines) = parts(&old_db());
    header["version"] = 4.into();
    // a newer format may have fields this build does not know
    header["future_field"] = true.into();
    match read_from(raw(header, &lines).as_slice()) {
        Err(
            e @ SigdbError::NewerVersion {
                found: 4,
                supported: 3,
            },
        ) => assert!(e.to_string().contains("upgrade perfscope"), "{e}"),
        other => panic!("expected NewerVersion, got {other:?}"),
    }
}

/// `db` as a version 2 build wrote it: no `sumsq`, no `min_evidence`; each line checked
/// against the frozen version 2 types (which refuse unknown fields).
fn as_version_2(db: &Sigdb) -> Vec<u8> {
    let (mut header, lines) = parts(db);
    header["version"] = 2.into();
    let params = header["training"]["params"].as_object_mut().unwrap();
    params.remove("min_evidence");
    let lines: Vec<String> = lines
        .iter()
        .map(|l| {
            let mut r: serde_json::Value = serde_json::from_str(l).unwrap();
            for e in r["episodes"].as_array_mut().unwrap() {
                e.as_object_mut().unwrap().remove("sumsq");
            }
            let v2: sigdb::v2::Record = serde_json::from_value(r.clone()).unwrap();
            assert_eq!(serde_json::to_value(&v2).unwrap(), r);
            r.to_string()
        })
        .collect();
    let mut h = header.clone();
    h["records"] = lines.len().into();
    h["checksum"] = "sha256:0".into();
    let _: sigdb::v2::Header = serde_json::from_value(h).expect("a valid version 2 header");
    raw(header, &lines)
}

#[test]
fn a_version_2_database_reads_without_spreads_and_with_the_default_evidence_rule() {
    let db = read_from(as_version_2(&old_db()).as_slice()).expect("a version 2 file reads");
    assert_eq!(db.header.version, 2);
    assert_eq!(
        db.header.training.params.min_evidence,
        sigdb::DEFAULT_MIN_EVIDENCE
    );
    let eps = || db.records.iter().flat_map(|r| &r.episodes);
    assert!(eps().count() > 0 && eps().all(|e| e.sumsq.is_none()));
    // names, counts and supports are version 3's
    let v3 = old_db();
    for (a, b) in db.records.iter().zip(&v3.records) {
        assert_eq!(a.key(), b.key());
        let supports = |r: &sigdb::Record| r.episodes.iter().map(|e| e.support).collect::<Vec<_>>();
        assert_eq!(supports(a), supports(b));
    }
    // and a version 2 database compares with a version 3 one of the same target
    assert_eq!(sigdb::comparable(&db, &v3), Ok(()));
    assert!(!sigdb::diff(&db, &v3).differs());
}

#[test]
fn a_version_1_database_reads_as_version_2() {
    // version 1 is version 2 without JVM descriptors and damage counts
    let (mut header, lines) = parts(&old_db());
    header["version"] = 1.into();
    let db = read_from(raw(header, &lines).as_slice()).expect("a version 1 file reads");
    assert_eq!(db.header.version, 1);
    assert_eq!(db.records, old_db().records);
    assert!(db.records.iter().all(|r| r.descriptor.is_none()));
}

#[test]
fn jvm_overloads_are_records_of_their_own() {
    let mut a = testkit::sigdbs::record("org.x.Srv.handle", "org/x/Srv.java", 3, vec![]);
    a.descriptor = Some("(I)V".into());
    let mut b = a.clone();
    b.descriptor = Some("(J)V".into());
    let db = sigdb::Sigdb::new(testkit::sigdbs::header("1", "00"), vec![b, a]);
    let back = read_from(bytes(&db).as_slice()).unwrap();
    assert_eq!(back.records.len(), 2);
    assert_eq!(
        back.records[0].display_key(),
        "org.x.Srv.handle(I)V (org/x/Srv.java)"
    );
}

#[test]
fn older_unknown_version_is_unsupported() {
    let (mut header, lines) = parts(&old_db());
    header["version"] = 0.into();
    assert!(matches!(
        read_from(raw(header, &lines).as_slice()),
        Err(SigdbError::UnsupportedVersion { found: 0 })
    ));
}

#[test]
fn wrong_format_name() {
    let (mut header, lines) = parts(&old_db());
    header["format"] = "perfscope-trace".into();
    match read_from(raw(header, &lines).as_slice()) {
        Err(SigdbError::WrongFormat { found }) => assert_eq!(found, "perfscope-trace"),
        other => panic!("expected WrongFormat, got {other:?}"),
    }
}

#[test]
fn empty_file() {
    assert!(matches!(read_from(&[][..]), Err(SigdbError::Empty)));
    // a zstd frame holding nothing
    let empty_frame = zstd::encode_all(&[][..], 3).unwrap();
    assert!(matches!(
        read_from(empty_frame.as_slice()),
        Err(SigdbError::Empty)
    ));
}

#[test]
fn a_file_that_is_not_zstd_is_not_a_sigdb() {
    for junk in [
        &b"{\"format\":\"perfscope-sigdb\"}\n"[..],
        b"PSTRACE\n\x01\x00",
        b"ab",
    ] {
        assert!(
            matches!(read_from(junk), Err(SigdbError::NotASigdb(_))),
            "{junk:?}"
        );
    }
}

#[test]
fn a_zstd_file_of_something_else_is_not_a_sigdb() {
    let other = zstd::encode_all(&b"hello world\n"[..], 3).unwrap();
    assert!(matches!(
        read_from(other.as_slice()),
        Err(SigdbError::Malformed { line: 1, .. })
    ));
    let json = zstd::encode_all(&b"{\"name\":\"x\"}\n"[..], 3).unwrap();
    assert!(matches!(
        read_from(json.as_slice()),
        Err(SigdbError::WrongFormat { .. })
    ));
}

#[test]
fn every_flipped_byte_is_an_error_or_changes_nothing() {
    // Some header bits of a zstd frame (e.g. the window size) do not change what it
    // decodes to; every other flip must be caught: never silently different data.
    let good = bytes(&old_db());
    let db = read_from(good.as_slice()).unwrap();
    let mut caught = 0;
    for i in 0..good.len() {
        let mut bad = good.clone();
        bad[i] ^= 0x10;
        match read_from(bad.as_slice()) {
            Err(_) => caught += 1,
            Ok(back) => assert_eq!(back, db, "flipped byte {i} changed the data silently"),
        }
    }
    assert!(
        caught > good.len() * 9 / 10,
        "{caught} of {} caught",
        good.len()
    );
}

#[test]
fn every_truncation_is_an_error() {
    let good = bytes(&old_db());
    for len in 0..good.len() {
        assert!(
            read_from(&good[..len]).is_err(),
            "cut at {len} of {} read fine",
            good.len()
        );
    }
}

#[test]
fn edited_record_without_new_checksum() {
    let db = old_db();
    let (mut header, mut lines) = parts(&db);
    header["checksum"] = read_from(bytes(&db).as_slice())
        .unwrap()
        .header
        .checksum
        .into();
    let edited = lines[1].replace("\"invocations\":200", "\"invocations\":201");
    assert_ne!(edited, lines[1]);
    lines[1] = edited;
    match read_from(raw(header, &lines).as_slice()) {
        Err(SigdbError::Checksum { expected, found }) => assert_ne!(expected, found),
        other => panic!("expected Checksum, got {other:?}"),
    }
}

#[test]
fn records_out_of_order_or_duplicated() {
    let (header, mut lines) = parts(&old_db());
    lines.swap(0, 1);
    // the checksum and count are right: only the order is wrong
    match read_from(raw(header.clone(), &lines).as_slice()) {
        Err(SigdbError::Order { line: 3, key }) => assert!(
            key.starts_with("handle_request") || key.starts_with("accept_conn"),
            "{key}"
        ),
        other => panic!("expected Order, got {other:?}"),
    }
    lines.swap(0, 1);
    let dup = lines[2].clone();
    lines.insert(3, dup);
    assert!(matches!(
        read_from(raw(header, &lines).as_slice()),
        Err(SigdbError::Order { line: 5, .. })
    ));
}

#[test]
fn record_count_must_match() {
    let (mut header, lines) = parts(&old_db());
    header["records"] = (lines.len() + 1).into();
    assert!(matches!(
        read_from(raw(header, &lines).as_slice()),
        Err(SigdbError::RecordCount { expected, found }) if expected == found + 1
    ));
}

#[test]
fn malformed_record_names_its_line() {
    let (header, mut lines) = parts(&old_db());
    lines[2] = "{\"name\":".into();
    assert!(matches!(
        read_from(raw(header, &lines).as_slice()),
        Err(SigdbError::Malformed { line: 4, .. })
    ));
}

#[test]
fn writer_refuses_what_the_reader_would_reject() {
    let mut db = old_db();
    db.records.push(db.records[0].clone());
    assert!(matches!(
        sigdb::write_to(&db, Vec::new()),
        Err(SigdbError::Unwritable { .. })
    ));
    let mut db = old_db();
    db.records[0].episodes[0].support = f64::NAN;
    assert!(matches!(
        sigdb::write_to(&db, Vec::new()),
        Err(SigdbError::Unwritable { .. })
    ));
    let mut db: Sigdb = old_db();
    db.header.training.params.min_support = f64::INFINITY;
    assert!(sigdb::write_to(&db, Vec::new()).is_err());
}

/// A zstd stream of a valid header then `body` bytes produced by `fill`, written in
/// pieces so the test itself never holds the expanded data.
fn bomb(records: u64, body: u64, fill: u8) -> Vec<u8> {
    use std::io::Write as _;
    let (mut header, _) = parts(&old_db());
    header["records"] = records.into();
    header["checksum"] = "sha256:0".into();
    let mut enc = zstd::Encoder::new(Vec::new(), 3).unwrap();
    enc.write_all(serde_json::to_string(&header).unwrap().as_bytes())
        .unwrap();
    enc.write_all(b"\n").unwrap();
    let piece = vec![fill; 1 << 20];
    let mut left = body;
    while left > 0 {
        let n = left.min(piece.len() as u64) as usize;
        enc.write_all(&piece[..n]).unwrap();
        left -= n as u64;
    }
    enc.finish().unwrap()
}

#[test]
fn a_decompression_bomb_is_refused_by_a_bound_that_is_named() {
    // one line of 1 GiB in a few hundred KB: refused at the line bound, early
    let file = bomb(7, 1 << 30, b'a');
    assert!(file.len() < 1 << 20, "{}", file.len());
    let t = std::time::Instant::now();
    match read_from(file.as_slice()) {
        Err(e @ SigdbError::Bound { .. }) => {
            assert!(e.to_string().contains("bytes per line"), "{e}");
        }
        other => panic!("expected a bound, got {other:?}"),
    }
    // (the bound is hit after 16 MiB, not after the gigabyte)
    assert!(t.elapsed() < std::time::Duration::from_secs(20));
    // many short lines: past the announced record count, or the ratio bound
    let lines = bomb(7, 200 << 20, b'\n');
    assert!(matches!(
        read_from(lines.as_slice()),
        Err(SigdbError::RecordCount { .. }
            | SigdbError::Bound { .. }
            | SigdbError::Malformed { .. })
    ));
    // a header announcing more records than any database holds
    let huge = bomb(u64::MAX, 0, b'\n');
    match read_from(huge.as_slice()) {
        Err(e @ SigdbError::Bound { .. }) => assert!(e.to_string().contains("records"), "{e}"),
        other => panic!("expected a bound, got {other:?}"),
    }
}
