//! `perfscope analyze` end to end, driving the real binary on synthetic traces and
//! databases (no root needed): findings, exit codes, the JSON Lines schema, and every
//! kind of bad input getting a clear message instead of a panic or a confident ranking.

use testkit::scenario as common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use trace::{CaptureMode, Event, Footer, TraceWriter};

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn perfscope(args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_perfscope"))
        .args(args)
        .output()
        .expect("running perfscope");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

struct Case {
    dir: tempfile::TempDir,
}

impl Case {
    fn new() -> Case {
        let c = Case {
            dir: tempfile::tempdir().unwrap(),
        };
        sigdb::write(&sigdb(40, BUILD_ID), &c.db()).unwrap();
        c
    }
    fn db(&self) -> PathBuf {
        self.dir.path().join("demo.sigdb")
    }
    fn trace(&self, sc: &Scenario) -> PathBuf {
        let p = self
            .dir
            .path()
            .join(format!("{:?}-{}.trace", sc.bug, sc.seed));
        write_trace(&p, sc, BUILD_ID);
        p
    }
    fn analyze(&self, trace: &Path, extra: &[&str]) -> Run {
        let db = self.db();
        let mut args = vec![
            "analyze",
            "--db",
            db.to_str().unwrap(),
            trace.to_str().unwrap(),
        ];
        args.extend(extra);
        perfscope(&args)
    }
}

fn records(jsonl: &str) -> Vec<serde_json::Value> {
    jsonl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn of_type<'a>(recs: &'a [serde_json::Value], t: &str) -> Vec<&'a serde_json::Value> {
    recs.iter().filter(|r| r["type"] == t).collect()
}

fn warnings(recs: &[serde_json::Value]) -> Vec<String> {
    of_type(recs, "warning")
        .iter()
        .map(|w| w["message"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn the_injected_function_ranks_first_and_the_exit_code_says_findings() {
    let c = Case::new();
    let t = c.trace(&Scenario::default());
    let r = c.analyze(&t, &["--format", "json"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let recs = records(&r.stdout);
    let head = &recs[0];
    assert_eq!(head["type"], "report");
    assert_eq!(head["version"], report::REPORT_VERSION);
    assert_eq!(head["verdict"], "findings");
    let funcs = of_type(&recs, "function");
    assert_eq!(funcs[0]["name"], INJECTED, "{}", r.stdout);
    assert_eq!(funcs[0]["rank"], 1);
    assert!(!of_type(&recs, "evidence").is_empty());
    assert!(!of_type(&recs, "step").is_empty());
    // the default window ends at the `alarm` mark, 60 s after the start
    assert_eq!(head["alarm_ts"], T0 + 60 * S);
    assert!(warnings(&recs).is_empty(), "{:?}", warnings(&recs));
    // the text report names it too
    let r = c.analyze(&t, &[]);
    assert_eq!(r.code, 1);
    assert!(r.stdout.contains(INJECTED), "{}", r.stdout);
    assert!(r.stdout.contains("most likely responsible"), "{}", r.stdout);
}

#[test]
fn given_spans_replace_the_onset_detection() {
    let c = Case::new();
    let t = c.trace(&Scenario::default());
    let r = c.analyze(
        &t,
        &[
            "--normal",
            "5..38",
            "--abnormal",
            "41..60",
            "--format",
            "json",
        ],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    let recs = records(&r.stdout);
    assert_eq!(recs[0]["onset"]["how"], "given");
    assert_eq!(recs[0]["onset"]["normal"]["start"], T0 + 5 * S);
    assert_eq!(of_type(&recs, "function")[0]["name"], INJECTED);
}

fn steady(window: &str) -> Run {
    let c = Case::new();
    let t = c.trace(&Scenario {
        bug: Bug::None,
        ..Scenario::default()
    });
    c.analyze(&t, &["--format", "json", "--window", window])
}

#[test]
fn a_steady_server_is_normal() {
    // the window starts while every thread is already running, as online
    let r = steady("50s");
    let recs = records(&r.stdout);
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert_eq!(recs[0]["verdict"], "normal");
}

#[test]
fn a_steady_server_is_normal_from_its_start() {
    let r = steady("90s");
    assert_eq!(r.code, 0, "{}", r.stdout);
}

#[test]
fn a_spinning_worker_is_named() {
    let c = Case::new();
    let t = c.trace(&Scenario {
        bug: Bug::Spin,
        ..Scenario::default()
    });
    let r = c.analyze(&t, &["--format", "json"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let recs = records(&r.stdout);
    let ev = of_type(&recs, "evidence");
    let spin = ev
        .iter()
        .find(|e| e["kind"] == "spinning")
        .expect("spinning evidence");
    assert_eq!(spin["thread"], format!("worker/{}", PID + 3));
}

#[test]
fn a_hung_worker_is_named_with_its_syscall() {
    let c = Case::new();
    let t = c.trace(&Scenario {
        bug: Bug::Hang,
        ..Scenario::default()
    });
    let r = c.analyze(&t, &["--format", "json"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let recs = records(&r.stdout);
    let ev = of_type(&recs, "evidence");
    let b = ev
        .iter()
        .find(|e| e["kind"] == "blocked")
        .expect("blocked evidence");
    assert!(
        b["summary"].as_str().unwrap().contains("clock_nanosleep"),
        "{b}"
    );
    let steps = of_type(&recs, "step");
    assert!(
        steps
            .iter()
            .any(|s| s["pending"] == true && s["syscall"] == "clock_nanosleep")
    );
}

/// Writes `events` as a trace starting at `t0`.
fn custom_trace(path: &Path, t0: u64, events: &[Event], end: u64) {
    let mut h = trace::Header::new("t", CaptureMode::SyscallsOnly);
    h.start_monotonic_ns = t0;
    let mut w = TraceWriter::create(path, &h).unwrap();
    for e in events {
        w.write(e).unwrap();
    }
    w.finish(Footer {
        end_monotonic_ns: end,
        ..Footer::default()
    })
    .unwrap();
}

/// The report record's `damage` list: what keeps the analysis from being trusted.
fn damage(recs: &[serde_json::Value]) -> String {
    recs[0]["damage"]
        .as_array()
        .map(|d| {
            d.iter()
                .filter_map(|x| x.as_str())
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

#[test]
fn an_empty_window_is_said_not_analysed() {
    let c = Case::new();
    let p = c.dir.path().join("empty.trace");
    custom_trace(&p, T0, &[], T0 + 10 * S);
    let r = c.analyze(&p, &["--format", "json"]);
    // never "nothing abnormal" about a window with nothing in it
    assert_eq!(r.code, 2, "{}", r.stderr);
    let recs = records(&r.stdout);
    assert_eq!(recs[0]["verdict"], "inconclusive");
    assert!(damage(&recs).contains("holds no events"), "{}", r.stdout);
    assert!(warnings(&recs).join("\n").contains("holds no syscalls"));
}

#[test]
fn a_normal_part_with_nothing_in_it_is_said_so() {
    let c = Case::new();
    // the server starts 20 s after the capture
    let events = events(&Scenario::default());
    let p = c.dir.path().join("late.trace");
    custom_trace(&p, T0 - 20 * S, &events, T0 + 60 * S);
    let r = c.analyze(
        &p,
        &[
            "--normal",
            "0..15",
            "--abnormal",
            "60..80",
            "--format",
            "json",
        ],
    );
    let w = warnings(&records(&r.stdout)).join("\n");
    assert!(w.contains("normal part"), "{w}");
    assert!(w.contains("holds no syscalls"), "{w}");
}

#[test]
fn a_process_exiting_in_the_window_is_said_so() {
    let c = Case::new();
    let mut events = events(&Scenario::default());
    events.retain(|e| e.ts() < T0 + 50 * S || matches!(e, Event::Mark { .. }));
    for tid in PID..PID + 9 {
        events.push(Event::Exit {
            ts: T0 + 50 * S,
            pid: PID,
            tid,
            code: 0,
        });
    }
    let p = c.dir.path().join("exit.trace");
    custom_trace(&p, T0, &events, T0 + 60 * S);
    let r = c.analyze(&p, &["--format", "json"]);
    let w = warnings(&records(&r.stdout)).join("\n");
    assert!(
        w.contains(&format!("process {PID} (demo-server) exited 10.0 s before")),
        "{w}"
    );
}

#[test]
fn lost_events_are_said_so() {
    let c = Case::new();
    let mut events = events(&Scenario::default());
    events.push(Event::Lost {
        ts: T0 + 45 * S,
        cpu: 1,
        count: 1234,
    });
    events.sort_by_key(Event::ts);
    let p = c.dir.path().join("lost.trace");
    custom_trace(&p, T0, &events, T0 + 60 * S);
    let r = c.analyze(&p, &["--format", "json"]);
    let recs = records(&r.stdout);
    assert_eq!(recs[0]["stats"]["lost"], 1234);
    assert!(
        damage(&recs).contains("1234 events were lost"),
        "{}",
        r.stdout
    );
    // the text report says it first
    let text = c.analyze(&p, &[]).stdout;
    assert!(
        text.starts_with("perfscope: cannot be trusted: 1234 events were lost"),
        "{text}"
    );
}

#[test]
fn a_database_of_another_target_is_refused_unless_forced() {
    let c = Case::new();
    let t = c.trace(&Scenario::default());
    let r = c.analyze(&t, &["--expect-target", "nginx"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("is for target \"demo-server\""),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("--force"), "{}", r.stderr);
    assert!(r.stdout.is_empty());
    let r = c.analyze(
        &t,
        &["--expect-target", "nginx", "--force", "--format", "json"],
    );
    assert_eq!(r.code, 1);
    let w = warnings(&records(&r.stdout)).join("\n");
    assert!(w.contains("--force"), "{w}");
}

#[test]
fn another_build_is_named_in_a_warning() {
    let c = Case::new();
    let p = c.dir.path().join("other-build.trace");
    write_trace(&p, &Scenario::default(), "0123456789abcdef");
    let r = c.analyze(&p, &["--format", "json"]);
    let w = warnings(&records(&r.stdout)).join("\n");
    assert!(
        w.contains("trained on build 5eed0f00d5ee of demo-server, running build 0123456789ab"),
        "{w}"
    );
}

#[test]
fn a_trace_cut_short_is_analysed_and_never_said_normal() {
    let c = Case::new();
    let t = c.trace(&Scenario::default());
    let bytes = std::fs::read(&t).unwrap();
    for share in [10, 50, 67, 90] {
        let cut = c.dir.path().join(format!("cut{share}.trace"));
        std::fs::write(&cut, &bytes[..bytes.len() * share / 100]).unwrap();
        let r = c.analyze(&cut, &["--format", "json"]);
        // findings (1) or inconclusive (2), never "nothing abnormal" (0)
        assert!(r.code == 1 || r.code == 2, "cut at {share} %: {}", r.stderr);
        let recs = records(&r.stdout);
        let d = damage(&recs);
        assert!(
            d.contains("the window's trace is damaged"),
            "cut at {share} %: {d}"
        );
    }
}

#[test]
fn bad_files_and_times_are_errors_with_a_reason() {
    let c = Case::new();
    let t = c.trace(&Scenario::default());
    let r = c.analyze(Path::new("/nonexistent.trace"), &[]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("/nonexistent.trace"), "{}", r.stderr);
    let r = c.analyze(&t, &["--at-mark", "nope"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("marks: alarm, trigger"), "{}", r.stderr);
    let r = c.analyze(&t, &["--normal", "500..600"]);
    assert_eq!(r.code, 2);
    let junk = c.dir.path().join("junk.sigdb");
    std::fs::write(&junk, b"not a database").unwrap();
    let r = perfscope(&[
        "analyze",
        "--db",
        junk.to_str().unwrap(),
        t.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("signature database"), "{}", r.stderr);
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    let r = perfscope(&[
        "analyze",
        "--db",
        c.db().to_str().unwrap(),
        junk.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 2);
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
}

/// The JSON Lines records are exactly the report format's (`report::v2`): each line reads
/// as a record of the format and writes back byte for byte, so no field outside the
/// format's types exists; every record type shows up. (Field values: tests/tests/golden.rs.)
#[test]
fn json_records_are_the_report_format() {
    let c = Case::new();
    let mut seen = std::collections::BTreeSet::new();
    for bug in [Bug::SlowFlush, Bug::Hang] {
        let t = c.trace(&Scenario {
            bug,
            ..Scenario::default()
        });
        // a forced target mismatch makes a warning record too
        let r = c.analyze(&t, &["--format", "json", "--expect-target", "x", "--force"]);
        report::read_json_lines(&r.stdout).expect("a report in the documented format");
        for line in r.stdout.lines() {
            let rec: report::v2::Record = serde_json::from_str(line).unwrap();
            assert_eq!(rec.to_json(), line, "a field outside the format");
            use report::v2::Record as R;
            seen.insert(match rec {
                R::Report(_) => "report",
                R::Function(_) => "function",
                R::Evidence(_) => "evidence",
                R::Step(_) => "step",
                R::Warning(_) => "warning",
            });
        }
    }
    assert_eq!(
        seen.into_iter().collect::<Vec<_>>(),
        ["evidence", "function", "report", "step", "warning"],
    );
}
