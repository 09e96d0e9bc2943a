//! The end-of-run summary: what was probed and hit, what was recorded and lost, how the
//! command ended, and whether single-stepped probes cost much. Text for people, one JSON
//! object (with `type` and `version`) for programs.

use std::path::PathBuf;
use std::time::Duration;

use host::ExitStatus;
use host::signals;
use trace::{CaptureMode, EntryClass};

use crate::jvm::JvmCoverage;
use crate::plan::Plan;
use crate::record::Recording;

/// Version of the JSON summary's shape.
pub const SUMMARY_VERSION: u32 = 1;

/// Cost of one single-stepped uprobe hit on this kind of machine (PAPER.md: ~10 µs;
/// an emulated one costs ~0.6 µs).
const SINGLE_STEP_NS: u64 = 10_000;

/// Suggest leaving single-stepped functions out when their estimated cost reaches this
/// share of the run's wall time.
const SUGGEST_SHARE: f64 = 0.05;

/// How many single-stepped functions the summary names.
const TOP: usize = 5;

#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    pub trace: PathBuf,
    pub mode: CaptureMode,
    pub run_as: String,
    pub objects: usize,
    pub functions_probed: usize,
    /// Probed functions whose probed instruction is single-stepped (the entry, or the
    /// later instruction `symbols` moved the probe to).
    pub single_step_probed: usize,
    pub single_step_skipped: usize,
    /// Left out because the kernel cannot probe their entry.
    pub unprobeable: usize,
    /// Not probed (but in the trace header) because they cannot reach a system call:
    /// (object, name), by id.
    pub pruned: Vec<(String, String)>,
    /// Probes removed while the command ran, once their functions had converged:
    /// (name, invocations then), by id.
    pub muted: Vec<(String, u64)>,
    /// Rounds of muting that removed probes, and the time spent re-linking in them.
    pub mute_rounds: (u32, Duration),
    pub functions_hit: u32,
    pub invocations: u64,
    pub syscalls: u64,
    pub events: u64,
    pub lost: u64,
    pub trace_bytes: u64,
    pub wall: Duration,
    /// Reading the `--bin` objects and planning the probes (set by the caller).
    pub plan: Duration,
    pub setup: Duration,
    pub attach: Duration,
    pub finish: Duration,
    /// CPU time (user + system) of the runner process itself: symbols, BPF loading,
    /// draining and writing (set by the caller; the kernel-side cost of probes and
    /// syscall tracing is charged to the traced tasks).
    pub runner_cpu: Duration,
    pub status: ExitStatus,
    pub interrupted: Option<i32>,
    /// The runner's exit status.
    pub exit_code: i32,
    /// The single-stepped functions with the most invocations, most first.
    pub hot_single_step: Vec<(String, u64)>,
    pub single_step_invocations: u64,
    /// Whether single-stepped probes seem to dominate the overhead.
    pub suggest_skip: bool,
    pub notes: Vec<String>,
    /// JVM methods, when JVM application code was named.
    pub jvm: Option<JvmCoverage>,
}

impl Summary {
    pub fn new(
        trace: PathBuf,
        plan: Option<&Plan>,
        rec: &Recording,
        run_as: String,
        exit_code: i32,
    ) -> Summary {
        let mut hot: Vec<(String, u64)> = Vec::new();
        let mut ss_calls = 0u64;
        let mut invocations = 0u64;
        for &(id, n) in &rec.invocations {
            invocations += n;
            if let Some(f) = plan.and_then(|p| p.function(id))
                && f.entry == EntryClass::SingleStep
            {
                ss_calls += n;
                hot.push((f.name.clone(), n));
            }
        }
        hot.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        hot.truncate(TOP);
        let est = ss_calls.saturating_mul(SINGLE_STEP_NS) as f64 / 1e9;
        let wall = rec.wall.as_secs_f64();
        let suggest_skip = wall > 0.0 && est / wall >= SUGGEST_SHARE;
        let per = |f: fn(&crate::plan::ObjectPlan) -> usize| {
            plan.map_or(0, |p| p.per_object.iter().map(f).sum())
        };
        Summary {
            trace,
            mode: rec.mode,
            run_as,
            objects: plan.map_or(0, |p| p.objects.len()),
            functions_probed: plan.map_or(0, Plan::probed),
            single_step_probed: per(|o| o.single_step),
            single_step_skipped: per(|o| o.single_step_skipped),
            unprobeable: per(|o| o.unprobeable),
            pruned: plan.map_or_else(Vec::new, |p| {
                p.pruned
                    .iter()
                    .map(|f| (f.object.clone(), f.name.clone()))
                    .collect()
            }),
            muted: rec
                .muted
                .iter()
                .map(|&(id, n)| match plan.and_then(|p| p.function(id)) {
                    Some(f) => (f.name.clone(), n),
                    None => (format!("#{id}"), n),
                })
                .collect(),
            mute_rounds: rec.mute_rounds,
            functions_hit: rec.stats.functions_hit,
            invocations,
            syscalls: rec.stats.syscalls,
            events: rec.events_written,
            lost: rec.stats.lost,
            trace_bytes: rec.trace_bytes,
            wall: rec.wall,
            plan: Duration::ZERO,
            setup: rec.setup,
            attach: rec.attach,
            finish: rec.finish,
            runner_cpu: Duration::ZERO,
            status: rec.status,
            interrupted: rec.interrupted,
            exit_code,
            hot_single_step: hot,
            single_step_invocations: ss_calls,
            suggest_skip,
            notes: rec.notes.clone(),
            jvm: rec.jvm,
        }
    }

    fn status_text(&self) -> String {
        let mut s = match self.status {
            ExitStatus::Exited(c) => format!("exited with {c}"),
            ExitStatus::Signaled(sig) => format!("killed by {}", signals::name(sig)),
        };
        if let Some(sig) = self.interrupted {
            s.push_str(&format!(
                " (the runner received {} and forwarded it)",
                signals::name(sig)
            ));
        }
        s
    }

    /// Aligned lines for a terminal.
    pub fn to_text(&self) -> String {
        let mut rows: Vec<(&str, String)> = Vec::new();
        rows.push(("trace", self.trace.display().to_string()));
        if self.mode == CaptureMode::Full {
            let mut probed = format!(
                "{} in {} object{}",
                self.functions_probed,
                self.objects,
                if self.objects == 1 { "" } else { "s" }
            );
            if self.single_step_probed > 0 {
                probed.push_str(&format!(", {} single-stepped", self.single_step_probed));
            }
            if self.single_step_skipped > 0 {
                probed.push_str(&format!(
                    ", {} single-stepped skipped",
                    self.single_step_skipped
                ));
            }
            if self.unprobeable > 0 {
                probed.push_str(&format!(", {} unprobeable", self.unprobeable));
            }
            if !self.pruned.is_empty() {
                probed.push_str(&format!(
                    ", {} not probed ({})",
                    self.pruned.len(),
                    crate::plan::PRUNED_REASON
                ));
            }
            if !self.muted.is_empty() {
                probed.push_str(&format!(
                    ", {} probes removed once converged (in {} rounds, {:.0} ms)",
                    self.muted.len(),
                    self.mute_rounds.0,
                    self.mute_rounds.1.as_secs_f64() * 1e3
                ));
            }
            if self.objects > 0 || self.jvm.is_none() {
                rows.push(("functions probed", probed));
            } else {
                rows.push(("functions probed", "no native code (JVM only)".into()));
            }
            if let Some(j) = &self.jvm {
                let pct = if j.methods > 0 {
                    100.0 * j.hit as f64 / j.methods as f64
                } else {
                    0.0
                };
                rows.push((
                    "JVM methods",
                    format!(
                        "{} instrumented in {} JVM{} ({} leaves left out), {} hit ({pct:.1} %), \
                         {} invocations; {} methods of classes never loaded",
                        j.methods,
                        j.processes,
                        if j.processes == 1 { "" } else { "s" },
                        j.leaves,
                        j.hit,
                        j.invocations,
                        j.never_loaded
                    ),
                ));
            }
            let pct = if self.functions_probed > 0 {
                100.0 * f64::from(self.functions_hit) / self.functions_probed as f64
            } else {
                0.0
            };
            rows.push((
                "functions hit",
                format!("{} ({pct:.1} %)", self.functions_hit),
            ));
            rows.push(("invocations", self.invocations.to_string()));
        } else {
            rows.push(("functions probed", "none (syscalls only)".into()));
        }
        rows.push(("syscalls", self.syscalls.to_string()));
        rows.push(("events", self.events.to_string()));
        let lost = if self.lost > 0 {
            format!("{} (ring buffer full: raise --ring-size)", self.lost)
        } else {
            "0".into()
        };
        rows.push(("events lost", lost));
        rows.push(("trace size", human_bytes(self.trace_bytes)));
        rows.push((
            "wall time",
            format!(
                "{:.2} s (+ {:.0} ms reading symbols, {:.0} ms loading and attaching, \
                 {:.0} ms to detach)",
                self.wall.as_secs_f64(),
                self.plan.as_secs_f64() * 1e3,
                self.setup.as_secs_f64() * 1e3,
                self.finish.as_secs_f64() * 1e3
            ),
        ));
        rows.push(("command ran as", self.run_as.clone()));
        rows.push(("command", self.status_text()));
        let mut out = String::from("runner summary\n");
        for (k, v) in rows {
            out.push_str(&format!("{k:>18}  {v}\n"));
        }
        if !self.hot_single_step.is_empty() {
            out.push_str(&format!(
                "{:>18}  {} invocations, ~{:.2} s at ~10 µs each:",
                "single-stepped",
                self.single_step_invocations,
                self.single_step_invocations as f64 * SINGLE_STEP_NS as f64 / 1e9
            ));
            for (name, n) in &self.hot_single_step {
                out.push_str(&format!(" {name} {n};"));
            }
            out.pop();
            out.push('\n');
        }
        if self.suggest_skip {
            out.push_str(
                "  hint: single-stepped probes dominate the overhead: rebuild with \
                 -fno-shrink-wrap (and -fno-omit-frame-pointer, -fcf-protection=none) so \
                 functions start with `push %rbp`, or pass --skip-single-step\n",
            );
        }
        for n in &self.notes {
            out.push_str(&format!("  note: {n}\n"));
        }
        out
    }

    /// One JSON object on one line.
    pub fn to_json(&self) -> String {
        let (code, signal) = match self.status {
            ExitStatus::Exited(c) => (Some(c), None),
            ExitStatus::Signaled(s) => (None, Some(s)),
        };
        serde_json::json!({
            "type": "summary",
            "version": SUMMARY_VERSION,
            "trace": self.trace.display().to_string(),
            "mode": match self.mode {
                CaptureMode::Full => "full",
                CaptureMode::SyscallsOnly => "syscalls_only",
            },
            "run_as": self.run_as,
            "objects": self.objects,
            "functions_probed": self.functions_probed,
            "single_step_probed": self.single_step_probed,
            "single_step_skipped": self.single_step_skipped,
            "unprobeable": self.unprobeable,
            "functions_pruned": self.pruned.len(),
            "pruned": {
                "reason": crate::plan::PRUNED_REASON,
                "functions": self.pruned.iter()
                    .map(|(o, n)| serde_json::json!({"object": o, "function": n}))
                    .collect::<Vec<_>>(),
            },
            "muted": {
                "max_syscalls_per_invocation": 1.0 / crate::record::MUTE_RATE as f64,
                "rounds": self.mute_rounds.0,
                "relink_ms": round3(self.mute_rounds.1.as_secs_f64() * 1e3),
                "functions": self.muted.iter()
                    .map(|(n, k)| serde_json::json!({"function": n, "invocations": k}))
                    .collect::<Vec<_>>(),
            },
            "functions_hit": self.functions_hit,
            "invocations": self.invocations,
            "syscalls": self.syscalls,
            "events": self.events,
            "lost": self.lost,
            "trace_bytes": self.trace_bytes,
            "wall_s": round3(self.wall.as_secs_f64()),
            "plan_ms": round3(self.plan.as_secs_f64() * 1e3),
            "setup_ms": round3(self.setup.as_secs_f64() * 1e3),
            "attach_ms": round3(self.attach.as_secs_f64() * 1e3),
            "detach_ms": round3(self.finish.as_secs_f64() * 1e3),
            "runner_cpu_s": round3(self.runner_cpu.as_secs_f64()),
            "command_exit_code": code,
            "command_signal": signal,
            "interrupted_by": self.interrupted,
            "exit_code": self.exit_code,
            "hot_single_step": self.hot_single_step.iter()
                .map(|(n, c)| serde_json::json!({"function": n, "invocations": c}))
                .collect::<Vec<_>>(),
            "single_step_invocations": self.single_step_invocations,
            "suggest_skip_single_step": self.suggest_skip,
            "notes": self.notes,
            "jvm": self.jvm.map(|j| serde_json::json!({
                "processes": j.processes,
                "methods_instrumented": j.methods,
                "leaves": j.leaves,
                "methods_hit": j.hit,
                "invocations": j.invocations,
                "methods_never_loaded": j.never_loaded,
            })),
        })
        .to_string()
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {} ({n} bytes)", UNITS[u])
    }
}

#[cfg(test)]
mod tests;
