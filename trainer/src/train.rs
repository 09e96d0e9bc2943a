//! The training pipeline: traces → per-function sequences → mining (parallel per
//! function) → signatures → a signature database and a summary.

use std::collections::BTreeMap;
use std::path::PathBuf;

use rayon::prelude::*;

use crate::collect::{Collected, Collector, OUTSIDE, Progress};
use crate::error::TrainError;
use crate::mining::{self, Frequent};
use crate::params::Params;
use crate::signature;
use crate::summary::Summary;

/// What to train and how.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainOptions {
    pub target_name: String,
    pub target_version: String,
    pub params: Params,
    /// Train on damaged traces too (the database records the damage); otherwise they are
    /// refused with [`TrainError::Damaged`].
    pub keep_going: bool,
}

/// The result of a training run.
#[derive(Clone, Debug)]
pub struct Trained {
    pub sigdb: sigdb::Sigdb,
    pub summary: Summary,
}

/// Trains on the traces at `paths` (in that order). `progress(i, p)` reports reading of
/// trace `i`. Mining runs on the current rayon pool; the result does not depend on its
/// size.
pub fn train(
    paths: &[PathBuf],
    opts: &TrainOptions,
    progress: &mut dyn FnMut(usize, Progress),
) -> Result<Trained, TrainError> {
    opts.params.validate()?;
    if paths.is_empty() {
        return Err(TrainError::NoTraces);
    }
    let mut c = Collector::new(&opts.params);
    for (i, p) in paths.iter().enumerate() {
        c.add_trace(p, &mut |pr| progress(i, pr))?;
    }
    let collected = c.finish();
    collected.check_damage(opts.keep_going)?;
    Ok(build(collected, opts))
}

/// Mines what was collected and builds the database.
pub fn build(collected: Collected, opts: &TrainOptions) -> Trained {
    let p = &opts.params;
    let mp = p.mining();
    let Collected {
        functions,
        syscalls,
        traces,
        objects,
        mut warnings,
        syscalls_outside_app,
        comms,
        damage: _,
    } = collected;

    // heaviest first, so that one big function does not start last on a busy pool
    let mut order: Vec<usize> = (0..functions.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(functions[i].seqs.events()));
    let mut mined: Vec<(usize, Vec<Frequent>, Option<usize>)> = order
        .par_iter()
        .map(|&i| {
            let f = &functions[i];
            if f.seqs.events() == 0 || f.invocations < p.min_invocations {
                return (i, Vec::new(), None);
            }
            let m = mining::mine(&f.seqs.sequence(), f.invocations, &mp);
            (i, signature::select(&m.frequent, p.selection), m.cut_at_len)
        })
        .collect();
    mined.sort_by_key(|m| m.0);

    let mut cut: Vec<String> = Vec::new();
    for (i, _, c) in &mined {
        if let Some(len) = c {
            cut.push(format!("{} (length {len})", functions[*i].info.name));
        }
    }
    if !cut.is_empty() {
        let n = cut.len();
        cut.truncate(10);
        warnings.push(format!(
            "{n} functions have more candidate episodes than --max-candidates ({}) at some \
             length; their signatures stop one node shorter: {}{}",
            p.max_candidates,
            cut.join(", "),
            if n > 10 { ", ..." } else { "" }
        ));
    }

    let selected: Vec<Vec<Frequent>> = mined.into_iter().map(|m| m.1).collect();
    let invocations: Vec<u64> = functions.iter().map(|f| f.invocations).collect();
    let names: Vec<String> = (0..syscalls.len())
        .map(|i| syscalls.name(i as u16))
        .collect();
    let sigs = signature::signatures(&selected, &invocations, &names, p.max_episodes);

    let mut records = Vec::with_capacity(functions.len());
    let mut s = Summary {
        traces: traces.len() as u64,
        events: traces.iter().map(|t| t.events).sum(),
        syscalls: traces.iter().map(|t| t.syscalls).sum(),
        syscalls_outside_app,
        lost_events: traces.iter().map(|t| t.lost).sum(),
        truncated_traces: traces.iter().filter(|t| t.truncated).count() as u64,
        ..Summary::default()
    };
    for ((g, f), episodes) in functions.into_iter().enumerate().zip(sigs) {
        let real = g != OUTSIDE as usize;
        if !real && f.seqs.events() == 0 {
            continue;
        }
        let mut profile = BTreeMap::new();
        for (id, n) in f.seqs.histogram() {
            profile.insert(names[usize::from(id)].clone(), n);
        }
        let inclusive: BTreeMap<String, u64> = f
            .inclusive
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(id, &n)| (names[id].clone(), n))
            .collect();
        let threads: BTreeMap<String, u64> =
            f.threads.iter().fold(BTreeMap::new(), |mut m, (&c, &n)| {
                // two ids never share a name, but adding keeps this independent of that
                *m.entry(comms[c as usize].clone()).or_insert(0) += n;
                m
            });
        let mut ranges = f.ranges;
        ranges.sort_unstable();
        if real {
            s.functions_probed += 1;
            s.functions_hit += u64::from(f.invocations > 0);
            s.functions_with_syscalls += u64::from(f.seqs.events() > 0);
            s.functions_with_signatures += u64::from(!episodes.is_empty());
            s.invocations += f.invocations;
        }
        s.episodes += episodes.len() as u64;
        records.push(sigdb::Record {
            name: f.info.name,
            file: f.info.file,
            line: f.info.line,
            linkage_name: f.info.linkage_name,
            object: f.info.object,
            class: f.info.class,
            invocations: f.invocations,
            invocations_with_syscalls: f.seqs.segments(),
            syscalls: f.seqs.events(),
            profile,
            inclusive,
            threads,
            ranges,
            episodes,
            descriptor: f.info.descriptor,
        });
    }
    if s.events == 0 {
        warnings.push("the traces hold no events: the database has no signatures".into());
    } else if s.functions_with_signatures == 0 {
        warnings.push(
            "no function got a signature: check that the traces are full captures of \
             application code and the thresholds (--min-support, --min-invocations)"
                .into(),
        );
    }
    s.warnings = warnings;

    let header = sigdb::Header {
        format: String::new(),
        version: 0,
        target: sigdb::Target {
            name: opts.target_name.clone(),
            version: opts.target_version.clone(),
            objects: objects.into_iter().collect(),
        },
        training: sigdb::Training {
            tool: p.tool(),
            params: p.to_sigdb(),
            traces,
        },
        coverage: sigdb::Coverage {
            functions_probed: s.functions_probed,
            functions_hit: s.functions_hit,
            functions_with_syscalls: s.functions_with_syscalls,
            functions_with_signatures: s.functions_with_signatures,
            invocations: s.invocations,
            syscalls: s.syscalls,
            syscalls_outside_app: s.syscalls_outside_app,
        },
        records: 0,
        checksum: String::new(),
    };
    Trained {
        sigdb: sigdb::Sigdb::new(header, records),
        summary: s,
    }
}
