//! Full mining of a generated 10-million-syscall workload (many functions, many
//! invocations): from collected per-function sequences, and end to end from a trace file.

use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rayon::prelude::*;
use trainer::mining::{MiningParams, mine};
use trainer::{Params, TrainOptions, synth, train};

const EVENTS: usize = 10_000_000;

fn mining(c: &mut Criterion) {
    let program = synth::Program::new(2000, 3);
    let p = Params::default();
    let mp = MiningParams {
        max_len: p.max_episode_len as usize,
        expiry: p.expiry_ns,
        min_support: p.min_support,
        min_coverage: p.min_coverage,
        max_candidates: p.max_candidates,
    };
    let funcs = synth::function_sequences(&program, EVENTS, true, 5);
    let mut g = c.benchmark_group("mining");
    g.sample_size(10);
    g.warm_up_time(Duration::from_secs(1));
    g.throughput(Throughput::Elements(EVENTS as u64));
    g.bench_function("10M_syscalls_sequences", |b| {
        b.iter(|| {
            funcs
                .par_iter()
                .map(|(s, inv)| mine(&s.sequence(), *inv, &mp).frequent.len())
                .sum::<usize>()
        })
    });

    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("synthetic.trace");
    let file = std::io::BufWriter::new(std::fs::File::create(&path).expect("create trace"));
    synth::write_trace(file, &program, EVENTS, 8, 9).expect("write trace");
    let opts = TrainOptions {
        target_name: "synthetic".into(),
        target_version: "0".into(),
        params: p.clone(),
        keep_going: false,
    };
    g.bench_function("10M_syscalls_trace_end_to_end", |b| {
        b.iter(|| {
            train(std::slice::from_ref(&path), &opts, &mut |_, _| {})
                .expect("train")
                .summary
                .episodes
        })
    });
    g.finish();
}

criterion_group!(benches, mining);
criterion_main!(benches);
