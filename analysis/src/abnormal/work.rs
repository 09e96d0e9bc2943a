//! How much work a thread group does: its units and their time before and after the
//! onset (to take its own change of load out of a change of one kind of unit), and its
//! share of the application's syscalls (a change in threads that barely work is a trace),
//! and how long its threads waited for a CPU.

use rustc_hash::FxHashMap;

use super::{Evidence, GROUP_PART_UNIT, Groups, Kind};
use crate::unit::Unit;
use crate::window::Window;

/// Sets [`Evidence::part`] of the changes of units and syscalls (new, more frequent,
/// slower): the group's share of the application groups' syscalls after the onset, and 0
/// for a group that did no work before the onset (fewer than [`IDLE_RATE`] syscalls a
/// second outside its threads' start and end): a pool that springs to life is a job that
/// started (a flush, a compaction, a backup), which the verdict weighs by what it does to
/// the threads that worked before; its units are still shown and matched.
pub(super) fn weigh_groups(
    w: &Window,
    groups: &Groups,
    onset: u64,
    t_n: f64,
    worked: &[u64],
    out: &mut [Evidence],
) {
    let mut before: FxHashMap<u32, u64> = FxHashMap::default();
    for (ti, &n) in worked.iter().enumerate() {
        *before.entry(groups.of_thread[ti]).or_default() += n;
    }
    // a storm's tallies stand for the syscalls the rolling window no longer holds
    for t in w.tallies.iter().filter(|t| t.ts < onset) {
        if let Some(g) = groups.id_of(&t.comm) {
            *before.entry(g).or_default() += u64::from(t.calls);
        }
    }
    let mut after: FxHashMap<u32, u64> = FxHashMap::default();
    for (ti, t) in w.threads.iter().enumerate() {
        let g = groups.of_thread[ti];
        let n = t.calls.len() - t.calls.partition_point(|c| c.ts < onset);
        *after.entry(g).or_default() += n as u64;
    }
    for t in w.tallies.iter().filter(|t| t.ts >= onset) {
        if let Some(g) = groups.id_of(&t.comm) {
            *after.entry(g).or_default() += u64::from(t.calls);
        }
    }
    let total: u64 = after
        .iter()
        .filter(|(g, _)| !groups.runtime[**g as usize])
        .map(|(_, n)| n)
        .sum();
    if total == 0 {
        return;
    }
    for e in out.iter_mut() {
        if !matches!(e.kind, Kind::New | Kind::MoreFrequent | Kind::Slower) {
            continue;
        }
        // a runtime's threads (GC, JIT) do none of the application's work: their units
        // change with its load and are shown, but cannot decide the verdict alone
        let worked = before.get(&e.group).copied().unwrap_or(0) as f64 / t_n >= IDLE_RATE;
        e.part = if groups.runtime[e.group as usize] || !worked {
            0.0
        } else {
            let n = after.get(&e.group).copied().unwrap_or(0);
            (n as f64 / total as f64 / GROUP_PART_UNIT).min(1.0)
        };
    }
}

/// Syscalls a second before the onset from which a group worked.
const IDLE_RATE: f64 = 1.0;

/// Per thread (by index): its syscalls before the onset outside the units that start or
/// end a thread, a process or a connection ([`super::lifecycle`]): the work it did before.
pub(super) fn work_before(w: &Window, units: &[Unit], onset: u64) -> Vec<u64> {
    let mut n = vec![0u64; w.threads.len()];
    for u in units.iter().filter(|u| u.start < onset) {
        if !super::lifecycle(w, u) {
            n[u.thread as usize] += u.calls(w).iter().filter(|c| c.ts < onset).count() as u64;
        }
    }
    n
}

/// A thread group's units and time in units before and after the onset.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct GroupWork {
    n: (u64, u64),
    ns: (u64, u64),
}

impl GroupWork {
    pub(super) fn add(&mut self, units: &[Unit], before: &[u32], after: &[u32]) {
        let time = |v: &[u32]| v.iter().map(|&i| units[i as usize].duration()).sum::<u64>();
        self.n.0 += before.len() as u64;
        self.n.1 += after.len() as u64;
        self.ns.0 += time(before);
        self.ns.1 += time(after);
    }

    /// For the cell `own` of this group: the load (the rate ratio of the group's other
    /// units, after over before) and the share of the group's work after the onset that
    /// the cell holds beyond its normal rate times that load, by count or by time.
    pub(super) fn mix(&self, own: &GroupWork, t_n: f64, t_a: f64) -> (f64, f64) {
        let rest = (
            self.n.0.saturating_sub(own.n.0),
            self.n.1.saturating_sub(own.n.1),
        );
        // too little other work to tell a change of load: none
        let load = if rest.0 + rest.1 < 10 {
            1.0
        } else {
            ((rest.1 as f64 + 1.0) / t_a) / ((rest.0 as f64 + 1.0) / t_n)
        };
        let scale = load * t_a / t_n;
        let excess_n = own.n.1 as f64 - own.n.0 as f64 * scale;
        let excess_ns = own.ns.1 as f64 - own.ns.0 as f64 * scale;
        let share_n = excess_n / (self.n.1 as f64).max(1.0);
        let share_ns = excess_ns / (self.ns.1 as f64).max(1.0);
        (load, share_n.max(share_ns).clamp(0.0, 1.0))
    }
}

/// Per group: the time its threads spent runnable but waiting for a CPU after the onset,
/// beyond what their rate of waiting before it predicts, spread over the group's units
/// after the onset (ns per unit). A unit that takes longer because its thread waited
/// for a CPU (other processes took the machine's CPUs, or a spinning thread of this one)
/// did not run slower code. Threads without run-queue samples on both sides add none.
pub(crate) fn cpu_wait_per_unit(
    w: &Window,
    groups: &Groups,
    totals: &FxHashMap<u32, GroupWork>,
    start: u64,
    onset: u64,
) -> Vec<u64> {
    let mut extra = vec![0f64; groups.names.len()];
    for (ti, t) in w.threads.iter().enumerate() {
        let (Some((w_n, s_n)), Some((w_a, s_a))) =
            (t.wait_between(start, onset), t.wait_between(onset, w.end))
        else {
            continue;
        };
        let expected = w_n as f64 * s_a as f64 / s_n as f64;
        extra[groups.of_thread[ti] as usize] += w_a as f64 - expected;
    }
    extra
        .iter()
        .enumerate()
        .map(|(g, &e)| {
            let n = totals.get(&(g as u32)).map_or(0, |t| t.n.1);
            if n == 0 || e <= 0.0 {
                0
            } else {
                (e / n as f64) as u64
            }
        })
        .collect()
}
