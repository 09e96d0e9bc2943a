//! `perfscope analyze`: the analysis of a recorded trace. Two streaming passes over the
//! file (extent and marks, then the window), so a trace of any size takes the memory of
//! its window only. Function-entry events and frames of a training trace are ignored:
//! the analysis sees what production sees, syscalls.

use std::path::Path;

use analysis::report::{Report, Span};
use analysis::window::WindowBuilder;
use analysis::{Alarm, Params};
use anyhow::{Context, bail};
use trace::{Event, TraceReader};

use crate::cli::{AnalyzeArgs, SecSpan};
use crate::target::{self, Running};
use crate::{checks, html, output};

const S: f64 = 1e9;

/// What the first pass learns.
struct Extent {
    /// Time zero of `--at`, `--normal`, `--abnormal`.
    t0: u64,
    end: u64,
    marks: Vec<(u64, String)>,
    events: u64,
}

fn open(path: &Path) -> anyhow::Result<TraceReader<std::io::BufReader<std::fs::File>>> {
    TraceReader::open(path).with_context(|| format!("reading the trace {}", path.display()))
}

fn extent(path: &Path) -> anyhow::Result<Extent> {
    let mut r = open(path)?;
    let (mut first, mut last, mut events) = (u64::MAX, 0u64, 0u64);
    let mut marks = Vec::new();
    while let Some(ev) = r
        .next_event()
        .with_context(|| format!("reading the trace {}", path.display()))?
    {
        events += 1;
        let ts = ev.ts();
        first = first.min(ts);
        last = last.max(match &ev {
            Event::Syscall(s) => s.end().unwrap_or(s.ts),
            _ => ts,
        });
        if let Event::Mark { ts, label } = ev {
            marks.push((ts, label));
        }
    }
    let h = r.header();
    let t0 = if h.start_monotonic_ns > 0 {
        h.start_monotonic_ns
    } else if first == u64::MAX {
        0
    } else {
        first
    };
    let end = r
        .footer()
        .map_or(0, |f| f.end_monotonic_ns)
        .max(last)
        .max(t0);
    Ok(Extent {
        t0,
        end,
        marks,
        events,
    })
}

/// The analysed window and the spans given, in trace time.
#[derive(Debug)]
struct Plan {
    start: u64,
    end: u64,
    how: String,
    normal: Option<Span>,
    abnormal: Option<Span>,
}

fn plan(a: &AnalyzeArgs, x: &Extent) -> anyhow::Result<Plan> {
    let abs = |s: f64| x.t0.saturating_add((s * S) as u64);
    let span = |s: SecSpan| Span {
        start: abs(s.start),
        end: abs(s.end),
    };
    let length = (x.end - x.t0) as f64 / S;
    for (name, s) in [("--normal", a.normal), ("--abnormal", a.abnormal)] {
        if let Some(s) = s
            && s.start >= length
        {
            bail!(
                "{name} {}..{} starts after the trace ends ({length:.1} s from its start)",
                s.start,
                s.end
            );
        }
    }
    let (end, how) = if let Some(at) = a.at {
        if !(0.0..=length + 1.0).contains(&at) {
            bail!("--at {at} is outside the trace (0 to {length:.1} s from its start)");
        }
        (abs(at), format!("--at {at} s"))
    } else if let Some(label) = &a.at_mark {
        match x.marks.iter().filter(|m| &m.1 == label).max_by_key(|m| m.0) {
            Some(m) => (m.0, format!("mark {label:?}")),
            None => {
                let mut seen: Vec<&str> = x.marks.iter().map(|m| m.1.as_str()).collect();
                seen.sort_unstable();
                seen.dedup();
                bail!(
                    "no mark labelled {label:?} in the trace (marks: {})",
                    if seen.is_empty() {
                        "none".to_string()
                    } else {
                        seen.join(", ")
                    }
                )
            }
        }
    } else if let Some(s) = a.abnormal {
        (abs(s.end).min(x.end), "end of --abnormal".to_string())
    } else if let Some(m) = x
        .marks
        .iter()
        .filter(|m| m.1.starts_with("alarm"))
        .max_by_key(|m| m.0)
    {
        (m.0, format!("mark {:?}", m.1))
    } else {
        (x.end, "end of trace".to_string())
    };
    // nothing is before the capture start
    let mut start = end.saturating_sub(a.window).max(x.t0);
    let normal = a.normal.map(span);
    let abnormal = a.abnormal.map(span);
    for s in normal.iter().chain(&abnormal) {
        start = start.min(s.start);
        if s.start >= end {
            bail!(
                "the span {:.1}..{:.1} s starts after the analysed window ends ({:.1} s)",
                (s.start - x.t0) as f64 / S,
                (s.end - x.t0) as f64 / S,
                (end - x.t0) as f64 / S
            );
        }
    }
    Ok(Plan {
        start,
        end,
        how,
        normal,
        abnormal,
    })
}

/// Runs the command; returns the exit code.
pub fn run(a: &AnalyzeArgs) -> anyhow::Result<i32> {
    let loaded = target::load(&a.db)?;
    let mut warnings = target::check_name(&loaded.db, a.expect_target.as_deref(), a.force)?;
    let x = extent(&a.trace)?;
    let p = plan(a, &x)?;

    let mut r = open(&a.trace)?;
    let h = r.header().clone();
    if h.arch != "x86_64" {
        warnings.push(format!(
            "the trace was recorded on {}, whose syscall numbers this build reads as x86_64",
            h.arch
        ));
    }
    let mut b = WindowBuilder::new(p.start, p.end);
    while let Some(ev) = r.next_event()? {
        b.push(&ev);
    }
    let mut damage = loaded.doubts();
    if let Some(d) = r.damage() {
        damage.push(format!(
            "the window's trace is damaged ({}){}: what happened after that is missing",
            d.reason,
            d.unread_share()
                .filter(|&f| f > 0.0)
                .map(|f| format!(", {:.1} % of the file unread", 100.0 * f))
                .unwrap_or_default()
        ));
    }
    let recorded: Vec<Running> = r
        .objects()
        .filter(|o| o.kind != trace::ObjectKind::JitMap)
        .map(|o| Running {
            path: o.path.clone(),
            build_id: o.build_id.clone(),
        })
        .collect();
    let mismatch = target::compare(&loaded.db, &recorded);
    damage.extend(target::refuse_other_program(&mismatch, a.force)?);
    warnings.extend(mismatch.into_warnings());
    let mut w = b.finish();
    w.jit = analysis::window::Window::jit_from_objects(r.objects());
    w.objects = recorded
        .iter()
        .map(|o| (o.path.clone(), o.build_id.clone()))
        .collect();
    let params = Params {
        normal: p.normal,
        abnormal_span: p.abnormal,
        ..Params::default()
    };
    let alarm = Alarm {
        source: format!("offline: {} of {}", p.how, a.trace.display()),
        realtime_ns: (h.start_realtime_ns > 0 && h.start_monotonic_ns > 0).then(|| {
            h.start_realtime_ns
                .saturating_add(p.end.saturating_sub(h.start_monotonic_ns))
        }),
    };
    let mut report: Report =
        analysis::analyze(&w, &loaded.compiled, loaded.info(), &alarm, &params);
    if x.events == 0 {
        damage.push("the trace holds no events: there is nothing to analyse".into());
    }
    report.add_damage(damage);
    let extra = checks::window_warnings(&w, &report);
    checks::add(&mut report, warnings.into_iter().chain(extra));
    output::print(&output::render(&report, a.format));
    if let Some(path) = &a.html {
        output::write_atomic(path, html::page(&report, &w).as_bytes())?;
    }
    Ok(report.exit_code())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn args(extra: &[&str]) -> AnalyzeArgs {
        let mut v = vec!["perfscope", "analyze", "--db", "x", "t"];
        v.extend(extra);
        match crate::cli::Cli::parse_from(v).command {
            crate::cli::Cmd::Analyze(a) => a,
            _ => unreachable!(),
        }
    }

    fn extent() -> Extent {
        Extent {
            t0: 1000 * 1_000_000_000,
            end: 1200 * 1_000_000_000,
            marks: vec![
                (1100 * 1_000_000_000, "alarm".into()),
                (1150 * 1_000_000_000, "trigger".into()),
            ],
            events: 10,
        }
    }

    #[test]
    fn the_window_ends_at_the_last_alarm_mark_by_default() {
        let p = plan(&args(&[]), &extent()).unwrap();
        assert_eq!(p.end, 1100 * 1_000_000_000);
        assert_eq!(p.start, 1010 * 1_000_000_000);
        let p = plan(
            &args(&["--at-mark", "trigger", "--window", "10s"]),
            &extent(),
        )
        .unwrap();
        assert_eq!(p.end, 1150 * 1_000_000_000);
        assert_eq!(p.start, 1140 * 1_000_000_000);
        let p = plan(&args(&["--at", "200"]), &extent()).unwrap();
        assert_eq!(p.end, 1200 * 1_000_000_000);
    }

    #[test]
    fn given_spans_are_relative_to_the_trace_start_and_widen_the_window() {
        let p = plan(
            &args(&["--normal", "0..60", "--abnormal", "60..100"]),
            &extent(),
        )
        .unwrap();
        assert_eq!(p.end, 1100 * 1_000_000_000);
        assert_eq!(p.start, 1000 * 1_000_000_000);
        assert_eq!(p.normal.unwrap().end, 1060 * 1_000_000_000);
    }

    #[test]
    fn impossible_times_are_errors_that_say_why() {
        let e = plan(&args(&["--at-mark", "nope"]), &extent()).unwrap_err();
        assert!(e.to_string().contains("marks: alarm, trigger"), "{e}");
        let e = plan(&args(&["--normal", "300..400"]), &extent()).unwrap_err();
        assert!(e.to_string().contains("after the trace ends"), "{e}");
        assert!(plan(&args(&["--at", "5000"]), &extent()).is_err());
    }
}
