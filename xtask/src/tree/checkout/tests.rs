//! Tests of local checkouts (`--source`): copies, git state, permissions.

use std::os::unix::fs::PermissionsExt as _;

use super::*;

fn write(path: &Path, text: &str) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(path, text).unwrap();
}

fn error(dir: &Path) -> String {
    format!("{:#}", Checkout::inspect(dir).unwrap_err())
}

/// `git -C dir ARGS` with a fixed identity and no user configuration; false when git
/// is missing.
fn git_ok(dir: &Path, args: &[&str]) -> bool {
    Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.invalid"])
        .args(["-c", "init.defaultBranch=main"])
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn a_source_must_be_a_folder_with_something_in_it() {
    let tmp = tempfile::tempdir().unwrap();
    let e = error(&tmp.path().join("absent"));
    assert!(e.contains("absent: no such folder"), "{e}");
    let file = tmp.path().join("file");
    write(&file, "x");
    let e = error(&file);
    assert!(e.contains("is not a folder"), "{e}");
    let only_git = tmp.path().join("only-git");
    std::fs::create_dir_all(only_git.join(".git")).unwrap();
    let e = error(&only_git);
    assert!(e.contains("is empty"), "{e}");
}

#[test]
fn the_listing_follows_every_file_but_the_top_git_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("src");
    write(&dir.join("a.c"), "int a;\n");
    write(&dir.join("sub/b.c"), "int b;\n");
    write(&dir.join("sub/.git"), "gitdir: nested, kept\n");
    let s0 = listing_state(&dir).unwrap();
    assert_eq!(
        listing_state(&dir).unwrap(),
        s0,
        "unchanged: the same state"
    );

    // a `.git` git cannot read: the listing is used, and `.git` is not part of it
    write(&dir.join(".git/HEAD"), "not a repository\n");
    let c = Checkout::inspect(&dir).unwrap();
    assert_eq!((c.method, c.commit.as_deref()), ("listing", None));
    assert_eq!(c.state, s0, ".git is excluded");
    write(&dir.join(".git/HEAD"), "changed, still excluded\n");
    assert_eq!(listing_state(&dir).unwrap(), s0);

    write(&dir.join("sub/b.c"), "int b = 1;\n");
    let s1 = listing_state(&dir).unwrap();
    assert_ne!(s1, s0, "a changed file");
    write(&dir.join("sub/.git"), "gitdir: nested, changed\n");
    assert_ne!(
        listing_state(&dir).unwrap(),
        s1,
        "only the top-level .git is excluded"
    );
    let s2 = listing_state(&dir).unwrap();
    std::fs::create_dir(dir.join("empty")).unwrap();
    assert_ne!(listing_state(&dir).unwrap(), s2, "a new folder");
    let s3 = listing_state(&dir).unwrap();
    std::os::unix::fs::symlink("a.c", dir.join("link")).unwrap();
    assert_ne!(listing_state(&dir).unwrap(), s3, "a new symlink");
    let s4 = listing_state(&dir).unwrap();
    std::fs::set_permissions(dir.join("a.c"), std::fs::Permissions::from_mode(0o755)).unwrap();
    assert_ne!(listing_state(&dir).unwrap(), s4, "a mode change");
}

#[test]
fn a_git_checkout_hashes_its_commit_changes_and_extra_files() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("server");
    write(&dir.join("src/main.c"), "int main(void) { return 0; }\n");
    write(&dir.join(".gitignore"), "*.o\n");
    let committed = git_ok(&dir, &["init", "-q"])
        && git_ok(&dir, &["add", "-A"])
        && git_ok(&dir, &["commit", "-q", "-m", "one"]);
    if !testkit::require("checkout state", committed, "needs git") {
        return;
    }
    let c0 = Checkout::inspect(&dir).unwrap();
    assert_eq!(c0.method, "git");
    let head = c0.commit.clone().unwrap();
    assert_eq!(head.len(), 40, "{head}");
    assert_eq!(
        c0.source(),
        format!("local:{}", dir.canonicalize().unwrap().display())
    );

    // a fresh clone of the same commit (new mtimes) is the same source
    let clone = tmp.path().join("clone");
    assert!(git_ok(
        tmp.path(),
        &["clone", "-q", dir.to_str().unwrap(), "clone"]
    ));
    let cc = Checkout::inspect(&clone).unwrap();
    assert_eq!(
        (cc.state.as_str(), cc.commit.as_deref()),
        (c0.state.as_str(), Some(&head[..]))
    );

    // inside .git: no change
    write(&dir.join(".git/description"), "something else\n");
    assert_eq!(Checkout::inspect(&dir).unwrap().state, c0.state);

    // a tracked change: another state, and the commit says dirty
    write(&dir.join("src/main.c"), "int main(void) { return 1; }\n");
    let c1 = Checkout::inspect(&dir).unwrap();
    assert_ne!(c1.state, c0.state);
    assert_eq!(c1.commit.as_deref(), Some(&*format!("{head}-dirty")));
    write(&dir.join("src/main.c"), "int main(void) { return 2; }\n");
    let c2 = Checkout::inspect(&dir).unwrap();
    assert_ne!(
        c2.state, c1.state,
        "the diff's content counts, not only the status"
    );

    // untracked files count by content, ignored ones by size and mtime
    write(&dir.join("src/new.c"), "aaaa\n");
    let c3 = Checkout::inspect(&dir).unwrap();
    assert_ne!(c3.state, c2.state);
    write(&dir.join("src/new.c"), "bbbb\n");
    let c4 = Checkout::inspect(&dir).unwrap();
    assert_ne!(c4.state, c3.state, "same size, other content");
    write(&dir.join("src/main.o"), "object\n");
    let c5 = Checkout::inspect(&dir).unwrap();
    assert_ne!(
        c5.state, c4.state,
        "an ignored file is copied, so it counts"
    );
    std::fs::set_permissions(
        dir.join("src/main.o"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    assert_ne!(Checkout::inspect(&dir).unwrap().state, c5.state);

    // back to the commit: the first state again, and not dirty
    assert!(git_ok(&dir, &["checkout", "-q", "--", "src/main.c"]));
    std::fs::remove_file(dir.join("src/new.c")).unwrap();
    std::fs::remove_file(dir.join("src/main.o")).unwrap();
    let back = Checkout::inspect(&dir).unwrap();
    assert_eq!(back, c0);
}

#[test]
fn the_copy_leaves_out_git_and_keeps_links_and_modes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("server");
    write(&dir.join("configure"), "#!/bin/sh\n");
    std::fs::set_permissions(
        dir.join("configure"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    write(&dir.join("src/a.c"), "int a;\n");
    write(&dir.join(".hidden"), "kept\n");
    write(&dir.join(".git/HEAD"), "not copied\n");
    std::os::unix::fs::symlink("src/a.c", dir.join("a-link.c")).unwrap();
    let c = Checkout::inspect(&dir).unwrap();
    let tree = tmp.path().join("work/train/server-1.0");
    let log = tmp.path().join("copy.log");
    c.copy_into(&tree, &log, &mut || {}).unwrap();
    assert!(!tree.join(".git").exists());
    assert_eq!(
        std::fs::read_to_string(tree.join(".hidden")).unwrap(),
        "kept\n"
    );
    assert_eq!(
        std::fs::read_to_string(tree.join("src/a.c")).unwrap(),
        "int a;\n"
    );
    assert_eq!(
        std::fs::read_link(tree.join("a-link.c")).unwrap(),
        Path::new("src/a.c")
    );
    let mode = std::fs::metadata(tree.join("configure")).unwrap().mode() & 0o777;
    assert_eq!(mode, 0o755);
    assert_eq!(
        std::fs::metadata(&tree).unwrap().mode() & 0o777,
        0o755,
        "the test user can enter the copy"
    );
    assert_eq!(listing_state(&tree).unwrap(), c.state, "an exact copy");
}

#[test]
fn a_copy_never_overlaps_the_checkout() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("server");
    write(&dir.join("a.c"), "int a;\n");
    let c = Checkout::inspect(&dir).unwrap();
    for dest in [
        dir.join("work/train"),
        tmp.path().to_path_buf(),
        dir.clone(),
    ] {
        let e = format!("{:#}", c.check_apart(&dest).unwrap_err());
        assert!(e.contains("overlap") && e.contains("--work"), "{e}");
    }
    // through a symlink too
    std::os::unix::fs::symlink(&dir, tmp.path().join("alias")).unwrap();
    assert!(c.check_apart(&tmp.path().join("alias/work/new")).is_err());
    c.check_apart(&tmp.path().join("work/train")).unwrap();
    let log = tmp.path().join("copy.log");
    assert!(c.copy_into(&dir.join("copy"), &log, &mut || {}).is_err());
    assert!(
        !dir.join("copy").exists(),
        "nothing was written into the checkout"
    );
}
