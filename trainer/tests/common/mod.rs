//! Fixture traces for the trainer's tests, written with `trace::TraceWriter`.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use trace::{
    CaptureMode, EntryClass, Event, Footer, Frame, Function, FunctionClass, Header, Object,
    Syscall, TraceWriter,
};
use trainer::{Params, TrainOptions, Trained};

pub const READ: u32 = 0;
pub const WRITE: u32 = 1;
pub const CLOSE: u32 = 3;
pub const OPENAT: u32 = 257;
pub const EPOLL_WAIT: u32 = 232;

pub const PID: u32 = 100;

/// A function of the fixture table: id = position.
pub fn function(id: u32, name: &str, class: FunctionClass) -> Function {
    Function {
        id,
        name: name.into(),
        linkage_name: None,
        class,
        decl_file: Some(format!("src/{name}.c")),
        decl_line: Some(10 + id),
        vaddr: 0x1000 + 0x100 * u64::from(id),
        size: 0x80,
        file_offset: 0x1000 + 0x100 * u64::from(id),
        probe_offset: None,
        entry: EntryClass::Emulated,
        descriptor: None,
    }
}

/// A header with one object holding `funcs` (ids in order).
pub fn header(funcs: &[(&str, FunctionClass)]) -> Header {
    let mut h = Header::new("fixture", CaptureMode::Full);
    h.command = vec!["./server".into(), "--test".into()];
    h.objects = vec![Object {
        path: "/srv/bin/server".into(),
        build_id: Some("feedface".into()),
        functions: funcs
            .iter()
            .enumerate()
            .map(|(i, (n, c))| function(i as u32, n, *c))
            .collect(),
        kind: trace::ObjectKind::Elf,
    }];
    h
}

/// A syscall of thread `tid` with `frames` (func id, call number), innermost first.
pub fn sc(ts: u64, tid: u32, nr: u32, frames: &[(u32, u64)]) -> Event {
    let mut s = Syscall::new(ts, PID, tid, nr);
    s.dur = Some(100);
    let f: Vec<Frame> = frames
        .iter()
        .map(|&(func, call)| Frame { func, call })
        .collect();
    s.set_frames(&f);
    Event::Syscall(s)
}

pub fn counts(ts: u64, c: &[(u32, u64)]) -> Event {
    Event::Invocations {
        ts,
        counts: c.to_vec(),
    }
}

pub fn exit(ts: u64, tid: u32) -> Event {
    Event::Exit {
        ts,
        pid: PID,
        tid,
        code: 0,
    }
}

/// The bytes of a finished trace.
pub fn bytes(h: &Header, events: &[Event]) -> Vec<u8> {
    let mut w = TraceWriter::new(Vec::new(), h).unwrap();
    for e in events {
        w.write(e).unwrap();
    }
    w.finish(Footer::default()).unwrap()
}

pub fn write(dir: &Path, name: &str, h: &Header, events: &[Event]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes(h, events)).unwrap();
    p
}

pub fn opts(params: Params) -> TrainOptions {
    TrainOptions {
        target_name: "server".into(),
        target_version: "1.0".into(),
        params,
        keep_going: false,
    }
}

pub fn train(paths: &[PathBuf], params: Params) -> Trained {
    trainer::train(paths, &opts(params), &mut |_, _| {}).unwrap()
}

/// Trains on `paths` even when they are damaged (`--keep-going`).
pub fn train_keep_going(paths: &[PathBuf], params: Params) -> Trained {
    let mut o = opts(params);
    o.keep_going = true;
    trainer::train(paths, &o, &mut |_, _| {}).unwrap()
}

/// Trains on in-memory traces.
pub fn train_bytes(traces: &[Vec<u8>], params: Params) -> Trained {
    let mut c = trainer::Collector::new(&params);
    for (i, t) in traces.iter().enumerate() {
        c.add_reader(&format!("t{i}.trace"), &t[..]).unwrap();
    }
    trainer::build(c.finish(), &opts(params))
}

/// Permissive parameters for small fixtures: no expiry, support 0.5, one invocation is
/// enough.
pub fn loose() -> Params {
    Params {
        expiry_ns: None,
        min_invocations: 1,
        min_coverage: 0.0,
        ..Params::default()
    }
}

pub fn record<'a>(t: &'a Trained, name: &str) -> &'a sigdb::Record {
    t.sigdb
        .get(name)
        .unwrap_or_else(|| panic!("no record {name}"))
}

/// The database round-tripped through its file format.
pub fn roundtrip(t: &Trained) -> sigdb::Sigdb {
    let mut buf = Vec::new();
    sigdb::write_to(&t.sigdb, &mut buf).unwrap();
    sigdb::read_from(&buf[..]).unwrap()
}
