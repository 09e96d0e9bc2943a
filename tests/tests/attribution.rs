//! The attribution cases of `fixtures/attribution` (listed in its README) through the
//! whole pipeline (needs root): the programs built at -O2 run under `runner`, `trainer`
//! learns from the trace, and each syscall must be credited to the right function in the
//! database. (capture's own tests check the raw frames; these check what the trainer
//! makes of them.)

use std::ffi::OsStr;

use tests::{Fact, Scratch, TraceFile, attribution_source, can_trace, check_facts, gcc, runner};

use Fact::*;

/// Builds `main_src` (and the shared objects `libs`, as `NAME.so`), runs the program with
/// `args` under the runner probing all of them, trains, and checks `facts`.
fn check_case(main_src: &str, libs: &[&str], args: &[&str], facts: &[Fact]) {
    if !can_trace(&format!("attribution::{main_src}")) {
        return;
    }
    let dir = Scratch::new();
    let exe = dir.join(main_src);
    gcc(&attribution_source(main_src), &exe, &[]);
    let mut bins = vec![exe.clone()];
    for lib in libs {
        let so = dir.join(format!("{lib}.so"));
        gcc(&attribution_source(lib), &so, &["-shared", "-fPIC"]);
        bins.push(so);
    }
    let trace_path = dir.join("case.trace");
    let mut argv: Vec<&OsStr> = Vec::new();
    for b in &bins {
        argv.extend([OsStr::new("--bin"), b.as_os_str()]);
    }
    // Every function, also those that cannot reach a syscall: the facts name some of
    // them (`pruning_keeps_every_attribution` checks the default).
    argv.extend([
        OsStr::new("--probe-all"),
        OsStr::new("--as-root"),
        OsStr::new("-o"),
        trace_path.as_os_str(),
        OsStr::new("--"),
        exe.as_os_str(),
    ]);
    let lib_paths: Vec<std::path::PathBuf> = args.iter().map(|a| dir.join(a)).collect();
    argv.extend(lib_paths.iter().map(|p| p.as_os_str()));
    let run = runner(argv, &[]);
    assert_eq!(run.code, 0, "runner: {}", run.stderr);
    let summary = run.summary.expect("a JSON summary");
    assert_eq!(summary["lost"], 0, "{summary}");
    assert_eq!(summary["objects"], bins.len(), "{summary}");

    let t = TraceFile::read(&trace_path);
    assert_eq!(t.footer.as_ref().and_then(|f| f.exit_code), Some(0));
    let db_path = dir.join("case.sigdb");
    tests::train(&trace_path, &db_path);
    let db = sigdb::read(&db_path).expect("a readable sigdb");
    check_facts(&db, facts);
}

/// Case 1: callee() makes getppid and returns; caller() then calls geteuid() in libc from
/// the same stack depth (its return-address slot is reused).
#[test]
fn callee_then_caller() {
    check_case(
        "callee_caller",
        &[],
        &[],
        &[
            MakesExactly("callee", "getppid", 50),
            MakesExactly("caller", "geteuid", 50),
            Never("callee", "geteuid"),
            Never("caller", "getppid"),
            Episode("callee", "getppid"),
            Episode("caller", "geteuid"),
            NoSignature("main"),
        ],
    );
}

/// Case 2: middle() tail-calls tailee() (`jmp`); tailee's syscall is tailee's, outer's
/// own syscall after it is outer's, and middle (replaced) has none.
#[test]
fn tail_call() {
    check_case(
        "tail_call",
        &[],
        &[],
        &[
            MakesExactly("tailee", "getppid", 50),
            MakesExactly("outer", "geteuid", 50),
            Never("outer", "getppid"),
            Never("tailee", "geteuid"),
            NoSyscalls("middle"),
            Episode("tailee", "getppid"),
            Episode("outer", "geteuid"),
        ],
    );
}

/// Case 3: a callback invoked by a library at varying depths (glibc's qsort calling
/// cmp()); every comparison's getppid is cmp's, none is sort_things'.
#[test]
fn callback_from_a_library() {
    check_case(
        "callback",
        &[],
        &[],
        &[
            MakesPerCall("cmp", "getppid"),
            Episode("cmp", "getppid"),
            Never("sort_things", "getppid"),
            Never("main", "getppid"),
            MakesExactly("main", "geteuid", 1),
        ],
    );
}

/// A module: plugin.so is probed up front (`--bin`) and dlopen()ed later by host; its
/// function's syscall is its own, and the loading is its caller's.
#[test]
fn module_loaded_later() {
    check_case(
        "host",
        &["plugin"],
        &["plugin.so"],
        &[
            MakesExactly("plugin_work", "getsid", 1),
            Never("call_plugin", "getsid"),
            Makes("call_plugin", "openat"),
        ],
    );
}

/// The functions a runner summary lists under `key` ("pruned", "muted").
fn listed(summary: &serde_json::Value, key: &str) -> Vec<String> {
    summary[key]["functions"]
        .as_array()
        .unwrap_or_else(|| panic!("a {key} list"))
        .iter()
        .map(|f| f["function"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Runs `exe` under the runner (as root, `extra` options) into `DIR/NAME.trace` and trains
/// it: the runner's JSON summary and the database.
fn run_and_train(
    dir: &Scratch,
    exe: &std::path::Path,
    extra: &[&str],
    name: &str,
) -> (serde_json::Value, sigdb::Sigdb) {
    let trace_path = dir.join(format!("{name}.trace"));
    let mut argv: Vec<&OsStr> = vec![OsStr::new("--bin"), exe.as_os_str()];
    argv.extend(extra.iter().map(OsStr::new));
    argv.extend([
        OsStr::new("--as-root"),
        OsStr::new("-o"),
        trace_path.as_os_str(),
        OsStr::new("--"),
        exe.as_os_str(),
    ]);
    let run = runner(argv, &[]);
    assert_eq!(run.code, 0, "runner: {}", run.stderr);
    let summary = run.summary.expect("a JSON summary");
    let db_path = dir.join(format!("{name}.sigdb"));
    tests::train(&trace_path, &db_path);
    (summary, sigdb::read(&db_path).expect("a readable sigdb"))
}

/// Case 8: the runner does not probe functions that cannot reach a syscall (`mix`,
/// `hash`, `pick`; they keep a record, never counted); every syscall keeps its function,
/// and every function its profile, episodes and inclusive syscalls, against a run with
/// them probed (`--probe-all`).
#[test]
fn pruning_keeps_every_attribution() {
    if !can_trace("attribution::pruning_keeps_every_attribution") {
        return;
    }
    let dir = Scratch::new();
    let exe = dir.join("pruned");
    gcc(&attribution_source("pruned"), &exe, &[]);
    let (all_summary, all) = run_and_train(&dir, &exe, &["--probe-all"], "all");
    let (pruned_summary, pruned) = run_and_train(&dir, &exe, &[], "pruned");
    let free = ["mix", "hash", "pick"];
    let names = |s: &serde_json::Value| listed(s, "pruned");
    for f in free {
        assert!(names(&pruned_summary).iter().any(|n| n == f), "{f} probed");
        let r = all.get(f).expect("probed with --probe-all");
        assert!(r.invocations > 0 && r.syscalls == 0, "{f}: {r:?}");
        // A record with its code range (for stack credit), never counted.
        let p = pruned.get(f).expect("a record without a probe");
        assert_eq!((p.invocations, p.syscalls), (0, 0), "{f}: {p:?}");
        assert!(!p.ranges.is_empty(), "{f}: {p:?}");
    }
    assert!(names(&all_summary).is_empty());
    for f in ["worker", "outer", "main"] {
        let (a, p) = (all.get(f).expect(f), pruned.get(f).expect(f));
        // main makes none itself, only through its callees.
        assert!(a.syscalls > 0 || f == "main", "{f}: {a:?}");
        assert!(!a.inclusive.is_empty(), "{f}: {a:?}");
        assert_eq!(
            (&a.profile, &a.inclusive, a.invocations, a.syscalls),
            (&p.profile, &p.inclusive, p.invocations, p.syscalls),
            "{f}"
        );
        assert_eq!(a.episodes, p.episodes, "{f}");
    }
}

#[test]
fn a_converged_hot_function_loses_its_probe_and_nothing_else_changes() {
    if !can_trace("attribution::a_converged_hot_function_loses_its_probe_and_nothing_else_changes")
    {
        return;
    }
    let dir = Scratch::new();
    let exe = dir.join("muted");
    gcc(&attribution_source("muted"), &exe, &[]);
    let muted_names = |s: &serde_json::Value| listed(s, "muted");
    let (all_summary, all) = run_and_train(&dir, &exe, &["--mute-after", "0"], "all");
    let (summary, muted) = run_and_train(&dir, &exe, &["--mute-after", "100000"], "muted");
    assert!(muted_names(&all_summary).is_empty());
    assert_eq!(muted_names(&summary), ["hot"]);
    assert_eq!(all.get("hot").expect("hot").invocations, 300_000);
    let n = muted.get("hot").expect("hot").invocations;
    assert!((100_000..300_000).contains(&n), "hot: {n}");
    let (a, m) = (
        all.get("worker").expect("worker"),
        muted.get("worker").expect("worker"),
    );
    assert_eq!((a.invocations, a.syscalls), (150, 150));
    assert_eq!(
        (&a.profile, a.invocations, a.syscalls, &a.episodes),
        (&m.profile, m.invocations, m.syscalls, &m.episodes)
    );
}
