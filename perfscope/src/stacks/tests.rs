//! Stack credit on hand-made stacks: the loop that never ends, and the frame where a new
//! syscall enters the code.

use super::*;
use crate::abnormal::Evidence;
use crate::signature::Func;
use crate::window::{Call, Thread};
use trace::CodeLocation;

const BIN: &str = "/srv/bin/server";

fn nr(name: &str) -> u16 {
    trace::syscall_number(name).unwrap() as u16
}

/// Functions `names[i]` at file offsets `[i * 0x100, i * 0x100 + 0x100)`, each having made
/// the listed syscalls (itself or its callees) in training.
fn db(funcs: &[(&str, &[&str])]) -> Compiled {
    Compiled {
        funcs: funcs
            .iter()
            .map(|(name, inclusive)| {
                let mut inc: Vec<u16> = inclusive.iter().map(|n| nr(n)).collect();
                inc.sort_unstable();
                Func {
                    name: name.to_string(),
                    file: None,
                    class: sigdb::Class::App,
                    episodes: Vec::new(),
                    weight: 0.0,
                    threads: Vec::new(),
                    inclusive: inc,
                    invocations: 10,
                    linkage_name: None,
                    object: "server".into(),
                    ranges: Vec::new(),
                }
            })
            .collect(),
        ..Compiled::default()
    }
}

fn symbolizer(db: &Compiled) -> Symbolizer<'_> {
    let mut s = Symbolizer::new(db);
    s.insert_file(
        BIN,
        (0..db.funcs.len() as u64)
            .map(|i| (i * 0x100, i * 0x100 + 0x100, i as u32))
            .collect(),
    );
    s
}

/// A stack through functions `idx` (innermost first): an IP inside the first, return
/// addresses just after a call inside the others.
fn stack(tid: u32, kind: StackKind, nr: Option<u16>, idx: &[u64]) -> StackSample {
    StackSample {
        ts: 100,
        pid: 1,
        tid,
        kind,
        nr: nr.map(u32::from),
        frames: idx
            .iter()
            .map(|&i| CodeLocation {
                path: BIN.into(),
                offset: i * 0x100 + 0x10,
            })
            .collect(),
    }
}

fn window(stacks: Vec<StackSample>) -> Window {
    Window {
        start: 0,
        end: 1000,
        threads: vec![Thread {
            pid: 1,
            tid: 7,
            comm: "srv".into(),
            calls: vec![Call {
                ts: 1,
                dur: 1,
                ret: 0,
                nr: nr("read"),
                cpu: 0,
            }],
            ..Thread::default()
        }],
        stacks,
        ..Window::default()
    }
}

fn evidence(kind: Kind, score: f64) -> Evidence {
    Evidence {
        kind,
        group: 0,
        cluster: None,
        thread: Some(0),
        score,
        units: Vec::new(),
        normal_units: Vec::new(),
        rate: (0.0, 0.0),
        median_ns: (0, 0),
        pending: None,
        first_ts: 0,
        last_ts: 0,
    }
}

fn names(db: &Compiled, out: &[(u32, StackReason)]) -> Vec<String> {
    out.iter()
        .map(|(f, _)| db.funcs[*f as usize].name.clone())
        .collect()
}

#[test]
fn a_spinning_thread_is_blamed_on_the_innermost_function_of_all_its_samples() {
    let db = db(&[
        ("main", &[]),
        ("state_loop", &[]),
        ("handle_write", &[]),
        ("chunk_len", &[]),
    ]);
    let w = window(vec![
        stack(7, StackKind::OnCpu, None, &[2, 1, 0]),
        stack(7, StackKind::OnCpu, None, &[1, 0]),
        stack(7, StackKind::OnCpu, None, &[3, 2, 1, 0]),
        stack(7, StackKind::OnCpu, None, &[2, 1, 0]),
        stack(7, StackKind::OnCpu, None, &[1, 0]),
    ]);
    let g = Groups::of(&w);
    let out = score(
        &w,
        &g,
        &[evidence(Kind::Spinning, 5.0)],
        &FxHashMap::default(),
        &db,
        &mut symbolizer(&db),
    );
    assert_eq!(
        names(&db, &out)[..2],
        ["state_loop", "handle_write"],
        "{out:?}"
    );
    assert_eq!(out[0].1.why, "on_cpu_loop");
}

#[test]
fn a_risen_syscall_is_blamed_on_the_first_frame_that_never_made_it_in_training() {
    let db = db(&[
        ("exec_query", &["fsync", "pwrite64", "lseek"]),
        ("heap_insert", &["pwrite64", "lseek"]),
        ("mdimmedsync", &["fsync"]),
        ("pg_fsync", &["fsync"]),
    ]);
    let fsync = nr("fsync");
    let w = window(
        (0..6)
            .map(|_| stack(7, StackKind::Syscall, Some(fsync), &[3, 2, 1, 0]))
            .collect(),
    );
    let g = Groups::of(&w);
    let lift: FxHashMap<(u32, u16), f64> = [((0, fsync), 3.0)].into_iter().collect();
    let out = score(&w, &g, &[], &lift, &db, &mut symbolizer(&db));
    assert_eq!(names(&db, &out)[0], "heap_insert", "{out:?}");
    assert_eq!(out[0].1.why, "new_syscall");
    assert_eq!(out[0].1.syscall.as_deref(), Some("fsync"));
}

#[test]
fn stacks_at_syscalls_that_did_not_rise_say_nothing() {
    let db = db(&[("serve", &["read"]), ("read_req", &["read"])]);
    let w = window(
        (0..6)
            .map(|_| stack(7, StackKind::Syscall, Some(nr("read")), &[1, 0]))
            .collect(),
    );
    let g = Groups::of(&w);
    let out = score(
        &w,
        &g,
        &[],
        &FxHashMap::default(),
        &db,
        &mut symbolizer(&db),
    );
    assert!(out.is_empty(), "{out:?}");
}

#[test]
fn a_blocked_thread_is_blamed_even_if_its_syscall_is_ordinary() {
    let db = db(&[("serve", &["nanosleep", "read"]), ("handle_get", &["read"])]);
    let ns = nr("clock_nanosleep");
    let w = window(vec![stack(7, StackKind::Blocked, Some(ns), &[1, 0])]);
    let g = Groups::of(&w);
    let out = score(
        &w,
        &g,
        &[evidence(Kind::Blocked, 3.0)],
        &FxHashMap::default(),
        &db,
        &mut symbolizer(&db),
    );
    assert_eq!(names(&db, &out)[0], "handle_get", "{out:?}");
}
