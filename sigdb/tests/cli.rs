//! Drives the real `sigdb` binary: its reports (insta snapshots under tests/snapshots,
//! refreshed with `INSTA_UPDATE=always cargo test -p sigdb --test cli`) and its exit codes.

mod common;

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
    assert_eq!(lines[0]["schema"], sigdb::show::SHOW_SCHEMA);
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
            .contains("accept_conn (src/net.c)  50 → 57 (+14.0 %)"),
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
    db.records[i].episodes[0].support = 1.4;
    sigdb::write(&db, &f.path("tweak.sigdb")).unwrap();
    let out = f.run(&["diff", "old.sigdb", "tweak.sigdb"]).expect(1);
    assert!(
        out.stdout
            .contains("~ support  write→fsync  1.00 → 1.40 (+40.0 %)"),
        "{}",
        out.stdout
    );
    f.run(&["diff", "--tolerance", "0.5", "old.sigdb", "tweak.sigdb"])
        .expect(0);
    f.run(&[
        "diff",
        "--relative-tolerance",
        "0.5",
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
        "ok old.sigdb (7 records, format v1)\nok new.sigdb (8 records, format v1)\n"
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
    header["version"] = 2.into();
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
            "newer than this build reads (1); upgrade perfscope",
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
