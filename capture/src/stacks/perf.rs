//! The per-CPU `cpu-clock` perf events that drive on-CPU stack samples: opened disabled,
//! handed to libbpf (which attaches the program, enables the event and, from then on,
//! owns and closes the fd).

use std::io;
use std::os::fd::{FromRawFd, OwnedFd};

use crate::error::CaptureError;

const PERF_TYPE_SOFTWARE: u32 = 1;
const PERF_COUNT_SW_CPU_CLOCK: u64 = 0;
/// `perf_event_attr` up to `config1`: the first published layout, which every kernel
/// accepts (later fields default to zero).
const PERF_ATTR_SIZE_VER0: u32 = 64;
const PERF_FLAG_FD_CLOEXEC: libc::c_ulong = 8;

// perf_event_attr flag bits.
const DISABLED: u64 = 1 << 0;
const EXCLUDE_HV: u64 = 1 << 6;
const EXCLUDE_IDLE: u64 = 1 << 7;
const FREQ: u64 = 1 << 10;

/// `struct perf_event_attr` (include/uapi/linux/perf_event.h) as of PERF_ATTR_SIZE_VER0.
#[repr(C)]
#[derive(Default)]
struct PerfEventAttr {
    kind: u32,
    size: u32,
    config: u64,
    sample_freq: u64,
    sample_type: u64,
    read_format: u64,
    flags: u64,
    wakeup_events: u32,
    bp_type: u32,
    config1: u64,
}

const _: () = assert!(std::mem::size_of::<PerfEventAttr>() == PERF_ATTR_SIZE_VER0 as usize);

/// Opens a disabled software cpu-clock event on `cpu` for every task, sampling at `hz`.
/// No sample type: the BPF program attached to it reads what it needs itself (and
/// bpf_get_stack walks the user stack only when the event records no callchain).
pub(crate) fn cpu_clock(cpu: u32, hz: u32) -> Result<OwnedFd, CaptureError> {
    let attr = PerfEventAttr {
        kind: PERF_TYPE_SOFTWARE,
        size: PERF_ATTR_SIZE_VER0,
        config: PERF_COUNT_SW_CPU_CLOCK,
        sample_freq: u64::from(hz),
        flags: DISABLED | FREQ | EXCLUDE_HV | EXCLUDE_IDLE,
        ..PerfEventAttr::default()
    };
    // SAFETY: attr is a valid, fully initialised perf_event_attr of the size it declares;
    // pid -1 with a cpu means every task on that cpu; no group fd.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_perf_event_open,
            &attr as *const PerfEventAttr,
            -1 as libc::pid_t,
            cpu as libc::c_int,
            -1 as libc::c_int,
            PERF_FLAG_FD_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(CaptureError::PerfEvent {
            cpu,
            source: io::Error::last_os_error(),
        });
    }
    // SAFETY: a fresh fd the kernel just returned, owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) })
}

/// The online CPUs, from /sys/devices/system/cpu/online (e.g. `0-3,8`); perf events can
/// only be opened on those.
pub(crate) fn online_cpus() -> Result<Vec<u32>, CaptureError> {
    const ONLINE: &str = "/sys/devices/system/cpu/online";
    let text = std::fs::read_to_string(ONLINE)
        .map_err(|e| CaptureError::io(format!("reading {ONLINE}"), e))?;
    parse_cpu_list(&text).ok_or_else(|| {
        CaptureError::io(
            format!("parsing {ONLINE}"),
            io::Error::new(io::ErrorKind::InvalidData, text.trim().to_string()),
        )
    })
}

fn parse_cpu_list(text: &str) -> Option<Vec<u32>> {
    let mut out = Vec::new();
    for part in text.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (u32, u32) = (a.parse().ok()?, b.parse().ok()?);
                if b < a || b - a > 65_536 {
                    return None;
                }
                out.extend(a..=b);
            }
            None => out.push(part.parse().ok()?),
        }
    }
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("0-1\n"), Some(vec![0, 1]));
        assert_eq!(parse_cpu_list("0,2-3,8"), Some(vec![0, 2, 3, 8]));
        assert_eq!(parse_cpu_list("5"), Some(vec![5]));
        assert_eq!(parse_cpu_list(""), None);
        assert_eq!(parse_cpu_list("3-1"), None);
        assert_eq!(parse_cpu_list("x"), None);
    }
}
