//! Compact storage of what the trainer collects per function: one flat array of syscall
//! ids with segment starts (one segment per invocation), and timestamps only when expiry
//! needs them. This is all the trainer holds in memory of a trace.

use rustc_hash::FxHashMap;

use crate::counter::Sequence;
use crate::episode::EventType;

/// Interns syscall numbers to dense [`EventType`]s, in order of first sight.
#[derive(Debug, Default)]
pub struct SyscallTable {
    ids: FxHashMap<u32, EventType>,
    nrs: Vec<u32>,
}

impl SyscallTable {
    /// The id of syscall number `nr`; `None` when 65536 numbers are already taken.
    pub fn intern(&mut self, nr: u32) -> Option<EventType> {
        if let Some(&id) = self.ids.get(&nr) {
            return Some(id);
        }
        let id = EventType::try_from(self.nrs.len()).ok()?;
        self.ids.insert(nr, id);
        self.nrs.push(nr);
        Some(id)
    }

    /// The syscall number of `id`.
    pub fn nr(&self, id: EventType) -> u32 {
        self.nrs[usize::from(id)]
    }

    /// The name of `id` (`syscall_NNN` for numbers the table does not know).
    pub fn name(&self, id: EventType) -> String {
        trace::syscall_name(self.nr(id)).into_owned()
    }

    pub fn len(&self) -> usize {
        self.nrs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nrs.is_empty()
    }
}

/// The invocations of one function that made syscalls, one after another.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FunctionSeqs {
    types: Vec<EventType>,
    ts: Vec<u64>,
    seg_starts: Vec<u32>,
    keep_ts: bool,
}

impl FunctionSeqs {
    /// Storage that keeps timestamps when `keep_ts` (expiry is on).
    pub fn new(keep_ts: bool) -> FunctionSeqs {
        FunctionSeqs {
            keep_ts,
            ..FunctionSeqs::default()
        }
    }

    /// Appends one invocation's syscalls as a segment; timestamps that go backwards are
    /// clamped to the previous one (the counters need them non-decreasing). Returns false
    /// when the function would exceed `u32::MAX` events.
    pub fn push_segment(&mut self, events: &[(EventType, u64)]) -> bool {
        let Ok(start) = u32::try_from(self.types.len()) else {
            return false;
        };
        if u32::try_from(self.types.len() + events.len()).is_err() {
            return false;
        }
        self.seg_starts.push(start);
        self.types.extend(events.iter().map(|e| e.0));
        if self.keep_ts {
            let mut prev = 0;
            self.ts.extend(events.iter().map(|e| {
                prev = prev.max(e.1);
                prev
            }));
        }
        true
    }

    pub fn sequence(&self) -> Sequence<'_> {
        Sequence::new(&self.types, &self.ts, &self.seg_starts)
    }

    /// Syscalls stored.
    pub fn events(&self) -> u64 {
        self.types.len() as u64
    }

    /// Invocations stored (with at least one syscall).
    pub fn segments(&self) -> u64 {
        self.seg_starts.len() as u64
    }

    /// Count of each syscall id.
    pub fn histogram(&self) -> FxHashMap<EventType, u64> {
        let mut h = FxHashMap::default();
        for &t in &self.types {
            *h.entry(t).or_insert(0) += 1;
        }
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_clamp_backward_timestamps_and_keep_boundaries() {
        let mut s = FunctionSeqs::new(true);
        assert!(s.push_segment(&[(1, 10), (2, 5), (3, 12)]));
        assert!(s.push_segment(&[(4, 1)]));
        let q = s.sequence();
        assert_eq!(q.types(), &[1, 2, 3, 4]);
        assert_eq!(q.timestamps(), &[10, 10, 12, 1]);
        assert_eq!(q.segment_starts(), &[0, 3]);
    }

    #[test]
    fn interning_is_dense_and_names_unknown_numbers() {
        let mut t = SyscallTable::default();
        assert_eq!(t.intern(257), Some(0));
        assert_eq!(t.intern(0), Some(1));
        assert_eq!(t.intern(257), Some(0));
        assert_eq!(t.name(0), "openat");
        assert_eq!(t.intern(9999), Some(2));
        assert_eq!(t.name(2), "syscall_9999");
    }
}
