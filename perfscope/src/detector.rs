//! The built-in detectors, so a watcher can run without an external monitor:
//!
//! - `silent-cpu`: a thread that made syscalls before, has made none for `silent_for`,
//!   and used at least half a CPU meanwhile (a spin makes no syscalls);
//! - `latency`: per (thread name, syscall), a decayed histogram of durations (about five
//!   minutes of memory); every few seconds, the recent 90th percentile is compared with
//!   the usual 99th: `factor` times above it (and at least 1 ms) raises an alarm; so does
//!   a syscall still blocked `factor` times longer than usual, 4 times longer than any
//!   seen before, and at least a second.
//!
//! Both are rate-limited: a condition raises one alarm until it clears, and no detector
//! alarm follows another within `cooldown`.

use rustc_hash::{FxHashMap, FxHashSet};
use trace::Syscall;

use crate::rolling::Store;

/// Log2 buckets of durations in ns.
const BUCKETS: usize = 48;
/// How often the latency detector compares, ns.
pub const LATENCY_PERIOD: u64 = 5_000_000_000;
/// Memory of the usual durations, ns.
const MEMORY: f64 = 300e9;
const MIN_USUAL: f64 = 100.0;
const MIN_RECENT: u32 = 10;
const MIN_SLOW_NS: u64 = 1_000_000;
const MIN_STUCK_NS: u64 = 1_000_000_000;

#[derive(Clone, Debug, PartialEq)]
pub struct DetectorConfig {
    pub silent_cpu: bool,
    pub latency: bool,
    pub silent_ns: u64,
    pub factor: f64,
    pub cooldown_ns: u64,
}

#[derive(Clone)]
struct Lat {
    usual: [f32; BUCKETS],
    usual_n: f32,
    recent: [u32; BUCKETS],
    recent_n: u32,
    /// Largest bucket ever seen completed.
    max_bucket: u8,
    /// The condition fired and has not cleared yet.
    fired: bool,
}

impl Default for Lat {
    fn default() -> Self {
        Lat {
            usual: [0.0; BUCKETS],
            usual_n: 0.0,
            recent: [0; BUCKETS],
            recent_n: 0,
            max_bucket: 0,
            fired: false,
        }
    }
}

fn bucket(ns: u64) -> usize {
    ((64 - ns.leading_zeros()) as usize).min(BUCKETS - 1)
}

/// Upper bound (ns) of the bucket holding quantile `q` of `h` with `n` samples.
fn quantile<T: Copy + Into<f64>>(h: &[T; BUCKETS], n: f64, q: f64) -> u64 {
    let target = n * q;
    let mut acc = 0.0;
    for (b, &c) in h.iter().enumerate() {
        acc += c.into();
        if acc >= target && acc > 0.0 {
            return 1u64 << b;
        }
    }
    1u64 << (BUCKETS - 1)
}

pub struct Detector {
    cfg: DetectorConfig,
    lat: Vec<Lat>,
    keys: FxHashMap<u64, u32>,
    last_alarm: Option<u64>,
    /// Threads (tid) whose silence already raised an alarm.
    silent_fired: FxHashSet<u32>,
}

impl Detector {
    pub fn new(cfg: DetectorConfig) -> Detector {
        Detector {
            cfg,
            lat: Vec::new(),
            keys: FxHashMap::default(),
            last_alarm: None,
            silent_fired: FxHashSet::default(),
        }
    }

    pub fn config(&self) -> &DetectorConfig {
        &self.cfg
    }

    fn key(group: u32, nr: u16) -> u64 {
        (u64::from(group) << 16) | u64::from(nr)
    }

    /// Takes a completed syscall of thread group `group` (hot: no allocation once the
    /// key exists).
    pub fn on_syscall(&mut self, group: u32, nr: u16, dur: Option<u64>) {
        let (Some(d), true) = (dur, self.cfg.latency) else {
            return;
        };
        let lat = &mut self.lat;
        let i = *self.keys.entry(Self::key(group, nr)).or_insert_with(|| {
            lat.push(Lat::default());
            (lat.len() - 1) as u32
        });
        let l = &mut self.lat[i as usize];
        let b = bucket(d);
        l.recent[b] += 1;
        l.recent_n += 1;
    }

    fn may_fire(&self, now: u64) -> bool {
        self.last_alarm
            .is_none_or(|t| now.saturating_sub(t) >= self.cfg.cooldown_ns)
    }

    /// Compares recent durations and blocked syscalls with the usual ones, then folds
    /// the recent ones into the usual. Call every [`LATENCY_PERIOD`]. `blocked` are the
    /// syscalls in flight, with their thread group.
    pub fn check_latency(&mut self, now: u64, blocked: &[(u32, Syscall)]) -> Option<String> {
        if !self.cfg.latency {
            return None;
        }
        let factor = self.cfg.factor;
        let mut worst: Option<(f64, String)> = None;
        let mut consider = |ratio: f64, what: String| {
            if worst.as_ref().is_none_or(|w| ratio > w.0) {
                worst = Some((ratio, what));
            }
        };
        let mut keys: Vec<(u64, u32)> = self.keys.iter().map(|(&k, &i)| (k, i)).collect();
        keys.sort_unstable();
        let mut slow_now: FxHashSet<u32> = FxHashSet::default();
        for &(k, i) in &keys {
            let l = &self.lat[i as usize];
            if l.recent_n < MIN_RECENT || f64::from(l.usual_n) < MIN_USUAL {
                continue;
            }
            let r90 = quantile(&l.recent, f64::from(l.recent_n), 0.9);
            let u99 = quantile(&l.usual, f64::from(l.usual_n), 0.99);
            if r90 >= MIN_SLOW_NS && r90 as f64 >= factor * u99 as f64 {
                slow_now.insert(i);
                if !l.fired {
                    consider(
                        r90 as f64 / u99 as f64,
                        format!(
                            "{} usually under {}, now {} ({} calls in {:.0} s)",
                            trace::syscall_name((k & 0xffff) as u32),
                            fmt_ns(u99),
                            fmt_ns(r90),
                            l.recent_n,
                            LATENCY_PERIOD as f64 / 1e9
                        ),
                    );
                }
            }
        }
        for (group, s) in blocked {
            let Some(&i) = self.keys.get(&Self::key(*group, s.nr as u16)) else {
                continue;
            };
            let l = &self.lat[i as usize];
            let stuck = now.saturating_sub(s.ts);
            let u99 = quantile(&l.usual, f64::from(l.usual_n), 0.99);
            let max_seen = 1u64 << l.max_bucket;
            if f64::from(l.usual_n) >= MIN_USUAL
                && stuck >= MIN_STUCK_NS
                && stuck as f64 >= factor * u99 as f64
                && stuck >= 4 * max_seen
            {
                slow_now.insert(i);
                if !l.fired {
                    consider(
                        stuck as f64 / u99 as f64,
                        format!(
                            "thread {} stuck in {} for {}, usually under {}",
                            s.tid,
                            trace::syscall_name(s.nr),
                            fmt_ns(stuck),
                            fmt_ns(u99)
                        ),
                    );
                }
            }
        }
        let fire = worst.is_some() && self.may_fire(now);
        // fold the recent durations into the usual ones
        let decay = (-(LATENCY_PERIOD as f64) / MEMORY).exp() as f32;
        for (i, l) in self.lat.iter_mut().enumerate() {
            for b in 0..BUCKETS {
                l.usual[b] = l.usual[b] * decay + l.recent[b] as f32;
                if l.recent[b] > 0 {
                    l.max_bucket = l.max_bucket.max(b as u8);
                }
            }
            l.usual_n = l.usual_n * decay + l.recent_n as f32;
            l.recent = [0; BUCKETS];
            l.recent_n = 0;
            l.fired = slow_now.contains(&(i as u32)) && (l.fired || fire);
        }
        if !fire {
            return None;
        }
        let (_, what) = worst?;
        self.last_alarm = Some(now);
        Some(format!("detector: syscall latency: {what}"))
    }

    /// Looks for threads silent while on CPU. Call after each round of scheduler samples.
    pub fn check_silent(&mut self, now: u64, store: &Store) -> Option<String> {
        if !self.cfg.silent_cpu {
            return None;
        }
        let since = now.saturating_sub(self.cfg.silent_ns);
        let mut found: Vec<(u32, String, f64, u64)> = Vec::new();
        let mut quiet_now: FxHashSet<u32> = FxHashSet::default();
        for (slot, t) in store.live() {
            if t.calls < 10 || t.last_call_end > since || t.last_call_end == 0 {
                continue;
            }
            let Some(share) = store.cpu_share(slot, t.last_call_end.max(since)) else {
                continue;
            };
            if share < 0.5 {
                continue;
            }
            quiet_now.insert(t.tid);
            if !self.silent_fired.contains(&t.tid) {
                found.push((t.tid, t.comm.clone(), share, now - t.last_call_end));
            }
        }
        // a thread that makes syscalls again may fire again later
        self.silent_fired.retain(|t| quiet_now.contains(t));
        found.sort_by_key(|f| f.0);
        let (tid, comm, share, quiet) = found.first().cloned()?;
        if !self.may_fire(now) {
            return None;
        }
        for f in &found {
            self.silent_fired.insert(f.0);
        }
        self.last_alarm = Some(now);
        Some(format!(
            "detector: thread {comm}/{tid} made no syscall for {} while using {:.0} % of a CPU",
            fmt_ns(quiet),
            100.0 * share.min(1.0)
        ))
    }
}

fn fmt_ns(ns: u64) -> String {
    match ns {
        n if n >= 1_000_000_000 => format!("{:.1} s", n as f64 / 1e9),
        n if n >= 1_000_000 => format!("{:.1} ms", n as f64 / 1e6),
        n => format!("{:.0} us", n as f64 / 1e3),
    }
}

#[cfg(test)]
mod tests;
