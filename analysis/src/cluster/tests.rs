//! Clustering checked against a naive agglomerative oracle.

use proptest::prelude::*;

use super::*;

/// Naive weighted average linkage: merge the closest pair until the closest is above
/// `cut`. Returns None when a tie makes the merge order ambiguous.
fn naive(points: &[Pattern], weights: &[u64], cut: f64) -> Option<Vec<usize>> {
    let mut clusters: Vec<Vec<usize>> = (0..points.len()).map(|i| vec![i]).collect();
    let avg = |a: &Vec<usize>, b: &Vec<usize>| {
        let (mut s, mut wsum) = (0.0, 0.0);
        for &i in a {
            for &j in b {
                let ww = (weights[i] * weights[j]) as f64;
                s += ww * distance(&points[i], &points[j]);
                wsum += ww;
            }
        }
        s / wsum
    };
    loop {
        let mut pairs = Vec::new();
        for i in 0..clusters.len() {
            for j in i + 1..clusters.len() {
                pairs.push((avg(&clusters[i], &clusters[j]), i, j));
            }
        }
        pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
        let Some(&(d, i, j)) = pairs.first() else {
            break;
        };
        if pairs.len() > 1 && (pairs[1].0 - d).abs() < 1e-6 {
            return None;
        }
        if (d - cut).abs() < 1e-4 {
            return None;
        }
        if d > cut {
            break;
        }
        let b = clusters.remove(j);
        clusters[i].extend(b);
    }
    let mut of = vec![0; points.len()];
    for (c, members) in clusters.iter().enumerate() {
        for &m in members {
            of[m] = c;
        }
    }
    Some(of)
}

/// Same partition, whatever the labels.
fn same_partition(a: &[usize], b: &[u32]) -> bool {
    let n = a.len();
    (0..n).all(|i| (0..n).all(|j| (a[i] == a[j]) == (b[i] == b[j])))
}

fn arb_pattern() -> impl Strategy<Value = Pattern> {
    proptest::collection::btree_map(0u16..6, 1u32..12, 1..5)
        .prop_map(|m| m.into_iter().map(|(k, v)| (k, quantize(v))).collect())
}

proptest! {
    #[test]
    fn average_linkage_matches_the_naive_algorithm(
        points in proptest::collection::vec(arb_pattern(), 1..12),
        weights in proptest::collection::vec(1u64..5, 12),
        cut in 0.5f64..3.0,
    ) {
        let weights = &weights[..points.len()];
        let oracle = naive(&points, weights, cut);
        prop_assume!(oracle.is_some());
        let refs: Vec<&Pattern> = points.iter().collect();
        let got = average_linkage(&refs, weights, cut);
        prop_assert!(same_partition(&oracle.unwrap(), &got), "points {:?}", points);
    }
}

#[test]
fn distance_is_euclidean_on_log_counts() {
    let a: Pattern = vec![(0, 1), (1, 3)];
    let b: Pattern = vec![(1, 3), (2, 1)];
    // read once vs not (1.0), write equal, close once vs not (1.0)
    assert!((distance(&a, &b) - 2f64.sqrt()).abs() < 1e-12);
    assert_eq!(distance(&a, &a), 0.0);
}

#[test]
fn quantization_keeps_small_counts_and_rounds_large_ones_to_powers_of_two() {
    assert_eq!(
        [1, 2, 3, 4, 5, 7, 8, 100, 130].map(quantize),
        [1, 2, 3, 4, 4, 4, 8, 64, 128]
    );
}

#[test]
fn the_log_table_gives_the_logs_themselves() {
    for c in (0..5000u32)
        .chain((0..32).map(|k| 1u32 << k))
        .chain([u32::MAX])
    {
        assert_eq!(scaled(c), (1.0 + f64::from(c)).log2(), "{c}");
    }
}

fn pattern_strategy() -> impl Strategy<Value = Pattern> {
    proptest::collection::btree_map(0u16..12, 1u32..5, 0..6)
        .prop_map(|m| m.into_iter().map(|(k, c)| (k, quantize(c))).collect())
}

proptest! {
    /// The norm-pruned search finds what trying every kept pattern finds.
    #[test]
    fn the_nearest_kept_pattern_is_the_one_a_full_search_finds(
        kept in proptest::collection::vec(pattern_strategy(), 1..40),
        probes in proptest::collection::vec(pattern_strategy(), 1..20),
    ) {
        let refs: Vec<&Pattern> = kept.iter().collect();
        let mut by_norm: Vec<(f64, u32)> = refs
            .iter()
            .enumerate()
            .map(|(k, p)| (distance(p, &Pattern::new()), k as u32))
            .collect();
        by_norm.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        for p in &probes {
            let full = (0..refs.len())
                .min_by(|&a, &b| {
                    distance(p, refs[a]).total_cmp(&distance(p, refs[b])).then(a.cmp(&b))
                })
                .unwrap() as u32;
            prop_assert_eq!(nearest(p, &refs, &by_norm), full);
        }
    }
}
