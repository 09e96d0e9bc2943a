//! Moved probes see what entry probes see (needs root): each attribution fixture whose
//! functions `symbols` probes past their entry (tail calls through `jmp`, an early-exit
//! test before the prologue, shrink-wrapped frames) runs twice under capture, once with
//! every probe on the function's entry and once on `probe_offset`, and every syscall
//! must carry the same frames (functions and call numbers) and every function the same
//! invocation count.

use std::path::Path;

use capture::{Config, Filter, ObjectProbes, Probe, Session};
use host::Command;
use symbols::{EntryInsn, FunctionTable, LoadOptions, SymClass};
use tests::{Scratch, attribution_source, can_trace, gcc};
use trace::Event;

/// What one run shows: per syscall (in entry order) its number and frames as (function
/// name, call number), and the invocation count of each function.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    syscalls: Vec<(u32, Vec<(String, u64)>)>,
    invocations: Vec<(String, u64)>,
}

fn run(exe: &Path, table: &FunctionTable, moved: bool) -> Seen {
    let funcs: Vec<_> = table
        .functions
        .iter()
        .filter(|f| f.class == SymClass::App && f.entry != EntryInsn::Unknown)
        .collect();
    let probes = funcs
        .iter()
        .enumerate()
        .map(|(i, f)| Probe {
            file_offset: if moved { f.probe_offset } else { f.file_offset },
            func: i as u32,
        })
        .collect();
    let paused = Command::new(exe).spawn_paused().expect("spawn");
    let objects = vec![ObjectProbes {
        path: exe.to_owned(),
        probes,
    }];
    let config = Config::full(Filter::Tree { root: paused.pid() }, objects);
    let mut session = Session::start(config).expect("session start");
    let mut child = paused.release().expect("release");
    let mut events = Vec::new();
    let mut sink = |e: Event| events.push(e);
    session
        .run_until(&mut sink, || matches!(child.try_wait(), Ok(Some(_))))
        .expect("drain");
    assert!(child.wait().expect("wait").success(), "{}", exe.display());
    let stats = session.finish(&mut sink).expect("finish");
    assert_eq!(stats.lost, 0);

    let name = |id: u32| funcs[id as usize].name.clone();
    let mut syscalls: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::Syscall(s) if !s.frames().is_empty() => Some(s),
            _ => None,
        })
        .collect();
    syscalls.sort_by_key(|s| s.ts);
    let mut invocations: Vec<(String, u64)> = events
        .iter()
        .filter_map(|e| match e {
            Event::Invocations { counts, .. } => Some(counts),
            _ => None,
        })
        .flatten()
        .map(|&(id, n)| (name(id), n))
        .collect();
    invocations.sort();
    Seen {
        syscalls: syscalls
            .iter()
            .map(|s| {
                let frames = s.frames().iter().map(|f| (name(f.func), f.call)).collect();
                (s.nr, frames)
            })
            .collect(),
        invocations,
    }
}

/// Builds `src`, checks that `symbols` moves the probes of `moved_funcs`, and compares
/// the two runs.
fn check(src: &str, moved_funcs: &[&str]) {
    if !can_trace(&format!("probe_sites::{src}")) {
        return;
    }
    let dir = Scratch::new();
    let exe = dir.join(src);
    gcc(&attribution_source(src), &exe, &[]);
    let table = symbols::load(&exe, &LoadOptions::default()).expect("function table");
    for name in moved_funcs {
        let f = table
            .functions
            .iter()
            .find(|f| f.name == *name)
            .unwrap_or_else(|| panic!("{name} in {src}"));
        assert!(
            f.probe_offset > f.file_offset && f.entry == EntryInsn::Emulated,
            "{src}: {name} is probed at its entry: {f:?}"
        );
    }
    let at_entry = run(&exe, &table, false);
    let moved = run(&exe, &table, true);
    // The moved probes fire, so the comparison covers them.
    for name in moved_funcs {
        assert!(
            moved.invocations.iter().any(|(f, n)| f == name && *n > 0),
            "{src}: {name} never ran: {:?}",
            moved.invocations
        );
    }
    assert!(
        !at_entry.syscalls.is_empty(),
        "{src}: no syscall with frames"
    );
    assert_eq!(at_entry, moved, "{src}");
}

/// `middle` is `add $1,%edi; jmp tailee`: its probe sits on the tail-call `jmp`, and
/// `tailee`'s entry must still replace its frame (getppid → `tailee, outer, main`).
#[test]
fn tail_call() {
    check("tail_call", &["middle"]);
}

/// `sort_things` sets up qsort's arguments, then tail-calls it: probed on the `jmp`,
/// with the comparator's syscalls under it.
#[test]
fn callback() {
    check("callback", &["sort_things"]);
}
