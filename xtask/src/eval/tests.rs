//! Tests of the eval command: case runs against fake servers and a fake perfscope.

use super::*;
use crate::timeline::tests::{fake_case, fake_perfscope, fast_limits, report, server_script};

/// Databases and trees from a table; a missing tree is a build failure.
struct Stub {
    trees: BTreeMap<String, PathBuf>,
    calls: Vec<String>,
}

impl Provider for Stub {
    fn sigdb(&mut self, case: &Case) -> anyhow::Result<PathBuf> {
        self.calls.push(format!("sigdb {}", case.id()));
        Ok(PathBuf::from("/db/fake.sigdb"))
    }
    fn tree(&mut self, case: &Case) -> anyhow::Result<PathBuf> {
        self.calls.push(format!("tree {}", case.id()));
        self.trees
            .get(case.id())
            .cloned()
            .with_context(|| format!("build.steps[1] of {} failed (exit status 2)", case.id()))
    }
}

#[test]
fn failing_cases_do_not_stop_the_others() {
    let tmp = tempfile::tempdir().unwrap();
    let perfscope = fake_perfscope(tmp.path(), &report(&["x", "y", "culprit.part.0"]), 1);
    let cases = tmp.path().join("cases");
    let a = fake_case(&cases, "A-1", &server_script(false, false), &["culprit"]);
    let b = fake_case(&cases, "B-1", &server_script(false, false), &["culprit"]);
    let c = fake_case(&cases, "C-1", &server_script(false, false), &["nowhere"]);
    let broken = cases.join("D-1");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::write(broken.join("case.toml"), "id = \"D-1\"\n").unwrap();
    let dirs = case::discover(&[cases]).unwrap();
    assert_eq!(dirs, [a.clone(), b, c.clone(), broken]);

    let mut stub = Stub {
        trees: [("A-1", &a), ("C-1", &c)]
            .into_iter()
            .map(|(id, d)| (id.to_string(), d.clone()))
            .collect(),
        calls: Vec::new(),
    };
    let eval_dir = tmp.path().join("eval");
    let results = run_cases(
        &dirs,
        &mut stub,
        &perfscope,
        &fast_limits(),
        &eval_dir,
        1,
        &Progress::silent(),
    );
    assert_eq!(
        stub.calls,
        [
            "sigdb A-1",
            "tree A-1",
            "sigdb B-1",
            "tree B-1",
            "sigdb C-1",
            "tree C-1"
        ]
    );
    let ids: Vec<&str> = results.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["A-1", "B-1", "C-1", "D-1"]);

    let a = &results[0];
    assert!(a.is_ok(), "{:?}", a.error);
    assert_eq!(a.rank, Some(3));
    assert_eq!(a.matched.as_deref(), Some("culprit.part.0"));
    assert_eq!(a.list_len, Some(3));
    assert_eq!(a.total_functions, Some(200));
    assert_eq!(a.events, Some(4321));
    assert_eq!(a.lost, Some(2));
    assert_eq!(a.analysis_seconds, Some(0.25));
    assert_eq!(a.server_killed, Some(false));
    assert_eq!(a.logs, Some(eval_dir.join("A-1/logs")));

    let b = &results[1];
    assert!(!b.is_ok());
    assert!(
        b.error
            .as_deref()
            .unwrap()
            .contains("build.steps[1] of B-1 failed")
    );
    assert_eq!(b.rank, None);

    let c = &results[2];
    assert!(c.is_ok());
    assert_eq!(c.rank, None, "a miss");

    let d = &results[3];
    assert!(!d.is_ok());
    assert!(d.error.as_deref().unwrap().contains("not a valid case"));

    let s = summarize(&results);
    assert_eq!((s.cases, s.scored, s.errors, s.hits), (4, 2, 2, 1));
    assert_eq!(s.top1, 0.0);
    assert_eq!(s.top5, 0.5);
    assert!((s.mrr - (1.0 / 3.0) / 2.0).abs() < 1e-12);
    assert_eq!(s.median_scope, Some(0.015));

    // JSON: the fields the issue names, null for misses and errors
    let doc = json(&results, &s);
    assert_eq!(doc["type"], "eval");
    let cases = doc["cases"].as_array().unwrap();
    assert_eq!(cases[0]["id"], "A-1");
    assert_eq!(cases[0]["rank"], 3);
    assert_eq!(cases[0]["list_len"], 3);
    assert_eq!(cases[0]["total_functions"], 200);
    assert_eq!(cases[0]["analysis_seconds"], 0.25);
    assert_eq!(cases[0]["events"], 4321);
    assert_eq!(cases[0]["lost"], 2);
    assert!(cases[1]["rank"].is_null() && cases[1]["status"] == "error");
    assert!(cases[2]["rank"].is_null() && cases[2]["status"] == "ok");
    assert_eq!(doc["summary"]["top5"], 0.5);
    assert_eq!(doc["summary"]["errors"], 2);

    let text = render_text(&results, &s);
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("case") && lines[0].ends_with("lost"),
        "{text}"
    );
    assert!(
        lines[1].starts_with("A-1") && lines[1].contains(" 3 "),
        "{text}"
    );
    assert!(
        lines[2].starts_with("C-1") && lines[2].contains("miss"),
        "{text}"
    );
    assert!(lines[3].starts_with("B-1  error: "), "{text}");
    assert!(
        text.contains("4 cases: 2 scored, 2 errors; culprit found in 1 of 2"),
        "{text}"
    );
    assert!(
        text.contains("top-1 0.0 %  top-5 50.0 %  MRR 0.167  median scope 1.50 %"),
        "{text}"
    );
}

#[test]
fn duplicate_ids_are_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let perfscope = fake_perfscope(tmp.path(), &report(&[]), 0);
    let one = fake_case(
        &tmp.path().join("x"),
        "SAME",
        &server_script(false, false),
        &["f"],
    );
    let two = fake_case(
        &tmp.path().join("y"),
        "SAME",
        &server_script(false, false),
        &["f"],
    );
    let mut stub = Stub {
        trees: [("SAME".to_string(), one.clone())].into_iter().collect(),
        calls: Vec::new(),
    };
    let results = run_cases(
        &[one, two],
        &mut stub,
        &perfscope,
        &fast_limits(),
        &tmp.path().join("eval"),
        1,
        &Progress::silent(),
    );
    assert!(results[0].is_ok(), "{:?}", results[0].error);
    assert_eq!(results[0].verdict.as_deref(), Some("normal"));
    assert_eq!(results[0].list_len, Some(0));
    assert!(
        results[1]
            .error
            .as_deref()
            .unwrap()
            .contains("duplicate case id SAME")
    );
}

/// Turns a fake case into a healthy one: no culprits.
fn make_healthy(case: &Path) {
    let toml = case.join("case.toml");
    let text = std::fs::read_to_string(&toml).unwrap();
    let text = text.replace("kind = \"hang\"", "kind = \"healthy\"");
    let at = text.find("culprits = ").unwrap();
    let end = at + text[at..].find('\n').unwrap();
    std::fs::write(
        &toml,
        format!("{}culprits = []{}", &text[..at], &text[end..]),
    )
    .unwrap();
}

#[test]
fn repeated_runs_give_a_spread_and_healthy_cases_count_false_alarms() {
    let tmp = tempfile::tempdir().unwrap();
    let perfscope = fake_perfscope(tmp.path(), &report(&["x", "culprit"]), 1);
    let cases = tmp.path().join("cases");
    let bug = fake_case(&cases, "B-1", &server_script(false, false), &["culprit"]);
    let healthy = fake_case(&cases, "H-1", &server_script(false, false), &[]);
    make_healthy(&healthy);
    let mut stub = Stub {
        trees: [("B-1", &bug), ("H-1", &healthy)]
            .into_iter()
            .map(|(id, d)| (id.to_string(), d.clone()))
            .collect(),
        calls: Vec::new(),
    };
    let eval_dir = tmp.path().join("eval");
    let results = run_cases(
        &[bug, healthy],
        &mut stub,
        &perfscope,
        &fast_limits(),
        &eval_dir,
        2,
        &Progress::silent(),
    );
    let (b, h) = (&results[0], &results[1]);
    assert!(b.is_ok() && h.is_ok(), "{:?} {:?}", b.error, h.error);
    assert_eq!(b.runs.len(), 2);
    assert_eq!(b.logs, Some(eval_dir.join("B-1/run-1/logs")));
    assert_eq!(b.runs[1].logs, Some(eval_dir.join("B-1/run-2/logs")));
    assert_eq!(
        b.spread,
        Some(Spread {
            min: Some(2),
            median: Some(2),
            max: Some(2)
        })
    );
    assert_eq!(b.same_top1, Some(true));
    // the fake perfscope always finds something: both healthy runs are false alarms
    assert!(h.healthy);
    assert_eq!(h.false_alarms, Some(2));

    let s = summarize(&results);
    assert_eq!((s.scored, s.bug_runs, s.healthy_runs), (4, 2, 2));
    assert_eq!(s.top5, 1.0);
    assert_eq!(s.false_alarm_rate, Some(1.0));
    let text = render_text(&results, &s);
    assert!(text.contains("rank min/med/max"), "{text}");
    assert!(text.contains("2/2/2 ="), "{text}");
    assert!(text.contains("ALARM 2/2"), "{text}");
    assert!(
        text.contains("false alarms 2 of 2 healthy runs (100.0 %)"),
        "{text}"
    );
    assert!(
        text.contains("same top-1 in every run: 1 of 1 bug cases"),
        "{text}"
    );
}
