//! Test helpers shared by every crate's tests (a dev-dependency only):
//!
//! * **Skips that cannot hide in CI.** A test that needs root, a BTF kernel, a tool or a
//!   mount calls [`require`] (or [`require_root`], [`require_tool`]); locally it prints
//!   `skipped TEST: REASON` and the test returns, but under `cargo xtask ci` (which sets
//!   [`NO_SKIP`]) the same call **fails** the test, so a CI run can never pass by
//!   skipping what it was meant to check.
//! * **C fixtures built one way.** [`gcc`] compiles a C file with a named [`Flags`] set;
//!   [`fixture`] builds `fixtures/SUBDIR/NAME.c` into a temporary folder.
//! * [`Scratch`]: a temporary folder every user can enter (suites run unprivileged).
//! * [`scenario`]: a synthetic server's syscalls, trace and signature database, with an
//!   injected bug, for the analysis tests and benchmark; [`sigdbs`]: two small releases
//!   of a made-up server's signature database, for format and diff tests.

pub mod scenario;
pub mod sigdbs;

use std::path::{Path, PathBuf};
use std::process::Command;

/// Set (to `1`) by `cargo xtask ci`: every skip becomes a failure.
pub const NO_SKIP: &str = "PERFSCOPE_NO_SKIP";

/// Whether skips are failures in this run.
pub fn skips_fail() -> bool {
    std::env::var_os(NO_SKIP).is_some_and(|v| v == "1")
}

/// `ok`, or a skip of `test` because of `reason`: prints it and returns false locally,
/// panics under `cargo xtask ci`.
#[track_caller]
pub fn require(test: &str, ok: bool, reason: impl std::fmt::Display) -> bool {
    if ok {
        return true;
    }
    assert!(
        !skips_fail(),
        "{test} cannot be skipped under cargo xtask ci ({NO_SKIP}=1): {reason}"
    );
    eprintln!("skipped {test}: {reason}");
    false
}

/// Root (or CAP_BPF + CAP_PERFMON) and a kernel with BTF: what loading perfscope's BPF
/// programs needs.
#[track_caller]
pub fn require_root(test: &str) -> bool {
    require(
        test,
        host::caps::may_trace(),
        "needs root (or CAP_BPF and CAP_PERFMON) to load BPF",
    ) && require(
        test,
        Path::new("/sys/kernel/btf/vmlinux").exists(),
        "the kernel has no BTF (/sys/kernel/btf/vmlinux)",
    )
}

/// Root itself (for tests that switch users or make cgroups).
#[track_caller]
pub fn require_uid0(test: &str) -> bool {
    require(test, host::identity::euid() == 0, "needs root")
}

/// A program on PATH.
#[track_caller]
pub fn require_tool(test: &str, tool: &str) -> bool {
    let found = std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()));
    require(test, found, format!("needs {tool} on PATH"))
}

/// The C library this test process runs with (its path in `/proc/self/maps`), for tests
/// that read its symbols; `None` after [`require`] when none is mapped (a static build).
#[track_caller]
pub fn require_mapped_libc(test: &str) -> Option<String> {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
    let libc = maps
        .lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .find(|p| p.contains("/libc.so"))
        .map(str::to_owned);
    if require(test, libc.is_some(), "this test process maps no libc.so") {
        libc
    } else {
        None
    }
}

/// The workspace root (from `.cargo/config.toml`).
pub fn workspace() -> &'static Path {
    Path::new(env!("CARGO_WORKSPACE_DIR"))
}

/// Compiler flag sets of the C fixtures (each fixture folder's README names its set).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flags {
    /// `-g -O2 -fno-omit-frame-pointer -fcf-protection=none -pthread`: attribution,
    /// stack and server fixtures, as a server is built for training.
    Fixture,
    /// [`Flags::Fixture`] into a shared object (`-shared -fPIC`).
    Shared,
    /// `-g -O1 -fno-omit-frame-pointer -fcf-protection=none`: generated benchmark
    /// programs (thousands of functions, built fast).
    Bench,
    /// `-g -O0 -fno-omit-frame-pointer -fcf-protection=none`: every call kept.
    Debug,
}

impl Flags {
    pub fn args(self) -> &'static [&'static str] {
        const FIXTURE: &[&str] = &[
            "-g",
            "-O2",
            "-fno-omit-frame-pointer",
            "-fcf-protection=none",
            "-pthread",
        ];
        match self {
            Flags::Fixture => FIXTURE,
            Flags::Shared => &[
                "-g",
                "-O2",
                "-fno-omit-frame-pointer",
                "-fcf-protection=none",
                "-pthread",
                "-shared",
                "-fPIC",
            ],
            Flags::Bench => &[
                "-g",
                "-O1",
                "-fno-omit-frame-pointer",
                "-fcf-protection=none",
            ],
            Flags::Debug => &[
                "-g",
                "-O0",
                "-fno-omit-frame-pointer",
                "-fcf-protection=none",
            ],
        }
    }
}

/// Compiles the C file `src` into `out` with `flags` plus `extra`; panics with gcc's
/// message when it fails.
#[track_caller]
pub fn gcc(src: &Path, out: &Path, flags: Flags, extra: &[&str]) {
    let o = Command::new("gcc")
        .args(flags.args())
        .args(extra)
        .arg(src)
        .arg("-o")
        .arg(out)
        .output()
        .expect("running gcc (apt-get install gcc)");
    assert!(
        o.status.success(),
        "gcc {}: {}",
        src.display(),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A fixture built into a temporary folder (removed when dropped).
#[derive(Debug)]
pub struct Built {
    _dir: tempfile::TempDir,
    pub exe: PathBuf,
}

/// Builds `fixtures/SUBDIR/NAME.c` with `flags` into a temporary folder, as `NAME` (or
/// `NAME.so` for [`Flags::Shared`]); the path is canonical.
#[track_caller]
pub fn fixture(subdir: &str, name: &str, flags: Flags) -> Built {
    let dir = tempfile::tempdir().expect("temporary directory");
    let file = if flags == Flags::Shared {
        format!("{name}.so")
    } else {
        name.to_string()
    };
    let exe = dir.path().join(file);
    let src = workspace()
        .join("fixtures")
        .join(subdir)
        .join(format!("{name}.c"));
    gcc(&src, &exe, flags, &[]);
    let exe = exe.canonicalize().expect("canonical fixture path");
    Built { _dir: dir, exe }
}

/// A temporary folder that every user can read and enter (traced suites run as an
/// unprivileged user).
#[derive(Debug)]
pub struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    pub fn new() -> Scratch {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::Builder::new()
            .prefix("perfscope-test-")
            .tempdir()
            .expect("temporary directory");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod the temporary directory");
        Scratch { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn join(&self, name: impl AsRef<Path>) -> PathBuf {
        self.dir.path().join(name)
    }
}

impl Default for Scratch {
    fn default() -> Self {
        Scratch::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_met_requirement_never_skips() {
        assert!(require("t", true, "unused"));
    }

    #[test]
    fn a_fixture_builds_with_its_flags() {
        if !require_tool("a_fixture_builds_with_its_flags", "gcc") {
            return;
        }
        let b = fixture("attribution", "invocations", Flags::Fixture);
        assert!(b.exe.is_file());
        let so = fixture("attribution", "plugin", Flags::Shared);
        assert_eq!(so.exe.extension().and_then(|e| e.to_str()), Some("so"));
    }

    #[test]
    fn an_unmet_requirement_skips_or_fails() {
        // Run in a child so the environment of this process stays as it is.
        let exe = std::env::current_exe().unwrap();
        let run = |no_skip: &str| {
            Command::new(&exe)
                .args(["--exact", "tests::skip_helper", "--nocapture"])
                .env("PERFSCOPE_SKIP_HELPER", "1")
                .env(NO_SKIP, no_skip)
                .output()
                .unwrap()
        };
        let local = run("0");
        assert!(local.status.success());
        assert!(String::from_utf8_lossy(&local.stderr).contains("skipped skip_helper: no reason"));
        let ci = run("1");
        assert!(!ci.status.success(), "a skip must fail under xtask ci");
        assert!(
            String::from_utf8_lossy(&ci.stderr).contains("cannot be skipped under cargo xtask ci")
        );
    }

    #[test]
    fn skip_helper() {
        if std::env::var_os("PERFSCOPE_SKIP_HELPER").is_none() {
            return;
        }
        let _ = require("skip_helper", false, "no reason");
    }
}
