//! The report as one self-contained HTML page (inline CSS and SVG, no script, no external
//! asset): verdict and warnings, a timeline of syscall activity per thread with the
//! normal and abnormal parts, the onset and the alarm marked, the ranked functions with
//! their evidence, and the syscall path.

use std::fmt::Write as _;

use analysis::report::{Report, Verdict};
use analysis::window::{Thread, Window};

/// Rows of the timeline at most.
const MAX_ROWS: usize = 32;
/// Plot geometry, px.
const LABEL_W: f64 = 190.0;
const PLOT_W: f64 = 1100.0;
const ROW_H: f64 = 18.0;
const TOP: f64 = 34.0;

/// Escapes text for HTML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

const STYLE: &str = r#"
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px 32px;color:#1d2330;background:#fff}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #e3e6ec;padding-bottom:4px}
.sub{color:#5b6475;margin:2px 0} .verdict{display:inline-block;padding:2px 10px;border-radius:12px;color:#fff;font-weight:600;margin-right:8px}
.findings{background:#c62828} .unmatched{background:#ef6c00} .normal{background:#2e7d32}
.warn{background:#fff8e1;border:1px solid #ffd54f;border-radius:6px;padding:8px 12px;margin:12px 0}
.warn li{margin:2px 0}
.damage{background:#ffebee;border:1px solid #e57373;border-radius:6px;padding:8px 12px;margin:8px 0;font-weight:600}
table{border-collapse:collapse;width:100%} table.path{width:auto;min-width:60%} th,td{text-align:left;padding:5px 8px;border-bottom:1px solid #eef0f4;vertical-align:top}
th{font-size:12px;text-transform:uppercase;letter-spacing:.04em;color:#5b6475}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.fn{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-weight:600}
.file{color:#5b6475;font-size:12px} .bar{height:8px;background:#c62828;border-radius:4px;display:inline-block;vertical-align:middle}
.ep{display:inline-block;font-family:ui-monospace,Menlo,monospace;font-size:12px;background:#f1f3f7;border-radius:4px;padding:1px 6px;margin:2px 4px 2px 0}
.kind{font-size:12px;font-weight:600;padding:1px 6px;border-radius:4px;background:#eceff1}
.mono{font-family:ui-monospace,Menlo,monospace;font-size:13px} .pending{color:#c62828;font-weight:600}
.legend span{display:inline-block;margin-right:16px;font-size:12px;color:#5b6475}
.sw{display:inline-block;width:12px;height:10px;vertical-align:middle;margin-right:4px;border-radius:2px}
"#;

/// The page.
pub fn page(r: &Report, w: &Window) -> String {
    let mut s = String::with_capacity(64 << 10);
    let title = format!(
        "perfscope: {} {}",
        r.database.target,
        match r.verdict {
            Verdict::Findings => "findings",
            Verdict::Unmatched => "unmatched abnormal behaviour",
            Verdict::Normal => "nothing abnormal",
            Verdict::Inconclusive => "inconclusive",
        }
    );
    let _ = writeln!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>{}</title><style>{STYLE}</style></head><body>",
        esc(&title)
    );
    header(&mut s, r);
    timeline(&mut s, r, w);
    ranking(&mut s, r);
    evidence(&mut s, r);
    path(&mut s, r);
    let _ = writeln!(
        s,
        "<p class=\"sub\" style=\"margin-top:28px\">{} syscalls on {} threads, {} units, {} \
         patterns, {} clusters, {} lost; analysis {:.0} ms. Report format version {}.</p>",
        r.stats.syscalls,
        r.stats.threads,
        r.stats.units,
        r.stats.patterns,
        r.stats.clusters,
        r.stats.lost,
        r.stats.analysis_ms,
        r.version
    );
    s.push_str("</body></html>\n");
    s
}

fn header(s: &mut String, r: &Report) {
    let (class, text) = match r.verdict {
        Verdict::Findings => ("findings", "abnormal behaviour found"),
        Verdict::Unmatched => ("unmatched", "abnormal, no signature matches"),
        Verdict::Normal => ("normal", "nothing abnormal"),
        Verdict::Inconclusive => ("unmatched", "inconclusive: damaged input"),
    };
    for d in &r.damage {
        let _ = writeln!(s, "<p class=\"damage\">cannot be trusted: {}</p>", esc(d));
    }
    let _ = writeln!(
        s,
        "<h1><span class=\"verdict {class}\">{text}</span>{} {}</h1>",
        esc(&r.database.target),
        esc(&r.database.version)
    );
    let _ = writeln!(
        s,
        "<p class=\"sub\">alarm: {}; window {:.1} s; {} functions in the database, {} with \
         signatures</p>",
        esc(&r.alarm),
        r.window.seconds(),
        r.database.functions,
        r.database.with_signatures
    );
    if let Some(o) = &r.onset {
        let _ = writeln!(
            s,
            "<p class=\"sub\">onset {:.1} s before the alarm ({}, score {:.1}): normal part \
             {:.1} s, abnormal part {:.1} s</p>",
            r.alarm_ts.saturating_sub(o.ts) as f64 / 1e9,
            esc(&o.how),
            o.score,
            o.normal.seconds(),
            o.abnormal.seconds()
        );
    }
    if !r.warnings.is_empty() {
        s.push_str("<div class=\"warn\"><b>Warnings</b><ul>\n");
        for w in &r.warnings {
            let _ = writeln!(s, "<li>{}</li>", esc(w));
        }
        s.push_str("</ul></div>\n");
    }
}

/// A tick step of 1, 2 or 5 times a power of ten giving about 8 ticks over `span` s.
fn tick_step(span: f64) -> f64 {
    let raw = (span / 8.0).max(1e-3);
    let p = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * p)
        .find(|&x| x >= raw)
        .unwrap_or(10.0 * p)
}

/// The threads to draw: the ones evidence names first, then the busiest.
fn rows<'w>(r: &Report, w: &'w Window) -> Vec<&'w Thread> {
    let named = |t: &Thread| {
        let label = t.label();
        r.evidence
            .iter()
            .any(|e| e.thread.as_deref() == Some(label.as_str()))
    };
    let in_group = |t: &Thread| {
        r.evidence
            .iter()
            .any(|e| e.thread.is_none() && e.group == t.comm)
    };
    let mut v: Vec<&Thread> = w.threads.iter().collect();
    v.sort_by_key(|t| {
        (
            !named(t),
            !in_group(t),
            std::cmp::Reverse(t.calls.len()),
            t.tid,
        )
    });
    v.truncate(MAX_ROWS);
    v
}

fn timeline(s: &mut String, r: &Report, w: &Window) {
    s.push_str("<h2>Syscall activity per thread</h2>\n");
    // from the first thing the window holds: a window reaching before the capture
    // started would be drawn half empty
    let first = w
        .threads
        .iter()
        .filter_map(|t| {
            let c = t.calls.first().map(|c| c.ts);
            let s = t.states.iter().find(|x| x.ts >= w.start).map(|x| x.ts);
            c.into_iter().chain(s).min()
        })
        .min()
        .unwrap_or(w.start)
        .max(w.start);
    let span_ns = w.end.saturating_sub(first).max(1);
    let span = span_ns as f64 / 1e9;
    let nb = 220usize;
    let bin_ns = span_ns.div_ceil(nb as u64).max(1);
    let rows = rows(r, w);
    if rows.is_empty() {
        s.push_str("<p class=\"sub\">No thread made a syscall in the window.</p>\n");
        return;
    }
    let height = TOP + ROW_H * rows.len() as f64 + 30.0;
    let width = LABEL_W + PLOT_W + 20.0;
    let x_of =
        |ts: u64| LABEL_W + PLOT_W * (ts.saturating_sub(first) as f64 / span_ns as f64).min(1.0);
    let _ = writeln!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\" font-family=\"system-ui,sans-serif\" font-size=\"11\">"
    );
    // the abnormal part, shaded, and a band naming both parts
    if let Some(o) = &r.onset {
        let (x0, x1) = (x_of(o.abnormal.start), x_of(o.abnormal.end.min(w.end)));
        let (n0, n1) = (x_of(o.normal.start.max(first)), x_of(o.normal.end));
        let _ = writeln!(
            s,
            "<rect x=\"{x0:.1}\" y=\"{TOP:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"#fdecea\"/>\
             <rect x=\"{n0:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"5\" fill=\"#a5d6a7\"><title>normal \
             part</title></rect><rect x=\"{x0:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"5\" \
             fill=\"#ef9a9a\"><title>abnormal part</title></rect>",
            (x1 - x0).max(0.0),
            ROW_H * rows.len() as f64,
            TOP - 8.0,
            (n1 - n0).max(0.0),
            TOP - 8.0,
            (x1 - x0).max(0.0)
        );
    }
    // axis: seconds before the alarm
    let step = tick_step(span);
    let mut k = 0.0;
    while k <= span + 1e-9 {
        let ts = w.end.saturating_sub((k * 1e9) as u64);
        let x = x_of(ts);
        let _ = writeln!(
            s,
            "<line x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"#e3e6ec\"/>\
             <text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#5b6475\">-{}s</text>",
            TOP - 6.0,
            TOP + ROW_H * rows.len() as f64,
            TOP + ROW_H * rows.len() as f64 + 14.0,
            fmt_secs(k)
        );
        k += step;
    }
    for (i, t) in rows.iter().enumerate() {
        row(
            s,
            r,
            w,
            t,
            TOP + ROW_H * i as f64,
            (first, bin_ns, nb),
            &x_of,
        );
    }
    // marks of the window (trigger...), then the onset and the alarm
    let bottom = TOP + ROW_H * rows.len() as f64;
    for m in w.marks.iter().filter(|m| m.ts >= w.start && m.ts < w.end) {
        let x = x_of(m.ts);
        let _ = writeln!(
            s,
            "<line x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{bottom:.1}\" stroke=\"#78909c\" \
             stroke-dasharray=\"2,3\"/><text x=\"{:.1}\" y=\"{:.1}\" fill=\"#546e7a\" \
             font-size=\"10\" text-anchor=\"end\">{}</text>",
            TOP - 10.0,
            x - 3.0,
            TOP - 11.0,
            esc(&m.label)
        );
    }
    if let Some(o) = &r.onset {
        let x = x_of(o.ts);
        let _ = writeln!(
            s,
            "<line x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{bottom:.1}\" stroke=\"#ef6c00\" \
             stroke-width=\"2\" stroke-dasharray=\"6,3\"/><text x=\"{:.1}\" y=\"{:.1}\" \
             fill=\"#ef6c00\" font-weight=\"600\">onset ({})</text>",
            TOP - 24.0,
            x + 4.0,
            TOP - 16.0,
            esc(&o.how)
        );
    }
    let xa = x_of(w.end);
    let _ = writeln!(
        s,
        "<line x1=\"{xa:.1}\" y1=\"{:.1}\" x2=\"{xa:.1}\" y2=\"{bottom:.1}\" stroke=\"#c62828\" \
         stroke-width=\"2.5\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"#c62828\" \
         font-weight=\"700\">alarm</text>",
        TOP - 24.0,
        xa - 4.0,
        TOP - 16.0
    );
    s.push_str("</svg>\n");
    let _ = writeln!(
        s,
        "<p class=\"legend\"><span><i class=\"sw\" style=\"background:#1565c0\"></i>syscalls \
         per {} (height relative to the thread's busiest)</span><span><i class=\"sw\" style=\"background:#c62828\"></i>\
         in a syscall that has not returned</span><span><i class=\"sw\" \
         style=\"background:#ff8f00\"></i>on CPU (scheduler samples)</span><span><i \
         class=\"sw\" style=\"background:#fdecea;border:1px solid #f3c1bb\"></i>abnormal \
         part</span><span>threads the evidence names come first, in bold red; threads of a \
         group it names, in red</span></p>",
        fmt_bin(bin_ns)
    );
}

/// One thread's row: syscalls per bin as bars (height relative to the thread's busiest
/// bin), time on CPU from the scheduler samples, and a syscall that has not returned.
fn row(
    s: &mut String,
    r: &Report,
    w: &Window,
    t: &Thread,
    y: f64,
    (first, bin_ns, nb): (u64, u64, usize),
    x_of: &dyn Fn(u64) -> f64,
) {
    let label = t.label();
    let named = r
        .evidence
        .iter()
        .any(|e| e.thread.as_deref() == Some(label.as_str()));
    let in_group = r
        .evidence
        .iter()
        .any(|e| e.thread.is_none() && e.group == t.comm);
    let mut counts = vec![0u32; nb];
    for c in t.calls.iter().filter(|c| c.ts >= first) {
        let b = ((c.ts - first) / bin_ns) as usize;
        counts[b.min(nb - 1)] += 1;
    }
    let max = counts.iter().copied().max().unwrap_or(0).max(1);
    let shown: String = label.chars().take(26).collect();
    let _ = writeln!(
        s,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"{}\" font-weight=\"{}\">{}<title>{} \
         ({} syscalls in the window)</title></text><line x1=\"{LABEL_W}\" y1=\"{:.1}\" x2=\"{:.1}\" \
         y2=\"{:.1}\" stroke=\"#eef0f4\"/>",
        LABEL_W - 8.0,
        y + ROW_H * 0.68,
        if named || in_group {
            "#c62828"
        } else {
            "#1d2330"
        },
        if named { 700 } else { 400 },
        esc(&shown),
        esc(&label),
        t.calls.len(),
        y + ROW_H - 2.0,
        LABEL_W + PLOT_W,
        y + ROW_H - 2.0
    );
    let bw = PLOT_W / nb as f64;
    let full = ROW_H - 5.0;
    for (b, &n) in counts.iter().enumerate().filter(|(_, n)| **n > 0) {
        let h = (full * f64::from(n) / f64::from(max)).max(1.0);
        let _ = writeln!(
            s,
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.2}\" height=\"{h:.1}\" fill=\"#1565c0\">\
             <title>{n} syscalls</title></rect>",
            LABEL_W + b as f64 * bw,
            y + ROW_H - 2.0 - h,
            bw + 0.3,
        );
    }
    // on CPU between two samples (at least half of the time)
    for p in t.states.windows(2) {
        let (a, b) = (&p[0], &p[1]);
        let dt = b.ts.saturating_sub(a.ts);
        if dt == 0 || b.ts < first || b.cpu_ns.saturating_sub(a.cpu_ns) * 2 < dt {
            continue;
        }
        let (x0, x1) = (x_of(a.ts.max(first)), x_of(b.ts));
        let _ = writeln!(
            s,
            "<rect x=\"{x0:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"#ff8f00\" \
             fill-opacity=\"0.55\"><title>on CPU {:.0} % of this second</title></rect>",
            y + 3.0,
            (x1 - x0).max(1.0),
            ROW_H - 5.0,
            100.0 * b.cpu_ns.saturating_sub(a.cpu_ns) as f64 / dt as f64
        );
    }
    if let Some(c) = t.calls.last().filter(|c| c.is_pending()) {
        let (x0, x1) = (x_of(c.ts), x_of(w.end));
        let _ = writeln!(
            s,
            "<rect x=\"{x0:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"#c62828\" \
             fill-opacity=\"0.75\"><title>in {} for {:.1} s</title></rect>",
            y + 5.0,
            (x1 - x0).max(2.0),
            ROW_H - 13.0,
            esc(&trace::syscall_name(u32::from(c.nr))),
            w.end.saturating_sub(c.ts) as f64 / 1e9
        );
    }
}

fn fmt_secs(k: f64) -> String {
    if (k - k.round()).abs() < 1e-6 {
        format!("{k:.0}")
    } else {
        format!("{k:.1}")
    }
}

fn fmt_bin(ns: u64) -> String {
    if ns >= 1_000_000_000 {
        format!("{:.1} s", ns as f64 / 1e9)
    } else {
        format!("{:.0} ms", ns as f64 / 1e6)
    }
}

fn ranking(s: &mut String, r: &Report) {
    let _ = writeln!(
        s,
        "<h2>Most likely responsible functions ({} of {}, {:.2} %)</h2>",
        r.ranking.len(),
        r.database.functions,
        100.0 * r.scope
    );
    if r.ranking.is_empty() {
        s.push_str(
            "<p class=\"sub\">No function's signature matches the abnormal behaviour.</p>\n",
        );
        return;
    }
    let best = r.ranking.first().map_or(1.0, |f| f.score).max(1e-9);
    s.push_str(
        "<table><tr><th>#</th><th>function</th><th>score</th><th>why (evidence, and matched \
         episodes: share of normal → abnormal units holding them)</th></tr>\n",
    );
    for f in &r.ranking {
        let _ = write!(
            s,
            "<tr><td class=\"num\">{}</td><td><span class=\"fn\">{}</span>{}</td><td class=\"num\">\
             {:.2}<br><span class=\"bar\" style=\"width:{:.0}px\"></span></td><td>",
            f.rank,
            esc(&f.name),
            f.file
                .as_ref()
                .map(|x| format!("<br><span class=\"file\">{}</span>", esc(x)))
                .unwrap_or_default(),
            f.score,
            (80.0 * f.score / best).clamp(2.0, 80.0)
        );
        if let Some(st) = &f.stack {
            let _ = write!(
                s,
                "<div>stacks: {} {} in {}/{} samples of {}</div>",
                esc(&st.why),
                st.syscall.as_deref().map(esc).unwrap_or_default(),
                st.samples,
                st.of,
                esc(&st.threads.join(", "))
            );
        }
        for reason in &f.reasons {
            let summary = r
                .evidence
                .get(reason.evidence)
                .map(|e| format!("#{} {}", reason.evidence, e.summary))
                .unwrap_or_default();
            let _ = write!(
                s,
                "<div>{} <span class=\"file\">(+{:.2})</span><br>",
                esc(&summary),
                reason.contribution
            );
            for ep in &reason.episodes {
                let _ = write!(
                    s,
                    "<span class=\"ep\" title=\"specificity {:.2}\">{} &nbsp;{:.0}% → {:.0}%</span>",
                    ep.weight,
                    esc(&ep.events.join(" → ")),
                    100.0 * ep.normal,
                    100.0 * ep.abnormal
                );
            }
            s.push_str("</div>");
        }
        s.push_str("</td></tr>\n");
    }
    s.push_str("</table>\n");
}

fn evidence(s: &mut String, r: &Report) {
    if r.evidence.is_empty() {
        return;
    }
    s.push_str(
        "<h2>Evidence</h2>\n<table><tr><th>#</th><th>kind</th><th>score</th><th>what</th></tr>\n",
    );
    for (i, e) in r.evidence.iter().enumerate().take(30) {
        let _ = writeln!(
            s,
            "<tr><td class=\"num\">{i}</td><td><span class=\"kind\">{}</span></td><td class=\"num\">\
             {:.2}</td><td>{}</td></tr>",
            esc(&format!("{:?}", e.kind).to_lowercase()),
            e.score,
            esc(&e.summary)
        );
    }
    s.push_str("</table>\n");
    if r.evidence.len() > 30 {
        let _ = writeln!(
            s,
            "<p class=\"sub\">{} more in the JSON report.</p>",
            r.evidence.len() - 30
        );
    }
}

fn path(s: &mut String, r: &Report) {
    if r.path.is_empty() {
        return;
    }
    s.push_str(
        "<h2>Syscall path through the worst units</h2>\n<table class=\"path\"><tr><th>time to alarm</th>\
         <th>thread</th><th>syscall</th><th>duration</th><th>returned</th></tr>\n",
    );
    for st in &r.path {
        let rel = (st.ts as f64 - r.alarm_ts as f64) / 1e9;
        let rep = if st.repeat > 1 {
            format!(" ×{}", st.repeat)
        } else {
            String::new()
        };
        let (dur, ret) = if st.pending {
            (
                format!(
                    "<span class=\"pending\">still in it after {:.1} s</span>",
                    -rel
                ),
                String::new(),
            )
        } else {
            (
                st.dur_us.map(|d| format!("{d:.0} µs")).unwrap_or_default(),
                st.ret.to_string(),
            )
        };
        let _ = writeln!(
            s,
            "<tr><td class=\"num mono\">{rel:.3} s</td><td class=\"mono\">{}</td><td \
             class=\"mono\"><b>{}</b>{rep}</td><td class=\"num\">{dur}</td><td class=\"num \
             mono\">{ret}</td></tr>",
            esc(&st.thread),
            esc(&st.syscall)
        );
    }
    s.push_str("</table>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn ticks_are_round() {
        assert_eq!(tick_step(90.0), 20.0);
        assert_eq!(tick_step(300.0), 50.0);
        assert_eq!(tick_step(8.0), 1.0);
        assert_eq!(tick_step(1.5), 0.2);
    }
}
