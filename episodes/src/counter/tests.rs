//! The counters against the brute-force oracle, and the corner cases that break naive
//! implementations.

use proptest::prelude::*;

use super::*;
use crate::oracle;

/// Segments of (type, time step) become a flat sequence with non-decreasing timestamps.
struct Data {
    types: Vec<EventType>,
    ts: Vec<u64>,
    starts: Vec<u32>,
}

impl Data {
    fn new(segments: &[Vec<(EventType, u64)>]) -> Data {
        let mut d = Data {
            types: Vec::new(),
            ts: Vec::new(),
            starts: Vec::new(),
        };
        let mut t = 0;
        for seg in segments {
            d.starts.push(d.types.len() as u32);
            for &(ty, dt) in seg {
                t += dt;
                d.types.push(ty);
                d.ts.push(t);
            }
        }
        d
    }

    fn seq(&self) -> Sequence<'_> {
        Sequence::new(&self.types, &self.ts, &self.starts)
    }
}

fn one(types: &[EventType], ep: &[EventType], expiry: Option<u64>, ts: &[u64]) -> Count {
    let set = EpisodeSet::from_episodes(ep.len(), [ep]);
    count(&set, &Sequence::single(types, ts), expiry)[0]
}

fn unit_ts(n: usize) -> Vec<u64> {
    (0..n as u64).collect()
}

#[test]
fn repeated_node_does_not_double_count_one_event() {
    const A: EventType = 3;
    for (n, want) in [(1, 0), (2, 1), (3, 1), (4, 2), (5, 2)] {
        let types = vec![A; n];
        let ts = unit_ts(n);
        assert_eq!(one(&types, &[A, A], None, &[]).occurrences, want, "n={n}");
        assert_eq!(
            one(&types, &[A, A], Some(100), &ts).occurrences,
            want,
            "n={n}"
        );
    }
    // (A, A, A) in five A's: one occurrence, two left over
    let ts = unit_ts(5);
    assert_eq!(one(&[A; 5], &[A, A, A], None, &[]).occurrences, 1);
    assert_eq!(one(&[A; 5], &[A, A, A], Some(100), &ts).occurrences, 1);
}

#[test]
fn counts_reset_at_segment_boundaries() {
    // (1, 2) split over two segments occurs in neither
    let d = Data::new(&[
        vec![(1, 1)],
        vec![(2, 1)],
        vec![(1, 1), (2, 1), (1, 1), (2, 1)],
    ]);
    let set = EpisodeSet::from_episodes(2, [&[1, 2][..]]);
    for expiry in [None, Some(10)] {
        let c = count(&set, &d.seq(), expiry)[0];
        assert_eq!(
            c,
            Count {
                occurrences: 2,
                segments: 1,
                sumsq: 4
            },
            "expiry {expiry:?}"
        );
    }
}

#[test]
fn expiry_keeps_the_latest_start() {
    // A@0 A@5 B@12 with T = 10: (A@0, B@12) spans 12, (A@5, B@12) spans 7: one occurrence
    let types = [1, 1, 2];
    let ts = [0, 5, 12];
    assert_eq!(one(&types, &[1, 2], Some(10), &ts).occurrences, 1);
    assert_eq!(one(&types, &[1, 2], Some(7), &ts).occurrences, 0);
    assert_eq!(one(&types, &[1, 2], Some(8), &ts).occurrences, 1);
}

#[test]
fn expiry_span_is_strictly_below_the_limit() {
    let types = [1, 2];
    assert_eq!(one(&types, &[1, 2], Some(5), &[0, 5]).occurrences, 0);
    assert_eq!(one(&types, &[1, 2], Some(6), &[0, 5]).occurrences, 1);
    // equal timestamps span 0, which is below any expiry
    assert_eq!(one(&types, &[1, 2], Some(1), &[7, 7]).occurrences, 1);
}

#[test]
fn an_expired_partial_occurrence_does_not_block_a_new_one() {
    // (1,2,3): 1@0 2@1 ... 1@20 2@21 3@22, T = 10: the first partial expires
    let types = [1, 2, 1, 2, 3];
    let ts = [0, 1, 20, 21, 22];
    assert_eq!(one(&types, &[1, 2, 3], Some(10), &ts).occurrences, 1);
    assert_eq!(one(&types, &[1, 2, 3], Some(3), &ts).occurrences, 1);
    assert_eq!(one(&types, &[1, 2, 3], Some(2), &ts).occurrences, 0);
}

#[test]
fn types_beyond_every_episode_are_ignored() {
    let types = [9, 1, 9, 2, 9];
    let ts = unit_ts(5);
    assert_eq!(one(&types, &[1, 2], None, &[]).occurrences, 1);
    assert_eq!(one(&types, &[1, 2], Some(3), &ts).occurrences, 1);
}

#[test]
fn many_segments_with_rare_types_stay_correct_through_compaction() {
    // every segment moves the automaton of (1, 7) to wait for the rare 7, leaving a
    // dead entry behind at each segment end: far more than the compaction threshold
    let mut segs = Vec::new();
    for i in 0..5000 {
        let mut s = vec![(1, 1), (2, 1)];
        if i % 1000 == 999 {
            s.push((7, 1));
        }
        segs.push(s);
    }
    let d = Data::new(&segs);
    let set = EpisodeSet::from_episodes(2, [&[1, 7][..], &[1, 2][..], &[2, 2][..]]);
    for expiry in [None, Some(1000)] {
        let c = count(&set, &d.seq(), expiry);
        assert_eq!(
            c[0],
            Count {
                occurrences: 5,
                segments: 5,
                sumsq: 5
            },
            "{expiry:?}"
        );
        assert_eq!(
            c[1],
            Count {
                occurrences: 5000,
                segments: 5000,
                sumsq: 5000
            }
        );
        assert_eq!(c[2], Count::default());
    }
}

fn arb_segments(
    types: EventType,
    max_dt: u64,
) -> impl Strategy<Value = Vec<Vec<(EventType, u64)>>> {
    prop::collection::vec(prop::collection::vec((0..types, 0..=max_dt), 0..12), 0..4)
}

fn arb_episodes(types: EventType) -> impl Strategy<Value = EpisodeSet> {
    (1usize..=4).prop_flat_map(move |k| {
        prop::collection::vec(prop::collection::vec(0..types, k), 1..10)
            .prop_map(move |eps| EpisodeSet::from_episodes(k, eps.iter().map(Vec::as_slice)))
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn serial_counter_matches_oracle(
        segs in arb_segments(5, 3),
        eps in arb_episodes(4),
    ) {
        let d = Data::new(&segs);
        let got = count(&eps, &d.seq(), None);
        prop_assert_eq!(&got, &oracle::count(&eps, &d.seq(), None));
        // the textbook greedy agrees with the exhaustive optimum without expiry
        for (ep, c) in eps.iter().zip(&got) {
            let greedy: u64 = d.seq().segments()
                .map(|r| oracle::greedy_serial(&d.types[r], ep))
                .sum();
            prop_assert_eq!(greedy, c.occurrences);
        }
    }

    #[test]
    fn expiry_counter_matches_oracle(
        segs in arb_segments(5, 4),
        eps in arb_episodes(4),
        expiry in 1u64..12,
    ) {
        let d = Data::new(&segs);
        let got = count(&eps, &d.seq(), Some(expiry));
        prop_assert_eq!(got, oracle::count(&eps, &d.seq(), Some(expiry)));
    }

    #[test]
    fn unbounded_expiry_equals_no_expiry(
        segs in arb_segments(4, 5),
        eps in arb_episodes(4),
    ) {
        let d = Data::new(&segs);
        prop_assert_eq!(
            count(&eps, &d.seq(), Some(u64::MAX)),
            count(&eps, &d.seq(), None)
        );
    }
}
