//! Tests of source trees: unpacking, patching, building in place.

use super::*;

#[test]
fn dsc_versions_and_traversal() {
    let tmp = tempfile::tempdir().unwrap();
    let dsc = tmp.path().join("x_1.0-1.dsc");
    std::fs::write(
        &dsc,
        "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nFormat: 3.0 (quilt)\nSource: x\nVersion: 5:7.0.15-1~deb12u7\n",
    )
    .unwrap();
    assert_eq!(dsc_version(&dsc).unwrap(), "5:7.0.15-1~deb12u7");
    std::fs::write(&dsc, "Source: x\n").unwrap();
    assert!(dsc_version(&dsc).is_err());

    let closed = tmp.path().join("closed");
    let inner = closed.join("inner");
    make_dir(&inner).unwrap();
    assert!(check_traversable(&inner).is_ok());
    std::fs::set_permissions(&closed, std::fs::Permissions::from_mode(0o700)).unwrap();
    let e = format!("{:#}", check_traversable(&inner).unwrap_err());
    assert!(e.contains("mode 700"), "{e}");
}

#[test]
fn dpkg_knows_what_is_installed() {
    if !testkit::require_tool("dpkg_knows_what_is_installed", "dpkg-query") {
        return;
    }
    let wanted = vec!["bash".to_string(), "no-such-package-xtask".to_string()];
    assert_eq!(
        missing_packages(&wanted).unwrap(),
        ["no-such-package-xtask"]
    );
}

/// A native Debian source package `fake_1.0` (built with `dpkg-source -b`) in `download`.
fn fake_source(tmp: &Path) -> Option<PathBuf> {
    let src = tmp.join("fake-1.0");
    std::fs::create_dir_all(src.join("debian/source")).unwrap();
    std::fs::write(src.join("msg.txt"), "hello\n").unwrap();
    std::fs::write(src.join("debian/source/format"), "3.0 (native)\n").unwrap();
    std::fs::write(
        src.join("debian/changelog"),
        "fake (1.0) unstable; urgency=medium\n\n  * test\n\n -- T <t@example.invalid>  Mon, 01 Jan 2024 00:00:00 +0000\n",
    )
    .unwrap();
    std::fs::write(
        src.join("debian/control"),
        "Source: fake\nMaintainer: T <t@example.invalid>\n\nPackage: fake\nArchitecture: all\nDescription: test\n test\n",
    )
    .unwrap();
    let ok = Command::new("dpkg-source")
        .args(["-b", "fake-1.0"])
        .current_dir(tmp)
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        return None;
    }
    let download = tmp.join("download");
    std::fs::create_dir_all(&download).unwrap();
    for f in ["fake_1.0.dsc", "fake_1.0.tar.xz"] {
        std::fs::rename(tmp.join(f), download.join(f)).unwrap();
    }
    Some(download)
}

fn fake_recipe() -> Recipe {
    let mut r: Recipe = toml::from_str(
        &std::fs::read_to_string(crate::workspace_root().join("targets/lighttpd.toml")).unwrap(),
    )
    .unwrap();
    r.name = "fake".into();
    r.fetch.apt_source = Some("fake=1.0".into());
    r.fetch.tree = "fake-1.0".into();
    r.build.env = [("CFLAGS".to_string(), "-O1".to_string())].into();
    r.build.steps = vec!["cp msg.txt out.txt && echo \"$CFLAGS\" >> out.txt".into()];
    r.build.outputs = vec!["out.txt".into()];
    r
}

#[test]
fn trees_are_built_once_and_rebuilt_fresh_when_an_input_changes() {
    let tmp = tempfile::tempdir().unwrap();
    let download_dir = fake_source(tmp.path());
    if !testkit::require(
        "trees_are_built_once_and_rebuilt_fresh_when_an_input_changes",
        download_dir.is_some(),
        "needs dpkg-source (dpkg-dev)",
    ) {
        return;
    }
    let download_dir = download_dir.unwrap_or_default();
    let mut recipe = fake_recipe();
    let download = Stamp::new("download");
    let dir = tmp.path().join("variants/x");
    let progress = Progress::silent();
    let build = |recipe: &Recipe, patch: Option<&Path>, redo: bool| {
        ensure_built(
            &Request {
                recipe,
                source: Source::Download {
                    stamp: &download,
                    dir: &download_dir,
                },
                dir: &dir,
                patch,
                jobs: None,
                redo,
            },
            &progress,
        )
    };
    let b = build(&recipe, None, false).unwrap();
    assert_eq!(b.tree, dir.join("fake-1.0"));
    let out = b.tree.join("out.txt");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "hello\n-O1\n");
    assert!(dir.join("build.stamp").is_file() && dir.join("logs/build.log").is_file());

    // nothing changed: the tree stays as it is (the marker survives)
    let marker = b.tree.join("marker");
    std::fs::write(&marker, "").unwrap();
    let again = build(&recipe, None, false).unwrap();
    assert_eq!(again.stamp.hash(), b.stamp.hash());
    assert!(marker.exists());

    // --redo, a changed build environment, a missing output: a fresh unpack
    build(&recipe, None, true).unwrap();
    assert!(!marker.exists());
    std::fs::write(&marker, "").unwrap();
    recipe.build.env.insert("CFLAGS".into(), "-O2".into());
    let o2 = build(&recipe, None, false).unwrap();
    assert_ne!(o2.stamp.hash(), b.stamp.hash());
    assert!(!marker.exists());
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "hello\n-O2\n");
    std::fs::remove_file(&out).unwrap();
    build(&recipe, None, false).unwrap();
    assert!(out.exists());

    // a patch applies in the tree before the build and is part of the stamp
    let patch = tmp.path().join("bug.patch");
    std::fs::write(
        &patch,
        "--- a/msg.txt\n+++ b/msg.txt\n@@ -1 +1 @@\n-hello\n+patched\n",
    )
    .unwrap();
    let p = build(&recipe, Some(&patch), false).unwrap();
    assert_ne!(p.stamp.hash(), o2.stamp.hash());
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "patched\n-O2\n");

    // failures say what to look at
    std::fs::write(
        &patch,
        "--- a/msg.txt\n+++ b/msg.txt\n@@ -1 +1 @@\n-nope\n+x\n",
    )
    .unwrap();
    let e = format!("{:#}", build(&recipe, Some(&patch), false).unwrap_err());
    assert!(e.contains("does not apply"), "{e}");
    assert!(
        !dir.join("build.stamp").exists(),
        "a failed tree never looks built"
    );
    recipe.build.outputs.push("missing.bin".into());
    let e = format!("{:#}", build(&recipe, None, false).unwrap_err());
    assert!(
        e.contains("missing.bin") && e.contains("build.outputs"),
        "{e}"
    );
    recipe.build.outputs.pop();
    recipe.build.steps = vec!["echo compiling; exit 4".into()];
    let e = format!("{:#}", build(&recipe, None, false).unwrap_err());
    assert!(
        e.contains("build.steps[0] of fake failed (exit status 4)"),
        "{e}"
    );
    assert!(e.contains("compiling"), "the log tail is in the error: {e}");
}

#[test]
fn a_local_checkout_is_copied_built_apart_and_rebuilt_when_it_changes() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("checkout");
    std::fs::create_dir_all(src.join(".git")).unwrap();
    std::fs::write(src.join(".git/HEAD"), "not a repository\n").unwrap();
    std::fs::write(src.join("msg.txt"), "hello\n").unwrap();
    let mut recipe = fake_recipe();
    recipe.fetch.unpack = vec!["exit 1".into()];
    let dir = tmp.path().join("local/train");
    let progress = Progress::silent();
    let build = |recipe: &Recipe| {
        let checkout = Checkout::inspect(&src).unwrap();
        ensure_built(
            &Request {
                recipe,
                source: Source::Checkout(&checkout),
                dir: &dir,
                patch: None,
                jobs: None,
                redo: false,
            },
            &progress,
        )
    };
    let b = build(&recipe).unwrap();
    assert_eq!(
        b.tree,
        dir.join("fake-1.0"),
        "the copy is named by fetch.tree"
    );
    let out = b.tree.join("out.txt");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "hello\n-O1\n");
    assert!(!b.tree.join(".git").exists(), ".git is not copied");
    assert!(
        !src.join("out.txt").exists(),
        "the build ran in the copy, never in the checkout"
    );
    assert!(dir.join("logs/fetch.log").is_file());

    // an unchanged checkout: the build is reused as it is
    let marker = b.tree.join("marker");
    std::fs::write(&marker, "").unwrap();
    assert_eq!(build(&recipe).unwrap().stamp.hash(), b.stamp.hash());
    assert!(marker.exists());

    // a changed file: a fresh copy and build
    std::fs::write(src.join("msg.txt"), "changed\n").unwrap();
    let c = build(&recipe).unwrap();
    assert_ne!(c.stamp.hash(), b.stamp.hash());
    assert!(!marker.exists());
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "changed\n-O1\n");

    // the checkout's path is no input: a copy of it elsewhere is the same source
    let moved = tmp.path().join("moved");
    let ok = Command::new("cp")
        .args(["-a"])
        .arg(&src)
        .arg(&moved)
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let m = Checkout::inspect(&moved).unwrap();
    assert_eq!(m.state, Checkout::inspect(&src).unwrap().state);

    // a checkout that holds the work folder is refused before anything is removed
    let inner = src.join("work/train");
    let checkout = Checkout::inspect(&src).unwrap();
    let e = ensure_built(
        &Request {
            recipe: &recipe,
            source: Source::Checkout(&checkout),
            dir: &inner,
            patch: None,
            jobs: None,
            redo: true,
        },
        &progress,
    )
    .unwrap_err();
    assert!(format!("{e:#}").contains("overlap"), "{e:#}");
    assert!(src.join("msg.txt").exists());
}
