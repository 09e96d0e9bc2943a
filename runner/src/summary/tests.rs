//! The summary from a hand-made plan and recording.

use std::path::PathBuf;
use std::time::Duration;

use symbols::{EntryInsn, FunctionSym, FunctionTable, SymClass, SyscallReach};

use super::*;
use crate::plan::{PlanOptions, plan_tables};

fn plan() -> Plan {
    let sym = |name: &str, entry, vaddr| FunctionSym {
        name: name.into(),
        linkage_name: None,
        class: SymClass::App,
        decl_file: None,
        decl_line: None,
        vaddr,
        size: 8,
        file_offset: vaddr,
        probe_offset: vaddr,
        entry,
        syscalls: SyscallReach::Unknown,
    };
    let table = FunctionTable {
        path: PathBuf::from("/bin/srv"),
        build_id: None,
        pie: true,
        has_dwarf: true,
        functions: vec![
            sym("main", EntryInsn::Emulated, 0x100),
            sym("hot_ss", EntryInsn::SingleStep, 0x200),
            sym("cold_ss", EntryInsn::SingleStep, 0x300),
            sym("never", EntryInsn::SingleStep, 0x400),
        ],
    };
    plan_tables(&[table], &PlanOptions::default()).unwrap()
}

fn recording(counts: Vec<(u32, u64)>, wall_s: u64, status: ExitStatus) -> Recording {
    Recording {
        muted: Vec::new(),
        mute_rounds: (0, Duration::ZERO),
        status,
        interrupted: None,
        stats: capture::Stats {
            functions_hit: counts.len() as u32,
            syscalls: 42,
            lost: 0,
            ..capture::Stats::default()
        },
        mode: CaptureMode::Full,
        trace_bytes: 3 << 20,
        events_written: 99,
        wall: Duration::from_secs(wall_s),
        setup: Duration::from_millis(30),
        attach: Duration::from_millis(10),
        finish: Duration::from_millis(50),
        invocations: counts,
        notes: vec!["a note".into()],
        jvm: None,
    }
}

#[test]
fn hot_single_stepped_functions_are_named_and_may_trigger_the_hint() {
    let p = plan();
    // 100,000 single-stepped calls × 10 µs = 1 s of a 10 s run: 10 %, above the 5 % bar.
    let rec = recording(
        vec![(0, 1), (1, 90_000), (2, 10_000)],
        10,
        ExitStatus::Exited(0),
    );
    let s = Summary::new("t.trace".into(), Some(&p), &rec, "nobody".into(), 0);
    assert_eq!(
        s.hot_single_step,
        [("hot_ss".to_string(), 90_000), ("cold_ss".into(), 10_000)]
    );
    assert_eq!(s.single_step_invocations, 100_000);
    assert_eq!(s.invocations, 100_001);
    assert_eq!(s.single_step_probed, 3);
    assert!(s.suggest_skip);
    let text = s.to_text();
    assert!(text.contains("--skip-single-step"), "{text}");
    assert!(text.contains("hot_ss 90000"), "{text}");
    assert!(text.contains("note: a note"), "{text}");
    assert!(text.contains("3.0 MiB"), "{text}");

    // The same calls over 100 s are 1 %: no hint.
    let rec = recording(vec![(1, 90_000), (2, 10_000)], 100, ExitStatus::Exited(0));
    let s = Summary::new("t.trace".into(), Some(&p), &rec, "nobody".into(), 0);
    assert!(!s.suggest_skip);
    assert!(!s.to_text().contains("hint"));
}

#[test]
fn json_has_the_numbers_and_the_exit() {
    let p = plan();
    let rec = recording(vec![(0, 7)], 2, ExitStatus::Signaled(11));
    let s = Summary::new("t.trace".into(), Some(&p), &rec, "nobody".into(), 139);
    let v: serde_json::Value = serde_json::from_str(&s.to_json()).unwrap();
    assert_eq!(v["type"], "summary");
    assert_eq!(v["version"], SUMMARY_VERSION);
    assert_eq!(v["functions_probed"], 4);
    assert_eq!(v["functions_hit"], 1);
    assert_eq!(v["syscalls"], 42);
    assert_eq!(v["events"], 99);
    assert_eq!(v["lost"], 0);
    assert_eq!(v["trace_bytes"], 3 << 20);
    assert_eq!(v["command_signal"], 11);
    assert!(v["command_exit_code"].is_null());
    assert_eq!(v["exit_code"], 139);
    assert_eq!(v["hot_single_step"].as_array().unwrap().len(), 0);
    assert!(s.to_text().contains("killed by SIGSEGV"));
}

#[test]
fn syscalls_only_says_so() {
    let mut rec = recording(vec![], 1, ExitStatus::Exited(3));
    rec.mode = CaptureMode::SyscallsOnly;
    rec.stats.lost = 17;
    let s = Summary::new("t.trace".into(), None, &rec, "alice".into(), 3);
    let text = s.to_text();
    assert!(text.contains("syscalls only"), "{text}");
    assert!(text.contains("17 (ring buffer full"), "{text}");
    assert!(text.contains("exited with 3"), "{text}");
    assert_eq!(s.functions_probed, 0);
}

#[test]
fn a_jvm_run_counts_methods_apart() {
    let mut rec = recording(vec![(0, 5)], 1, ExitStatus::Exited(0));
    rec.jvm = Some(crate::jvm::JvmCoverage {
        processes: 2,
        methods: 400,
        leaves: 50,
        hit: 100,
        invocations: 12345,
        never_loaded: 70,
    });
    let s = Summary::new("t.trace".into(), None, &rec, "alice".into(), 0);
    let text = s.to_text();
    assert!(text.contains("no native code (JVM only)"), "{text}");
    assert!(
        text.contains(
            "400 instrumented in 2 JVMs (50 leaves left out), 100 hit (25.0 %), 12345 \
             invocations; 70 methods of classes never loaded"
        ),
        "{text}"
    );
    let v: serde_json::Value = serde_json::from_str(&s.to_json()).unwrap();
    assert_eq!(v["jvm"]["methods_hit"], 100);
    assert_eq!(v["jvm"]["processes"], 2);
    assert_eq!(v["jvm"]["methods_never_loaded"], 70);
    let plain = Summary::new(
        "t.trace".into(),
        None,
        &recording(vec![], 1, ExitStatus::Exited(0)),
        "a".into(),
        0,
    );
    assert!(serde_json::from_str::<serde_json::Value>(&plain.to_json()).unwrap()["jvm"].is_null());
}
