//! The whole analysis on a window built in code: a storm of syscalls that filled the
//! rolling window, so that only its last quarter second is kept and the minute of normal
//! traffic before it is known from the per-second tallies alone.

use super::*;
use crate::window::{Call, StateSample, Tally, Thread};
use testkit::sigdbs::{ep, header, record};

const S: u64 = 1_000_000_000;

fn nr(name: &str) -> u16 {
    trace::syscall_number(name).unwrap() as u16
}

/// The server's functions: the request handler, and the status poll that storms.
fn db() -> Compiled {
    let db = sigdb::Sigdb::new(
        header("1.0", "4f1c9a0b"),
        vec![
            record(
                "handle_request",
                "src/http.c",
                500,
                vec![
                    ep("epoll_wait>read>write", 1.0, 1.2, 500),
                    ep("read>write", 1.0, 0.9, 500),
                ],
            ),
            record(
                "poll_status",
                "src/status.c",
                50,
                vec![ep("newfstatat>newfstatat", 1.0, 1.6, 50)],
            ),
            record(
                "accept_conn",
                "src/net.c",
                50,
                vec![ep("accept4", 1.0, 1.4, 50)],
            ),
        ],
    );
    Compiled::new(&db)
}

/// `per_sec` requests (epoll_wait, read, write) a second in `[from, to)` ns.
fn requests(from: u64, to: u64, per_sec: u64) -> Vec<Call> {
    let step = S / per_sec;
    (0..(to - from) / step)
        .flat_map(|i| {
            let t = from + i * step;
            ["epoll_wait", "read", "write"]
                .into_iter()
                .enumerate()
                .map(move |(k, n)| Call {
                    ts: t + k as u64 * 20_000,
                    dur: 5_000,
                    ret: 0,
                    nr: nr(n),
                    cpu: 0,
                })
        })
        .collect()
}

/// Scheduler samples once a second, busy 90 % of a CPU from `busy_from` seconds on.
fn cpu(busy_from: u64) -> Vec<StateSample> {
    (0..=90u64)
        .map(|s| StateSample {
            ts: s * S,
            state: b'R',
            cpu_ns: s.saturating_sub(busy_from) * 900_000_000,
            wait_ns: None,
        })
        .collect()
}

#[test]
fn a_storm_that_filled_the_window_is_seen_against_the_tallied_minute_before_it() {
    // 90 s asked; 200 requests/s throughout on the event loop; from 80 s a worker calls
    // newfstatat a million times a second. The ring kept only the last 0.25 s.
    let (onset, kept) = (80 * S, 89 * S + 750_000_000);
    let storm_rate = 1_000_000u64;
    let mut tallies = Vec::new();
    for sec in 0..90u64 {
        let ts = sec * S;
        if ts + S <= kept {
            for n in ["epoll_wait", "read", "write"] {
                tallies.push(Tally {
                    ts,
                    comm: "srv".into(),
                    nr: nr(n),
                    calls: 200,
                });
            }
        }
        if ts >= onset && ts < kept {
            let calls = (storm_rate * (kept.min(ts + S) - ts) / S) as u32;
            tallies.push(Tally {
                ts,
                comm: "srv".into(),
                nr: nr("newfstatat"),
                calls,
            });
        }
    }
    let storm: Vec<Call> = (0..(90 * S - kept) * storm_rate / S)
        .map(|i| Call {
            ts: kept + i * (S / storm_rate),
            dur: 300,
            ret: 0,
            nr: nr("newfstatat"),
            cpu: 1,
        })
        .collect();
    let w = Window {
        start: 0,
        end: 90 * S,
        threads: vec![
            Thread {
                pid: 1,
                tid: 1,
                comm: "srv".into(),
                calls: requests(kept, 90 * S, 200),
                states: cpu(90),
                exited: None,
            },
            Thread {
                pid: 1,
                tid: 2,
                comm: "srv".into(),
                calls: storm,
                states: cpu(80),
                exited: None,
            },
        ],
        complete_from: Some(kept),
        tallies,
        ..Window::default()
    };
    assert!(w.len() >= 250_000, "{}", w.len());
    let r = analyze(
        &w,
        &db(),
        Database::default(),
        &Alarm::default(),
        &Params::default(),
    );
    let o = r.onset.as_ref().expect("an onset");
    assert!(o.detected, "{o:?}");
    assert!(
        o.ts.abs_diff(onset) <= S,
        "onset {:.1} s",
        o.ts as f64 / 1e9
    );
    assert_eq!(r.verdict, Verdict::Findings, "{}", r.to_text());
    assert_eq!(r.ranking[0].name, "poll_status", "{}", r.to_text());
    assert!(
        r.warnings.iter().any(|w| w.contains("counted per second")),
        "the report says what was summarised: {:?}",
        r.warnings
    );
}
