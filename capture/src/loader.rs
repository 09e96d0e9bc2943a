//! Opening, configuring and loading the embedded BPF object.
//!
//! We load with `libbpf_rs::ObjectBuilder` rather than the generated skeleton: a skeleton
//! borrows its object storage, which a long-lived [`Session`](crate::Session) could only
//! own through a self-reference. Maps and programs are looked up by name instead.

use std::collections::VecDeque;
use std::sync::{Mutex, Once};

use libbpf_rs::{Object, ObjectBuilder, PrintLevel};

use crate::error::CaptureError;

/// The BPF object compiled by build.rs from src/bpf/perfscope.bpf.c.
static BPF_OBJECT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/perfscope.bpf.o"));

pub(crate) const FILTER_TGIDS: u32 = 0;
pub(crate) const FILTER_CGROUP: u32 = 1;

/// Mirror of records.h `struct capture_config` (48 bytes, native endian).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct BpfConfig {
    pub self_tgid: u32,
    pub filter: u32,
    pub follow: bool,
    pub full: bool,
    pub cgroup_id: u64,
    pub cgroup_level: u32,
    pub max_frames: u32,
    pub ncpus: u32,
    pub func_capacity: u32,
    pub count_rows: u32,
    pub attach_only: bool,
}

const CONFIG_BYTES: usize = 48;

impl BpfConfig {
    fn to_bytes(self) -> [u8; CONFIG_BYTES] {
        let mut b = [0u8; CONFIG_BYTES];
        let mut put = |off: usize, v: &[u8]| b[off..off + v.len()].copy_from_slice(v);
        put(0, &self.self_tgid.to_ne_bytes());
        put(4, &self.filter.to_ne_bytes());
        put(8, &u32::from(self.follow).to_ne_bytes());
        put(12, &u32::from(self.full).to_ne_bytes());
        put(16, &self.cgroup_id.to_ne_bytes());
        put(24, &self.cgroup_level.to_ne_bytes());
        put(28, &self.max_frames.to_ne_bytes());
        put(32, &self.ncpus.to_ne_bytes());
        put(36, &self.func_capacity.to_ne_bytes());
        put(40, &self.count_rows.to_ne_bytes());
        put(44, &u32::from(self.attach_only).to_ne_bytes());
        b
    }
}

/// Sizes of the maps user space decides.
#[derive(Clone, Copy, Debug)]
pub(crate) struct MapSizes {
    pub ring_bytes: u32,
    pub counters: u32,
}

/// Opens, configures and loads the object. SyscallsOnly sessions do not load the entry
/// program, so they also work on kernels without uprobe_multi.
pub(crate) fn load(cfg: BpfConfig, sizes: MapSizes) -> Result<Object, CaptureError> {
    install_log();
    let load_err = |source| CaptureError::Load {
        log_tail: log_tail(),
        source,
    };
    let mut open = ObjectBuilder::default()
        .open_memory(BPF_OBJECT)
        .map_err(load_err)?;
    let mut rodata = false;
    for mut map in open.maps_mut() {
        let name = map.name().to_string_lossy().into_owned();
        let res = match name.as_str() {
            "events" => map.set_max_entries(sizes.ring_bytes),
            "counters" => map.set_max_entries(sizes.counters),
            n if n.ends_with(".rodata") => {
                let value = map.initial_value_mut().ok_or_else(|| {
                    CaptureError::Layout("the .rodata map has no initial value".into())
                })?;
                if value.len() != CONFIG_BYTES {
                    return Err(CaptureError::Layout(format!(
                        ".rodata is {} bytes, expected {CONFIG_BYTES}",
                        value.len()
                    )));
                }
                value.copy_from_slice(&cfg.to_bytes());
                rodata = true;
                Ok(())
            }
            _ => Ok(()),
        };
        res.map_err(|source| CaptureError::Map {
            map: "sizing",
            source,
        })?;
    }
    if !rodata {
        return Err(CaptureError::Layout("no .rodata map".into()));
    }
    if !cfg.full {
        for mut prog in open.progs_mut() {
            if prog.name() == "on_entry" {
                prog.set_autoload(false);
            }
        }
    }
    clear_log();
    open.load().map_err(load_err)
}

/// Lines libbpf printed, kept so that a load failure can show the verifier's verdict.
static LOG: Mutex<VecDeque<String>> = Mutex::new(VecDeque::new());
const LOG_LINES: usize = 40;

pub(crate) fn install_log() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        libbpf_rs::set_print(Some((PrintLevel::Info, on_libbpf_print)));
    });
}

fn on_libbpf_print(level: PrintLevel, msg: String) {
    match level {
        PrintLevel::Warn => tracing::debug!(target: "libbpf", "{}", msg.trim_end()),
        _ => tracing::trace!(target: "libbpf", "{}", msg.trim_end()),
    }
    let Ok(mut log) = LOG.lock() else { return };
    for line in msg.lines() {
        if log.len() == LOG_LINES {
            log.pop_front();
        }
        log.push_back(line.to_string());
    }
}

pub(crate) fn clear_log() {
    if let Ok(mut log) = LOG.lock() {
        log.clear();
    }
}

pub(crate) fn log_tail() -> String {
    match LOG.lock() {
        Ok(log) if !log.is_empty() => {
            let lines: Vec<&str> = log.iter().map(String::as_str).collect();
            format!(
                "libbpf log (last {} lines):\n{}",
                lines.len(),
                lines.join("\n")
            )
        }
        _ => "libbpf printed nothing".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_layout() {
        let b = BpfConfig {
            self_tgid: 1,
            filter: FILTER_CGROUP,
            follow: true,
            full: true,
            cgroup_id: 0x0102_0304_0506_0708,
            cgroup_level: 3,
            max_frames: 8,
            ncpus: 2,
            func_capacity: 20_000,
            count_rows: 2,
            attach_only: false,
        }
        .to_bytes();
        assert_eq!(
            u32::from_ne_bytes(b[4..8].try_into().unwrap()),
            FILTER_CGROUP
        );
        assert_eq!(
            u64::from_ne_bytes(b[16..24].try_into().unwrap()),
            0x0102_0304_0506_0708
        );
        assert_eq!(u32::from_ne_bytes(b[36..40].try_into().unwrap()), 20_000);
        assert_eq!(&b[44..], &[0; 4]);
    }

    #[test]
    fn embedded_object_is_bpf_elf() {
        assert_eq!(&BPF_OBJECT[..4], b"\x7fELF");
        // e_machine 247 = EM_BPF.
        assert_eq!(u16::from_ne_bytes([BPF_OBJECT[18], BPF_OBJECT[19]]), 247);
    }
}
