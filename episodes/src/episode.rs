//! Serial episodes and their sets: the apriori candidate generation of the miner.
//!
//! An episode is a short sequence of event types (interned syscall ids), repeats allowed.
//! A set holds episodes of one length in one flat `Vec`, so counters index node `j` of
//! episode `a` as `nodes[a * len + j]` without a pointer per episode.

/// An event type: an interned syscall id. Dense and small, so that counters can index
/// plain `Vec`s by it.
pub type EventType = u16;

/// The longest episode the counters handle: levels are kept in a `u32` bit mask.
pub const MAX_EPISODE_LEN: usize = 31;

/// Episodes of one length, in one flat array.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EpisodeSet {
    len: usize,
    nodes: Vec<EventType>,
}

impl EpisodeSet {
    /// An empty set of episodes with `len` nodes each (`1..=MAX_EPISODE_LEN`).
    pub fn new(len: usize) -> EpisodeSet {
        assert!(
            (1..=MAX_EPISODE_LEN).contains(&len),
            "episode length {len} out of 1..={MAX_EPISODE_LEN}"
        );
        EpisodeSet {
            len,
            nodes: Vec::new(),
        }
    }

    /// A set built from `episodes`, which must all have `len` nodes.
    pub fn from_episodes<'a>(
        len: usize,
        episodes: impl IntoIterator<Item = &'a [EventType]>,
    ) -> EpisodeSet {
        let mut s = EpisodeSet::new(len);
        for e in episodes {
            s.push(e);
        }
        s
    }

    /// Appends one episode; its length must be the set's.
    pub fn push(&mut self, episode: &[EventType]) {
        assert_eq!(episode.len(), self.len, "episode of the wrong length");
        self.nodes.extend_from_slice(episode);
    }

    /// Nodes per episode.
    pub fn episode_len(&self) -> usize {
        self.len
    }

    /// Number of episodes.
    pub fn len(&self) -> usize {
        self.nodes.len() / self.len
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Episode `i`.
    pub fn get(&self, i: usize) -> &[EventType] {
        &self.nodes[i * self.len..(i + 1) * self.len]
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = &[EventType]> {
        self.nodes.chunks_exact(self.len)
    }

    /// All nodes, episode after episode.
    pub fn flat(&self) -> &[EventType] {
        &self.nodes
    }

    /// The largest event type used, if any.
    pub fn max_type(&self) -> Option<EventType> {
        self.nodes.iter().copied().max()
    }
}

/// The apriori candidates of length `k + 1` from the frequent episodes of length `k`.
///
/// `frequent` must be sorted lexicographically without duplicates. Two frequent episodes
/// α, β that share their first `k - 1` nodes give α + β[k-1] (α = β included, since
/// repeats are allowed); it is kept only if every sub-episode obtained by deleting one
/// node is frequent too (deleting the last node gives α and the one before it gives β,
/// which are frequent by construction). The result is sorted and free of duplicates.
///
/// `limit` caps the work: when more than `limit` candidates survive, `None` is returned
/// (the caller stops mining longer episodes for this function).
pub fn candidates(frequent: &EpisodeSet, limit: usize) -> Option<EpisodeSet> {
    let k = frequent.episode_len();
    let mut out = EpisodeSet::new(k + 1);
    if k + 1 > MAX_EPISODE_LEN {
        return Some(out);
    }
    let n = frequent.len();
    let mut cand = vec![0 as EventType; k + 1];
    let mut sub = vec![0 as EventType; k];
    let mut group_start = 0;
    while group_start < n {
        let prefix = &frequent.get(group_start)[..k - 1];
        let mut group_end = group_start + 1;
        while group_end < n && &frequent.get(group_end)[..k - 1] == prefix {
            group_end += 1;
        }
        for a in group_start..group_end {
            cand[..k].copy_from_slice(frequent.get(a));
            for b in group_start..group_end {
                cand[k] = frequent.get(b)[k - 1];
                if all_subepisodes_frequent(&cand, frequent, &mut sub) {
                    if out.len() == limit {
                        return None;
                    }
                    out.push(&cand);
                }
            }
        }
        group_start = group_end;
    }
    Some(out)
}

/// Whether deleting any one of the first `k - 1` nodes of `cand` (length `k + 1`) leaves
/// a frequent episode; the last two deletions are the join's parents.
fn all_subepisodes_frequent(
    cand: &[EventType],
    frequent: &EpisodeSet,
    sub: &mut [EventType],
) -> bool {
    let k = cand.len() - 1;
    (0..k.saturating_sub(1)).all(|skip| {
        let mut w = 0;
        for (j, &t) in cand.iter().enumerate() {
            if j != skip {
                sub[w] = t;
                w += 1;
            }
        }
        contains_sorted(frequent, sub)
    })
}

/// Binary search in a lexicographically sorted set.
pub fn contains_sorted(set: &EpisodeSet, episode: &[EventType]) -> bool {
    let (mut lo, mut hi) = (0, set.len());
    while lo < hi {
        let mid = (lo + hi) / 2;
        match set.get(mid).cmp(episode) {
            std::cmp::Ordering::Less => lo = mid + 1,
            std::cmp::Ordering::Greater => hi = mid,
            std::cmp::Ordering::Equal => return true,
        }
    }
    false
}

/// Whether `sub` is a subsequence of `sup` (the sub-episode relation of serial episodes).
pub fn is_subepisode(sub: &[EventType], sup: &[EventType]) -> bool {
    let mut it = sup.iter();
    sub.iter().all(|s| it.any(|t| t == s))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(len: usize, eps: &[&[EventType]]) -> EpisodeSet {
        EpisodeSet::from_episodes(len, eps.iter().copied())
    }

    #[test]
    fn level_one_join_gives_every_ordered_pair_with_repeats() {
        let c = candidates(&set(1, &[&[1], &[2]]), usize::MAX).unwrap();
        let got: Vec<&[EventType]> = c.iter().collect();
        assert_eq!(got, vec![&[1, 1][..], &[1, 2], &[2, 1], &[2, 2]]);
    }

    #[test]
    fn candidates_need_every_subepisode_frequent() {
        // (1,2), (2,3), (1,3) frequent, (2,2) not: (1,2,3) survives; (1,2,2) is not even
        // joined since (1,2)+(2,?) needs a frequent episode starting with 1 ending in 2..
        let f = set(2, &[&[1, 2], &[1, 3], &[2, 3]]);
        let c = candidates(&f, usize::MAX).unwrap();
        let got: Vec<&[EventType]> = c.iter().collect();
        // joins in group [1]: (1,2,2) needs (2,2): no; (1,2,3) needs (2,3): yes;
        // (1,3,2) needs (3,2): no; (1,3,3) needs (3,3): no. Group [2]: (2,3,3) needs (3,3).
        assert_eq!(got, vec![&[1, 2, 3][..]]);
    }

    #[test]
    fn candidate_limit_stops_generation() {
        let f = set(1, &[&[1], &[2], &[3]]);
        assert!(candidates(&f, 8).is_none());
        assert_eq!(candidates(&f, 9).unwrap().len(), 9);
    }

    #[test]
    fn subepisode_is_subsequence() {
        assert!(is_subepisode(&[1, 3], &[1, 2, 3]));
        assert!(is_subepisode(&[], &[1]));
        assert!(!is_subepisode(&[3, 1], &[1, 2, 3]));
        assert!(!is_subepisode(&[1, 1], &[1, 2]));
    }
}
