//! `cargo xtask tidy`: the rules of ARCHITECTURE.md that a program can check, so that the
//! map stays true. The code map's dependency column against `cargo metadata`; `libc` and
//! `unsafe` only in `capture` and `host`; serde derives only in the format crates; a `//!`
//! line first in every Rust file; no Rust file over 800 lines; every relative link of a
//! Markdown file resolves. Each finding names the file (and line) and the rule.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;

/// Check the repository's structural rules (runs in `cargo xtask ci`).
#[derive(Debug, clap::Args)]
pub struct Options {}

/// The longest a Rust file may be.
pub const MAX_LINES: usize = 800;

/// Crates allowed to use `libc` and `unsafe`: the kernel side and the OS glue.
const SYSTEM_CRATES: [&str; 2] = ["capture", "host"];

/// Files outside [`SYSTEM_CRATES`] that may use `unsafe`, and why.
const UNSAFE_EXCEPTIONS: [(&str, &str); 1] = [(
    "symbols/src/elf.rs",
    "maps a read-only ELF file (memmap2::Mmap::map is unsafe because another process could \
     truncate the file)",
)];

/// Format crates: their serde types are the on-disk formats.
const FORMAT_CRATES: [&str; 3] = ["trace", "sigdb", "report"];

/// Files outside [`FORMAT_CRATES`] that may derive serde traits, and why: inputs the
/// program only reads, its private caches, and command output never read back.
const SERDE_EXCEPTIONS: [(&str, &str); 7] = [
    ("xtask/src/recipe.rs", "reads recipes (targets/*.toml)"),
    ("xtask/src/case.rs", "reads bug cases (case.toml)"),
    ("xtask/src/stamp.rs", "xtask's private build stamps"),
    ("xtask/src/eval.rs", "`cargo xtask eval --json` output"),
    ("xtask/src/score.rs", "`cargo xtask eval --json` output"),
    (
        "sigdb-tool/src/",
        "the `sigdb` command's JSON and SARIF output, rendered from the format's types",
    ),
    ("fuzz/", "fuzz harnesses build inputs of the formats"),
];

/// One broken rule.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Finding {
    pub path: String,
    pub line: Option<usize>,
    pub rule: &'static str,
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{l}: [{}] {}", self.path, self.rule, self.message),
            None => write!(f, "{}: [{}] {}", self.path, self.rule, self.message),
        }
    }
}

pub fn run(_: Options) -> anyhow::Result<ExitCode> {
    let root = crate::workspace_root();
    let files = repo_files(&root)?;
    let crates = workspace_crates(&root)?;
    let map = std::fs::read_to_string(root.join("ARCHITECTURE.md"))
        .context("cannot read ARCHITECTURE.md")?;
    let mut findings = check_code_map(&map, &crates);
    findings.extend(check_files(&root, &files));
    findings.sort();
    for f in &findings {
        println!("{f}");
    }
    if findings.is_empty() {
        println!(
            "tidy: {} files, {} crates: all rules hold",
            files.len(),
            crates.len()
        );
        Ok(ExitCode::SUCCESS)
    } else {
        println!("tidy: {} findings", findings.len());
        Ok(ExitCode::FAILURE)
    }
}

/// The files git knows or would add (tracked and untracked, minus ignored), relative.
fn repo_files(root: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let out = std::process::Command::new("git")
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        .current_dir(root)
        .output()
        .context("cannot run git ls-files")?;
    anyhow::ensure!(
        out.status.success(),
        "git ls-files failed: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    let mut files: Vec<PathBuf> = out
        .stdout
        .split(|&b| b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| PathBuf::from(String::from_utf8_lossy(s).into_owned()))
        // deleted but not yet staged
        .filter(|p| root.join(p).is_file())
        .collect();
    files.sort();
    files.dedup();
    Ok(files)
}

/// Workspace crate name → its workspace dependencies (normal and build, not dev).
pub type Crates = BTreeMap<String, BTreeSet<String>>;

fn workspace_crates(root: &Path) -> anyhow::Result<Crates> {
    let meta = cargo_metadata::MetadataCommand::new()
        .manifest_path(root.join("Cargo.toml"))
        .no_deps()
        .exec()
        .context("cargo metadata failed")?;
    let members: BTreeSet<String> = meta
        .workspace_packages()
        .iter()
        .map(|p| p.name.to_string())
        .collect();
    Ok(meta
        .workspace_packages()
        .iter()
        .map(|p| {
            let deps = p
                .dependencies
                .iter()
                .filter(|d| d.kind != cargo_metadata::DependencyKind::Development)
                .filter(|d| members.contains(d.name.as_str()))
                .map(|d| d.name.to_string())
                .collect();
            (p.name.to_string(), deps)
        })
        .collect())
}

/// The code map's rows: `| \`crate\` | what | \`dep\`, \`dep\` |` under `## Code map`
/// (a last cell without backticks, such as "nothing", is the empty set).
pub fn parse_code_map(text: &str) -> BTreeMap<String, (usize, BTreeSet<String>)> {
    let mut rows = BTreeMap::new();
    let mut inside = false;
    for (i, line) in text.lines().enumerate() {
        if line.starts_with("## ") {
            inside = line.trim() == "## Code map";
            continue;
        }
        if !inside || !line.starts_with("| `") {
            continue;
        }
        let cells: Vec<&str> = line.trim().trim_matches('|').split('|').collect();
        let (Some(first), Some(last)) = (cells.first(), cells.last()) else {
            continue;
        };
        if cells.len() < 3 {
            continue;
        }
        let name = first.trim().trim_matches('`').to_string();
        rows.insert(name, (i + 1, backticked(last)));
    }
    rows
}

fn backticked(cell: &str) -> BTreeSet<String> {
    cell.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

pub fn check_code_map(map: &str, crates: &Crates) -> Vec<Finding> {
    let rows = parse_code_map(map);
    let mut out = Vec::new();
    let finding = |line, message| Finding {
        path: "ARCHITECTURE.md".into(),
        line,
        rule: "code-map",
        message,
    };
    for (name, deps) in crates {
        match rows.get(name) {
            None => out.push(finding(
                None,
                format!("crate `{name}` is not in the code map"),
            )),
            Some((line, listed)) if listed != deps => out.push(finding(
                Some(*line),
                format!(
                    "`{name}` depends on {} but the code map says {}",
                    list(deps),
                    list(listed)
                ),
            )),
            Some(_) => {}
        }
    }
    for (name, (line, _)) in &rows {
        if !crates.contains_key(name) {
            out.push(finding(
                Some(*line),
                format!("`{name}` is in the code map but not a workspace crate"),
            ));
        }
    }
    out
}

fn list(set: &BTreeSet<String>) -> String {
    if set.is_empty() {
        "nothing".into()
    } else {
        set.iter()
            .map(|s| format!("`{s}`"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn check_files(root: &Path, files: &[PathBuf]) -> Vec<Finding> {
    let mut out = Vec::new();
    for rel in files {
        let path = rel.to_string_lossy().replace('\\', "/");
        let name = rel.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let wanted = name.ends_with(".rs") || name.ends_with(".md") || name == "Cargo.toml";
        if !wanted || path.starts_with("fuzz/corpus/") {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(root.join(rel)) else {
            out.push(Finding {
                path,
                line: None,
                rule: "utf-8",
                message: "not readable as UTF-8 text".into(),
            });
            continue;
        };
        if name.ends_with(".rs") {
            out.extend(check_rust(&path, &text));
        } else if name.ends_with(".md") {
            out.extend(check_links(root, rel, &path, &text));
        } else {
            out.extend(check_manifest(&path, &text));
        }
    }
    out
}

/// The crate a path belongs to: its first component.
fn crate_of(path: &str) -> &str {
    path.split('/').next().unwrap_or("")
}

fn excepted(list: &[(&str, &str)], path: &str) -> bool {
    list.iter()
        .any(|(p, _)| path == *p || (p.ends_with('/') && path.starts_with(p)))
}

/// The rules of one Rust file.
pub fn check_rust(path: &str, text: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut push = |line, rule, message: String| {
        out.push(Finding {
            path: path.to_string(),
            line,
            rule,
            message,
        })
    };
    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    if !first.starts_with("//!") {
        push(
            Some(1),
            "doc-line",
            "the file does not start with a `//!` line saying what it is".into(),
        );
    }
    let lines = text.lines().count();
    if lines > MAX_LINES {
        push(
            None,
            "length",
            format!("{lines} lines, more than {MAX_LINES}: split it"),
        );
    }
    let system = SYSTEM_CRATES.contains(&crate_of(path));
    let format = FORMAT_CRATES.contains(&crate_of(path));
    let mut derive = String::new();
    let mut derive_line = 0;
    for (i, raw) in text.lines().enumerate() {
        let code = code_part(raw);
        if !system && !excepted(&UNSAFE_EXCEPTIONS, path) {
            if has_word(code, "unsafe") {
                push(
                    Some(i + 1),
                    "unsafe",
                    "`unsafe` outside capture and host".into(),
                );
            }
            if has_text(code, "libc::") {
                push(
                    Some(i + 1),
                    "libc",
                    "`libc` outside capture and host".into(),
                );
            }
        }
        // a derive attribute, possibly over several lines
        if derive.is_empty() && code.trim_start().starts_with("#[derive(") {
            derive_line = i + 1;
        }
        if derive_line != 0 {
            derive.push_str(code);
            if code.contains(")]") {
                let serde = has_word(&derive, "Serialize") || has_word(&derive, "Deserialize");
                if serde && !format && !excepted(&SERDE_EXCEPTIONS, path) {
                    push(
                        Some(derive_line),
                        "serde",
                        "a serde derive outside the format crates (trace, sigdb, report): \
                         an on-disk type belongs in a format crate"
                            .into(),
                    );
                }
                derive.clear();
                derive_line = 0;
            }
        }
    }
    out
}

/// `libc` is a dependency only of the system crates.
pub fn check_manifest(path: &str, text: &str) -> Vec<Finding> {
    if SYSTEM_CRATES.contains(&crate_of(path)) {
        return Vec::new();
    }
    let mut section = "";
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.starts_with('[') {
            section = t;
            continue;
        }
        let is_deps = section.ends_with("dependencies]") && !section.starts_with("[workspace");
        if is_deps && (t.starts_with("libc ") || t.starts_with("libc=") || t.starts_with("libc.")) {
            out.push(Finding {
                path: path.to_string(),
                line: Some(i + 1),
                rule: "libc",
                message: "`libc` is a dependency only of capture and host".into(),
            });
        }
    }
    out
}

/// A line without its `//` comment and string contents (good enough for the words we
/// look for: a string or comment naming `unsafe` is not code).
fn code_part(line: &str) -> &str {
    let t = line.trim_start();
    if t.starts_with("//") {
        return "";
    }
    match line.find("//") {
        // `//` inside a string ("http://…") keeps the line whole; quotes before it
        // mean it may be a string
        Some(at) if !line[..at].contains('"') => &line[..at],
        _ => line,
    }
}

/// `word` on the line as a whole identifier, outside string literals.
fn has_word(text: &str, word: &str) -> bool {
    let bytes = text.as_bytes();
    let ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    unquoted(text, word).any(|at| {
        let before = at == 0 || !ident(bytes[at - 1]);
        let end = at + word.len();
        before && (end >= bytes.len() || !ident(bytes[end]))
    })
}

/// `needle` on the line outside string literals.
fn has_text(text: &str, needle: &str) -> bool {
    unquoted(text, needle).next().is_some()
}

/// Where `needle` occurs outside string literals: after an even number of unescaped
/// quotes on the line.
fn unquoted<'a>(text: &'a str, needle: &'a str) -> impl Iterator<Item = usize> + 'a {
    text.match_indices(needle)
        .map(|(at, _)| at)
        .filter(move |&at| {
            let mut quotes = 0;
            let mut escaped = false;
            for b in text[..at].bytes() {
                if escaped {
                    escaped = false;
                    continue;
                }
                match b {
                    b'\\' => escaped = true,
                    b'"' => quotes += 1,
                    _ => {}
                }
            }
            quotes % 2 == 0
        })
}

/// Every relative link `[text](target)` of a Markdown file resolves to a file or folder.
fn check_links(root: &Path, rel: &Path, path: &str, text: &str) -> Vec<Finding> {
    let dir = rel.parent().unwrap_or(Path::new(""));
    let mut out = Vec::new();
    let mut fenced = false;
    for (i, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        for target in link_targets(line) {
            let target = target.split('#').next().unwrap_or("");
            if target.is_empty() || target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            if !root.join(dir).join(target).exists() {
                out.push(Finding {
                    path: path.to_string(),
                    line: Some(i + 1),
                    rule: "link",
                    message: format!("`{target}` does not exist"),
                });
            }
        }
    }
    out
}

/// The targets of inline links on one line.
pub fn link_targets(line: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("](") {
        let tail = &rest[at + 2..];
        let Some(end) = tail.find(')') else { break };
        let target = tail[..end].trim();
        // `[a](b "title")`
        out.push(target.split_whitespace().next().unwrap_or(""));
        rest = &tail[end..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crates(rows: &[(&str, &[&str])]) -> Crates {
        rows.iter()
            .map(|(n, d)| (n.to_string(), d.iter().map(|s| s.to_string()).collect()))
            .collect()
    }

    const MAP: &str = "# A\n\n## Code map\n\n| crate | what | depends on |\n| --- | --- | --- |\n\
                       | `trace` | the trace format | nothing |\n\
                       | `runner` | runs suites | `trace`, `capture` |\n\n## Invariants\n\
                       | `ghost` | not a row: another section | `x` |\n";

    #[test]
    fn the_code_map_must_match_the_manifests() {
        let ok = crates(&[("trace", &[]), ("runner", &["capture", "trace"])]);
        assert_eq!(check_code_map(MAP, &ok), vec![]);

        let drift = crates(&[
            ("trace", &["sigdb"]),
            ("runner", &["capture", "trace"]),
            ("new", &[]),
        ]);
        let mut found = check_code_map(MAP, &drift);
        found.sort_by_key(|f| f.line);
        let msgs: Vec<String> = found.iter().map(ToString::to_string).collect();
        assert_eq!(found.len(), 2, "{msgs:?}");
        assert!(msgs[0].contains("crate `new` is not in the code map"));
        assert!(msgs[1].contains("`trace` depends on `sigdb` but the code map says nothing"));
        assert_eq!(found[1].line, Some(7));

        let gone = crates(&[("trace", &[])]);
        let found = check_code_map(MAP, &gone);
        assert_eq!(found.len(), 1);
        assert!(
            found[0]
                .message
                .contains("`runner` is in the code map but not")
        );
    }

    #[test]
    fn unsafe_and_libc_only_in_the_system_crates() {
        let code = "//! x\nfn f() { unsafe { libc::getpid() }; }\n";
        let found = check_rust("trainer/src/lib.rs", code);
        let rules: Vec<&str> = found.iter().map(|f| f.rule).collect();
        assert_eq!(rules, ["unsafe", "libc"]);
        assert!(check_rust("host/src/procfs.rs", code).is_empty());
        assert!(check_rust("symbols/src/elf.rs", "//! x\nunsafe { map() }\n").is_empty());
        // words in comments, strings and identifiers are not code
        let quiet = "//! x\n// unsafe here\nlet s = \"unsafe\"; let unsafe_count = 1; \
                     #![deny(unsafe_op_in_unsafe_fn)]\n";
        assert_eq!(check_rust("trainer/src/lib.rs", quiet), vec![]);
    }

    #[test]
    fn serde_derives_only_in_the_format_crates() {
        let one_line = "//! x\n#[derive(Debug, Serialize)]\nstruct A;\n";
        let found = check_rust("perfscope/src/watch.rs", one_line);
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].rule, found[0].line), ("serde", Some(2)));
        let wrapped = "//! x\n#[derive(\n    Clone,\n    Deserialize,\n)]\nstruct A;\n";
        assert_eq!(check_rust("analysis/src/x.rs", wrapped).len(), 1);
        assert!(check_rust("report/src/v2.rs", one_line).is_empty());
        assert!(check_rust("sigdb-tool/src/show.rs", one_line).is_empty());
        assert!(check_rust("perfscope/src/a.rs", "//! x\n#[derive(Debug)]\n").is_empty());
    }

    #[test]
    fn doc_line_and_length() {
        let found = check_rust("episodes/src/lib.rs", "use x;\n");
        assert_eq!(found[0].rule, "doc-line");
        let long = format!("//! x\n{}", "let a = 1;\n".repeat(MAX_LINES));
        let found = check_rust("episodes/src/lib.rs", &long);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].rule, "length");
        assert!(found[0].message.starts_with("801 lines"));
    }

    #[test]
    fn libc_in_a_manifest() {
        let m = "[package]\nname = \"x\"\n[dependencies]\nlibc.workspace = true\n";
        assert_eq!(check_manifest("trainer/Cargo.toml", m).len(), 1);
        assert!(check_manifest("capture/Cargo.toml", m).is_empty());
        let ws = "[workspace.dependencies]\nlibc = \"0.2\"\n";
        assert!(check_manifest("Cargo.toml", ws).is_empty());
    }

    #[test]
    fn markdown_links() {
        assert_eq!(
            link_targets("see [a](docs/ci.md) and [b](http://x/y \"t\") [c](#top)"),
            ["docs/ci.md", "http://x/y", "#top"]
        );
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("docs")).unwrap();
        std::fs::write(dir.path().join("docs/ci.md"), "").unwrap();
        let text = "[ok](ci.md#x) [up](../README.md) [web](https://a)\n```\n[no](x.md)\n```\n";
        std::fs::write(dir.path().join("README.md"), "").unwrap();
        assert_eq!(
            check_links(dir.path(), Path::new("docs/a.md"), "docs/a.md", text),
            vec![]
        );
        let found = check_links(dir.path(), Path::new("a.md"), "a.md", "[x](DESIGN.md)");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].message, "`DESIGN.md` does not exist");
    }
}
