//! Fuzzes what perfscope reads of a JVM application's code: a class file
//! (`jvm::classfile::parse`) and a jar (`jvm::scan::list`, its zip reader included). The
//! bytes are parsed as a class file, then written as a jar to a scratch folder and listed.
//! Neither may panic or allocate beyond its bounds on any input.

#![no_main]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(class) = jvm::classfile::parse(data) {
        let _ = format!("{class:?}");
    }
    let jar = scratch().join("app.jar");
    std::fs::write(&jar, data).expect("the scratch jar can be written");
    if let Ok(listing) = jvm::scan::list(&jar, &jvm::scan::Filter::All) {
        let _ = listing.methods.len();
    }
});

/// A folder of this process's own.
fn scratch() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("perfscope-fuzz-jvm-{}", std::process::id()));
        std::fs::create_dir_all(&d).expect("the scratch folder can be created");
        d
    })
}
