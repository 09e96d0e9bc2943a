//! End to end over the fixture servers (needs root): each server's own test suite runs
//! under `runner` as `nobody`, `trainer` learns from the trace, and the signature
//! database must show facts of the server's code (fixtures/servers/README.md lists which
//! syscalls each function makes, measured independently with `strace -f -k`).

use std::ffi::OsStr;
use std::path::Path;

use tests::{
    Fact, Scratch, TraceFile, build_servers, can_trace, check_facts, runner, sigdb_verify,
};
use trace::{CaptureMode, EntryClass};

use Fact::*;

/// Runs `make check-SERVER` under the runner, trains, and checks `facts` and the
/// pipeline's bookkeeping.
fn check_server(server: &str, facts: &[Fact]) {
    if !can_trace(&format!("servers::{server}")) {
        return;
    }
    let dir = Scratch::new();
    let out = dir.join("build");
    build_servers(&out);
    let exe = out.join(server);
    let trace_path = dir.join(format!("{server}.trace"));
    let makefile_dir = tests::workspace().join("fixtures/servers");
    let out_arg = format!("OUT={}", out.display());
    let target = format!("check-{server}");
    // --probe-all: the facts below name functions without syscalls, which the runner
    // leaves out by default.
    let args: Vec<&OsStr> = vec![
        "--probe-all".as_ref(),
        "--bin".as_ref(),
        exe.as_os_str(),
        "--user".as_ref(),
        "nobody".as_ref(),
        "-o".as_ref(),
        trace_path.as_os_str(),
        "--".as_ref(),
        "make".as_ref(),
        "--no-print-directory".as_ref(),
        "-C".as_ref(),
        makefile_dir.as_os_str(),
        out_arg.as_ref(),
        target.as_ref(),
    ];
    let run = runner(args, &[]);
    assert_eq!(
        run.code, 0,
        "runner exit status\nstdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
    assert!(
        run.stdout.contains("passed") && !run.stdout.contains("FAIL"),
        "the suite's own verdict:\n{}",
        run.stdout
    );
    let summary = run.summary.expect("a JSON summary");

    // What the runner should have probed: the application functions with a probeable
    // entry, as the symbols crate sees them.
    let table = symbols::load(&exe, &symbols::LoadOptions::default()).expect("symbols");
    let app: Vec<&symbols::FunctionSym> = table
        .functions
        .iter()
        .filter(|f| f.class == symbols::SymClass::App && f.entry != symbols::EntryInsn::Unknown)
        .collect();
    let single_step = app
        .iter()
        .filter(|f| f.entry == symbols::EntryInsn::SingleStep)
        .count();
    assert!(
        app.iter().any(|f| f.name == "log_request"),
        "log_request is app code"
    );
    assert_eq!(summary["functions_probed"], app.len(), "{summary}");
    assert_eq!(summary["single_step_probed"], single_step, "{summary}");
    let hit = summary["functions_hit"].as_u64().unwrap();
    assert!(hit > 0 && hit <= app.len() as u64, "{summary}");
    assert_eq!(summary["lost"], 0, "{summary}");
    assert_eq!(summary["command_exit_code"], 0, "{summary}");
    assert!(summary["syscalls"].as_u64().unwrap() > 1000, "{summary}");

    // The trace: complete, with the command's status and the probed objects.
    let t = TraceFile::read(&trace_path);
    assert!(t.truncated.is_none(), "truncated: {:?}", t.truncated);
    let footer = t.footer.as_ref().expect("a footer");
    assert_eq!(footer.exit_code, Some(0));
    assert_eq!(footer.lost, 0);
    assert_eq!(footer.events, t.events.len() as u64);
    assert_eq!(summary["events"], t.events.len(), "{summary}");
    assert!(t.header.tool.starts_with("perfscope-runner "));
    assert_eq!(t.header.mode, CaptureMode::Full);
    assert_eq!(t.header.command[0], "make");
    let obj = &t.header.objects[0];
    assert_eq!(Path::new(&obj.path), exe.canonicalize().unwrap());
    assert!(
        obj.functions
            .iter()
            .enumerate()
            .all(|(i, f)| f.id == i as u32)
    );
    assert_eq!(
        obj.functions
            .iter()
            .filter(|f| f.entry == EntryClass::SingleStep)
            .count(),
        single_step
    );

    // Training.
    let db_path = dir.join(format!("{server}.sigdb"));
    let trained = tests::train(&trace_path, &db_path);
    let (ok, why) = sigdb_verify(&db_path);
    assert!(ok, "sigdb verify: {why}");
    assert_eq!(trained["functions_probed"], app.len(), "{trained}");
    assert_eq!(trained["functions_hit"], hit, "{trained}");
    let with_sys = trained["functions_with_syscalls"].as_u64().unwrap();
    let with_sig = trained["functions_with_signatures"].as_u64().unwrap();
    assert!(with_sig <= with_sys && with_sys <= hit, "{trained}");
    assert!(with_sig > 0, "{trained}");
    assert_eq!(trained["lost_events"], 0, "{trained}");
    assert_eq!(trained["truncated_traces"], 0, "{trained}");

    let db = sigdb::read(&db_path).expect("a readable sigdb");
    check_facts(&db, facts);
}

#[test]
fn threadsrv() {
    check_server(
        "threadsrv",
        &[
            Episode("log_request", "write"),
            Episode("read_request", "read"),
            Episode("write_response", "writev"),
            Episode("read_file", "openat"),
            Episode("store_append", "write"),
            // A tail call into libc (`jmp fsync@plt`): the syscall runs with
            // store_fsync's frame replaced by fsync's, and is still store_fsync's...
            Episode("store_fsync", "fsync"),
            // ...not its caller's, which is what an unwinder reports.
            Never("handle_put", "fsync"),
            Makes("accept_loop", "accept4"),
            Makes("load_config", "openat"),
            NoSignature("parse_request"),
            NoSignature("checksum_buffer"),
            NoSyscalls("parse_request"),
            NoSyscalls("checksum_buffer"),
            NoSyscalls("handle_stat"),
        ],
    );
}

#[test]
fn loopsrv() {
    check_server(
        "loopsrv",
        &[
            Episode("log_request", "write"),
            Episode("event_loop", "epoll_wait"),
            Episode("aof_flush", "write"),
            Episode("aof_flush", "fdatasync"),
            Episode("on_readable", "read"),
            Episode("on_accept", "accept4"),
            Episode("close_client", "close"),
            Makes("aof_load", "openat"),
            // server_cron's flush is a tail call: aof_flush's syscalls are not its own.
            Never("server_cron", "fdatasync"),
            NoSignature("parse_command"),
            NoSignature("kv_get"),
            NoSignature("kv_set"),
            NoSignature("expire_keys"),
            NoSyscalls("kv_get"),
            NoSyscalls("kv_set"),
            NoSyscalls("expire_keys"),
            NoSyscalls("parse_command"),
        ],
    );
}
