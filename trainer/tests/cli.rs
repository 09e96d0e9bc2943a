//! The `trainer` binary end to end: arguments, output file, summary formats, exit codes.

mod common;

use std::process::Command;

use common::*;
use trace::FunctionClass::App;

fn trainer() -> Command {
    Command::new(env!("CARGO_BIN_EXE_trainer"))
}

fn fixture(dir: &std::path::Path) -> std::path::PathBuf {
    let h = header(&[("handle", App), ("serve", App)]);
    let mut ev = Vec::new();
    for i in 0..20u64 {
        let ts = i * 1000;
        ev.push(sc(ts, 5, OPENAT, &[(0, 2 * i + 2), (1, 2 * i + 1)]));
        ev.push(sc(ts + 1, 5, READ, &[(0, 2 * i + 2), (1, 2 * i + 1)]));
        ev.push(sc(ts + 2, 5, WRITE, &[(1, 2 * i + 1)]));
    }
    ev.push(counts(30_000, &[(0, 20), (1, 20)]));
    write(dir, "fixture.trace", &h, &ev)
}

#[test]
fn trains_and_prints_a_json_summary() {
    let dir = tempfile::tempdir().unwrap();
    let trace = fixture(dir.path());
    let out = dir.path().join("server.sigdb");
    let o = trainer()
        .args([
            "--format",
            "json",
            "--threads",
            "2",
            "--target-version",
            "1.2",
            "-o",
        ])
        .arg(&out)
        .arg(&trace)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["type"], "summary");
    assert_eq!(v["version"], trainer::SUMMARY_VERSION);
    assert_eq!(v["syscalls"], 60);
    assert_eq!(v["functions_probed"], 2);
    assert_eq!(v["functions_with_signatures"], 2);
    assert_eq!(v["coverage_pct"], 100.0);
    let db = sigdb::read(&out).unwrap();
    assert_eq!(
        db.header.target.name, "server",
        "defaults to the object's file name"
    );
    assert_eq!(db.header.target.version, "1.2");
    assert_eq!(db.records.len(), 2);
    assert!(db.header.training.tool.starts_with("perfscope-trainer "));
}

#[test]
fn text_summary_and_parameters_reach_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let trace = fixture(dir.path());
    let out = dir.path().join("x.sigdb");
    let o = trainer()
        .args([
            "--no-expiry",
            "--callers",
            "1",
            "--min-support",
            "0.75",
            "--max-episodes",
            "3",
            "--selection",
            "all",
            "--target-name",
            "srv",
            "-o",
        ])
        .arg(&out)
        .arg(&trace)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(text.contains("functions probed  2"), "{text}");
    assert!(text.contains("with signatures  2"), "{text}");
    let db = sigdb::read(&out).unwrap();
    let p = &db.header.training.params;
    assert_eq!(
        (p.expiry_ns, p.callers, p.min_support, p.max_episodes),
        (None, 1, 0.75, 3)
    );
    assert_eq!(p.selection, "all");
    assert_eq!(db.header.target.name, "srv");
    assert!(db.records.iter().all(|r| r.episodes.len() <= 3));
    // --callers 1: serve also owns handle's syscalls
    assert_eq!(db.get("serve").unwrap().syscalls, 60);
}

#[test]
fn errors_exit_with_2_and_name_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.trace");
    std::fs::write(&bad, b"PSTRACE\n\x01\x00garbage-garbage-garbage").unwrap();
    let out = dir.path().join("x.sigdb");
    let o = trainer().arg("-o").arg(&out).arg(&bad).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("bad.trace"), "{err}");
    assert!(!out.exists());

    let trace = fixture(dir.path());
    let o = trainer()
        .args(["--max-episode-len", "0", "-o"])
        .arg(&out)
        .arg(&trace)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("max episode length"));

    // usage errors (no trace) are clap's exit 2 too
    let o = trainer().arg("-o").arg(&out).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
}
