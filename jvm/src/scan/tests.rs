//! Tests of the jar and class folder listing, on a jar `javac` and `jar` build from a
//! tiny source, and of class path entries made paths.

use super::*;

const SOURCE: &str = r#"package demo;

import java.io.FileInputStream;
import java.io.IOException;

public class Demo implements Comparable<Demo> {
    int x;

    public int add(int a, int b) {
        return a + b + x;
    }

    public synchronized void locked() {
        x++;
    }

    public byte[] read(String p) throws IOException {
        try (FileInputStream in = new FileInputStream(p)) {
            return in.readAllBytes();
        }
    }

    public int switcher(int k) {
        switch (k) {
            case 1: return 10;
            case 2: return 20;
            case 3: return 30;
            default: return 0;
        }
    }

    public Runnable task() {
        return () -> System.out.println("ran");
    }

    @Override
    public int compareTo(Demo o) {
        return Integer.compare(x, o.x);
    }

    public native void nat();

    static class Inner {
        String name() {
            return "inner";
        }
    }

    interface Shape {
        double area();

        default String kind() {
            return "shape";
        }
    }
}
"#;

/// Builds the demo into a class folder and a jar; `None` (with the reason printed) when
/// there is no JDK.
fn built() -> Option<(tempfile::TempDir, PathBuf, PathBuf)> {
    if !testkit::require_tool("scan_demo", "javac") || !testkit::require_tool("scan_demo", "jar") {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("Demo.java");
    std::fs::write(&src, SOURCE).unwrap();
    let classes = dir.path().join("classes");
    let run = |cmd: &mut std::process::Command| {
        let st = cmd.env_remove("JAVA_TOOL_OPTIONS").status().unwrap();
        assert!(st.success(), "{cmd:?}");
    };
    run(std::process::Command::new("javac")
        .args(["--release", "11", "-g", "-d"])
        .arg(&classes)
        .arg(&src));
    let jar = dir.path().join("demo.jar");
    run(std::process::Command::new("jar")
        .arg("--create")
        .arg("--file")
        .arg(&jar)
        .arg("-C")
        .arg(&classes)
        .arg("."));
    Some((dir, classes, jar))
}

fn find<'a>(l: &'a Listing, class: &str, name: &str) -> Vec<&'a Method> {
    l.methods
        .iter()
        .filter(|m| m.class == class && m.name == name)
        .collect()
}

#[test]
fn a_jar_lists_every_method_with_code_as_the_agent_would() {
    let Some((_dir, classes, jar)) = built() else {
        return;
    };
    let l = list(&jar, &Filter::Packages(vec!["demo".into()])).unwrap();
    assert_eq!((l.classes, l.failed_count), (3, 0), "{:?}", l.failed);
    let one = |class: &str, name: &str| {
        let v = find(&l, class, name);
        assert_eq!(v.len(), 1, "{class}.{name}: {v:?}");
        v[0].clone()
    };
    let add = one("demo.Demo", "add");
    assert_eq!(add.descriptor, "(II)I");
    assert!(add.is_leaf(), "arithmetic and a field read make no syscall");
    assert_eq!(add.source.as_deref(), Some("demo/Demo.java"));
    assert_eq!(add.line, Some(10));
    let loc = std::fs::canonicalize(&jar).unwrap();
    assert_eq!(add.location.as_deref(), loc.to_str());
    assert!(!one("demo.Demo", "locked").is_leaf(), "synchronized");
    assert!(!one("demo.Demo", "read").is_leaf(), "allocates and calls");
    assert!(
        one("demo.Demo", "switcher").is_leaf(),
        "a tableswitch is walked over"
    );
    assert_eq!(one("demo.Demo", "<init>").descriptor, "()V");
    // the lambda body is instrumented by the agent; the bridge and native method are not
    let lambda: Vec<_> = l
        .methods
        .iter()
        .filter(|m| m.name.starts_with("lambda$task$"))
        .collect();
    assert_eq!(lambda.len(), 1);
    assert!(!lambda[0].is_leaf(), "it prints");
    let cmp = find(&l, "demo.Demo", "compareTo");
    assert_eq!(cmp.len(), 1, "the bridge compareTo(Object) is left out");
    assert_eq!(cmp[0].descriptor, "(Ldemo/Demo;)I");
    assert!(find(&l, "demo.Demo", "nat").is_empty());
    assert_eq!(
        one("demo.Demo$Inner", "name").source.as_deref(),
        Some("demo/Demo.java")
    );
    assert!(find(&l, "demo.Demo$Shape", "area").is_empty(), "abstract");
    assert_eq!(
        one("demo.Demo$Shape", "kind").descriptor,
        "()Ljava/lang/String;"
    );

    // the class folder gives the same methods, with its own location
    let mut f = list(&classes, &Filter::All).unwrap();
    let floc = std::fs::canonicalize(&classes).unwrap();
    assert!(
        f.methods
            .iter()
            .all(|m| m.location.as_deref() == floc.to_str())
    );
    let key = |m: &Method| {
        (
            m.class.clone(),
            m.name.clone(),
            m.descriptor.clone(),
            m.access,
            m.line,
        )
    };
    let mut a: Vec<_> = l.methods.iter().map(key).collect();
    let mut b: Vec<_> = f.methods.iter_mut().map(|m| key(m)).collect();
    a.sort();
    b.sort();
    assert_eq!(a, b);
    // a package filter that matches nothing, or only a prefix of a name, lists nothing
    for p in ["other", "dem"] {
        assert!(
            list(&jar, &Filter::Packages(vec![p.into()]))
                .unwrap()
                .methods
                .is_empty()
        );
    }
}

#[test]
fn a_damaged_class_is_skipped_and_counted_a_damaged_jar_is_an_error() {
    let Some((dir, classes, jar)) = built() else {
        return;
    };
    let inner = classes.join("demo/Demo$Inner.class");
    let bytes = std::fs::read(&inner).unwrap();
    std::fs::write(&inner, &bytes[..bytes.len() / 2]).unwrap();
    let l = list(&classes, &Filter::All).unwrap();
    assert_eq!((l.classes, l.failed_count), (2, 1));
    assert!(l.failed[0].contains("Demo$Inner.class"), "{:?}", l.failed);
    assert!(find(&l, "demo.Demo", "add").len() == 1);

    let whole = std::fs::read(&jar).unwrap();
    let cut = dir.path().join("cut.jar");
    for n in [0, 10, whole.len() / 2, whole.len() - 10] {
        std::fs::write(&cut, &whole[..n]).unwrap();
        assert!(list(&cut, &Filter::All).is_err(), "a jar cut at {n} bytes");
    }
    // flipped bytes anywhere: an error or a listing, never a panic
    for i in (0..whole.len()).step_by(7) {
        let mut b = whole.clone();
        b[i] ^= 0x5a;
        std::fs::write(&cut, &b).unwrap();
        let _ = list(&cut, &Filter::All);
    }
}

#[test]
fn the_filter_follows_the_agent() {
    let app = Filter::Packages(vec!["org.x".into(), "Main".into()]);
    assert!(app.admits("org/x/Foo"));
    assert!(app.admits("org/x/y/Foo$1"));
    assert!(app.admits("Main"));
    assert!(!app.admits("org/xy/Foo"));
    assert!(!app.admits("org/x/Foo$$Lambda$12"));
    assert!(!Filter::All.admits("java/lang/String"));
    assert!(!Filter::All.admits("perfscope/agent/Shadow"));
    assert!(Filter::All.admits("a/B"));
}

#[test]
fn class_path_entries_become_canonical_paths_and_jar_lists() {
    let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("lib")).unwrap();
    for f in ["lib/b.jar", "lib/a.JAR", "lib/notes.txt", "one.jar"] {
        std::fs::write(dir.path().join(f), b"").unwrap();
    }
    let got = resolve_class_path(&s(&["lib/*", "one.jar", "missing.jar"]), dir.path());
    let canon = |f: &str| std::fs::canonicalize(dir.path().join(f)).unwrap();
    assert_eq!(
        got,
        vec![canon("lib/a.JAR"), canon("lib/b.jar"), canon("one.jar")]
    );
}
