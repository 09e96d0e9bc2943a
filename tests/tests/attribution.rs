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
    argv.extend([
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
