//! Checks made before loading anything, so that a missing privilege or kernel feature is
//! reported by name rather than as an EPERM deep inside libbpf.

use std::path::Path;

use crate::error::CaptureError;

const BTF: &str = "/sys/kernel/btf/vmlinux";

const CAP_SYS_ADMIN: u32 = 21;
const CAP_PERFMON: u32 = 38;
const CAP_BPF: u32 = 39;

/// Whether this process may load and attach perfscope's BPF programs: root, or
/// CAP_BPF + CAP_PERFMON (or CAP_SYS_ADMIN) in the effective set.
pub fn privileged() -> bool {
    effective_caps().is_some_and(caps_suffice)
}

fn caps_suffice(caps: u64) -> bool {
    let has = |c: u32| caps & (1u64 << c) != 0;
    has(CAP_SYS_ADMIN) || (has(CAP_BPF) && has(CAP_PERFMON))
}

fn effective_caps() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_cap_eff(&status)
}

fn parse_cap_eff(status: &str) -> Option<u64> {
    let hex = status.lines().find_map(|l| l.strip_prefix("CapEff:"))?;
    u64::from_str_radix(hex.trim(), 16).ok()
}

/// The kernel release (`uname -r`).
pub fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// `(major, minor)` of a release string such as `6.18.44-fc-v595`.
pub(crate) fn parse_release(release: &str) -> Option<(u32, u32)> {
    let mut it = release.split(['.', '-']);
    let major = it.next()?.parse().ok()?;
    let minor = it.next()?.parse().ok()?;
    Some((major, minor))
}

/// Whether the running kernel is at least `major.minor` (true when it cannot tell).
pub(crate) fn kernel_at_least(major: u32, minor: u32) -> bool {
    parse_release(&kernel_release()).is_none_or(|v| v >= (major, minor))
}

/// Everything [`Session::start`](crate::Session::start) needs from the system.
pub fn check() -> Result<(), CaptureError> {
    if !privileged() {
        let have = effective_caps().map_or_else(|| "unknown".to_string(), |c| format!("{c:#x}"));
        return Err(CaptureError::NotPrivileged { have });
    }
    if !Path::new(BTF).exists() {
        return Err(CaptureError::NoBtf { path: BTF.into() });
    }
    // Task local storage for tracing programs and tp_btf are older; uprobe_multi (6.6)
    // is checked when attaching, so that SyscallsOnly works on 5.x-era kernels with BTF.
    if !kernel_at_least(5, 11) {
        return Err(CaptureError::KernelTooOld {
            release: kernel_release(),
            feature: "task local storage in tracing programs",
            needs: "5.11",
            source: None,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releases() {
        assert_eq!(parse_release("6.18.44-fc-v595"), Some((6, 18)));
        assert_eq!(parse_release("5.10.0-26-amd64"), Some((5, 10)));
        assert_eq!(parse_release("6.6"), Some((6, 6)));
        assert_eq!(parse_release("garbage"), None);
    }

    #[test]
    fn capabilities() {
        let status = "Name:\tx\nCapInh:\t0000000000000000\nCapEff:\t000001ffffffffff\n";
        assert_eq!(parse_cap_eff(status), Some(0x1ff_ffff_ffff));
        assert!(caps_suffice(0x1ff_ffff_ffff));
        assert!(caps_suffice((1 << CAP_BPF) | (1 << CAP_PERFMON)));
        assert!(!caps_suffice(1 << CAP_BPF));
        assert!(caps_suffice(1 << CAP_SYS_ADMIN));
        assert!(!caps_suffice(0));
    }
}
