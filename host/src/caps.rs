//! The capabilities of this process, from /proc/self/status: may it trace?

const CAP_SYS_ADMIN: u32 = 21;
const CAP_PERFMON: u32 = 38;
const CAP_BPF: u32 = 39;

/// The effective capability set, if /proc says.
pub fn effective() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_cap_eff(&status)
}

/// Whether this process may load and attach BPF tracing programs: root, or CAP_BPF +
/// CAP_PERFMON (or CAP_SYS_ADMIN) in the effective set.
pub fn may_trace() -> bool {
    effective().is_some_and(suffice)
}

fn suffice(caps: u64) -> bool {
    let has = |c: u32| caps & (1u64 << c) != 0;
    has(CAP_SYS_ADMIN) || (has(CAP_BPF) && has(CAP_PERFMON))
}

fn parse_cap_eff(status: &str) -> Option<u64> {
    let hex = status.lines().find_map(|l| l.strip_prefix("CapEff:"))?;
    u64::from_str_radix(hex.trim(), 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities() {
        let status = "Name:\tx\nCapInh:\t0000000000000000\nCapEff:\t000001ffffffffff\n";
        assert_eq!(parse_cap_eff(status), Some(0x1ff_ffff_ffff));
        assert!(suffice(0x1ff_ffff_ffff));
        assert!(suffice((1 << CAP_BPF) | (1 << CAP_PERFMON)));
        assert!(!suffice(1 << CAP_BPF));
        assert!(suffice(1 << CAP_SYS_ADMIN));
        assert!(!suffice(0));
    }
}
