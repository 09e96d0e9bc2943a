//! The address spaces of sampled processes: `/proc/PID/maps`, cached per process and read
//! again on a miss (at most once per drained batch), to turn code addresses into
//! `(file, offset)` and to tell whether a stack word is a return address: it points into
//! an executable file mapping, right after a call instruction (read from the file).

use std::fs::File;
use std::os::unix::fs::FileExt;

use rustc_hash::FxHashMap;
use trace::CodeLocation;

use super::unwind::{CallForm, Code, call_form};

/// Processes and call-site verdicts kept at most; past that the caches start over, so
/// that a burst over a huge fleet of processes cannot grow without bound.
const MAX_PROCS: usize = 4096;
const MAX_CALL_SITES: usize = 1 << 20;
/// Bytes read before a return address: the longest call form (`3e 4x ff /2` with SIB and
/// disp32: 9 bytes) fits.
const CALL_WINDOW: usize = 16;

/// One line of /proc/PID/maps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Region {
    pub start: u64,
    pub end: u64,
    /// File offset of `start`.
    pub offset: u64,
    pub exec: bool,
    /// Index in [`AddressSpaces::files`] for a file mapping.
    pub file: Option<u32>,
}

struct MappedFile {
    /// As /proc/PID/maps shows it, without a " (deleted)" suffix.
    path: String,
    /// Where to open it: /proc/PID/map_files/START-END of the first process seen mapping
    /// it (the exact file, even deleted or in another mount namespace).
    via: (u32, u64, u64),
    /// Opened on first use; `None` inside when it cannot be.
    handle: Option<Option<File>>,
}

struct Process {
    /// Sorted by start; empty when the process is gone or its maps unreadable.
    regions: Vec<Region>,
    /// The batch in which the maps were last read.
    batch: u64,
}

/// Cached address spaces; [`AddressSpaces::new_batch`] allows one more re-read per process.
#[derive(Default)]
pub(crate) struct AddressSpaces {
    procs: FxHashMap<u32, Process>,
    files: Vec<MappedFile>,
    file_ids: FxHashMap<(u64, u64, String), u32>,
    calls: FxHashMap<(u32, u64), CallForm>,
    batch: u64,
    /// Reads of /proc/PID/maps, for the statistics.
    pub(crate) maps_reads: u64,
}

impl AddressSpaces {
    /// A new drained batch: a process whose maps miss an address may be read again.
    pub(crate) fn new_batch(&mut self) {
        self.batch += 1;
    }

    /// Forgets everything (between bursts: processes come and go, files are replaced).
    pub(crate) fn clear(&mut self) {
        self.procs.clear();
        self.files.clear();
        self.file_ids.clear();
        self.calls.clear();
    }

    fn read_maps(&mut self, pid: u32) -> Vec<Region> {
        self.maps_reads += 1;
        let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/maps")) else {
            return Vec::new();
        };
        let mut regions = Vec::new();
        for line in text.lines() {
            let Some(m) = host::procfs::parse_maps_line(line) else {
                continue;
            };
            let file = m.path.starts_with('/').then(|| {
                let path = m.path.strip_suffix(" (deleted)").unwrap_or(m.path);
                let key = (m.dev, m.inode, path.to_string());
                let next = self.files.len() as u32;
                *self.file_ids.entry(key).or_insert_with(|| {
                    self.files.push(MappedFile {
                        path: path.to_string(),
                        via: (pid, m.start, m.end),
                        handle: None,
                    });
                    next
                })
            });
            regions.push(Region {
                start: m.start,
                end: m.end,
                offset: m.offset,
                exec: m.exec,
                file,
            });
        }
        regions.sort_unstable_by_key(|r| r.start);
        regions
    }

    /// The mapping holding `addr` in process `pid`, reading the maps again on a miss.
    pub(crate) fn region(&mut self, pid: u32, addr: u64) -> Option<Region> {
        if let Some(p) = self.procs.get(&pid) {
            if let Some(r) = find(&p.regions, addr) {
                return Some(r);
            }
            if p.batch == self.batch {
                return None;
            }
        }
        if self.procs.len() >= MAX_PROCS && !self.procs.contains_key(&pid) {
            self.clear();
        }
        let regions = self.read_maps(pid);
        let found = find(&regions, addr);
        self.procs.insert(
            pid,
            Process {
                regions,
                batch: self.batch,
            },
        );
        found
    }

    /// `addr` as a code location: file and file offset, or an empty path and the address
    /// itself when no file maps it (anonymous executable memory: JIT code, the vDSO).
    pub(crate) fn location(&mut self, pid: u32, addr: u64) -> CodeLocation {
        match self.region(pid, addr) {
            Some(Region {
                start,
                offset,
                file: Some(f),
                ..
            }) => CodeLocation {
                path: self.files[f as usize].path.clone(),
                offset: addr - start + offset,
            },
            _ => CodeLocation {
                path: String::new(),
                offset: addr,
            },
        }
    }

    fn open(&mut self, file: u32) -> Option<&File> {
        let f = &mut self.files[file as usize];
        if f.handle.is_none() {
            let (pid, start, end) = f.via;
            let opened = File::open(format!("/proc/{pid}/map_files/{start:x}-{end:x}"))
                .or_else(|_| File::open(format!("/proc/{pid}/root{}", f.path)))
                .or_else(|_| File::open(&f.path))
                .ok();
            f.handle = Some(opened);
        }
        f.handle.as_ref().and_then(Option::as_ref)
    }

    /// The call instruction that ends right before file offset `offset` of `file`, if any.
    fn call_before(&mut self, file: u32, offset: u64) -> CallForm {
        if let Some(&c) = self.calls.get(&(file, offset)) {
            return c;
        }
        let start = offset.saturating_sub(CALL_WINDOW as u64);
        let len = (offset - start) as usize;
        let mut buf = [0u8; CALL_WINDOW];
        let form = match self.open(file) {
            Some(h) if h.read_exact_at(&mut buf[..len], start).is_ok() => call_form(&buf[..len]),
            _ => CallForm::None,
        };
        if self.calls.len() >= MAX_CALL_SITES {
            self.calls.clear();
        }
        self.calls.insert((file, offset), form);
        form
    }
}

impl Code for AddressSpaces {
    fn known(&mut self, pid: u32) -> bool {
        if !self.procs.contains_key(&pid) {
            // Reads the maps (the address is irrelevant).
            self.region(pid, 0);
        }
        self.procs.get(&pid).is_some_and(|p| !p.regions.is_empty())
    }

    fn executable(&mut self, pid: u32, addr: u64) -> bool {
        self.region(pid, addr).is_some_and(|r| r.exec)
    }

    fn after_call(&mut self, pid: u32, addr: u64) -> bool {
        let Some(r) = self.region(pid, addr) else {
            return false;
        };
        let (true, Some(file)) = (r.exec, r.file) else {
            return false;
        };
        match self.call_before(file, addr - r.start + r.offset) {
            CallForm::None => false,
            CallForm::Indirect => true,
            // A direct call must lead to code: cuts most words that merely end in e8 xx.
            CallForm::Direct(rel) => {
                let target = addr.wrapping_add_signed(i64::from(rel));
                self.executable(pid, target)
            }
        }
    }
}

fn find(regions: &[Region], addr: u64) -> Option<Region> {
    let i = regions.partition_point(|r| r.start <= addr);
    let r = regions.get(i.checked_sub(1)?)?;
    (addr < r.end).then_some(*r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_code_is_mapped() {
        let mut spaces = AddressSpaces::default();
        let me = std::process::id();
        let here = own_code_is_mapped as fn() as usize as u64;
        let loc = spaces.location(me, here);
        let exe = std::fs::read_link("/proc/self/exe").unwrap();
        assert_eq!(loc.path, exe.to_string_lossy());
        assert!(spaces.executable(me, here));
        let stack_var = 0u64;
        assert!(!spaces.executable(me, &stack_var as *const u64 as u64));
        let unmapped = spaces.location(me, 8);
        assert_eq!((unmapped.path.as_str(), unmapped.offset), ("", 8));
    }
}
