//! Evidence from user stacks sampled after the alarm: which function the misbehaving
//! threads were in. Each sample is weighted by how abnormal what it shows is (a spinning
//! thread on CPU; a syscall whose rate rose in its thread group; a thread stuck in a
//! syscall), and credits one function:
//!
//! - on CPU: the innermost function present in nearly all of the thread's samples (the
//!   loop that never ends), and, less, the innermost frame of each sample;
//! - at or blocked in a syscall: walking outward from the innermost frame, the first
//!   function whose training never saw that syscall made under it (where new behaviour
//!   enters the code), else, less, the innermost application frame;
//! - waiting for a lock that another thread holds (JVM thread dumps say which): the
//!   holder's function that took it, the waiter's own less ([`locks`]).
//!
//! A syscall sample weighs what the syscall's rise in the thread's group says, but no
//! more than its rise in the thread itself when the thread made it before the onset too
//! (a postmaster sleeping in `select` as always, in the group of backends that began to).
//! Frames that cannot be live are dropped before crediting: a return address whose call
//! goes to a function other than the frame below (same file: a direct call elsewhere, or
//! `call memcmp@plt` above an application function), and application frames
//! right above a shared library whose calls went to another library function than the
//! one a frame further out calls (`call fsync@plt` left in `select`'s frame, below
//! `call select@plt`).

use rustc_hash::{FxHashMap, FxHashSet};
use trace::StackKind;

use crate::abnormal::{Evidence, Groups, Kind};
use crate::signature::Compiled;
use crate::symbolize::Symbolizer;
use crate::window::{StackSample, Window};

/// A function's credit from stacks.
#[derive(Clone, Debug)]
pub struct StackReason {
    /// Weighted credit, summed over threads.
    pub score: f64,
    /// Samples that credited it for `why` (its strongest reason), and of how many
    /// sampled from those threads.
    pub samples: usize,
    pub of: usize,
    pub threads: Vec<String>,
    /// Why (the reason that gave the most credit): `on_cpu_loop`, `on_cpu`,
    /// `new_syscall`, `syscall`.
    pub why: String,
    /// The syscall, for the syscall reasons.
    pub syscall: Option<String>,
}

impl StackReason {
    /// The credit as the report format has it.
    pub fn to_report(self) -> report::v2::StackCredit {
        report::v2::StackCredit {
            score: self.score,
            samples: self.samples,
            of: self.of,
            threads: self.threads,
            why: self.why,
            syscall: self.syscall,
        }
    }
}

/// How much more often thread `t` made syscall `nr` after the onset than before, as
/// [`syscall_lift`] measures a group; none when it made none before (a thread born after
/// the onset, or one that never made it: its group's change is all there is to go by).
fn own_lift(t: &crate::window::Thread, nr: u16, seen: &Seen<'_>) -> Option<f64> {
    let first = t.calls.first()?.ts;
    let (mut b, mut a) = (0u64, 0u64);
    for c in t.calls.iter().filter(|c| c.nr == nr) {
        if c.ts < seen.onset {
            b += 1;
        } else {
            a += 1;
        }
    }
    if b == 0 || first >= seen.onset {
        return None;
    }
    let t_n = ((seen.onset - first) as f64 / 1e9).max(1e-3);
    let t_a = (seen.end.saturating_sub(seen.onset) as f64 / 1e9).max(1e-3);
    Some(gated_lift(b, a, t_n, t_a))
}

/// The log of the rate after over the rate before (half a call of pseudo-count each
/// side, `t_n`/`t_a` seconds), gated by how surprising the `a` calls after are; 0 when
/// the rate did not rise.
fn gated_lift(b: u64, a: u64, t_n: f64, t_a: f64) -> f64 {
    let r_n = (b as f64 + 0.5) / t_n;
    let r_a = (a as f64 + 0.5) / t_a;
    (r_a / r_n).ln().max(0.0) * crate::abnormal::surprise(a, r_n * t_a)
}

/// Per (group, syscall): how much more often it happens after the onset, as a lift
/// gated by its significance (0 when it did not rise).
pub fn syscall_lift(w: &Window, groups: &Groups, onset: u64) -> FxHashMap<(u32, u16), f64> {
    let first = w
        .threads
        .iter()
        .filter_map(|t| t.calls.first().map(|c| c.ts))
        .chain(w.tallies.first().map(|t| t.ts))
        .min()
        .unwrap_or(w.start);
    let t_n = (onset.saturating_sub(first) as f64 / 1e9).max(1e-3);
    let t_a = (w.end.saturating_sub(onset) as f64 / 1e9).max(1e-3);
    let mut counts: FxHashMap<(u32, u16), (u64, u64)> = FxHashMap::default();
    for (ti, t) in w.threads.iter().enumerate() {
        let g = groups.of_thread[ti];
        for c in &t.calls {
            let e = counts.entry((g, c.nr)).or_default();
            if c.ts < onset {
                e.0 += 1;
            } else {
                e.1 += 1;
            }
        }
    }
    // what a full window evicted early, counted per second and thread group
    for t in &w.tallies {
        let Some(g) = groups.id_of(&t.comm) else {
            continue;
        };
        let e = counts.entry((g, t.nr)).or_default();
        if t.ts < onset {
            e.0 += u64::from(t.calls);
        } else {
            e.1 += u64::from(t.calls);
        }
    }
    counts
        .into_iter()
        .map(|(k, (n, a))| (k, gated_lift(n, a, t_n, t_a)))
        .collect()
}

/// Where each thread's time went after the onset, by thread index: (share of the time on
/// a CPU, share of the time inside syscalls other than `wait` ones — an event loop idle
/// in `epoll_wait` is not busy). Only threads whose CPU time is known.
pub type TimeShares = FxHashMap<usize, (f64, f64)>;

/// [`TimeShares`] of the threads of `w` from `onset` to the window's end.
pub fn time_shares(w: &Window, onset: u64, wait: &[u16]) -> TimeShares {
    let span = w.end.saturating_sub(onset);
    let mut out = TimeShares::default();
    if span == 0 {
        return out;
    }
    for (i, t) in w.threads.iter().enumerate() {
        let Some((cpu, cpu_span)) = t.cpu_between(onset, w.end) else {
            continue;
        };
        let cpu = (cpu as f64 / cpu_span.max(1) as f64).min(1.0);
        let mut in_sys = 0u64;
        for c in &t.calls {
            if wait.binary_search(&c.nr).is_ok() {
                continue;
            }
            let (a, b) = (c.ts.max(onset), c.end(w.end).min(w.end));
            in_sys += b.saturating_sub(a);
        }
        out.insert(i, (cpu, (in_sys as f64 / span as f64).min(1.0)));
    }
    out
}

/// The weights of a thread's on-CPU samples and of its samples at or in syscalls: the
/// shares of its time each kind stands for. Samples at syscalls are taken at every
/// syscall entry, so a thread that makes many cheap syscalls while it burns its time on
/// a CPU yields many of them: weighting by time keeps them from outvoting where the time
/// went. Equal when the thread's time is unknown or it was mostly idle.
fn kind_weights(shares: Option<&(f64, f64)>) -> (f64, f64) {
    const FLOOR: f64 = 0.05;
    match shares {
        Some(&(cpu, sys)) if cpu + sys >= 0.1 => {
            let total = cpu + sys;
            ((cpu / total).max(FLOOR), (sys / total).max(FLOOR))
        }
        _ => (1.0, 1.0),
    }
}

/// Weight of a sample blocked since the onset in a syscall its function never made in
/// training. Below the score of a spinning thread (3 to 6): when threads wait on a lock
/// that a thread burning CPU holds (PG-2: a notify loop holding row locks), the holder
/// is the cause and the waiters where it shows.
const NOVEL_BLOCKED: f64 = 1.5;

/// Share of a sample's weight for the innermost application function when it waits in a
/// syscall that training saw it make (a pool's worker parked between tasks, a request
/// waiting for its responses): that shows where a thread waits, not why.
const ROUTINE: f64 = 0.25;

/// The share of a sample's weight for the first trained caller of a function the suite
/// never ran, when that caller never made the syscall in training either.
const UNTRAINED_CALLEE: f64 = 0.5;

/// One reason's part of a function's stack credit.
#[derive(Default)]
struct ReasonSum {
    score: f64,
    /// Samples that gave it, of how many sampled from the threads they came from.
    samples: usize,
    of: usize,
    threads: Vec<String>,
    syscall: Option<u32>,
}

/// What the window showed, to weigh the samples by: the evidence, the rise of each
/// (group, syscall) ([`syscall_lift`]), where each thread's time went ([`time_shares`]),
/// and the onset (threads that blocked in the trouble against threads parked before it).
pub struct Seen<'a> {
    pub evidence: &'a [Evidence],
    pub lift: &'a FxHashMap<(u32, u16), f64>,
    pub time: &'a TimeShares,
    pub onset: u64,
    /// The window's end (the alarm).
    pub end: u64,
}

/// A sample resolved to application functions, innermost first, consecutive repeats
/// folded (recursion).
struct Resolved<'s> {
    s: &'s StackSample,
    thread: usize,
    funcs: Vec<u32>,
}

/// The credit being summed: per function, and per (function, reason) to name the reason
/// that gave the most.
#[derive(Default)]
struct Credit {
    /// Per function: its threads (the score is summed from `by_group` at the end).
    credit: FxHashMap<u32, StackReason>,
    by_reason: FxHashMap<(u32, &'static str), ReasonSum>,
    /// Per (function, thread group): the credit summed over its threads, and how many.
    by_group: FxHashMap<(u32, u32), (f64, FxHashSet<String>)>,
    /// The group of the thread whose samples are being credited.
    group: u32,
}

impl Credit {
    /// Credits `f` with `v` for one sample of `thread` (of `of` samples of it).
    fn add(
        &mut self,
        f: u32,
        v: f64,
        thread: &str,
        why: &'static str,
        syscall: Option<u32>,
        of: usize,
    ) {
        let r = self.credit.entry(f).or_insert_with(|| StackReason {
            score: 0.0,
            samples: 0,
            of: 0,
            threads: Vec::new(),
            why: String::new(),
            syscall: None,
        });
        if !r.threads.iter().any(|t| t == thread) {
            r.threads.push(thread.to_string());
        }
        let g = self.by_group.entry((f, self.group)).or_default();
        g.0 += v;
        if !g.1.contains(thread) {
            g.1.insert(thread.to_string());
        }
        let e = self.by_reason.entry((f, why)).or_insert_with(|| ReasonSum {
            syscall,
            ..ReasonSum::default()
        });
        e.score += v;
        e.samples += 1;
        // of how many: the samples of each thread that gave this reason, once per thread
        // (a thread credits a function from its on-CPU and its syscall samples alike)
        if !e.threads.iter().any(|t| t == thread) {
            e.threads.push(thread.to_string());
            e.of += of;
        }
    }

    /// The functions, best first, each with its strongest reason. The threads of one group
    /// doing the same (a pool's workers all parked in one wait) are one observation made
    /// several times: a group's credit is its threads' mean times `1 + ln(threads)`, so a
    /// pool of 125 waiting threads does not outvote 26 threads of another pool that each
    /// show something new.
    fn finish(mut self) -> Vec<(u32, StackReason)> {
        for ((f, _), (sum, threads)) in &self.by_group {
            let n = threads.len().max(1) as f64;
            if let Some(r) = self.credit.get_mut(f) {
                r.score += sum / n * (1.0 + n.ln());
            }
        }
        let mut reasons: Vec<((u32, &'static str), ReasonSum)> =
            self.by_reason.into_iter().collect();
        // strongest first, names breaking ties for a deterministic report
        reasons.sort_by(|a, b| b.1.score.total_cmp(&a.1.score).then(a.0.cmp(&b.0)));
        for ((f, why), sum) in reasons {
            if let Some(r) = self.credit.get_mut(&f)
                && r.why.is_empty()
            {
                r.why = why.to_string();
                r.samples = sum.samples;
                r.of = sum.of.max(sum.samples);
                r.syscall = sum.syscall.map(|n| trace::syscall_name(n).into_owned());
            }
        }
        let mut out: Vec<(u32, StackReason)> = self.credit.into_iter().collect();
        out.sort_by(|a, b| b.1.score.total_cmp(&a.1.score).then(a.0.cmp(&b.0)));
        out
    }
}

/// Credits functions from the stacks of `w`; returns (function, reason), best first.
pub fn score(
    w: &Window,
    groups: &Groups,
    seen: &Seen<'_>,
    db: &Compiled,
    sym: &mut Symbolizer<'_>,
) -> Vec<(u32, StackReason)> {
    // thread-level evidence: spinning, silent, blocked, busier; slower groups
    let mut thread_ev: FxHashMap<usize, f64> = FxHashMap::default();
    let mut slower: FxHashMap<u32, f64> = FxHashMap::default();
    for e in seen.evidence {
        match (e.kind, e.thread) {
            (Kind::Spinning | Kind::Silent | Kind::Blocked | Kind::Busier, Some(t)) => {
                let v = thread_ev.entry(t as usize).or_default();
                *v = v.max(e.score);
            }
            (Kind::Slower, _) => {
                let v = slower.entry(e.group).or_default();
                *v = v.max(e.score);
            }
            _ => {}
        }
    }
    let resolved = resolve(w, db, sym);
    let held_by = locks::holders(w, &resolved, db, sym);
    let mut by_thread: FxHashMap<usize, Vec<&Resolved<'_>>> = FxHashMap::default();
    for r in &resolved {
        by_thread.entry(r.thread).or_default().push(r);
    }
    let mut threads: Vec<usize> = by_thread.keys().copied().collect();
    threads.sort_unstable();
    let mut credit = Credit::default();
    for ti in threads {
        let samples = &by_thread[&ti];
        let label = w.threads[ti].label();
        let g = groups.of_thread[ti];
        let ev = thread_ev.get(&ti).copied().unwrap_or(0.0);
        let (w_cpu, w_sys) = kind_weights(seen.time.get(&ti));
        let cpu_weight = w_cpu * ev.max(0.5 * slower.get(&g).copied().unwrap_or(0.0));
        credit.group = g;
        let (on_cpu, in_sys): (Vec<&Resolved<'_>>, Vec<&Resolved<'_>>) =
            samples.iter().partition(|r| r.s.kind == StackKind::OnCpu);
        if cpu_weight > 0.0 {
            credit_on_cpu(&on_cpu, cpu_weight, &label, &mut credit);
        }
        let thread = ThreadSeen {
            t: &w.threads[ti],
            label: &label,
            group: g,
            ev,
            weight: w_sys,
        };
        credit_in_syscalls(&in_sys, &thread, seen, db, &held_by, &mut credit);
    }
    credit.finish()
}

/// Resolves every sample once to application functions. A return address that does not
/// call the function below it is stale (left in a stack slot the walk read), or the
/// callee tail-called on: either way not a caller to credit.
fn resolve<'s>(w: &'s Window, db: &Compiled, sym: &mut Symbolizer<'_>) -> Vec<Resolved<'s>> {
    // the latest thread with each tid
    let mut thread_of: FxHashMap<u32, usize> = FxHashMap::default();
    for (i, t) in w.threads.iter().enumerate() {
        thread_of.insert(t.tid, i);
    }
    let mut resolved = Vec::new();
    for s in &w.stacks {
        let Some(&thread) = thread_of.get(&s.tid) else {
            continue;
        };
        let mut funcs: Vec<u32> = Vec::new();
        // the frame below, when it is a known function of the same file
        let mut below: Option<(&str, u32)> = None;
        let stale = stale_above_library(&s.frames, sym);
        for (i, loc) in s.frames.iter().enumerate() {
            if stale.contains(&i) {
                continue;
            }
            let f = sym.frame(s.pid, &loc.path, loc.offset);
            if i > 0
                && let Some((path, callee)) = below
                && path == loc.path
                && !calls(sym, loc, callee, db)
            {
                continue;
            }
            below = f.map(|f| (loc.path.as_str(), f));
            if let Some(f) = f
                && funcs.last() != Some(&f)
                && db.funcs[f as usize].class != sigdb::Class::Outside
            {
                funcs.push(f);
            }
        }
        if !funcs.is_empty() {
            resolved.push(Resolved { s, thread, funcs });
        }
    }
    resolved
}

/// Whether the call that `loc` (a return location) returns from can have called `callee`,
/// a function of the same file: a direct call to another function, or a call into a
/// shared library under another name (`call memcmp@plt`), cannot. Unknown (an indirect
/// call, the file not at hand) counts as can.
fn calls(sym: &mut Symbolizer<'_>, loc: &trace::CodeLocation, callee: u32, db: &Compiled) -> bool {
    if let Some(target) = sym.call_target(&loc.path, loc.offset) {
        return target == callee;
    }
    match sym.import_called(&loc.path, loc.offset) {
        // a shared object may call its own exported functions through its PLT
        Some(name) => {
            let f = &db.funcs[callee as usize];
            name == f.name || f.linkage_name.as_deref() == Some(name.as_str())
        }
        None => true,
    }
}

/// Application frames right above a shared library's frames that cannot be its caller:
/// when an application frame further out calls exactly the library function below (its
/// `call select@plt` and the innermost library frame in `select`), the application frames
/// between them, whose calls went to other library functions (`fsync`), are stale return
/// addresses left in the library function's frame. Nothing is dropped unless the caller
/// is found, nor when the library calls back into application code.
fn stale_above_library(frames: &[trace::CodeLocation], sym: &mut Symbolizer<'_>) -> Vec<usize> {
    let mut names: Option<Vec<String>> = None;
    let mut candidates = Vec::new();
    for (i, loc) in frames.iter().enumerate() {
        if sym.function(&loc.path, loc.offset).is_none() {
            if !candidates.is_empty() {
                return Vec::new();
            }
            names = sym
                .library_names(&loc.path, loc.offset)
                .map(<[String]>::to_vec);
            continue;
        }
        let Some(lib) = &names else {
            return Vec::new();
        };
        match sym.import_called(&loc.path, loc.offset) {
            Some(name) if lib.contains(&name) => return candidates,
            Some(_) => candidates.push(i),
            None => return Vec::new(),
        }
    }
    Vec::new()
}

/// On-CPU samples of one thread: the innermost function present in nearly all of them
/// (the loop that never ends), and, less, the innermost frame of each.
fn credit_on_cpu(on_cpu: &[&Resolved<'_>], weight: f64, label: &str, credit: &mut Credit) {
    let n = on_cpu.len();
    if n == 0 {
        return;
    }
    let mut present: FxHashMap<u32, usize> = FxHashMap::default();
    for r in on_cpu {
        let uniq: FxHashSet<u32> = r.funcs.iter().copied().collect();
        for f in uniq {
            *present.entry(f).or_default() += 1;
        }
    }
    let common = |f: &u32| present.get(f).is_some_and(|&c| c as f64 >= 0.8 * n as f64);
    let v = weight / n as f64;
    for r in on_cpu {
        if let Some(&deep) = r.funcs.iter().find(|f| common(f)) {
            credit.add(deep, v, label, "on_cpu_loop", None, n);
        }
        if !common(&r.funcs[0]) {
            credit.add(r.funcs[0], 0.5 * v, label, "on_cpu", None, n);
        }
    }
}

/// One sampled thread, as its syscall samples are weighed.
struct ThreadSeen<'a> {
    t: &'a crate::window::Thread,
    label: &'a str,
    group: u32,
    /// Its strongest thread-level evidence score.
    ev: f64,
    /// The weight of its syscall samples ([`kind_weights`]).
    weight: f64,
}

/// Samples at or blocked in a syscall: walking outward from the innermost frame, the first
/// function whose training never saw that syscall made under it (where new behaviour
/// enters the code), else, less, the innermost application frame.
fn credit_in_syscalls(
    in_sys: &[&Resolved<'_>],
    th: &ThreadSeen<'_>,
    seen: &Seen<'_>,
    db: &Compiled,
    held_by: &FxHashMap<locks::SampleKey, u32>,
    credit: &mut Credit,
) {
    let n = in_sys.len();
    let mut own: FxHashMap<u16, Option<f64>> = FxHashMap::default();
    for r in in_sys {
        let Some(nr) = r.s.nr.and_then(|x| u16::try_from(x).ok()) else {
            continue;
        };
        let blocked = r.s.kind == StackKind::Blocked;
        let mut weight = seen.lift.get(&(th.group, nr)).copied().unwrap_or(0.0);
        // a thread that made this syscall before the onset as often as after is doing what
        // it did (a postmaster in `select`), whatever its group's other threads began
        if let Some(lift) = *own.entry(nr).or_insert_with(|| own_lift(th.t, nr, seen)) {
            weight = weight.min(lift);
        }
        let pending = th.t.calls.last().filter(|c| c.is_pending() && c.nr == nr);
        if blocked || pending.is_some() {
            weight = weight.max(th.ev);
        }
        let novel = r
            .funcs
            .iter()
            .find(|&&f| db.funcs[f as usize].inclusive.binary_search(&nr).is_err());
        // blocked, since the trouble began, in a syscall that training never saw made
        // under this code (a lock taken where none was): a hang's direct evidence even
        // when the syscall is common in the process (futex) and so neither rose nor stands
        // out by its length. Code the test suite never ran has no syscalls to compare
        // with: half as much.
        if blocked
            && pending.is_some_and(|c| c.ts + 1_000_000_000 >= seen.onset)
            && let Some(&f) = novel
        {
            let trained = db.funcs[f as usize].invocations > 0;
            weight = weight.max(NOVEL_BLOCKED * if trained { 1.0 } else { 0.5 });
        }
        if weight <= 0.0 {
            continue;
        }
        let mut v = th.weight * weight / n as f64;
        let sc = Some(u32::from(nr));
        // waiting for a lock that another thread holds: the holder's code is where the
        // trouble is made, the waiter where it is felt
        if let Some(&holder) = held_by.get(&(r.s.pid, r.s.tid, r.s.ts)) {
            credit.add(holder, v, th.label, "holds_lock", sc, n);
            v *= ROUTINE;
        }
        match novel {
            Some(&f) => {
                credit.add(f, v, th.label, "new_syscall", sc, n);
                if f != r.funcs[0] {
                    credit.add(r.funcs[0], 0.3 * v, th.label, "syscall", sc, n);
                }
                // code the suite never ran cannot say the syscall is new for it: the
                // first caller outward that training ran without it shares the credit
                if db.funcs[f as usize].invocations == 0
                    && let Some(&caller) = r
                        .funcs
                        .iter()
                        .skip_while(|&&x| x != f)
                        .skip(1)
                        .find(|&&x| db.funcs[x as usize].invocations > 0)
                    && db.funcs[caller as usize]
                        .inclusive
                        .binary_search(&nr)
                        .is_err()
                {
                    credit.add(caller, UNTRAINED_CALLEE * v, th.label, "new_syscall", sc, n);
                }
            }
            None => credit.add(r.funcs[0], ROUTINE * v, th.label, "syscall", sc, n),
        }
    }
}

mod locks;
#[cfg(test)]
mod tests;
