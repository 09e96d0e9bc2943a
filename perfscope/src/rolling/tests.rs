//! The rolling window: bounds, eviction, and snapshots equal to a direct build.

use super::*;
use analysis::window::PENDING;

const S: u64 = 1_000_000_000;

fn sc(ts: u64, pid: u32, tid: u32, name: &str, dur: Option<u64>) -> Event {
    let mut s = Syscall::new(ts, pid, tid, trace::syscall_number(name).unwrap());
    s.dur = dur;
    s.ret = 7;
    s.cpu = 1;
    Event::Syscall(s)
}

fn comm(pid: u32, tid: u32, name: &str) -> Event {
    Event::Comm {
        ts: 0,
        pid,
        tid,
        comm: name.into(),
    }
}

#[test]
fn durations_survive_the_compact_encoding() {
    for d in [0, 1, 999, (1 << 31) - 1] {
        assert_eq!(decode_dur(encode_dur(Some(d))), Some(d));
    }
    // long ones keep microseconds
    let long = 1_000 * S + 123_456_789;
    assert_eq!(decode_dur(encode_dur(Some(long))), Some(long / 1000 * 1000));
    assert_eq!(decode_dur(encode_dur(None)), None);
    // absurd ones saturate below "none"
    assert!(decode_dur(encode_dur(Some(u64::MAX))).is_some());
}

#[test]
fn a_full_ring_evicts_the_oldest_and_says_so() {
    let mut st = Store::new(10, 300 * S, S);
    for i in 0..15 {
        st.push(&sc(i * S, 1, 1, "read", Some(10)));
    }
    let x = st.stats();
    assert_eq!(x.held, 10);
    assert_eq!(x.evicted_full, 5);
    assert_eq!(x.full_horizon, Some(4 * S));
    let w = st.snapshot(0, 20 * S, &[]);
    assert_eq!(w.len(), 10);
    assert_eq!(w.threads[0].calls[0].ts, 5 * S);
}

#[test]
fn what_a_full_ring_evicts_is_tallied_per_second_group_and_syscall() {
    // a thread reads 10 times a second for 60 s, then a storm of writes fills the ring
    let mut st = Store::new(1000, 300 * S, S);
    st.push(&comm(1, 1, "srv"));
    st.push(&comm(1, 2, "srv"));
    for i in 0..600 {
        st.push(&sc(i * S / 10, 1, 1, "read", Some(10)));
    }
    for i in 0..5000u64 {
        st.push(&sc(60 * S + i * 1_000_000, 1, 2, "write", Some(10)));
    }
    let x = st.stats();
    assert_eq!((x.held, x.evicted_full), (1000, 4600));
    let w = st.snapshot(0, 70 * S, &[]);
    assert_eq!(w.len(), 1000);
    let h = x.full_horizon.unwrap();
    assert_eq!(w.complete_from, Some(h));
    // every evicted syscall is counted, by its second
    assert_eq!(w.tallied(), 4600);
    let reads: u32 = w
        .tallies
        .iter()
        .filter(|t| t.nr == 0)
        .map(|t| t.calls)
        .sum();
    assert_eq!(reads, 600);
    assert!(w.tallies.iter().all(|t| t.comm == "srv" && t.ts % S == 0));
    assert_eq!(w.tallies[0].ts, 0);
    assert!(w.tallies.windows(2).all(|p| p[0].ts <= p[1].ts));
    // a window that starts after the horizon has no tallies
    let late = st.snapshot(h + 1, 70 * S, &[]);
    assert!(late.tallies.is_empty() && late.complete_from.is_none());
    // tallies age out with the history
    st.evict(400 * S);
    assert!(st.snapshot(0, 400 * S, &[]).tallies.is_empty());
}

#[test]
fn old_records_age_out() {
    let mut st = Store::new(1000, 10 * S, S);
    for i in 0..20 {
        st.push(&sc(i * S, 1, 1, "read", Some(10)));
        st.push(&Event::Mark {
            ts: i * S,
            label: "m".into(),
        });
    }
    st.evict(20 * S);
    assert_eq!(st.stats().held, 10);
    assert_eq!(st.stats().evicted_full, 0);
    let w = st.snapshot(0, 20 * S, &[]);
    assert_eq!(w.threads[0].calls[0].ts, 10 * S);
    assert_eq!(w.marks.len(), 10);
}

#[test]
fn a_snapshot_has_names_pending_syscalls_and_exits() {
    let mut st = Store::new(1000, 300 * S, S);
    st.push(&comm(1, 1, "main"));
    st.push(&comm(1, 2, "worker"));
    for i in 0..5 {
        st.push(&sc(i * S, 1, 1, "epoll_wait", Some(1000)));
        st.push(&sc(i * S + 10, 1, 2, "read", Some(1000)));
    }
    st.push(&Event::ThreadState {
        ts: 3 * S,
        pid: 1,
        tid: 2,
        state: b'R',
        cpu_ns: 5,
        wait_ns: Some(3),
    });
    st.push(&Event::Exit {
        ts: 6 * S,
        pid: 1,
        tid: 2,
        code: 0,
    });
    let blocked = match sc(7 * S, 1, 1, "read", None) {
        Event::Syscall(s) => s,
        _ => unreachable!(),
    };
    let w = st.snapshot(0, 10 * S, &[blocked]);
    assert_eq!(w.threads.len(), 2);
    let main = w.threads.iter().find(|t| t.tid == 1).unwrap();
    assert_eq!(main.comm, "main");
    assert_eq!(main.calls.len(), 6);
    assert_eq!(main.calls.last().unwrap().dur, PENDING);
    let worker = w.threads.iter().find(|t| t.tid == 2).unwrap();
    assert_eq!(worker.comm, "worker");
    assert_eq!(worker.exited, Some(6 * S));
    assert_eq!(worker.states.len(), 1);
    assert_eq!(
        (worker.states[0].cpu_ns, worker.states[0].wait_ns),
        (5, Some(3))
    );
    assert_eq!(worker.calls[0].ret, 7);
}

#[test]
fn a_recycled_tid_is_another_thread() {
    let mut st = Store::new(1000, 300 * S, S);
    st.push(&comm(1, 5, "old"));
    st.push(&sc(S, 1, 5, "read", Some(10)));
    st.push(&Event::Exit {
        ts: 2 * S,
        pid: 1,
        tid: 5,
        code: 0,
    });
    st.push(&Event::Fork {
        ts: 3 * S,
        parent_pid: 9,
        parent_tid: 9,
        child_pid: 9,
        child_tid: 5,
    });
    st.push(&comm(9, 5, "new"));
    st.push(&sc(4 * S, 9, 5, "write", Some(10)));
    let w = st.snapshot(0, 10 * S, &[]);
    let names: Vec<(&str, u32, usize)> = w
        .threads
        .iter()
        .map(|t| (t.comm.as_str(), t.pid, t.calls.len()))
        .collect();
    assert_eq!(names, [("old", 1, 1), ("new", 9, 1)]);
}

#[test]
fn thread_churn_does_not_grow_the_tables() {
    let mut st = Store::new(100, 10 * S, S);
    for i in 0..10_000u64 {
        let tid = 100 + i as u32;
        st.push(&sc(i * S / 100, 1, tid, "read", Some(10)));
        st.push(&Event::Exit {
            ts: i * S / 100 + 1,
            pid: 1,
            tid,
            code: 0,
        });
        if i % 100 == 0 {
            st.evict(i * S / 100);
        }
    }
    // 100 records at most in the ring, so at most ~100 dead threads are remembered
    assert!(st.stats().threads <= 101, "{:?}", st.stats());
    assert!(st.slots.len() <= 202, "{}", st.slots.len());
}

/// A small deterministic generator (xorshift).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn a_snapshot_equals_the_window_built_from_the_same_events() {
    for seed in 1..20u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let mut events = Vec::new();
        let mut ts = 0u64;
        for _ in 0..2000 {
            ts += rng.next() % 50_000_000;
            let tid = 1 + (rng.next() % 6) as u32;
            let name = ["read", "write", "futex", "epoll_wait"][(rng.next() % 4) as usize];
            let dur = match rng.next() % 20 {
                0 => None,
                1 => Some(3 * S),
                _ => Some(rng.next() % 1_000_000),
            };
            if rng.next().is_multiple_of(50) {
                events.push(comm(1, tid, &format!("t{}", rng.next() % 3)));
            }
            events.push(sc(ts, 1, tid, name, dur));
        }
        let (start, end) = (ts / 3, ts - ts / 5);
        let mut st = Store::new(1 << 20, u64::MAX / 2, S);
        let mut b = WindowBuilder::new(start, end);
        for e in &events {
            st.push(e);
            b.push(e);
        }
        let got = st.snapshot(start, end, &[]);
        let want = b.finish();
        assert_eq!(got.threads.len(), want.threads.len(), "seed {seed}");
        for (g, w) in got.threads.iter().zip(&want.threads) {
            assert_eq!(
                (g.pid, g.tid, &g.comm),
                (w.pid, w.tid, &w.comm),
                "seed {seed}"
            );
            assert_eq!(g.calls, w.calls, "seed {seed}");
        }
    }
}
