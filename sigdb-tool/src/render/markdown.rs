//! A [`Diff`] as Markdown for a pull-request comment: the summary and the changed functions
//! first, each with the invocations its signature rests on and its details collapsed;
//! what does not count (newly or no longer covered, low evidence, outside application
//! code, invocation counts, header fields) folded away below.

use std::fmt::Write as _;
use std::path::Path;

use sigdb::diff::{ChangeKind, Diff, Evidence, FieldChange, FunctionChange, FunctionSummary};

use super::{Labels, MARKDOWN_ROWS, invocations, percent, relative, summary_line, value};
use crate::show::{plural, spell};

/// Where function names link to: `REPO_URL/PATH#LLINE`, PATH relative to `source_root`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Links<'a> {
    pub source_root: Option<&'a Path>,
    pub repo_url: Option<&'a str>,
}

impl Links<'_> {
    /// The file relative to the source root, when under it.
    fn relative<'f>(&self, file: &'f str) -> Option<&'f str> {
        let root = self.source_root?.to_str()?.trim_end_matches('/');
        file.strip_prefix(root)?.strip_prefix('/')
    }

    /// `name` as a code span, linked to its line when a repository URL is known.
    fn function(&self, name: &str, file: Option<&str>, line: Option<u32>) -> String {
        let span = code(name);
        let (Some(url), Some(rel)) = (self.repo_url, file.and_then(|f| self.relative(f))) else {
            return span;
        };
        let anchor = line.map_or(String::new(), |l| format!("#L{l}"));
        format!("[{span}]({}/{}{anchor})", url.trim_end_matches('/'), rel)
    }

    /// The file as shown: relative to the source root when under it.
    fn file(&self, file: Option<&str>) -> String {
        file.map_or(String::new(), |f| code(self.relative(f).unwrap_or(f)))
    }
}

/// `200 → 180 invocations (enough)`, `3 → 40 invocations (enough now)`: the invocations
/// a function's signature rests on, on each side, and whether that is enough.
pub(super) fn evidence(e: &Evidence) -> String {
    let (sides, verdict) = evidence_parts(e);
    format!("{sides} invocations ({verdict})")
}

/// [`evidence`] for a table column of invocations: `200 → 180 (enough)`.
fn evidence_cell(e: &Evidence) -> String {
    let (sides, verdict) = evidence_parts(e);
    format!("{sides} ({verdict})")
}

fn evidence_parts(e: &Evidence) -> (String, &'static str) {
    let sides = if e.old == e.new {
        e.new.to_string()
    } else {
        format!("{} → {}", e.old, e.new)
    };
    let verdict = match (e.old_enough, e.new_enough) {
        (true, true) => "enough",
        (false, false) => "too few",
        (false, true) => "enough now",
        (true, false) => "too few now",
    };
    (sides, verdict)
}

/// The Markdown report.
pub fn markdown(diff: &Diff, labels: Labels<'_>, links: &Links<'_>) -> String {
    let mut out = String::new();
    let counted: Vec<&FunctionChange> = diff.counted_changes().collect();
    let _ = writeln!(out, "### sigdb diff: {}\n", summary_line(diff));
    let _ = writeln!(
        out,
        "{} ({} {}, {} functions) → {} ({} {}, {} functions). A support change counts from \
         ±{} and ±{} % and {} standard errors, on functions with at least {} invocations \
         on both sides.\n",
        code(labels.old),
        md(&diff.old.target),
        md(&diff.old.version),
        diff.old.records,
        code(labels.new),
        md(&diff.new.target),
        md(&diff.new.version),
        diff.new.records,
        diff.options.support_abs,
        diff.options.support_rel * 100.0,
        diff.options.z,
        diff.new.min_evidence,
    );
    if !counted.is_empty() {
        let _ = writeln!(out, "#### Changed functions ({})\n", counted.len());
        change_list(&counted, links, &mut out);
    }
    // the repository URL is the new side's: removed functions are not there to link to
    let unlinked = Links {
        repo_url: None,
        ..*links
    };
    for (title, list, links) in [
        ("Added", &diff.added, links),
        ("Removed", &diff.removed, &unlinked),
    ] {
        if !list.is_empty() {
            let _ = writeln!(out, "#### {title} functions ({})\n", list.len());
            function_table(list, links, &mut out);
        }
    }
    if !diff.moved.is_empty() {
        let _ = writeln!(out, "#### Moved functions ({})\n", diff.moved.len());
        out.push_str("| Function | From | To |\n|---|---|---|\n");
        for m in diff.moved.iter().take(MARKDOWN_ROWS) {
            let _ = writeln!(
                out,
                "| {} | {} | {} |",
                code(&m.name),
                links.file(m.from.as_deref()),
                links.file(m.to.as_deref())
            );
        }
        more_rows(diff.moved.len(), &mut out);
    }
    for (kind, what) in [
        (
            ChangeKind::NewlyCovered,
            "Newly covered: enough invocations now, too few before (not counted)",
        ),
        (
            ChangeKind::NoLongerCovered,
            "No longer covered: too few invocations now (not counted)",
        ),
        (
            ChangeKind::LowEvidence,
            "Low evidence: too few invocations on both sides (not counted)",
        ),
        (
            ChangeKind::ProcessState,
            "Heap or lock state only: only episodes of `brk`, `mmap`, `munmap`, `mremap`, \
             `madvise` or `futex` changed, which follow the whole process's heap and \
             threads (not counted; `--process-state` counts them)",
        ),
        (
            ChangeKind::Outside,
            "Outside application code (not counted; `--outside` counts it)",
        ),
    ] {
        let list: Vec<&FunctionChange> = diff.uncounted_of(kind).collect();
        if list.is_empty() {
            continue;
        }
        let _ = writeln!(
            out,
            "<details><summary>{what}: {} {}</summary>\n",
            list.len(),
            plural(list.len() as u64, "function", "functions")
        );
        change_list(&list, links, &mut out);
        out.push_str("</details>\n\n");
    }
    invocation_counts(diff, links, &mut out);
    header_changes(diff, &mut out);
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}

/// A table of `list`, then each function's details collapsed under its name.
fn change_list(list: &[&FunctionChange], links: &Links<'_>, out: &mut String) {
    out.push_str("| Function | File | Invocations | Episodes | Support changes |\n");
    out.push_str("|---|---|--:|--:|--:|\n");
    for c in list.iter().take(MARKDOWN_ROWS) {
        // an empty cell reads as "unchanged"
        let (plus, minus) = (c.episodes_added.len(), c.episodes_removed.len());
        let episodes = match (plus, minus) {
            (0, 0) => String::new(),
            _ => format!("+{plus} −{minus}"),
        };
        let support = match c.support.len() {
            0 => String::new(),
            n => n.to_string(),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {episodes} | {support} |",
            links.function(&c.name, c.file.as_deref(), c.line),
            links.file(c.file.as_deref()),
            evidence_cell(&c.evidence),
        );
    }
    more_rows(list.len(), out);
    for c in list.iter().take(MARKDOWN_ROWS) {
        change_details(c, out);
    }
}

fn change_details(c: &FunctionChange, out: &mut String) {
    let _ = writeln!(
        out,
        "<details><summary><code>{}</code>: {}</summary>\n",
        html(&c.name),
        evidence(&c.evidence)
    );
    if let Some(k) = &c.class {
        let _ = writeln!(out, "- class: {} → {}", k.old.as_str(), k.new.as_str());
    }
    if let Some(i) = &c.invocations {
        let _ = writeln!(out, "- invocations: {}", invocations(i));
    }
    for (verb, list) in [
        ("added", &c.episodes_added),
        ("removed", &c.episodes_removed),
    ] {
        for e in list {
            let _ = writeln!(
                out,
                "- {verb}: {} (support {:.2} ± {:.2}, weight {:.3})",
                code(&spell(&e.events)),
                e.support,
                e.se,
                e.weight
            );
        }
    }
    for s in &c.support {
        let _ = writeln!(
            out,
            "- support of {}: {:.2} ± {:.2} → {:.2} ± {:.2}{}",
            code(&spell(&s.events)),
            s.old,
            s.old_se,
            s.new,
            s.new_se,
            relative(s.old, s.new)
        );
    }
    out.push_str("\n</details>\n\n");
}

fn function_table(list: &[FunctionSummary], links: &Links<'_>, out: &mut String) {
    out.push_str("| Function | File | Class | Invocations | Episodes | Top episode |\n");
    out.push_str("|---|---|---|--:|--:|---|\n");
    for f in list.iter().take(MARKDOWN_ROWS) {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} ({}) | {} | {} |",
            links.function(&f.name, f.file.as_deref(), f.line),
            links.file(f.file.as_deref()),
            f.class.as_str(),
            f.invocations,
            if f.enough_evidence {
                "enough"
            } else {
                "too few"
            },
            f.episodes.len(),
            f.episodes
                .first()
                .map_or("".into(), |e| code(&spell(&e.events)))
        );
    }
    more_rows(list.len(), out);
}

fn invocation_counts(diff: &Diff, links: &Links<'_>, out: &mut String) {
    let list: Vec<&FunctionChange> = diff.uncounted_of(ChangeKind::Invocations).collect();
    if list.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "<details><summary>{} invocation {} changed (not signature changes)</summary>\n",
        list.len(),
        plural(list.len() as u64, "count", "counts")
    );
    out.push_str("| Function | File | Old | New | Change |\n|---|---|--:|--:|--:|\n");
    for c in list.iter().take(MARKDOWN_ROWS) {
        if let Some(i) = &c.invocations {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                code(&c.name),
                links.file(c.file.as_deref()),
                i.old,
                i.new,
                percent(i.old as f64, i.new as f64).map_or("".into(), |p| format!("{p:+.1} %"))
            );
        }
    }
    more_rows(list.len(), out);
    out.push_str("</details>\n\n");
}

fn header_changes(diff: &Diff, out: &mut String) {
    let header: Vec<(&str, &FieldChange)> = [
        ("target", &diff.target),
        ("params", &diff.params),
        ("coverage", &diff.coverage),
    ]
    .into_iter()
    .flat_map(|(s, v)| v.iter().map(move |f| (s, f)))
    .collect();
    if header.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "<details><summary>Target, parameters and coverage ({} {})</summary>\n",
        header.len(),
        plural(header.len() as u64, "change", "changes")
    );
    out.push_str("| Section | Field | Old | New |\n|---|---|---|---|\n");
    for (section, f) in header {
        let _ = writeln!(
            out,
            "| {section} | {} | {} | {} |",
            code(&f.field),
            code(&value(&f.old)),
            code(&value(&f.new))
        );
    }
    out.push_str("\n</details>\n");
}

fn more_rows(n: usize, out: &mut String) {
    if n > MARKDOWN_ROWS {
        let _ = writeln!(
            out,
            "\n… and {} more: run `sigdb diff` for the full list.",
            n - MARKDOWN_ROWS
        );
    }
    out.push('\n');
}

/// A Markdown code span that survives a table cell: `|` escaped (GFM reads `\|` inside a
/// span in a table as `|`), and a fence longer than any backtick run in `s`.
pub(super) fn code(s: &str) -> String {
    let longest = s.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    let pad = if s.starts_with('`') || s.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{}{pad}{fence}", s.replace('|', "\\|"))
}

/// Text inside HTML (a `<summary>`): `&`, `<` and `>` escaped.
fn html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Plain text in Markdown: the characters that would start markup are escaped.
fn md(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        if matches!(
            ch,
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '#'
        ) {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}
