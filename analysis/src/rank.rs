//! From evidence to a ranked list of functions: the abnormal units of each evidence are
//! matched against every signature with Laxman's automata, episodes are credited by how
//! much more often they occur in the abnormal units than in the same threads' normal
//! units, weighted by how specific they are, and each function collects, over all
//! evidence, the evidence score times how well its signature matches.

use episodes::{EpisodeSet, Sequence};
use rustc_hash::FxHashMap;

use crate::abnormal::{Evidence, Groups, Kind};
use crate::report::{MatchedEpisode, Reason};
use crate::signature::Compiled;
use crate::unit::Unit;
use crate::window::Window;

#[derive(Clone, Debug, PartialEq)]
pub struct RankParams {
    /// Longest list; `None`: 1.5 % of the database's functions, between 3 and 10.
    pub max_candidates: Option<usize>,
    /// Functions scoring below this share of the best are not listed.
    pub min_share: f64,
    /// Factor for a function that ran under other thread names in training.
    pub other_thread: f64,
    /// Factor for a function without thread information.
    pub unknown_thread: f64,
    /// Evidence matched at most (the strongest).
    pub max_evidence: usize,
}

impl Default for RankParams {
    fn default() -> Self {
        RankParams {
            max_candidates: None,
            min_share: 0.05,
            other_thread: 0.4,
            unknown_thread: 0.8,
            max_evidence: 24,
        }
    }
}

/// The episodes of the database split by length, as the counter wants them.
pub struct Matcher<'a> {
    db: &'a Compiled,
    sets: Vec<(EpisodeSet, Vec<u32>)>,
}

impl<'a> Matcher<'a> {
    pub fn new(db: &'a Compiled) -> Matcher<'a> {
        let mut by_len: FxHashMap<usize, (EpisodeSet, Vec<u32>)> = FxHashMap::default();
        for (i, e) in db.episodes.iter().enumerate() {
            let slot = by_len
                .entry(e.len())
                .or_insert_with(|| (EpisodeSet::new(e.len()), Vec::new()));
            slot.0.push(e);
            slot.1.push(i as u32);
        }
        let mut sets: Vec<_> = by_len.into_values().collect();
        sets.sort_by_key(|s| s.0.episode_len());
        Matcher { db, sets }
    }

    /// Share of the units `sel` in which each episode of the database occurs.
    pub fn presence(&self, w: &Window, units: &[Unit], sel: &[u32]) -> Vec<f32> {
        let mut frac = vec![0f32; self.db.episodes.len()];
        if sel.is_empty() {
            return frac;
        }
        let (mut types, mut ts, mut starts) = (Vec::new(), Vec::new(), Vec::new());
        for &i in sel {
            let u = &units[i as usize];
            starts.push(types.len() as u32);
            for c in u.calls(w) {
                types.push(c.nr);
                ts.push(c.ts);
            }
        }
        // within a unit timestamps are sorted; across units they may step back, which
        // is fine: each unit is its own segment
        let expiry = self.db.expiry_ns.filter(|&t| t > 0);
        let ts_used: &[u64] = if expiry.is_some() { &ts } else { &[] };
        let seq = Sequence::new(&types, ts_used, &starts);
        for (set, ids) in &self.sets {
            let counts = episodes::count(set, &seq, expiry);
            for (k, c) in counts.iter().enumerate() {
                frac[ids[k] as usize] = c.segments as f32 / sel.len() as f32;
            }
        }
        frac
    }
}

/// One function's standing.
#[derive(Clone, Debug)]
pub struct Scored {
    pub func: u32,
    pub score: f64,
    pub reasons: Vec<Reason>,
}

/// How much an episode's presence in the abnormal units counts, given its presence in
/// the normal units of the same threads.
fn credit(kind: Kind, abnormal: f32, normal: f32) -> f64 {
    let (a, n) = (f64::from(abnormal), f64::from(normal));
    match kind {
        // what is new or more frequent: the rise counts
        Kind::New | Kind::MoreFrequent => (a - n).max(0.0),
        // slow units have a normal shape: whatever runs in them may be slow
        Kind::Slower => 0.5 * a,
        // what stopped is more often a victim than the cause
        Kind::Vanished => 0.3 * a,
        // the last work before a thread went quiet or got stuck; ubiquitous episodes
        // say less
        Kind::Spinning | Kind::Silent | Kind::Blocked => a * (1.0 - 0.5 * n),
        // CPU-bound work makes no syscalls to match: only its stacks tell
        Kind::Busier => 0.0,
    }
}

/// Ranks the functions of `m`'s database against `evidence`.
pub fn rank(
    w: &Window,
    units: &[Unit],
    groups: &Groups,
    evidence: &[Evidence],
    m: &Matcher<'_>,
    p: &RankParams,
) -> Vec<Scored> {
    let db = m.db;
    let mut total = vec![0f64; db.funcs.len()];
    let mut reasons: Vec<Vec<Reason>> = vec![Vec::new(); db.funcs.len()];
    let mut normal_cache: FxHashMap<Vec<u32>, Vec<f32>> = FxHashMap::default();
    for (ei, e) in evidence.iter().enumerate().take(p.max_evidence) {
        let fa = m.presence(w, units, &e.units);
        let fnorm = normal_cache
            .entry(e.normal_units.clone())
            .or_insert_with(|| m.presence(w, units, &e.normal_units))
            .clone();
        let mut acc: FxHashMap<u32, (f64, Vec<u32>)> = FxHashMap::default();
        for (ep, (&a, &n)) in fa.iter().zip(&fnorm).enumerate() {
            let c = credit(e.kind, a, n) * db.weight[ep];
            if c <= 0.0 {
                continue;
            }
            for &f in &db.owners[ep] {
                let slot = acc.entry(f).or_default();
                slot.0 += c;
                slot.1.push(ep as u32);
            }
        }
        let group_name = &groups.names[e.group as usize];
        if groups.runtime[e.group as usize] {
            // they run no application code: no signature can explain them
            continue;
        }
        for (f, (sum, eps)) in acc {
            let func = &db.funcs[f as usize];
            if func.weight <= 0.0 || func.class == sigdb::Class::Outside {
                continue;
            }
            let fit = sum / func.weight.sqrt();
            let prior = if func.threads.is_empty() {
                p.unknown_thread
            } else if func.threads.iter().any(|(t, _)| t == group_name) {
                1.0
            } else {
                p.other_thread
            };
            let contribution = e.score * fit * prior;
            total[f as usize] += contribution;
            let mut episodes: Vec<MatchedEpisode> = eps
                .iter()
                .map(|&ep| MatchedEpisode {
                    events: db.episodes[ep as usize]
                        .iter()
                        .map(|&nr| trace::syscall_name(u32::from(nr)).into_owned())
                        .collect(),
                    weight: db.weight[ep as usize],
                    abnormal: f64::from(fa[ep as usize]),
                    normal: f64::from(fnorm[ep as usize]),
                })
                .collect();
            episodes.sort_by(|a, b| {
                (b.weight * (b.abnormal - b.normal))
                    .total_cmp(&(a.weight * (a.abnormal - a.normal)))
                    .then_with(|| a.events.cmp(&b.events))
            });
            episodes.truncate(3);
            reasons[f as usize].push(Reason {
                evidence: ei,
                contribution,
                episodes,
            });
        }
    }
    let mut scored: Vec<Scored> = total
        .iter()
        .enumerate()
        .filter(|&(_, &s)| s > 0.0)
        .map(|(f, &score)| {
            let mut r = std::mem::take(&mut reasons[f]);
            r.sort_by(|a, b| b.contribution.total_cmp(&a.contribution));
            r.truncate(3);
            Scored {
                func: f as u32,
                score,
                reasons: r,
            }
        })
        .collect();
    scored.sort_by(|a, b| {
        b.score.total_cmp(&a.score).then_with(|| {
            db.funcs[a.func as usize]
                .name
                .cmp(&db.funcs[b.func as usize].name)
        })
    });
    scored
}

/// Keeps the functions worth a developer's look: at least `min_share` of the best score,
/// at most the list length of `p` for a database of `total` functions.
pub fn select(mut scored: Vec<Scored>, total: usize, p: &RankParams) -> Vec<Scored> {
    let best = scored.first().map_or(0.0, |s| s.score);
    let cap = p
        .max_candidates
        .unwrap_or_else(|| ((total as f64 * 0.015).ceil() as usize).clamp(3, 10));
    scored.retain(|s| s.score >= p.min_share * best && s.score > 0.0);
    scored.truncate(cap);
    scored
}
