//! Hierarchical clustering of execution units on their syscall appearance vectors
//! (average linkage, Euclidean distance on log-scaled, quantized counts).
//!
//! Units of a server repeat a few shapes thousands of times, so units are first reduced to
//! their distinct quantized patterns, with multiplicities; the patterns are clustered with
//! the nearest-neighbour-chain algorithm (exact for average linkage, O(n²) time and
//! memory), weighting each pattern by its number of units, which is the same as
//! clustering the units themselves. Above `max_patterns` distinct patterns, the rarest
//! are assigned to their nearest kept pattern.

use rustc_hash::FxHashMap;

use crate::unit::Unit;
use crate::window::Window;

/// A unit's shape: (syscall number, quantized count), sorted by number.
pub type Pattern = Vec<(u16, u32)>;

#[derive(Clone, Debug, PartialEq)]
pub struct ClusterParams {
    /// Average-linkage height at which the dendrogram is cut.
    pub cut: f64,
    pub max_patterns: usize,
}

impl Default for ClusterParams {
    fn default() -> Self {
        ClusterParams {
            cut: 1.5,
            max_patterns: 2000,
        }
    }
}

/// The result: a cluster per unit, and per cluster its heaviest pattern.
#[derive(Clone, Debug, Default)]
pub struct Clustering {
    /// Cluster id of each unit, in the order of the units given.
    pub of_unit: Vec<u32>,
    /// Per cluster: the pattern most units share, and the number of units.
    pub clusters: Vec<(Pattern, u64)>,
    /// Distinct unit patterns seen.
    pub patterns: usize,
}

/// Counts are kept exact up to 4, then rounded down to a power of two: 100 and 101
/// reads are the same shape, one and two are not.
fn quantize(c: u32) -> u32 {
    if c <= 4 {
        c
    } else {
        1 << (31 - c.leading_zeros())
    }
}

fn pattern_of(unit: &Unit, w: &Window, scratch: &mut Vec<u16>, out: &mut Pattern) {
    scratch.clear();
    scratch.extend(unit.calls(w).iter().map(|c| c.nr));
    scratch.sort_unstable();
    out.clear();
    for &nr in scratch.iter() {
        match out.last_mut() {
            Some((n, c)) if *n == nr => *c += 1,
            _ => out.push((nr, 1)),
        }
    }
    for (_, c) in out.iter_mut() {
        *c = quantize(*c);
    }
}

fn scaled(c: u32) -> f64 {
    // quantized counts are small or powers of two: their logs come from a table (the
    // distance is the hot loop of the clustering, and log2 was most of its time)
    static POW2: std::sync::LazyLock<[f64; 32]> =
        std::sync::LazyLock::new(|| std::array::from_fn(|k| (1.0 + f64::from(1u32 << k)).log2()));
    match c {
        0 => 0.0,
        3 => 2.0,
        c if c.is_power_of_two() => POW2[c.trailing_zeros() as usize],
        c => (1.0 + f64::from(c)).log2(),
    }
}

/// Euclidean distance between two patterns on log2(1 + count).
pub fn distance(a: &Pattern, b: &Pattern) -> f64 {
    let (mut i, mut j, mut s) = (0, 0, 0.0);
    while i < a.len() || j < b.len() {
        let d = match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) if x.0 == y.0 => {
                i += 1;
                j += 1;
                scaled(x.1) - scaled(y.1)
            }
            (Some(x), Some(y)) if x.0 < y.0 => {
                i += 1;
                scaled(x.1)
            }
            (Some(x), None) => {
                i += 1;
                scaled(x.1)
            }
            (_, Some(y)) => {
                j += 1;
                scaled(y.1)
            }
            (None, None) => unreachable!("loop condition"),
        };
        s += d * d;
    }
    s.sqrt()
}

/// Clusters `units` of `w`.
pub fn cluster(units: &[Unit], w: &Window, p: &ClusterParams) -> Clustering {
    // distinct patterns with their unit counts
    let mut ids: FxHashMap<Pattern, u32> = FxHashMap::default();
    let mut patterns: Vec<Pattern> = Vec::new();
    let mut weight: Vec<u64> = Vec::new();
    let mut of_unit = Vec::with_capacity(units.len());
    let (mut scratch, mut pat) = (Vec::new(), Pattern::new());
    for u in units {
        pattern_of(u, w, &mut scratch, &mut pat);
        let id = match ids.get(&pat) {
            Some(&id) => id,
            None => {
                let id = patterns.len() as u32;
                ids.insert(pat.clone(), id);
                patterns.push(pat.clone());
                weight.push(0);
                id
            }
        };
        weight[id as usize] += 1;
        of_unit.push(id);
    }
    let n_patterns = patterns.len();
    if n_patterns == 0 {
        return Clustering::default();
    }

    // keep the heaviest patterns; the rest join their nearest kept pattern
    let mut order: Vec<u32> = (0..n_patterns as u32).collect();
    order.sort_by_key(|&i| (std::cmp::Reverse(weight[i as usize]), i));
    let kept: Vec<u32> = order.iter().copied().take(p.max_patterns.max(1)).collect();
    let mut slot = vec![u32::MAX; n_patterns];
    for (k, &i) in kept.iter().enumerate() {
        slot[i as usize] = k as u32;
    }
    let kept_pats: Vec<&Pattern> = kept.iter().map(|&i| &patterns[i as usize]).collect();
    let mut by_norm: Vec<(f64, u32)> = kept_pats
        .iter()
        .enumerate()
        .map(|(k, p)| (distance(p, &Pattern::new()), k as u32))
        .collect();
    by_norm.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    for i in 0..n_patterns {
        if slot[i] == u32::MAX {
            slot[i] = nearest(&patterns[i], &kept_pats, &by_norm);
        }
    }
    let mut kw = vec![0u64; kept.len()];
    for i in 0..n_patterns {
        kw[slot[i] as usize] += weight[i];
    }
    let kp = kept_pats;
    let group = average_linkage(&kp, &kw, p.cut);

    // number clusters by size, then by their heaviest pattern, so ids are deterministic
    let mut members: FxHashMap<u32, (u64, u32)> = FxHashMap::default();
    for (k, &g) in group.iter().enumerate() {
        let e = members.entry(g).or_insert((0, k as u32));
        e.0 += kw[k];
        e.1 = e.1.min(k as u32);
    }
    let mut roots: Vec<(u32, u64, u32)> = members.iter().map(|(&g, &(s, f))| (g, s, f)).collect();
    roots.sort_by_key(|&(_, size, first)| (std::cmp::Reverse(size), first));
    let mut cid: FxHashMap<u32, u32> = FxHashMap::default();
    let mut clusters = Vec::with_capacity(roots.len());
    for (i, &(g, size, first)) in roots.iter().enumerate() {
        cid.insert(g, i as u32);
        // `first` is the heaviest kept pattern of the cluster (kept is sorted by weight)
        clusters.push((kp[first as usize].clone(), size));
    }
    for id in of_unit.iter_mut() {
        *id = cid[&group[slot[*id as usize] as usize]];
    }
    Clustering {
        of_unit,
        clusters,
        patterns: n_patterns,
    }
}

/// Index (into `kept`) of the kept pattern nearest to `p`, the first of several at the
/// same distance: the same answer as trying them all, found by walking outward from
/// `p`'s norm through `by_norm` (the kept patterns' norms, sorted), since
/// |‖a‖ − ‖b‖| ≤ d(a, b) rules out every pattern whose norm is farther than the best
/// distance found (the slack covers rounding).
fn nearest(p: &Pattern, kept: &[&Pattern], by_norm: &[(f64, u32)]) -> u32 {
    let np = distance(p, &Pattern::new());
    let mid = by_norm.partition_point(|e| e.0 < np);
    let (mut lo, mut hi) = (mid, mid);
    let mut best: Option<(f64, u32)> = None;
    loop {
        let below = (lo > 0).then(|| np - by_norm[lo - 1].0);
        let above = by_norm.get(hi).map(|e| e.0 - np);
        // the nearer side in norm first: once it is out of reach, so is the other
        let take_below = match (below, above) {
            (None, None) => break,
            (Some(b), Some(a)) => b <= a,
            (Some(_), None) => true,
            (None, Some(_)) => false,
        };
        let (gap, k) = if take_below {
            lo -= 1;
            (np - by_norm[lo].0, by_norm[lo].1)
        } else {
            hi += 1;
            (by_norm[hi - 1].0 - np, by_norm[hi - 1].1)
        };
        if let Some((bd, _)) = best
            && gap > bd + 1e-9 * (1.0 + bd)
        {
            break;
        }
        let d = distance(p, kept[k as usize]);
        if best.is_none_or(|(bd, bk)| d.total_cmp(&bd).then(k.cmp(&bk)).is_lt()) {
            best = Some((d, k));
        }
    }
    best.map_or(0, |b| b.1)
}

/// Average-linkage clustering of weighted points cut at height `cut`: returns a group
/// representative per point (points with the same representative form one cluster).
fn average_linkage(points: &[&Pattern], weights: &[u64], cut: f64) -> Vec<u32> {
    let n = points.len();
    let mut uf: Vec<u32> = (0..n as u32).collect();
    if n < 2 {
        return uf;
    }
    let idx = |i: usize, j: usize| {
        let (a, b) = if i < j { (i, j) } else { (j, i) };
        a * n - a * (a + 1) / 2 + (b - a - 1)
    };
    let mut d = vec![0f32; n * (n - 1) / 2];
    for i in 0..n {
        for j in i + 1..n {
            d[idx(i, j)] = distance(points[i], points[j]) as f32;
        }
    }
    let mut w: Vec<f64> = weights.iter().map(|&x| x as f64).collect();
    let mut active = vec![true; n];
    let mut left = n;
    let mut chain: Vec<usize> = Vec::with_capacity(n);
    let mut merges: Vec<(usize, usize, f32)> = Vec::with_capacity(n - 1);
    while left > 1 {
        if chain.is_empty() {
            chain.push(
                active
                    .iter()
                    .position(|&a| a)
                    .expect("two clusters are left"),
            );
        }
        let a = *chain.last().expect("chain is not empty");
        let prev = chain.len().checked_sub(2).map(|i| chain[i]);
        // nearest active neighbour; on a tie prefer the previous chain element, which
        // guarantees the chain ends in a reciprocal pair
        let mut best = usize::MAX;
        let mut bd = f32::INFINITY;
        for j in 0..n {
            if j == a || !active[j] {
                continue;
            }
            let dj = d[idx(a, j)];
            if dj < bd || (dj == bd && Some(j) == prev) {
                best = j;
                bd = dj;
            }
        }
        if Some(best) == prev {
            chain.pop();
            chain.pop();
            let (keep, gone) = (a.min(best), a.max(best));
            merges.push((keep, gone, bd));
            let (wk, wg) = (w[keep], w[gone]);
            for k in 0..n {
                if active[k] && k != keep && k != gone {
                    let v = (wk * f64::from(d[idx(keep, k)]) + wg * f64::from(d[idx(gone, k)]))
                        / (wk + wg);
                    d[idx(keep, k)] = v as f32;
                }
            }
            w[keep] = wk + wg;
            active[gone] = false;
            left -= 1;
        } else {
            chain.push(best);
        }
    }
    // average linkage is monotone: the merges under the cut form the cut's partition
    fn find(uf: &mut [u32], mut x: u32) -> u32 {
        while uf[x as usize] != x {
            uf[x as usize] = uf[uf[x as usize] as usize];
            x = uf[x as usize];
        }
        x
    }
    for &(a, b, h) in &merges {
        if f64::from(h) <= cut {
            let (ra, rb) = (find(&mut uf, a as u32), find(&mut uf, b as u32));
            let (lo, hi) = (ra.min(rb), ra.max(rb));
            uf[hi as usize] = lo;
        }
    }
    (0..n as u32).map(|i| find(&mut uf, i)).collect()
}

#[cfg(test)]
mod tests;
