//! The noise model of a diff: when a difference between two trainings says more than the
//! test suite's timing. A support is a mean over invocations with a standard error
//! ([`Episode::standard_error`]); a change counts when it passes the floors of
//! [`DiffOptions`] and is `z` standard errors (both sides' combined) away from zero. An
//! episode kept on one side only is compared with the most the other side can have had
//! without keeping it, and not at all when the other side's cap of kept episodes may have
//! cut it. Changes made only of system calls that follow the state of the whole process
//! (the heap, other threads holding locks) are told apart ([`process_state_only`]).

use crate::{Episode, Params, Record};

use super::{DiffOptions, FunctionChange};

/// One side of a function's comparison: its record and the rules it was trained under.
#[derive(Clone, Copy)]
pub(super) struct Side<'a> {
    pub record: &'a Record,
    pub params: &'a Params,
    pub kept: &'a Kept<'a>,
}

impl Side<'_> {
    pub(super) fn n(&self) -> u64 {
        self.record.invocations
    }
}

/// One database's records, to bound the weight an episode had there: ln(functions with a
/// signature / functions whose mined signature had it), counted before the cap, so the
/// kept lists do not say it; but only a function that made every syscall of the episode
/// can have mined it.
pub(super) struct Kept<'a> {
    records: &'a [Record],
    with_signature: u32,
}

impl<'a> Kept<'a> {
    pub(super) fn of(records: &'a [Record]) -> Kept<'a> {
        let with_signature = records.iter().filter(|r| !r.episodes.is_empty()).count();
        Kept {
            records,
            with_signature: u32::try_from(with_signature).unwrap_or(u32::MAX),
        }
    }

    /// The least weight `events` can have had: as if every function that made all its
    /// syscalls had mined it.
    fn least_weight(&self, events: &[String]) -> f64 {
        let could = self
            .records
            .iter()
            .filter(|r| {
                events
                    .iter()
                    .all(|ev| r.profile.contains_key(ev) || r.inclusive.contains_key(ev))
            })
            .count()
            .max(1);
        let n = f64::from(self.with_signature).max(could as f64);
        (n / could as f64).ln()
    }
}

/// Whether `old` → `new` (one episode on both sides) is a change of the code.
pub(super) fn shared_change(
    old: &Episode,
    new: &Episode,
    (o, n): (Side<'_>, Side<'_>),
    options: &DiffOptions,
) -> bool {
    options.support_changed(old.support, new.support)
        && significant(
            old.support,
            old.standard_error(o.n()),
            new.support,
            new.standard_error(n.n()),
            options,
        )
}

/// Whether `e`, kept on side `here` only, is a change of the code: `other` never made one
/// of its syscalls (its profile says), or cannot have dropped it by its cap; and its
/// support there (0, or at most what `other` could have had without keeping it) differs
/// significantly.
pub(super) fn one_sided_change(
    e: &Episode,
    here: Side<'_>,
    other: Side<'_>,
    options: &DiffOptions,
) -> bool {
    // a syscall the other side never made in this function: the episode was not there
    let never = e
        .events
        .iter()
        .any(|ev| !other.record.profile.contains_key(ev));
    if !never && may_have_been_cut(e, other) {
        return false;
    }
    let guess = if never { 0.0 } else { other_support(e, other) };
    let se_other = Episode {
        events: Vec::new(),
        occurrences: 0,
        invocations: 0,
        support: guess,
        weight: 0.0,
        sumsq: None,
    }
    .standard_error(other.n());
    options.support_changed(guess, e.support)
        && significant(
            guess,
            se_other,
            e.support,
            e.standard_error(here.n()),
            options,
        )
}

/// |Δ| > z · sqrt(se_old² + se_new²).
fn significant(old: f64, se_old: f64, new: f64, se_new: f64, options: &DiffOptions) -> bool {
    (new - old).abs() > options.z * (se_old * se_old + se_new * se_new).sqrt()
}

/// Whether `other` keeps as many episodes as its cap allows and `e` would not rank above
/// the weakest of them (by weight, length, support: the trainer's order) with the least
/// weight it can have had there: then `e` may have been frequent there and cut. (Weights
/// are global: another function that mined the episode in one training lowers its weight
/// for every function, and a capped list drops it.)
fn may_have_been_cut(e: &Episode, other: Side<'_>) -> bool {
    let cap = other.params.max_episodes as usize;
    if cap == 0 || other.record.episodes.len() < cap {
        return false;
    }
    let Some(weakest) = other.record.episodes.last() else {
        return false;
    };
    let key = |x: &Episode| (x.weight, x.events.len(), x.support);
    let (mut a, b) = (key(e), key(weakest));
    a.0 = a.0.min(crate::round6(other.kept.least_weight(&e.events)));
    let stronger =
        a.0.total_cmp(&b.0)
            .then(a.1.cmp(&b.1))
            .then(a.2.total_cmp(&b.2));
    stronger.is_le()
}

/// The most `other` can have had of `e` without keeping it: the support of its strongest
/// kept super-episode (a sub-episode occurs at least as often, and closed selection drops
/// a sub-episode exactly when a super-episode has its counts), else just under the
/// frequency threshold. Capped at `e`'s own support when that is lower (then the
/// threshold, not the code, kept it out).
fn other_support(e: &Episode, other: Side<'_>) -> f64 {
    let sup = other
        .record
        .episodes
        .iter()
        .filter(|x| is_subsequence(&e.events, &x.events))
        .map(|x| x.support)
        .fold(None, |m: Option<f64>, s| Some(m.map_or(s, |m| m.max(s))));
    match sup {
        Some(s) => s,
        None => other.params.min_support.min(e.support),
    }
}

/// Whether `short` is a (not necessarily contiguous) subsequence of `long`: a serial
/// sub-episode.
fn is_subsequence(short: &[String], long: &[String]) -> bool {
    let mut it = long.iter();
    short.iter().all(|s| it.any(|l| l == s))
}

/// System calls whose number per invocation follows the state of the whole process, not
/// the function's code: the memory allocator's (a `free` trims the heap when its top
/// crosses a threshold, a `malloc` maps an arena) and `futex` (a mutex or condition
/// variable enters the kernel only when another thread holds or waits on it: the order
/// of concurrent events).
const PROCESS_STATE: [&str; 6] = ["brk", "futex", "madvise", "mmap", "mremap", "munmap"];

/// Whether every episode change of `c` is made of [`PROCESS_STATE`] system calls that
/// both sides' functions made (a syscall new to the function, a first `futex` wait say,
/// is a change of the code).
pub(super) fn process_state_only(c: &FunctionChange, old: &Record, new: &Record) -> bool {
    let state = |events: &[String]| {
        events.iter().all(|e| {
            PROCESS_STATE.contains(&e.as_str())
                && old.profile.contains_key(e)
                && new.profile.contains_key(e)
        })
    };
    c.episodes_added
        .iter()
        .chain(&c.episodes_removed)
        .all(|e| state(&e.events))
        && c.support.iter().all(|s| state(&s.events))
}
