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

fn call(ts: u64, dur: u64, name: &str) -> Call {
    Call {
        ts,
        dur,
        ret: 0,
        nr: nr(name),
        cpu: 0,
    }
}

/// Thread 7 of pid 1 ("srv") with one `read`, in [0, 1000].
fn window(stacks: Vec<StackSample>) -> Window {
    Window {
        start: 0,
        end: 1000,
        threads: vec![Thread {
            pid: 1,
            tid: 7,
            comm: "srv".into(),
            calls: vec![call(1, 1, "read")],
            ..Thread::default()
        }],
        stacks,
        ..Window::default()
    }
}

/// [`super::score`] with what the window showed spelled out.
#[allow(clippy::too_many_arguments)]
fn score(
    w: &Window,
    g: &Groups,
    evidence: &[Evidence],
    lift: &FxHashMap<(u32, u16), f64>,
    time: &TimeShares,
    onset: u64,
    db: &Compiled,
    sym: &mut Symbolizer<'_>,
) -> Vec<(u32, StackReason)> {
    let seen = Seen {
        evidence,
        lift,
        time,
        onset,
        end: w.end,
    };
    super::score(w, g, &seen, db, sym)
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
        load: 1.0,
        share: 1.0,
        worked_before: true,
        beyond_load: score,
        lifecycle: 0.0,
        mix_shift: score,
        moved: 1.0,
        part: 1.0,
        cpu_wait_ns: 0,
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
        &TimeShares::default(),
        0,
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
    let out = score(
        &w,
        &g,
        &[],
        &lift,
        &TimeShares::default(),
        0,
        &db,
        &mut symbolizer(&db),
    );
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
        &TimeShares::default(),
        0,
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
        &TimeShares::default(),
        0,
        &db,
        &mut symbolizer(&db),
    );
    assert_eq!(names(&db, &out)[0], "handle_get", "{out:?}");
}

/// A thread burning its time in a sort while it also writes its output with many cheap
/// new syscalls: every syscall yields a sample, the CPU only a few per second.
fn sort_and_write() -> (Compiled, Window, FxHashMap<(u32, u16), f64>) {
    let db = db(&[
        ("handle", &["read"]),
        ("list_directory", &["read"]),
        ("sort_entries", &[]),
        ("append_to_tempfile", &[]),
    ]);
    let pw = nr("pwrite64");
    let mut stacks: Vec<StackSample> = (0..20)
        .map(|_| stack(7, StackKind::OnCpu, None, &[2, 1, 0]))
        .collect();
    stacks.extend((0..60).map(|_| stack(7, StackKind::Syscall, Some(pw), &[3, 1, 0])));
    let lift: FxHashMap<(u32, u16), f64> = [((0, pw), 5.0)].into_iter().collect();
    (db, window(stacks), lift)
}

#[test]
fn samples_at_syscalls_count_by_the_time_the_thread_spent_in_syscalls() {
    let (db, w, lift) = sort_and_write();
    let g = Groups::of(&w);
    let ev = [evidence(Kind::Busier, 2.0)];
    // on a CPU 95 % of the time, 1 % inside syscalls: the sort
    let busy: TimeShares = [(0, (0.95, 0.01))].into_iter().collect();
    let out = score(&w, &g, &ev, &lift, &busy, 0, &db, &mut symbolizer(&db));
    assert_eq!(names(&db, &out)[0], "sort_entries", "{out:?}");
    // the same samples from a thread that spent its time writing: the writer
    let writing: TimeShares = [(0, (0.1, 0.8))].into_iter().collect();
    let out = score(&w, &g, &ev, &lift, &writing, 0, &db, &mut symbolizer(&db));
    assert_eq!(names(&db, &out)[0], "append_to_tempfile", "{out:?}");
}

#[test]
fn time_shares_leave_out_idle_waits_and_time_before_the_onset() {
    let mut w = window(Vec::new());
    w.threads[0].calls = vec![
        call(100, 300, "fsync"),      // 100 of it after the onset at 300
        call(500, 200, "epoll_wait"), // idle: not counted
        call(800, 100, "pwrite64"),   // 100
    ];
    w.threads[0].states = vec![
        crate::window::StateSample {
            ts: 300,
            state: b'R',
            cpu_ns: 1000,
            wait_ns: None,
        },
        crate::window::StateSample {
            ts: 1000,
            state: b'R',
            cpu_ns: 1350,
            wait_ns: None,
        },
    ];
    let mut wait = vec![nr("epoll_wait"), nr("poll")];
    wait.sort_unstable();
    let t = time_shares(&w, 300, &wait);
    let (cpu, sys) = t[&0];
    assert!((cpu - 0.5).abs() < 1e-9, "{cpu}");
    assert!((sys - 200.0 / 700.0).abs() < 1e-9, "{sys}");
    // a thread without scheduler samples has no shares
    let mut w2 = w.clone();
    w2.threads[0].states.clear();
    assert!(time_shares(&w2, 300, &wait).is_empty());
}

#[test]
fn a_return_address_that_does_not_call_the_frame_below_is_dropped() {
    // fsync is new under write_log's callers; a stale return address (of stale_owner,
    // whose call there targets main) sits between write_log and its real caller
    let db = db(&[
        ("write_log", &["fsync"]),
        ("real_caller", &[]),
        ("stale_owner", &[]),
        ("main", &[]),
    ]);
    // code: function i at [i * 0x100, i * 0x100 + 0x100); a `call rel32` ending just
    // after each return location, calling `target`
    let mut code = vec![0x90u8; 0x400];
    let call = |code: &mut Vec<u8>, ret_minus_one: u64, target: u64| {
        let at = (ret_minus_one - 4) as usize;
        code[at] = 0xe8;
        let rel = (target as i64 - (ret_minus_one as i64 + 1)) as i32;
        code[at + 1..at + 5].copy_from_slice(&rel.to_le_bytes());
    };
    call(&mut code, 0x110, 0x000); // real_caller calls write_log
    call(&mut code, 0x210, 0x300); // stale_owner calls main
    call(&mut code, 0x310, 0x100); // main calls real_caller
    let at = |offset: u64| CodeLocation {
        path: BIN.into(),
        offset,
    };
    let fsync = nr("fsync");
    let sample = |frames: Vec<CodeLocation>| StackSample {
        ts: 100,
        pid: 1,
        tid: 7,
        kind: StackKind::Syscall,
        nr: Some(u32::from(fsync)),
        frames,
    };
    let w = window(
        (0..5)
            .map(|_| sample(vec![at(0x20), at(0x210), at(0x110), at(0x310)]))
            .collect(),
    );
    let g = Groups::of(&w);
    let lift: FxHashMap<(u32, u16), f64> = [((0, fsync), 3.0)].into_iter().collect();
    let run = |code: Vec<u8>| {
        let mut sym = Symbolizer::new(&db);
        sym.insert_code(
            BIN,
            (0..4u64)
                .map(|i| (i * 0x100, i * 0x100 + 0x100, i as u32))
                .collect(),
            code,
        );
        let out = score(&w, &g, &[], &lift, &TimeShares::default(), 0, &db, &mut sym);
        names(&db, &out)
    };
    let credited = run(code.clone());
    assert_eq!(credited[0], "real_caller", "{credited:?}");
    assert!(!credited.iter().any(|n| n == "stale_owner"), "{credited:?}");
    // without the code at hand the check cannot be made: the stale frame is believed
    let credited = run(Vec::new());
    assert_eq!(credited[0], "stale_owner", "{credited:?}");
}

#[test]
fn a_thread_blocked_since_the_onset_where_training_never_blocked_is_blamed() {
    // futex is everywhere in the process and did not rise; one thread blocked in it
    // after the onset, under a function whose training never made it
    let db = db(&[
        ("worker_loop", &["futex", "read"]),
        ("check_password", &["read"]),
    ]);
    let futex = nr("futex");
    let blocked = |tid: u32, since: u64| {
        let mut w = window(vec![stack(tid, StackKind::Blocked, Some(futex), &[1, 0])]);
        w.threads[0].tid = tid;
        w.threads[0].calls.push(Call {
            ts: since,
            dur: crate::window::PENDING,
            ret: 0,
            nr: futex,
            cpu: 0,
        });
        w
    };
    let w = blocked(7, 600);
    let g = Groups::of(&w);
    let run = |w: &Window, onset: u64| {
        let out = score(
            w,
            &g,
            &[],
            &FxHashMap::default(),
            &TimeShares::default(),
            onset,
            &db,
            &mut symbolizer(&db),
        );
        names(&db, &out)
    };
    assert_eq!(run(&w, 500), ["check_password"]);
    // parked there since long before the onset: an idle thread, no evidence
    assert!(run(&w, 5_000_000_000).is_empty());
}

#[test]
fn threads_waiting_for_a_lock_blame_the_code_that_holds_it() {
    // two request threads blocked in futex in Cache.get, where training never blocked;
    // the lock they wait for is held by a thread reading the disk in Cache.refresh
    let db = db(&[
        ("Server.handle", &["read", "write"]),
        ("Cache.get", &["read"]),
        ("Disk.read", &["pread64"]),
        ("Cache.refresh", &["pread64"]),
    ]);
    let (futex, pread) = (nr("futex"), nr("pread64"));
    let pending = |nr: u16| Call {
        ts: 600,
        dur: crate::window::PENDING,
        ret: 0,
        nr,
        cpu: 0,
    };
    let mut w = window(vec![
        stack(7, StackKind::Blocked, Some(pread), &[2, 3, 0]),
        stack(8, StackKind::Blocked, Some(futex), &[1, 0]),
        stack(9, StackKind::Blocked, Some(futex), &[1, 0]),
    ]);
    w.threads = [(7, pread), (8, futex), (9, futex)]
        .into_iter()
        .map(|(tid, nr)| Thread {
            pid: 1,
            tid,
            comm: "req".into(),
            calls: vec![pending(nr)],
            ..Thread::default()
        })
        .collect();
    let g = Groups::of(&w);
    let run = |w: &Window| {
        let out = score(
            w,
            &g,
            &[],
            &FxHashMap::default(),
            &TimeShares::default(),
            500,
            &db,
            &mut symbolizer(&db),
        );
        let why = out.first().map(|(_, r)| r.why.clone()).unwrap_or_default();
        (names(&db, &out), why)
    };
    // no lock information (a native server): the waiters' own code
    assert_eq!(run(&w).0[0], "Cache.get");
    let lock =
        |tid: u32, waits: Option<u64>, holds: Vec<(u64, Option<u32>)>| crate::window::LockSample {
            ts: 100,
            pid: 1,
            tid,
            waits,
            holds,
        };
    // the dump says the holder's frame 1 (Cache.refresh) entered the monitor
    w.locks = vec![
        lock(7, None, vec![(0xa0, Some(1))]),
        lock(8, Some(0xa0), vec![]),
        lock(9, Some(0xa0), vec![]),
    ];
    let (names_, why) = run(&w);
    assert_eq!(
        (names_[0].as_str(), why.as_str()),
        ("Cache.refresh", "holds_lock")
    );
    assert!(names_.contains(&"Cache.get".to_string()), "{names_:?}");
    // a java.util.concurrent lock (no frame), taken on another path: the holder's
    // innermost function
    w.locks[0].holds = vec![(0xa0, None)];
    assert_eq!(run(&w).0[0], "Disk.read");
    // a lock nobody holds at that dump, or one the waiter holds itself: no transfer
    w.locks[0].holds = vec![(0xb0, None)];
    assert_eq!(run(&w).0[0], "Cache.get");
    w.locks = vec![lock(8, Some(0xa0), vec![(0xa0, None)])];
    assert_eq!(run(&w).0[0], "Cache.get");
}

#[test]
fn a_wrapper_the_suite_never_ran_shares_its_blame_with_its_first_trained_caller() {
    // fsync rose; it enters the code in sync_file, a wrapper the suite never ran, called
    // by flush_packet, which the suite ran often without ever syncing
    let mut db = db(&[
        ("receive_packet", &["read", "write"]),
        ("flush_packet", &["write"]),
        ("sync_file", &[]),
    ]);
    db.funcs[2].invocations = 0;
    let fsync = nr("fsync");
    let w = window(
        (0..6)
            .map(|_| stack(7, StackKind::Syscall, Some(fsync), &[2, 1, 0]))
            .collect(),
    );
    let g = Groups::of(&w);
    let lift: FxHashMap<(u32, u16), f64> = [((0, fsync), 3.0)].into_iter().collect();
    let run = |db: &Compiled| {
        let out = score(
            &w,
            &g,
            &[],
            &lift,
            &TimeShares::default(),
            0,
            db,
            &mut symbolizer(db),
        );
        let score_of = |name: &str| {
            out.iter()
                .find(|(f, _)| db.funcs[*f as usize].name == name)
                .map(|(_, r)| r.score)
        };
        (
            score_of("sync_file"),
            score_of("flush_packet"),
            score_of("receive_packet"),
        )
    };
    let (wrapper, caller, outer) = run(&db);
    assert!(wrapper.is_some_and(|w| caller.is_some_and(|c| c > 0.0 && c < w)));
    assert_eq!(outer, None, "only the first trained caller");
    // a wrapper whose training is known keeps the blame alone
    db.funcs[2].invocations = 10;
    let (wrapper, caller, _) = run(&db);
    assert!(wrapper.is_some());
    assert_eq!(caller, None);
}

/// A real program (`stale` calls `fsync`, `sleeper` calls `select`, `main` calls both) and
/// the libc this test runs with: the frames a walk reports at a `select`, with and without
/// a stale return address (`stale`'s, left in `select`'s frame) between them.
#[test]
fn a_frame_whose_call_went_to_another_library_function_is_stale() {
    if !testkit::require_tool("stale frames above a library", "gcc") {
        return;
    }
    let Some(libc) = testkit::require_mapped_libc("stale frames above a library") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("s.c");
    std::fs::write(
        &src,
        "#include <sys/select.h>\n#include <unistd.h>\n\
         void stale(void) { fsync(1); }\n\
         int sleeper(void) { struct timeval tv = {0, 1}; return select(0, 0, 0, 0, &tv); }\n\
         int main(void) { stale(); return sleeper(); }\n",
    )
    .unwrap();
    let exe = dir.path().join("s");
    testkit::gcc(&src, &exe, testkit::Flags::Debug, &[]);
    let exe = exe.to_str().unwrap();
    let db = db(&[
        ("stale", &[]),
        ("sleeper", &[]),
        ("main", &[]),
        ("fsync", &[]),
    ]);
    let mut sym = Symbolizer::new(&db);
    // the return location of the call in `func` that goes to `import`
    let mut call_in = |func: u32, import: &str| {
        (0..0x10_0000u64)
            .find(|&off| {
                sym.function(exe, off) == Some(func)
                    && sym.import_called(exe, off).as_deref() == Some(import)
            })
            .unwrap()
    };
    let stale_ret = call_in(0, "fsync");
    let sleeper_ret = call_in(1, "select");
    let data = std::fs::read(&libc).unwrap();
    let file = object::File::parse(&*data).unwrap();
    let in_libc = |name: &str| {
        use object::{Object, ObjectSegment, ObjectSymbol};
        let a = file
            .dynamic_symbols()
            .find(|s| s.name() == Ok(name))
            .unwrap()
            .address();
        let seg = file
            .segments()
            .find(|s| a >= s.address() && a < s.address() + s.size())
            .unwrap();
        CodeLocation {
            path: libc.to_string(),
            offset: a - seg.address() + seg.file_range().0 + 1,
        }
    };
    let app = |offset: u64| CodeLocation {
        path: exe.to_string(),
        offset,
    };
    // in select, the caller that called select found further out: stale's frame is stale
    let frames = [in_libc("select"), app(stale_ret), app(sleeper_ret)];
    assert_eq!(stale_above_library(&frames, &mut sym), [1]);
    // in fsync, stale is its caller: nothing is stale
    let frames = [in_libc("fsync"), app(stale_ret), app(sleeper_ret)];
    assert!(stale_above_library(&frames, &mut sym).is_empty());
    // no frame further out confirms the library function: nothing is dropped
    let frames = [in_libc("select"), app(stale_ret)];
    assert!(stale_above_library(&frames, &mut sym).is_empty());
    // above an application frame of the same file, a call into the library cannot be its
    // caller, unless the file's own function of that name (a shared object's PLT)
    let main_ret = (0..0x10_0000u64)
        .find(|&off| sym.function(exe, off) == Some(2) && sym.call_target(exe, off) == Some(1))
        .unwrap();
    assert!(!calls(&mut sym, &app(stale_ret), 1, &db));
    assert!(calls(&mut sym, &app(stale_ret), 3, &db));
    assert!(calls(&mut sym, &app(main_ret), 1, &db));
    assert!(!calls(&mut sym, &app(main_ret), 0, &db));
}

/// One process of a group sleeps in `pselect6` before and after the onset as it always
/// did (a postmaster), another began to (a backend): the group's rise is the second's.
#[test]
fn a_thread_making_a_syscall_as_often_as_before_is_not_credited_for_its_groups_rise() {
    let db = db(&[
        ("server_loop", &["pselect6"]),
        ("backoff", &["pselect6"]),
        ("insert_row", &[]),
    ]);
    let sel = nr("pselect6");
    let every = |tid: u32, from: u64, to: u64, step: u64| Thread {
        pid: tid,
        tid,
        comm: "postgres".into(),
        calls: (from..to)
            .step_by(step as usize)
            .map(|t| call(t, 1, "pselect6"))
            .collect(),
        ..Thread::default()
    };
    let at = |tid: u32, idx: &[u64]| StackSample {
        pid: tid,
        ..stack(tid, StackKind::Syscall, Some(sel), idx)
    };
    let w = Window {
        start: 0,
        end: 1000,
        // the postmaster: every 10 all along; the backend: every 5 from the onset (500)
        threads: vec![every(1, 0, 1000, 10), every(2, 500, 1000, 5)],
        stacks: (0..5).flat_map(|_| [at(1, &[0]), at(2, &[1, 2])]).collect(),
        ..Window::default()
    };
    let g = Groups::of(&w);
    assert_eq!(g.names.len(), 1);
    let lift: FxHashMap<(u32, u16), f64> = [((0, sel), 3.0)].into_iter().collect();
    let out = score(
        &w,
        &g,
        &[],
        &lift,
        &TimeShares::default(),
        500,
        &db,
        &mut symbolizer(&db),
    );
    let credited = names(&db, &out);
    assert!(credited.contains(&"backoff".to_string()), "{credited:?}");
    assert!(
        !credited.contains(&"server_loop".to_string()),
        "{credited:?}"
    );
}
