//! The training pipeline on fixture traces: attribution, invocations, the outside
//! pseudo-function, bad input, and determinism.

mod common;

use common::*;
use trace::{Event, FunctionClass, Object};
use trainer::{OUTSIDE_NAME, Params, TrainError};

use FunctionClass::{App, System};

fn names(r: &sigdb::Record) -> Vec<Vec<String>> {
    r.episodes.iter().map(|e| e.events.clone()).collect()
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn syscall_goes_to_innermost_app_frame_skipping_library_frames() {
    let h = header(&[
        ("handle", App),
        ("dispatch", App),
        ("libc_write", System),
        ("main", App),
    ]);
    let ev = [sc(1000, 7, WRITE, &[(2, 12), (0, 11), (1, 10), (3, 1)])];
    let t = train_bytes(&[bytes(&h, &ev)], loose());
    assert_eq!(record(&t, "handle").syscalls, 1);
    assert_eq!(record(&t, "handle").profile["write"], 1);
    for other in ["dispatch", "libc_write", "main"] {
        assert_eq!(record(&t, other).syscalls, 0, "{other}");
        // ...but the syscall happened while each of them was live
        assert_eq!(record(&t, other).inclusive["write"], 1, "{other}");
    }
    assert!(t.sigdb.get(OUTSIDE_NAME).is_none());

    // --callers 1 also gives it to the next application frame out, not to the library
    let p = Params {
        callers: 1,
        ..loose()
    };
    let t = train_bytes(&[bytes(&h, &ev)], p);
    assert_eq!(record(&t, "handle").syscalls, 1);
    assert_eq!(record(&t, "dispatch").syscalls, 1);
    assert_eq!(record(&t, "main").syscalls, 0);
    assert_eq!(record(&t, "libc_write").syscalls, 0);

    // with library classes counted as application code, the wrapper takes it
    let p = Params {
        app_classes: vec![App, System],
        ..loose()
    };
    let t = train_bytes(&[bytes(&h, &ev)], p);
    assert_eq!(record(&t, "libc_write").syscalls, 1);
    assert_eq!(record(&t, "handle").syscalls, 0);
}

#[test]
fn outside_syscalls_are_cut_at_gaps_and_at_application_code() {
    let h = header(&[("handle", App)]);
    let ms = 1_000_000;
    let ev = [
        sc(0, 7, EPOLL_WAIT, &[]),
        sc(ms, 7, READ, &[]),
        sc(2 * ms, 7, EPOLL_WAIT, &[]),
        // 28 ms gap: a new segment
        sc(30 * ms, 7, EPOLL_WAIT, &[]),
        // application code runs in between: a new segment after it
        sc(30 * ms + 10, 7, WRITE, &[(0, 1)]),
        sc(31 * ms, 7, EPOLL_WAIT, &[]),
        // another thread's outside syscalls are its own segments
        sc(31 * ms, 8, EPOLL_WAIT, &[]),
    ];
    let t = train_bytes(&[bytes(&h, &ev)], loose());
    let out = record(&t, OUTSIDE_NAME);
    assert_eq!(out.class, sigdb::Class::Outside);
    assert_eq!(out.syscalls, 6);
    assert_eq!(out.invocations_with_syscalls, 4);
    assert_eq!(out.invocations, 4);
    assert_eq!(out.profile["epoll_wait"], 5);
    assert_eq!(t.sigdb.header.coverage.syscalls_outside_app, 6);
    assert_eq!(t.summary.syscalls_outside_app, 6);
    // the pseudo-function is not a probed function
    assert_eq!(t.sigdb.header.coverage.functions_probed, 1);
}

#[test]
fn thread_exit_closes_invocations_and_a_reused_tid_starts_new_ones() {
    let h = header(&[("handle", App)]);
    let body = |exit_between: bool| {
        let mut ev = vec![sc(1, 5, READ, &[(0, 1)]), sc(2, 5, WRITE, &[(0, 1)])];
        if exit_between {
            ev.push(exit(3, 5));
        }
        // the same (tid, call): a new thread after an exit, the same invocation without
        ev.push(sc(4, 5, READ, &[(0, 1)]));
        ev
    };
    let t = train_bytes(&[bytes(&h, &body(true))], loose());
    assert_eq!(record(&t, "handle").invocations_with_syscalls, 2);
    let t = train_bytes(&[bytes(&h, &body(false))], loose());
    assert_eq!(record(&t, "handle").invocations_with_syscalls, 1);
    assert_eq!(record(&t, "handle").syscalls, 3);
}

#[test]
fn an_invocation_closes_when_the_frames_show_it_returned() {
    let h = header(&[("handle", App), ("serve", App)]);
    let ev = [
        // serve (call 1) calls handle (call 2), which reads
        sc(1, 5, READ, &[(0, 2), (1, 1)]),
        // handle returned; serve writes itself
        sc(2, 5, WRITE, &[(1, 1)]),
        // serve calls handle again (call 3)
        sc(3, 5, READ, &[(0, 3), (1, 1)]),
        sc(4, 5, CLOSE, &[(1, 1)]),
    ];
    let t = train_bytes(&[bytes(&h, &ev)], loose());
    let handle = record(&t, "handle");
    assert_eq!(handle.invocations_with_syscalls, 2);
    assert_eq!(handle.profile["read"], 2);
    let serve = record(&t, "serve");
    assert_eq!(serve.invocations_with_syscalls, 1);
    assert_eq!(serve.syscalls, 2);
    // serve's single invocation holds write then close, in order
    assert!(names(serve).contains(&strs(&["write", "close"])));
}

#[test]
fn exec_closes_every_invocation_of_the_process() {
    let h = header(&[("handle", App)]);
    let ev = [
        sc(1, 5, READ, &[(0, 1)]),
        sc(1, 6, READ, &[(0, 1)]),
        Event::Exec {
            ts: 2,
            pid: PID,
            tid: 6,
            path: "/srv/bin/server".into(),
        },
        sc(3, 5, READ, &[(0, 1)]),
        sc(3, 6, READ, &[(0, 1)]),
    ];
    let t = train_bytes(&[bytes(&h, &ev)], loose());
    assert_eq!(record(&t, "handle").invocations_with_syscalls, 4);
}

/// `f` (id 0) is entered `n` times; the first `with` invocations open, read and close.
fn counted_trace(n: u64, with: u64, ts0: u64) -> Vec<Event> {
    let h_events = (0..with).flat_map(|i| {
        let call = i + 1;
        let ts = ts0 + i * 100;
        [
            sc(ts, 5, OPENAT, &[(0, call)]),
            sc(ts + 1, 5, READ, &[(0, call)]),
            sc(ts + 2, 5, CLOSE, &[(0, call)]),
            sc(ts + 3, 5, WRITE, &[(1, 10_000 + call)]),
        ]
    });
    let mut ev: Vec<Event> = vec![counts(ts0, &[(0, n / 2)])];
    ev.extend(h_events);
    // cumulative counts: the last (largest) value is the total
    ev.push(counts(ts0 + 1_000_000, &[(0, n), (1, with)]));
    ev
}

#[test]
fn invocations_without_syscalls_count_in_the_support() {
    let h = header(&[("f", App), ("g", App)]);
    let t = train_bytes(&[bytes(&h, &counted_trace(10, 5, 0))], loose());
    let f = record(&t, "f");
    assert_eq!(f.invocations, 10);
    assert_eq!(f.invocations_with_syscalls, 5);
    let e = f
        .episodes
        .iter()
        .find(|e| e.events == strs(&["openat", "read", "close"]))
        .expect("the open-read-close episode");
    assert_eq!((e.occurrences, e.invocations, e.support), (5, 5, 0.5));
    // two functions with signatures, this episode in one: ln 2
    assert_eq!(e.weight, sigdb::round6(2f64.ln()));
    // most specific first: the full episode leads
    assert_eq!(f.episodes[0].events.len(), 3);
    assert_eq!(t.summary.invocations, 15);

    let strict = Params {
        min_support: 0.6,
        ..loose()
    };
    let t = train_bytes(&[bytes(&h, &counted_trace(10, 5, 0))], strict);
    assert!(record(&t, "f").episodes.is_empty());
}

#[test]
fn shards_add_up() {
    let h = header(&[("f", App), ("g", App)]);
    let a = bytes(&h, &counted_trace(10, 5, 0));
    let b = bytes(&h, &counted_trace(10, 5, 5_000_000));
    let t = train_bytes(&[a, b], loose());
    let f = record(&t, "f");
    assert_eq!(f.invocations, 20);
    assert_eq!(f.invocations_with_syscalls, 10);
    assert_eq!(t.sigdb.header.training.traces.len(), 2);
}

#[test]
fn without_invocation_counts_support_falls_back_to_invocations_seen() {
    let h = header(&[("f", App), ("g", App)]);
    let ev: Vec<Event> = counted_trace(10, 5, 0)
        .into_iter()
        .filter(|e| !matches!(e, Event::Invocations { .. }))
        .collect();
    let t = train_bytes(&[bytes(&h, &ev)], loose());
    assert_eq!(record(&t, "f").invocations, 5);
    assert!(
        t.summary
            .warnings
            .iter()
            .any(|w| w.contains("no invocation counts")),
        "{:?}",
        t.summary.warnings
    );
}

#[test]
fn counts_below_the_invocations_seen_are_raised_and_reported() {
    let h = header(&[("f", App)]);
    let ev = [
        sc(1, 5, READ, &[(0, 1)]),
        sc(2, 5, READ, &[(0, 2)]),
        sc(3, 5, READ, &[(0, 3)]),
        counts(4, &[(0, 1)]),
    ];
    let t = train_bytes(&[bytes(&h, &ev)], loose());
    assert_eq!(record(&t, "f").invocations, 3);
    assert!(
        t.summary
            .warnings
            .iter()
            .any(|w| w.contains("lost events?"))
    );
}

#[test]
fn unknown_syscall_numbers_are_named_not_numbered() {
    let h = header(&[("f", App)]);
    let ev: Vec<Event> = (0..4)
        .flat_map(|i| {
            [
                sc(i * 10, 5, 999, &[(0, i + 1)]),
                sc(i * 10 + 1, 5, READ, &[(0, i + 1)]),
            ]
        })
        .collect();
    let t = train_bytes(&[bytes(&h, &ev)], loose());
    let f = record(&t, "f");
    assert_eq!(f.profile["syscall_999"], 4);
    assert!(names(f).contains(&strs(&["syscall_999", "read"])));
}

#[test]
fn expiry_drops_occurrences_that_span_too_long() {
    let h = header(&[("f", App), ("g", App)]);
    let ms = 1_000_000;
    let ev: Vec<Event> = (0..4u64)
        .flat_map(|i| {
            let ts = i * 100 * ms;
            [
                sc(ts, 5, OPENAT, &[(0, i + 1)]),
                sc(ts + 20 * ms, 5, READ, &[(0, i + 1)]),
            ]
        })
        .collect();
    let pair = strs(&["openat", "read"]);
    let t = train_bytes(&[bytes(&h, &ev)], loose());
    assert!(names(record(&t, "f")).contains(&pair));
    let with_expiry = Params {
        expiry_ns: Some(10 * ms),
        ..loose()
    };
    let t = train_bytes(&[bytes(&h, &ev)], with_expiry.clone());
    assert!(!names(record(&t, "f")).contains(&pair));
    assert_eq!(t.sigdb.header.training.params.expiry_ns, Some(10 * ms));
    let long = Params {
        expiry_ns: Some(21 * ms),
        ..with_expiry
    };
    let t = train_bytes(&[bytes(&h, &ev)], long);
    assert!(names(record(&t, "f")).contains(&pair));
}

#[test]
fn an_empty_trace_gives_a_valid_database_without_signatures() {
    let dir = tempfile::tempdir().unwrap();
    let h = header(&[("f", App), ("g", App)]);
    let p = write(dir.path(), "empty.trace", &h, &[]);
    let t = train(&[p], Params::default());
    let db = roundtrip(&t);
    assert_eq!(db.records.len(), 2, "probed functions keep their records");
    assert!(db.records.iter().all(|r| r.episodes.is_empty()));
    assert_eq!(db.header.coverage.functions_with_signatures, 0);
    assert_eq!(db.header.training.traces[0].events, 0);
    assert!(t.summary.warnings.iter().any(|w| w.contains("no events")));
}

#[test]
fn a_trace_without_application_functions_is_explained() {
    let h = header(&[("memcpy", System), ("malloc", System)]);
    let ev: Vec<Event> = (0..4)
        .map(|i| sc(i, 5, READ, &[(0, i + 1), (1, 1)]))
        .collect();
    let t = train_bytes(&[bytes(&h, &ev)], loose());
    assert!(
        t.summary
            .warnings
            .iter()
            .any(|w| w.contains("no application functions") && w.contains("--app-classes")),
        "{:?}",
        t.summary.warnings
    );
    assert_eq!(record(&t, OUTSIDE_NAME).syscalls, 4);
    assert_eq!(record(&t, "memcpy").syscalls, 0);
    roundtrip(&t);
}

#[test]
fn frames_are_trusted_as_recorded_when_stacks_switch() {
    // a coroutine runtime: the thread's stack pointer jumps between stacks and goes
    // backwards; the frames say which invocation is live, and the trainer follows them
    let h = header(&[("task_a", App), ("task_b", App)]);
    let mut ev = Vec::new();
    for (i, (sp, frames)) in [
        (0x7fff_0000u64, vec![(0u32, 5u64)]),
        (0x5555_0000, vec![(1, 6)]),
        (0x7ffe_0000, vec![(0, 5)]),
        (0x9999_0000, vec![(1, 6)]),
        (0x1000, vec![]),
    ]
    .into_iter()
    .enumerate()
    {
        let Event::Syscall(mut s) = sc(i as u64, 5, READ, &frames) else {
            unreachable!()
        };
        s.sp = sp;
        ev.push(Event::Syscall(s));
    }
    let t = train_bytes(&[bytes(&h, &ev)], loose());
    assert_eq!(record(&t, "task_a").syscalls, 2);
    assert_eq!(record(&t, "task_b").syscalls, 2);
    assert_eq!(record(&t, OUTSIDE_NAME).syscalls, 1);
    // a task resumed after a switch reappears in the frames: a second segment
    assert_eq!(record(&t, "task_a").invocations_with_syscalls, 2);
}

#[test]
fn a_truncated_trace_is_used_and_marked() {
    let dir = tempfile::tempdir().unwrap();
    let h = header(&[("f", App)]);
    let mut w = trace::TraceWriter::new(Vec::new(), &h).unwrap();
    for i in 0..10 {
        w.write(&sc(i, 5, READ, &[(0, i + 1)])).unwrap();
    }
    w.flush().unwrap();
    let mut full = w.finish(trace::Footer::default()).unwrap();
    // drop the footer chunk: what a killed capture leaves
    full.truncate(full.len() - last_chunk_len(&full));
    let p = dir.path().join("cut.trace");
    std::fs::write(&p, &full).unwrap();
    // refused unless told to keep going, saying what was lost
    let refused = trainer::train(std::slice::from_ref(&p), &opts(loose()), &mut |_, _| {});
    match refused {
        Err(e @ trainer::TrainError::Damaged { .. }) => {
            assert!(e.to_string().contains("cut.trace"), "{e}")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    let t = train_keep_going(&[p], loose());
    let ts = &t.sigdb.header.training.traces[0];
    assert!(ts.truncated);
    assert_eq!(ts.syscalls, 10);
    assert_eq!(record(&t, "f").syscalls, 10);
    assert_eq!(t.summary.truncated_traces, 1);
    assert!(t.summary.warnings.iter().any(|w| w.contains("damaged")));
    assert!(
        t.sigdb
            .doubts()
            .iter()
            .any(|d| d.contains("damaged trace cut.trace"))
    );
}

fn last_chunk_len(bytes: &[u8]) -> usize {
    let (mut off, mut last) = (16, 0);
    while off < bytes.len() {
        let comp = u32::from_le_bytes(bytes[off + 8..off + 12].try_into().unwrap()) as usize;
        last = 16 + comp;
        off += last;
    }
    last
}

#[test]
fn a_corrupt_trace_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let h = header(&[("f", App)]);
    let ev: Vec<Event> = (0..50).map(|i| sc(i, 5, READ, &[(0, 1)])).collect();
    let mut b = bytes(&h, &ev);
    // a byte in the middle of the event chunk: the checksum catches it
    let event_chunk = 16 + 16 + u32::from_le_bytes(b[24..28].try_into().unwrap()) as usize;
    b[event_chunk + 20] ^= 0xff;
    let p = dir.path().join("damaged.trace");
    std::fs::write(&p, &b).unwrap();
    let err = trainer::train(&[p], &opts(loose()), &mut |_, _| {}).unwrap_err();
    assert!(matches!(err, TrainError::Trace { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("damaged.trace") && msg.contains("corrupt"),
        "{msg}"
    );

    let p = dir.path().join("notes.txt");
    std::fs::write(&p, b"hello, this is not a trace").unwrap();
    let msg = trainer::train(&[p], &opts(loose()), &mut |_, _| {})
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("notes.txt") && msg.contains("not a perfscope trace"),
        "{msg}"
    );

    let missing = dir.path().join("missing.trace");
    let msg = trainer::train(&[missing], &opts(loose()), &mut |_, _| {})
        .unwrap_err()
        .to_string();
    assert!(msg.contains("missing.trace"), "{msg}");
}

#[test]
fn probed_functions_without_syscalls_keep_a_record() {
    let h = header(&[("f", App), ("idle", App), ("never", App)]);
    let ev = [
        sc(1, 5, READ, &[(0, 1)]),
        sc(2, 5, READ, &[(0, 2)]),
        counts(3, &[(0, 2), (1, 7)]),
    ];
    let t = train_bytes(&[bytes(&h, &ev)], loose());
    let idle = record(&t, "idle");
    assert_eq!((idle.invocations, idle.syscalls), (7, 0));
    assert!(idle.episodes.is_empty() && idle.profile.is_empty());
    assert_eq!(record(&t, "never").invocations, 0);
    let c = &t.sigdb.header.coverage;
    assert_eq!(c.functions_probed, 3);
    assert_eq!(c.functions_hit, 2);
    assert_eq!(c.functions_with_syscalls, 1);
    assert_eq!(c.functions_with_signatures, 1);
    assert_eq!(c.invocations, 9);
}

#[test]
fn clones_with_the_same_name_and_file_share_one_record() {
    let mut h = header(&[("helper", App)]);
    let mut other = h.objects[0].clone();
    other.path = "/srv/lib/libhelper.so".into();
    other.build_id = Some("beef".into());
    other.functions[0].id = 1;
    other.functions[0].file_offset = 0x9000;
    h.objects.push(other);
    let ev = [
        sc(1, 5, READ, &[(0, 1)]),
        sc(2, 5, WRITE, &[(1, 2)]),
        counts(3, &[(0, 3), (1, 4)]),
    ];
    let t = train_bytes(&[bytes(&h, &ev)], loose());
    assert_eq!(t.sigdb.records.len(), 1);
    let r = record(&t, "helper");
    assert_eq!((r.syscalls, r.invocations), (2, 7));
    assert_eq!(r.ranges, vec![[0x1000, 0x80], [0x9000, 0x80]]);
    assert_eq!(
        r.object, "libhelper.so",
        "the smallest object name, whatever the order"
    );
    assert_eq!(t.sigdb.header.target.objects.len(), 2);
}

#[test]
fn thread_names_follow_comm_events_and_forks() {
    let h = header(&[("f", App)]);
    let ev = [
        Event::Comm {
            ts: 0,
            pid: PID,
            tid: 5,
            comm: "worker".into(),
        },
        Event::Fork {
            ts: 1,
            parent_pid: PID,
            parent_tid: 5,
            child_pid: PID,
            child_tid: 6,
        },
        sc(2, 5, READ, &[(0, 1)]),
        sc(3, 6, READ, &[(0, 1)]),
        // a thread never named is not counted under any name
        sc(4, 7, READ, &[(0, 1)]),
    ];
    let t = train_bytes(&[bytes(&h, &ev)], loose());
    let f = record(&t, "f");
    assert_eq!(f.threads.len(), 1);
    assert_eq!(f.threads["worker"], 2);
    assert_eq!(f.syscalls, 3);
}

#[test]
fn functions_of_late_objects_are_attributed() {
    let h = header(&[("f", App)]);
    let mut w = trace::TraceWriter::new(Vec::new(), &h).unwrap();
    w.write(&sc(1, 5, READ, &[(0, 1)])).unwrap();
    let mut late = function(1, "plugin_init", App);
    late.decl_file = Some("plugin/init.c".into());
    w.add_objects(&[Object {
        path: "/srv/lib/plugin.so".into(),
        build_id: None,
        functions: vec![late],
        kind: trace::ObjectKind::Elf,
    }])
    .unwrap();
    w.write(&sc(2, 5, OPENAT, &[(1, 2), (0, 1)])).unwrap();
    let b = w.finish(trace::Footer::default()).unwrap();
    let t = train_bytes(&[b], loose());
    let p = record(&t, "plugin_init");
    assert_eq!(p.profile["openat"], 1);
    assert_eq!(p.object, "plugin.so");
    assert_eq!(record(&t, "f").syscalls, 1);
}

#[test]
fn frames_naming_unknown_functions_are_skipped_and_reported() {
    let h = header(&[("f", App)]);
    let ev = [sc(1, 5, READ, &[(42, 2), (0, 1)])];
    let t = train_bytes(&[bytes(&h, &ev)], loose());
    assert_eq!(record(&t, "f").syscalls, 1);
    assert!(
        t.summary
            .warnings
            .iter()
            .any(|w| w.contains("missing from the function table"))
    );
}

#[test]
fn the_database_is_byte_identical_for_one_and_four_threads() {
    let dir = tempfile::tempdir().unwrap();
    let program = trainer::synth::Program::new(150, 11);
    let path = dir.path().join("synth.trace");
    let f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    trainer::synth::write_trace(f, &program, 200_000, 4, 12).unwrap();
    let p = Params {
        callers: 1,
        ..Params::default()
    };
    let bytes_with = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let t = pool.install(|| train(std::slice::from_ref(&path), p.clone()));
        let mut buf = Vec::new();
        sigdb::write_to(&t.sigdb, &mut buf).unwrap();
        (buf, t)
    };
    let (one, t) = bytes_with(1);
    let (four, _) = bytes_with(4);
    assert!(one == four, "sigdb bytes differ between 1 and 4 threads");
    // and the run is not trivial
    assert!(t.summary.functions_with_signatures > 50, "{:?}", t.summary);
    assert!(t.summary.episodes > 200);
    assert!(record(&t, "write_wrapper").syscalls == 0);
}

#[test]
fn an_outer_invocation_beyond_the_recorded_frames_stays_open() {
    // main (call 1) calls f1..f8 (calls 2..9); at the deepest syscall only the innermost
    // eight frames are recorded, so main is missing but still live
    let funcs: Vec<(String, FunctionClass)> = std::iter::once(("main".to_string(), App))
        .chain((1..=8).map(|i| (format!("f{i}"), App)))
        .collect();
    let funcs: Vec<(&str, FunctionClass)> = funcs.iter().map(|(n, c)| (n.as_str(), *c)).collect();
    let h = header(&funcs);
    let deep: Vec<(u32, u64)> = (1..=8u32).rev().map(|i| (i, u64::from(i) + 1)).collect();
    assert_eq!(deep.len(), trace::MAX_FRAMES);
    let ev = [
        sc(1, 5, OPENAT, &[(0, 1)]),
        sc(2, 5, READ, &deep),
        sc(3, 5, CLOSE, &[(0, 1)]),
        // a new call of f8 with a short, complete stack: the old one is gone
        sc(4, 5, WRITE, &[(8, 20), (0, 1)]),
    ];
    let t = train_bytes(&[bytes(&h, &ev)], loose());
    let main = record(&t, "main");
    assert_eq!(main.invocations_with_syscalls, 1);
    assert!(names(main).contains(&strs(&["openat", "close"])));
    let f8 = record(&t, "f8");
    assert_eq!((f8.syscalls, f8.invocations_with_syscalls), (2, 2));
}

#[test]
fn the_spread_of_the_counts_per_invocation_is_recorded() {
    // f's three calls read once, twice and three times
    let h = header(&[("f", App)]);
    let mut ev = Vec::new();
    let mut ts = 0;
    for call in 1..=3u64 {
        for _ in 0..call {
            ts += 10;
            ev.push(sc(ts, 5, READ, &[(0, call)]));
        }
    }
    let t = train_bytes(&[bytes(&h, &ev)], loose());
    let f = record(&t, "f");
    let read = f
        .episodes
        .iter()
        .find(|e| e.events == strs(&["read"]))
        .expect("the read episode");
    assert_eq!((read.occurrences, read.sumsq), (6, Some(1 + 4 + 9)));
    assert_eq!(f.invocations, 3);
    // variance 14/3 − 2² = 2/3 per call, over 3 calls
    let se = read.standard_error(f.invocations);
    assert!((se - (2.0f64 / 9.0).sqrt()).abs() < 1e-9, "{se}");
    // read→read: one non-overlapped pair in the second call, one in the third
    let pair = f
        .episodes
        .iter()
        .find(|e| e.events == strs(&["read", "read"]))
        .expect("the read→read episode");
    assert_eq!((pair.occurrences, pair.sumsq), (2, Some(2)));
}
