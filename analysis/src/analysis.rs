//! One analysis, start to end: units, onset, clusters, evidence, ranking, path, report.

use std::time::Instant;

use rustc_hash::FxHashMap;

use crate::abnormal::{self, AbnormalParams, Evidence, Groups, Kind};
use crate::cluster::{self, ClusterParams, Clustering};
use crate::confidence::{ConfidenceParams, Footing};
use crate::onset::{self, OnsetParams};
use crate::rank::{self, Matcher, RankParams};
use crate::report::{
    Activity, Confidence, Database, EvidenceOut, Onset, REPORT_VERSION, Ranked, Report, Span,
    Stats, Step, Verdict,
};
use crate::signature::Compiled;
use crate::stacks::{self, StackReason};
use crate::symbolize::Symbolizer;
use crate::unit::{self, Unit, UnitParams};
use crate::window::Window;

/// Every knob of the analysis.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Params {
    pub units: UnitParams,
    pub cluster: ClusterParams,
    pub onset: OnsetParams,
    pub abnormal: AbnormalParams,
    pub rank: RankParams,
    pub confidence: ConfidenceParams,
    /// Use this as the normal part instead of detecting the onset.
    pub normal: Option<Span>,
    /// Use this as the abnormal part instead of detecting the onset.
    pub abnormal_span: Option<Span>,
}

/// What raised the alarm, for the report.
#[derive(Clone, Debug, Default)]
pub struct Alarm {
    pub source: String,
    pub realtime_ns: Option<u64>,
}

/// Analyses `w` (whose `end` is the alarm time) against `db`.
pub fn analyze(w: &Window, db: &Compiled, info: Database, alarm: &Alarm, p: &Params) -> Report {
    let started = Instant::now();
    let (mut warnings, damage) = input_notes(w, db);
    let groups = Groups::of(w);
    let mut units = unit::split(w, &p.units);
    let first = first_call(w);
    let onset = split(w, &groups, &mut units, first, p);
    warnings.extend(onset_warning(w, onset.as_ref(), first));
    let split_at = onset.as_ref().map_or(first, |o| o.ts);
    let cl = cluster::cluster(&units, w, &p.cluster);
    let evidence = find_evidence(w, &units, &cl, &groups, split_at, onset.as_ref(), p);
    warnings.extend(silent_warnings(w, &evidence));
    let matcher = Matcher::new(db);
    let mut scored = rank::rank(w, &units, &groups, &evidence, &matcher, &p.rank);
    let mut stack_reasons = FxHashMap::default();
    if !w.stacks.is_empty() {
        let from_stacks = stack_credit(w, &groups, &evidence, split_at, db, p, &mut warnings);
        combine(&mut scored, &from_stacks);
        stack_reasons = from_stacks.into_iter().collect();
    }
    let scored = rank::select(scored, db.total_functions(), &p.rank);
    let ranking = ranked(db, &scored, &mut stack_reasons);
    let (verdict, confidence, ranking) = decide(&evidence, ranking, &p.confidence);
    let path = match verdict {
        Verdict::Normal => Vec::new(),
        _ => path(
            w,
            &units,
            &evidence,
            ranking
                .first()
                .and_then(|r| r.reasons.first())
                .map(|r| r.evidence),
        ),
    };
    let total = db.total_functions();
    let mut report = Report {
        version: REPORT_VERSION,
        verdict,
        alarm: alarm.source.clone(),
        alarm_ts: w.end,
        alarm_realtime_ns: alarm.realtime_ns,
        window: Span {
            start: w.start,
            end: w.end,
        },
        scope: if total == 0 {
            0.0
        } else {
            sigdb::round6(ranking.len() as f64 / total as f64)
        },
        evidence: evidence
            .iter()
            .enumerate()
            .map(|ie| describe(w, &units, &cl, &groups, ie))
            .collect(),
        onset,
        database: Database {
            functions: total,
            with_signatures: db.with_signatures,
            ..info
        },
        confidence: (!w.is_empty()).then_some(confidence),
        ranking,
        path,
        activity: activity(w, 1_000_000_000),
        stats: Stats {
            syscalls: w.len() as u64,
            threads: w.threads.len(),
            units: units.len(),
            patterns: cl.patterns,
            clusters: cl.clusters.len(),
            lost: w.lost,
            stacks: w.stacks.len(),
            analysis_ms: started.elapsed().as_secs_f64() * 1e3,
        },
        warnings,
        damage: Vec::new(),
    };
    report.add_damage(damage);
    report
}

/// What the reader must know about the input before anything else: warnings, and the
/// damage that keeps the analysis from being trusted.
fn input_notes(w: &Window, db: &Compiled) -> (Vec<String>, Vec<String>) {
    let mut warnings = Vec::new();
    let mut damage = Vec::new();
    if w.lost > 0 {
        damage.push(format!(
            "{} events were lost in the kernel during the window (the ring buffer was full): \
             what the bug did may be among them (raise --ring-mb)",
            w.lost
        ));
    }
    if !db.unknown_syscalls.is_empty() {
        warnings.push(format!(
            "the signature database names syscalls this architecture lacks: {}",
            db.unknown_syscalls.join(", ")
        ));
    }
    if let Some(c) = w.complete_from.filter(|_| !w.tallies.is_empty()) {
        warnings.push(format!(
            "the rolling window was full: only the last {:.1} s of syscalls were kept; the \
             {} syscalls before were counted per second, thread name and syscall, and the \
             onset and the rise of each syscall were found on those counts",
            w.end.saturating_sub(c) as f64 / 1e9,
            w.tallied()
        ));
    }
    (warnings, damage)
}

/// The time of the window's first syscall, kept or tallied (its start when it has none).
fn first_call(w: &Window) -> u64 {
    w.threads
        .iter()
        .filter_map(|t| t.calls.first().map(|c| c.ts))
        .chain(w.tallies.first().map(|t| t.ts))
        .min()
        .unwrap_or(w.start)
}

/// The split into a normal and an abnormal part: given on the command line, or the
/// detected onset, or the last third of the window when nothing stands out. Units outside
/// given parts are dropped. `None` when the window is too short for both parts.
fn split(
    w: &Window,
    groups: &Groups,
    units: &mut Vec<Unit>,
    first: u64,
    p: &Params,
) -> Option<Onset> {
    let given = |normal: Span, abnormal: Span| Onset {
        ts: abnormal.start,
        score: 0.0,
        detected: true,
        how: "given".into(),
        normal,
        abnormal,
    };
    match (p.normal, p.abnormal_span) {
        (n, Some(a)) => {
            let normal = n.unwrap_or(Span {
                start: first,
                end: a.start,
            });
            units.retain(|u| {
                (u.start >= normal.start && u.start < normal.end)
                    || (u.start >= a.start && u.start <= a.end)
            });
            Some(given(normal, a))
        }
        (Some(n), None) => {
            units.retain(|u| u.start >= n.start);
            Some(given(
                n,
                Span {
                    start: n.end,
                    end: w.end,
                },
            ))
        }
        (None, None) => {
            let o = onset::detect(w, &groups.of_thread, &groups.runtime, &p.onset)?;
            // a warm-up (the server starting, idle) is neither part
            let first = o.from.max(first);
            units.retain(|u| u.start >= first);
            let (ts, how) = if o.detected {
                (o.ts, "detected")
            } else {
                // nothing stands out: compare the last third with the rest
                (w.end - (w.end - first) / 3, "fallback")
            };
            Some(Onset {
                ts,
                score: o.score,
                detected: o.detected,
                how: how.into(),
                normal: Span {
                    start: first,
                    end: ts,
                },
                abnormal: Span {
                    start: ts,
                    end: w.end,
                },
            })
        }
    }
}

/// What the split leaves unsaid: an empty window, one too short, no clear onset.
fn onset_warning(w: &Window, onset: Option<&Onset>, first: u64) -> Option<String> {
    if w.is_empty() {
        Some("the window holds no syscalls: nothing to analyse".into())
    } else if onset.is_none() {
        Some(format!(
            "the window ({:.1} s of activity) is too short to hold a normal part and an \
             abnormal part; only stuck and silent threads are looked at",
            (w.end - first) as f64 / 1e9
        ))
    } else if onset.is_some_and(|o| o.how == "fallback") {
        Some(
            "no clear onset of abnormal behaviour: the last third of the window is compared \
             with the rest"
                .into(),
        )
    } else {
        None
    }
}

/// The evidence of the split at `split_at`. Without a detected change point the mix of
/// units did not change: only threads that are stuck or spinning count.
fn find_evidence(
    w: &Window,
    units: &[Unit],
    cl: &Clustering,
    groups: &Groups,
    split_at: u64,
    onset: Option<&Onset>,
    p: &Params,
) -> Vec<Evidence> {
    let mut evidence = abnormal::find(w, units, cl, groups, split_at, &p.abnormal);
    if !onset.is_some_and(|o| o.detected) {
        evidence.retain(|e| {
            matches!(
                e.kind,
                Kind::Blocked | Kind::Spinning | Kind::Silent | Kind::Busier
            )
        });
    }
    evidence
}

/// A warning per thread that went quiet with its CPU use unknown.
fn silent_warnings(w: &Window, evidence: &[Evidence]) -> Vec<String> {
    evidence
        .iter()
        .filter(|e| e.kind == Kind::Silent)
        .map(|e| {
            format!(
                "thread {} went quiet but its CPU use is unknown (no scheduler samples)",
                e.thread
                    .map_or_else(String::new, |t| w.threads[t as usize].label())
            )
        })
        .collect()
}

/// The credit of the stacks sampled after the alarm, best first.
fn stack_credit(
    w: &Window,
    groups: &Groups,
    evidence: &[Evidence],
    split_at: u64,
    db: &Compiled,
    p: &Params,
    warnings: &mut Vec<String>,
) -> Vec<(u32, StackReason)> {
    let lift = stacks::syscall_lift(w, groups, split_at);
    let mut sym = Symbolizer::new(db)
        .with_recorded(&w.objects)
        .with_jit(&w.jit);
    let time = stacks::time_shares(w, split_at, &p.units.wait_syscalls);
    let seen = stacks::Seen {
        evidence,
        lift: &lift,
        time: &time,
        onset: split_at,
        end: w.end,
    };
    let from_stacks = stacks::score(w, groups, &seen, db, &mut sym);
    warnings.append(&mut sym.warnings);
    if sym.jit_unnamed > 0 {
        warnings.push(format!(
            "{} sampled frames in anonymous memory were outside every JIT perf map \
             (code compiled after the map was written, or a JVM whose map could not be \
             had): not named",
            sym.jit_unnamed
        ));
    }
    from_stacks
}

/// The selected functions as the report lists them, with their stack credit.
fn ranked(
    db: &Compiled,
    scored: &[rank::Scored],
    stack_reasons: &mut FxHashMap<u32, StackReason>,
) -> Vec<Ranked> {
    scored
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let f = &db.funcs[s.func as usize];
            Ranked {
                rank: i + 1,
                name: f.name.clone(),
                file: f.file.clone(),
                score: sigdb::round6(s.score),
                reasons: s.reasons.clone(),
                stack: stack_reasons.remove(&s.func).map(StackReason::to_report),
            }
        })
        .collect()
}

/// The verdict and how sure it is. Below the threshold the ranking is withheld: the
/// functions it would have named are reported as weak leads.
fn decide(
    evidence: &[Evidence],
    ranking: Vec<Ranked>,
    p: &ConfidenceParams,
) -> (Verdict, Confidence, Vec<Ranked>) {
    let footing = Footing::of(evidence);
    let mut confidence = Confidence {
        strength: sigdb::round6(footing.strength),
        threshold: p.threshold,
        level: footing.level(p).to_string(),
        evidence: footing.strongest,
        weak_leads: Vec::new(),
    };
    if !footing.is_abnormal(p) {
        confidence.weak_leads = ranking.iter().take(5).map(|r| r.name.clone()).collect();
        return (Verdict::Normal, confidence, Vec::new());
    }
    let verdict = if ranking.is_empty() {
        Verdict::Unmatched
    } else {
        Verdict::Findings
    };
    (verdict, confidence, ranking)
}

/// Adds the stack credits to the signature scores. Each side is taken as a share of its
/// best; a stack is a direct observation of where a thread is, so it counts double.
fn combine(scored: &mut Vec<rank::Scored>, from_stacks: &[(u32, StackReason)]) {
    let best_sig = scored.first().map_or(0.0, |s| s.score);
    let best_stack = from_stacks.first().map_or(0.0, |s| s.1.score);
    if best_stack <= 0.0 {
        return;
    }
    for s in scored.iter_mut() {
        s.score /= best_sig.max(f64::MIN_POSITIVE);
    }
    for (f, r) in from_stacks {
        let add = 2.0 * r.score / best_stack;
        match scored.iter_mut().find(|s| s.func == *f) {
            Some(s) => s.score += add,
            None => scored.push(rank::Scored {
                func: *f,
                score: add,
                reasons: Vec::new(),
            }),
        }
    }
    scored.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.func.cmp(&b.func)));
}

fn name(nr: u16) -> String {
    trace::syscall_name(u32::from(nr)).into_owned()
}

fn describe(
    w: &Window,
    units: &[Unit],
    cl: &Clustering,
    g: &Groups,
    (id, e): (usize, &Evidence),
) -> EvidenceOut {
    let group = g.names[e.group as usize].clone();
    let thread = e.thread.map(|t| w.threads[t as usize].label());
    let shape: Vec<(String, u32)> = match e.cluster {
        Some(c) => cl.clusters[c as usize]
            .0
            .iter()
            .map(|&(nr, n)| (name(nr), n))
            .collect(),
        None => {
            let mut counts: std::collections::BTreeMap<String, u32> = Default::default();
            for &u in &e.units {
                for c in units[u as usize].calls(w) {
                    *counts.entry(name(c.nr)).or_default() += 1;
                }
            }
            counts.into_iter().collect()
        }
    };
    let shape_txt = shape
        .iter()
        .take(6)
        .map(|(s, n)| {
            if *n > 1 {
                format!("{s}x{n}")
            } else {
                s.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ");
    let who = thread.clone().unwrap_or_else(|| format!("{group} threads"));
    let quiet = (w.end.saturating_sub(e.first_ts)) as f64 / 1e9;
    let summary = match e.kind {
        Kind::New => format!(
            "{who}: new units [{shape_txt}], {:.1}/s (none before)",
            e.rate.1
        ),
        Kind::MoreFrequent => format!(
            "{who}: units [{shape_txt}] {:.1}/s, was {:.1}/s",
            e.rate.1, e.rate.0
        ),
        Kind::Slower => format!(
            "{who}: units [{shape_txt}] take {:.2} ms{}, were {:.2} ms",
            e.median_ns.1 as f64 / 1e6,
            if e.cpu_wait_ns > 0 {
                format!(
                    " ({:.2} ms of it waiting for a CPU)",
                    e.cpu_wait_ns as f64 / 1e6
                )
            } else {
                String::new()
            },
            e.median_ns.0 as f64 / 1e6
        ),
        Kind::Vanished => format!("{who}: units [{shape_txt}] stopped, were {:.1}/s", e.rate.0),
        Kind::Spinning => format!(
            "{who}: no syscall for {:.1} s while on CPU; last work [{shape_txt}]",
            quiet
        ),
        Kind::Silent => format!("{who}: no syscall for {quiet:.1} s; last work [{shape_txt}]"),
        Kind::Busier => format!(
            "{who}: busy {:.0} % of a CPU, was {:.0} %; last work [{shape_txt}]",
            100.0 * e.rate.1,
            100.0 * e.rate.0
        ),
        Kind::Blocked => format!(
            "{who}: stuck in {} for {quiet:.1} s; before it [{shape_txt}]",
            e.pending.map_or_else(String::new, |c| name(c.nr))
        ),
    };
    EvidenceOut {
        id,
        kind: e.kind.to_report(),
        score: sigdb::round6(e.score),
        strength: Some(sigdb::round6(crate::confidence::strength(e))),
        group,
        thread,
        units: e.units.len(),
        shape,
        rate_before: sigdb::round6(e.rate.0),
        rate_after: sigdb::round6(e.rate.1),
        median_ms_before: e.median_ns.0 as f64 / 1e6,
        median_ms_after: e.median_ns.1 as f64 / 1e6,
        first_ts: e.first_ts,
        last_ts: e.last_ts,
        summary,
    }
}

/// The syscalls of the most recent units of the evidence that put the first function on
/// top (or of the strongest evidence), repeats folded.
fn path(w: &Window, units: &[Unit], evidence: &[Evidence], top: Option<usize>) -> Vec<Step> {
    let Some(e) = top
        .or((!evidence.is_empty()).then_some(0))
        .map(|i| &evidence[i])
    else {
        return Vec::new();
    };
    let take = if matches!(e.kind, Kind::Spinning | Kind::Silent | Kind::Blocked) {
        2
    } else {
        1
    };
    let mut steps: Vec<Step> = Vec::new();
    for &u in &e.units[e.units.len().saturating_sub(take)..] {
        let unit = &units[u as usize];
        let thread = w.threads[unit.thread as usize].label();
        for c in unit.calls(w) {
            let syscall = name(c.nr);
            if let Some(last) = steps.last_mut()
                && last.syscall == syscall
                && last.thread == thread
                && !c.is_pending()
            {
                last.repeat += 1;
                continue;
            }
            steps.push(Step {
                ts: c.ts,
                thread: thread.clone(),
                syscall,
                repeat: 1,
                dur_us: (!c.is_pending()).then(|| c.dur as f64 / 1e3),
                ret: c.ret,
                pending: c.is_pending(),
            });
        }
    }
    let n = steps.len();
    steps.drain(..n.saturating_sub(40));
    steps
}

/// Syscalls per thread per bin, busiest threads first, for the timeline.
fn activity(w: &Window, bin_ns: u64) -> Vec<Activity> {
    let span = w.end.saturating_sub(w.start);
    let nb = usize::try_from(span.div_ceil(bin_ns))
        .unwrap_or(0)
        .clamp(1, 3600);
    let mut out: Vec<Activity> = w
        .threads
        .iter()
        .map(|t| {
            let mut counts = vec![0u32; nb];
            for c in &t.calls {
                let b = (c.ts.saturating_sub(w.start) / bin_ns) as usize;
                counts[b.min(nb - 1)] += 1;
            }
            Activity {
                thread: t.label(),
                bin_ns,
                start: w.start,
                counts,
            }
        })
        .collect();
    out.sort_by_key(|a| std::cmp::Reverse(a.counts.iter().map(|&c| u64::from(c)).sum::<u64>()));
    out.truncate(24);
    out
}

#[cfg(test)]
mod tests;
