//! The summary of a training run, for people (text) and programs (JSON).

use std::time::Duration;

/// What a training run saw and produced. Function counts exclude the outside
/// pseudo-function; `episodes` includes its signature.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Summary {
    pub traces: u64,
    pub events: u64,
    pub functions_probed: u64,
    pub functions_hit: u64,
    pub functions_with_syscalls: u64,
    pub functions_with_signatures: u64,
    pub episodes: u64,
    pub invocations: u64,
    pub syscalls: u64,
    pub syscalls_outside_app: u64,
    pub lost_events: u64,
    pub truncated_traces: u64,
    pub warnings: Vec<String>,
}

/// Version of the JSON summary's shape.
pub const SUMMARY_VERSION: u32 = 1;

impl Summary {
    /// Probed functions entered at least once, in percent (0 when none was probed).
    pub fn coverage_pct(&self) -> f64 {
        if self.functions_probed == 0 {
            0.0
        } else {
            100.0 * self.functions_hit as f64 / self.functions_probed as f64
        }
    }

    /// Aligned lines for a terminal.
    pub fn to_text(&self, elapsed: Duration) -> String {
        let rows: [(&str, String); 13] = [
            ("traces", self.traces.to_string()),
            ("events", self.events.to_string()),
            ("syscalls", self.syscalls.to_string()),
            (
                "outside-app syscalls",
                self.syscalls_outside_app.to_string(),
            ),
            ("lost events", self.lost_events.to_string()),
            ("functions probed", self.functions_probed.to_string()),
            ("functions hit", self.functions_hit.to_string()),
            ("coverage", format!("{:.1} %", self.coverage_pct())),
            ("with syscalls", self.functions_with_syscalls.to_string()),
            (
                "with signatures",
                self.functions_with_signatures.to_string(),
            ),
            ("episodes", self.episodes.to_string()),
            ("invocations", self.invocations.to_string()),
            ("time", format!("{:.2} s", elapsed.as_secs_f64())),
        ];
        let mut out = String::new();
        for (k, v) in rows {
            out.push_str(&format!("{k:>21}  {v}\n"));
        }
        if self.truncated_traces > 0 {
            out.push_str(&format!(
                "{:>21}  {}\n",
                "truncated traces", self.truncated_traces
            ));
        }
        out
    }

    /// One JSON object (a single line), with a `version` field.
    pub fn to_json(&self, elapsed: Duration) -> String {
        serde_json::json!({
            "type": "summary",
            "version": SUMMARY_VERSION,
            "traces": self.traces,
            "events": self.events,
            "syscalls": self.syscalls,
            "syscalls_outside_app": self.syscalls_outside_app,
            "lost_events": self.lost_events,
            "truncated_traces": self.truncated_traces,
            "functions_probed": self.functions_probed,
            "functions_hit": self.functions_hit,
            "coverage_pct": (self.coverage_pct() * 100.0).round() / 100.0,
            "functions_with_syscalls": self.functions_with_syscalls,
            "functions_with_signatures": self.functions_with_signatures,
            "episodes": self.episodes,
            "invocations": self.invocations,
            "seconds": (elapsed.as_secs_f64() * 1000.0).round() / 1000.0,
            "warnings": self.warnings,
        })
        .to_string()
    }
}
