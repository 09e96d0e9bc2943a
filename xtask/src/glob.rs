//! Just enough globbing for recipe paths: `*` and `?` inside one path component, `**`
//! for any number of folders. Results are sorted; hidden names match only when the
//! pattern component names them (`.libs`).

use std::path::{Path, PathBuf};

/// Files and folders under `root` that match the relative `pattern`, sorted.
pub fn expand(root: &Path, pattern: &str) -> Vec<PathBuf> {
    let parts: Vec<&str> = pattern
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    let mut out = Vec::new();
    walk(root, &parts, &mut out);
    out.sort();
    out.dedup();
    out
}

fn walk(dir: &Path, parts: &[&str], out: &mut Vec<PathBuf>) {
    let Some((&first, rest)) = parts.split_first() else {
        out.push(dir.to_path_buf());
        return;
    };
    if first == "**" {
        walk(dir, rest, out);
        for sub in entries(dir)
            .into_iter()
            .filter(|p| p.is_dir() && !is_hidden(p))
        {
            walk(&sub, parts, out);
        }
        return;
    }
    if !first.contains(['*', '?']) {
        let next = dir.join(first);
        if next.exists() {
            walk(&next, rest, out);
        }
        return;
    }
    for e in entries(dir) {
        let Some(name) = e.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if name.starts_with('.') && !first.starts_with('.') {
            continue;
        }
        if matches(first.as_bytes(), name.as_bytes()) && (rest.is_empty() || e.is_dir()) {
            walk(&e, rest, out);
        }
    }
}

fn entries(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default()
}

fn is_hidden(p: &Path) -> bool {
    p.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with('.') && n != ".libs")
}

/// `*` any run of bytes, `?` one byte, anything else itself.
pub fn matches(pat: &[u8], name: &[u8]) -> bool {
    let (mut p, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        if p < pat.len() && (pat[p] == b'?' || pat[p] == name[n]) {
            p += 1;
            n += 1;
        } else if p < pat.len() && pat[p] == b'*' {
            star = Some((p, n));
            p += 1;
        } else if let Some((sp, sn)) = star {
            p = sp + 1;
            n = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    pat[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_like_the_shell() {
        let m = |p: &str, n: &str| matches(p.as_bytes(), n.as_bytes());
        assert!(m("mod_*.so", "mod_ssl.so"));
        assert!(m("mod_*.so", "mod_.so"));
        assert!(!m("mod_*.so", "mod_ssl.so.1"));
        assert!(m("*_and_*.so", "utf8_and_sjis.so"));
        assert!(!m("*_and_*.so", "plpgsql.so"));
        assert!(m("a?c", "abc"));
        assert!(!m("a?c", "ac"));
        assert!(m("*", ""));
        assert!(m("**", "x"));
        assert!(!m("x", ""));
    }

    #[test]
    fn expansion_walks_the_tree() {
        let tmp = tempfile::tempdir().unwrap();
        let r = tmp.path();
        for f in [
            "src/.libs/mod_a.so",
            "src/.libs/mod_b.so",
            "src/.libs/mod_b.la",
            "modules/http2/.libs/mod_http2.so",
            "modules/dav/fs/.libs/mod_dav_fs.so",
            "src/lighttpd",
        ] {
            let p = r.join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, "").unwrap();
        }
        let rel = |v: Vec<PathBuf>| -> Vec<String> {
            v.iter()
                .map(|p| p.strip_prefix(r).unwrap().display().to_string())
                .collect()
        };
        assert_eq!(
            rel(expand(r, "src/.libs/mod_*.so")),
            ["src/.libs/mod_a.so", "src/.libs/mod_b.so"]
        );
        assert_eq!(
            rel(expand(r, "modules/**/.libs/*.so")),
            [
                "modules/dav/fs/.libs/mod_dav_fs.so",
                "modules/http2/.libs/mod_http2.so"
            ]
        );
        assert_eq!(rel(expand(r, "./src/lighttpd")), ["src/lighttpd"]);
        assert!(expand(r, "src/nothing*").is_empty());
        assert!(
            expand(r, "src/*/mod_a.so").is_empty(),
            "* skips hidden folders"
        );
    }
}
