//! Fuzzes the bug-case parser (`eval/ID/case.toml`) through `xtask::case::Case::load`, its
//! only public way in: the text is written as `case.toml` to a scratch folder, with empty
//! files for the workload scripts and patch it names (simple names only), so that the
//! checks of a case reach their end; an accepted case's durations and paths are then
//! computed. None may panic on any text.

#![no_main]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use xtask::case::{Case, CaseFile};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(file) = toml::from_str::<CaseFile>(text) else {
        return;
    };
    let dir = scratch();
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).expect("the scratch folder can be created");
    std::fs::write(dir.join("case.toml"), text).expect("case.toml can be written");
    let w = &file.workload;
    for name in [&w.start, &w.normal, &w.trigger]
        .into_iter()
        .chain(file.patch.as_ref())
    {
        if simple(name) {
            let _ = std::fs::File::options()
                .create(true)
                .append(true)
                .open(dir.join(name));
        }
    }
    if let Ok(case) = Case::load(dir) {
        assert_eq!(case.file, file, "Case::load parsed the text differently");
        let _ = case.id();
        let _ = case.file.kind.as_str();
        let _ = case.normal();
        let _ = case.after_trigger();
        let _ = case.patch();
        let _ = case.script(&case.file.workload.start);
    }
});

/// A folder of this process's own for the case under test.
fn scratch() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        std::env::temp_dir().join(format!("perfscope-fuzz-case-{}", std::process::id()))
    })
}

/// One plain file name: the harness creates only those.
fn simple(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}
