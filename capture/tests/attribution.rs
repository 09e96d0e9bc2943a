//! Attribution of syscalls to application functions, checked on real captures of the C
//! fixtures in fixtures/attribution (one test per case of its README). Needs root.

mod common;

use common::{Run, build, build_shared, can_trace, disassembly, run_full, run_objects};
use rustc_hash::FxHashSet;
use trace::Event;

fn assert_all_frames(run: &Run, syscall: &str, expected: &[&str], at_least: usize) {
    let calls: Vec<_> = run
        .syscalls(syscall)
        .into_iter()
        .filter(|s| s.pid == run.root)
        .collect();
    assert!(
        calls.len() >= at_least,
        "{syscall}: {} captured, expected at least {at_least}",
        calls.len()
    );
    for s in &calls {
        let frames = run.frames(s);
        assert!(
            frames.starts_with(expected),
            "{syscall} at ts {}: frames {frames:?}, expected to start with {expected:?}",
            s.ts
        );
    }
}

#[test]
fn callee_syscall_then_caller_syscall_through_libc() {
    if !can_trace("callee_syscall_then_caller_syscall_through_libc") {
        return;
    }
    let fx = build("callee_caller");
    // The premise: caller calls geteuid from the depth where it called callee.
    let caller = disassembly(&fx.exe, "caller");
    assert!(
        caller.contains("call") && caller.contains("<callee>"),
        "{caller}"
    );
    assert!(caller.contains("<geteuid@plt>"), "{caller}");
    let run = run_full(&fx, &[], |_| {});
    assert!(run.status.success(), "{:?}", run.status);
    assert_all_frames(&run, "getppid", &["callee", "caller", "main"], 50);
    assert_all_frames(&run, "geteuid", &["caller", "main"], 50);

    // Each caller invocation: its geteuid carries the same (tid, call) for caller as the
    // getppid its callee made just before; the 50 invocations are distinct.
    let ppid = run.syscalls("getppid");
    let euid = run.syscalls("geteuid");
    let mut seen = FxHashSet::default();
    for (p, e) in ppid.iter().zip(&euid) {
        assert_eq!(p.frames()[1], e.frames()[0], "same caller invocation");
        assert_ne!(p.frames()[0].call, e.frames()[0].call);
        assert!(
            seen.insert((e.tid, e.frames()[0].call)),
            "repeated call number"
        );
    }
    assert_eq!(run.invocations("caller"), Some(50));
    assert_eq!(run.invocations("callee"), Some(50));
}

#[test]
fn tail_called_function_and_the_caller_after_it() {
    if !can_trace("tail_called_function_and_the_caller_after_it") {
        return;
    }
    let fx = build("tail_call");
    let middle = disassembly(&fx.exe, "middle");
    assert!(
        middle
            .lines()
            .any(|l| l.contains("jmp") && l.contains("<tailee>")),
        "gcc did not emit a tail call in middle():\n{middle}"
    );
    assert!(!middle.contains("call"), "{middle}");
    let run = run_full(&fx, &[], |_| {});
    assert!(run.status.success(), "{:?}", run.status);
    // middle was replaced by tailee: the caller's caller is outer.
    assert_all_frames(&run, "getppid", &["tailee", "outer", "main"], 50);
    assert_all_frames(&run, "geteuid", &["outer", "main"], 50);
    assert_eq!(run.invocations("middle"), Some(50));
    assert_eq!(run.invocations("tailee"), Some(50));
}

#[test]
fn callback_from_a_library() {
    if !can_trace("callback_from_a_library") {
        return;
    }
    let fx = build("callback");
    let run = run_full(&fx, &[], |_| {});
    assert!(run.status.success(), "{:?}", run.status);
    let compares = run.invocations("cmp").expect("invocation counts");
    assert!(compares >= 99, "{compares} comparisons");
    assert_all_frames(
        &run,
        "getppid",
        &["cmp", "sort_things", "main"],
        compares as usize,
    );
    assert_all_frames(&run, "geteuid", &["main"], 1);
}

#[test]
fn threads_have_their_own_stacks() {
    if !can_trace("threads_have_their_own_stacks") {
        return;
    }
    let fx = build("threads");
    let run = run_full(&fx, &[], |_| {});
    assert!(run.status.success(), "{:?}", run.status);
    assert_all_frames(&run, "geteuid", &["work_a", "thread_a"], 50);
    assert_all_frames(&run, "getegid", &["work_b", "thread_b"], 50);
    let tids =
        |name: &str| -> FxHashSet<u32> { run.syscalls(name).iter().map(|s| s.tid).collect() };
    let (a, b) = (tids("geteuid"), tids("getegid"));
    assert_eq!((a.len(), b.len()), (1, 1), "{a:?} {b:?}");
    assert!(a.is_disjoint(&b) && !a.contains(&run.root));
    // Both threads' creation and end were recorded.
    let forks: FxHashSet<u32> = run
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Fork {
                child_pid,
                child_tid,
                ..
            } if *child_pid == run.root => Some(*child_tid),
            _ => None,
        })
        .collect();
    assert!(forks.is_superset(&a) && forks.is_superset(&b), "{forks:?}");
}

#[test]
fn forked_and_execed_children_are_followed() {
    if !can_trace("forked_and_execed_children_are_followed") {
        return;
    }
    let fx = build("fork_exec");
    let run = run_full(&fx, &[], |_| {});
    assert_eq!(run.status, host::ExitStatus::Exited(0));
    let child = run
        .events
        .iter()
        .find_map(|e| match e {
            Event::Fork {
                parent_pid,
                child_pid,
                ..
            } if *parent_pid == run.root && *child_pid != run.root => Some(*child_pid),
            _ => None,
        })
        .expect("a fork of the root process");
    let exec_ts = run
        .events
        .iter()
        .find_map(|e| match e {
            Event::Exec { pid, ts, path, .. } if *pid == child => {
                assert_eq!(path, "/proc/self/exe");
                Some(*ts)
            }
            _ => None,
        })
        .expect("the child's exec");

    let sid = run.syscalls("getsid");
    assert_eq!(sid.len(), 3);
    for s in &sid {
        assert_eq!(s.pid, child);
        assert!(s.ts < exec_ts);
        // Inherited from the parent at fork: main and _start.
        assert_eq!(run.frames(s), ["child_work", "main", "_start"]);
    }
    let pgid = run.syscalls("getpgid");
    assert_eq!(pgid.len(), 3);
    for s in &pgid {
        assert_eq!(s.pid, child);
        assert!(s.ts > exec_ts);
        // The new image's own frames only: none left from before the exec.
        assert_eq!(run.frames(s), ["exec_work", "main", "_start"]);
    }
    let uid = run.syscalls("getuid");
    assert!(uid.iter().all(|s| s.pid == run.root));
    assert_eq!(run.frames(&uid[0])[..2], ["parent_work", "main"]);
    for pid in [child, run.root] {
        assert!(
            run.events.iter().any(
                |e| matches!(e, Event::Exit { pid: p, tid, code: 0, .. } if *p == pid && *tid == pid)
            ),
            "exit of {pid}"
        );
    }
    // main was entered twice: by the parent, and by the exec'd image.
    assert_eq!(run.invocations("main"), Some(2));
    assert_eq!(run.invocations("child_work"), Some(1));
}

#[test]
fn invocation_counts_without_syscalls() {
    if !can_trace("invocation_counts_without_syscalls") {
        return;
    }
    let fx = build("invocations");
    for n in [1000u64, 777] {
        let run = run_full(&fx, &[&n.to_string()], |_| {});
        assert!(run.status.success(), "{:?}", run.status);
        assert_eq!(run.invocations("leaf"), Some(n));
        assert_eq!(run.invocations("main"), Some(1));
        assert_eq!(run.stats.lost, 0);
        let hit = run.stats.functions_hit as usize;
        let Some(Event::Invocations { counts, .. }) = run.events.last() else {
            panic!("the last event is not the invocation counts")
        };
        assert_eq!(counts.len(), hit);
    }
}

/// While muting replaces a link, the old and the new one both probe the functions they
/// share: each entry runs the program twice. It must count once, also for a function
/// called over and over from one call site (same SP, same return address).
#[test]
fn an_entry_caught_by_two_links_counts_once() {
    if !can_trace("an_entry_caught_by_two_links_counts_once") {
        return;
    }
    let fx = build("invocations");
    let n = 1000u64;
    let run = run_full(&fx, &[&n.to_string()], |c| {
        // the same probes again: a second link on the same file
        let again = c.objects[0].clone();
        c.objects.push(again);
    });
    assert!(run.status.success(), "{:?}", run.status);
    assert_eq!(run.invocations("leaf"), Some(n));
    assert_eq!(run.invocations("main"), Some(1));
}

#[test]
fn library_loaded_after_attach() {
    if !can_trace("library_loaded_after_attach") {
        return;
    }
    let host = build("host");
    let plugin = build_shared("plugin");
    let lib = plugin.exe.to_str().unwrap();
    let run = run_objects(&host, &[&plugin.exe], &[lib], |_| {});
    assert!(run.status.success(), "{:?}", run.status);
    assert_all_frames(
        &run,
        "getsid",
        &["plugin.so:plugin_work", "call_plugin", "main"],
        1,
    );
    assert_eq!(run.invocations("plugin.so:plugin_work"), Some(1));
    assert_eq!(run.stats.objects, 2);
}
