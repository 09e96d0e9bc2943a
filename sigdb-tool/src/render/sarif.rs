//! A [`Diff`] as SARIF 2.1.0, for CI code-scanning dashboards (GitHub code scanning and
//! other SARIF viewers): one result per added, removed, moved or changed function, located
//! at the function's declaring file and line.
//!
//! Every result has a physical location, because GitHub code scanning rejects a whole
//! upload when one result has none: a function without a declaring file (no DWARF, or the
//! `[outside application code]` pseudo-function) is located at the database file that
//! holds its signature, and its logical location still names it.

use std::fmt::Write as _;
use std::path::{Component, Path, PathBuf};

use serde::Serialize;

use super::Labels;
use crate::show::{plural, spell};
use sigdb::diff::{Diff, EpisodeSummary, FunctionChange, FunctionSummary, Moved, percent};
use sigdb::{Record, Sigdb};

/// `$schema` of the log: the SARIF 2.1.0 schema as editors and validators know it.
pub const SARIF_SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// The `uriBaseId` of paths under [`SarifOptions::source_root`].
pub const SRCROOT: &str = "SRCROOT";

/// Episodes named in one message, at most; the rest are counted.
const MESSAGE_EPISODES: usize = 3;

/// Where the results point.
#[derive(Clone, Copy, Debug, Default)]
pub struct SarifOptions<'a> {
    /// Source files under this folder (as the DWARF of the trained build names them) get
    /// URIs relative to it, with base id [`SRCROOT`]; others keep absolute `file://` URIs
    /// (which `github/codeql-action/upload-sarif` relativizes against its checkout path).
    /// Made absolute against the current directory, without resolving symlinks.
    pub source_root: Option<&'a Path>,
}

/// The rules, in `ruleIndex` order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rule {
    SignatureChanged,
    FunctionAdded,
    FunctionRemoved,
    FunctionMoved,
    InvocationsChanged,
}

const RULES: [Rule; 5] = [
    Rule::SignatureChanged,
    Rule::FunctionAdded,
    Rule::FunctionRemoved,
    Rule::FunctionMoved,
    Rule::InvocationsChanged,
];

impl Rule {
    fn id(self) -> &'static str {
        match self {
            Rule::SignatureChanged => "perfscope/signature-changed",
            Rule::FunctionAdded => "perfscope/function-added",
            Rule::FunctionRemoved => "perfscope/function-removed",
            Rule::FunctionMoved => "perfscope/function-moved",
            Rule::InvocationsChanged => "perfscope/invocations-changed",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Rule::SignatureChanged => "SignatureChanged",
            Rule::FunctionAdded => "FunctionAdded",
            Rule::FunctionRemoved => "FunctionRemoved",
            Rule::FunctionMoved => "FunctionMoved",
            Rule::InvocationsChanged => "InvocationsChanged",
        }
    }

    /// A changed signature is the finding a reviewer must look at: the function now makes
    /// other system calls than it did. The others follow from the code change itself.
    fn level(self) -> &'static str {
        match self {
            Rule::SignatureChanged => "warning",
            _ => "note",
        }
    }

    fn short(self) -> &'static str {
        match self {
            Rule::SignatureChanged => "A function's system-call signature changed",
            Rule::FunctionAdded => "A function is new in the signature database",
            Rule::FunctionRemoved => "A function is no longer in the signature database",
            Rule::FunctionMoved => "A function moved to another source file",
            Rule::InvocationsChanged => "A function ran a different number of times in the tests",
        }
    }

    fn full(self) -> &'static str {
        match self {
            Rule::SignatureChanged => {
                "The frequent system-call episodes that perfscope's trainer learned for this \
                 function from the test suite changed: episodes appeared or disappeared, their \
                 support (occurrences per invocation) moved past the diff's tolerance, or the \
                 function's class changed."
            }
            Rule::FunctionAdded => {
                "The function is in the new signature database only: it was added, renamed, or \
                 the test suite reached it for the first time."
            }
            Rule::FunctionRemoved => {
                "The function is in the old signature database only: it was removed, renamed, \
                 inlined, or the test suite no longer reaches it."
            }
            Rule::FunctionMoved => {
                "The only function of this name is declared in another source file than \
                 before. Its signature is compared as the same function's."
            }
            Rule::InvocationsChanged => {
                "The function was called a different number of times during the test suite \
                 (reported because `sigdb diff --invocations` counts such changes)."
            }
        }
    }

    fn help(self) -> &'static str {
        match self {
            Rule::SignatureChanged => {
                "Check that the function's new system calls are intended (an added fsync, a \
                 sleep, a retry loop): `sigdb diff --format markdown OLD NEW` lists its \
                 episodes before and after. Once merged, the new database is the reference."
            }
            Rule::FunctionAdded | Rule::FunctionRemoved | Rule::FunctionMoved => {
                "Usually the direct result of the change under review; nothing to do when it is."
            }
            Rule::InvocationsChanged => {
                "Expected when the test suite changed; otherwise the function is called more or \
                 less often than before for the same tests."
            }
        }
    }

    fn index(self) -> usize {
        RULES.iter().position(|&r| r == self).unwrap_or(0)
    }
}

#[derive(Serialize)]
struct Log<'a> {
    #[serde(rename = "$schema")]
    schema: &'static str,
    version: &'static str,
    runs: [Run<'a>; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Run<'a> {
    tool: Tool,
    #[serde(skip_serializing_if = "Option::is_none")]
    original_uri_base_ids: Option<BaseIds>,
    results: Vec<SarifResult>,
    properties: RunProperties<'a>,
}

#[derive(Serialize)]
struct Tool {
    driver: Driver,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Driver {
    name: &'static str,
    full_name: &'static str,
    version: &'static str,
    semantic_version: &'static str,
    rules: Vec<RuleDescriptor>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RuleDescriptor {
    id: &'static str,
    name: &'static str,
    short_description: Text,
    full_description: Text,
    help: Text,
    default_configuration: Configuration,
}

#[derive(Serialize)]
struct Configuration {
    level: &'static str,
}

#[derive(Serialize)]
struct Text {
    text: String,
}

fn text(s: impl Into<String>) -> Text {
    Text { text: s.into() }
}

#[derive(Serialize)]
struct BaseIds {
    #[serde(rename = "SRCROOT")]
    srcroot: Artifact,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RunProperties<'a> {
    old: Side<'a>,
    new: Side<'a>,
    differs: bool,
    support_abs: f64,
    support_rel: f64,
    invocations: bool,
}

#[derive(Serialize)]
struct Side<'a> {
    path: &'a str,
    target: &'a str,
    version: &'a str,
    records: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifResult {
    rule_id: &'static str,
    rule_index: usize,
    level: &'static str,
    message: Text,
    locations: [Location; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Location {
    physical_location: PhysicalLocation,
    logical_locations: [LogicalLocation; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PhysicalLocation {
    artifact_location: Artifact,
    #[serde(skip_serializing_if = "Option::is_none")]
    region: Option<Region>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Artifact {
    uri: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    uri_base_id: Option<&'static str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Region {
    start_line: u32,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LogicalLocation {
    name: String,
    kind: &'static str,
}

/// Builds the locations: files from the databases, URIs relative to the source root.
struct Locator<'a> {
    old: &'a Sigdb,
    new: &'a Sigdb,
    root: Option<PathBuf>,
    /// Where signatures of functions without a source file are: the new database.
    new_path: &'a str,
    old_path: &'a str,
}

impl Locator<'_> {
    /// The (first) record `(name, file)` of `db`: overloads of a JVM method share both.
    fn find<'d>(db: &'d Sigdb, name: &str, file: Option<&str>) -> Option<&'d Record> {
        let key = (name, file.unwrap_or(""));
        let i = db.records.partition_point(|r| {
            let (n, f, _) = r.key();
            (n, f) < key
        });
        db.records.get(i).filter(|r| {
            let (n, f, _) = r.key();
            (n, f) == key
        })
    }

    /// The location of function `name` declared in `file`, looked up in the new
    /// database (or the old one for a removed function).
    fn locate(&self, name: &str, file: Option<&str>, in_old: bool) -> Location {
        let (db, db_path) = if in_old {
            (self.old, self.old_path)
        } else {
            (self.new, self.new_path)
        };
        let physical = match file {
            Some(f) => PhysicalLocation {
                artifact_location: self.artifact(f),
                region: Self::find(db, name, file)
                    .and_then(|r| r.line)
                    .filter(|&l| l > 0)
                    .map(|start_line| Region { start_line }),
            },
            None => {
                // a database named relative to the current directory: under the source root
                // when the root is given that way too
                let abs = std::path::absolute(db_path).unwrap_or_else(|_| db_path.into());
                PhysicalLocation {
                    artifact_location: self.artifact(&abs.to_string_lossy()),
                    region: None,
                }
            }
        };
        Location {
            physical_location: physical,
            logical_locations: [LogicalLocation {
                name: name.to_string(),
                kind: "function",
            }],
        }
    }

    fn artifact(&self, file: &str) -> Artifact {
        let path = Path::new(file);
        if let Some(rel) = self.root.as_deref().and_then(|r| path.strip_prefix(r).ok())
            && !rel.as_os_str().is_empty()
        {
            return Artifact {
                uri: uri_path(&rel.to_string_lossy()),
                uri_base_id: Some(SRCROOT),
            };
        }
        if path.is_absolute() {
            return Artifact {
                uri: format!("file://{}", uri_path(file)),
                uri_base_id: None,
            };
        }
        // relative in the DWARF: to the compilation directory, usually the source root
        Artifact {
            uri: uri_path(file),
            uri_base_id: self.root.is_some().then_some(SRCROOT),
        }
    }
}

/// A path as a URI reference: RFC 3986 unreserved characters, sub-delimiters, `:`, `@`
/// and `/` as they are, every other byte percent-encoded.
pub fn uri_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/!$&'()*+,;=:@".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Lexically absolute, with `.` and `..` folded, so that `--source-root .` and
/// `--source-root ./src/..` strip the same prefix.
fn normalize(root: &Path) -> PathBuf {
    let abs = std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf());
    let mut out = PathBuf::new();
    for c in abs.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// The diff as a SARIF 2.1.0 log (pretty-printed JSON). `old` and `new` are the databases
/// the diff was made from: they give the declaring lines.
pub fn sarif(
    diff: &Diff,
    old: &Sigdb,
    new: &Sigdb,
    labels: Labels<'_>,
    options: &SarifOptions<'_>,
) -> String {
    let root = options.source_root.map(normalize);
    let loc = Locator {
        old,
        new,
        root: root.clone(),
        new_path: labels.new,
        old_path: labels.old,
    };
    let mut results = Vec::new();
    let mut push = |rule: Rule, message: String, location: Location| {
        results.push(SarifResult {
            rule_id: rule.id(),
            rule_index: rule.index(),
            level: rule.level(),
            message: text(message),
            locations: [location],
        });
    };
    for f in &diff.added {
        push(
            Rule::FunctionAdded,
            added_message(f, diff),
            loc.locate(&f.name, f.file.as_deref(), false),
        );
    }
    for f in &diff.removed {
        push(
            Rule::FunctionRemoved,
            removed_message(f, diff),
            loc.locate(&f.name, f.file.as_deref(), true),
        );
    }
    for m in &diff.moved {
        push(
            Rule::FunctionMoved,
            moved_message(m),
            loc.locate(&m.name, m.to.as_deref(), false),
        );
    }
    for c in diff.counted_changes() {
        let rule = if c.is_signature_change() {
            Rule::SignatureChanged
        } else {
            Rule::InvocationsChanged
        };
        push(
            rule,
            changed_message(c),
            loc.locate(&c.name, c.file.as_deref(), false),
        );
    }
    let log = Log {
        schema: SARIF_SCHEMA,
        version: "2.1.0",
        runs: [Run {
            tool: Tool {
                driver: Driver {
                    name: "sigdb",
                    full_name: "perfscope sigdb diff",
                    version: env!("CARGO_PKG_VERSION"),
                    semantic_version: env!("CARGO_PKG_VERSION"),
                    rules: RULES
                        .iter()
                        .map(|&r| RuleDescriptor {
                            id: r.id(),
                            name: r.name(),
                            short_description: text(r.short()),
                            full_description: text(r.full()),
                            help: text(r.help()),
                            default_configuration: Configuration { level: r.level() },
                        })
                        .collect(),
                },
            },
            original_uri_base_ids: root.map(|r| BaseIds {
                srcroot: Artifact {
                    uri: format!(
                        "file://{}/",
                        uri_path(r.to_string_lossy().trim_end_matches('/'))
                    ),
                    uri_base_id: None,
                },
            }),
            results,
            properties: RunProperties {
                old: Side {
                    path: labels.old,
                    target: &diff.old.target,
                    version: &diff.old.version,
                    records: diff.old.records,
                },
                new: Side {
                    path: labels.new,
                    target: &diff.new.target,
                    version: &diff.new.version,
                    records: diff.new.records,
                },
                differs: diff.differs(),
                support_abs: diff.options.support_abs,
                support_rel: diff.options.support_rel,
                invocations: diff.options.invocations,
            },
        }],
    };
    // plain data with string keys: serde_json cannot fail on it
    let mut out = serde_json::to_string_pretty(&log).unwrap_or_default();
    out.push('\n');
    out
}

/// `read→write, getrandom and 2 more`.
fn episode_list<'a>(events: impl ExactSizeIterator<Item = &'a [String]>) -> String {
    let n = events.len();
    let mut names: Vec<String> = events.take(MESSAGE_EPISODES).map(spell).collect();
    if n > MESSAGE_EPISODES {
        names.push(format!("{} more", n - MESSAGE_EPISODES));
    }
    names.join(", ")
}

fn episodes_of(eps: &[EpisodeSummary]) -> String {
    episode_list(eps.iter().map(|e| e.events.as_slice()))
}

fn signature_phrase(f: &FunctionSummary) -> String {
    match f.episodes.len() {
        0 => "no signature (no frequent system-call episode)".to_string(),
        n => format!(
            "{n} {} ({})",
            plural(n as u64, "episode", "episodes"),
            episodes_of(&f.episodes)
        ),
    }
}

fn added_message(f: &FunctionSummary, diff: &Diff) -> String {
    format!(
        "{} is new in {} {}: {}, {} {} in the tests{}.",
        f.name,
        diff.new.target,
        diff.new.version,
        signature_phrase(f),
        f.invocations,
        plural(f.invocations, "invocation", "invocations"),
        if f.enough_evidence {
            ""
        } else {
            " (too few for the signature to be compared)"
        }
    )
}

fn removed_message(f: &FunctionSummary, diff: &Diff) -> String {
    format!(
        "{} is no longer in {} {}; it had {}.",
        f.name,
        diff.new.target,
        diff.new.version,
        signature_phrase(f)
    )
}

fn moved_message(m: &Moved) -> String {
    format!(
        "{} moved from {} to {}.",
        m.name,
        m.from.as_deref().unwrap_or("(no file)"),
        m.to.as_deref().unwrap_or("(no file)")
    )
}

fn changed_message(c: &FunctionChange) -> String {
    let mut parts = Vec::new();
    if let Some(k) = &c.class {
        parts.push(format!("class {} → {}", k.old.as_str(), k.new.as_str()));
    }
    let (plus, minus) = (c.episodes_added.len(), c.episodes_removed.len());
    if plus > 0 {
        parts.push(format!(
            "{plus} {} added ({})",
            plural(plus as u64, "episode", "episodes"),
            episodes_of(&c.episodes_added)
        ));
    }
    if minus > 0 {
        parts.push(format!(
            "{minus} {} removed ({})",
            plural(minus as u64, "episode", "episodes"),
            episodes_of(&c.episodes_removed)
        ));
    }
    if !c.support.is_empty() {
        let shown: Vec<String> = c
            .support
            .iter()
            .take(MESSAGE_EPISODES)
            .map(|s| format!("{} {:.2} → {:.2}", spell(&s.events), s.old, s.new))
            .collect();
        let more = c.support.len().saturating_sub(MESSAGE_EPISODES);
        parts.push(format!(
            "support of {}{}",
            shown.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        ));
    }
    if let Some(i) = &c.invocations {
        parts.push(format!(
            "invocations {} → {}{}",
            i.old,
            i.new,
            percent(i.old as f64, i.new as f64).map_or(String::new(), |p| format!(" ({p:+.1} %)"))
        ));
    }
    let what = if c.is_signature_change() {
        "system-call signature changed"
    } else {
        "invocation count changed"
    };
    format!(
        "{}: {what}: {} (the signature rests on {}).",
        c.name,
        parts.join("; "),
        super::markdown::evidence(&c.evidence)
    )
}
