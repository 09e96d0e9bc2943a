//! A thread group's mix of syscalls before and after the onset, by count and by time in
//! the kernel: how far a change of units is a change of what the group does.

use rustc_hash::FxHashMap;

use super::Groups;
use crate::window::Window;

/// Per thread group: calls of each syscall before and after the onset, and in all.
#[derive(Default)]
pub(super) struct Mix {
    calls: FxHashMap<(u32, u16), (u64, u64)>,
    total: FxHashMap<u32, (u64, u64)>,
    /// Time in the kernel, ns, before and after, as `calls` and `total` count.
    ns: FxHashMap<(u32, u16), (u64, u64)>,
    total_ns: FxHashMap<u32, (u64, u64)>,
    /// CPU time after the onset, ns, of the group's threads whose scheduler was sampled.
    cpu_after: FxHashMap<u32, u64>,
}

impl Mix {
    pub(super) fn of(w: &Window, groups: &Groups, onset: u64) -> Mix {
        let mut m = Mix::default();
        // per syscall number: calls and ns before and after, one thread at a time (an
        // index per call; the maps are touched once per thread and syscall)
        let mut per_nr: Vec<[u64; 4]> = Vec::new();
        for (ti, t) in w.threads.iter().enumerate() {
            let g = groups.of_thread[ti];
            if let Some((cpu, _)) = t.cpu_between(onset, w.end) {
                *m.cpu_after.entry(g).or_default() += cpu;
            }
            per_nr.iter_mut().for_each(|x| *x = [0; 4]);
            for c in &t.calls {
                let i = usize::from(c.nr);
                if i >= per_nr.len() {
                    per_nr.resize(i + 1, [0; 4]);
                }
                let ns = if c.is_pending() { 0 } else { c.dur };
                let side = usize::from(c.ts >= onset);
                per_nr[i][side] += 1;
                per_nr[i][2 + side] += ns;
            }
            for (nr, x) in per_nr.iter().enumerate().filter(|(_, x)| x[0] + x[1] > 0) {
                let nr = nr as u16;
                let add = |e: &mut (u64, u64), b: u64, a: u64| {
                    e.0 += b;
                    e.1 += a;
                };
                add(m.calls.entry((g, nr)).or_default(), x[0], x[1]);
                add(m.total.entry(g).or_default(), x[0], x[1]);
                add(m.ns.entry((g, nr)).or_default(), x[2], x[3]);
                add(m.total_ns.entry(g).or_default(), x[2], x[3]);
            }
        }
        m
    }

    /// How much group `g`'s calls of `nrs` per second rose after the onset (`t_n`, `t_a`:
    /// the seconds before and after it).
    pub(super) fn rise(&self, g: u32, nrs: &[u16], t_n: f64, t_a: f64) -> f64 {
        let (b, a) = nrs
            .iter()
            .filter_map(|&nr| self.calls.get(&(g, nr)))
            .fold((0, 0), |(b, a), &(x, y)| (b + x, a + y));
        a as f64 / t_a - b as f64 / t_n
    }

    /// The largest fall, among `nrs`, of group `g`'s calls of that syscall per second
    /// (log of before over after, half a call of pseudo-count each side): units that
    /// vanished while their syscalls go on as often in other shapes are a reshuffle (more
    /// clients merge differently), not behaviour that stopped.
    pub(super) fn fall(
        &self,
        g: u32,
        nrs: impl IntoIterator<Item = u16>,
        t_n: f64,
        t_a: f64,
    ) -> f64 {
        nrs.into_iter()
            .map(|nr| {
                let (b, a) = self.calls.get(&(g, nr)).copied().unwrap_or((0, 0));
                ((b as f64 + 0.5) / t_n / ((a as f64 + 0.5) / t_a)).ln()
            })
            .fold(0.0, f64::max)
    }

    /// The largest share of group `g`'s syscalls after the onset, by count or by time in
    /// the kernel, that moved into one of `nrs`: its calls (or time) beyond what its share
    /// before the onset makes of the group's calls (or time) after it. More traffic of the
    /// same kind moves nothing; a pool that starts reading a file on some of its requests
    /// moves what those reads are of its work.
    pub(super) fn moved(&self, g: u32, nrs: impl IntoIterator<Item = u16>) -> f64 {
        // calls (or ns) of `nr` after the onset beyond its share before
        let excess =
            |per: &FxHashMap<(u32, u16), (u64, u64)>, tot: &FxHashMap<u32, (u64, u64)>, nr: u16| {
                let (tb, ta) = tot.get(&g).copied().unwrap_or((0, 0));
                let (b, a) = per.get(&(g, nr)).copied().unwrap_or((0, 0));
                let expected = if tb == 0 {
                    0.0
                } else {
                    b as f64 * ta as f64 / tb as f64
                };
                (a as f64 - expected).max(0.0)
            };
        let calls = self.total.get(&g).map_or(0, |t| t.1).max(1) as f64;
        // time against the group's CPU time when it is known: an idle pool's threads
        // spend most of their time in the kernel waiting, which is no work
        let busy = match self.cpu_after.get(&g) {
            Some(&cpu) if cpu > 0 => cpu,
            _ => self.total_ns.get(&g).map_or(0, |t| t.1),
        }
        .max(1) as f64;
        nrs.into_iter()
            .map(|nr| {
                (excess(&self.calls, &self.total, nr) / calls)
                    .max(excess(&self.ns, &self.total_ns, nr) / busy)
                    .min(1.0)
            })
            .fold(0.0, f64::max)
    }

    /// The largest rise in log odds of any of `nrs` against the rest of group `g`'s
    /// syscalls, after the onset over before (half a call of pseudo-count each side).
    pub(super) fn shift(&self, g: u32, nrs: impl IntoIterator<Item = u16>) -> f64 {
        let (tb, ta) = self.total.get(&g).copied().unwrap_or((0, 0));
        nrs.into_iter()
            .map(|nr| {
                let (b, a) = self.calls.get(&(g, nr)).copied().unwrap_or((0, 0));
                let odds =
                    |x: u64, tot: u64| (x as f64 + 0.5) / (tot.saturating_sub(x) as f64 + 0.5);
                (odds(a, ta) / odds(b, tb)).ln()
            })
            .fold(0.0, f64::max)
    }
}
