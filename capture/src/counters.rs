//! The BPF side's counters (drops and other per-CPU statistics, invocation counts per
//! function), read through the memory mapping of their array: no syscall per read.

use std::io;
use std::os::fd::BorrowedFd;
use std::sync::atomic::{AtomicU64, Ordering};

use trace::FunctionId;

use crate::mmap::Mapping;

/// Statistics indices (records.h `STAT_*`).
pub(crate) const STAT_DROPS: usize = 0;
pub(crate) const STAT_NO_STATE: usize = 1;
pub(crate) const STAT_STACK_OVERFLOW: usize = 2;
pub(crate) const STAT_TGIDS_FULL: usize = 3;
pub(crate) const STAT_JVM_UNREADABLE: usize = 4;
pub(crate) const STAT_JVM_DEEP: usize = 5;
pub(crate) const STAT_JVM_THREADS: usize = 6;
pub(crate) const STAT_COUNT: usize = 8;

/// Memory we allow the invocation counts to take before sharing rows between CPUs.
const MAX_COUNT_BYTES: usize = 256 << 20;

/// Shape of the counters array: `ncpus` rows of statistics, then `rows` rows of
/// `capacity` invocation counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Layout {
    pub ncpus: usize,
    pub capacity: usize,
    pub rows: usize,
}

impl Layout {
    pub(crate) fn new(ncpus: usize, capacity: usize) -> Layout {
        let ncpus = ncpus.max(1);
        let per_row = capacity.max(1) * 8;
        let rows = (MAX_COUNT_BYTES / per_row).clamp(1, ncpus);
        Layout {
            ncpus,
            capacity,
            rows,
        }
    }

    /// Entries of the array.
    pub(crate) fn entries(&self) -> usize {
        self.ncpus * STAT_COUNT + self.rows * self.capacity
    }
}

pub(crate) struct Counters {
    map: Mapping,
    layout: Layout,
    /// Functions seen with a non-zero count (counts only grow), so that [`Counters::hit`]
    /// only rescans the others.
    hit: Vec<bool>,
    hits: u32,
}

impl Counters {
    pub(crate) fn new(fd: BorrowedFd<'_>, layout: Layout, page: usize) -> io::Result<Counters> {
        let bytes = (layout.entries() * 8).div_ceil(page) * page;
        Ok(Counters {
            map: Mapping::new(fd, bytes, 0, true)?,
            layout,
            hit: vec![false; layout.capacity],
            hits: 0,
        })
    }

    fn at(&self, idx: usize) -> u64 {
        if idx >= self.layout.entries() {
            return 0;
        }
        // SAFETY: idx is in bounds of the array (checked), whose values are 8-aligned u64
        // the BPF programs update atomically.
        unsafe { AtomicU64::from_ptr(self.map.as_ptr().cast::<u64>().add(idx)) }
            .load(Ordering::Relaxed)
    }

    pub(crate) fn ncpus(&self) -> usize {
        self.layout.ncpus
    }

    pub(crate) fn stat(&self, cpu: usize, stat: usize) -> u64 {
        self.at(cpu * STAT_COUNT + stat)
    }

    pub(crate) fn stat_total(&self, stat: usize) -> u64 {
        (0..self.layout.ncpus).map(|c| self.stat(c, stat)).sum()
    }

    pub(crate) fn invocations(&self, func: FunctionId) -> u64 {
        let func = func as usize;
        if func >= self.layout.capacity {
            return 0;
        }
        let base = self.layout.ncpus * STAT_COUNT;
        (0..self.layout.rows)
            .map(|r| self.at(base + r * self.layout.capacity + func))
            .sum()
    }

    /// Non-zero invocation counts, by function id.
    pub(crate) fn all_invocations(&self) -> Vec<(FunctionId, u64)> {
        (0..self.layout.capacity as FunctionId)
            .filter_map(|f| {
                let n = self.invocations(f);
                (n > 0).then_some((f, n))
            })
            .collect()
    }

    /// Functions invoked at least once so far.
    pub(crate) fn hit(&mut self) -> u32 {
        for f in 0..self.layout.capacity {
            if !self.hit[f] && self.invocations(f as FunctionId) > 0 {
                self.hit[f] = true;
                self.hits += 1;
            }
        }
        self.hits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_shares_rows_only_when_large() {
        let l = Layout::new(2, 20_000);
        assert_eq!(l.rows, 2);
        assert_eq!(l.entries(), 2 * STAT_COUNT + 2 * 20_000);
        let l = Layout::new(128, 4_000_000);
        assert!(l.rows >= 1 && l.rows * 4_000_000 * 8 <= MAX_COUNT_BYTES);
        assert_eq!(Layout::new(4, 0).entries(), 4 * STAT_COUNT);
    }
}
