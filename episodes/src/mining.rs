//! Apriori level-wise mining of the frequent serial episodes of one function.
//!
//! Both frequency measures used here are anti-monotone (a sub-episode has at least as many
//! non-overlapped occurrences in every segment, and occurs in at least as many segments),
//! so the level-wise search is exact: the frequent episodes of length k+1 are among the
//! candidates joined from the frequent ones of length k.

use crate::counter::{self, Count, Sequence};
use crate::episode::{self, EpisodeSet, EventType, MAX_EPISODE_LEN};

/// What makes an episode frequent, and how far to search.
#[derive(Clone, Debug, PartialEq)]
pub struct MiningParams {
    /// Longest episode mined (`1..=MAX_EPISODE_LEN`).
    pub max_len: usize,
    /// Occurrences must span less than this many nanoseconds; `None`: no expiry.
    pub expiry: Option<u64>,
    /// Frequent needs at least this many non-overlapped occurrences per invocation.
    pub min_support: f64,
    /// ...and an occurrence in at least this fraction of the invocations.
    pub min_coverage: f64,
    /// Stop going longer for a function when a level has more candidates than this.
    pub max_candidates: usize,
}

/// One frequent episode and its count.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frequent {
    pub episode: Vec<EventType>,
    pub count: Count,
}

/// The frequent episodes of one function.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Mined {
    /// By length, then lexicographically.
    pub frequent: Vec<Frequent>,
    /// Set when the candidates of this length exceeded `max_candidates`: longer episodes
    /// were not mined.
    pub cut_at_len: Option<usize>,
}

impl MiningParams {
    /// Whether `c` is frequent for a function with `invocations` invocations.
    pub fn is_frequent(&self, c: Count, invocations: u64) -> bool {
        let inv = invocations as f64;
        c.occurrences > 0
            && c.occurrences as f64 >= self.min_support * inv
            && c.segments as f64 >= self.min_coverage * inv
    }
}

/// Mines `seq` (one segment per invocation); `invocations` is the support denominator,
/// which counts invocations without syscalls too, so it may exceed the segment count.
pub fn mine(seq: &Sequence<'_>, invocations: u64, p: &MiningParams) -> Mined {
    let max_len = p.max_len.clamp(1, MAX_EPISODE_LEN);
    let mut out = Mined::default();
    let (mut level, counts) = frequent_singletons(seq, invocations, p);
    for (ep, c) in level.iter().zip(&counts) {
        out.frequent.push(Frequent {
            episode: ep.to_vec(),
            count: *c,
        });
    }
    for len in 2..=max_len {
        if level.is_empty() {
            break;
        }
        let Some(cands) = episode::candidates(&level, p.max_candidates) else {
            out.cut_at_len = Some(len);
            break;
        };
        if cands.is_empty() {
            break;
        }
        let counts = counter::count(&cands, seq, p.expiry);
        let mut next = EpisodeSet::new(len);
        for (ep, c) in cands.iter().zip(counts) {
            if p.is_frequent(c, invocations) {
                next.push(ep);
                out.frequent.push(Frequent {
                    episode: ep.to_vec(),
                    count: c,
                });
            }
        }
        level = next;
    }
    out
}

/// Level 1 needs no automata: an event is an occurrence, and spans are 0.
fn frequent_singletons(
    seq: &Sequence<'_>,
    invocations: u64,
    p: &MiningParams,
) -> (EpisodeSet, Vec<Count>) {
    let n = seq.max_type().map_or(0, |t| usize::from(t) + 1);
    let mut counts = vec![Count::default(); n];
    let mut last_seg = vec![u32::MAX; n];
    let mut in_seg = vec![0u64; n];
    for (s, r) in seq.segments().enumerate() {
        for &t in &seq.types()[r] {
            let t = usize::from(t);
            counts[t].occurrences += 1;
            if last_seg[t] != s as u32 {
                last_seg[t] = s as u32;
                in_seg[t] = 0;
                counts[t].segments += 1;
            }
            in_seg[t] += 1;
            counts[t].sumsq += 2 * in_seg[t] - 1;
        }
    }
    let mut set = EpisodeSet::new(1);
    let mut kept = Vec::new();
    for (t, c) in counts.into_iter().enumerate() {
        if p.is_frequent(c, invocations) {
            set.push(&[t as EventType]);
            kept.push(c);
        }
    }
    (set, kept)
}

#[cfg(test)]
mod tests;
