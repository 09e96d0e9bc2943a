//! The report of one analysis: the model, its text rendering for a person at a terminal,
//! and its JSON Lines form in the report format ([`report::v2`], a crate of its own).

use std::fmt::Write as _;

pub use report::REPORT_VERSION;
pub use report::v2::{
    Confidence, Database, EvidenceKind, MatchedEpisode, Onset, Reason, Span, StackCredit, Stats,
    Step, Verdict,
};
use report::v2::{Head, Record, Warning};

/// A ranked function, as the report format has it.
pub type Ranked = report::v2::Function;

/// One piece of evidence, as the report format has it (`id` = its index).
pub type EvidenceOut = report::v2::Evidence;

/// Per-thread activity per bin, for the timeline plot.
#[derive(Clone, Debug)]
pub struct Activity {
    pub thread: String,
    pub bin_ns: u64,
    pub start: u64,
    pub counts: Vec<u32>,
}

/// Everything one analysis found (the model; [`Report::to_json_lines`] writes it in the
/// report format).
#[derive(Clone, Debug)]
pub struct Report {
    pub version: u32,
    pub verdict: Verdict,
    /// The alarm: what raised it and when (monotonic ns; `realtime_ns` when known).
    pub alarm: String,
    pub alarm_ts: u64,
    pub alarm_realtime_ns: Option<u64>,
    pub window: Span,
    pub onset: Option<Onset>,
    pub database: Database,
    /// How sure the verdict is.
    pub confidence: Option<Confidence>,
    pub ranking: Vec<Ranked>,
    /// Functions listed / functions in the database.
    pub scope: f64,
    pub evidence: Vec<EvidenceOut>,
    pub path: Vec<Step>,
    pub activity: Vec<Activity>,
    pub stats: Stats,
    pub warnings: Vec<String>,
    /// What keeps the analysis from being trusted, said first ([`Report::add_damage`]).
    pub damage: Vec<String>,
}

impl Report {
    /// Exit code convention: 0 nothing abnormal, 1 findings, 2 inconclusive (a damaged
    /// window or database, and nothing found: "nothing abnormal" cannot be said).
    pub fn exit_code(&self) -> i32 {
        match self.verdict {
            Verdict::Normal => 0,
            Verdict::Findings | Verdict::Unmatched => 1,
            Verdict::Inconclusive => 2,
        }
    }

    /// Records what keeps this analysis from being trusted (each once, in order): it
    /// comes first in every rendering, and a "nothing abnormal" becomes "inconclusive".
    pub fn add_damage(&mut self, what: impl IntoIterator<Item = String>) {
        for d in what {
            if !self.damage.contains(&d) {
                self.damage.push(d);
            }
        }
        if !self.damage.is_empty() && self.verdict == Verdict::Normal {
            self.verdict = Verdict::Inconclusive;
        }
    }

    /// JSON Lines (format [`report::v2`]): a `report` record, then `function`,
    /// `evidence`, `step` and `warning` records, each with a `type` field.
    pub fn to_json_lines(&self) -> String {
        let head = Record::Report(Head {
            version: self.version,
            verdict: self.verdict,
            alarm: self.alarm.clone(),
            alarm_ts: self.alarm_ts,
            alarm_realtime_ns: self.alarm_realtime_ns,
            window: self.window,
            onset: self.onset.clone(),
            database: self.database.clone(),
            damage: self.damage.clone(),
            confidence: self.confidence.clone().map(Box::new),
            listed: self.ranking.len(),
            scope: self.scope,
            stats: self.stats.clone(),
        });
        let records = std::iter::once(head)
            .chain(self.ranking.iter().cloned().map(Record::Function))
            .chain(self.evidence.iter().cloned().map(Record::Evidence))
            .chain(self.path.iter().cloned().map(Record::Step))
            .chain(
                self.warnings
                    .iter()
                    .map(|w| Record::Warning(Warning { message: w.clone() })),
            );
        let mut out = String::new();
        for r in records {
            out.push_str(&r.to_json());
            out.push('\n');
        }
        out
    }

    /// The report for a terminal.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let rel = |ts: u64| (ts as f64 - self.alarm_ts as f64) / 1e9;
        for d in &self.damage {
            let _ = writeln!(s, "perfscope: cannot be trusted: {d}");
        }
        let _ = writeln!(
            s,
            "perfscope: {} ({}, {} functions, {} with signatures)",
            match self.verdict {
                Verdict::Findings => "abnormal behaviour found",
                Verdict::Unmatched => "abnormal behaviour found, no signature matches it",
                Verdict::Normal => "nothing abnormal in the window",
                Verdict::Inconclusive => "inconclusive: nothing found, but the input is damaged",
            },
            format!("{} {}", self.database.target, self.database.version).trim_end(),
            self.database.functions,
            self.database.with_signatures,
        );
        let _ = writeln!(
            s,
            "alarm: {}; window {:.1} s; {} syscalls on {} threads, {} lost; {} stacks sampled",
            self.alarm,
            self.window.seconds(),
            self.stats.syscalls,
            self.stats.threads,
            self.stats.lost,
            self.stats.stacks
        );
        if let Some(o) = &self.onset {
            let _ = writeln!(
                s,
                "onset: {:.1} s before the alarm ({}, score {:.1}); normal {:.1} s, abnormal {:.1} s",
                -rel(o.ts),
                o.how,
                o.score,
                o.normal.seconds(),
                o.abnormal.seconds()
            );
        }
        if let Some(c) = &self.confidence {
            let on = c
                .evidence
                .and_then(|i| self.evidence.get(i))
                .map(|e| format!("; strongest: {}", e.summary))
                .unwrap_or_default();
            let _ = writeln!(
                s,
                "confidence: {} (strength {:.2}, abnormal from {:.2}){on}",
                c.level, c.strength, c.threshold
            );
            if !c.weak_leads.is_empty() {
                let _ = writeln!(
                    s,
                    "weak leads, not ranked (the evidence is below the threshold): {}",
                    c.weak_leads.join(", ")
                );
            }
        }
        if !self.ranking.is_empty() {
            let _ = writeln!(
                s,
                "\nmost likely responsible ({} of {} functions, {:.2} %):",
                self.ranking.len(),
                self.database.functions,
                100.0 * self.scope
            );
            let width = self.ranking.iter().map(|r| r.name.len()).max().unwrap_or(0);
            for r in &self.ranking {
                let why = r
                    .reasons
                    .first()
                    .map(|reason| {
                        let e = &self.evidence[reason.evidence];
                        let eps: Vec<String> = reason
                            .episodes
                            .iter()
                            .take(2)
                            .map(|m| m.events.join("→"))
                            .collect();
                        if eps.is_empty() {
                            e.summary.clone()
                        } else {
                            format!("{} [{}]", e.summary, eps.join(", "))
                        }
                    })
                    .unwrap_or_default();
                let why = match &r.stack {
                    Some(st) => {
                        let what = match (st.why.as_str(), &st.syscall) {
                            ("on_cpu_loop", _) => "looping on CPU".to_string(),
                            ("on_cpu", _) => "on CPU".to_string(),
                            ("new_syscall", Some(sc)) => format!("entering {sc}, new for it"),
                            ("holds_lock", _) => "holding the lock waited for".to_string(),
                            (_, Some(sc)) => format!("in {sc}"),
                            _ => String::new(),
                        };
                        let mut who = st
                            .threads
                            .iter()
                            .take(3)
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(", ");
                        if st.threads.len() > 3 {
                            who.push_str(&format!(" and {} more threads", st.threads.len() - 3));
                        }
                        let st_txt = format!(
                            "stacks: {what} in {}/{} samples of {who}",
                            st.samples, st.of
                        );
                        if why.is_empty() {
                            st_txt
                        } else {
                            format!("{st_txt}; {why}")
                        }
                    }
                    None => why,
                };
                let _ = writeln!(
                    s,
                    "  {:>2}. {:<width$}  {:>7.2}  {}",
                    r.rank, r.name, r.score, why
                );
            }
        }
        if !self.evidence.is_empty() {
            let _ = writeln!(s, "\nevidence:");
            for (i, e) in self.evidence.iter().enumerate().take(8) {
                let strength = e
                    .strength
                    .map_or_else(String::new, |x| format!(" (strength {x:.2})"));
                let _ = writeln!(s, "  #{i} {:>6.2}{strength}  {}", e.score, e.summary);
            }
            if self.evidence.len() > 8 {
                let _ = writeln!(s, "  ... {} more (--format json)", self.evidence.len() - 8);
            }
        }
        if !self.path.is_empty() {
            let _ = writeln!(s, "\nsyscall path (time to alarm, thread, syscall):");
            for st in &self.path {
                let rep = if st.repeat > 1 {
                    format!(" x{}", st.repeat)
                } else {
                    String::new()
                };
                let tail = if st.pending {
                    format!("  still in it after {:.1} s", -rel(st.ts))
                } else {
                    st.dur_us
                        .map(|d| format!("  {d:.0} us"))
                        .unwrap_or_default()
                };
                let _ = writeln!(
                    s,
                    "  {:>8.3} s  {:<20} {}{}{}",
                    rel(st.ts),
                    st.thread,
                    st.syscall,
                    rep,
                    tail
                );
            }
        }
        for w in &self.warnings {
            let _ = writeln!(s, "\nwarning: {w}");
        }
        s
    }
}
