//! Prints the function table of an ELF file, one function a line, and how long loading took.
//!
//! `cargo run --release -p symbols --example symbols_dump -- FILE [APP_ROOT...]`

use std::path::PathBuf;
use std::time::Instant;

fn main() {
    let mut args = std::env::args_os().skip(1);
    let Some(path) = args.next().map(PathBuf::from) else {
        eprintln!("usage: symbols_dump FILE [APP_ROOT...]");
        std::process::exit(2);
    };
    let opts = symbols::LoadOptions {
        app_roots: args.map(PathBuf::from).collect(),
    };
    let start = Instant::now();
    let table = match symbols::load(&path, &opts) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    let elapsed = start.elapsed();
    println!(
        "# {} build_id={} pie={} dwarf={} functions={}",
        table.path.display(),
        table.build_id.as_deref().unwrap_or("-"),
        table.pie,
        table.has_dwarf,
        table.functions.len()
    );
    for f in &table.functions {
        println!(
            "{:#x}\t{}\t{:#x}\t+{}\t{:?}\t{:?}\t{}\t{}:{}\t{}",
            f.vaddr,
            f.size,
            f.file_offset,
            f.probe_offset - f.file_offset,
            f.class,
            f.entry,
            f.name,
            f.decl_file.as_deref().unwrap_or("-"),
            f.decl_line.unwrap_or(0),
            f.linkage_name.as_deref().unwrap_or("-"),
        );
    }
    eprintln!("loaded in {:.1} ms", elapsed.as_secs_f64() * 1e3);
}
