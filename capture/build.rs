//! Compiles the BPF programs (src/bpf/perfscope.bpf.c, src/bpf/stacks.bpf.c) with
//! Debian's clang into `$OUT_DIR/NAME.bpf.o`, which the crate embeds and loads with
//! libbpf-rs.

use std::env;
use std::path::PathBuf;

use libbpf_cargo::SkeletonBuilder;

/// The BPF sources: `src/bpf/NAME.bpf.c` each.
const OBJECTS: [&str; 2] = ["perfscope", "stacks"];

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let clang = env::var_os("PERFSCOPE_CLANG").unwrap_or_else(|| "/usr/bin/clang".into());
    for name in OBJECTS {
        let src = format!("src/bpf/{name}.bpf.c");
        if let Err(e) = SkeletonBuilder::new()
            .source(&src)
            .obj(out.join(format!("{name}.bpf.o")))
            .clang(&clang)
            .clang_args(["-Isrc/bpf", "-Wall", "-Werror", "-mcpu=v3"])
            .build()
        {
            panic!(
                "building {src} with {clang:?} failed (set PERFSCOPE_CLANG to another clang): {e:#}"
            );
        }
    }
    println!("cargo:rerun-if-changed=src/bpf");
    println!("cargo:rerun-if-env-changed=PERFSCOPE_CLANG");
}
