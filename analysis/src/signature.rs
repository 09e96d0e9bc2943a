//! The signature database compiled for matching: episodes as syscall-number sequences,
//! deduplicated across functions, with their specificity weights and owners.

use rustc_hash::FxHashMap;
use sigdb::{Class, Sigdb};

/// One function of the database.
#[derive(Clone, Debug)]
pub struct Func {
    pub name: String,
    pub file: Option<String>,
    pub class: Class,
    /// (episode index, support) of its signature.
    pub episodes: Vec<(u32, f64)>,
    /// Sum of the weights of its episodes.
    pub weight: f64,
    /// Thread names it ran under in training, with syscall counts.
    pub threads: Vec<(String, u64)>,
    /// Syscalls (numbers) it or its callees made in training, sorted.
    pub inclusive: Vec<u16>,
    pub invocations: u64,
    pub linkage_name: Option<String>,
    /// File name of its object, and its code as `[file offset, size]` there.
    pub object: String,
    pub ranges: Vec<[u64; 2]>,
}

/// The database, ready for matching.
#[derive(Clone, Debug, Default)]
pub struct Compiled {
    pub funcs: Vec<Func>,
    /// Distinct episodes, as syscall numbers.
    pub episodes: Vec<Vec<u16>>,
    /// Specificity weight per episode (the largest any function gave it).
    pub weight: Vec<f64>,
    /// Functions whose signature holds each episode.
    pub owners: Vec<Vec<u32>>,
    /// Syscall names the database uses that this architecture does not know.
    pub unknown_syscalls: Vec<String>,
    /// Functions with at least one episode.
    pub with_signatures: usize,
    /// Expiry used in training, applied when matching.
    pub expiry_ns: Option<u64>,
    /// The trained objects: path and build-id.
    pub objects: Vec<(String, Option<String>)>,
}

fn nr_of(name: &str, unknown: &mut Vec<String>) -> Option<u16> {
    let nr = trace::syscall_number(name).and_then(|n| u16::try_from(n).ok());
    if nr.is_none() && !unknown.iter().any(|u| u == name) {
        unknown.push(name.to_string());
    }
    nr
}

impl Compiled {
    pub fn new(db: &Sigdb) -> Compiled {
        let mut c = Compiled {
            expiry_ns: db.header.training.params.expiry_ns,
            objects: db
                .header
                .target
                .objects
                .iter()
                .map(|o| (o.path.clone(), o.build_id.clone()))
                .collect(),
            ..Compiled::default()
        };
        let mut index: FxHashMap<Vec<u16>, u32> = FxHashMap::default();
        for (fi, r) in db.records.iter().enumerate() {
            let mut episodes = Vec::with_capacity(r.episodes.len());
            let mut weight = 0.0;
            for e in &r.episodes {
                let seq: Option<Vec<u16>> = e
                    .events
                    .iter()
                    .map(|n| nr_of(n, &mut c.unknown_syscalls))
                    .collect();
                let Some(seq) = seq else { continue };
                let id = *index.entry(seq.clone()).or_insert_with(|| {
                    c.episodes.push(seq);
                    c.weight.push(0.0);
                    c.owners.push(Vec::new());
                    (c.episodes.len() - 1) as u32
                });
                c.weight[id as usize] = c.weight[id as usize].max(e.weight);
                c.owners[id as usize].push(fi as u32);
                episodes.push((id, e.support));
                weight += e.weight;
            }
            if !episodes.is_empty() {
                c.with_signatures += 1;
            }
            let mut inclusive: Vec<u16> = r
                .inclusive
                .keys()
                .chain(r.profile.keys())
                .filter_map(|n| nr_of(n, &mut c.unknown_syscalls))
                .collect();
            inclusive.sort_unstable();
            inclusive.dedup();
            c.funcs.push(Func {
                name: r.name.clone(),
                file: r.file.clone(),
                class: r.class,
                episodes,
                weight,
                threads: r.threads.iter().map(|(k, v)| (k.clone(), *v)).collect(),
                inclusive,
                invocations: r.invocations,
                linkage_name: r.linkage_name.clone(),
                object: r.object.clone(),
                ranges: r.ranges.clone(),
            });
        }
        c
    }

    /// Functions a ranking can name (the pseudo-function for code outside the
    /// application is evidence, not a culprit).
    pub fn total_functions(&self) -> usize {
        self.funcs
            .iter()
            .filter(|f| f.class != Class::Outside)
            .count()
    }
}
