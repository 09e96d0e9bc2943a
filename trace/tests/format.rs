//! Round trips, truncation and damage: what a reader must do with every kind of file.

use proptest::prelude::*;
use trace::{
    CaptureMode, CodeLocation, EntryClass, Event, Footer, Frame, Function, FunctionClass, Header,
    Object, ObjectKind, StackKind, Syscall, TraceError, TraceReader, TraceWriter,
};

fn header() -> Header {
    let mut h = Header::new("test", CaptureMode::Full);
    h.command = vec!["make".into(), "check".into()];
    h.objects = vec![Object {
        path: "/srv/bin/server".into(),
        kind: ObjectKind::Elf,
        build_id: Some("abcd".into()),
        functions: vec![Function {
            id: 0,
            name: "parse_request".into(),
            linkage_name: None,
            class: FunctionClass::App,
            decl_file: Some("src/parse.c".into()),
            decl_line: Some(12),
            vaddr: 0x1130,
            size: 80,
            file_offset: 0x1130,
            probe_offset: None,
            entry: EntryClass::Emulated,
            descriptor: None,
        }],
    }];
    h
}

fn write_all(events: &[Event], footer: Option<Footer>) -> Vec<u8> {
    let mut w = TraceWriter::new(Vec::new(), &header()).unwrap();
    for e in events {
        w.write(e).unwrap();
    }
    let bytes = w.finish(footer.clone().unwrap_or_default()).unwrap();
    match footer {
        Some(_) => bytes,
        // what a writer killed after its last flush leaves behind
        None => bytes[..bytes.len() - last_chunk_len(&bytes)].to_vec(),
    }
}

/// Length of the last chunk (header + payload) of a well-formed trace.
fn last_chunk_len(bytes: &[u8]) -> usize {
    let mut off = 16;
    let mut last = 0;
    while off < bytes.len() {
        let comp = u32::from_le_bytes(bytes[off + 8..off + 12].try_into().unwrap()) as usize;
        last = 16 + comp;
        off += last;
    }
    last
}

fn read_all(bytes: &[u8]) -> Result<(Vec<Event>, TraceReader<&[u8]>), TraceError> {
    let mut r = TraceReader::new(bytes)?;
    let mut v = Vec::new();
    while let Some(e) = r.next_event()? {
        v.push(e);
    }
    Ok((v, r))
}

fn arb_syscall() -> impl Strategy<Value = Syscall> {
    (
        any::<u64>(),
        proptest::option::of(any::<u64>()),
        (any::<u32>(), any::<u32>(), any::<u32>(), 0u32..1000),
        any::<i64>(),
        any::<u64>(),
        proptest::collection::vec((any::<u32>(), any::<u64>()), 0..=trace::MAX_FRAMES),
    )
        .prop_map(|(ts, dur, (pid, tid, cpu, nr), ret, sp, frames)| {
            let mut s = Syscall::new(ts, pid, tid, nr);
            s.dur = dur;
            s.cpu = cpu;
            s.ret = ret;
            s.sp = sp;
            let frames: Vec<Frame> = frames
                .into_iter()
                .map(|(func, call)| Frame { func, call })
                .collect();
            s.set_frames(&frames);
            s
        })
}

fn arb_event() -> impl Strategy<Value = Event> {
    prop_oneof![
        4 => arb_syscall().prop_map(Event::Syscall),
        1 => (any::<u64>(), any::<u32>(), any::<u32>(), any::<u32>(), any::<u32>()).prop_map(
            |(ts, parent_pid, parent_tid, child_pid, child_tid)| Event::Fork {
                ts, parent_pid, parent_tid, child_pid, child_tid
            }
        ),
        1 => (any::<u64>(), any::<u32>(), any::<u32>(), ".{0,40}")
            .prop_map(|(ts, pid, tid, path)| Event::Exec { ts, pid, tid, path }),
        1 => (any::<u64>(), any::<u32>(), any::<u32>(), any::<i32>())
            .prop_map(|(ts, pid, tid, code)| Event::Exit { ts, pid, tid, code }),
        1 => (any::<u64>(), any::<u32>(), any::<u32>(), "[a-z-]{0,15}")
            .prop_map(|(ts, pid, tid, comm)| Event::Comm { ts, pid, tid, comm }),
        1 => (any::<u64>(), any::<u32>(), any::<u64>())
            .prop_map(|(ts, cpu, count)| Event::Lost { ts, cpu, count }),
        1 => (any::<u64>(), proptest::collection::vec((any::<u32>(), any::<u64>()), 0..20))
            .prop_map(|(ts, counts)| Event::Invocations { ts, counts }),
        1 => (
            any::<u64>(),
            any::<u32>(),
            any::<u32>(),
            any::<u8>(),
            any::<u64>(),
            proptest::option::of(any::<u64>())
        )
            .prop_map(|(ts, pid, tid, state, cpu_ns, wait_ns)| Event::ThreadState {
                ts,
                pid,
                tid,
                state,
                cpu_ns,
                wait_ns
            }),
        1 => (any::<u64>(), ".{0,20}").prop_map(|(ts, label)| Event::Mark { ts, label }),
        1 => (
            any::<u64>(),
            any::<u32>(),
            any::<u32>(),
            0u8..3,
            proptest::option::of(0u32..1000),
            proptest::collection::vec(("[a-z/]{0,12}", any::<u64>()), 0..6),
        )
            .prop_map(|(ts, pid, tid, k, nr, frames)| Event::Stack {
                ts,
                pid,
                tid,
                kind: [StackKind::OnCpu, StackKind::Syscall, StackKind::Blocked][usize::from(k)],
                nr,
                frames: frames
                    .into_iter()
                    .map(|(path, offset)| CodeLocation { path, offset })
                    .collect(),
            }),
        1 => (
            any::<u64>(),
            any::<u32>(),
            any::<u32>(),
            proptest::option::of(any::<u64>()),
            proptest::collection::vec((any::<u64>(), proptest::option::of(any::<u32>())), 0..4),
        )
            .prop_map(|(ts, pid, tid, waits, holds)| Event::Locks {
                ts,
                pid,
                tid,
                waits,
                holds,
            }),
    ]
}

proptest! {
    #[test]
    fn every_event_reads_back_as_written(events in proptest::collection::vec(arb_event(), 0..200)) {
        let bytes = write_all(&events, Some(Footer { lost: 3, ..Footer::default() }));
        let (back, r) = read_all(&bytes).unwrap();
        prop_assert_eq!(&back, &events);
        prop_assert_eq!(r.header(), &header());
        prop_assert_eq!(r.footer().map(|f| (f.events, f.lost)), Some((events.len() as u64, 3)));
        prop_assert!(r.truncation().is_none());
    }

    #[test]
    fn garbage_after_the_preamble_is_an_error_not_a_panic(tail in proptest::collection::vec(any::<u8>(), 0..300)) {
        let mut bytes = write_all(&[], Some(Footer::default()))[..16].to_vec();
        bytes.extend(tail);
        let _ = read_all(&bytes);
    }

    #[test]
    fn flipped_bytes_are_an_error_not_a_panic(pos in any::<prop::sample::Index>(), bit in 0u8..8) {
        let events: Vec<Event> = (0..50).map(|i| {
            let mut s = Syscall::new(1000 + i, 7, 7, 0);
            s.set_frames(&[Frame { func: 0, call: i }]);
            Event::Syscall(s)
        }).collect();
        let mut bytes = write_all(&events, Some(Footer::default()));
        let i = pos.index(bytes.len());
        bytes[i] ^= 1 << bit;
        if let Ok((back, r)) = read_all(&bytes) {
            // the only damage a reader may survive is one it cannot see: then it must still
            // return what was written, or say the file ended early
            prop_assert!(back == events || r.truncation().is_some() || i < 16);
        }
    }
}

fn many_events(n: u64) -> Vec<Event> {
    (0..n)
        .map(|i| {
            let mut s = Syscall::new(1_000_000 + i * 1000, 42, 43, (i % 300) as u32);
            s.dur = Some(500);
            s.sp = 0x7fff_0000_0000 - i;
            s.set_frames(&[Frame {
                func: 0,
                call: i / 3,
            }]);
            Event::Syscall(s)
        })
        .collect()
}

#[test]
fn a_cut_trace_reads_up_to_its_last_complete_chunk_and_says_so() {
    // enough events for several 1 MiB chunks
    let events = many_events(300_000);
    let full = write_all(&events, Some(Footer::default()));
    let cut = &full[..full.len() * 2 / 3];
    let (back, r) = read_all(cut).unwrap();
    let t = r
        .truncation()
        .expect("a cut trace must report its truncation");
    assert!(t.reason.contains("ends inside a chunk"), "{}", t.reason);
    assert!(!back.is_empty() && back.len() < events.len());
    assert_eq!(
        back[..],
        events[..back.len()],
        "the events read are a prefix"
    );
}

#[test]
fn a_trace_without_footer_is_reported_as_unfinished() {
    let events = many_events(10);
    let bytes = write_all(&events, None);
    let (back, r) = read_all(&bytes).unwrap();
    assert_eq!(back, events);
    assert!(r.footer().is_none());
    assert!(r.truncation().unwrap().reason.contains("no footer"));
}

#[test]
fn a_newer_format_is_a_clear_error() {
    let mut bytes = write_all(&[], Some(Footer::default()));
    let newer = trace::FORMAT_VERSION + 1;
    bytes[8..10].copy_from_slice(&newer.to_le_bytes());
    let err = read_all(&bytes).err().expect("newer version must fail");
    assert!(matches!(
        err,
        TraceError::NewerVersion {
            found,
            supported: trace::FORMAT_VERSION
        } if found == newer
    ));
    assert!(err.to_string().contains("upgrade"), "{err}");
}

#[test]
fn a_version_1_trace_still_reads() {
    // Version 1 is version 2 without JVM objects: the same bytes but for the version.
    let mut bytes = write_all(
        &[Event::Mark {
            ts: 1,
            label: "x".into(),
        }],
        Some(Footer::default()),
    );
    bytes[8] = 1;
    let (back, r) = read_all(&bytes).unwrap();
    assert_eq!(back.len(), 1);
    assert_eq!(r.header().objects[0].kind, ObjectKind::Elf);
    bytes[8] = 0;
    assert!(matches!(
        read_all(&bytes),
        Err(TraceError::UnsupportedVersion { found: 0, .. })
    ));
}

#[test]
fn a_version_3_trace_reads_its_scheduler_samples_without_run_queue_wait() {
    // Version 3 wrote a scheduler sample as version 4 writes one whose wait is unknown.
    let sample = |wait_ns| Event::ThreadState {
        ts: 5,
        pid: 1,
        tid: 2,
        state: b'R',
        cpu_ns: 700,
        wait_ns,
    };
    let mut bytes = write_all(&[sample(None)], Some(Footer::default()));
    bytes[8] = 3;
    let (back, _) = read_all(&bytes).unwrap();
    assert_eq!(back, [sample(None)]);
    let bytes = write_all(&[sample(Some(40))], Some(Footer::default()));
    assert_eq!(read_all(&bytes).unwrap().0, [sample(Some(40))]);
}

#[test]
fn empty_and_foreign_files_are_clear_errors() {
    assert!(matches!(read_all(b""), Err(TraceError::MissingHeader)));
    assert!(matches!(
        read_all(b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\0\0"),
        Err(TraceError::NotATrace)
    ));
    let bytes = write_all(&[], Some(Footer::default()));
    assert!(matches!(
        read_all(&bytes[..16]),
        Err(TraceError::MissingHeader)
    ));
}

#[test]
fn a_damaged_chunk_is_an_error_after_the_events_before_it() {
    let events = many_events(300_000);
    let mut bytes = write_all(&events, Some(Footer::default()));
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    let mut r = TraceReader::new(&bytes[..]).unwrap();
    let mut n = 0;
    let err = loop {
        match r.next_event() {
            Ok(Some(_)) => n += 1,
            Ok(None) => panic!("damage went unnoticed"),
            Err(e) => break e,
        }
    };
    assert!(n > 0, "events before the damage are delivered");
    assert!(matches!(err, TraceError::Corrupt { .. }), "{err}");
}

#[test]
fn objects_added_late_are_visible_after_their_chunk() {
    let mut w = TraceWriter::new(Vec::new(), &header()).unwrap();
    w.write(&Event::Mark {
        ts: 1,
        label: "before".into(),
    })
    .unwrap();
    let module = Object {
        path: "/srv/modules/mod_x.so".into(),
        kind: ObjectKind::Elf,
        build_id: None,
        functions: Vec::new(),
    };
    w.add_objects(std::slice::from_ref(&module)).unwrap();
    w.write(&Event::Mark {
        ts: 2,
        label: "after".into(),
    })
    .unwrap();
    let bytes = w.finish(Footer::default()).unwrap();
    let mut r = TraceReader::new(&bytes[..]).unwrap();
    assert_eq!(r.objects().count(), 1);
    r.next_event().unwrap();
    r.next_event().unwrap();
    assert_eq!(r.objects().count(), 2);
    assert_eq!(r.objects().last(), Some(&module));
}

#[test]
fn a_moved_probe_offset_round_trips_and_is_absent_when_on_the_entry() {
    let on_entry = header().objects[0].functions[0].clone();
    let json = serde_json::to_string(&on_entry).unwrap();
    // Functions probed on their entry serialize as before the field existed...
    assert!(!json.contains("probe_offset"), "{json}");
    // ...and headers written before it read as probed on the entry.
    let old: Function = serde_json::from_str(&json).unwrap();
    assert_eq!(old.probe_offset, None);

    let mut h = header();
    h.objects[0].functions[0].probe_offset = Some(0x1133);
    let bytes = TraceWriter::new(Vec::new(), &h)
        .unwrap()
        .finish(Footer::default())
        .unwrap();
    let r = TraceReader::new(&bytes[..]).unwrap();
    let f = &r.header().objects[0].functions[0];
    assert_eq!((f.file_offset, f.probe_offset), (0x1130, Some(0x1133)));
}
