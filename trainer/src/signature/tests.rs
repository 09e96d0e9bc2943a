//! Selection against its definitions over every super-episode, and the weight and order
//! of signatures.

use proptest::prelude::*;

use super::*;
use crate::counter::{Count, Sequence};
use crate::episode::is_subepisode;
use crate::mining::{MiningParams, mine};

fn freq(ep: &[EventType], occurrences: u64, segments: u64) -> Frequent {
    Frequent {
        episode: ep.to_vec(),
        count: Count {
            occurrences,
            segments,
            // spread as evenly as the counts allow: what matters here is only that it is
            // the same for equal counts
            sumsq: occurrences * occurrences / segments.max(1),
        },
    }
}

fn eps(v: &[Frequent]) -> Vec<Vec<EventType>> {
    v.iter().map(|f| f.episode.clone()).collect()
}

#[test]
fn closed_keeps_a_shorter_episode_only_when_it_says_more() {
    let f = vec![
        freq(&[1], 4, 2),
        freq(&[2], 2, 2),
        freq(&[1, 2], 2, 2),
        freq(&[1, 1], 2, 2),
    ];
    // [1] occurs more often than any super-episode: kept; [2] is said by [1, 2]
    assert_eq!(
        eps(&select(&f, Selection::Closed)),
        vec![vec![1], vec![1, 2], vec![1, 1]]
    );
    assert_eq!(
        eps(&select(&f, Selection::Maximal)),
        vec![vec![1, 2], vec![1, 1]]
    );
    assert_eq!(select(&f, Selection::All), f);
}

#[test]
fn weights_favour_rare_episodes_and_order_is_most_specific_first() {
    let names: Vec<String> = ["read", "write", "openat"].map(String::from).to_vec();
    let selected = vec![
        vec![freq(&[0], 10, 10), freq(&[2, 0], 5, 5), freq(&[1], 20, 10)],
        vec![freq(&[0], 3, 3)],
        vec![],
    ];
    let sigs = signatures(&selected, &[10, 3, 7], &names, 2);
    assert_eq!(sigs.len(), 3);
    assert!(sigs[2].is_empty());
    // two functions have signatures; read is in both: weight ln(2/2) = 0
    let first = &sigs[0];
    assert_eq!(first.len(), 2, "capped at 2");
    // (openat, read) and (write) both weigh ln 2; the longer comes first
    assert_eq!(first[0].events, vec!["openat", "read"]);
    assert_eq!(first[0].weight, sigdb::round6(2f64.ln()));
    assert_eq!(first[0].support, 0.5);
    assert_eq!(first[1].events, vec!["write"]);
    assert_eq!(first[1].support, 2.0);
    assert_eq!(sigs[1][0].weight, 0.0);
    assert_eq!(sigs[1][0].support, 1.0);
}

fn arb_seq() -> impl Strategy<Value = (Vec<EventType>, Vec<u32>)> {
    prop::collection::vec(prop::collection::vec(0..3u16, 0..8), 1..5).prop_map(|segs| {
        let (mut types, mut starts) = (Vec::new(), Vec::new());
        for s in segs {
            starts.push(types.len() as u32);
            types.extend(s);
        }
        (types, starts)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn selection_matches_its_definition((types, starts) in arb_seq(), min_support in 0.0..1.5f64) {
        let seq = Sequence::new(&types, &[], &starts);
        let p = MiningParams {
            max_len: 4,
            expiry: None,
            min_support,
            min_coverage: 0.0,
            max_candidates: usize::MAX,
        };
        let f = mine(&seq, starts.len() as u64, &p).frequent;
        let supers = |b: &Frequent| -> Vec<Frequent> {
            f.iter()
                .filter(|g| {
                    g.episode.len() > b.episode.len() && is_subepisode(&b.episode, &g.episode)
                })
                .cloned()
                .collect()
        };
        let closed: Vec<Frequent> = f
            .iter()
            .filter(|b| supers(b).iter().all(|g| g.count != b.count))
            .cloned()
            .collect();
        let maximal: Vec<Frequent> =
            f.iter().filter(|b| supers(b).is_empty()).cloned().collect();
        prop_assert_eq!(select(&f, Selection::Closed), closed);
        prop_assert_eq!(select(&f, Selection::Maximal), maximal);
    }
}
