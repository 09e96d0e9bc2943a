//! The traces bundled in `fixtures/traces/` (recorded by its `record.sh` on a real kernel),
//! used where no kernel tracing is at hand: no root needed. The fixture servers' own test
//! suites, traced by `runner`, train databases that show facts of the servers' code; the
//! windows that `perfscope watch` saved with an injected bug at work rank the function
//! holding the bug first, their stacks named through the recorded build-ids even where
//! the traced binaries are not on disk (any checkout but the one that recorded them).

use std::path::{Path, PathBuf};
use std::process::Command;

use tests::{Fact, Scratch, bins, check_facts, sigdb_verify, train};

use Fact::*;

fn bundled(name: &str) -> PathBuf {
    tests::workspace().join("fixtures/traces").join(name)
}

/// Trains on the bundled test-suite trace of `server` into `dir`.
fn trained(dir: &Scratch, server: &str) -> PathBuf {
    let db = dir.join(format!("{server}.sigdb"));
    let summary = train(&bundled(&format!("{server}.trace")), &db);
    assert_eq!(summary["lost_events"], 0, "{summary}");
    assert_eq!(summary["truncated_traces"], 0, "{summary}");
    let (ok, why) = sigdb_verify(&db);
    assert!(ok, "sigdb verify: {why}");
    db
}

#[test]
fn the_bundled_suite_traces_train_the_servers_facts() {
    let dir = Scratch::new();
    let db = sigdb::read(&trained(&dir, "threadsrv")).expect("threadsrv.sigdb");
    check_facts(
        &db,
        &[
            Episode("log_request", "write"),
            Episode("read_request", "read"),
            Episode("write_response", "writev"),
            Episode("read_file", "openat"),
            Episode("store_fsync", "fsync"),
            Never("store_append", "fsync"),
            NoSyscalls("parse_request"),
        ],
    );
    let db = sigdb::read(&trained(&dir, "loopsrv")).expect("loopsrv.sigdb");
    check_facts(
        &db,
        &[
            Episode("aof_flush", "fdatasync"),
            Episode("on_readable", "read"),
            Episode("log_request", "write"),
            NoSyscalls("expire_keys"),
            NoSyscalls("kv_get"),
            NoSyscalls("parse_command"),
        ],
    );
}

/// `perfscope analyze --format json` of a bundled window: exit code and ranked names.
fn analyze(db: &Path, window: &str) -> (i32, Vec<String>, String) {
    let out = Command::new(&bins().perfscope)
        .args(["analyze", "--format", "json", "--db"])
        .arg(db)
        .arg(bundled(window))
        .output()
        .expect("running perfscope analyze");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let names = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["type"] == "function")
        .filter_map(|v| v["name"].as_str().map(str::to_string))
        .collect();
    let all = format!("{text}{}", String::from_utf8_lossy(&out.stderr));
    (tests::exit_code(out.status), names, all)
}

#[test]
fn the_bundled_jvm_suite_trace_trains_the_java_servers_facts() {
    let dir = Scratch::new();
    let db = sigdb::read(&trained(&dir, "jvm")).expect("jvm.sigdb");
    // Java methods are named Class.method and keep their descriptor
    let append = db
        .records
        .iter()
        .find(|r| r.name == "perfscope.fixture.JThreadSrv.storeAppend")
        .expect("storeAppend in the database");
    assert!(
        append
            .descriptor
            .as_deref()
            .is_some_and(|d| d.starts_with('('))
    );
    check_facts(
        &db,
        &[
            Episode("perfscope.fixture.JThreadSrv.readRequest", "read"),
            Episode("perfscope.fixture.JThreadSrv.writeResponse", "writev"),
            Episode("perfscope.fixture.JThreadSrv.storeFsync", "fsync"),
            Makes("perfscope.fixture.JThreadSrv.readFile", "openat"),
            Never("perfscope.fixture.JThreadSrv.storeAppend", "fsync"),
            Episode("perfscope.fixture.JLoopSrv.aofFlush", "fdatasync"),
            Makes("perfscope.fixture.JLoopSrv.eventLoop", "epoll_wait"),
            NoSignature("perfscope.fixture.JLoopSrv.kvGet"),
        ],
    );
}

#[test]
fn the_bundled_bug_windows_rank_the_injected_function_first() {
    let dir = Scratch::new();
    let dbs: Vec<(&str, PathBuf)> = tests::BUNDLED_SUITES
        .iter()
        .map(|s| (*s, trained(&dir, s)))
        .collect();
    // fixtures/servers/README.md and fixtures/jvm/README.md: where each bug lives
    for (window, culprit) in [
        ("threadsrv-slow_fsync.window.trace", "store_append"),
        ("loopsrv-hang_sleep.window.trace", "kv_get"),
        ("loopsrv-spin.window.trace", "expire_keys"),
        (
            "jthreadsrv-slow_fsync.window.trace",
            "perfscope.fixture.JThreadSrv.storeAppend",
        ),
        (
            "jloopsrv-spin.window.trace",
            "perfscope.fixture.JLoopSrv.expireKeys",
        ),
    ] {
        let server = tests::bundled_suite(window);
        let db = &dbs.iter().find(|(s, _)| *s == server).unwrap().1;
        let (code, names, all) = analyze(db, window);
        assert_eq!(code, 1, "{window}: findings expected:\n{all}");
        assert_eq!(
            names.first().map(String::as_str),
            Some(culprit),
            "{window}: {names:?}\n{all}"
        );
        // the list stays a small part of the database
        assert!(names.len() <= 5, "{window}: {names:?}");
    }
}
