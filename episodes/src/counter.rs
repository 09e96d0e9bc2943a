//! Laxman's non-overlapped occurrence counting of serial episodes, per segment.
//!
//! Frequency of an episode = the maximum number of non-overlapped occurrences (each one
//! ends before the next starts). Every segment (one function invocation) is counted on
//! its own; the result per episode is the sum over segments, the sum of the squares of the
//! per-segment counts (so a caller can tell a support estimated from many alike invocations
//! from one resting on a few), and the number of segments with at least one occurrence.
//!
//! Both counters keep waiting lists keyed by event type (with expiry: by type and level)
//! and, per event `E`, take the list of `E` out of the table and advance what it holds.
//! An automaton whose next node is `E` again is pushed into the (now empty) table slot of
//! `E`, the "bag" of Laxman et al.: it waits for a later event, so `(A, A)` never counts
//! one `A` twice.
//!
//! Resets (at completion with expiry, at every segment boundary) are lazy: an entry carries
//! the tag or epoch of its automaton when it was queued, and an entry whose automaton has
//! moved on since is dropped when its list is next taken. Segment ends reset only the
//! automata that moved in the segment, so a boundary costs nothing per idle candidate.
//! When dead entries outnumber live ones, the lists are compacted.
//!
//! Timestamps must not decrease within a segment (the pipeline clamps them).

use std::mem;

use crate::episode::{EpisodeSet, EventType};

/// One episode's count over a whole sequence.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Count {
    /// Non-overlapped occurrences, summed over segments.
    pub occurrences: u64,
    /// Segments with at least one occurrence.
    pub segments: u64,
    /// Sum over segments of the squared per-segment occurrence count: with
    /// `occurrences` it gives the variance of the count per invocation.
    pub sumsq: u64,
}

/// Events cut into segments: event types, their timestamps (empty when no expiry is
/// used), and the start index of each segment.
#[derive(Clone, Copy, Debug)]
pub struct Sequence<'a> {
    types: &'a [EventType],
    ts: &'a [u64],
    seg_starts: &'a [u32],
}

impl<'a> Sequence<'a> {
    /// A sequence of `types` (and `ts`, same length, or empty) cut at `seg_starts`
    /// (non-decreasing indices into `types`; the first segment starts at `seg_starts[0]`,
    /// events before it belong to no segment). Panics on inconsistent arguments, which are
    /// a bug of the caller, never of the input data.
    pub fn new(types: &'a [EventType], ts: &'a [u64], seg_starts: &'a [u32]) -> Sequence<'a> {
        assert!(
            ts.is_empty() || ts.len() == types.len(),
            "one timestamp per event"
        );
        assert!(
            u32::try_from(types.len()).is_ok(),
            "more than u32::MAX events"
        );
        assert!(
            seg_starts.windows(2).all(|w| w[0] <= w[1])
                && seg_starts.last().is_none_or(|&s| s as usize <= types.len()),
            "segment starts must be sorted and in range"
        );
        Sequence {
            types,
            ts,
            seg_starts,
        }
    }

    /// One segment holding every event.
    pub fn single(types: &'a [EventType], ts: &'a [u64]) -> Sequence<'a> {
        const ZERO: &[u32] = &[0];
        Sequence::new(types, ts, ZERO)
    }

    pub fn types(&self) -> &'a [EventType] {
        self.types
    }

    pub fn timestamps(&self) -> &'a [u64] {
        self.ts
    }

    pub fn segment_starts(&self) -> &'a [u32] {
        self.seg_starts
    }

    pub fn num_segments(&self) -> usize {
        self.seg_starts.len()
    }

    /// Index ranges of the segments.
    pub fn segments(&self) -> impl Iterator<Item = std::ops::Range<usize>> + 'a {
        let starts = self.seg_starts;
        let n = self.types.len();
        (0..starts.len()).map(move |s| {
            let end = starts.get(s + 1).map_or(n, |&e| e as usize);
            starts[s] as usize..end
        })
    }

    /// The largest event type in the sequence.
    pub fn max_type(&self) -> Option<EventType> {
        self.types.iter().copied().max()
    }
}

/// Counts every episode of `episodes` in `seq`: without expiry when `expiry` is `None`,
/// else only occurrences whose span (last timestamp − first) is below `expiry` (which
/// must then be at least 1, and `seq` must carry timestamps).
pub fn count(episodes: &EpisodeSet, seq: &Sequence<'_>, expiry: Option<u64>) -> Vec<Count> {
    match expiry {
        None => count_serial(episodes, seq),
        Some(t) => count_expiry(episodes, seq, t),
    }
}

/// A queued automaton: which episode, and the tag (serial) or epoch (expiry) it had.
#[derive(Clone, Copy, Debug)]
struct Entry {
    ep: u32,
    tag: u32,
}

/// Marks the permanent "waiting for the first node" entry of the expiry counter.
const PERM: u32 = u32::MAX;

/// The waiting lists, one per event type, and a spare list that swaps in for the one
/// being processed (so no allocation happens per event).
struct Waits {
    lists: Vec<Vec<Entry>>,
    spare: Vec<Entry>,
    /// Entries queued in all lists, live or dead.
    queued: usize,
}

impl Waits {
    fn new(num_types: usize) -> Waits {
        Waits {
            lists: (0..num_types).map(|_| Vec::new()).collect(),
            spare: Vec::new(),
            queued: 0,
        }
    }

    #[inline]
    fn push(&mut self, ty: EventType, e: Entry) {
        self.push_slot(usize::from(ty), e);
    }

    #[inline]
    fn push_slot(&mut self, slot: usize, e: Entry) {
        self.lists[slot].push(e);
        self.queued += 1;
    }

    /// Takes the list at `slot` out; the slot becomes the bag for this event.
    #[inline]
    fn take(&mut self, slot: usize) -> Vec<Entry> {
        let list = mem::replace(&mut self.lists[slot], mem::take(&mut self.spare));
        self.queued -= list.len();
        list
    }

    #[inline]
    fn give_back(&mut self, mut list: Vec<Entry>) {
        list.clear();
        self.spare = list;
    }

    /// Drops dead entries when they are at least half of all queued ones.
    fn maybe_compact(&mut self, live: usize, is_live: impl Fn(Entry) -> bool) {
        if self.queued <= 2 * live + 1024 {
            return;
        }
        self.queued = 0;
        for l in &mut self.lists {
            l.retain(|&e| is_live(e));
            self.queued += l.len();
        }
    }
}

fn num_types(episodes: &EpisodeSet) -> usize {
    episodes.max_type().map_or(0, |t| usize::from(t) + 1)
}

fn ep_id(i: usize) -> u32 {
    u32::try_from(i).expect("episode sets hold fewer than u32::MAX episodes")
}

/// Per-segment bookkeeping shared by both counters.
struct Tally {
    counts: Vec<Count>,
    last_seg: Vec<u32>,
    /// Occurrences so far in segment `last_seg` (segments are counted one after another).
    in_seg: Vec<u64>,
}

impl Tally {
    fn new(n: usize) -> Tally {
        Tally {
            counts: vec![Count::default(); n],
            last_seg: vec![u32::MAX; n],
            in_seg: vec![0; n],
        }
    }

    #[inline]
    fn hit(&mut self, ep: usize, seg: u32) {
        let c = &mut self.counts[ep];
        c.occurrences += 1;
        if self.last_seg[ep] != seg {
            self.last_seg[ep] = seg;
            self.in_seg[ep] = 0;
            c.segments += 1;
        }
        // k² − (k−1)² = 2k − 1: the square of the segment's count, kept up to date
        self.in_seg[ep] += 1;
        c.sumsq += 2 * self.in_seg[ep] - 1;
    }
}

/// State of one episode's automaton without expiry.
#[derive(Clone, Copy, Debug, Default)]
struct SerialAuto {
    /// Bumped at every reset: queued entries with an older tag are dead.
    tag: u32,
    /// Nodes matched so far (the automaton waits for node `level`).
    level: u32,
}

/// Counting without expiry: one automaton per episode, always in exactly one list.
/// Restarting after each completion finds occurrences with the earliest possible end,
/// which maximises the number of non-overlapped ones. O(n·|C|).
fn count_serial(episodes: &EpisodeSet, seq: &Sequence<'_>) -> Vec<Count> {
    let n = episodes.len();
    let k = episodes.episode_len();
    let nodes = episodes.flat();
    let mut waits = Waits::new(num_types(episodes));
    let mut autos = vec![SerialAuto::default(); n];
    for ep in 0..n {
        waits.push(
            nodes[ep * k],
            Entry {
                ep: ep_id(ep),
                tag: 0,
            },
        );
    }
    let mut tally = Tally::new(n);
    // automata that left their start in this segment, to reset at its end
    let mut moved: Vec<u32> = Vec::new();
    let num_lists = waits.lists.len();
    for (seg, range) in seq.segments().enumerate() {
        let seg = seg as u32;
        for &ty in &seq.types[range] {
            let ty = usize::from(ty);
            if ty >= num_lists || waits.lists[ty].is_empty() {
                continue;
            }
            let list = waits.take(ty);
            for &Entry { ep, tag } in &list {
                let a = &mut autos[ep as usize];
                if a.tag != tag {
                    continue;
                }
                let base = ep as usize * k;
                let next = a.level + 1;
                let next_ty = if next as usize == k {
                    a.level = 0;
                    tally.hit(ep as usize, seg);
                    nodes[base]
                } else {
                    if a.level == 0 {
                        moved.push(ep);
                    }
                    a.level = next;
                    nodes[base + next as usize]
                };
                waits.push(next_ty, Entry { ep, tag });
            }
            waits.give_back(list);
        }
        for ep in moved.drain(..) {
            let a = &mut autos[ep as usize];
            if a.level != 0 {
                a.level = 0;
                a.tag = a.tag.wrapping_add(1);
                waits.push(nodes[ep as usize * k], Entry { ep, tag: a.tag });
            }
        }
        waits.maybe_compact(n, |e| autos[e.ep as usize].tag == e.tag);
    }
    tally.counts
}

/// State of one episode's automata with expiry.
#[derive(Clone, Copy, Debug)]
struct ExpiryAuto {
    /// Index of the event that last completed an occurrence: that event cannot also
    /// start the next one.
    completed_at: u64,
    /// Bumped at every reset: queued progress entries of an older epoch are dead.
    epoch: u32,
    /// Bit `j` (1 ≤ j < len): a partial occurrence has matched `j` nodes.
    levels: u32,
}

/// Counting with expiry: per episode and level, the latest start of a partial occurrence
/// that matched that many nodes (a later start dominates: it can finish whatever an
/// earlier one can, with a smaller span). Each event advances the levels waiting for it in
/// descending order, drops partial occurrences that are too old, and on completion counts
/// and resets all of the episode's automata.
///
/// The waiting lists are kept per (event type, level), and the lists of an event's type
/// are taken from the highest level down: that is the descending order, and a list taken
/// already is the bag for automata that advance into a level waiting for the same type.
/// Level 0 of every episode is always waiting (a permanent entry).
///
/// What it computes: the first completion after a reset is the earliest-ending occurrence
/// with span < T among the events after the reset (every tracked partial dominates the
/// ones it replaced), and taking earliest-ending occurrences one after another is optimal
/// for non-overlapped intervals. So the count is exactly the maximum number of
/// non-overlapped occurrences each with `t_last − t_first < T`, given timestamps that do
/// not decrease within a segment (tested against an exhaustive oracle).
fn count_expiry(episodes: &EpisodeSet, seq: &Sequence<'_>, expiry: u64) -> Vec<Count> {
    assert!(
        expiry >= 1,
        "an expiry of 0 admits no occurrence; use no expiry instead"
    );
    assert_eq!(seq.ts.len(), seq.types.len(), "expiry needs timestamps");
    let n = episodes.len();
    let k = episodes.episode_len();
    let nodes = episodes.flat();
    let types = num_types(episodes);
    // list of (type, level) at slot type * k + level
    let mut waits = Waits::new(types * k);
    let slot = |ty: EventType, level: usize| usize::from(ty) * k + level;
    let mut autos = vec![
        ExpiryAuto {
            completed_at: u64::MAX,
            epoch: 0,
            levels: 0,
        };
        n
    ];
    // start time of the partial occurrence at level j of episode ep: starts[ep * k + j]
    let mut starts = vec![0u64; n * k];
    for ep in 0..n {
        waits.push_slot(
            slot(nodes[ep * k], 0),
            Entry {
                ep: ep_id(ep),
                tag: PERM,
            },
        );
    }
    let mut tally = Tally::new(n);
    let mut moved: Vec<u32> = Vec::new();
    for (seg, range) in seq.segments().enumerate() {
        let seg = seg as u32;
        for i in range {
            let ty = seq.types[i];
            if usize::from(ty) >= types {
                continue;
            }
            let t = seq.ts[i];
            let i = i as u64;
            for j in (0..k).rev() {
                let here = slot(ty, j);
                if waits.lists[here].is_empty() {
                    continue;
                }
                let list = waits.take(here);
                for &Entry { ep, tag } in &list {
                    let a = &mut autos[ep as usize];
                    let base = ep as usize * k;
                    let start = if j == 0 {
                        // the permanent entry always stays queued
                        waits.push_slot(here, Entry { ep, tag: PERM });
                        if a.completed_at == i {
                            continue;
                        }
                        t
                    } else {
                        if tag != a.epoch {
                            continue;
                        }
                        a.levels &= !(1 << j);
                        let s = starts[base + j];
                        if t.saturating_sub(s) >= expiry {
                            continue;
                        }
                        s
                    };
                    if j + 1 == k {
                        tally.hit(ep as usize, seg);
                        a.levels = 0;
                        a.epoch = next_epoch(a.epoch);
                        a.completed_at = i;
                        continue;
                    }
                    let next = 1u32 << (j + 1);
                    if a.levels & next == 0 {
                        if a.levels == 0 {
                            moved.push(ep);
                        }
                        a.levels |= next;
                        waits.push_slot(
                            slot(nodes[base + j + 1], j + 1),
                            Entry { ep, tag: a.epoch },
                        );
                    }
                    starts[base + j + 1] = start;
                }
                waits.give_back(list);
            }
        }
        for ep in moved.drain(..) {
            let a = &mut autos[ep as usize];
            if a.levels != 0 {
                a.levels = 0;
                a.epoch = next_epoch(a.epoch);
            }
        }
        waits.maybe_compact(n * k, |e| {
            e.tag == PERM || autos[e.ep as usize].epoch == e.tag
        });
    }
    tally.counts
}

fn next_epoch(e: u32) -> u32 {
    if e + 1 == PERM { 0 } else { e + 1 }
}

#[cfg(test)]
mod tests;
