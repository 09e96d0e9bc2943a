//! What a capture session records: mode, which tasks, which functions, buffer sizes.

use std::path::PathBuf;
use std::time::Duration;

use trace::{CaptureMode, FunctionId};

use crate::error::CaptureError;

/// Default ring buffer size: 64 MiB holds 360,000 to a million syscall records (64 to
/// 184 bytes each with the ring's header, depending on the frames), i.e. several drain
/// periods of a syscall storm on every core.
pub const DEFAULT_RING_BYTES: usize = 64 << 20;
/// Default drain period.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_millis(20);
/// Frames of the per-thread shadow stack (the BPF side's `STACK_DEPTH`): deeper
/// application call chains lose their outermost frames, counted in
/// [`Stats::stack_overflows`](crate::Stats::stack_overflows).
pub const STACK_DEPTH: usize = 32;

/// Which tasks are traced. The filter is applied in the kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Filter {
    /// A process and all its descendants, present and future: the set of traced
    /// processes (tgids) is seeded with `root` and its current descendants, gains every
    /// process a traced one forks, and loses processes when their last thread exits.
    Tree { root: u32 },
    /// The processes (tgids) listed, with all their threads; children are not followed.
    Pids(Vec<u32>),
    /// Every task in this cgroup v2 directory or below it (e.g.
    /// `/sys/fs/cgroup/system.slice/nginx.service`).
    Cgroup(PathBuf),
}

/// One function entry probe: where (file offset in the ELF object: the entry, or an
/// instruction of the function's prefix that still has the entry's SP and return address
/// at `[SP]`, see [`trace::Function::probe_offset`]) and which function (the global id of
/// [`trace::Function::id`], the probe's cookie).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Probe {
    pub file_offset: u64,
    pub func: FunctionId,
}

/// The entry probes of one ELF object (executable or shared library). All of them are
/// attached with one `uprobe_multi` link; uprobes sit on the file's inode, so a library
/// a traced process loads later is covered too.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectProbes {
    pub path: PathBuf,
    pub probes: Vec<Probe>,
}

impl ObjectProbes {
    /// The probes of every function of a trace header's object, each at its
    /// `probe_offset` (its entry when there is none).
    pub fn from_object(object: &trace::Object) -> ObjectProbes {
        ObjectProbes {
            path: PathBuf::from(&object.path),
            probes: object
                .functions
                .iter()
                .map(|f| Probe {
                    file_offset: f.probe_offset.unwrap_or(f.file_offset),
                    func: f.id,
                })
                .collect(),
        }
    }
}

/// A capture session's configuration. Start from [`Config::full`] or
/// [`Config::syscalls_only`] and adjust the public fields.
#[derive(Clone, Debug)]
pub struct Config {
    /// `Full`: function entry probes, shadow stacks, syscalls with their frames
    /// (training). `SyscallsOnly`: no uprobes (production).
    pub mode: CaptureMode,
    pub filter: Filter,
    /// Objects to probe at start (`Full` only); more can be attached later with
    /// [`Session::attach`](crate::Session::attach).
    pub objects: Vec<ObjectProbes>,
    /// Function ids below this are counted (invocation counts); `None`: one more than the
    /// largest id in `objects`. Probes attached later must have ids below it.
    pub function_capacity: Option<u32>,
    /// Ring buffer size in bytes, rounded up to a power of two (at least one page).
    pub ring_bytes: usize,
    /// Frames recorded per syscall, innermost first (at most [`trace::MAX_FRAMES`]).
    pub max_frames: u8,
    /// Period of [`Session::run_until`](crate::Session::run_until)'s drain loop.
    pub poll_interval: Duration,
    /// Attach the syscall programs but record nothing (they return at once): what the
    /// kernel's syscall tracing costs by itself, the floor under any tracer built on it.
    /// For benchmarks; the session delivers no syscalls.
    pub attach_only: bool,
}

impl Config {
    /// Training capture: entry probes on `objects` and syscalls with frames.
    pub fn full(filter: Filter, objects: Vec<ObjectProbes>) -> Config {
        Config {
            mode: CaptureMode::Full,
            objects,
            ..Config::syscalls_only(filter)
        }
    }

    /// Production capture: syscalls only, no uprobes.
    pub fn syscalls_only(filter: Filter) -> Config {
        Config {
            mode: CaptureMode::SyscallsOnly,
            filter,
            objects: Vec::new(),
            function_capacity: None,
            ring_bytes: DEFAULT_RING_BYTES,
            max_frames: trace::MAX_FRAMES as u8,
            poll_interval: DEFAULT_POLL_INTERVAL,
            attach_only: false,
        }
    }

    /// The function capacity this configuration gives the session.
    pub fn effective_function_capacity(&self) -> u32 {
        self.function_capacity.unwrap_or_else(|| {
            self.objects
                .iter()
                .flat_map(|o| o.probes.iter())
                .map(|p| p.func.saturating_add(1))
                .max()
                .unwrap_or(0)
        })
    }

    /// The ring buffer size actually used.
    pub fn effective_ring_bytes(&self) -> usize {
        self.ring_bytes.max(page_size()).next_power_of_two()
    }

    pub(crate) fn validate(&self) -> Result<(), CaptureError> {
        if usize::from(self.max_frames) > trace::MAX_FRAMES {
            return Err(CaptureError::Config(format!(
                "max_frames is {}, at most {} are supported",
                self.max_frames,
                trace::MAX_FRAMES
            )));
        }
        if self.mode == CaptureMode::SyscallsOnly && !self.objects.is_empty() {
            return Err(CaptureError::NotFull);
        }
        // The kernel caps a ring buffer's data area at 2 GiB... minus a page in practice.
        if self.effective_ring_bytes() > (1 << 30) {
            return Err(CaptureError::Config(format!(
                "ring_bytes {} is too large (at most 1 GiB)",
                self.ring_bytes
            )));
        }
        match &self.filter {
            Filter::Pids(p) if p.is_empty() => {
                Err(CaptureError::Config("the pid list is empty".into()))
            }
            Filter::Tree { root: 0 } => Err(CaptureError::Config("root pid 0".into())),
            _ => Ok(()),
        }
    }
}

pub(crate) fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(n).unwrap_or(4096).max(4096)
}
