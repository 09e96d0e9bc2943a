//! JVM code through the whole pipeline (needs root, a JDK and the agent): the attribution
//! scenarios of `fixtures/jvm` run under `runner --jvm-app`, and every recognisable
//! syscall of a scenario's thread must carry the frames `fixtures/jvm/README.md` lists
//! (innermost first): a method's own syscall against its callee's, a lambda body, a
//! virtual call, an exception that unwound through methods, a JIT-inlined callee, several
//! threads, and a child process. Then the Java fixture servers' own suite trains a database
//! with the facts of their code, and with the methods of the fixture class it never loaded.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use tests::{Fact, Scratch, TraceFile, can_trace, check_facts, runner};
use trace::Event;

use Fact::*;

/// Whether the JVM tests can run here (root, BTF, java and javac, the agent).
fn can_run_jvm(test: &str) -> bool {
    can_trace(test)
        && testkit::require_tool(test, "java")
        && testkit::require_tool(test, "javac")
        && testkit::require(
            test,
            runner::jvm::agent_jar().is_ok(),
            format!(
                "no JVM agent: {}",
                runner::jvm::agent_jar().err().unwrap_or_default()
            ),
        )
}

/// fixtures/jvm built once per test process into a folder every user can read.
fn built() -> &'static Path {
    static BUILT: OnceLock<(Scratch, PathBuf)> = OnceLock::new();
    &BUILT
        .get_or_init(|| {
            let dir = Scratch::new();
            let out = dir.join("jvm");
            let st = std::process::Command::new("sh")
                .arg(tests::workspace().join("fixtures/jvm/build.sh"))
                .arg(&out)
                .env_remove("JAVA_TOOL_OPTIONS")
                .status()
                .expect("running fixtures/jvm/build.sh");
            assert!(st.success(), "fixtures/jvm/build.sh failed");
            (dir, out)
        })
        .1
}

/// Names of the trace's functions by id, without the fixture's class prefix.
fn names(t: &TraceFile) -> HashMap<u32, String> {
    t.objects
        .iter()
        .flat_map(|o| &o.functions)
        .map(|f| {
            let n = f.name.trim_start_matches("perfscope.fixture.Attribution$");
            (f.id, n.to_string())
        })
        .collect()
}

/// Runs one scenario under the runner; returns, per syscall name made in the scenario's
/// threads, the frame lists seen (innermost first, fixture class prefix dropped).
fn scenario(case: &str) -> HashMap<(String, String), Vec<Vec<String>>> {
    let dir = Scratch::new();
    let trace_path = dir.join(format!("{case}.trace"));
    let classes = built().join("classes");
    let run = runner(
        [
            "--jvm-app",
            "perfscope.fixture",
            "--user",
            "nobody",
            "-o",
            trace_path.to_str().unwrap(),
            "--",
            "java",
            "-XX:+UseSerialGC",
            "-cp",
            classes.to_str().unwrap(),
            "perfscope.fixture.Attribution",
            case,
            "--repeat",
            "2",
        ],
        &[],
    );
    assert_eq!(run.code, 0, "runner: {}", run.stderr);
    let t = TraceFile::read(&trace_path);
    let names = names(&t);
    let mut comm: HashMap<u32, String> = HashMap::new();
    let mut out: HashMap<(String, String), Vec<Vec<String>>> = HashMap::new();
    for ev in &t.events {
        match ev {
            Event::Comm { tid, comm: c, .. } => {
                comm.insert(*tid, c.clone());
            }
            Event::Syscall(s) => {
                let thread = comm.get(&s.tid).cloned().unwrap_or_default();
                if !thread.starts_with(case) {
                    continue;
                }
                let sys = trace::syscall_name(s.nr).into_owned();
                let frames: Vec<String> = s
                    .frames()
                    .iter()
                    .map(|f| {
                        names
                            .get(&f.func)
                            .cloned()
                            .unwrap_or_else(|| format!("#{}", f.func))
                    })
                    .collect();
                out.entry((thread, sys)).or_default().push(frames);
            }
            _ => {}
        }
    }
    out
}

/// Every syscall `sys` of thread `thread` has exactly `frames` (innermost first; the
/// frames recorded are at most 8, so a deeper stack is compared on its innermost part).
fn expect(
    seen: &HashMap<(String, String), Vec<Vec<String>>>,
    thread: &str,
    sys: &str,
    count: usize,
    frames: &[&str],
) {
    let got = seen
        .get(&(thread.to_string(), sys.to_string()))
        .unwrap_or_else(|| panic!("no {sys} in thread {thread}; seen: {:?}", seen.keys()));
    assert_eq!(got.len(), count, "{thread} {sys}: {got:?}");
    for f in got {
        assert_eq!(f, frames, "{thread} {sys}");
    }
}

#[test]
fn jvm_attribution_follows_the_code() {
    if !can_run_jvm("jvm_attribution_follows_the_code") {
        return;
    }
    let s = scenario("own");
    expect(
        &s,
        "own",
        "readlink",
        2,
        &["Own.callee", "Own.caller", "CaseThread.run"],
    );
    expect(&s, "own", "fdatasync", 2, &["Own.caller", "CaseThread.run"]);

    let s = scenario("lambda");
    expect(
        &s,
        "lambda",
        "getdents64",
        12,
        &[
            "Lambdas.lambda$viaForEach$0",
            "Lambdas.viaForEach",
            "CaseThread.run",
        ],
    );
    expect(
        &s,
        "lambda",
        "readlink",
        2,
        &[
            "Lambdas.lambda$viaFuture$1",
            "Lambdas.viaFuture",
            "CaseThread.run",
        ],
    );
    expect(
        &s,
        "lambda",
        "fsync",
        2,
        &[
            "Lambdas.lambda$viaRunnable$2",
            "Lambdas.viaRunnable",
            "CaseThread.run",
        ],
    );

    let s = scenario("virtual");
    expect(
        &s,
        "virtual",
        "fsync",
        2,
        &[
            "Virtual$FsyncProbe.probe",
            "Virtual.callProbe",
            "CaseThread.run",
        ],
    );
    expect(
        &s,
        "virtual",
        "fdatasync",
        2,
        &[
            "Virtual$DatasyncToucher.touch",
            "Virtual.callToucher",
            "CaseThread.run",
        ],
    );

    let s = scenario("exception");
    expect(
        &s,
        "exception",
        "readlink",
        2,
        &["Exceptions.thrower", "Exceptions.caller", "CaseThread.run"],
    );
    expect(
        &s,
        "exception",
        "fsync",
        2,
        &["Exceptions.caller", "CaseThread.run"],
    );
    expect(
        &s,
        "exception",
        "getdents64",
        4,
        &[
            "Exceptions.deep",
            "Exceptions.mid",
            "Exceptions.top",
            "Exceptions.outer",
            "CaseThread.run",
        ],
    );
    expect(
        &s,
        "exception",
        "fdatasync",
        2,
        &["Exceptions.outer", "CaseThread.run"],
    );

    // compiled and inlined into loop after the first calls: still tick's
    let s = scenario("inlined");
    expect(
        &s,
        "inlined",
        "pread64",
        60,
        &["Inlined.tick", "Inlined.loop", "CaseThread.run"],
    );

    let s = scenario("threads");
    for w in 0..4 {
        expect(
            &s,
            &format!("threads-{w}"),
            "readlink",
            20,
            &["Threads.work", "Threads$Worker.run"],
        );
    }
}

#[test]
fn jvm_fixture_suites_train_their_facts() {
    if !can_run_jvm("jvm_fixture_suites_train_their_facts")
        || !testkit::require_tool("jvm_fixture_suites_train_their_facts", "python3")
    {
        return;
    }
    let dir = Scratch::new();
    let trace_path = dir.join("suite.trace");
    let out = built();
    let run = runner(
        [
            "--jvm-app",
            "perfscope.fixture",
            "--user",
            "nobody",
            "-o",
            trace_path.to_str().unwrap(),
            "--",
            "sh",
            tests::workspace()
                .join("fixtures/jvm/check.sh")
                .to_str()
                .unwrap(),
            "--no-build",
            out.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(run.code, 0, "runner: {}", run.stderr);
    let db_path = dir.join("suite.sigdb");
    tests::train(&trace_path, &db_path);
    let db = sigdb::read(&db_path).expect("a readable sigdb");
    check_facts(
        &db,
        &[
            Episode("perfscope.fixture.JThreadSrv.readRequest", "read"),
            Episode("perfscope.fixture.JThreadSrv.writeResponse", "writev"),
            Episode("perfscope.fixture.JThreadSrv.logRequest", "write"),
            Episode("perfscope.fixture.JThreadSrv.storeFsync", "fsync"),
            Makes("perfscope.fixture.JThreadSrv.readFile", "openat"),
            Never("perfscope.fixture.JThreadSrv.storeAppend", "fsync"),
            Episode("perfscope.fixture.JLoopSrv.aofFlush", "fdatasync"),
            Makes("perfscope.fixture.JLoopSrv.eventLoop", "epoll_wait"),
            // pure in-memory work: no I/O (a JVM's safepoint or GC wait may still show
            // as a rare futex in any method)
            Never("perfscope.fixture.JLoopSrv.kvGet", "read"),
            Never("perfscope.fixture.JLoopSrv.kvGet", "write"),
            NoSignature("perfscope.fixture.JLoopSrv.kvGet"),
            // the servers' suite never loads the attribution scenarios: their methods are
            // listed from the class folder of the JVMs' class path, 0 invocations
            NeverRan(
                "perfscope.fixture.Attribution.main",
                "perfscope/fixture/Attribution.java",
            ),
            NeverRan(
                "perfscope.fixture.Attribution$Own.caller",
                "perfscope/fixture/Attribution.java",
            ),
        ],
    );
    let summary = run.summary.expect("a runner summary");
    let never = summary["jvm"]["methods_never_loaded"].as_u64().unwrap_or(0);
    let listed = db
        .records
        .iter()
        .filter(|r| r.name.starts_with("perfscope.fixture.Attribution"))
        .count();
    assert!(
        never > 0 && listed as u64 >= never / 2,
        "{never} never loaded, {listed} in the db"
    );
    // a method of a loaded class has one record, not a second one from the listing
    let handles = db
        .records
        .iter()
        .filter(|r| r.name == "perfscope.fixture.JThreadSrv.readRequest");
    assert_eq!(handles.count(), 1);
}

/// The runner's listing of class files (`jvm::scan`) against the agent's own method table
/// for every class the agent loaded: the same methods with the same fields, so that a
/// method listed while never loaded has the record it would have had if loaded.
#[test]
fn the_class_file_listing_is_the_agents_table() {
    if !can_run_jvm("the_class_file_listing_is_the_agents_table") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let agent = dir.path().join("agent.jar");
    std::fs::write(&agent, runner::jvm::agent_jar().unwrap()).unwrap();
    let classes = built().join("classes");
    for case in ["own", "lambda", "virtual", "exception"] {
        let out = dir.path().join(case);
        std::fs::create_dir(&out).unwrap();
        let st = std::process::Command::new("java")
            .arg(format!(
                "-javaagent:{}=app=perfscope.fixture,out={}",
                agent.display(),
                out.display()
            ))
            .arg("-cp")
            .arg(&classes)
            .args(["perfscope.fixture.Attribution", case])
            .env_remove("JAVA_TOOL_OPTIONS")
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(st.success(), "{case}");
    }
    let mut table = Vec::new();
    for e in walk(dir.path()) {
        if e.extension().is_some_and(|x| x == "methods") {
            let text = std::fs::read_to_string(&e).unwrap();
            table.extend(
                text.lines()
                    .skip(1)
                    .map(|l| jvm::methods::parse_line(l).unwrap()),
            );
        }
    }
    let key = |m: &jvm::methods::Method| {
        format!(
            "{} {} {} {} {:?} {:?} {:?}",
            m.class, m.name, m.descriptor, m.access, m.source, m.line, m.location
        )
    };
    let loaded: std::collections::BTreeSet<&str> = table.iter().map(|m| m.class.as_str()).collect();
    let agent: std::collections::BTreeSet<String> = table.iter().map(key).collect();
    let filter = jvm::scan::Filter::Packages(vec!["perfscope.fixture".into()]);
    let listing = jvm::scan::list(&classes, &filter).unwrap();
    assert_eq!(listing.failed_count, 0, "{:?}", listing.failed);
    let listed: std::collections::BTreeSet<String> = listing
        .methods
        .iter()
        .filter(|m| loaded.contains(m.class.as_str()))
        .map(key)
        .collect();
    assert!(loaded.len() >= 8 && agent.len() >= 30, "{loaded:?}");
    assert_eq!(
        listed.symmetric_difference(&agent).collect::<Vec<_>>(),
        Vec::<&String>::new()
    );
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
