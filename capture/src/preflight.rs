//! Checks made before loading anything, so that a missing privilege or kernel feature is
//! reported by name rather than as an EPERM deep inside libbpf.

use std::path::Path;

use crate::error::CaptureError;

const BTF: &str = "/sys/kernel/btf/vmlinux";

/// Whether this process may load and attach perfscope's BPF programs: root, or
/// CAP_BPF + CAP_PERFMON (or CAP_SYS_ADMIN) in the effective set.
pub fn privileged() -> bool {
    host::caps::may_trace()
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
        let have =
            host::caps::effective().map_or_else(|| "unknown".to_string(), |c| format!("{c:#x}"));
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
}
