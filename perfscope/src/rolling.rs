//! The online rolling window: the last few minutes of a process tree's syscalls in a
//! fixed-capacity ring of 24-byte records, with small side tables for threads (names,
//! exits, scheduler samples), marks and losses. Memory is bounded: the ring never holds
//! more than `max_events` records; beyond that the oldest go first, and the store counts
//! them so that a report can say how much time the window still covers.
//!
//! What a full ring evicts early is not forgotten: it is counted per second, thread group
//! and syscall (a bounded tally beside the ring), so that a storm of syscalls that fills
//! the ring in seconds still leaves the analysis the rates of the normal time before it.
//!
//! A snapshot of a time range becomes a [`analysis::window::Window`] through the
//! library's `WindowBuilder`, thread by thread, with the syscalls still in flight.

use std::collections::VecDeque;

use analysis::window::{Tally, Window, WindowBuilder};
use rustc_hash::FxHashMap;
use trace::{Event, Syscall};

/// Default capacity: 4 million syscalls, 96 MiB. That is 13,000 syscalls per second
/// for a full 5-minute window, 44,000 per second for a 90-second analysis.
pub const DEFAULT_MAX_EVENTS: usize = 4_000_000;

/// Threads tracked at most; syscalls of threads beyond are dropped (and counted).
const MAX_THREADS: usize = 1 << 20;
/// Distinct thread names interned at most; beyond, they share one group id.
const MAX_NAMES: usize = 1 << 16;
/// Marks kept at most.
const MAX_MARKS: usize = 4096;
/// (thread group, syscall) pairs tallied per second at most; beyond, evicted syscalls are
/// only counted in [`StoreStats::evicted_full`].
const MAX_TALLY_KEYS: usize = 4096;

/// `dur` of a record that never returned (`exit`, `exit_group`).
const DUR_NONE: u32 = u32::MAX;
/// Durations from 2^31 ns (2.1 s) on are stored in µs with this bit set.
const DUR_US: u32 = 1 << 31;

/// One syscall: 24 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Rec {
    ts: u64,
    /// ns below 2^31, else µs | [`DUR_US`], or [`DUR_NONE`].
    dur: u32,
    /// Clamped to i32: error codes and counts survive, addresses do not.
    ret: i32,
    slot: u32,
    nr: u16,
    cpu: u16,
}

const _: () = assert!(std::mem::size_of::<Rec>() == 24);

impl Rec {
    /// Whether it belongs to the window `[start, end]`: entered in it, or entered before
    /// and still running at its start (as `WindowBuilder` decides).
    fn in_window(&self, start: u64, end: u64) -> bool {
        self.ts <= end
            && (self.ts >= start
                || decode_dur(self.dur).is_none_or(|d| self.ts.saturating_add(d) >= start))
    }
}

fn encode_dur(d: Option<u64>) -> u32 {
    match d {
        None => DUR_NONE,
        Some(d) if d < u64::from(DUR_US) => d as u32,
        Some(d) => DUR_US | (d / 1000).min(u64::from(DUR_NONE - 1 - DUR_US)) as u32,
    }
}

fn decode_dur(d: u32) -> Option<u64> {
    match d {
        DUR_NONE => None,
        d if d & DUR_US != 0 => Some(u64::from(d & !DUR_US) * 1000),
        d => Some(u64::from(d)),
    }
}

/// A scheduler sample of a thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Sample {
    ts: u64,
    cpu_ns: u64,
    wait_ns: Option<u64>,
    state: u8,
}

/// One thread (one life of a tid).
#[derive(Clone, Debug, Default)]
pub struct Slot {
    pub pid: u32,
    pub tid: u32,
    pub comm: String,
    /// Interned `comm`: the thread group of the analysis and the detectors.
    pub group: u32,
    pub exited: Option<u64>,
    /// Still the thread its tid names (not exited, not replaced).
    pub live: bool,
    /// Records of it in the ring.
    records: u32,
    /// End of its last syscall seen (entry time + duration), and syscalls seen in all.
    pub last_call_end: u64,
    pub calls: u64,
    states: VecDeque<Sample>,
}

/// What the store holds and what it had to drop.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreStats {
    pub held: usize,
    pub capacity: usize,
    /// Records evicted because the ring was full (not because they were old).
    pub evicted_full: u64,
    /// Entry time of the newest record evicted because the ring was full: the window
    /// is complete only after it.
    pub full_horizon: Option<u64>,
    /// Syscalls of threads beyond [`MAX_THREADS`], dropped.
    pub dropped_threads: u64,
    pub threads: usize,
    /// Events lost in the kernel, in all.
    pub lost: u64,
    pub syscalls: u64,
}

/// Syscalls of one second evicted from a full ring, per (thread group, syscall).
type SecondTally = FxHashMap<(u32, u16), u32>;

/// The rolling window.
pub struct Store {
    ring: VecDeque<Rec>,
    capacity: usize,
    keep_ns: u64,
    /// Scheduler samples kept per thread.
    max_samples: usize,
    slots: Vec<Slot>,
    free: Vec<u32>,
    by_tid: FxHashMap<u32, u32>,
    /// The last `by_tid` hit: (tid, slot).
    last_slot: Option<(u32, u32)>,
    names: FxHashMap<String, u32>,
    /// Per second (its start, ns): syscalls evicted from the full ring.
    tallies: VecDeque<(u64, SecondTally)>,
    marks: VecDeque<(u64, String)>,
    lost: VecDeque<(u64, u64)>,
    stats: StoreStats,
}

impl Store {
    /// A store keeping `keep_ns` of history in at most `capacity` syscalls, with
    /// scheduler samples every `sample_ns`.
    pub fn new(capacity: usize, keep_ns: u64, sample_ns: u64) -> Store {
        let capacity = capacity.max(1);
        Store {
            // reserved whole (address space, not memory: pages are touched as it fills),
            // so that it never regrows and copies itself under load
            ring: VecDeque::with_capacity(capacity),
            capacity,
            keep_ns,
            max_samples: usize::try_from(keep_ns / sample_ns.max(1))
                .unwrap_or(usize::MAX)
                .saturating_add(2)
                .min(100_000),
            slots: Vec::new(),
            free: Vec::new(),
            by_tid: FxHashMap::default(),
            last_slot: None,
            names: FxHashMap::default(),
            tallies: VecDeque::new(),
            marks: VecDeque::new(),
            lost: VecDeque::new(),
            stats: StoreStats {
                capacity,
                ..StoreStats::default()
            },
        }
    }

    /// Bytes the ring takes at most.
    pub fn max_ring_bytes(&self) -> usize {
        self.capacity * std::mem::size_of::<Rec>()
    }

    pub fn stats(&self) -> StoreStats {
        StoreStats {
            held: self.ring.len(),
            threads: self.slots.len() - self.free.len(),
            ..self.stats
        }
    }

    pub fn slot(&self, i: u32) -> &Slot {
        &self.slots[i as usize]
    }

    /// The live threads: (slot, info).
    pub fn live(&self) -> impl Iterator<Item = (u32, &Slot)> {
        self.by_tid
            .values()
            .map(move |&i| (i, &self.slots[i as usize]))
    }

    /// Share of one CPU that thread `slot` used from `from` on, from its two scheduler
    /// samples spanning the longest time since then (`None` without two samples).
    pub fn cpu_share(&self, slot: u32, from: u64) -> Option<f64> {
        let q = &self.slots[slot as usize].states;
        let last = q.back()?;
        let first = q.iter().find(|x| x.ts >= from)?;
        (last.ts > first.ts)
            .then(|| last.cpu_ns.saturating_sub(first.cpu_ns) as f64 / (last.ts - first.ts) as f64)
    }

    /// The name `tid` goes by, if known.
    pub fn comm_of(&self, tid: u32) -> Option<&str> {
        self.by_tid
            .get(&tid)
            .map(|&i| self.slots[i as usize].comm.as_str())
    }

    /// The live slot of `tid`.
    pub fn slot_of_tid(&self, tid: u32) -> Option<u32> {
        self.by_tid.get(&tid).copied()
    }

    /// The distinct processes of the live threads, sorted.
    pub fn live_pids(&self) -> Vec<u32> {
        let mut v: Vec<u32> = self.live().map(|(_, s)| s.pid).collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    fn intern(&mut self, comm: &str) -> u32 {
        if let Some(&g) = self.names.get(comm) {
            return g;
        }
        if self.names.len() >= MAX_NAMES {
            return u32::MAX;
        }
        let g = self.names.len() as u32;
        self.names.insert(comm.to_string(), g);
        g
    }

    /// The slot of live thread `tid`, created if new (None when the table is full).
    fn slot_of(&mut self, pid: u32, tid: u32) -> Option<u32> {
        // a thread's syscalls come in batches: one lookup per batch
        if let Some((t, i)) = self.last_slot
            && t == tid
        {
            return Some(i);
        }
        if let Some(&i) = self.by_tid.get(&tid) {
            self.last_slot = Some((tid, i));
            return Some(i);
        }
        let slot = Slot {
            pid,
            tid,
            live: true,
            group: u32::MAX,
            ..Slot::default()
        };
        let i = match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = slot;
                i
            }
            None if self.slots.len() < MAX_THREADS => {
                self.slots.push(slot);
                (self.slots.len() - 1) as u32
            }
            None => return None,
        };
        self.by_tid.insert(tid, i);
        Some(i)
    }

    fn set_comm(&mut self, i: u32, comm: &str) {
        if self.slots[i as usize].comm != comm {
            let g = self.intern(comm);
            let s = &mut self.slots[i as usize];
            s.comm.clear();
            s.comm.push_str(comm);
            s.group = g;
        }
    }

    fn release_if_unused(&mut self, i: u32, now: u64) {
        let s = &self.slots[i as usize];
        let stale = s
            .states
            .back()
            .is_none_or(|x| x.ts.saturating_add(self.keep_ns) < now);
        if !s.live && s.records == 0 && stale {
            self.slots[i as usize] = Slot::default();
            self.free.push(i);
        }
    }

    /// Takes one event; returns the slot of a syscall's thread.
    pub fn push(&mut self, ev: &Event) -> Option<u32> {
        match ev {
            Event::Syscall(s) => return self.push_syscall(s),
            Event::Comm { pid, tid, comm, .. } => {
                if let Some(i) = self.slot_of(*pid, *tid) {
                    self.set_comm(i, comm);
                }
            }
            Event::Exec { pid, tid, path, .. } => {
                if let Some(i) = self.slot_of(*pid, *tid) {
                    let name = path.rsplit('/').next().unwrap_or(path);
                    let comm: String = name.chars().take(15).collect();
                    self.set_comm(i, &comm);
                }
            }
            Event::Fork {
                parent_tid,
                child_pid,
                child_tid,
                ..
            } => {
                let comm = self
                    .by_tid
                    .get(parent_tid)
                    .map(|&p| self.slots[p as usize].comm.clone());
                // a recycled tid: the old thread is gone
                self.retire(*child_tid, None);
                if let (Some(i), Some(c)) = (self.slot_of(*child_pid, *child_tid), comm) {
                    self.set_comm(i, &c);
                }
            }
            Event::Exit { ts, tid, .. } => self.retire(*tid, Some(*ts)),
            Event::ThreadState {
                ts,
                pid,
                tid,
                state,
                cpu_ns,
                wait_ns,
            } => {
                if let Some(i) = self.slot_of(*pid, *tid) {
                    let max = self.max_samples;
                    let q = &mut self.slots[i as usize].states;
                    if q.len() >= max {
                        q.pop_front();
                    }
                    q.push_back(Sample {
                        ts: *ts,
                        cpu_ns: *cpu_ns,
                        wait_ns: *wait_ns,
                        state: *state,
                    });
                }
            }
            Event::Lost { ts, count, .. } => {
                self.stats.lost += count;
                self.lost.push_back((*ts, *count));
            }
            Event::Mark { ts, label } => {
                if self.marks.len() >= MAX_MARKS {
                    self.marks.pop_front();
                }
                self.marks.push_back((*ts, label.clone()));
            }
            Event::Invocations { .. } | Event::Stack { .. } | Event::Locks { .. } => {}
        }
        None
    }

    /// The thread `tid` ended (`at`), or its tid now names another thread (`None`).
    fn retire(&mut self, tid: u32, at: Option<u64>) {
        if self.last_slot.is_some_and(|(t, _)| t == tid) {
            self.last_slot = None;
        }
        if let Some(i) = self.by_tid.remove(&tid) {
            let s = &mut self.slots[i as usize];
            s.live = false;
            if at.is_some() {
                s.exited = at;
            }
            self.release_if_unused(i, at.unwrap_or(0));
        }
    }

    /// Takes one syscall; returns the slot of its thread.
    pub fn push_syscall(&mut self, s: &Syscall) -> Option<u32> {
        self.stats.syscalls += 1;
        let Some(slot) = self.slot_of(s.pid, s.tid) else {
            self.stats.dropped_threads += 1;
            return None;
        };
        if self.ring.len() >= self.capacity
            && let Some(old) = self.ring.pop_front()
        {
            self.stats.evicted_full += 1;
            self.stats.full_horizon = Some(self.stats.full_horizon.unwrap_or(0).max(old.ts));
            self.tally(&old);
            self.unref(old.slot, 0);
        }
        let th = &mut self.slots[slot as usize];
        th.records += 1;
        th.calls += 1;
        th.last_call_end = th.last_call_end.max(s.end().unwrap_or(s.ts));
        self.ring.push_back(Rec {
            ts: s.ts,
            dur: encode_dur(s.dur),
            ret: s.ret.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32,
            slot,
            nr: u16::try_from(s.nr).unwrap_or(u16::MAX),
            cpu: u16::try_from(s.cpu).unwrap_or(u16::MAX),
        });
        Some(slot)
    }

    /// Counts a record evicted early in its second's tally.
    fn tally(&mut self, r: &Rec) {
        const SECOND: u64 = 1_000_000_000;
        let sec = r.ts - r.ts % SECOND;
        let key = (self.slots[r.slot as usize].group, r.nr);
        // records leave in about the order they came: the second is the last one, or new
        let at = self.tallies.iter().rposition(|(s, _)| *s == sec);
        let counts = match at {
            Some(i) => &mut self.tallies[i].1,
            None => {
                self.tallies.push_back((sec, FxHashMap::default()));
                &mut self.tallies.back_mut().expect("just pushed").1
            }
        };
        if counts.len() < MAX_TALLY_KEYS || counts.contains_key(&key) {
            *counts.entry(key).or_default() += 1;
        }
    }

    fn unref(&mut self, slot: u32, now: u64) {
        let s = &mut self.slots[slot as usize];
        s.records = s.records.saturating_sub(1);
        if s.records == 0 && !s.live {
            self.release_if_unused(slot, now);
        }
    }

    /// Drops what is older than the history kept, as of `now`.
    pub fn evict(&mut self, now: u64) {
        let horizon = now.saturating_sub(self.keep_ns);
        while let Some(r) = self.ring.front() {
            // records arrive in return order: an old long syscall waits for its turn
            if r.ts >= horizon {
                break;
            }
            let slot = r.slot;
            self.ring.pop_front();
            self.unref(slot, now);
        }
        for s in &mut self.slots {
            while s.states.front().is_some_and(|x| x.ts < horizon) && s.states.len() > 1 {
                s.states.pop_front();
            }
        }
        while self.marks.front().is_some_and(|m| m.0 < horizon) {
            self.marks.pop_front();
        }
        while self
            .tallies
            .front()
            .is_some_and(|t| t.0 + 1_000_000_000 <= horizon)
        {
            self.tallies.pop_front();
        }
        while self.lost.front().is_some_and(|l| l.0 < horizon) {
            self.lost.pop_front();
        }
        let dead: Vec<u32> = (0..self.slots.len() as u32)
            .filter(|&i| {
                let s = &self.slots[i as usize];
                !s.live && s.records == 0 && s.pid != 0
            })
            .collect();
        for i in dead {
            self.release_if_unused(i, now);
        }
    }

    /// The syscalls that entered in `[start, end]` with every thread's name, scheduler
    /// samples and exit, the marks and losses of the range, plus `in_flight` syscalls
    /// (entered, not returned as of `end`).
    pub fn snapshot(&mut self, start: u64, end: u64, in_flight: &[Syscall]) -> Window {
        // pending syscalls belong to live threads, which may be new to us
        let mut pending: Vec<(u32, &Syscall)> = in_flight
            .iter()
            .filter_map(|s| self.slot_of(s.pid, s.tid).map(|i| (i, s)))
            .collect();
        pending.sort_by_key(|(i, s)| (*i, s.ts));
        let mut pending = pending.into_iter().peekable();
        // records grouped by thread (counting sort), so each thread's life is pushed
        // whole, its exit last: a later thread with the same tid is another thread
        let n = self.slots.len();
        let mut count = vec![0u32; n + 1];
        for r in &self.ring {
            if r.in_window(start, end) {
                count[r.slot as usize + 1] += 1;
            }
        }
        for i in 0..n {
            count[i + 1] += count[i];
        }
        let mut order = vec![0u32; count[n] as usize];
        let mut next = count.clone();
        for (k, r) in self.ring.iter().enumerate() {
            if r.in_window(start, end) {
                let c = &mut next[r.slot as usize];
                order[*c as usize] = k as u32;
                *c += 1;
            }
        }
        let mut b = WindowBuilder::new(start, end);
        for (i, s) in self.slots.iter().enumerate() {
            if s.pid == 0 && s.tid == 0 {
                continue;
            }
            let own = &order[count[i] as usize..count[i + 1] as usize];
            if !s.comm.is_empty() {
                b.push(&Event::Comm {
                    ts: start,
                    pid: s.pid,
                    tid: s.tid,
                    comm: s.comm.clone(),
                });
            }
            for x in s.states.iter().filter(|x| x.ts <= end) {
                b.push(&Event::ThreadState {
                    ts: x.ts,
                    pid: s.pid,
                    tid: s.tid,
                    state: x.state,
                    cpu_ns: x.cpu_ns,
                    wait_ns: x.wait_ns,
                });
            }
            if !own.is_empty() {
                b.reserve(s.pid, s.tid, own.len() + 1);
            }
            for &k in own {
                let r = &self.ring[k as usize];
                let mut sc = Syscall::new(r.ts, s.pid, s.tid, u32::from(r.nr));
                sc.dur = decode_dur(r.dur);
                sc.ret = i64::from(r.ret);
                sc.cpu = u32::from(r.cpu);
                b.push(&Event::Syscall(sc));
            }
            while let Some((_, p)) = pending.next_if(|(p, _)| *p as usize <= i) {
                if p.ts <= end {
                    let mut p = *p;
                    p.dur = None;
                    b.push(&Event::Syscall(p));
                }
            }
            if let Some(x) = s.exited.filter(|&x| x <= end) {
                b.push(&Event::Exit {
                    ts: x,
                    pid: s.pid,
                    tid: s.tid,
                    code: 0,
                });
            }
        }
        for (ts, label) in self.marks.iter().filter(|m| m.0 >= start && m.0 <= end) {
            b.push(&Event::Mark {
                ts: *ts,
                label: label.clone(),
            });
        }
        for &(ts, count) in self.lost.iter().filter(|l| l.0 >= start && l.0 <= end) {
            b.push(&Event::Lost { ts, cpu: 0, count });
        }
        let mut w = b.finish();
        self.add_tallies(&mut w, start, end);
        w
    }

    /// The tallies of the seconds of `[start, end]`, when the ring was full in them.
    fn add_tallies(&self, w: &mut Window, start: u64, end: u64) {
        let Some(h) = self.stats.full_horizon.filter(|&h| h >= start) else {
            return;
        };
        let mut names = vec![""; self.names.len()];
        for (n, &g) in &self.names {
            names[g as usize] = n.as_str();
        }
        for (sec, counts) in &self.tallies {
            if *sec + 1_000_000_000 <= start || *sec > end {
                continue;
            }
            for (&(g, nr), &calls) in counts {
                w.tallies.push(Tally {
                    ts: *sec,
                    comm: names.get(g as usize).copied().unwrap_or("").to_string(),
                    nr,
                    calls,
                });
            }
        }
        w.tallies
            .sort_by(|a, b| (a.ts, &a.comm, a.nr).cmp(&(b.ts, &b.comm, b.nr)));
        w.complete_from = Some(h.min(end));
    }
}

#[cfg(test)]
mod tests;
