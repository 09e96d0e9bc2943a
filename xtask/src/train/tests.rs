//! Tests of the train command over the real recipes and scratch trees.

use super::*;

fn recipes() -> PathBuf {
    PathBuf::from(env!("CARGO_WORKSPACE_DIR")).join("targets")
}

#[test]
fn runner_command_lines() {
    let r = Recipe::find(&recipes(), "postgresql-15").unwrap();
    let tree = Path::new("/t/pg");
    let objs = vec![PathBuf::from(
        "/t/pg/tmp_install/usr/local/pgsql/bin/postgres",
    )];
    let a = runner_args(
        &r,
        Suite::Quick,
        tree,
        &objs,
        true,
        Path::new("/o/q.trace"),
        Path::new("/o/q.json"),
    );
    let joined = a.join(" ");
    assert!(joined.starts_with(
        "--bin /t/pg/tmp_install/usr/local/pgsql/bin/postgres --app-root /t/pg/src/backend"
    ));
    assert!(joined.contains("--library-root /t/pg/src/backend/snowball/libstemmer"));
    assert!(joined.ends_with(
        "--user perfscope -o /o/q.trace --summary /o/q.json --format json --no-progress \
         -- bash -c make check NO_TEMP_INSTALL=1"
    ));
    let a = runner_args(
        &r,
        Suite::Full,
        tree,
        &objs,
        false,
        Path::new("/o/f.trace"),
        Path::new("/o/f.json"),
    );
    assert!(!a.iter().any(|x| x == "--library-root"));
    assert_eq!(a.last().unwrap(), &r.test.command);
}

#[test]
fn probe_objects_are_elf_files_once_each() {
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path();
    let r = Recipe::find(&recipes(), "lighttpd").unwrap();
    let elf = std::fs::read("/bin/true").unwrap();
    std::fs::create_dir_all(tree.join("src/.libs")).unwrap();
    assert!(format!("{:#}", probe_objects(&r, tree).unwrap_err()).contains("src/lighttpd"));
    std::fs::write(tree.join("src/lighttpd"), &elf).unwrap();
    assert!(
        format!("{:#}", probe_objects(&r, tree).unwrap_err()).contains("mod_*.so matches nothing")
    );
    std::fs::write(tree.join("src/.libs/mod_a.so"), &elf).unwrap();
    std::os::unix::fs::symlink("mod_a.so", tree.join("src/.libs/mod_b.so")).unwrap();
    let objs = probe_objects(&r, tree).unwrap();
    assert_eq!(
        objs,
        [tree.join("src/lighttpd"), tree.join("src/.libs/mod_a.so")],
        "the symlink is the same file"
    );
    std::fs::write(tree.join("src/.libs/mod_c.so"), "INPUT(-lfoo)").unwrap();
    assert!(format!("{:#}", probe_objects(&r, tree).unwrap_err()).contains("not an ELF"));
}

/// `cargo xtask train ARGS`, parsed.
fn parse(args: &[&str]) -> Result<Options, clap::Error> {
    use clap::Parser;
    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        train: Options,
    }
    let argv = std::iter::once("train").chain(args.iter().copied());
    Cli::try_parse_from(argv).map(|c| c.train)
}

#[test]
fn source_and_version_arguments_are_checked() {
    use clap::error::ErrorKind;
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("server");
    std::fs::create_dir_all(src.join("src")).unwrap();
    std::fs::write(src.join("src/a.c"), "int a;\n").unwrap();
    let s = src.to_str().unwrap();
    let recipe = Recipe::find(&recipes(), "lighttpd").unwrap();

    let e = parse(&["--target", "lighttpd", "--source", s, "--patch", "x.patch"])
        .err()
        .unwrap();
    assert_eq!(e.kind(), ErrorKind::ArgumentConflict);
    let msg = e.to_string();
    assert!(msg.contains("--source") && msg.contains("--patch"), "{msg}");
    let e = parse(&["--target", "lighttpd", "--version", "1.0"])
        .err()
        .unwrap();
    assert_eq!(e.kind(), ErrorKind::MissingRequiredArgument);
    assert!(e.to_string().contains("--source"), "{e}");

    let o = parse(&["--target", "lighttpd", "--quick"]).unwrap();
    assert!(matches!(
        Origin::from_options(&o, &recipe).unwrap(),
        Origin::Debian
    ));
    let o = parse(&["--target", "lighttpd", "--source", s]).unwrap();
    let origin = Origin::from_options(&o, &recipe).unwrap();
    assert_eq!(
        origin.version(&recipe),
        "1.4.69",
        "the recipe's version by default"
    );
    let Origin::Local { checkout, .. } = &origin else {
        panic!("not local")
    };
    assert_eq!(checkout.dir, src.canonicalize().unwrap());
    let from = origin.provenance(&recipe);
    assert_eq!(from.source, format!("local:{}", checkout.dir.display()));
    assert_eq!(from.debian_version, None);
    let o = parse(&[
        "--target",
        "lighttpd",
        "--source",
        s,
        "--version",
        "1.4.69+pr123",
    ])
    .unwrap();
    let origin = Origin::from_options(&o, &recipe).unwrap();
    assert_eq!(origin.version(&recipe), "1.4.69+pr123");
    assert_eq!(origin.provenance(&recipe).version, "1.4.69+pr123");

    let error = |args: &[&str]| {
        let o = parse(args).unwrap();
        format!("{:#}", Origin::from_options(&o, &recipe).unwrap_err())
    };
    for bad in ["../x", "a b", "", ".1", "1/2", "é"] {
        let e = error(&["--target", "lighttpd", "--source", s, "--version", bad]);
        assert!(e.contains("cannot name a database file"), "{bad:?}: {e}");
    }
    let absent = tmp.path().join("absent");
    let e = error(&["--target", "lighttpd", "--source", absent.to_str().unwrap()]);
    assert!(e.contains("no such folder"), "{e}");
    let file = src.join("src/a.c");
    let e = error(&["--target", "lighttpd", "--source", file.to_str().unwrap()]);
    assert!(e.contains("is not a folder"), "{e}");
}

#[test]
fn redo_covers_later_steps() {
    let ctx = Ctx {
        work: "/w".into(),
        targets: "/t".into(),
        publish_dir: "/p".into(),
        jobs: None,
        redo: Some(StepName::Setup),
        keep_going: false,
    };
    assert!(!ctx.redo(StepName::Build));
    assert!(ctx.redo(StepName::Setup));
    assert!(ctx.redo(StepName::Train));
    let none = Ctx { redo: None, ..ctx };
    assert!(!none.redo(StepName::Publish));
}
