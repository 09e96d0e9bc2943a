//! Time to load a function table: a file named by `SYMBOLS_BENCH_FILE`, else this bench
//! binary itself (a Rust program with line-table DWARF).
//!
//! `SYMBOLS_BENCH_FILE=/path/to/postgres cargo bench -p symbols --bench load`

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, criterion_group, criterion_main};

fn load(c: &mut Criterion) {
    let path = std::env::var_os("SYMBOLS_BENCH_FILE")
        .map(PathBuf::from)
        .or_else(|| std::env::current_exe().ok());
    let Some(path) = path else {
        eprintln!("skipped: no file to load");
        return;
    };
    let opts = symbols::LoadOptions::default();
    match symbols::load(&path, &opts) {
        Ok(t) => eprintln!("{}: {} functions", path.display(), t.functions.len()),
        Err(e) => {
            eprintln!("skipped: {e}");
            return;
        }
    }
    c.bench_function("load", |b| {
        b.iter(|| black_box(symbols::load(black_box(&path), &opts)))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = load
}
criterion_main!(benches);
