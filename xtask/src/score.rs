//! Scoring: the report `perfscope alarm --format json` printed, where the first culprit
//! is in its ranking, and the numbers over a set of runs (top-1, top-5, mean reciprocal
//! rank and median search scope over the bug cases, the false-alarm rate over the healthy
//! ones, the spread of a case's ranks over repeated runs).

use anyhow::{Context, bail};
use serde::Serialize;

/// What the eval needs from one perfscope report (JSON Lines, versions 1 and 2).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Report {
    pub verdict: String,
    /// How strong the evidence of abnormal behaviour was, against the threshold from
    /// which perfscope reports findings (`confidence` of the report record, when there).
    pub strength: Option<(f64, f64)>,
    pub total_functions: u64,
    pub listed: usize,
    pub scope: f64,
    pub syscalls: u64,
    pub lost: u64,
    pub analysis_ms: f64,
    /// Ranked function names, rank 1 first.
    pub ranking: Vec<String>,
}

/// Reads the `report` record and the `function` records; other records are ignored.
pub fn parse_report(jsonl: &str) -> anyhow::Result<Report> {
    let mut head: Option<serde_json::Value> = None;
    let mut functions: Vec<(u64, String)> = Vec::new();
    for (i, line) in jsonl.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(line)
            .with_context(|| format!("line {} of the report is not JSON", i + 1))?;
        match v["type"].as_str() {
            Some("report") => {
                if head.is_some() {
                    bail!("the output holds two reports (line {})", i + 1);
                }
                head = Some(v);
            }
            Some("function") => {
                let rank = v["rank"].as_u64().unwrap_or(functions.len() as u64 + 1);
                let name = v["name"]
                    .as_str()
                    .with_context(|| format!("function record on line {} has no name", i + 1))?;
                functions.push((rank, name.to_string()));
            }
            _ => {}
        }
    }
    let head = head.context("perfscope printed no report record")?;
    // version 2 adds the verdict "inconclusive" and the damage the analysis saw
    if !matches!(head["version"].as_u64(), Some(1 | 2)) {
        bail!(
            "report version {} is not supported: this xtask reads versions 1 and 2",
            head["version"]
        );
    }
    functions.sort_by_key(|(r, _)| *r);
    let total = head["database"]["functions"].as_u64().unwrap_or(0);
    let listed = head["listed"]
        .as_u64()
        .map_or(functions.len(), |n| n as usize);
    let scope = head["scope"].as_f64().unwrap_or_else(|| {
        if total == 0 {
            0.0
        } else {
            listed as f64 / total as f64
        }
    });
    let stats = &head["stats"];
    Ok(Report {
        verdict: head["verdict"].as_str().unwrap_or("").to_string(),
        strength: head["confidence"]["strength"]
            .as_f64()
            .zip(head["confidence"]["threshold"].as_f64()),
        total_functions: total,
        listed,
        scope,
        syscalls: stats["syscalls"].as_u64().unwrap_or(0),
        lost: stats["lost"].as_u64().unwrap_or(0),
        analysis_ms: stats["analysis_ms"].as_f64().unwrap_or(0.0),
        ranking: functions.into_iter().map(|(_, n)| n).collect(),
    })
}

/// Rank (1-based) of the first ranked function that matches a culprit, and its name.
pub fn first_culprit(ranking: &[String], culprits: &[String]) -> Option<(usize, String)> {
    ranking.iter().enumerate().find_map(|(i, name)| {
        culprits
            .iter()
            .any(|c| matches_culprit(name, c))
            .then(|| (i + 1, name.clone()))
    })
}

/// A ranked name hits a culprit when equal, or when its trailing path segments without
/// parameters, template arguments, compiler clone suffixes (`.constprop.0`, `.cold`),
/// Rust hashes and closures equal the culprit's (`write` hits `ns::Conn::write(int)`,
/// `Conn::write` too, `foo` hits `foo.isra.0`).
///
/// Java methods (`org.x.Outer$Inner.method`, as the JVM side names them) are paths of `.`
/// and `$` segments: `method`, `Inner.method`, `Outer$Inner.method` and the fully qualified
/// name all hit (shared/EVAL.md: `Class.method` with the simple or qualified class name).
pub fn matches_culprit(ranked: &str, culprit: &str) -> bool {
    if ranked == culprit {
        return true;
    }
    let trailing = |r: &[String], c: &[String]| {
        !c.is_empty() && r.len() >= c.len() && r[r.len() - c.len()..] == c[..]
    };
    if let Some(r) = java_segments(ranked) {
        let c = java_segments(culprit).unwrap_or_else(|| vec![culprit.trim().to_string()]);
        return trailing(&r, &c);
    }
    trailing(&segments(ranked), &segments(culprit))
}

/// The `.`/`$` path of a Java method name, or None for a name that is not one: a Java name
/// has no `::`, and a class segment (before the method) that starts with a capital letter,
/// which a C clone suffix (`foo.constprop.0`, `foo.cold`) never has. Parameters of the
/// method (`m(int)`) are dropped; the method segment keeps its `$` (`lambda$run$0`).
fn java_segments(name: &str) -> Option<Vec<String>> {
    let name = name.trim();
    if name.contains("::") {
        return None;
    }
    let name = name.split_once('(').map_or(name, |(n, _)| n).trim_end();
    let (class, method) = name.rsplit_once('.')?;
    let class: Vec<&str> = class.split(['.', '$']).collect();
    let java = class
        .iter()
        .any(|s| s.starts_with(|c: char| c.is_ascii_uppercase()))
        && class.iter().chain([&method]).all(|s| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_alphanumeric() || c == '_' || c == '$' || c == '<' || c == '>')
        });
    java.then(|| {
        class
            .iter()
            .chain([&method])
            .map(|s| s.to_string())
            .collect()
    })
}

/// The normalized `::` path of a function name.
fn segments(name: &str) -> Vec<String> {
    let mut out: Vec<String> = split_path(name.trim())
        .into_iter()
        .map(normalize_segment)
        .filter(|s| !s.is_empty())
        .collect();
    while out.last().is_some_and(|s| {
        is_rust_hash(s) || s.starts_with("{{closure}}") || s.starts_with("{closure#")
    }) {
        out.pop();
    }
    out
}

/// Splits at `::` outside brackets (template arguments, parameter lists).
fn split_path(name: &str) -> Vec<&str> {
    let b = name.as_bytes();
    let mut out = Vec::new();
    let (mut depth, mut start, mut i) = (0i32, 0usize, 0usize);
    while i < b.len() {
        if let Some(end) = operator_at(name, i) {
            i = end;
            continue;
        }
        match b[i] {
            b'<' | b'(' | b'[' | b'{' => depth += 1,
            b'>' | b')' | b']' | b'}' => depth = (depth - 1).max(0),
            b':' if depth == 0 && b.get(i + 1) == Some(&b':') => {
                out.push(&name[start..i]);
                i += 2;
                start = i;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    out.push(&name[start..]);
    out
}

/// When a C++ operator name (`operator<`, `operator()`, `operator<<=`) starts at `i`,
/// the index just past its symbols: they are not brackets.
fn operator_at(s: &str, i: usize) -> Option<usize> {
    let b = s.as_bytes();
    let word_start = i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_');
    if !word_start || !s[i..].starts_with("operator") {
        return None;
    }
    let mut j = i + "operator".len();
    if b.get(j)
        .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
    {
        return None;
    }
    while j < b.len() && b"<>=!+-*/%&|^~,[]".contains(&b[j]) {
        j += 1;
    }
    if s[j..].starts_with("()") {
        j += 2;
    }
    Some(j)
}

fn normalize_segment(seg: &str) -> String {
    let seg = seg.trim();
    if seg.starts_with(['(', '{', '<']) {
        // `(anonymous namespace)`, `{{closure}}`, `<impl X for Y>`: kept as they are
        return seg.to_string();
    }
    // parameters start at the first '(' outside template arguments
    let b = seg.as_bytes();
    let (mut cut, mut depth, mut i) = (seg.len(), 0i32, 0usize);
    let mut operator = false;
    while i < b.len() {
        if let Some(end) = operator_at(seg, i) {
            operator = true;
            i = end;
            continue;
        }
        match b[i] {
            b'<' => depth += 1,
            b'>' => depth = (depth - 1).max(0),
            b'(' if depth == 0 => {
                cut = i;
                break;
            }
            _ => {}
        }
        i += 1;
    }
    let mut s = seg[..cut].trim_end();
    // template arguments of the function itself
    if s.ends_with('>') && !operator {
        let mut d = 0i32;
        for (i, ch) in s.char_indices().rev() {
            match ch {
                '>' => d += 1,
                '<' => {
                    d -= 1;
                    if d == 0 {
                        s = &s[..i];
                        break;
                    }
                }
                _ => {}
            }
        }
    }
    // gcc/clang clones: foo.constprop.0, foo.isra.0, foo.part.1, foo.cold, foo.llvm.123
    if !operator
        && let Some(dot) = s.find('.')
        && dot > 0
    {
        s = &s[..dot];
    }
    s.to_string()
}

fn is_rust_hash(s: &str) -> bool {
    s.len() == 17 && s.starts_with('h') && s[1..].bytes().all(|b| b.is_ascii_hexdigit())
}

/// One scored run of a case, as the summary sees it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Point {
    /// The case is healthy: any verdict but "nothing abnormal" is a false alarm.
    pub healthy: bool,
    /// The report's verdict was not "nothing abnormal" (findings, unmatched, or
    /// inconclusive).
    pub alarmed: bool,
    pub rank: Option<usize>,
    pub scope: f64,
    pub analysis_seconds: f64,
}

/// The numbers over a set of runs (a case run N times counts N times). Rates are over
/// the runs that produced a report; runs that could not run are counted apart. Top-1,
/// top-5, MRR and scope are over the bug cases' runs, the false-alarm rate over the
/// healthy cases' runs.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Summary {
    pub cases: usize,
    pub scored: usize,
    pub errors: usize,
    /// Scored runs of bug cases, and those whose ranking held a culprit.
    pub bug_runs: usize,
    pub hits: usize,
    pub top1: f64,
    pub top5: f64,
    pub mrr: f64,
    pub median_scope: Option<f64>,
    /// Scored runs of healthy cases, those that did not answer "nothing abnormal", and
    /// their share (`None` without healthy runs).
    pub healthy_runs: usize,
    pub false_alarms: usize,
    pub false_alarm_rate: Option<f64>,
    pub median_analysis_seconds: Option<f64>,
    pub max_analysis_seconds: Option<f64>,
}

pub fn summarize(points: &[Point], errors: usize) -> Summary {
    let bugs: Vec<&Point> = points.iter().filter(|p| !p.healthy).collect();
    let healthy = points.len() - bugs.len();
    let n = bugs.len();
    let frac = |k: usize| if n == 0 { 0.0 } else { k as f64 / n as f64 };
    let within = |k: usize| {
        bugs.iter()
            .filter(|p| p.rank.is_some_and(|r| r <= k))
            .count()
    };
    let rr: f64 = bugs
        .iter()
        .map(|p| p.rank.map_or(0.0, |r| 1.0 / r as f64))
        .sum();
    let false_alarms = points.iter().filter(|p| p.healthy && p.alarmed).count();
    let times: Vec<f64> = points.iter().map(|p| p.analysis_seconds).collect();
    Summary {
        cases: points.len() + errors,
        scored: points.len(),
        errors,
        bug_runs: n,
        hits: bugs.iter().filter(|p| p.rank.is_some()).count(),
        top1: frac(within(1)),
        top5: frac(within(5)),
        mrr: if n == 0 { 0.0 } else { rr / n as f64 },
        median_scope: median(bugs.iter().map(|p| p.scope).collect()),
        healthy_runs: healthy,
        false_alarms,
        false_alarm_rate: (healthy > 0).then(|| false_alarms as f64 / healthy as f64),
        median_analysis_seconds: median(times.clone()),
        max_analysis_seconds: times.into_iter().reduce(f64::max),
    }
}

/// The best, median and worst rank of a case's runs; a miss ranks below every rank
/// (`None`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Spread {
    pub min: Option<usize>,
    pub median: Option<usize>,
    pub max: Option<usize>,
}

/// The [`Spread`] of `ranks` (the lower middle one for an even count).
pub fn spread(ranks: &[Option<usize>]) -> Spread {
    let mut v: Vec<usize> = ranks.iter().map(|r| r.unwrap_or(usize::MAX)).collect();
    v.sort_unstable();
    let at = |i: usize| v.get(i).copied().filter(|&r| r != usize::MAX);
    Spread {
        min: at(0),
        median: at(v.len().saturating_sub(1) / 2),
        max: v.last().copied().filter(|&r| r != usize::MAX),
    }
}

/// The middle value (the mean of the two middle ones for an even count).
pub fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    })
}

#[cfg(test)]
mod tests;
