//! Small fixture databases built in code: two releases of a made-up server whose
//! differences exercise every kind of change a diff reports.

use std::collections::BTreeMap;
use std::io::Write as _;

use sha2::{Digest, Sha256};
use sigdb::{
    Class, Coverage, Episode, Header, ObjectRef, Params, Record, Sigdb, Target, TraceSummary,
    Training,
};

pub fn header(version: &str, build_id: &str) -> Header {
    Header {
        format: String::new(),
        version: 0,
        target: Target {
            name: "demo-server".into(),
            version: version.into(),
            objects: vec![
                ObjectRef {
                    path: "/srv/demo/bin/demo-server".into(),
                    build_id: Some(build_id.into()),
                },
                ObjectRef {
                    path: "/usr/lib/libdemo.so.1".into(),
                    build_id: None,
                },
            ],
        },
        training: Training {
            tool: "perfscope-trainer 0.1.0".into(),
            params: Params {
                callers: 1,
                max_episode_len: 4,
                expiry_ns: Some(10_000_000),
                min_support: 0.5,
                min_invocations: 3,
                max_episodes: 8,
                app_classes: vec![Class::App],
                min_coverage: 0.25,
                selection: "closed".into(),
                outside_gap_ns: 10_000_000,
                max_candidates: 20_000,
                min_evidence: sigdb::DEFAULT_MIN_EVIDENCE,
            },
            traces: vec![TraceSummary {
                name: "make-check".into(),
                command: vec!["make".into(), "check".into()],
                events: 12_000,
                syscalls: 3_100,
                lost: 0,
                truncated: false,
                unknown_frames: 0,
                unread_bytes: 0,
            }],
        },
        coverage: Coverage {
            functions_probed: 40,
            functions_hit: 12,
            functions_with_syscalls: 8,
            functions_with_signatures: 6,
            invocations: 1_200,
            syscalls: 3_100,
            syscalls_outside_app: 150,
        },
        records: 0,
        checksum: String::new(),
    }
}

pub fn ep(events: &str, support: f64, weight: f64, invocations: u64) -> Episode {
    Episode {
        events: events.split('>').map(str::to_string).collect(),
        occurrences: (support * invocations as f64).round() as u64,
        invocations,
        support,
        weight,
        // as if the occurrences were spread evenly, one per invocation at most
        sumsq: Some((support * invocations as f64).round() as u64),
    }
}

pub fn record(name: &str, file: &str, invocations: u64, episodes: Vec<Episode>) -> Record {
    let mut profile = BTreeMap::new();
    for e in &episodes {
        for s in &e.events {
            *profile.entry(s.clone()).or_insert(0) += e.occurrences;
        }
    }
    let syscalls = profile.values().sum();
    Record {
        name: name.into(),
        file: (!file.is_empty()).then(|| file.to_string()),
        line: Some(10),
        linkage_name: None,
        object: "demo-server".into(),
        class: Class::App,
        invocations,
        invocations_with_syscalls: if syscalls > 0 { invocations } else { 0 },
        syscalls,
        profile,
        inclusive: BTreeMap::new(),
        threads: BTreeMap::new(),
        ranges: Vec::new(),
        episodes,
        descriptor: None,
    }
}

/// Release 1.0.
pub fn old_db() -> Sigdb {
    let mut handle = record(
        "handle_request",
        "src/http.c",
        200,
        vec![
            ep("openat>fstat>read>close", 0.8, 1.204, 200),
            ep("read>write", 1.5, 0.916, 200),
            ep("read", 2.0, 0.105, 200),
        ],
    );
    handle.threads.insert("worker".into(), 180);
    handle.threads.insert("main".into(), 20);
    handle.ranges.push([0x1130, 0x2a0]);
    Sigdb::new(
        header("1.0", "4f1c9a0b"),
        vec![
            record(
                "accept_conn",
                "src/net.c",
                50,
                vec![
                    ep("accept4>fcntl", 1.0, 1.386, 50),
                    ep("fcntl", 1.0, 0.693, 50),
                ],
            ),
            handle,
            record(
                "log_flush",
                "src/log.c",
                10,
                vec![ep("write>fsync", 1.0, 1.609, 10)],
            ),
            record("parse_header", "src/http.c", 400, vec![]),
            record(
                "util_sleep",
                "src/util.c",
                5,
                vec![ep("nanosleep", 1.0, 1.792, 5)],
            ),
            record("init", "src/a.c", 1, vec![ep("openat>mmap", 1.0, 1.792, 1)]),
            record("init", "src/b.c", 1, vec![ep("brk", 1.0, 1.792, 1)]),
        ],
    )
}

/// Release 1.1: accept_conn runs more often (only that), handle_request's signature
/// changed (an episode added, one removed, one support past the tolerance and one below
/// it), log_flush changed class, util_sleep moved to another file, init in src/b.c is
/// gone and a new one is in src/c.c (two `init`s: not a move), tls_handshake is new.
pub fn new_db() -> Sigdb {
    let mut old = old_db();
    let by_name = |db: &mut Sigdb, name: &str, file: &str| -> usize {
        db.records
            .iter()
            .position(|r| r.name == name && r.file.as_deref() == Some(file))
            .unwrap()
    };
    let i = by_name(&mut old, "accept_conn", "src/net.c");
    old.records[i].invocations = 60;
    let i = by_name(&mut old, "handle_request", "src/http.c");
    old.records[i].episodes = vec![
        ep("openat>read>close", 0.9, 1.204, 200),
        ep("read>write", 2.0, 0.916, 200),
        ep("read", 2.05, 0.105, 200),
    ];
    let i = by_name(&mut old, "log_flush", "src/log.c");
    old.records[i].class = Class::Crate;
    let i = by_name(&mut old, "util_sleep", "src/util.c");
    old.records[i].file = Some("src/time.c".into());
    let i = by_name(&mut old, "init", "src/b.c");
    old.records.remove(i);
    let mut records = old.records;
    records.push(record(
        "init",
        "src/c.c",
        1,
        vec![ep("brk>brk", 1.0, 1.792, 1)],
    ));
    records.push(record(
        "tls_handshake",
        "src/tls.c",
        48,
        vec![
            ep("read>write>read", 1.0, 2.485, 48),
            ep("getrandom", 1.0, 2.079, 48),
        ],
    ));
    let mut h = header("1.1", "a7e30d55");
    h.coverage.functions_hit = 13;
    h.coverage.functions_with_signatures = 7;
    Sigdb::new(h, records)
}

pub fn bytes(db: &Sigdb) -> Vec<u8> {
    let mut v = Vec::new();
    sigdb::write_to(db, &mut v).unwrap();
    v
}

/// A file put together by hand: `header` (JSON) and record `lines` as given, with a
/// correct checksum and count unless the header already holds them, zstd-compressed.
pub fn raw(mut header: serde_json::Value, lines: &[String]) -> Vec<u8> {
    let mut body = Vec::new();
    for l in lines {
        body.extend_from_slice(l.as_bytes());
        body.push(b'\n');
    }
    let obj = header.as_object_mut().unwrap();
    obj.entry("records").or_insert(lines.len().into());
    let sum: String = Sha256::digest(&body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    obj.entry("checksum")
        .or_insert(format!("sha256:{sum}").into());
    let mut plain = serde_json::to_vec(&header).unwrap();
    plain.push(b'\n');
    plain.extend_from_slice(&body);
    let mut enc = zstd::Encoder::new(Vec::new(), 3).unwrap();
    enc.write_all(&plain).unwrap();
    enc.finish().unwrap()
}

/// The header and record lines of a good file, as JSON values, to be edited by a test.
pub fn parts(db: &Sigdb) -> (serde_json::Value, Vec<String>) {
    let plain = zstd::decode_all(bytes(db).as_slice()).unwrap();
    let text = String::from_utf8(plain).unwrap();
    let mut lines = text.lines();
    let mut header: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    let obj = header.as_object_mut().unwrap();
    obj.remove("records");
    obj.remove("checksum");
    (header, lines.map(str::to_string).collect())
}
