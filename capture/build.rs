//! Compiles the BPF programs (src/bpf/perfscope.bpf.c) with Debian's clang into
//! `$OUT_DIR/perfscope.bpf.o`, which the crate embeds and loads with libbpf-rs.

use std::env;
use std::path::PathBuf;

use libbpf_cargo::SkeletonBuilder;

const SRC: &str = "src/bpf/perfscope.bpf.c";

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let clang = env::var_os("PERFSCOPE_CLANG").unwrap_or_else(|| "/usr/bin/clang".into());
    if let Err(e) = SkeletonBuilder::new()
        .source(SRC)
        .obj(out.join("perfscope.bpf.o"))
        .clang(&clang)
        .clang_args(["-Isrc/bpf", "-Wall", "-Werror", "-mcpu=v3"])
        .build()
    {
        panic!(
            "building {SRC} with {clang:?} failed (set PERFSCOPE_CLANG to another clang): {e:#}"
        );
    }
    println!("cargo:rerun-if-changed=src/bpf");
    println!("cargo:rerun-if-env-changed=PERFSCOPE_CLANG");
}
