//! The report of one analysis: its serializable form (JSON Lines, version 1) and its text
//! rendering for a person at a terminal.

use std::fmt::Write as _;

use serde::Serialize;

use crate::abnormal::Kind;

/// Version of the JSON Lines report format.
pub const REPORT_VERSION: u32 = 1;

/// A time span, monotonic ns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Span {
    pub start: u64,
    pub end: u64,
}

impl Span {
    pub fn seconds(&self) -> f64 {
        self.end.saturating_sub(self.start) as f64 / 1e9
    }
}

/// What the analysis concluded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Abnormal behaviour found and matched to functions.
    Findings,
    /// Abnormal behaviour found, but no function's signature matches it.
    Unmatched,
    /// Nothing abnormal in the window.
    Normal,
}

#[derive(Clone, Debug, Serialize)]
pub struct Onset {
    pub ts: u64,
    pub score: f64,
    pub detected: bool,
    /// How the split was chosen: `detected`, `given` (command line) or `fallback`.
    pub how: String,
    pub normal: Span,
    pub abnormal: Span,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Database {
    pub target: String,
    pub version: String,
    pub functions: usize,
    pub with_signatures: usize,
}

/// One episode of a function's signature that the evidence matched.
#[derive(Clone, Debug, Serialize)]
pub struct MatchedEpisode {
    pub events: Vec<String>,
    pub weight: f64,
    /// Share of the abnormal units holding it, and of the normal units.
    pub abnormal: f64,
    pub normal: f64,
}

/// Why a function is on the list: one evidence's contribution.
#[derive(Clone, Debug, Serialize)]
pub struct Reason {
    /// Index into [`Report::evidence`].
    pub evidence: usize,
    pub contribution: f64,
    pub episodes: Vec<MatchedEpisode>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Ranked {
    pub rank: usize,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    pub score: f64,
    pub reasons: Vec<Reason>,
    /// Credit from sampled stacks, when there were any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stack: Option<crate::stacks::StackReason>,
}

#[derive(Clone, Debug, Serialize)]
pub struct EvidenceOut {
    pub kind: Kind,
    pub score: f64,
    /// Thread group (thread name).
    pub group: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thread: Option<String>,
    /// Units involved, and the syscalls most of them make.
    pub units: usize,
    pub shape: Vec<(String, u32)>,
    pub rate_before: f64,
    pub rate_after: f64,
    pub median_ms_before: f64,
    pub median_ms_after: f64,
    pub first_ts: u64,
    pub last_ts: u64,
    /// One sentence for people.
    pub summary: String,
}

/// One step of the syscall path through the worst units.
#[derive(Clone, Debug, Serialize)]
pub struct Step {
    pub ts: u64,
    pub thread: String,
    pub syscall: String,
    /// Consecutive repeats folded into this step.
    pub repeat: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dur_us: Option<f64>,
    pub ret: i64,
    pub pending: bool,
}

/// Per-thread activity per bin, for the timeline plot.
#[derive(Clone, Debug, Serialize)]
pub struct Activity {
    pub thread: String,
    pub bin_ns: u64,
    pub start: u64,
    pub counts: Vec<u32>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Stats {
    pub syscalls: u64,
    pub threads: usize,
    pub units: usize,
    pub patterns: usize,
    pub clusters: usize,
    pub lost: u64,
    /// User stacks sampled after the alarm.
    pub stacks: usize,
    pub analysis_ms: f64,
}

/// Everything one analysis found.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub version: u32,
    pub verdict: Verdict,
    /// The alarm: what raised it and when (monotonic ns; `realtime_ns` when known).
    pub alarm: String,
    pub alarm_ts: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alarm_realtime_ns: Option<u64>,
    pub window: Span,
    pub onset: Option<Onset>,
    pub database: Database,
    pub ranking: Vec<Ranked>,
    /// Functions listed / functions in the database.
    pub scope: f64,
    pub evidence: Vec<EvidenceOut>,
    pub path: Vec<Step>,
    #[serde(skip)]
    pub activity: Vec<Activity>,
    pub stats: Stats,
    pub warnings: Vec<String>,
}

impl Report {
    /// Exit code convention: 0 nothing abnormal, 1 findings.
    pub fn exit_code(&self) -> i32 {
        match self.verdict {
            Verdict::Normal => 0,
            Verdict::Findings | Verdict::Unmatched => 1,
        }
    }

    /// JSON Lines: a `report` record, then `function`, `evidence`, `step` and `warning`
    /// records, each with a `type` field.
    pub fn to_json_lines(&self) -> String {
        #[derive(Serialize)]
        struct Head<'a> {
            r#type: &'static str,
            version: u32,
            verdict: Verdict,
            alarm: &'a str,
            alarm_ts: u64,
            #[serde(skip_serializing_if = "Option::is_none")]
            alarm_realtime_ns: Option<u64>,
            window: Span,
            onset: &'a Option<Onset>,
            database: &'a Database,
            listed: usize,
            scope: f64,
            stats: &'a Stats,
        }
        #[derive(Serialize)]
        struct Tagged<'a, T: Serialize> {
            r#type: &'static str,
            #[serde(flatten)]
            inner: &'a T,
        }
        let mut out = String::new();
        let mut line = |v: &dyn erased::Ser| {
            out.push_str(&v.json());
            out.push('\n');
        };
        line(&Head {
            r#type: "report",
            version: self.version,
            verdict: self.verdict,
            alarm: &self.alarm,
            alarm_ts: self.alarm_ts,
            alarm_realtime_ns: self.alarm_realtime_ns,
            window: self.window,
            onset: &self.onset,
            database: &self.database,
            listed: self.ranking.len(),
            scope: self.scope,
            stats: &self.stats,
        });
        for r in &self.ranking {
            line(&Tagged {
                r#type: "function",
                inner: r,
            });
        }
        for (i, e) in self.evidence.iter().enumerate() {
            #[derive(Serialize)]
            struct Ev<'a> {
                r#type: &'static str,
                id: usize,
                #[serde(flatten)]
                inner: &'a EvidenceOut,
            }
            line(&Ev {
                r#type: "evidence",
                id: i,
                inner: e,
            });
        }
        for s in &self.path {
            line(&Tagged {
                r#type: "step",
                inner: s,
            });
        }
        for w in &self.warnings {
            #[derive(Serialize)]
            struct Warn<'a> {
                r#type: &'static str,
                message: &'a str,
            }
            line(&Warn {
                r#type: "warning",
                message: w,
            });
        }
        out
    }

    /// The report for a terminal.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let rel = |ts: u64| (ts as f64 - self.alarm_ts as f64) / 1e9;
        let _ = writeln!(
            s,
            "perfscope: {} ({}, {} functions, {} with signatures)",
            match self.verdict {
                Verdict::Findings => "abnormal behaviour found",
                Verdict::Unmatched => "abnormal behaviour found, no signature matches it",
                Verdict::Normal => "nothing abnormal in the window",
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
                let _ = writeln!(s, "  #{i} {:>6.2}  {}", e.score, e.summary);
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

mod erased {
    //! Lets the JSON Lines writer take records of different types through one closure.
    pub trait Ser {
        fn json(&self) -> String;
    }
    impl<T: serde::Serialize> Ser for T {
        fn json(&self) -> String {
            serde_json::to_string(self).unwrap_or_else(|e| {
                format!("{{\"type\":\"warning\",\"message\":\"unserializable record: {e}\"}}")
            })
        }
    }
}
