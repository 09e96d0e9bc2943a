//! Golden reports: the text and JSON Lines reports of every bundled window
//! (`fixtures/traces/*.window.trace`) against the database trained on its server's bundled
//! suite trace, compared with the snapshots under `tests/tests/snapshots/`. The analysis is
//! deterministic, so any change in what it reports shows here, field by field (the
//! analysis time is the one value redacted). Update them after an intended change with
//! `INSTA_UPDATE=always cargo test -p tests --test golden` and review the diff.

use std::path::Path;
use std::process::Command;

use tests::{Scratch, bins, train};

/// `perfscope analyze` of a bundled window, run from the workspace root so that the
/// window's path in the report is the same on every machine.
fn analyze(db: &Path, window: &str, format: &str) -> String {
    let out = Command::new(&bins().perfscope)
        .current_dir(tests::workspace())
        .args(["analyze", "--format", format, "--db"])
        .arg(db)
        .arg(Path::new("fixtures/traces").join(window))
        .output()
        .expect("running perfscope analyze");
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{window}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("a UTF-8 report")
}

/// The JSON Lines report with the timing redacted, one pretty record per line group.
fn redacted_json(jsonl: &str) -> String {
    let (head, records) = report::read_json_lines(jsonl).expect("a readable report");
    let mut head = head;
    head.stats.analysis_ms = 0.0;
    let mut out = vec![report::v2::Record::Report(head).to_json()];
    out.extend(records.iter().map(report::v2::Record::to_json));
    out.join("\n")
}

#[test]
fn bundled_windows_give_their_golden_reports() {
    let dir = Scratch::new();
    let mut dbs = Vec::new();
    for server in tests::BUNDLED_SUITES {
        let db = dir.join(format!("{server}.sigdb"));
        train(
            &tests::workspace()
                .join("fixtures/traces")
                .join(format!("{server}.trace")),
            &db,
        );
        dbs.push((server, db));
    }
    let mut windows: Vec<String> = std::fs::read_dir(tests::workspace().join("fixtures/traces"))
        .expect("fixtures/traces")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".window.trace"))
        .collect();
    windows.sort();
    assert!(windows.len() >= 5, "{windows:?}");
    for window in &windows {
        let server = tests::bundled_suite(window);
        let db = &dbs.iter().find(|(s, _)| *s == server).expect("trained").1;
        let name = window.trim_end_matches(".window.trace");
        insta::assert_snapshot!(format!("{name}.txt"), analyze(db, window, "text"));
        insta::assert_snapshot!(
            format!("{name}.jsonl"),
            redacted_json(&analyze(db, window, "json"))
        );
    }
}

#[test]
fn a_saved_window_analysed_twice_gives_the_same_report() {
    let dir = Scratch::new();
    let db = dir.join("threadsrv.sigdb");
    train(
        &tests::workspace().join("fixtures/traces/threadsrv.trace"),
        &db,
    );
    let window = "threadsrv-slow_fsync.window.trace";
    let first = redacted_json(&analyze(&db, window, "json"));
    let second = redacted_json(&analyze(&db, window, "json"));
    assert!(first.contains("\"confidence\""), "{first}");
    assert_eq!(
        first, second,
        "the analysis of a saved window is not repeatable"
    );
}
