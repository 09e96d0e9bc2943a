//! The detectors on synthetic input: they fire on the condition, once, and respect the
//! cooldown.

use super::*;
use trace::Event;

const S: u64 = 1_000_000_000;

fn cfg() -> DetectorConfig {
    DetectorConfig {
        silent_cpu: true,
        latency: true,
        silent_ns: 5 * S,
        factor: 20.0,
        cooldown_ns: 60 * S,
    }
}

fn nr(name: &str) -> u16 {
    trace::syscall_number(name).unwrap() as u16
}

#[test]
fn quantiles_are_bucket_bounds() {
    let mut h = [0u32; BUCKETS];
    h[bucket(100_000)] = 99;
    h[bucket(50_000_000)] = 1;
    assert_eq!(quantile(&h, 100.0, 0.5), 1 << bucket(100_000));
    assert_eq!(quantile(&h, 100.0, 0.995), 1 << bucket(50_000_000));
    assert!(quantile(&h, 100.0, 0.5) >= 100_000);
}

#[test]
fn slow_syscalls_fire_once_until_they_clear() {
    let mut d = Detector::new(cfg());
    let mut now = 0;
    let fsync = nr("fsync");
    // a minute of usual 100 µs fsyncs
    for _ in 0..12 {
        for _ in 0..100 {
            d.on_syscall(1, fsync, Some(100_000));
        }
        now += LATENCY_PERIOD;
        assert_eq!(d.check_latency(now, &[]), None);
    }
    // now 50 ms each
    for _ in 0..20 {
        d.on_syscall(1, fsync, Some(50_000_000));
    }
    now += LATENCY_PERIOD;
    let a = d.check_latency(now, &[]).expect("fires");
    assert!(a.contains("fsync"), "{a}");
    // still slow: no second alarm
    for _ in 0..20 {
        d.on_syscall(1, fsync, Some(50_000_000));
    }
    now += LATENCY_PERIOD;
    assert_eq!(d.check_latency(now, &[]), None);
    // another group's syscalls are another key, but the cooldown holds them back
    for _ in 0..200 {
        d.on_syscall(2, fsync, Some(100_000));
    }
    now += LATENCY_PERIOD;
    assert_eq!(d.check_latency(now, &[]), None);
}

#[test]
fn a_syscall_blocked_far_longer_than_ever_fires() {
    let mut d = Detector::new(cfg());
    let read = nr("read");
    for _ in 0..300 {
        d.on_syscall(3, read, Some(10_000));
    }
    let now = 100 * S;
    assert_eq!(d.check_latency(now, &[]), None);
    let mut s = Syscall::new(now + S / 2, 1, 7, u32::from(read));
    s.dur = None;
    // half a second is not yet "stuck"
    assert_eq!(d.check_latency(now + S, &[(3, s)]), None);
    let a = d.check_latency(now + 5 * S, &[(3, s)]).expect("fires");
    assert!(a.contains("stuck in read"), "{a}");
    // an unknown syscall has no usual duration: never "stuck"
    let mut d = Detector::new(cfg());
    let s = Syscall::new(0, 1, 7, u32::from(nr("clock_nanosleep")));
    assert_eq!(d.check_latency(3600 * S, &[(3, s)]), None);
}

#[test]
fn a_thread_silent_on_cpu_fires_once() {
    let mut d = Detector::new(cfg());
    let mut st = Store::new(1000, 300 * S, S);
    st.push(&Event::Comm {
        ts: 0,
        pid: 1,
        tid: 2,
        comm: "loop".into(),
    });
    for i in 0..20 {
        let mut s = Syscall::new(i * S / 10, 1, 2, 0);
        s.dur = Some(1000);
        st.push(&Event::Syscall(s));
    }
    // silent from 2 s on; on CPU 90 % of the time
    for k in 2..=12u64 {
        st.push(&Event::ThreadState {
            ts: k * S,
            pid: 1,
            tid: 2,
            state: b'R',
            cpu_ns: k * S * 9 / 10,
            wait_ns: None,
        });
        let got = d.check_silent(k * S, &st);
        if k < 7 {
            assert_eq!(got, None, "at {k} s");
        } else if k == 7 {
            let a = got.expect("fires after 5 s of silence");
            assert!(a.contains("loop/2"), "{a}");
        } else {
            assert_eq!(got, None, "fired once at {k} s");
        }
    }
}

#[test]
fn a_thread_silent_and_idle_does_not_fire() {
    let mut d = Detector::new(cfg());
    let mut st = Store::new(1000, 300 * S, S);
    for i in 0..20 {
        let mut s = Syscall::new(i * S / 10, 1, 2, 0);
        s.dur = Some(1000);
        st.push(&Event::Syscall(s));
    }
    for k in 2..=20u64 {
        st.push(&Event::ThreadState {
            ts: k * S,
            pid: 1,
            tid: 2,
            state: b'S',
            cpu_ns: 5_000_000,
            wait_ns: None,
        });
        assert_eq!(d.check_silent(k * S, &st), None);
    }
}
