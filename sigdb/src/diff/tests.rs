//! Unit tests of the diff model: matching, episode changes, tolerance, symmetry.

use std::collections::BTreeMap;

use super::*;
use crate::{Coverage, Header, ObjectRef, Params, Target, Training};

fn header() -> Header {
    Header {
        format: String::new(),
        version: 0,
        target: Target {
            name: "t".into(),
            version: "1".into(),
            objects: vec![ObjectRef {
                path: "/bin/t".into(),
                build_id: Some("aa".into()),
            }],
        },
        training: Training {
            tool: "perfscope-trainer 0.1.0".into(),
            params: Params {
                callers: 0,
                max_episode_len: 4,
                expiry_ns: None,
                min_support: 0.5,
                min_invocations: 1,
                max_episodes: 8,
                app_classes: vec![Class::App],
                min_coverage: 0.25,
                selection: "closed".into(),
                outside_gap_ns: 10_000_000,
                max_candidates: 20_000,
                min_evidence: crate::DEFAULT_MIN_EVIDENCE,
            },
            traces: vec![],
        },
        coverage: Coverage::default(),
        records: 0,
        checksum: String::new(),
    }
}

/// `eps`: `("read>write", support)`, over 1000 invocations (enough evidence, so that the
/// noise model lets changes of a tenth through).
fn rec(name: &str, file: Option<&str>, eps: &[(&str, f64)]) -> Record {
    rec_n(name, file, 1000, eps)
}

fn rec_n(name: &str, file: Option<&str>, n: u64, eps: &[(&str, f64)]) -> Record {
    Record {
        name: name.into(),
        file: file.map(str::to_string),
        line: None,
        linkage_name: None,
        object: "t".into(),
        class: Class::App,
        invocations: n,
        invocations_with_syscalls: n,
        syscalls: 20,
        profile: BTreeMap::new(),
        inclusive: BTreeMap::new(),
        threads: BTreeMap::new(),
        ranges: vec![],
        episodes: eps
            .iter()
            .map(|(ev, s)| Episode {
                events: ev.split('>').map(str::to_string).collect(),
                occurrences: (s * n as f64).round() as u64,
                invocations: n,
                support: *s,
                weight: 1.0,
                sumsq: None,
            })
            .collect(),
        descriptor: None,
    }
}

fn db(records: Vec<Record>) -> Sigdb {
    Sigdb::new(header(), records)
}

fn names(list: &[FunctionSummary]) -> Vec<String> {
    list.iter()
        .map(|f| format!("{}@{}", f.name, f.file.as_deref().unwrap_or("")))
        .collect()
}

fn events(list: &[EpisodeSummary]) -> Vec<String> {
    list.iter().map(|e| e.events.join(">")).collect()
}

#[test]
fn identical_databases_have_no_diff() {
    let a = db(vec![
        rec("f", Some("a.c"), &[("read>write", 1.0)]),
        rec("g", None, &[]),
    ]);
    let d = diff(&a, &a.clone());
    assert!(d.is_empty(), "{d:?}");
    assert!(!d.differs());
}

#[test]
fn added_and_removed_functions() {
    let a = db(vec![
        rec("f", Some("a.c"), &[]),
        rec("gone", Some("a.c"), &[]),
    ]);
    let b = db(vec![
        rec("f", Some("a.c"), &[]),
        rec("zeta", Some("z.c"), &[("read", 1.0)]),
        rec("new", None, &[]),
    ]);
    let d = diff(&a, &b);
    assert_eq!(names(&d.added), ["new@", "zeta@z.c"]);
    assert_eq!(names(&d.removed), ["gone@a.c"]);
    assert_eq!(events(&d.added[1].episodes), ["read"]);
    assert!(d.moved.is_empty() && d.changed.is_empty());
    assert!(d.differs());
}

#[test]
fn a_lone_function_in_another_file_moved() {
    let a = db(vec![rec("f", Some("old.c"), &[("read", 1.0)])]);
    let b = db(vec![rec("f", Some("new.c"), &[("read", 1.0)])]);
    let d = diff(&a, &b);
    assert!(d.added.is_empty() && d.removed.is_empty(), "{d:?}");
    assert_eq!(
        d.moved,
        [Moved {
            name: "f".into(),
            from: Some("old.c".into()),
            to: Some("new.c".into()),
        }]
    );
    // a move alone is no signature change of the function
    assert!(d.changed.is_empty());
    assert!(d.differs());
}

#[test]
fn a_function_that_gained_its_file_moved_and_its_changes_are_kept() {
    let a = db(vec![rec("f", None, &[("read", 1.0)])]);
    let b = db(vec![rec("f", Some("f.c"), &[("write", 1.0)])]);
    let d = diff(&a, &b);
    assert_eq!(d.moved.len(), 1);
    assert_eq!(d.moved[0].from, None);
    assert_eq!(d.changed.len(), 1);
    assert_eq!(events(&d.changed[0].episodes_added), ["write"]);
    assert_eq!(events(&d.changed[0].episodes_removed), ["read"]);
}

#[test]
fn same_name_in_several_files_is_not_a_move() {
    // two `init`s on the old side: which one went to c.c is a guess, so no move
    let a = db(vec![
        rec("init", Some("a.c"), &[]),
        rec("init", Some("b.c"), &[]),
    ]);
    let b = db(vec![
        rec("init", Some("a.c"), &[]),
        rec("init", Some("c.c"), &[]),
    ]);
    let d = diff(&a, &b);
    assert!(d.moved.is_empty());
    assert_eq!(names(&d.added), ["init@c.c"]);
    assert_eq!(names(&d.removed), ["init@b.c"]);
    // and two on the new side for one on the old
    let a = db(vec![rec("init", Some("a.c"), &[])]);
    let b = db(vec![
        rec("init", Some("b.c"), &[]),
        rec("init", Some("c.c"), &[]),
    ]);
    let d = diff(&a, &b);
    assert!(d.moved.is_empty());
    assert_eq!(names(&d.added), ["init@b.c", "init@c.c"]);
    assert_eq!(names(&d.removed), ["init@a.c"]);
}

#[test]
fn episodes_are_matched_by_their_event_sequence() {
    let a = db(vec![rec(
        "f",
        None,
        &[("open>read>close", 1.0), ("read>write", 1.0), ("stat", 1.0)],
    )]);
    let b = db(vec![rec(
        "f",
        None,
        &[
            ("read>write", 1.0),
            // a sub-episode of open>read>close: new only when its support is not that one's
            ("open>read", 2.0),
            ("stat", 1.0),
            ("write>read", 1.0),
        ],
    )]);
    let d = diff(&a, &b);
    assert_eq!(d.changed.len(), 1);
    let c = &d.changed[0];
    // the new record's order for added, the old one's for removed
    assert_eq!(events(&c.episodes_added), ["open>read", "write>read"]);
    assert_eq!(events(&c.episodes_removed), ["open>read>close"]);
    assert!(c.support.is_empty() && c.class.is_none() && c.invocations.is_none());
    assert!(c.is_signature_change());
}

#[test]
fn a_repeated_episode_in_a_record_is_counted_once() {
    let a = db(vec![rec("f", None, &[("read", 1.0), ("read", 1.0)])]);
    let b = db(vec![rec("f", None, &[("write", 1.0), ("write", 1.0)])]);
    let c = &diff(&a, &b).changed[0];
    assert_eq!(events(&c.episodes_added), ["write"]);
    assert_eq!(events(&c.episodes_removed), ["read"]);
}

#[test]
fn support_changes_need_both_floors() {
    let opts = DiffOptions::default();
    // |Δ| ≥ 0.1 and |Δ| ≥ 25 % of the larger
    assert!(opts.support_changed(1.0, 1.5));
    assert!(opts.support_changed(1.0, 0.75)); // exactly 25 %
    assert!(!opts.support_changed(1.0, 0.8)); // 20 %
    assert!(!opts.support_changed(10.0, 10.5)); // 0.5 is 5 % of 10.5
    assert!(!opts.support_changed(0.02, 0.05)); // 60 % but |Δ| = 0.03
    assert!(!opts.support_changed(2.0, 2.0));
    let abs_only = DiffOptions {
        support_rel: 0.0,
        ..opts
    };
    // 0.6 - 0.5 is 0.0999…98 in binary: still counts as 0.1
    assert!(abs_only.support_changed(0.5, 0.6));
    assert!(!abs_only.support_changed(0.5, 0.59));
    let zero = DiffOptions {
        support_abs: 0.0,
        support_rel: 0.0,
        ..opts
    };
    assert!(zero.support_changed(0.5, 0.500001));
    assert!(!zero.support_changed(0.5, 0.5));
}

#[test]
fn support_changes_within_tolerance_are_not_reported() {
    let a = db(vec![rec(
        "f",
        None,
        &[("read", 1.0), ("write", 2.0), ("stat", 4.0)],
    )]);
    let b = db(vec![rec(
        "f",
        None,
        &[("read", 1.05), ("write", 3.0), ("stat", 3.5)],
    )]);
    let d = diff(&a, &b);
    let c = &d.changed[0];
    let got: Vec<_> = c
        .support
        .iter()
        .map(|s| (s.events.join(">"), s.old, s.new))
        .collect();
    assert_eq!(got, [("write".to_string(), 2.0, 3.0)]);
    // a looser tolerance hides it, a tighter one shows the others
    let loose = DiffOptions {
        support_abs: 1.5,
        ..DiffOptions::default()
    };
    assert!(diff_with(&a, &b, &loose).changed.is_empty());
    let tight = DiffOptions {
        support_abs: 0.01,
        support_rel: 0.01,
        z: 0.0,
        ..DiffOptions::default()
    };
    let all: Vec<String> = diff_with(&a, &b, &tight).changed[0]
        .support
        .iter()
        .map(|s| s.events.join(">"))
        .collect();
    assert_eq!(all, ["read", "write", "stat"]);
}

#[test]
fn class_change_is_a_signature_change() {
    let a = db(vec![rec("f", None, &[])]);
    let mut r = rec("f", None, &[]);
    r.class = Class::Crate;
    let d = diff(&a, &db(vec![r]));
    assert_eq!(
        d.changed[0].class,
        Some(Change {
            old: Class::App,
            new: Class::Crate
        })
    );
    assert!(d.differs());
}

#[test]
fn invocation_changes_are_reported_but_count_only_when_asked() {
    let a = db(vec![rec("f", None, &[("read", 1.0)])]);
    let mut r = rec("f", None, &[("read", 1.0)]);
    r.invocations = 1200;
    let b = db(vec![r]);
    let d = diff(&a, &b);
    assert_eq!(
        d.changed[0].invocations,
        Some(Change {
            old: 1000,
            new: 1200
        })
    );
    assert!(!d.differs());
    assert!(!d.is_empty());
    assert_eq!(d.uncounted_changes().count(), 1);
    let asked = DiffOptions {
        invocations: true,
        ..DiffOptions::default()
    };
    let d = diff_with(&a, &b, &asked);
    assert!(d.differs());
    assert_eq!(d.counted_changes().count(), 1);
}

#[test]
fn header_changes_are_listed_but_do_not_count() {
    let a = db(vec![rec("f", None, &[])]);
    let mut b = a.clone();
    b.header.target.version = "2".into();
    b.header.target.objects[0].build_id = Some("bb".into());
    b.header.target.objects.push(ObjectRef {
        path: "/lib/x.so".into(),
        build_id: None,
    });
    b.header.training.params.min_support = 0.6;
    b.header.training.tool = "perfscope-trainer 0.2.0".into();
    b.header.coverage.functions_hit = 3;
    let d = diff(&a, &b);
    let fields = |v: &[FieldChange]| v.iter().map(|f| f.field.clone()).collect::<Vec<_>>();
    assert_eq!(
        fields(&d.target),
        ["version", "objects", "build_id[/bin/t]"]
    );
    assert_eq!(d.target[2].old, "aa");
    assert_eq!(d.target[2].new, "bb");
    assert_eq!(fields(&d.params), ["tool", "min_support"]);
    assert_eq!(fields(&d.coverage), ["functions_hit"]);
    assert!(!d.differs());
}

#[test]
fn swapping_sides_mirrors_the_diff() {
    let a = db(vec![
        rec("f", Some("a.c"), &[("read", 1.0), ("write", 2.0)]),
        rec("g", Some("g.c"), &[("stat", 1.0)]),
        rec("h", Some("h.c"), &[]),
        rec("m", Some("m1.c"), &[]),
    ]);
    let b = db(vec![
        rec("f", Some("a.c"), &[("read", 2.0), ("open", 1.0)]),
        rec("k", Some("k.c"), &[]),
        rec("m", Some("m2.c"), &[]),
    ]);
    let ab = diff(&a, &b);
    let ba = diff(&b, &a);
    assert_eq!(names(&ab.added), names(&ba.removed));
    assert_eq!(names(&ab.removed), names(&ba.added));
    assert_eq!(ab.moved[0].from, ba.moved[0].to);
    let (x, y) = (&ab.changed[0], &ba.changed[0]);
    assert_eq!(events(&x.episodes_added), events(&y.episodes_removed));
    assert_eq!(events(&x.episodes_removed), events(&y.episodes_added));
    let sup = |c: &FunctionChange| {
        c.support
            .iter()
            .map(|s| (s.events.clone(), s.old, s.new))
            .collect::<Vec<_>>()
    };
    let flipped: Vec<_> = sup(y).into_iter().map(|(e, o, n)| (e, n, o)).collect();
    assert_eq!(sup(x), flipped);
}

#[test]
fn the_diff_serializes_and_reads_back() {
    let a = db(vec![rec("f", None, &[("read", 1.0)]), rec("g", None, &[])]);
    let mut f = rec("f", Some("f.c"), &[("read", 2.0)]);
    f.class = Class::System;
    let b = db(vec![f, rec("h", None, &[])]);
    let d = diff(&a, &b);
    let json = serde_json::to_string(&d).unwrap();
    let back: Diff = serde_json::from_str(&json).unwrap();
    assert_eq!(back, d);
    assert!(
        json.contains("\"class\":{\"old\":\"app\",\"new\":\"system\"}"),
        "{json}"
    );
}

#[test]
fn the_same_code_built_in_two_folders_has_no_diff() {
    let at = |root: &str| {
        db(vec![
            rec(
                "main",
                Some(&format!("{root}/src/server.c")),
                &[("read", 1.0)],
            ),
            rec("log", Some(&format!("{root}/src/log.c")), &[("write", 1.0)]),
            // static functions of one name in two files stay apart
            rec("init", Some(&format!("{root}/src/a.c")), &[]),
            rec(
                "init",
                Some(&format!("{root}/src/mod/b.c")),
                &[("openat", 1.0)],
            ),
        ])
    };
    let d = diff(&at("/build/release/srv-1.0"), &at("/tmp/ci/local/srv-1.0"));
    assert!(d.is_empty(), "{d:?}");
    assert_eq!(source_root(&at("/x/srv").records), "/x/srv/src/");
}

#[test]
fn a_tree_whose_root_is_found_deeper_still_matches_its_files() {
    // the new release adds a file outside src/: its root is one folder up
    let a = db(vec![rec("f", Some("/a/srv/src/f.c"), &[("read", 1.0)])]);
    let b = db(vec![
        rec("f", Some("/b/srv/src/f.c"), &[("read", 1.0)]),
        rec("g", Some("/b/srv/lib/g.c"), &[]),
    ]);
    let d = diff(&a, &b);
    assert!(d.moved.is_empty(), "{d:?}");
    assert_eq!(names(&d.added), ["g@/b/srv/lib/g.c"]);
    // a real move is still one
    let c = db(vec![rec("f", Some("/c/srv/src/other.c"), &[("read", 1.0)])]);
    assert_eq!(diff(&a, &c).moved.len(), 1);
    assert!(!same_file("xf.c", "f.c"));
    assert!(same_file("src/f.c", "f.c"));
}

#[path = "noise_tests.rs"]
mod noise_tests;

#[test]
fn functions_on_one_side_count_only_with_a_signature() {
    // a generated class named anew by each run (no signature), code listed but never run
    let base = vec![rec("f", Some("a.c"), &[("read", 1.0)])];
    let mut a = base.clone();
    a.push(rec_n("Mock$x1.call", None, 0, &[]));
    let mut b = base;
    b.push(rec_n("Mock$y2.call", None, 1, &[]));
    let d = diff(&db(a.clone()), &db(b.clone()));
    assert_eq!((d.added.len(), d.removed.len()), (1, 1));
    assert!(!d.differs(), "{d:?}");
    // a function with a signature resting on enough invocations, on one side only: counts
    b.push(rec("g", Some("a.c"), &[("write", 1.0)]));
    assert!(diff(&db(a.clone()), &db(b.clone())).differs());
    assert!(diff(&db(b), &db(a)).differs());
}
