//! From frequent episodes to signatures: closed or maximal selection, IDF weights, the
//! order "most specific first", and the cap per function.

use rustc_hash::FxHashMap;

use crate::episode::EventType;
use crate::mining::Frequent;
use crate::params::Selection;

/// The frequent episodes that `selection` keeps, in their input order.
///
/// It is enough to look at super-episodes one node longer: if β ⊂ γ with γ frequent and
/// longer by more than one node, every δ with β ⊂ δ ⊂ γ is frequent (both frequency
/// measures are anti-monotone) and, for the closed test, has the same counts as β.
pub fn select(frequent: &[Frequent], selection: Selection) -> Vec<Frequent> {
    if selection == Selection::All {
        return frequent.to_vec();
    }
    let index: FxHashMap<&[EventType], usize> = frequent
        .iter()
        .enumerate()
        .map(|(i, f)| (f.episode.as_slice(), i))
        .collect();
    let mut dropped = vec![false; frequent.len()];
    let mut sub = Vec::new();
    for sup in frequent.iter().filter(|f| f.episode.len() >= 2) {
        for skip in 0..sup.episode.len() {
            sub.clear();
            sub.extend(
                sup.episode
                    .iter()
                    .enumerate()
                    .filter(|&(j, _)| j != skip)
                    .map(|(_, &t)| t),
            );
            if let Some(&b) = index.get(sub.as_slice())
                && (selection == Selection::Maximal || frequent[b].count == sup.count)
            {
                dropped[b] = true;
            }
        }
    }
    frequent
        .iter()
        .zip(dropped)
        .filter(|(_, d)| !d)
        .map(|(f, _)| f.clone())
        .collect()
}

/// The signature of every function: `selected[i]` are function i's kept episodes,
/// `invocations[i]` its support denominator, `names` the syscall name of each event type.
///
/// weight = ln(functions with a signature / functions whose signature has the episode),
/// over all records (the outside pseudo-function included); then the episodes are sorted
/// by weight, length and support (all descending), then by names, and cut to
/// `max_episodes` (0: no cap). Values are rounded to 6 decimals before sorting, so the
/// order is the one a reader of the file can check.
pub fn signatures(
    selected: &[Vec<Frequent>],
    invocations: &[u64],
    names: &[String],
    max_episodes: u32,
) -> Vec<Vec<sigdb::Episode>> {
    let mut df: FxHashMap<&[EventType], u32> = FxHashMap::default();
    for sel in selected {
        for f in sel {
            *df.entry(f.episode.as_slice()).or_insert(0) += 1;
        }
    }
    let with_sig = selected.iter().filter(|s| !s.is_empty()).count() as f64;
    selected
        .iter()
        .zip(invocations)
        .map(|(sel, &inv)| {
            let mut eps: Vec<sigdb::Episode> = sel
                .iter()
                .map(|f| sigdb::Episode {
                    events: f
                        .episode
                        .iter()
                        .map(|&t| names[usize::from(t)].clone())
                        .collect(),
                    occurrences: f.count.occurrences,
                    invocations: f.count.segments,
                    sumsq: Some(f.count.sumsq),
                    support: sigdb::round6(f.count.occurrences as f64 / inv.max(1) as f64),
                    weight: sigdb::round6((with_sig / f64::from(df[f.episode.as_slice()])).ln()),
                })
                .collect();
            eps.sort_by(|a, b| {
                b.weight
                    .total_cmp(&a.weight)
                    .then(b.events.len().cmp(&a.events.len()))
                    .then(b.support.total_cmp(&a.support))
                    .then_with(|| a.events.cmp(&b.events))
            });
            if max_episodes > 0 {
                eps.truncate(max_episodes as usize);
            }
            eps
        })
        .collect()
}

#[cfg(test)]
mod tests;
