//! Application or library: classes of source paths, and the application roots.

use crate::SymClass;

/// Joins `rel` onto `base` unless `rel` is absolute, then normalizes `.` and `..`
/// lexically (DWARF paths name files on the build machine: the file system here is no
/// authority on symlinks).
pub(crate) fn join_normalized(out: &mut String, base: &str, rel: &str) {
    out.clear();
    let joined_base = if rel.starts_with('/') { "" } else { base };
    let absolute = if joined_base.is_empty() {
        rel.starts_with('/')
    } else {
        joined_base.starts_with('/')
    };
    let mut parts: Vec<&str> = Vec::new();
    let mut leading_up = 0usize;
    for part in joined_base.split('/').chain(rel.split('/')) {
        match part {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() && !absolute {
                    leading_up += 1;
                }
            }
            p => parts.push(p),
        }
    }
    if absolute {
        out.push('/');
    }
    for _ in 0..leading_up {
        out.push_str("../");
    }
    out.push_str(&parts.join("/"));
    if out.ends_with('/') && out.len() > 1 {
        out.pop();
    }
}

/// The class a path has whatever the application roots are, or `None` when only the
/// roots can tell (application code or some other project's code).
pub(crate) fn fixed_class(path: &str) -> Option<SymClass> {
    // rustc remaps the standard library to /rustc/<commit>/library and (since 1.7x) its
    // crates.io dependencies to /rust/deps/<crate>; a local rust-src keeps the rustlib path.
    if path.starts_with("/rustc/")
        || path.starts_with("/rust/deps/")
        || path.contains("/lib/rustlib/src/rust/library/")
    {
        return Some(SymClass::RustStd);
    }
    if path.contains("cargo/registry/src/")
        || path.contains("cargo/git/checkouts/")
        || (path.ends_with(".rs") && path.contains("/vendor/"))
    {
        return Some(SymClass::Crate);
    }
    const SYSTEM_PREFIXES: [&str; 4] = [
        "/usr/include/",
        "/usr/lib/gcc/",
        "/usr/local/include/",
        "/usr/lib/llvm",
    ];
    if SYSTEM_PREFIXES.iter().any(|p| path.starts_with(p))
        || path.contains("/libstdc++-v3/")
        || path.contains("/libgcc/")
        || path.contains("/glibc-")
    {
        return Some(SymClass::System);
    }
    None
}

/// `true` when `path` is `root` or below it (whole path components).
fn is_under(path: &str, root: &str) -> bool {
    path.strip_prefix(root)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/') || root.ends_with('/'))
}

/// The class of a declaring file.
pub(crate) fn classify(path: &str, roots: &[String]) -> SymClass {
    if let Some(class) = fixed_class(path) {
        return class;
    }
    if roots.iter().any(|root| is_under(path, root)) {
        SymClass::App
    } else {
        SymClass::System
    }
}

/// Normalizes configured roots to absolute paths (relative ones against the current
/// directory), sorted and without duplicates.
pub(crate) fn normalize_roots(roots: &[std::path::PathBuf]) -> Vec<String> {
    let cwd = std::env::current_dir()
        .map(|d| d.to_string_lossy().into_owned())
        .unwrap_or_else(|_| "/".to_owned());
    let mut out: Vec<String> = roots
        .iter()
        .map(|root| {
            let mut s = String::new();
            join_normalized(&mut s, &cwd, &root.to_string_lossy());
            s
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Infers the application roots from the units that are not the Rust standard library,
/// a crate or a system file: their compilation directories and source folders.
///
/// A project that compiles each folder in place (postgres: `src/backend/access/heap`, ...)
/// or builds out of tree (`build/` next to `src/`) would leave its own headers outside
/// every compilation directory, so the root is the deepest folder common to all of them
/// when that is at least two levels deep (`/work/src`, not `/` or `/home`); otherwise the
/// compilation directories themselves.
pub(crate) fn infer_roots<'a>(units: impl Iterator<Item = (&'a str, &'a str)>) -> Vec<String> {
    let mut dirs: Vec<&str> = Vec::new();
    for (comp_dir, file) in units {
        if !comp_dir.starts_with('/')
            || comp_dir == "/"
            || fixed_class(file).is_some()
            || fixed_class(comp_dir).is_some()
        {
            continue;
        }
        dirs.push(comp_dir);
        if let Some((parent, _)) = file.rsplit_once('/')
            && parent.starts_with('/')
            && !parent.is_empty()
        {
            dirs.push(parent);
        }
    }
    dirs.sort_unstable();
    dirs.dedup();
    let Some(first) = dirs.first() else {
        return Vec::new();
    };
    let mut common: Vec<&str> = first.split('/').filter(|p| !p.is_empty()).collect();
    for dir in &dirs[1..] {
        let same = common
            .iter()
            .zip(dir.split('/').filter(|p| !p.is_empty()))
            .take_while(|(a, b)| *a == b)
            .count();
        common.truncate(same);
    }
    if common.len() >= 2 {
        return vec![format!("/{}", common.join("/"))];
    }
    let mut out: Vec<String> = dirs
        .iter()
        .filter(|d| !d.is_empty())
        .map(|d| (*d).to_owned())
        .collect();
    out.retain(|d| d != "/");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn joined(base: &str, rel: &str) -> String {
        let mut s = String::new();
        join_normalized(&mut s, base, rel);
        s
    }

    #[test]
    fn joins_and_normalizes() {
        assert_eq!(joined("/src/app", "main.c"), "/src/app/main.c");
        assert_eq!(joined("/src/app/build", "../src/./x.c"), "/src/app/src/x.c");
        assert_eq!(
            joined("/src/app", "/usr/include/stdio.h"),
            "/usr/include/stdio.h"
        );
        assert_eq!(joined("/", "../../a.c"), "/a.c");
        assert_eq!(joined("", "../a.c"), "../a.c");
        assert_eq!(joined("./csu", "start.S"), "csu/start.S");
        assert_eq!(joined("/a/", ""), "/a");
    }

    #[test]
    fn classes_by_path() {
        let roots = vec!["/src/app".to_owned()];
        let cases = [
            ("/src/app/main.c", SymClass::App),
            ("/src/app", SymClass::App),
            ("/src/application/x.c", SymClass::System),
            ("/usr/include/stdio.h", SymClass::System),
            (
                "/usr/lib/gcc/x86_64-linux-gnu/12/include/stddef.h",
                SymClass::System,
            ),
            ("/rustc/5980/library/core/src/iter.rs", SymClass::RustStd),
            ("/rust/deps/memchr-2.7.6/src/lib.rs", SymClass::RustStd),
            (
                "/root/.rustup/toolchains/x/lib/rustlib/src/rust/library/std/src/io.rs",
                SymClass::RustStd,
            ),
            (
                "/root/.cargo/registry/src/index.crates.io-1/serde-1.0/src/de.rs",
                SymClass::Crate,
            ),
            (
                "/root/.cargo/git/checkouts/foo-1/abc/src/lib.rs",
                SymClass::Crate,
            ),
            ("/src/app/vendor/serde/src/de.rs", SymClass::Crate),
            ("/src/app/vendor/zlib/inflate.c", SymClass::App),
            ("/elsewhere/lib.c", SymClass::System),
        ];
        for (path, want) in cases {
            assert_eq!(classify(path, &roots), want, "{path}");
        }
    }

    #[test]
    fn roots_inferred_from_own_units_only() {
        let units = [
            ("/src/app", "/src/app/main.c"),
            ("/src/app", "/src/app/util.c"),
            ("/rustc/abc", "/rustc/abc/library/std/src/lib.rs"),
            (
                "/root/.cargo/registry/src/i/serde-1",
                "/root/.cargo/registry/src/i/serde-1/src/lib.rs",
            ),
            ("/", "/x.c"),
            ("./csu", "csu/start.S"),
        ];
        assert_eq!(infer_roots(units.into_iter()), vec!["/src/app".to_owned()]);
    }

    #[test]
    fn roots_cover_in_place_and_out_of_tree_builds() {
        let pg = [
            (
                "/w/pg/src/backend/access/heap",
                "/w/pg/src/backend/access/heap/heapam.c",
            ),
            (
                "/w/pg/src/backend/utils/adt",
                "/w/pg/src/backend/utils/adt/int.c",
            ),
            ("/w/pg/src/common", "/w/pg/src/common/string.c"),
        ];
        assert_eq!(infer_roots(pg.into_iter()), vec!["/w/pg/src".to_owned()]);
        let out_of_tree = [("/p/proj/build", "/p/proj/src/a.c")];
        assert_eq!(
            infer_roots(out_of_tree.into_iter()),
            vec!["/p/proj".to_owned()]
        );
        // Nothing in common but the file system root: each folder on its own.
        let scattered = [("/a/x", "/a/x/m.c"), ("/b/y", "/b/y/n.c")];
        assert_eq!(
            infer_roots(scattered.into_iter()),
            vec!["/a/x".to_owned(), "/b/y".to_owned()]
        );
    }
}
