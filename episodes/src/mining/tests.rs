//! The whole mining loop against brute force: every episode up to the length over the
//! types present, counted by the oracle, filtered by the same thresholds.

use proptest::prelude::*;

use super::*;
use crate::oracle;

fn all_episodes(alphabet: &[EventType], max_len: usize) -> Vec<Vec<EventType>> {
    let mut out: Vec<Vec<EventType>> = Vec::new();
    let mut level: Vec<Vec<EventType>> = vec![Vec::new()];
    for _ in 0..max_len {
        let mut next = Vec::new();
        for e in &level {
            for &t in alphabet {
                let mut x = e.clone();
                x.push(t);
                next.push(x);
            }
        }
        out.extend(next.iter().cloned());
        level = next;
    }
    out
}

fn brute_force(seq: &Sequence<'_>, invocations: u64, p: &MiningParams) -> Vec<Frequent> {
    let mut alphabet: Vec<EventType> = seq
        .segments()
        .flat_map(|r| seq.types()[r].to_vec())
        .collect();
    alphabet.sort_unstable();
    alphabet.dedup();
    let mut out = Vec::new();
    for ep in all_episodes(&alphabet, p.max_len) {
        let set = EpisodeSet::from_episodes(ep.len(), [&ep[..]]);
        let c = oracle::count(&set, seq, p.expiry)[0];
        if p.is_frequent(c, invocations) {
            out.push(Frequent {
                episode: ep,
                count: c,
            });
        }
    }
    out.sort_by(|a, b| (a.episode.len(), &a.episode).cmp(&(b.episode.len(), &b.episode)));
    out
}

fn params(
    max_len: usize,
    expiry: Option<u64>,
    min_support: f64,
    min_coverage: f64,
) -> MiningParams {
    MiningParams {
        max_len,
        expiry,
        min_support,
        min_coverage,
        max_candidates: usize::MAX,
    }
}

#[test]
fn a_repeated_pattern_is_found_at_full_length() {
    // five invocations of open read read close
    let (o, r, c) = (1, 2, 3);
    let mut types = Vec::new();
    let mut starts = Vec::new();
    for _ in 0..5 {
        starts.push(types.len() as u32);
        types.extend([o, r, r, c]);
    }
    let seq = Sequence::new(&types, &[], &starts);
    let m = mine(&seq, 5, &params(4, None, 1.0, 0.0));
    assert!(m.cut_at_len.is_none());
    let four: Vec<&Frequent> = m.frequent.iter().filter(|f| f.episode.len() == 4).collect();
    assert_eq!(four.len(), 1);
    assert_eq!(four[0].episode, vec![o, r, r, c]);
    assert_eq!(
        four[0].count,
        Count {
            occurrences: 5,
            segments: 5,
            sumsq: 5
        }
    );
    // (r, r, r) needs three reads in one invocation: never
    assert!(m.frequent.iter().all(|f| f.episode != vec![r, r, r]));
}

#[test]
fn invocations_without_syscalls_dilute_support() {
    let types = [1, 1];
    let starts = [0, 1];
    let seq = Sequence::new(&types, &[], &starts);
    let p = params(2, None, 0.5, 0.0);
    assert_eq!(mine(&seq, 2, &p).frequent.len(), 1);
    assert_eq!(mine(&seq, 4, &p).frequent.len(), 1);
    assert!(mine(&seq, 5, &p).frequent.is_empty());
}

#[test]
fn candidate_limit_cuts_the_search_and_says_where() {
    let types: Vec<EventType> = (0..6).collect();
    let seq = Sequence::single(&types, &[]);
    let mut p = params(4, None, 1.0, 0.0);
    p.max_candidates = 20;
    let m = mine(&seq, 1, &p);
    // 6 singletons give 36 pair candidates: over the limit
    assert_eq!(m.cut_at_len, Some(2));
    assert_eq!(m.frequent.len(), 6);
}

fn arb_data() -> impl Strategy<Value = (Vec<EventType>, Vec<u64>, Vec<u32>)> {
    prop::collection::vec(prop::collection::vec((0..4u16, 0..4u64), 0..10), 0..5).prop_map(|segs| {
        let (mut types, mut ts, mut starts) = (Vec::new(), Vec::new(), Vec::new());
        let mut t = 0;
        for s in segs {
            starts.push(types.len() as u32);
            for (ty, dt) in s {
                t += dt;
                types.push(ty);
                ts.push(t);
            }
        }
        (types, ts, starts)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn mining_matches_brute_force(
        (types, ts, starts) in arb_data(),
        extra_invocations in 0u64..3,
        max_len in 1usize..=3,
        expiry in prop::option::of(1u64..10),
        min_support in prop::sample::select(vec![0.0, 0.25, 0.5, 1.0, 1.5]),
        min_coverage in prop::sample::select(vec![0.0, 0.3, 0.5, 1.0]),
    ) {
        let seq = Sequence::new(&types, &ts, &starts);
        let inv = starts.len() as u64 + extra_invocations;
        let p = params(max_len, expiry, min_support, min_coverage);
        let m = mine(&seq, inv, &p);
        prop_assert!(m.cut_at_len.is_none());
        prop_assert_eq!(m.frequent, brute_force(&seq, inv, &p));
    }
}
