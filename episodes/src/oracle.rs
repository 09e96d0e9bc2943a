//! Brute-force oracles for the miner's property tests: slow, obviously correct versions
//! of what the counters and the mining loop compute.

use crate::counter::{Count, Sequence};
use crate::episode::{EpisodeSet, EventType};

/// Every occurrence of `ep` in `types` as (first index, last index): all strictly
/// increasing index tuples with the episode's types, and, with an expiry, a span
/// `ts[last] - ts[first]` below it.
pub fn occurrences(
    types: &[EventType],
    ts: &[u64],
    ep: &[EventType],
    expiry: Option<u64>,
) -> Vec<(usize, usize)> {
    fn walk(
        types: &[EventType],
        ep: &[EventType],
        from: usize,
        j: usize,
        first: usize,
        out: &mut Vec<(usize, usize)>,
    ) {
        for i in from..types.len() {
            if types[i] != ep[j] {
                continue;
            }
            let first = if j == 0 { i } else { first };
            if j + 1 == ep.len() {
                out.push((first, i));
            } else {
                walk(types, ep, i + 1, j + 1, first, out);
            }
        }
    }
    let mut all = Vec::new();
    walk(types, ep, 0, 0, 0, &mut all);
    all.retain(|&(f, l)| expiry.is_none_or(|t| ts[l] - ts[f] < t));
    all
}

/// The maximum number of non-overlapped occurrences (each starts after the previous one
/// ended), by dynamic programming over every occurrence: exact, not greedy.
pub fn max_non_overlapped(
    types: &[EventType],
    ts: &[u64],
    ep: &[EventType],
    expiry: Option<u64>,
) -> u64 {
    let occ = occurrences(types, ts, ep, expiry);
    let n = types.len();
    // best[p]: most non-overlapped occurrences using only events p..n
    let mut best = vec![0u64; n + 2];
    for p in (0..n).rev() {
        let mut b = best[p + 1];
        for &(f, l) in &occ {
            if f == p {
                b = b.max(1 + best[l + 1]);
            }
        }
        best[p] = b;
    }
    best[0]
}

/// The textbook greedy without expiry: scan once, match the episode's nodes in order,
/// restart after each completion (earliest end first is optimal).
pub fn greedy_serial(types: &[EventType], ep: &[EventType]) -> u64 {
    let (mut j, mut n) = (0, 0);
    for &t in types {
        if t == ep[j] {
            j += 1;
            if j == ep.len() {
                n += 1;
                j = 0;
            }
        }
    }
    n
}

/// What [`crate::counter::count`] must return, segment by segment from the oracle.
pub fn count(episodes: &EpisodeSet, seq: &Sequence<'_>, expiry: Option<u64>) -> Vec<Count> {
    episodes
        .iter()
        .map(|ep| {
            let mut c = Count::default();
            for r in seq.segments() {
                let ts = if seq.timestamps().is_empty() {
                    &[][..]
                } else {
                    &seq.timestamps()[r.clone()]
                };
                let k = max_non_overlapped(&seq.types()[r], ts, ep, expiry);
                c.occurrences += k;
                c.sumsq += k * k;
                c.segments += u64::from(k > 0);
            }
            c
        })
        .collect()
}
