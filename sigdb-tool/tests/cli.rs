//! Drives the real `sigdb` binary: its reports (insta snapshots under tests/snapshots,
//! refreshed with `INSTA_UPDATE=always cargo test -p sigdb --test cli`) and its exit codes.

use testkit::sigdbs as common;

use std::path::Path;
use std::process::{Command, Output};

use common::{bytes, new_db, old_db, parts, raw};

/// A folder with `old.sigdb` and `new.sigdb`; commands run in it, so reports name the
/// files the same way on every machine.
struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        sigdb::write(&old_db(), &dir.path().join("old.sigdb")).unwrap();
        sigdb::write(&new_db(), &dir.path().join("new.sigdb")).unwrap();
        Fixture { dir }
    }

    fn put(&self, name: &str, content: &[u8]) {
        std::fs::write(self.dir.path().join(name), content).unwrap();
    }

    fn run(&self, args: &[&str]) -> Run {
        let out = Command::new(env!("CARGO_BIN_EXE_sigdb"))
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .unwrap();
        Run::from(out)
    }

    fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Run {
        let run = Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8(o.stdout).unwrap(),
            stderr: String::from_utf8(o.stderr).unwrap(),
        };
        assert!(
            !run.stderr.contains("panicked"),
            "the binary panicked: {}",
            run.stderr
        );
        run
    }
}

impl Run {
    fn expect(self, code: i32) -> Run {
        assert_eq!(
            self.code, code,
            "exit code\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

fn json_lines(s: &str) -> Vec<serde_json::Value> {
    s.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[test]
fn show_text() {
    let f = Fixture::new();
    let out = f.run(&["show", "old.sigdb"]).expect(0);
    insta::assert_snapshot!("show_text", out.stdout);
}

#[test]
fn show_text_of_one_function() {
    let f = Fixture::new();
    let out = f
        .run(&[
            "show",
            "old.sigdb",
            "--function",
            "handle_request",
            "--function",
            "init",
        ])
        .expect(0);
    // every record of a shared name is shown
    assert_eq!(out.stdout.matches("\ninit\n").count(), 2, "{}", out.stdout);
    insta::assert_snapshot!("show_text_function", out.stdout);
}

#[test]
fn show_json() {
    let f = Fixture::new();
    let out = f.run(&["show", "old.sigdb", "--format", "json"]).expect(0);
    let lines = json_lines(&out.stdout);
    assert_eq!(lines[0]["type"], "header");
    assert_eq!(
        lines[0]["schema"], 1,
        "the documented schema of `sigdb show --format json`"
    );
    assert_eq!(lines[0]["records"], old_db().records.len());
    assert_eq!(lines.len(), 1 + old_db().records.len());
    assert!(lines[1..].iter().all(|l| l["type"] == "function"));
    insta::assert_snapshot!("show_json", out.stdout);
}

#[test]
fn show_json_of_one_function() {
    let f = Fixture::new();
    let out = f
        .run(&[
            "show",
            "old.sigdb",
            "--format",
            "json",
            "--function",
            "handle_request",
        ])
        .expect(0);
    let lines = json_lines(&out.stdout);
    assert_eq!(lines.len(), 2);
    let h = &lines[1];
    assert_eq!(h["name"], "handle_request");
    assert_eq!(
        h["episodes"][1]["events"],
        serde_json::json!(["read", "write"])
    );
    assert_eq!(h["episodes"][1]["support"], 1.5);
    assert_eq!(h["syscalls_per_invocation"], 8.2);
}

#[test]
fn show_of_an_unknown_function_exits_1() {
    let f = Fixture::new();
    let out = f
        .run(&[
            "show",
            "old.sigdb",
            "--function",
            "handle_request",
            "--function",
            "nope",
        ])
        .expect(1);
    assert!(
        out.stderr.contains("no function named `nope` in old.sigdb"),
        "{}",
        out.stderr
    );
    assert!(out.stdout.contains("handle_request"));
}

#[test]
fn diff_text() {
    let f = Fixture::new();
    let out = f.run(&["diff", "old.sigdb", "new.sigdb"]).expect(1);
    insta::assert_snapshot!("diff_text", out.stdout);
}

#[test]
fn diff_stat() {
    let f = Fixture::new();
    let out = f
        .run(&["diff", "--stat", "old.sigdb", "new.sigdb"])
        .expect(1);
    insta::assert_snapshot!("diff_stat", out.stdout);
}

#[test]
fn diff_markdown() {
    let f = Fixture::new();
    let out = f
        .run(&["diff", "--format", "markdown", "old.sigdb", "new.sigdb"])
        .expect(1);
    insta::assert_snapshot!("diff_markdown", out.stdout);
}

#[test]
fn diff_json() {
    let f = Fixture::new();
    let out = f
        .run(&["diff", "--format", "json", "old.sigdb", "new.sigdb"])
        .expect(1);
    // one document on one line
    assert_eq!(out.stdout.lines().count(), 1);
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(doc["type"], "diff");
    assert_eq!(doc["differs"], true);
    // the library type reads it back
    let d: sigdb::Diff = serde_json::from_value(doc.clone()).unwrap();
    assert_eq!(d, sigdb::diff(&old_db(), &new_db()));
    insta::assert_json_snapshot!("diff_json", doc);
}

fn sarif_of(stdout: &str) -> serde_json::Value {
    let doc: serde_json::Value = serde_json::from_str(stdout).unwrap();
    assert_eq!(doc["version"], "2.1.0");
    doc
}

#[test]
fn diff_sarif() {
    let f = Fixture::new();
    let out = f
        .run(&[
            "diff",
            "--format",
            "sarif",
            "--source-root",
            ".",
            "old.sigdb",
            "new.sigdb",
        ])
        .expect(1);
    let doc = sarif_of(&out.stdout);
    let run = &doc["runs"][0];
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    let results = run["results"].as_array().unwrap();
    // 2 added, 1 removed, 1 moved, 2 changed; the invocation-only change is not a result
    let d = sigdb::diff(&old_db(), &new_db());
    assert_eq!(
        results.len(),
        d.added.len() + d.removed.len() + d.moved.len() + d.counted_changes().count()
    );
    assert_eq!(results.len(), 6);
    for r in results {
        let i = r["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[i]["id"], r["ruleId"], "{r}");
        assert_eq!(r["locations"].as_array().unwrap().len(), 1, "{r}");
    }
    let of = |name: &str, rule: &str| -> &serde_json::Value {
        results
            .iter()
            .find(|r| {
                r["ruleId"] == rule && r["locations"][0]["logicalLocations"][0]["name"] == name
            })
            .unwrap_or_else(|| panic!("no {rule} result for {name}"))
    };
    let handle = of("handle_request", "perfscope/signature-changed");
    assert_eq!(handle["level"], "warning");
    let loc = &handle["locations"][0]["physicalLocation"];
    assert_eq!(loc["artifactLocation"]["uri"], "src/http.c");
    assert_eq!(loc["artifactLocation"]["uriBaseId"], "SRCROOT");
    assert_eq!(loc["region"]["startLine"], 10);
    let removed = of("init", "perfscope/function-removed");
    assert_eq!(removed["level"], "note");
    assert_eq!(
        removed["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "src/b.c"
    );
    of("util_sleep", "perfscope/function-moved");
    of("tls_handshake", "perfscope/function-added");
    // the machine-specific folder and the crate version out of the snapshot
    let dir = f.dir.path().canonicalize().unwrap();
    let text = out
        .stdout
        .replace(&format!("{}/", dir.display()), "/TMP/")
        .replace(&format!("{}/", f.dir.path().display()), "/TMP/")
        .replace(
            &format!("\"{}\"", env!("CARGO_PKG_VERSION")),
            "\"[VERSION]\"",
        );
    insta::assert_snapshot!("diff_sarif", text);
}

#[test]
fn diff_sarif_locations() {
    let f = Fixture::new();
    let mut db = new_db();
    let i = db
        .records
        .iter()
        .position(|r| r.name == "handle_request")
        .unwrap();
    db.records[i].line = Some(42);
    db.records[i].file = Some("/build/server/src/http.c".into());
    let mut outside = common::record("[outside application code]", "", 9, vec![]);
    outside.class = sigdb::Class::Outside;
    db.records.push(outside);
    let mut spaced = common::record("odd", "/build/server/src/a b#c.c", 3, vec![]);
    spaced.line = None;
    db.records.push(spaced);
    sigdb::write(
        &sigdb::Sigdb::new(db.header.clone(), db.records),
        &f.path("abs.sigdb"),
    )
    .unwrap();
    let locations = |args: &[&str]| -> Vec<(String, serde_json::Value)> {
        let mut all = vec!["diff", "--format", "sarif"];
        all.extend_from_slice(args);
        all.extend(["old.sigdb", "abs.sigdb"]);
        let doc = sarif_of(&f.run(&all).expect(1).stdout);
        doc["runs"][0]["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let l = &r["locations"][0];
                (
                    l["logicalLocations"][0]["name"]
                        .as_str()
                        .unwrap()
                        .to_string(),
                    l["physicalLocation"].clone(),
                )
            })
            .collect()
    };
    let find = |all: &[(String, serde_json::Value)], name: &str| {
        all.iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("no result for {name}"))
            .1
            .clone()
    };
    // handle_request moved (its only record changed file), then changed: both located
    // at the new file and line
    let plain = locations(&[]);
    let h = find(&plain, "handle_request");
    assert_eq!(
        h["artifactLocation"]["uri"],
        "file:///build/server/src/http.c"
    );
    assert!(h["artifactLocation"].get("uriBaseId").is_none(), "{h}");
    assert_eq!(h["region"]["startLine"], 42);
    // no source file: located at the database that holds the signature
    let o = find(&plain, "[outside application code]");
    let db_uri = o["artifactLocation"]["uri"].as_str().unwrap();
    assert!(db_uri.starts_with("file:///"), "{o}");
    assert!(db_uri.ends_with("/abs.sigdb"), "{o}");
    assert!(o.get("region").is_none(), "{o}");
    // characters that end a path in a URI are escaped; no line, no region
    let odd = find(&plain, "odd");
    assert_eq!(
        odd["artifactLocation"]["uri"],
        "file:///build/server/src/a%20b%23c.c"
    );
    assert!(odd.get("region").is_none(), "{odd}");

    let rooted = locations(&["--source-root", "/build/server/"]);
    let h = find(&rooted, "handle_request");
    assert_eq!(h["artifactLocation"]["uri"], "src/http.c");
    assert_eq!(h["artifactLocation"]["uriBaseId"], "SRCROOT");
    let doc = sarif_of(
        &f.run(&[
            "diff",
            "--format",
            "sarif",
            "--source-root",
            "/build/server/./src/..",
            "old.sigdb",
            "abs.sigdb",
        ])
        .expect(1)
        .stdout,
    );
    assert_eq!(
        doc["runs"][0]["originalUriBaseIds"]["SRCROOT"]["uri"],
        "file:///build/server/"
    );
    // relative DWARF paths are taken as relative to the source root
    let tls = find(&rooted, "tls_handshake");
    assert_eq!(tls["artifactLocation"]["uri"], "src/tls.c");
    assert_eq!(tls["artifactLocation"]["uriBaseId"], "SRCROOT");
    // a database under the root gets a relative URI too
    let in_dir = locations(&["--source-root", f.dir.path().to_str().unwrap()]);
    let o = find(&in_dir, "[outside application code]");
    assert_eq!(o["artifactLocation"]["uri"], "abs.sigdb");
}

#[test]
fn diff_sarif_of_equal_signatures_has_no_results() {
    let f = Fixture::new();
    let out = f
        .run(&["diff", "--format", "sarif", "old.sigdb", "old.sigdb"])
        .expect(0);
    let doc = sarif_of(&out.stdout);
    assert_eq!(doc["runs"][0]["results"], serde_json::json!([]));
    assert_eq!(doc["runs"][0]["properties"]["differs"], false);
    // --source-root means nothing to the other formats
    let out = f
        .run(&["diff", "--source-root", ".", "old.sigdb", "new.sigdb"])
        .expect(2);
    assert!(out.stderr.contains("--format sarif"), "{}", out.stderr);
}

#[test]
fn diff_of_equal_signatures_exits_0() {
    let f = Fixture::new();
    let out = f.run(&["diff", "old.sigdb", "old.sigdb"]).expect(0);
    assert!(out.stdout.contains("no differences"), "{}", out.stdout);
    assert_eq!(
        f.run(&["diff", "--stat", "old.sigdb", "old.sigdb"])
            .expect(0)
            .stdout,
        ""
    );
    let md = f
        .run(&["diff", "--format", "markdown", "old.sigdb", "old.sigdb"])
        .expect(0);
    assert!(
        md.stdout
            .starts_with("### sigdb diff: no signature changes"),
        "{}",
        md.stdout
    );
}

#[test]
fn invocation_only_changes_count_when_asked() {
    let f = Fixture::new();
    let mut db = old_db();
    db.records[0].invocations += 7;
    sigdb::write(&db, &f.path("more.sigdb")).unwrap();
    let out = f.run(&["diff", "old.sigdb", "more.sigdb"]).expect(0);
    assert!(
        out.stdout
            .contains("accept_conn (src/net.c)  [50 → 57 invocations (enough)]"),
        "{}",
        out.stdout
    );
    f.run(&["diff", "--invocations", "old.sigdb", "more.sigdb"])
        .expect(1);
}

#[test]
fn tolerance_hides_small_support_changes() {
    let f = Fixture::new();
    let mut db = old_db();
    let i = db
        .records
        .iter()
        .position(|r| r.name == "log_flush")
        .unwrap();
    // 10 invocations of one fsync each: 1.0 → 1.4 is within 4 standard errors (0.13 each)
    db.records[i].episodes[0].support = 1.4;
    sigdb::write(&db, &f.path("tweak.sigdb")).unwrap();
    f.run(&["diff", "old.sigdb", "tweak.sigdb"]).expect(0);
    let out = f
        .run(&["diff", "--significance", "2", "old.sigdb", "tweak.sigdb"])
        .expect(1);
    assert!(
        out.stdout
            .contains("~ support  write→fsync  1.00 ± 0.09 → 1.40 ± 0.09 (+40.0 %)"),
        "{}",
        out.stdout
    );
    db.records[i].episodes[0].support = 3.0;
    sigdb::write(&db, &f.path("tweak.sigdb")).unwrap();
    f.run(&["diff", "old.sigdb", "tweak.sigdb"]).expect(1);
    f.run(&["diff", "--tolerance", "2.5", "old.sigdb", "tweak.sigdb"])
        .expect(0);
    f.run(&[
        "diff",
        "--relative-tolerance",
        "0.7",
        "old.sigdb",
        "tweak.sigdb",
    ])
    .expect(0);
    f.run(&["diff", "--tolerance", "-1", "old.sigdb", "tweak.sigdb"])
        .expect(2);
}

#[test]
fn verify_reports_each_file() {
    let f = Fixture::new();
    let out = f.run(&["verify", "old.sigdb", "new.sigdb"]).expect(0);
    assert_eq!(
        out.stdout,
        "ok old.sigdb (7 records, format v3)\nok new.sigdb (8 records, format v3)\n"
    );
    let mut cut = bytes(&old_db());
    cut.truncate(cut.len() / 2);
    f.put("cut.sigdb", &cut);
    let out = f
        .run(&["verify", "old.sigdb", "cut.sigdb", "new.sigdb"])
        .expect(2);
    assert_eq!(out.stdout.lines().count(), 2, "{}", out.stdout);
    assert!(out.stderr.contains("cut.sigdb: "), "{}", out.stderr);
    let out = f
        .run(&["verify", "--format", "json", "old.sigdb", "cut.sigdb"])
        .expect(2);
    let lines = json_lines(&out.stdout);
    assert_eq!(lines[0]["ok"], true);
    assert_eq!(lines[0]["records"], 7);
    assert_eq!(lines[1]["ok"], false);
    assert!(lines[1]["error"].as_str().unwrap().contains("cut.sigdb"));
}

/// Every kind of bad file: exit 2, a message naming the file and what to do, no panic.
#[test]
fn bad_files_are_errors_that_say_what_to_do() {
    let f = Fixture::new();
    let (mut header, lines) = parts(&old_db());
    header["version"] = 4.into();
    f.put("newer.sigdb", &raw(header, &lines));
    let mut flipped = bytes(&old_db());
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0xff;
    f.put("flipped.sigdb", &flipped);
    let good = bytes(&old_db());
    f.put("cut.sigdb", &good[..good.len() - 10]);
    f.put("text.sigdb", b"hello\n");
    f.put("empty.sigdb", b"");
    std::fs::create_dir(f.path("dir.sigdb")).unwrap();
    let cases = [
        (
            "newer.sigdb",
            "newer than this build reads (3); upgrade perfscope",
        ),
        ("flipped.sigdb", "train again to re-create it"),
        ("cut.sigdb", "train again to re-create it"),
        ("text.sigdb", "not a signature database"),
        ("empty.sigdb", "is empty; check the path"),
        ("dir.sigdb", "dir.sigdb: "),
        ("missing.sigdb", "missing.sigdb: cannot open: No such file"),
    ];
    for (name, says) in cases {
        for args in [
            vec!["show", name],
            vec!["verify", name],
            vec!["diff", "old.sigdb", name],
            vec!["diff", name, "old.sigdb", "--format", "json"],
        ] {
            let out = f.run(&args).expect(2);
            assert!(
                out.stderr.starts_with(&format!("sigdb: error: {name}: ")),
                "{args:?}: {}",
                out.stderr
            );
            assert!(out.stderr.contains(says), "{args:?}: {}", out.stderr);
            assert_eq!(out.stdout, "", "{args:?}");
        }
    }
}

#[test]
fn usage_errors_exit_2() {
    let f = Fixture::new();
    f.run(&["diff", "old.sigdb"]).expect(2);
    f.run(&["verify"]).expect(2);
    f.run(&["show", "old.sigdb", "--format", "xml"]).expect(2);
    let out = f
        .run(&[
            "diff",
            "--stat",
            "--format",
            "json",
            "old.sigdb",
            "new.sigdb",
        ])
        .expect(2);
    assert!(out.stderr.contains("--stat"), "{}", out.stderr);
}

#[test]
fn a_closed_pipe_is_not_an_error() {
    use std::io::Read as _;
    use std::process::Stdio;
    let f = Fixture::new();
    let mut big = old_db();
    for i in 0..3000 {
        let mut r = big.records[0].clone();
        r.name = format!("fn_{i:05}");
        big.records.push(r);
    }
    sigdb::write(
        &sigdb::Sigdb::new(big.header.clone(), big.records),
        &f.path("big.sigdb"),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_sigdb"))
        .args(["show", "big.sigdb"])
        .current_dir(f.dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 16];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap(); // then close it
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let status = child.wait().unwrap();
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(status.code(), Some(0), "{err}");
    assert!(Path::new(&f.path("big.sigdb")).exists());
}

#[test]
fn databases_of_two_targets_or_two_ways_of_mining_are_an_error() {
    let f = Fixture::new();
    let mut other = new_db();
    other.header.target.name = "other-server".into();
    sigdb::write(&other, &f.path("other.sigdb")).unwrap();
    let out = f.run(&["diff", "old.sigdb", "other.sigdb"]).expect(2);
    assert!(
        out.stderr.contains("two different targets")
            && out.stderr.contains("\"demo-server\"")
            && out.stderr.contains("\"other-server\""),
        "{}",
        out.stderr
    );
    let mut mined = new_db();
    mined.header.training.params.max_episode_len = 2;
    sigdb::write(&mined, &f.path("mined.sigdb")).unwrap();
    let out = f.run(&["diff", "old.sigdb", "mined.sigdb"]).expect(2);
    assert!(
        out.stderr.contains("max_episode_len 4 vs 2"),
        "{}",
        out.stderr
    );
}

#[test]
fn changes_resting_on_too_few_invocations_are_shown_and_do_not_count() {
    let f = Fixture::new();
    let mut a = old_db();
    let mut b = old_db();
    for db in [&mut a, &mut b] {
        db.records.retain(|r| r.name == "log_flush");
        db.records[0].invocations = 2;
    }
    b.records[0].episodes[0].events = vec!["write".into(), "fdatasync".into()];
    sigdb::write(&a, &f.path("a.sigdb")).unwrap();
    sigdb::write(&b, &f.path("b.sigdb")).unwrap();
    let out = f.run(&["diff", "a.sigdb", "b.sigdb"]).expect(0);
    assert!(
        out.stdout.contains("low evidence (not counted)")
            && out
                .stdout
                .contains("log_flush (src/log.c)  [2 invocations (too few)]")
            && out.stdout.contains("+ episode  write→fdatasync"),
        "{}",
        out.stdout
    );
    let md = f
        .run(&["diff", "--format", "markdown", "a.sigdb", "b.sigdb"])
        .expect(0);
    assert!(
        md.stdout.contains("<details><summary>Low evidence"),
        "{}",
        md.stdout
    );
    let json = f
        .run(&["diff", "--format", "json", "a.sigdb", "b.sigdb"])
        .expect(0);
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(doc["changed"][0]["kind"], "low_evidence");
    assert_eq!(doc["changed"][0]["evidence"]["old"], 2);
    assert_eq!(doc["differs"], false);
}

#[test]
fn markdown_links_functions_to_their_lines() {
    let f = Fixture::new();
    let out = f
        .run(&[
            "diff",
            "--format",
            "markdown",
            "--source-root",
            "src",
            "--repo-url",
            "https://example.org/demo/blob/v1.1/",
            "old.sigdb",
            "new.sigdb",
        ])
        .expect(1);
    assert!(
        out.stdout
            .contains("[`handle_request`](https://example.org/demo/blob/v1.1/http.c#L10)"),
        "{}",
        out.stdout
    );
    f.run(&["diff", "--repo-url", "https://x", "old.sigdb", "new.sigdb"])
        .expect(2);
}
