//! Where reports go: stdout in the chosen format, and report files (text, JSON Lines,
//! HTML) for the watcher's `--report-dir`.

use std::io::Write;
use std::path::{Path, PathBuf};

use analysis::report::Report;
use analysis::window::Window;
use anyhow::Context;

use crate::cli::Format;
use crate::html;

/// The report as `format` renders it.
pub fn render(r: &Report, format: Format) -> String {
    match format {
        Format::Text => r.to_text(),
        Format::Json => r.to_json_lines(),
    }
}

/// Prints to stdout; a closed stdout (a pipe whose reader left) is not an error worth
/// dying for, so it is reported and ignored.
pub fn print(text: &str) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        eprintln!("perfscope: cannot write to stdout: {e}");
    }
}

/// Writes `DIR/alarm-<n>.txt`, `.json` and `.html`; returns the paths.
pub fn write_all(dir: &Path, n: u64, r: &Report, w: &Window) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("creating the report directory {}", dir.display()))?;
    let base = dir.join(format!("alarm-{n}"));
    let files = [
        (base.with_extension("txt"), r.to_text()),
        (base.with_extension("json"), r.to_json_lines()),
        (base.with_extension("html"), html::page(r, w)),
    ];
    let mut paths = Vec::new();
    for (path, body) in files {
        write_atomic(&path, body.as_bytes())?;
        paths.push(path);
    }
    Ok(paths)
}

/// Writes through a temporary file and a rename, so a reader never sees half a report.
pub fn write_atomic(path: &Path, body: &[u8]) -> anyhow::Result<()> {
    let tmp = path.with_extension(format!(
        "{}.tmp",
        path.extension().and_then(|e| e.to_str()).unwrap_or("")
    ));
    std::fs::write(&tmp, body).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
