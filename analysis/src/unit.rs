//! Execution units: a thread's syscalls cut into the pieces of work it did, at time gaps,
//! at context switches (a change of CPU, or a syscall that blocked), and after the return
//! of an event-wait syscall (`epoll_wait`, `poll`...: one turn of an event loop).

use crate::window::{Call, Window};

/// How units are cut.
#[derive(Clone, Debug, PartialEq)]
pub struct UnitParams {
    /// A pause longer than this between two syscalls of a thread ends a unit, and so does
    /// a syscall that spent longer than this in the kernel.
    pub gap_ns: u64,
    /// A change of CPU between two syscalls of a thread ends a unit.
    pub split_on_cpu: bool,
    /// Syscall numbers after whose return a new unit starts (sorted).
    pub wait_syscalls: Vec<u16>,
    /// Longest unit, in syscalls: a busy loop is cut into pieces of this size.
    pub max_calls: usize,
}

impl Default for UnitParams {
    fn default() -> Self {
        let mut wait: Vec<u16> = [
            "epoll_wait",
            "epoll_pwait",
            "epoll_pwait2",
            "poll",
            "ppoll",
            "select",
            "pselect6",
        ]
        .iter()
        .filter_map(|n| trace::syscall_number(n))
        .filter_map(|n| u16::try_from(n).ok())
        .collect();
        wait.sort_unstable();
        UnitParams {
            gap_ns: 10_000_000,
            split_on_cpu: true,
            wait_syscalls: wait,
            max_calls: 256,
        }
    }
}

/// A run of consecutive syscalls of one thread: `calls[first..last]` of `threads[thread]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unit {
    pub thread: u32,
    pub first: u32,
    pub last: u32,
    /// Entry of the first syscall.
    pub start: u64,
    /// Return of the last syscall (the window end if it is pending).
    pub end: u64,
}

impl Unit {
    pub fn calls<'w>(&self, w: &'w Window) -> &'w [Call] {
        &w.threads[self.thread as usize].calls[self.first as usize..self.last as usize]
    }

    pub fn len(&self) -> usize {
        (self.last - self.first) as usize
    }

    pub fn is_empty(&self) -> bool {
        self.last == self.first
    }

    pub fn duration(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }
}

/// Cuts every thread of `w` into units, in thread order then time order.
pub fn split(w: &Window, p: &UnitParams) -> Vec<Unit> {
    let mut units = Vec::new();
    for (ti, t) in w.threads.iter().enumerate() {
        let calls = &t.calls;
        let mut first = 0usize;
        for i in 1..=calls.len() {
            let cut = i == calls.len() || boundary(&calls[i - 1], &calls[i], i - first, p, w.end);
            if cut {
                units.push(Unit {
                    thread: ti as u32,
                    first: first as u32,
                    last: i as u32,
                    start: calls[first].ts,
                    end: calls[i - 1].end(w.end),
                });
                first = i;
            }
        }
    }
    units
}

fn boundary(prev: &Call, next: &Call, len: usize, p: &UnitParams, now: u64) -> bool {
    let prev_end = prev.end(now);
    len >= p.max_calls
        || next.ts.saturating_sub(prev_end) > p.gap_ns
        || (prev.dur != crate::window::PENDING && prev.dur > p.gap_ns)
        || (p.split_on_cpu && prev.cpu != next.cpu)
        || p.wait_syscalls.binary_search(&prev.nr).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::window::Thread;

    fn call(ts_ms: u64, dur_us: u64, name: &str, cpu: u16) -> Call {
        Call {
            ts: ts_ms * 1_000_000,
            dur: dur_us * 1000,
            ret: 0,
            nr: trace::syscall_number(name).unwrap() as u16,
            cpu,
        }
    }

    fn window(calls: Vec<Call>) -> Window {
        Window {
            start: 0,
            end: 10_000_000_000,
            threads: vec![Thread {
                pid: 1,
                tid: 1,
                calls,
                ..Thread::default()
            }],
            ..Window::default()
        }
    }

    fn lens(w: &Window, p: &UnitParams) -> Vec<usize> {
        split(w, p).iter().map(Unit::len).collect()
    }

    #[test]
    fn a_time_gap_cuts_a_unit() {
        let w = window(vec![
            call(0, 10, "read", 0),
            call(1, 10, "write", 0),
            call(50, 10, "read", 0),
        ]);
        assert_eq!(lens(&w, &UnitParams::default()), [2, 1]);
    }

    #[test]
    fn an_event_wait_return_starts_a_unit() {
        let w = window(vec![
            call(0, 10, "epoll_wait", 0),
            call(1, 10, "accept4", 0),
            call(2, 10, "read", 0),
            call(3, 10, "epoll_wait", 0),
            call(4, 10, "read", 0),
        ]);
        assert_eq!(lens(&w, &UnitParams::default()), [1, 3, 1]);
    }

    #[test]
    fn a_cpu_change_or_a_blocking_syscall_is_a_context_switch() {
        let w = window(vec![
            call(0, 10, "read", 0),
            call(1, 10, "write", 1),
            call(2, 20_000, "fsync", 1),
            call(23, 10, "write", 1),
        ]);
        assert_eq!(lens(&w, &UnitParams::default()), [1, 2, 1]);
        let p = UnitParams {
            split_on_cpu: false,
            ..UnitParams::default()
        };
        assert_eq!(lens(&w, &p), [3, 1]);
    }

    #[test]
    fn a_busy_loop_is_cut_into_bounded_pieces() {
        let w = window((0..10).map(|i| call(i, 1, "getppid", 0)).collect());
        let p = UnitParams {
            max_calls: 4,
            ..UnitParams::default()
        };
        assert_eq!(lens(&w, &p), [4, 4, 2]);
    }

    #[test]
    fn a_pending_syscall_ends_at_the_window_end() {
        let mut c = call(5, 0, "nanosleep", 0);
        c.dur = crate::window::PENDING;
        let w = window(vec![call(4, 1, "read", 0), c]);
        let u = split(&w, &UnitParams::default());
        assert_eq!(u.len(), 1);
        assert_eq!(u[0].end, w.end);
    }
}
