//! Prints how many functions of an ELF file can reach a system call, by class, and the
//! verdict of the functions named: `cargo run -p symbols --example reach -- ELF [NAME...]`.

use std::collections::BTreeMap;
use std::path::PathBuf;

fn main() {
    let mut args = std::env::args_os().skip(1);
    let Some(path) = args.next().map(PathBuf::from) else {
        eprintln!("usage: reach ELF [NAME...]");
        std::process::exit(2);
    };
    let names: Vec<String> = args.map(|a| a.to_string_lossy().into_owned()).collect();
    let table = match symbols::load(&path, &symbols::LoadOptions::default()) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("reach: {e}");
            std::process::exit(2);
        }
    };
    let mut counts: BTreeMap<(String, String), usize> = BTreeMap::new();
    for f in &table.functions {
        *counts
            .entry((format!("{:?}", f.class), format!("{:?}", f.syscalls)))
            .or_default() += 1;
    }
    for ((class, reach), n) in counts {
        println!("{class:>8} {reach:>8} {n}");
    }
    for f in table.functions.iter().filter(|f| names.contains(&f.name)) {
        println!("{} {:?} {:?}", f.name, f.syscalls, f.entry);
    }
}
