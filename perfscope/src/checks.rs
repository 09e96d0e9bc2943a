//! Warnings about the window itself, added to a report after the analysis: processes
//! that exited during it, a normal part with nothing in it, a window the rolling buffer
//! could not hold whole. Each says what it means for the ranking.

use analysis::report::{Report, Span};
use analysis::window::Window;

/// Warnings about `w` as analysed in `r`.
pub fn window_warnings(w: &Window, r: &Report) -> Vec<String> {
    let mut out = Vec::new();
    let rel = |ts: u64| w.end.saturating_sub(ts) as f64 / 1e9;
    // processes that ended: their main thread exited
    let mut gone: Vec<(u64, u32, &str)> = w
        .threads
        .iter()
        .filter(|t| t.tid == t.pid)
        .filter_map(|t| t.exited.map(|x| (x, t.pid, t.comm.as_str())))
        .collect();
    gone.sort_unstable();
    if gone.len() <= 3 {
        for (x, pid, comm) in &gone {
            out.push(format!(
                "process {pid} ({comm}) exited {:.1} s before the alarm: its silence after that \
                 is not a hang, and what it did last may be shutdown work",
                rel(*x)
            ));
        }
    } else {
        // many short-lived children: one line, by name
        let mut names: Vec<(&str, usize)> = Vec::new();
        for (_, _, comm) in &gone {
            match names.iter_mut().find(|n| n.0 == *comm) {
                Some(n) => n.1 += 1,
                None => names.push((comm, 1)),
            }
        }
        names.sort_by_key(|n| (std::cmp::Reverse(n.1), n.0));
        let list: Vec<String> = names
            .iter()
            .take(5)
            .map(|(n, k)| format!("{n} x{k}"))
            .collect();
        out.push(format!(
            "{} processes exited during the window ({}{}): their silence after exiting is not \
             a hang",
            gone.len(),
            list.join(", "),
            if names.len() > 5 { ", ..." } else { "" }
        ));
    }
    let threads_gone = w
        .threads
        .iter()
        .filter(|t| t.tid != t.pid && t.exited.is_some())
        .count();
    if threads_gone > 0 && threads_gone * 2 >= w.threads.len() {
        out.push(format!(
            "{threads_gone} of the {} threads in the window exited during it (short-lived \
             threads: each is compared only with threads of the same name)",
            w.threads.len()
        ));
    }
    if let Some(o) = &r.onset {
        let n = syscalls_in(w, o.normal);
        if !w.is_empty() && n == 0 {
            out.push(format!(
                "the normal part ({:.1} s to {:.1} s before the alarm) holds no syscalls: every \
                 unit looks new, so the ranking cannot tell the cause from the usual work; \
                 give a --normal span where the server ran normally",
                rel(o.normal.start),
                rel(o.normal.end)
            ));
        } else if !w.is_empty() && n < 100 && r.verdict != analysis::report::Verdict::Normal {
            out.push(format!(
                "the normal part holds only {n} syscalls: too little to know what is usual; \
                 the ranking is weak"
            ));
        }
    }
    out
}

fn syscalls_in(w: &Window, s: Span) -> usize {
    w.threads
        .iter()
        .map(|t| {
            let a = t.calls.partition_point(|c| c.ts < s.start);
            let b = t.calls.partition_point(|c| c.ts < s.end);
            b - a
        })
        .sum()
}

/// Adds warnings to a report, keeping them in a stable order without duplicates.
pub fn add(r: &mut Report, warnings: impl IntoIterator<Item = String>) {
    for w in warnings {
        if !r.warnings.contains(&w) {
            r.warnings.push(w);
        }
    }
}
