//! Throughput of the episode counters (events/s) for 1, 100 and 10,000 candidates on a
//! skewed syscall stream, with and without expiry.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use trainer::counter::count;
use trainer::synth;

fn counters(c: &mut Criterion) {
    let stream = synth::stream(1_000_000, 1);
    let seq = stream.sequence();
    let mut g = c.benchmark_group("counter");
    g.throughput(Throughput::Elements(stream.types.len() as u64));
    g.sample_size(10);
    for &n in &[1usize, 100, 10_000] {
        let eps = synth::episodes(n, 4, 7);
        assert_eq!(eps.len(), n);
        g.bench_with_input(BenchmarkId::new("no_expiry", n), &eps, |b, eps| {
            b.iter(|| count(eps, &seq, None))
        });
        g.bench_with_input(BenchmarkId::new("expiry_10ms", n), &eps, |b, eps| {
            b.iter(|| count(eps, &seq, Some(10_000_000)))
        });
    }
    g.finish();
}

criterion_group!(benches, counters);
criterion_main!(benches);
