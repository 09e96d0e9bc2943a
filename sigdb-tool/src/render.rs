//! A [`Diff`] as text for a terminal (full, or `git diff --stat`-like), as Markdown for a
//! pull-request comment, as one JSON document (schema [`DIFF_SCHEMA`]), and as SARIF 2.1.0
//! for code-scanning dashboards ([`sarif`]).

mod markdown;
mod sarif;

use std::fmt::Write as _;

use serde::Serialize;
use serde_json::Value;

use crate::show::{plural, push_json, spell};
use crate::table::{Align, Table, width};
use sigdb::diff::{Change, ChangeKind, Diff, FunctionChange, FunctionSummary, percent};

pub use markdown::{Links, markdown};
pub use sarif::{SarifOptions, sarif};

/// Version of the JSON that [`json`] writes: fields are only added within a version.
pub const DIFF_SCHEMA: u32 = 2;

/// Widest `+-~` bar of [`stat`], like git's.
const STAT_BAR: usize = 50;

/// Rows per Markdown table: a pull-request comment has a size limit (65,536 characters on
/// the usual forge), and a review needs the first rows, not all of them.
const MARKDOWN_ROWS: usize = 100;

/// What the two sides are called in reports: usually their paths.
#[derive(Clone, Copy, Debug)]
pub struct Labels<'a> {
    pub old: &'a str,
    pub new: &'a str,
}

/// The full text report.
pub fn text(diff: &Diff, labels: Labels<'_>) -> String {
    let mut out = String::new();
    let side = |label: &str, s: &sigdb::diff::DbSummary| {
        format!(
            "{label}  {} {} ({} {})",
            s.target,
            s.version,
            s.records,
            plural(s.records, "function", "functions")
        )
    };
    let _ = writeln!(out, "--- {}", side(labels.old, &diff.old));
    let _ = writeln!(out, "+++ {}", side(labels.new, &diff.new));
    if diff.is_empty() {
        out.push_str("\nno differences\n");
        return out;
    }
    for (title, fields) in [
        ("target", &diff.target),
        ("params", &diff.params),
        ("coverage", &diff.coverage),
    ] {
        if fields.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n{title}");
        let mut t = Table::new(&[Align::Left, Align::Left]);
        for f in fields {
            t.row([
                f.field.clone(),
                format!("{} → {}", value(&f.old), value(&f.new)),
            ]);
        }
        t.render("  ", &mut out);
    }
    let _ = writeln!(out, "\n{}", summary_line(diff));

    let mut t = Table::new(&[
        Align::Left,
        Align::Left,
        Align::Right,
        Align::Right,
        Align::Left,
    ]);
    for (mark, list) in [("+", &diff.added), ("-", &diff.removed)] {
        for f in list {
            t.row([
                format!("{mark} {}", key(&f.name, f.file.as_deref())),
                f.class.as_str().to_string(),
                format!(
                    "{} inv ({})",
                    f.invocations,
                    if f.enough_evidence {
                        "enough"
                    } else {
                        "too few"
                    }
                ),
                format!(
                    "{} {}",
                    f.episodes.len(),
                    plural(f.episodes.len() as u64, "episode", "episodes")
                ),
                top_episodes(f),
            ]);
        }
    }
    t.render("", &mut out);
    let mut moved = Table::new(&[Align::Left, Align::Left]);
    for m in &diff.moved {
        moved.row([
            format!("> {}", m.name),
            format!("{} → {}", file(m.from.as_deref()), file(m.to.as_deref())),
        ]);
    }
    moved.render("", &mut out);

    for c in diff.counted_changes() {
        let _ = writeln!(
            out,
            "~ {}  [{}]",
            key(&c.name, c.file.as_deref()),
            markdown::evidence(&c.evidence)
        );
        change_rows(c).render("    ", &mut out);
    }
    for kind in UNCOUNTED {
        let list: Vec<&FunctionChange> = diff.uncounted_of(kind).collect();
        if list.is_empty() {
            continue;
        }
        let _ = writeln!(
            out,
            "\n{} (not counted{})",
            kind.as_str(),
            match kind {
                ChangeKind::Outside => "; --outside counts it",
                ChangeKind::ProcessState => "; --process-state counts them",
                ChangeKind::Invocations => "; --invocations counts them",
                _ => "",
            }
        );
        for c in list {
            let _ = writeln!(
                out,
                "  {}  [{}]",
                key(&c.name, c.file.as_deref()),
                markdown::evidence(&c.evidence)
            );
            if kind != ChangeKind::Invocations {
                change_rows(c).render("      ", &mut out);
            }
        }
    }
    out
}

/// `2 functions added, 1 removed, 1 moved, 2 changed; not counted: 1 low evidence,
/// 1 newly covered, 3 invocation counts`.
fn summary_line(diff: &Diff) -> String {
    let changed = diff.counted_changes().count();
    let signed =
        |v: &[sigdb::diff::FunctionSummary]| v.iter().filter(|f| f.has_signature()).count();
    let (added, removed) = (signed(&diff.added), signed(&diff.removed));
    let mut parts = Vec::new();
    for (n, what) in [
        (added, "added"),
        (removed, "removed"),
        (diff.moved.len(), "moved"),
        (changed, "changed"),
    ] {
        if n > 0 {
            let noun = match parts.is_empty() {
                true => plural(n as u64, " function", " functions"),
                false => "",
            };
            parts.push(format!("{n}{noun} {what}"));
        }
    }
    let mut s = if parts.is_empty() {
        "no signature changes".to_string()
    } else {
        parts.join(", ")
    };
    let mut rest = Vec::new();
    for (n, what) in [
        (diff.added.len() - added, "added"),
        (diff.removed.len() - removed, "removed"),
    ] {
        if n > 0 {
            rest.push(format!("{n} {what} without a signature"));
        }
    }
    for kind in UNCOUNTED {
        let n = diff.uncounted_of(kind).count() as u64;
        if n > 0 {
            rest.push(match kind {
                ChangeKind::Invocations => {
                    format!("{n} invocation {}", plural(n, "count", "counts"))
                }
                k => format!("{n} {}", k.as_str()),
            });
        }
    }
    if !rest.is_empty() {
        let _ = write!(s, "; not counted: {}", rest.join(", "));
    }
    s
}

/// The kinds of change shown but not counted, in the order reports list them.
const UNCOUNTED: [ChangeKind; 6] = [
    ChangeKind::NewlyCovered,
    ChangeKind::NoLongerCovered,
    ChangeKind::LowEvidence,
    ChangeKind::ProcessState,
    ChangeKind::Outside,
    ChangeKind::Invocations,
];

fn change_rows(c: &FunctionChange) -> Table {
    let mut t = Table::new(&[Align::Left, Align::Left, Align::Left]);
    if let Some(Change { old, new }) = &c.class {
        t.row(["class", &format!("{} → {}", old.as_str(), new.as_str()), ""]);
    }
    if let Some(inv) = &c.invocations {
        t.row(["invocations".to_string(), invocations(inv), String::new()]);
    }
    for (mark, list) in [("+", &c.episodes_added), ("-", &c.episodes_removed)] {
        for e in list {
            t.row([
                format!("{mark} episode"),
                spell(&e.events),
                format!("support {:.2} ± {:.2}", e.support, e.se),
            ]);
        }
    }
    for s in &c.support {
        t.row([
            "~ support".to_string(),
            spell(&s.events),
            format!(
                "{:.2} ± {:.2} → {:.2} ± {:.2}{}",
                s.old,
                s.old_se,
                s.new,
                s.new_se,
                relative(s.old, s.new)
            ),
        ]);
    }
    t
}

fn invocations(c: &Change<u64>) -> String {
    format!(
        "{} → {}{}",
        c.old,
        c.new,
        relative(c.old as f64, c.new as f64)
    )
}

/// ` (+50.0 %)`, or nothing from 0.
fn relative(old: f64, new: f64) -> String {
    percent(old, new).map_or(String::new(), |p| format!(" ({p:+.1} %)"))
}

fn key(name: &str, file: Option<&str>) -> String {
    match file {
        Some(f) => format!("{name} ({f})"),
        None => name.to_string(),
    }
}

fn file(f: Option<&str>) -> &str {
    f.unwrap_or("(no file)")
}

fn top_episodes(f: &FunctionSummary) -> String {
    let mut v: Vec<String> = f
        .episodes
        .iter()
        .take(2)
        .map(|e| spell(&e.events))
        .collect();
    if f.episodes.len() > 2 {
        v.push(format!("+{} more", f.episodes.len() - 2));
    }
    v.join(", ")
}

/// A header value as people read it: strings bare, lists comma-separated, null as `-`.
fn value(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        Value::Array(a) if a.is_empty() => "-".into(),
        Value::Array(a) => a.iter().map(value).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

/// One line per function that changed, then a summary line, like `git diff --stat`:
/// the count is episodes added (`+`), removed (`-`) and with a changed support (`~`);
/// a class-only change or a move counts 0. Invocation-only changes are left out unless
/// the diff counts them. Nothing at all when no signature changed.
pub fn stat(diff: &Diff) -> String {
    struct Line {
        name: String,
        plus: usize,
        minus: usize,
        tilde: usize,
    }
    let mut lines: Vec<(String, Option<String>, Line)> = Vec::new();
    let mut push = |name: &str, file: Option<&str>, label: String, p, m, t| {
        lines.push((
            name.to_string(),
            file.map(str::to_string),
            Line {
                name: label,
                plus: p,
                minus: m,
                tilde: t,
            },
        ));
    };
    for f in &diff.added {
        push(
            &f.name,
            f.file.as_deref(),
            key(&f.name, f.file.as_deref()),
            f.episodes.len(),
            0,
            0,
        );
    }
    for f in &diff.removed {
        push(
            &f.name,
            f.file.as_deref(),
            key(&f.name, f.file.as_deref()),
            0,
            f.episodes.len(),
            0,
        );
    }
    let moved_to: std::collections::BTreeMap<(&str, Option<&str>), Option<&str>> = diff
        .moved
        .iter()
        .map(|m| ((m.name.as_str(), m.to.as_deref()), m.from.as_deref()))
        .collect();
    let counted: Vec<&FunctionChange> = diff.counted_changes().collect();
    for c in &counted {
        let label = match moved_to.get(&(c.name.as_str(), c.file.as_deref())) {
            Some(from) => format!(
                "{} ({} => {})",
                c.name,
                file(*from),
                file(c.file.as_deref())
            ),
            None => key(&c.name, c.file.as_deref()),
        };
        push(
            &c.name,
            c.file.as_deref(),
            label,
            c.episodes_added.len(),
            c.episodes_removed.len(),
            c.support.len(),
        );
    }
    for m in &diff.moved {
        let listed = counted.iter().any(|c| c.name == m.name && c.file == m.to);
        if !listed {
            push(
                &m.name,
                m.to.as_deref(),
                format!(
                    "{} ({} => {})",
                    m.name,
                    file(m.from.as_deref()),
                    file(m.to.as_deref())
                ),
                0,
                0,
                0,
            );
        }
    }
    if lines.is_empty() {
        return String::new();
    }
    lines.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    let name_width = lines.iter().map(|l| width(&l.2.name)).max().unwrap_or(0);
    let total = |l: &Line| l.plus + l.minus + l.tilde;
    let max = lines.iter().map(|l| total(&l.2)).max().unwrap_or(0);
    let count_width = max.to_string().len();
    let scale = |n: usize| -> usize {
        if max <= STAT_BAR || n == 0 {
            n
        } else {
            (n * STAT_BAR / max).max(1)
        }
    };
    let mut out = String::new();
    let (mut plus, mut minus, mut tilde) = (0, 0, 0);
    for (_, _, l) in &lines {
        let bar = format!(
            "{}{}{}",
            "+".repeat(scale(l.plus)),
            "-".repeat(scale(l.minus)),
            "~".repeat(scale(l.tilde))
        );
        let pad = name_width - width(&l.name);
        let line = format!(
            " {}{} | {:>count_width$} {bar}",
            l.name,
            " ".repeat(pad),
            total(l)
        );
        let _ = writeln!(out, "{}", line.trim_end());
        plus += l.plus;
        minus += l.minus;
        tilde += l.tilde;
    }
    let n = lines.len() as u64;
    let _ = write!(out, " {n} {} changed", plural(n, "function", "functions"));
    let mut what = Vec::new();
    for (k, w) in [
        (diff.added.len(), "added"),
        (diff.removed.len(), "removed"),
        (diff.moved.len(), "moved"),
    ] {
        if k > 0 {
            what.push(format!("{k} {w}"));
        }
    }
    if !what.is_empty() {
        let _ = write!(out, " ({})", what.join(", "));
    }
    // like git, the zero counts are left out
    let mut parts: Vec<String> = Vec::new();
    for (k, verb) in [(plus, "added(+)"), (minus, "removed(-)")] {
        if k > 0 {
            let noun = match parts.is_empty() {
                true => plural(k as u64, " episode", " episodes"),
                false => "",
            };
            parts.push(format!("{k}{noun} {verb}"));
        }
    }
    if tilde > 0 {
        let noun = plural(tilde as u64, "support", "supports");
        parts.push(format!("{tilde} {noun} changed(~)"));
    }
    for p in parts {
        let _ = write!(out, ", {p}");
    }
    let uncounted = diff.uncounted_changes().count() as u64;
    if uncounted > 0 {
        let _ = write!(
            out,
            "; {uncounted} more {} not counted",
            plural(uncounted, "function", "functions")
        );
    }
    out.push('\n');
    out
}

#[derive(Serialize)]
struct JsonDoc<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    schema: u32,
    old_path: &'a str,
    new_path: &'a str,
    differs: bool,
    #[serde(flatten)]
    diff: &'a Diff,
}

/// The diff as one JSON document on one line: `{"type":"diff","schema":1,...}`.
pub fn json(diff: &Diff, labels: Labels<'_>) -> String {
    let mut out = String::new();
    push_json(
        &mut out,
        &JsonDoc {
            kind: "diff",
            schema: DIFF_SCHEMA,
            old_path: labels.old,
            new_path: labels.new,
            differs: diff.differs(),
            diff,
        },
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use sigdb::{Record, Sigdb, diff};
    use testkit::sigdbs::{ep, header, record};

    fn db(records: Vec<Record>) -> Sigdb {
        Sigdb::new(header("1", "00"), records)
    }

    fn rec(name: &str, file: Option<&str>, eps: &[(&str, f64)]) -> Record {
        // 100 invocations: enough for a new episode in each to be a significant change
        let mut r = record(
            name,
            file.unwrap_or(""),
            100,
            eps.iter().map(|&(e, s)| ep(e, s, 1.0, 100)).collect(),
        );
        r.file = file.map(str::to_string);
        r
    }

    #[test]
    fn markdown_code_spans_survive_pipes_and_backticks() {
        let a = db(vec![]);
        let b = db(vec![
            rec("operator|", Some("a.cc"), &[]),
            rec("we`ird", None, &[]),
            rec("`edge", None, &[]),
        ]);
        let md = markdown(
            &diff(&a, &b),
            Labels { old: "a", new: "b" },
            &Links::default(),
        );
        // `|` escaped so the table keeps its columns; fences longer than the backtick runs
        assert!(md.contains("| `operator\\|` | `a.cc` |"), "{md}");
        assert!(md.contains("| ``we`ird`` |"), "{md}");
        assert!(md.contains("| `` `edge `` |"), "{md}");
        for line in md.lines().filter(|l| l.starts_with("| `")) {
            let cells = line.replace("\\|", "").matches('|').count();
            assert_eq!(cells, 7, "{line}");
        }
    }

    #[test]
    fn stat_bars_are_scaled_to_fit() {
        let many: Vec<(String, f64)> = (0..200).map(|i| (format!("e{i}"), 1.0)).collect();
        let many: Vec<(&str, f64)> = many.iter().map(|(e, s)| (e.as_str(), *s)).collect();
        let a = db(vec![rec("small", None, &[])]);
        let b = db(vec![
            rec("big", None, &many),
            rec("small", None, &[("read", 1.0)]),
        ]);
        let stat = stat(&diff(&a, &b));
        let lines: Vec<&str> = stat.lines().collect();
        assert_eq!(lines[0], format!(" big   | 200 {}", "+".repeat(50)));
        // a small count still shows one mark
        assert_eq!(lines[1], " small |   1 +");
        assert!(lines[2].starts_with(" 2 functions changed (1 added), 201 episodes added(+)"));
    }
}
