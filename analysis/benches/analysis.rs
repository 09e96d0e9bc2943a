//! The analysis of a 90-second window holding about a million syscalls of ~50 threads
//! (the synthetic thread-per-connection server of the tests, with an injected slowdown
//! after 60 s), against a database of ~2,000 functions: wall time (criterion) and peak
//! memory (VmHWM, reset through /proc/self/clear_refs after the window is built). Two
//! mixes: `plain` (a few unit shapes, like a real redis: 45 in its 90 s window) and
//! `varied` (30 % of requests make 1 to 3 extra syscalls drawn from 40: ~12,000 shapes,
//! a stress for the clustering).
//!
//! `cargo bench -p analysis --bench analysis`

use testkit::scenario as common;

use std::time::Instant;

use analysis::report::Database;
use analysis::signature::Compiled;
use analysis::window::{Window, WindowBuilder};
use analysis::{Alarm, Params, analyze};
use common::{BUILD_ID, Bug, Scenario};
use criterion::Criterion;

fn status_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(field))
                .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn setup(variety: f64) -> (Window, Compiled) {
    let sc = Scenario {
        seconds: 90,
        workers: 50,
        rate: 30.0,
        onset_s: 60,
        bug: Bug::SlowFlush,
        seed: 7,
        states: true,
        variety,
    };
    let events = common::events(&sc);
    let mut b = WindowBuilder::new(common::T0, common::T0 + 90 * common::S);
    for e in &events {
        b.push(e);
    }
    drop(events);
    let db = common::sigdb(1990, BUILD_ID);
    (b.finish(), Compiled::new(&db))
}

fn main() {
    let mut c = Criterion::default().sample_size(10).configure_from_args();
    for (name, variety) in [("plain", 0.0), ("varied", 0.3)] {
        let t = Instant::now();
        let (w, db) = setup(variety);
        eprintln!(
            "{name}: {} syscalls on {} threads, {:.1} s; database: {} functions; built in {:.1} s",
            w.len(),
            w.threads.len(),
            (w.end - w.start) as f64 / 1e9,
            db.funcs.len(),
            t.elapsed().as_secs_f64()
        );
        let alarm = Alarm {
            source: "bench".into(),
            realtime_ns: None,
        };
        let info = Database::default();
        let params = Params::default();
        // peak memory of one analysis, above what the window and database already hold
        let _ = std::fs::write("/proc/self/clear_refs", "5");
        let before = status_kb("VmRSS:");
        let t = Instant::now();
        let r = analyze(&w, &db, info.clone(), &alarm, &params);
        let took = t.elapsed();
        let hwm = status_kb("VmHWM:");
        eprintln!(
            "{name}: one analysis {:.0} ms; top function {:?}; RSS before {} MiB, peak {} MiB \
             (+{} MiB); {} units, {} patterns, {} clusters",
            took.as_secs_f64() * 1e3,
            r.ranking.first().map(|f| f.name.as_str()),
            before / 1024,
            hwm / 1024,
            hwm.saturating_sub(before) / 1024,
            r.stats.units,
            r.stats.patterns,
            r.stats.clusters
        );
        c.bench_function(
            &format!("analyze {name}: 90 s, 1M syscalls, 2000 functions"),
            |b| b.iter(|| analyze(&w, &db, info.clone(), &alarm, &params)),
        );
    }
    c.final_summary();
}
