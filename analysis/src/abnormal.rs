//! What is abnormal in the window: clusters of units that appeared, became more frequent
//! or slower after the onset (per thread group), clusters that vanished, threads that
//! went silent while on CPU (a spin makes no syscalls), and threads stuck in a syscall.

use rustc_hash::FxHashMap;

use crate::cluster::Clustering;
use crate::unit::Unit;
use crate::window::{Call, Window};

/// Threads are grouped by name: the workers of a pool behave alike.
#[derive(Clone, Debug, Default)]
pub struct Groups {
    pub of_thread: Vec<u32>,
    pub names: Vec<String>,
    /// Per group: the language runtime's own threads (a JVM's GC, JIT compilers...): they
    /// run no application code ([`crate::runtime`]).
    pub runtime: Vec<bool>,
}

impl Groups {
    /// The group of a thread name.
    pub fn id_of(&self, name: &str) -> Option<u32> {
        let name = if name.is_empty() { "?" } else { name };
        self.names.iter().position(|n| n == name).map(|i| i as u32)
    }

    /// Whether thread `ti` (an index into the window's threads) is a runtime thread.
    pub fn is_runtime_thread(&self, ti: usize) -> bool {
        self.runtime[self.of_thread[ti] as usize]
    }
}

impl Groups {
    pub fn of(w: &Window) -> Groups {
        let mut ids: FxHashMap<&str, u32> = FxHashMap::default();
        let mut g = Groups::default();
        for t in &w.threads {
            let name = if t.comm.is_empty() {
                "?"
            } else {
                t.comm.as_str()
            };
            let next = ids.len() as u32;
            let id = *ids.entry(name).or_insert_with(|| {
                g.names.push(name.to_string());
                g.runtime.push(crate::runtime::is_runtime(name));
                next
            });
            g.of_thread.push(id);
        }
        g
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct AbnormalParams {
    /// A silent thread has made no syscall for at least this long...
    pub silent_min_ns: u64,
    /// ...and for this many times its longest normal pause.
    pub silent_gap_factor: f64,
    /// A thread is blocked when a syscall has been pending this long...
    pub blocked_min_ns: u64,
    /// ...and this many times the longest normal duration of that syscall in its group.
    pub blocked_factor: f64,
    /// Evidence below this score is dropped.
    pub min_score: f64,
    /// Units kept per evidence (the most recent), to bound the matching work.
    pub max_units: usize,
}

impl Default for AbnormalParams {
    fn default() -> Self {
        AbnormalParams {
            silent_min_ns: 2_000_000_000,
            silent_gap_factor: 5.0,
            blocked_min_ns: 1_000_000_000,
            blocked_factor: 10.0,
            min_score: 0.5,
            max_units: 400,
        }
    }
}

/// The weight of evidence from a language runtime's own threads.
const RUNTIME_WEIGHT: f64 = 0.25;

/// Kinds of evidence, in the words of the report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// Units of a shape the group did not show before the onset.
    New,
    /// Units of a known shape, much more often.
    MoreFrequent,
    /// Units of a known shape, much slower.
    Slower,
    /// Units the group did before and stopped doing.
    Vanished,
    /// A thread making no syscalls while using the CPU.
    Spinning,
    /// A thread that went quiet; its CPU use is unknown.
    Silent,
    /// A thread stuck in one syscall.
    Blocked,
    /// A thread using much more CPU than before (a CPU-bound slowdown: its syscalls may
    /// look the same, only slower or rarer).
    Busier,
}

impl Kind {
    /// The kind as the report format names it.
    pub fn to_report(self) -> report::v2::EvidenceKind {
        use report::v2::EvidenceKind as R;
        match self {
            Kind::New => R::New,
            Kind::MoreFrequent => R::MoreFrequent,
            Kind::Slower => R::Slower,
            Kind::Vanished => R::Vanished,
            Kind::Spinning => R::Spinning,
            Kind::Silent => R::Silent,
            Kind::Blocked => R::Blocked,
            Kind::Busier => R::Busier,
        }
    }
}

/// One piece of evidence.
#[derive(Clone, Debug)]
pub struct Evidence {
    pub kind: Kind,
    pub group: u32,
    pub cluster: Option<u32>,
    pub thread: Option<u32>,
    pub score: f64,
    /// Indices into the units: the abnormal ones (most recent last).
    pub units: Vec<u32>,
    /// Indices of the same group's units before the onset, for contrast.
    pub normal_units: Vec<u32>,
    /// Units per second before and after the onset.
    pub rate: (f64, f64),
    /// Median unit duration before and after, ns.
    pub median_ns: (u64, u64),
    /// For `Blocked`: the pending syscall.
    pub pending: Option<Call>,
    pub first_ts: u64,
    pub last_ts: u64,
    /// How the rest of the group's work changed (its units per second after the onset
    /// over before, this cluster left out): more traffic raises every kind of unit alike.
    /// 1 for thread evidence.
    pub load: f64,
    /// The share of the group's work after the onset that this evidence stands for
    /// beyond what the load explains (by count or by time in units, the larger); for
    /// thread evidence 1.
    pub share: f64,
    /// The thread worked before the onset (thread evidence; true for cluster evidence).
    pub worked_before: bool,
    /// For `New` and `MoreFrequent`: the score with the group's change of load taken
    /// out (the rise over the rate the load predicts, gated the same way); else `score`.
    pub beyond_load: f64,
    /// The share of its units that start or end a thread or a process, or take a
    /// connection ([`lifecycle`]): how many of those there are follows how many
    /// connections come and go.
    pub lifecycle: f64,
    /// How much the group's syscall mix moved towards what these units do: the largest
    /// rise, among their syscalls, of the log odds of that syscall against the group's
    /// others (more traffic of the same kind leaves the mix as it was). For `Vanished`:
    /// the largest fall of the group's rate of one of their syscalls.
    pub mix_shift: f64,
    /// For `New` and `MoreFrequent`: the share of the group's syscalls after the onset
    /// (by count or by time in the kernel, the larger) that moved into one of the units'
    /// syscalls (`mix::Mix::moved`); 1 for other evidence.
    pub moved: f64,
    /// How much of the application's work the group does: its share of the syscalls of
    /// every application thread group after the onset, counted in full from
    /// [`GROUP_PART_UNIT`] (1 for thread evidence). A change in threads that barely work
    /// (an idle pool's timer, a web console nobody uses) says little about the server;
    /// 0 for a runtime's own threads.
    pub part: f64,
    /// For `Slower`: how much of a unit's time, after the onset, the group's threads spent
    /// runnable but waiting for a CPU beyond their wait before it (taken off the slower
    /// median before comparing: [`cpu_wait_per_unit`]); else 0.
    pub cpu_wait_ns: u64,
}

/// The share of the application's syscalls after the onset from which a group's change
/// counts in full.
pub const GROUP_PART_UNIT: f64 = 0.01;

/// Natural log of the Poisson upper tail P(X >= k) for mean `lambda`.
fn ln_upper_tail(k: u64, lambda: f64) -> f64 {
    if k == 0 {
        return 0.0;
    }
    // sum terms from k upward in log space; terms shrink once i > lambda
    let ln_term = |i: u64| -> f64 { i as f64 * lambda.ln() - lambda - ln_factorial(i) };
    let mut acc = ln_term(k);
    let mut i = k + 1;
    loop {
        let t = ln_term(i);
        let (hi, lo) = if acc > t { (acc, t) } else { (t, acc) };
        acc = hi + (lo - hi).exp().ln_1p();
        if (t < acc - 40.0 && i as f64 > lambda) || i > k + 100_000 {
            break;
        }
        i += 1;
    }
    acc.min(0.0)
}

/// Natural log of the Poisson lower tail P(X <= k).
fn ln_lower_tail(k: u64, lambda: f64) -> f64 {
    let ln_term = |i: u64| -> f64 { i as f64 * lambda.ln() - lambda - ln_factorial(i) };
    let mut acc = f64::NEG_INFINITY;
    for i in 0..=k {
        let t = ln_term(i);
        let (hi, lo) = if acc > t { (acc, t) } else { (t, acc) };
        acc = if hi == f64::NEG_INFINITY {
            hi
        } else {
            hi + (lo - hi).exp().ln_1p()
        };
    }
    acc.min(0.0)
}

fn ln_factorial(n: u64) -> f64 {
    if n < 20 {
        (2..=n).map(|i| (i as f64).ln()).sum()
    } else {
        // Stirling with the first correction term
        let x = n as f64;
        x * x.ln() - x + 0.5 * (2.0 * std::f64::consts::PI * x).ln() + 1.0 / (12.0 * x)
    }
}

/// How surprising `k` events are when `lambda` were expected, as a gate in [0, 1].
pub fn surprise(k: u64, lambda: f64) -> f64 {
    gate(ln_upper_tail(k, lambda.max(1e-9)))
}

/// How surprising the count is, as a gate in [0, 1]: 1 once p < 1e-5.
fn gate(ln_p: f64) -> f64 {
    (-ln_p / (5.0 * std::f64::consts::LN_10)).clamp(0.0, 1.0)
}

fn median(v: &mut [u64]) -> u64 {
    if v.is_empty() {
        return 0;
    }
    let m = v.len() / 2;
    *v.select_nth_unstable(m).1
}

fn quantile(v: &mut [u64], q: f64) -> u64 {
    if v.is_empty() {
        return 0;
    }
    let i = ((v.len() - 1) as f64 * q).round() as usize;
    *v.select_nth_unstable(i).1
}

/// Finds the evidence in `w` split at `onset`.
pub fn find(
    w: &Window,
    units: &[Unit],
    cl: &Clustering,
    groups: &Groups,
    onset: u64,
    p: &AbnormalParams,
) -> Vec<Evidence> {
    let t_n = (onset.saturating_sub(first_ts(w)) as f64 / 1e9).max(1e-3);
    let t_a = (w.end.saturating_sub(onset) as f64 / 1e9).max(1e-3);
    let mut out = Vec::new();

    // per (cluster, group): units before and after
    let mut cells: FxHashMap<(u32, u32), (Vec<u32>, Vec<u32>)> = FxHashMap::default();
    let mut normal_of_group: FxHashMap<u32, Vec<u32>> = FxHashMap::default();
    for (i, u) in units.iter().enumerate() {
        let g = groups.of_thread[u.thread as usize];
        let cell = cells.entry((cl.of_unit[i], g)).or_default();
        if u.start < onset {
            cell.0.push(i as u32);
            normal_of_group.entry(g).or_default().push(i as u32);
        } else {
            cell.1.push(i as u32);
        }
    }
    let recent = |v: &[u32], n: usize| v[v.len().saturating_sub(n)..].to_vec();
    let syscall_mix = Mix::of(w, groups, onset);
    // per group: units and time in units, before and after
    let mut totals: FxHashMap<u32, GroupWork> = FxHashMap::default();
    for (&(_, g), (before, after)) in &cells {
        let t = totals.entry(g).or_default();
        t.add(units, before, after);
    }
    let cpu_wait = cpu_wait_per_unit(w, groups, &totals, first_ts(w), onset);
    let mut keys: Vec<(u32, u32)> = cells.keys().copied().collect();
    keys.sort_unstable();
    for (c, g) in keys {
        let (before, after) = &cells[&(c, g)];
        let (n_n, n_a) = (before.len() as u64, after.len() as u64);
        // half a unit of pseudo-count on each side keeps rare shapes from looking new
        let r_n = (n_n as f64 + 0.5) / t_n;
        let r_a = (n_a as f64 + 0.5) / t_a;
        let lift = (r_a / r_n).ln();
        let mut durs_n: Vec<u64> = before
            .iter()
            .map(|&i| units[i as usize].duration())
            .collect();
        let mut durs_a: Vec<u64> = after
            .iter()
            .map(|&i| units[i as usize].duration())
            .collect();
        let (med_n, med_a) = (median(&mut durs_n), median(&mut durs_a));
        let p90_n = quantile(&mut durs_n, 0.9);
        let normal_units = recent(
            normal_of_group.get(&g).map_or(&[][..], |v| v),
            4 * p.max_units,
        );
        let mut own = GroupWork::default();
        own.add(units, before, after);
        let mix = totals[&g].mix(&own, t_n, t_a);
        let mix_shift = syscall_mix.shift(g, cl.clusters[c as usize].0.iter().map(|&(nr, _)| nr));
        let moved = syscall_mix.moved(g, cl.clusters[c as usize].0.iter().map(|&(nr, _)| nr));
        // new connections arrive at least half as fast as these units rose
        let closes_connections = {
            let risen = n_a as f64 / t_a - n_n as f64 / t_n;
            risen > 0.0 && syscall_mix.rise(g, accepts(), t_n, t_a) >= 0.5 * risen
        };
        let mk = |kind, score: f64, beyond_load: f64, sel: Vec<u32>| {
            let first_ts = sel.first().map_or(0, |&i| units[i as usize].start);
            let last_ts = sel.last().map_or(0, |&i| units[i as usize].end);
            Evidence {
                kind,
                group: g,
                cluster: Some(c),
                thread: None,
                score,
                normal_units: normal_units.clone(),
                rate: (n_n as f64 / t_n, n_a as f64 / t_a),
                median_ns: (med_n, med_a),
                pending: None,
                first_ts,
                last_ts,
                load: mix.0,
                share: mix.1,
                worked_before: true,
                beyond_load,
                lifecycle: lifecycle_share(w, units, &sel, closes_connections),
                mix_shift,
                moved,
                part: 1.0,
                cpu_wait_ns: 0,
                units: sel,
            }
        };
        if lift > 0.0 {
            let lambda = r_n * t_a;
            let score = lift * gate(ln_upper_tail(n_a, lambda));
            let kind = if n_n == 0 {
                Kind::New
            } else {
                Kind::MoreFrequent
            };
            // the rate that the group's own change of load predicts
            let lambda_load = lambda * mix.0;
            let lift_load = ((n_a as f64 + 0.5) / lambda_load).ln().max(0.0);
            let beyond = lift_load * gate(ln_upper_tail(n_a, lambda_load));
            if score >= p.min_score {
                out.push(mk(kind, score, beyond, recent(after, p.max_units)));
            }
        } else if n_n >= 5
            && !before.iter().all(|&i| ended(w, units[i as usize].thread))
            && before
                .iter()
                .map(|&i| units[i as usize].start)
                .max()
                .unwrap_or(0)
                >= onset.saturating_sub(((t_n / 3.0) * 1e9) as u64)
        {
            // what vanished must have been going on until shortly before the onset, not
            // only at start-up
            let lambda = (n_n as f64 / t_n) * t_a;
            let score = -lift * gate(ln_lower_tail(n_a, lambda));
            if score >= p.min_score {
                let mut e = mk(Kind::Vanished, score, score, recent(before, p.max_units));
                let nrs = cl.clusters[c as usize].0.iter().map(|&(nr, _)| nr);
                e.mix_shift = syscall_mix.fall(g, nrs, t_n, t_a);
                out.push(e);
            }
        }
        // time spent waiting for a CPU (another process took it, or another thread of
        // this one, whose own evidence then shows) is no slower code
        let waited = cpu_wait[g as usize].min(med_a);
        let med_run = med_a - waited;
        if n_n >= 3 && n_a >= 3 && med_run > p90_n.max(med_n) && med_n > 0 {
            let score = (med_run as f64 / p90_n.max(med_n) as f64).ln()
                * (n_a as f64).ln_1p().min(3.0)
                / 3.0;
            if score >= p.min_score {
                let mut e = mk(Kind::Slower, score, score, recent(after, p.max_units));
                e.cpu_wait_ns = waited;
                out.push(e);
            }
        }
    }
    if w.complete_from.is_some_and(|c| c > onset) {
        storms(w, units, groups, onset, p, &mut out);
    }
    let worked = work_before(w, units, onset);
    threads(w, units, groups, onset, p, &worked, &mut out);
    weigh_groups(w, groups, onset, t_n, &worked, &mut out);
    // a runtime's own threads (GC, JIT) follow the application's load, not its code: what
    // they show is kept, below what the application's threads show
    for e in &mut out {
        if groups.runtime[e.group as usize] {
            e.score *= RUNTIME_WEIGHT;
        }
    }
    out.retain(|e| e.score >= p.min_score);
    out.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.kind.cmp(&b.kind)));
    out
}

/// When the window holds no syscalls from before the onset, only tallies of them (a storm
/// filled the rolling window), units cannot be compared: per (group, syscall), the rate
/// after the onset against the tallied rate before it. The evidence holds the group's
/// most recent units that make the syscall, to be matched against the signatures.
fn storms(
    w: &Window,
    units: &[Unit],
    groups: &Groups,
    onset: u64,
    p: &AbnormalParams,
    out: &mut Vec<Evidence>,
) {
    let Some(first) = w.tallies.first().map(|t| t.ts) else {
        return;
    };
    let t_n = (onset.saturating_sub(first) as f64 / 1e9).max(1.0);
    let t_a = (w.end.saturating_sub(onset) as f64 / 1e9).max(1e-3);
    // per (group, syscall): calls before and after the onset; per group, calls after
    let mut counts: FxHashMap<(u32, u16), (u64, u64)> = FxHashMap::default();
    let mut after_of: FxHashMap<u32, u64> = FxHashMap::default();
    for t in &w.tallies {
        let Some(g) = groups.id_of(&t.comm) else {
            continue;
        };
        let e = counts.entry((g, t.nr)).or_default();
        if t.ts < onset {
            e.0 += u64::from(t.calls);
        } else {
            e.1 += u64::from(t.calls);
            *after_of.entry(g).or_default() += u64::from(t.calls);
        }
    }
    for (ti, t) in w.threads.iter().enumerate() {
        let g = groups.of_thread[ti];
        for c in t.calls.iter().filter(|c| c.ts >= onset) {
            counts.entry((g, c.nr)).or_default().1 += 1;
            *after_of.entry(g).or_default() += 1;
        }
    }
    let mut keys: Vec<(u32, u16)> = counts.keys().copied().collect();
    keys.sort_unstable();
    for (g, nr) in keys {
        let (n_n, n_a) = counts[&(g, nr)];
        let r_n = (n_n as f64 + 0.5) / t_n;
        let lift = (((n_a as f64 + 0.5) / t_a) / r_n).ln();
        let score = lift * gate(ln_upper_tail(n_a, r_n * t_a));
        if lift <= 0.0 || score < p.min_score {
            continue;
        }
        let sel: Vec<u32> = units
            .iter()
            .enumerate()
            .filter(|(_, u)| {
                u.start >= onset
                    && groups.of_thread[u.thread as usize] == g
                    && u.calls(w).iter().any(|c| c.nr == nr)
            })
            .map(|(i, _)| i as u32)
            .collect();
        let sel = sel[sel.len().saturating_sub(p.max_units)..].to_vec();
        let (Some(&a), Some(&b)) = (sel.first(), sel.last()) else {
            continue;
        };
        out.push(Evidence {
            kind: if n_n == 0 {
                Kind::New
            } else {
                Kind::MoreFrequent
            },
            group: g,
            cluster: None,
            thread: None,
            score,
            first_ts: units[a as usize].start,
            last_ts: units[b as usize].end,
            units: sel,
            normal_units: Vec::new(),
            rate: (n_n as f64 / t_n, n_a as f64 / t_a),
            median_ns: (0, 0),
            pending: None,
            load: 1.0,
            share: n_a as f64 / after_of.get(&g).copied().unwrap_or(1).max(1) as f64,
            worked_before: true,
            beyond_load: score,
            lifecycle: 0.0,
            mix_shift: score,
            moved: 1.0,
            part: 1.0,
            cpu_wait_ns: 0,
        });
    }
}

/// Whether thread `ti`'s process ended inside the window: what it did stopped for a
/// known reason (a finished job, a start-up script), not because anything went wrong.
fn ended(w: &Window, ti: u32) -> bool {
    let pid = w.threads[ti as usize].pid;
    w.threads
        .iter()
        .any(|t| t.pid == pid && t.tid == pid && t.exited.is_some())
}

fn first_ts(w: &Window) -> u64 {
    w.threads
        .iter()
        .filter_map(|t| t.calls.first().map(|c| c.ts))
        .min()
        .unwrap_or(w.start)
        .max(w.start)
}

/// Silent and blocked threads.
fn threads(
    w: &Window,
    units: &[Unit],
    groups: &Groups,
    onset: u64,
    p: &AbnormalParams,
    worked: &[u64],
    out: &mut Vec<Evidence>,
) {
    // longest normal duration per (group, syscall), for "blocked longer than usual"
    let mut longest: FxHashMap<(u32, u16), u64> = FxHashMap::default();
    for (ti, t) in w.threads.iter().enumerate() {
        let g = groups.of_thread[ti];
        for c in t.calls.iter().filter(|c| c.ts < onset && !c.is_pending()) {
            let e = longest.entry((g, c.nr)).or_default();
            *e = (*e).max(c.dur);
        }
    }
    // units of each thread, to hand the last ones in as evidence
    let mut of_thread: FxHashMap<u32, Vec<u32>> = FxHashMap::default();
    for (i, u) in units.iter().enumerate() {
        of_thread.entry(u.thread).or_default().push(i as u32);
    }
    for (ti, t) in w.threads.iter().enumerate() {
        let Some(last) = t.calls.last() else { continue };
        if t.exited.is_some() {
            continue;
        }
        let g = groups.of_thread[ti];
        let tu = of_thread.get(&(ti as u32)).map_or(&[][..], |v| v);
        let last_units = tu[tu.len().saturating_sub(2)..].to_vec();
        let normal_units: Vec<u32> = tu
            .iter()
            .copied()
            .filter(|&i| units[i as usize].start < onset)
            .collect();
        let normal_units =
            normal_units[normal_units.len().saturating_sub(4 * p.max_units)..].to_vec();
        // a thread's own start-up (`set_robust_list`, `rseq`...) is no work: a pool thread
        // born just before the onset that parks at once has no "before" to differ from
        let normal_calls = worked[ti];
        let ev = |kind, score, pending| Evidence {
            kind,
            group: g,
            cluster: None,
            thread: Some(ti as u32),
            score,
            units: last_units.clone(),
            normal_units: normal_units.clone(),
            rate: (0.0, 0.0),
            median_ns: (0, 0),
            pending,
            first_ts: last.ts,
            last_ts: w.end,
            load: 1.0,
            share: 1.0,
            worked_before: normal_calls >= 10,
            beyond_load: score,
            lifecycle: 0.0,
            mix_shift: score,
            moved: 1.0,
            part: 1.0,
            cpu_wait_ns: 0,
        };
        if let Some((score, before, after)) = cpu_shift(t, first_ts(w), onset, w.end) {
            let mut e = ev(Kind::Busier, score, None);
            // for this kind, the shares of a CPU it used before and after
            e.rate = (before, after);
            out.push(e);
        }
        if last.is_pending() {
            let stuck = w.end.saturating_sub(last.ts);
            let usual = longest.get(&(g, last.nr)).copied().unwrap_or(0);
            if stuck >= p.blocked_min_ns && stuck as f64 >= p.blocked_factor * usual as f64 {
                // a thread parked since before the trouble began is an idle thread (a
                // worker waiting for work looks the same), not evidence
                let since_onset = if last.ts + 1_000_000_000 >= onset {
                    1.0
                } else {
                    0.0
                };
                let score = since_onset * (stuck as f64 / p.blocked_min_ns as f64).ln_1p().min(4.0);
                if score >= p.min_score {
                    out.push(ev(Kind::Blocked, score, Some(*last)));
                }
            }
            continue;
        }
        let quiet_since = last.end(w.end);
        let quiet = w.end.saturating_sub(quiet_since);
        if quiet < p.silent_min_ns || normal_calls < 10 {
            continue;
        }
        let longest_pause = t
            .calls
            .windows(2)
            .filter(|c| c[1].ts < onset)
            .map(|c| c[1].ts.saturating_sub(c[0].end(w.end)))
            .max()
            .unwrap_or(0);
        if (quiet as f64) < p.silent_gap_factor * longest_pause as f64 {
            continue;
        }
        // a thread outside any syscall is in user space: running, or waiting for a CPU
        let busy = t
            .cpu_between(quiet_since, w.end)
            .map(|(cpu, span)| cpu as f64 / span.max(1) as f64);
        // on a loaded machine a spinning thread also waits for its turn on a CPU (it may
        // get a tenth of one under a load of 20 on 2 CPUs): still runnable, never asleep
        let runnable = runnable_share(t, quiet_since, w.end);
        match busy {
            Some(b) if b >= 0.1 => out.push(ev(Kind::Spinning, 3.0 + 3.0 * b.min(1.0), None)),
            Some(b) if b > 0.0 && runnable >= 0.8 => {
                out.push(ev(
                    Kind::Spinning,
                    3.0 + 3.0 * runnable.min(1.0) * 0.5,
                    None,
                ));
            }
            Some(_) => {}
            None => out.push(ev(Kind::Silent, 2.5, None)),
        }
    }
}

/// The share of `t`'s scheduler samples in `(from, to]` that found it runnable (`R`:
/// running or waiting for a CPU); 0 with fewer than 3 samples.
fn runnable_share(t: &crate::window::Thread, from: u64, to: u64) -> f64 {
    let (mut n, mut r) = (0u32, 0u32);
    for s in t.states.iter().filter(|s| s.ts > from && s.ts <= to) {
        n += 1;
        r += u32::from(s.state == b'R');
    }
    if n < 3 {
        0.0
    } else {
        f64::from(r) / f64::from(n)
    }
}

/// The score of a thread that uses much more CPU after the onset than before: at least
/// a fifth of a CPU, and three times its normal share (plus a little).
fn cpu_shift(
    t: &crate::window::Thread,
    start: u64,
    onset: u64,
    end: u64,
) -> Option<(f64, f64, f64)> {
    let share = |from: u64, to: u64| {
        t.cpu_between(from, to)
            .map(|(cpu, span)| cpu as f64 / span.max(1) as f64)
    };
    let after = share(onset, end)?;
    let before = share(start, onset).unwrap_or(0.0);
    (after >= 0.2 && after >= 3.0 * before + 0.05).then(|| {
        let score = ((after + 0.02) / (before + 0.02)).ln() * (after / 0.5).min(1.0);
        (score, before, after)
    })
}

#[cfg(test)]
mod tests;

mod mix;
use mix::Mix;
mod work;
use work::{GroupWork, cpu_wait_per_unit, weigh_groups, work_before};
mod lifecycle;
pub use lifecycle::lifecycle;
use lifecycle::{accepts, lifecycle_share};
