//! The HTML report: self-contained, and rendered by a real browser (headless Chromium,
//! skipped with a reason when it is not installed). `PERFSCOPE_KEEP_HTML=DIR` keeps the
//! page and its screenshot for a look.

use testkit::scenario as common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

fn chromium() -> Option<PathBuf> {
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|c| {
            let out = Command::new("sh")
                .args(["-c", &format!("command -v {c}")])
                .output()
                .ok()?;
            out.status
                .success()
                .then(|| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
        })
}

/// Runs headless Chromium on `page` with `action` (`--screenshot=...` or `--dump-dom`).
fn browse(browser: &Path, page: &Path, profile: &Path, action: &str) -> std::process::Output {
    Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--window-size=1400,1800")
        .arg(action)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("running chromium")
}

fn report_page(dir: &Path, bug: Bug) -> PathBuf {
    let db = dir.join("demo.sigdb");
    sigdb::write(&sigdb(40, BUILD_ID), &db).unwrap();
    let trace = dir.join("t.trace");
    write_trace(
        &trace,
        &Scenario {
            bug,
            ..Scenario::default()
        },
        BUILD_ID,
    );
    let html = dir.join(format!("{bug:?}.html"));
    let out = Command::new(env!("CARGO_BIN_EXE_perfscope"))
        .args(["analyze", "--db"])
        .arg(&db)
        .arg(&trace)
        .arg("--html")
        .arg(&html)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    html
}

#[test]
fn the_page_is_self_contained_and_says_what_the_report_says() {
    let dir = tempfile::tempdir().unwrap();
    let page = std::fs::read_to_string(report_page(dir.path(), Bug::SlowFlush)).unwrap();
    for needle in [
        "<svg",
        INJECTED,
        "onset (detected)",
        ">alarm<",
        "Syscall path",
        "clock_nanosleep",
        "worker/",
    ] {
        assert!(page.contains(needle), "no {needle:?} in the page");
    }
    // nothing fetched from anywhere: no scripts, no links, no external images or fonts
    for banned in ["<script", "src=", "href=", "url(", "@import"] {
        assert!(!page.contains(banned), "{banned:?} in the page");
    }
}

#[test]
fn chromium_renders_the_page() {
    let browser = chromium();
    if !testkit::require(
        "chromium_renders_the_page",
        browser.is_some(),
        "chromium is not installed (apt-get install chromium)",
    ) {
        return;
    }
    let browser = browser.unwrap_or_default();
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("profile");
    for bug in [Bug::SlowFlush, Bug::Spin] {
        let html = report_page(dir.path(), bug);
        let dom = browse(&browser, &html, &profile, "--dump-dom");
        let dom = String::from_utf8_lossy(&dom.stdout);
        assert!(
            dom.contains("Most likely responsible functions"),
            "{dom:.400}"
        );
        assert!(dom.contains("<rect"), "the timeline is in the DOM");
        let png = dir.path().join(format!("{bug:?}.png"));
        let out = browse(
            &browser,
            &html,
            &profile,
            &format!("--screenshot={}", png.display()),
        );
        assert!(
            png.exists(),
            "no screenshot: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // a blank page of the same size compresses to almost nothing
        let blank_html = dir.path().join("blank.html");
        std::fs::write(&blank_html, "<!DOCTYPE html><html><body></body></html>").unwrap();
        let blank = dir.path().join("blank.png");
        browse(
            &browser,
            &blank_html,
            &profile,
            &format!("--screenshot={}", blank.display()),
        );
        let (got, empty) = (
            std::fs::metadata(&png).unwrap().len(),
            std::fs::metadata(&blank).map(|m| m.len()).unwrap_or(0),
        );
        assert!(
            got > 10 * empty.max(1_000),
            "screenshot {got} bytes, blank {empty}"
        );
        assert_eq!(&std::fs::read(&png).unwrap()[..8], b"\x89PNG\r\n\x1a\n");
        if let Ok(keep) = std::env::var("PERFSCOPE_KEEP_HTML") {
            std::fs::create_dir_all(&keep).unwrap();
            std::fs::copy(&png, Path::new(&keep).join(png.file_name().unwrap())).unwrap();
            std::fs::copy(&html, Path::new(&keep).join(html.file_name().unwrap())).unwrap();
        }
    }
}
