//! `sigdb show`: a database as people read it (a header summary and a table of
//! signatures) and as programs read it (JSON Lines with typed records, schema
//! [`SHOW_SCHEMA`], documented in the crate's README).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::table::{Align, Table};
use sigdb::{Class, Coverage, Params, Record, Sigdb, Target, Training};

/// Version of the JSON Lines that [`json_lines`] writes: fields are only added within a
/// version; a removal or a change of meaning bumps it.
pub const SHOW_SCHEMA: u32 = 1;

/// Episodes named per function in the table; `--function` shows them all.
const TOP_EPISODES: usize = 2;

/// The records named in `names` (every record of a name: static functions may share
/// one), in database order; all records when `names` is empty.
pub fn select<'a>(db: &'a Sigdb, names: &[String]) -> Vec<&'a Record> {
    db.records
        .iter()
        .filter(|r| names.is_empty() || names.contains(&r.name))
        .collect()
}

/// The names in `names` that no record has.
pub fn missing<'a>(db: &Sigdb, names: &'a [String]) -> Vec<&'a str> {
    names
        .iter()
        .filter(|n| db.get(n).is_none())
        .map(String::as_str)
        .collect()
}

/// The text report: the header summary, then either the table of all functions or, when
/// `names` is not empty, every detail of the named ones.
pub fn text(db: &Sigdb, path: &str, names: &[String]) -> String {
    let mut out = String::new();
    header_text(db, path, &mut out);
    let records = select(db, names);
    out.push('\n');
    if db.records.is_empty() {
        out.push_str("no functions\n");
    } else if names.is_empty() {
        function_table(&records, db.header.training.params.min_evidence, &mut out);
    } else {
        for (i, r) in records.iter().enumerate() {
            if i > 0 {
                out.push('\n');
            }
            function_details(r, db.header.training.params.min_evidence, &mut out);
        }
    }
    out
}

fn header_text(db: &Sigdb, path: &str, out: &mut String) {
    let h = &db.header;
    let mut t = Table::new(&[Align::Left, Align::Left]);
    t.row([
        "database".to_string(),
        format!(
            "{path} (format v{}, {} records, {})",
            h.version,
            db.records.len(),
            short_checksum(&h.checksum)
        ),
    ]);
    t.row([
        "target".into(),
        format!("{} {}", h.target.name, h.target.version),
    ]);
    let mut objects = Table::new(&[Align::Left, Align::Left]);
    for o in &h.target.objects {
        objects.row([
            o.path.clone(),
            format!("build-id {}", o.build_id.as_deref().unwrap_or("-")),
        ]);
    }
    let mut lines = String::new();
    objects.render("", &mut lines);
    for (i, line) in lines.lines().enumerate() {
        t.row([if i == 0 { "objects" } else { "" }, line]);
    }
    t.row(["trained by".into(), training_text(&h.training)]);
    t.row(["params".into(), params_text(&h.training.params)]);
    let [functions, calls] = coverage_text(&h.coverage);
    t.row(["coverage".into(), functions]);
    t.row([String::new(), calls]);
    t.render("", out);
}

fn short_checksum(c: &str) -> String {
    match c.split_once(':') {
        Some((algo, hex)) if hex.len() > 12 => format!("{algo}:{}…", &hex[..12]),
        _ => c.to_string(),
    }
}

fn training_text(t: &Training) -> String {
    let events: u64 = t.traces.iter().map(|x| x.events).sum();
    let syscalls: u64 = t.traces.iter().map(|x| x.syscalls).sum();
    let lost: u64 = t.traces.iter().map(|x| x.lost).sum();
    let truncated = t.traces.iter().filter(|x| x.truncated).count();
    let mut s = format!(
        "{}, {} {}: {events} events, {syscalls} syscalls, {lost} lost",
        t.tool,
        t.traces.len(),
        plural(t.traces.len() as u64, "trace", "traces"),
    );
    if truncated > 0 {
        let _ = write!(s, ", {truncated} truncated");
    }
    s
}

fn params_text(p: &Params) -> String {
    let classes: Vec<&str> = p.app_classes.iter().map(|c| c.as_str()).collect();
    format!(
        "callers {}, max_episode_len {}, expiry {}, min_support {}, min_invocations {}, \
         max_episodes {}, app_classes {}, min_evidence {}",
        p.callers,
        p.max_episode_len,
        p.expiry_ns.map_or("none".into(), duration),
        p.min_support,
        p.min_invocations,
        p.max_episodes,
        if classes.is_empty() {
            "-".into()
        } else {
            classes.join(",")
        },
        p.min_evidence,
    )
}

/// `10 ms`, `250 µs`, `7 ns`: the largest unit that divides exactly.
pub(crate) fn duration(ns: u64) -> String {
    match ns {
        0 => "0 ns".into(),
        n if n % 1_000_000_000 == 0 => format!("{} s", n / 1_000_000_000),
        n if n % 1_000_000 == 0 => format!("{} ms", n / 1_000_000),
        n if n % 1_000 == 0 => format!("{} µs", n / 1_000),
        n => format!("{n} ns"),
    }
}

fn coverage_text(c: &Coverage) -> [String; 2] {
    [
        format!(
            "{} of {} probed functions hit ({}), {} with syscalls, {} with signatures ({})",
            c.functions_hit,
            c.functions_probed,
            pct(c.functions_hit, c.functions_probed),
            c.functions_with_syscalls,
            c.functions_with_signatures,
            pct(c.functions_with_signatures, c.functions_probed),
        ),
        format!(
            "{} invocations, {} syscalls, {} outside application code ({})",
            c.invocations,
            c.syscalls,
            c.syscalls_outside_app,
            pct(c.syscalls_outside_app, c.syscalls),
        ),
    ]
}

fn pct(part: u64, whole: u64) -> String {
    if whole == 0 {
        "-".into()
    } else {
        format!("{:.1} %", part as f64 * 100.0 / whole as f64)
    }
}

pub(crate) fn plural<'a>(n: u64, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 { one } else { many }
}

/// `openat→read→close`.
pub(crate) fn spell(events: &[String]) -> String {
    events.join("→")
}

fn per_invocation(r: &Record) -> String {
    if r.invocations == 0 {
        "-".into()
    } else {
        format!("{:.2}", r.syscalls as f64 / r.invocations as f64)
    }
}

/// `enough` or `too few`: whether a signature rests on enough invocations to be compared.
pub(crate) fn evidence_word(r: &Record, min_evidence: u64) -> &'static str {
    if r.has_enough_evidence(min_evidence) {
        "enough"
    } else {
        "too few"
    }
}

fn function_table(records: &[&Record], min_evidence: u64, out: &mut String) {
    let mut t = Table::new(&[
        Align::Left,
        Align::Left,
        Align::Left,
        Align::Right,
        Align::Left,
        Align::Right,
        Align::Right,
        Align::Left,
    ]);
    t.row([
        "FUNCTION",
        "FILE",
        "CLASS",
        "INVOCATIONS",
        "EVIDENCE",
        "SYSCALLS/INV",
        "EPISODES",
        "TOP EPISODES",
    ]);
    for r in records {
        let mut top: Vec<String> = r
            .episodes
            .iter()
            .take(TOP_EPISODES)
            .map(|e| spell(&e.events))
            .collect();
        if r.episodes.len() > TOP_EPISODES {
            top.push(format!("+{} more", r.episodes.len() - TOP_EPISODES));
        }
        t.row([
            r.full_name(),
            r.file.clone().unwrap_or_else(|| "-".into()),
            r.class.as_str().into(),
            r.invocations.to_string(),
            evidence_word(r, min_evidence).into(),
            per_invocation(r),
            r.episodes.len().to_string(),
            if top.is_empty() {
                "-".into()
            } else {
                top.join(", ")
            },
        ]);
    }
    t.render("", out);
}

fn function_details(r: &Record, min_evidence: u64, out: &mut String) {
    let _ = writeln!(out, "{}", r.full_name());
    let mut t = Table::new(&[Align::Left, Align::Left]);
    let place = match (&r.file, r.line) {
        (Some(f), Some(l)) => format!("{f}:{l}"),
        (Some(f), None) => f.clone(),
        (None, _) => "-".into(),
    };
    t.row(["file".into(), place]);
    t.row(["object".into(), r.object.clone()]);
    if let Some(l) = &r.linkage_name {
        t.row(["linkage name".into(), l.clone()]);
    }
    t.row(["class".into(), r.class.as_str().to_string()]);
    t.row([
        "invocations".into(),
        format!(
            "{} ({} with syscalls; {} evidence: a diff counts changes from {min_evidence})",
            r.invocations,
            r.invocations_with_syscalls,
            evidence_word(r, min_evidence)
        ),
    ]);
    t.row([
        "syscalls".into(),
        format!("{} ({} per invocation)", r.syscalls, per_invocation(r)),
    ]);
    t.row(["profile".into(), counts(&r.profile)]);
    if !r.inclusive.is_empty() {
        t.row(["inclusive".into(), counts(&r.inclusive)]);
    }
    if !r.threads.is_empty() {
        t.row(["threads".into(), counts(&r.threads)]);
    }
    if !r.ranges.is_empty() {
        let ranges: Vec<String> = r
            .ranges
            .iter()
            .map(|[off, size]| format!("{off:#x}+{size:#x}"))
            .collect();
        t.row(["code".into(), ranges.join(", ")]);
    }
    t.row(["episodes".into(), r.episodes.len().to_string()]);
    t.render("  ", out);
    if r.episodes.is_empty() {
        return;
    }
    let mut e = Table::new(&[
        Align::Right,
        Align::Right,
        Align::Right,
        Align::Right,
        Align::Right,
        Align::Left,
    ]);
    e.row([
        "SUPPORT",
        "± SE",
        "WEIGHT",
        "OCCURRENCES",
        "INVOCATIONS",
        "EVENTS",
    ]);
    for ep in &r.episodes {
        e.row([
            format!("{:.2}", ep.support),
            format!("{:.2}", ep.standard_error(r.invocations)),
            format!("{:.3}", ep.weight),
            ep.occurrences.to_string(),
            ep.invocations.to_string(),
            spell(&ep.events),
        ]);
    }
    e.render("    ", out);
}

/// `read 200, write 150`: the largest counts first, ties by name.
fn counts(map: &BTreeMap<String, u64>) -> String {
    if map.is_empty() {
        return "-".into();
    }
    let mut v: Vec<(&String, &u64)> = map.iter().collect();
    v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let parts: Vec<String> = v.iter().map(|(k, n)| format!("{k} {n}")).collect();
    parts.join(", ")
}

#[derive(Serialize)]
struct HeaderLine<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    schema: u32,
    path: &'a str,
    format: &'a str,
    version: u32,
    target: &'a Target,
    training: &'a Training,
    coverage: &'a Coverage,
    records: u64,
    checksum: &'a str,
}

#[derive(Serialize)]
struct FunctionLine<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    descriptor: Option<&'a str>,
    file: Option<&'a str>,
    line: Option<u32>,
    linkage_name: Option<&'a str>,
    object: &'a str,
    class: Class,
    invocations: u64,
    /// Whether `invocations` reach the header's `min_evidence`.
    enough_evidence: bool,
    invocations_with_syscalls: u64,
    syscalls: u64,
    syscalls_per_invocation: Option<f64>,
    profile: &'a BTreeMap<String, u64>,
    inclusive: &'a BTreeMap<String, u64>,
    threads: &'a BTreeMap<String, u64>,
    ranges: &'a [[u64; 2]],
    episodes: Vec<EpisodeLine<'a>>,
}

#[derive(Serialize)]
struct EpisodeLine<'a> {
    events: &'a [String],
    support: f64,
    weight: f64,
    occurrences: u64,
    invocations: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    sumsq: Option<u64>,
    /// The support's standard error.
    se: f64,
}

/// The JSON Lines report: a `header` line, then one `function` line per selected record.
pub fn json_lines(db: &Sigdb, path: &str, names: &[String]) -> String {
    let h = &db.header;
    let mut out = String::new();
    push_json(
        &mut out,
        &HeaderLine {
            kind: "header",
            schema: SHOW_SCHEMA,
            path,
            format: &h.format,
            version: h.version,
            target: &h.target,
            training: &h.training,
            coverage: &h.coverage,
            records: db.records.len() as u64,
            checksum: &h.checksum,
        },
    );
    for r in select(db, names) {
        push_json(
            &mut out,
            &FunctionLine {
                kind: "function",
                name: &r.name,
                descriptor: r.descriptor.as_deref(),
                file: r.file.as_deref(),
                line: r.line,
                linkage_name: r.linkage_name.as_deref(),
                object: &r.object,
                class: r.class,
                invocations: r.invocations,
                enough_evidence: r.has_enough_evidence(h.training.params.min_evidence),
                invocations_with_syscalls: r.invocations_with_syscalls,
                syscalls: r.syscalls,
                syscalls_per_invocation: (r.invocations > 0)
                    .then(|| sigdb::round6(r.syscalls as f64 / r.invocations as f64)),
                profile: &r.profile,
                inclusive: &r.inclusive,
                threads: &r.threads,
                ranges: &r.ranges,
                episodes: r
                    .episodes
                    .iter()
                    .map(|e| EpisodeLine {
                        events: &e.events,
                        support: e.support,
                        weight: e.weight,
                        occurrences: e.occurrences,
                        invocations: e.invocations,
                        sumsq: e.sumsq,
                        se: sigdb::round6(e.standard_error(r.invocations)),
                    })
                    .collect(),
            },
        );
    }
    out
}

pub(crate) fn push_json(out: &mut String, value: &impl Serialize) {
    // plain data with string keys: serde_json cannot fail on it
    if let Ok(s) = serde_json::to_string(value) {
        out.push_str(&s);
    }
    out.push('\n');
}
