//! Tests of scoring: culprit matching and the summary.

use super::*;

fn check_match(ranked: &str, culprit: &str, expected: bool) {
    assert_eq!(
        matches_culprit(ranked, culprit),
        expected,
        "{ranked:?} vs culprit {culprit:?}"
    );
}

#[test]
fn culprit_names() {
    // C: equal, clones
    check_match("heap_insert", "heap_insert", true);
    check_match("heap_insert.constprop.0", "heap_insert", true);
    check_match(
        "connection_handle_write.cold",
        "connection_handle_write",
        true,
    );
    check_match(
        "slab_rebalance_thread.isra.0",
        "slab_rebalance_thread",
        true,
    );
    check_match("heap_insert_batch", "heap_insert", false);
    check_match("heap_insert", "heap_insert_batch", false);
    check_match("insert", "heap_insert", false);
    // C++: last segment without parameters and template arguments, qualified culprits
    check_match("ns::Conn::write(int, char const*) const", "write", true);
    check_match("ns::Conn::write(int)", "Conn::write", true);
    check_match("ns::Conn::write(int)", "Other::write", false);
    check_match(
        "std::vector<std::pair<int, int>>::push_back(int&&)",
        "push_back",
        true,
    );
    check_match("ns::run<std::string>(std::string const&)", "run", true);
    check_match("(anonymous namespace)::flush(Buf*)", "flush", true);
    check_match(
        "ns::Conn::write(std::map<int, int>::iterator)",
        "iterator",
        false,
    );
    check_match("Big::operator<(Big const&) const", "operator<", true);
    check_match("Big::operator()(int)", "operator()", true);
    check_match("Big::operator()(int)", "Big", false);
    check_match("my_operator(int)", "my_operator", true);
    // Rust: legacy hashes and closures
    check_match("server::conn::handle::h0123456789abcdef", "handle", true);
    check_match("server::conn::handle::{{closure}}", "handle", true);
    check_match("server::conn::handle::{closure#0}", "conn::handle", true);
    check_match("<server::Conn as std::io::Write>::write", "write", true);
    // Java: simple or qualified class, nested classes, the method alone, parameters
    let append = "org.apache.hadoop.hdfs.server.datanode.fsdataset.impl.FsDatasetImpl.append";
    check_match(append, "FsDatasetImpl.append", true);
    check_match(append, "append", true);
    check_match(append, append, true);
    check_match(append, "fsdataset.impl.FsDatasetImpl.append", true);
    check_match(append, "OtherImpl.append", false);
    check_match(append, "Impl.append", false);
    check_match(append, "FsDatasetImpl", false);
    let wait =
        "org.apache.hadoop.hdfs.server.datanode.BlockReceiver$PacketResponder.waitForAckHead";
    check_match(wait, "PacketResponder.waitForAckHead", true);
    check_match(wait, "BlockReceiver$PacketResponder.waitForAckHead", true);
    check_match(wait, "BlockReceiver.PacketResponder.waitForAckHead", true);
    check_match(wait, "BlockReceiver.waitForAckHead", false);
    check_match("org.x.Shard.put(java.lang.Object)", "Shard.put", true);
    check_match("org.x.Cls.<clinit>", "Cls.<clinit>", true);
    check_match("org.x.Cls.lambda$run$0", "run", false);
    check_match("Main.run", "run", true);
    // a C clone is not a Java name
    check_match("put.constprop.0", "constprop", false);
    check_match("", "write", false);
    check_match("write", "", false);
}

#[test]
fn the_first_culprit_in_the_ranking() {
    let ranking: Vec<String> = [
        "epoll_loop",
        "connection_handle_write.cold",
        "connection_state_machine_loop",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let culprits = vec![
        "connection_state_machine_loop".to_string(),
        "connection_handle_write".to_string(),
    ];
    assert_eq!(
        first_culprit(&ranking, &culprits),
        Some((2, "connection_handle_write.cold".to_string()))
    );
    assert_eq!(first_culprit(&ranking, &["nothing".to_string()]), None);
    assert_eq!(first_culprit(&[], &culprits), None);
}

fn report_lines(functions: &[(usize, &str)]) -> String {
    let mut s = serde_json::json!({
        "type": "report", "version": 1, "verdict": "findings", "alarm": "socket",
        "alarm_ts": 5, "window": {"start": 1, "end": 5}, "onset": null,
        "database": {"target": "lighttpd", "version": "1.4.69", "functions": 769, "with_signatures": 97},
        "listed": functions.len(), "scope": functions.len() as f64 / 769.0,
        "stats": {"syscalls": 12345, "threads": 1, "units": 10, "patterns": 3, "clusters": 2, "lost": 7, "analysis_ms": 412.5}
    })
    .to_string();
    s.push('\n');
    for (rank, name) in functions {
        s.push_str(
            &serde_json::json!({"type": "function", "rank": rank, "name": name, "score": 1.0, "reasons": []})
                .to_string(),
        );
        s.push('\n');
    }
    s.push_str("{\"type\":\"evidence\",\"id\":0}\n{\"type\":\"warning\",\"message\":\"x\"}\n");
    s
}

#[test]
fn reports_parse() {
    // function records out of order are put in rank order
    let r = parse_report(&report_lines(&[(2, "b"), (1, "a"), (3, "c")])).unwrap();
    assert_eq!(r.ranking, ["a", "b", "c"]);
    assert_eq!(r.verdict, "findings");
    assert_eq!(r.total_functions, 769);
    assert_eq!(r.listed, 3);
    assert!((r.scope - 3.0 / 769.0).abs() < 1e-12);
    assert_eq!(r.syscalls, 12345);
    assert_eq!(r.lost, 7);
    assert_eq!(r.analysis_ms, 412.5);

    let normal = parse_report(&report_lines(&[])).unwrap();
    assert!(normal.ranking.is_empty());
    assert_eq!(normal.listed, 0);

    assert!(format!("{:#}", parse_report("").unwrap_err()).contains("no report record"));
    assert!(format!("{:#}", parse_report("{nope").unwrap_err()).contains("line 1"));
    let v2 = report_lines(&[])
        .replace("\"version\":1", "\"version\":2")
        .replace("\"verdict\":\"findings\"", "\"verdict\":\"inconclusive\"");
    assert_eq!(parse_report(&v2).unwrap().verdict, "inconclusive");
    assert_eq!(normal.strength, None);
    // version 2, with how sure the analysis was
    let v2 = report_lines(&[(1, "a")]).replacen(
        "\"version\":1",
        "\"version\":2,\"confidence\":{\"strength\":2.5,\"threshold\":1.0,\"level\":\"high\"}",
        1,
    );
    let r2 = parse_report(&v2).unwrap();
    assert_eq!(r2.strength, Some((2.5, 1.0)));
    assert_eq!(r2.ranking, ["a"]);
    let v3 = report_lines(&[]).replace("\"version\":1", "\"version\":3");
    assert!(format!("{:#}", parse_report(&v3).unwrap_err()).contains("version 3"));
    let twice = report_lines(&[]).repeat(2);
    assert!(parse_report(&twice).is_err());
}

fn point(rank: Option<usize>, scope: f64, secs: f64) -> Point {
    Point {
        healthy: false,
        alarmed: true,
        rank,
        scope,
        analysis_seconds: secs,
    }
}

#[test]
fn summary_math() {
    let points = [
        point(Some(1), 0.01, 0.5),
        point(Some(3), 0.04, 1.5),
        point(None, 0.0, 0.2),
        point(Some(7), 0.02, 0.9),
    ];
    let s = summarize(&points, 2);
    assert_eq!(s.cases, 6);
    assert_eq!(s.scored, 4);
    assert_eq!(s.errors, 2);
    assert_eq!(s.hits, 3);
    assert_eq!(s.top1, 0.25);
    assert_eq!(s.top5, 0.5);
    let mrr = (1.0 + 1.0 / 3.0 + 0.0 + 1.0 / 7.0) / 4.0;
    assert!((s.mrr - mrr).abs() < 1e-12);
    assert_eq!(s.median_scope, Some(0.015));
    assert_eq!(s.median_analysis_seconds, Some(0.7));
    assert_eq!(s.max_analysis_seconds, Some(1.5));

    let odd = summarize(&points[..3], 0);
    assert_eq!(odd.median_scope, Some(0.01));
    let empty = summarize(&[], 3);
    assert_eq!(empty.cases, 3);
    assert_eq!(empty.top1, 0.0);
    assert_eq!(empty.mrr, 0.0);
    assert_eq!(empty.median_scope, None);
    assert_eq!(empty.false_alarm_rate, None);
    assert_eq!(median(vec![]), None);
    assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
}

#[test]
fn healthy_runs_count_false_alarms_and_nothing_else() {
    let healthy = |alarmed| Point {
        healthy: true,
        alarmed,
        rank: None,
        scope: 0.5,
        analysis_seconds: 3.0,
    };
    let points = [
        point(Some(1), 0.01, 0.5),
        point(Some(2), 0.03, 0.5),
        healthy(false),
        healthy(true),
        healthy(false),
        healthy(false),
    ];
    let s = summarize(&points, 0);
    assert_eq!((s.scored, s.bug_runs, s.healthy_runs), (6, 2, 4));
    assert_eq!((s.hits, s.false_alarms), (2, 1));
    assert_eq!(s.false_alarm_rate, Some(0.25));
    // the healthy runs' misses and scopes do not dilute the bug cases' numbers
    assert_eq!(s.top1, 0.5);
    assert_eq!(s.top5, 1.0);
    assert!((s.mrr - 0.75).abs() < 1e-12);
    assert_eq!(s.median_scope, Some(0.02));
    assert_eq!(s.max_analysis_seconds, Some(3.0));
}

#[test]
fn rank_spread_puts_misses_last() {
    let sp = |r: &[Option<usize>]| {
        let s = spread(r);
        (s.min, s.median, s.max)
    };
    assert_eq!(
        sp(&[Some(3), Some(1), Some(2)]),
        (Some(1), Some(2), Some(3))
    );
    assert_eq!(sp(&[None, Some(1), None]), (Some(1), None, None));
    assert_eq!(sp(&[Some(4), None]), (Some(4), Some(4), None));
    assert_eq!(sp(&[None]), (None, None, None));
    assert_eq!(sp(&[]), (None, None, None));
}
