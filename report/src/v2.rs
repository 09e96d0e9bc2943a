//! Report format version 2: the record types of the JSON Lines report. Never change a
//! field's meaning here; new optional fields may be added (readers ignore what they do not
//! know), anything else is a new version in a module of its own.
//!
//! Version 2 = version 1 plus the `inconclusive` verdict and the `damage` list of the
//! report record (what keeps the analysis from being trusted: a damaged window, a doubtful
//! database, a database of another program). A version 1 report reads as a version 2 one.
//! Later optional fields of version 2: `confidence` (how sure the verdict is).
//!
//! The records, in order: one [`Head`] (`"type": "report"`), then [`Function`]s (the
//! ranking, rank 1 first), [`Evidence`], [`Step`]s (the syscall path) and [`Warning`]s.

use serde::{Deserialize, Serialize};

/// One line of a JSON Lines report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Record {
    Report(Head),
    Function(Function),
    Evidence(Evidence),
    Step(Step),
    Warning(Warning),
}

/// A time span, monotonic ns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Abnormal behaviour found and matched to functions.
    Findings,
    /// Abnormal behaviour found, but no function's signature matches it.
    Unmatched,
    /// Nothing abnormal in the window.
    Normal,
    /// The window or the database could not be trusted and nothing was found: "nothing
    /// abnormal" cannot be said (the `damage` list says why). Version 2.
    Inconclusive,
}

/// The first record: what was analysed and what came out.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Head {
    pub version: u32,
    pub verdict: Verdict,
    /// What raised the alarm, and when (monotonic ns; `alarm_realtime_ns` when known).
    pub alarm: String,
    pub alarm_ts: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alarm_realtime_ns: Option<u64>,
    pub window: Span,
    pub onset: Option<Onset>,
    pub database: Database,
    /// What keeps this analysis from being trusted, said first (a damaged window, a
    /// database trained on damaged traces or for another program). Version 2.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub damage: Vec<String>,
    /// How sure the verdict is: the strength of the strongest evidence against the
    /// threshold from which the verdict is abnormal. Optional (absent in reports written
    /// before it, and when the window held nothing to analyse).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<Box<Confidence>>,
    /// Functions ranked.
    pub listed: usize,
    /// Functions listed / functions in the database.
    pub scope: f64,
    pub stats: Stats,
}

/// How sure the verdict is.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Confidence {
    /// The strength of the strongest evidence, on the scale of `threshold`.
    pub strength: f64,
    /// The strength from which the verdict is abnormal (calibrated on healthy windows).
    pub threshold: f64,
    /// `high` (from twice the threshold), `medium` (from the threshold) or `low` (below:
    /// "nothing abnormal").
    pub level: String,
    /// The `id` of the strongest [`Evidence`] record, when it is listed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<usize>,
    /// Functions the signatures or stacks pointed at although the evidence stayed below
    /// the threshold (so they are not ranked), best first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub weak_leads: Vec<String>,
}

/// Where the trouble starts: the window is split there into a normal and an abnormal part.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Onset {
    pub ts: u64,
    pub score: f64,
    pub detected: bool,
    /// How the split was chosen: `detected`, `given` (command line) or `fallback`.
    pub how: String,
    pub normal: Span,
    pub abnormal: Span,
}

/// The signature database the window was matched against.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Database {
    pub target: String,
    pub version: String,
    pub functions: usize,
    pub with_signatures: usize,
}

/// Counts of the analysis.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
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

/// One ranked function.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Function {
    pub rank: usize,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    pub score: f64,
    pub reasons: Vec<Reason>,
    /// Credit from sampled stacks, when there were any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack: Option<StackCredit>,
}

/// Why a function is on the list: one evidence's contribution.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reason {
    /// The `id` of an [`Evidence`] record.
    pub evidence: usize,
    pub contribution: f64,
    pub episodes: Vec<MatchedEpisode>,
}

/// One episode of a function's signature that the evidence matched.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MatchedEpisode {
    pub events: Vec<String>,
    pub weight: f64,
    /// Share of the abnormal units holding it, and of the normal units.
    pub abnormal: f64,
    pub normal: f64,
}

/// A function's credit from the user stacks sampled after the alarm.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StackCredit {
    /// Weighted credit, summed over threads.
    pub score: f64,
    /// Samples that credited it for `why` (its strongest reason), and of how many
    /// sampled from those threads.
    pub samples: usize,
    pub of: usize,
    pub threads: Vec<String>,
    /// `on_cpu_loop`, `on_cpu`, `new_syscall`, `blocked_new`, `syscall`, or `holds_lock`
    /// (the threads named wait for a lock that this function's thread holds).
    pub why: String,
    /// The syscall, for the syscall reasons.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub syscall: Option<String>,
}

/// Kinds of evidence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EvidenceKind {
    /// Units of a shape the group did not show before the onset.
    New,
    /// Units of a known shape, much more often.
    MoreFrequent,
    /// Units of a known shape, much slower.
    Slower,
    /// Units the group did before and stopped doing.
    Vanished,
    /// A thread making no syscalls while using the CPU.
    Spinning,
    /// A thread that went quiet; its CPU use is unknown.
    Silent,
    /// A thread stuck in one syscall.
    Blocked,
    /// A thread using much more CPU than before.
    Busier,
}

/// One piece of evidence that the behaviour changed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    pub id: usize,
    pub kind: EvidenceKind,
    pub score: f64,
    /// The score with what ordinary changes also produce taken out, on the scale of the
    /// report's `confidence` threshold. Optional, later in version 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strength: Option<f64>,
    /// Thread group (thread name).
    pub group: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
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
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub ts: u64,
    pub thread: String,
    pub syscall: String,
    /// Consecutive repeats folded into this step.
    pub repeat: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dur_us: Option<f64>,
    pub ret: i64,
    pub pending: bool,
}

/// Something the reader of the report must know (lost events, a database for another
/// build...).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Warning {
    pub message: String,
}

impl Record {
    /// The record as one JSON line (without the newline).
    pub fn to_json(&self) -> String {
        // Every field is a plain number, string, bool, list or map: serialization cannot
        // fail; the fallback keeps the stream valid if it ever did.
        serde_json::to_string(self).unwrap_or_else(|e| {
            format!("{{\"type\":\"warning\",\"message\":\"unserializable record: {e}\"}}")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_with_their_type_first() {
        let step = Record::Step(Step {
            ts: 5,
            thread: "w".into(),
            syscall: "fsync".into(),
            repeat: 2,
            dur_us: None,
            ret: 0,
            pending: true,
        });
        let line = step.to_json();
        assert!(line.starts_with(r#"{"type":"step","ts":5"#), "{line}");
        assert!(!line.contains("dur_us"), "{line}");
        let back: Record = serde_json::from_str(&line).unwrap();
        assert_eq!(back, step);
        let w: Record = serde_json::from_str(r#"{"type":"warning","message":"m","later":1}"#)
            .expect("unknown fields are ignored");
        assert_eq!(
            w,
            Record::Warning(Warning {
                message: "m".into()
            })
        );
    }
}
