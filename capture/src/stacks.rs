//! User-stack sampling for a short burst after an alarm: *which function* a misbehaving
//! thread is in, while production capture stays syscalls-only (no uprobes).
//!
//! Three sources, each answering one kind of anomaly:
//!
//! * **on CPU** ([`StackKind::OnCpu`]): a software `cpu-clock` perf event per CPU at
//!   [`StackConfig::on_cpu_hz`] runs a BPF program that samples the current task if it is
//!   traced: a spin makes no syscalls, only this sees it.
//! * **at syscalls** ([`StackKind::Syscall`], with the syscall number): a `sys_enter`
//!   program samples traced threads' syscalls, at most one per thread per
//!   [`StackConfig::syscall_interval`], at random places of the thread's syscall stream
//!   (after each sample a random number of syscalls, below the number seen between the
//!   last two samples, passes unsampled: the first syscall after each wake-up is not
//!   favoured): a slowdown made of extra syscalls.
//! * **blocked** ([`StackKind::Blocked`], with the syscall number): a sleepable BPF task
//!   iterator, run at the start of the burst (and every [`StackConfig::blocked_every`]),
//!   walks the user stack of every traced thread sleeping in a syscall: a hang.
//!
//! Each sample carries the kernel's frame-pointer walk *and* a raw window of the user
//! stack from SP up. Targets are built with `-fno-omit-frame-pointer`, but libc's syscall
//! wrappers are not, so a walk starting in libc skips the application function that
//! called the wrapper; a classic stack scan of the window finds it. User space keeps the
//! frame-pointer frames (trusted) and inserts, in stack order, the window words between SP
//! and the first frame record (BP) that point into an executable file mapping right after
//! a call instruction (`e8 rel32` whose target is code, or an `ff /2` form), dropping
//! copies of chain frames. See `src/bpf/README.md` for where this can be wrong.
//!
//! # Frames
//!
//! [`trace::Event::Stack::frames`] are [`CodeLocation`]s, innermost first: the mapped
//! file (as `/proc/PID/maps` shows it) and the offset in it (`ip - start + file offset`
//! of the mapping); an empty path and the address itself for code in no file (JIT, the
//! vDSO). `frames[0]` is the user instruction pointer as the kernel saved it (inside a
//! syscall: the instruction after `syscall`, still in the same function). **Every later
//! frame is its return address minus one**, a byte of the call instruction, so that every
//! offset lies inside the function it names: look offsets up as they are, do not
//! subtract again (a `noreturn` call at the end of a function would otherwise name the
//! next function).
//!
//! # Use
//!
//! ```no_run
//! # fn main() -> Result<(), capture::CaptureError> {
//! # let session = capture::Session::start(capture::Config::syscalls_only(
//! #     capture::Filter::Pids(vec![1234])))?;
//! use std::time::Duration;
//! let mut sampler = session.stack_sampler(capture::StackConfig::default())?;
//! let mut stacks = Vec::new();
//! let stats = sampler.sample(Duration::from_secs(1), &mut |ev| stacks.push(ev))?;
//! # Ok(()) }
//! ```
//!
//! A [`StackSampler`] loads its own BPF object next to the session's and shares the
//! session's filter (the process set map itself, or the cgroup), but attaches nothing
//! until a burst starts: between bursts the syscall path costs exactly what it cost
//! without a sampler. [`StackSampler::start`] returns a [`Burst`] for callers that drive
//! their own loop; [`StackSampler::sample`] runs one for a duration. Dropping a burst
//! detaches its perf events and links; dropping the sampler unloads its programs and
//! maps: no kernel state is left behind. Samples come in drain order (the blocked
//! snapshot first), not sorted by time.
//!
//! # Bounds
//!
//! Kernel memory: the ring buffer ([`StackConfig::ring_bytes`], 4 MiB ≈ 5,000 samples of
//! 840 bytes; a full ring drops and counts) and 24 bytes of task storage per traced thread
//! sampled. Samples: [`StackConfig::max_per_thread`] on-CPU and syscall samples per thread
//! and burst, one syscall sample per thread per interval, one blocked sample per thread
//! per pass, [`StackConfig::max_samples`] per burst in all. User memory: the events
//! handed over plus bounded caches of `/proc/PID/maps` and call-site verdicts. Time: a
//! blocked pass costs ~0.1–0.2 ms for ~150 tasks here (it visits every task of the
//! system); a burst's start and finish take well under a millisecond.

mod address_space;
mod perf;
mod record;
mod unwind;

use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, IntoRawFd, OwnedFd};
use std::time::{Duration, Instant};

use libbpf_rs::{Iter, Link, MapCore, MapFlags, Object, ObjectBuilder};
use trace::{CodeLocation, Event, StackKind};

use crate::config::page_size;
use crate::error::CaptureError;
use crate::loader::{self, BpfConfig};
use crate::preflight;
use crate::ring::Ring;

use address_space::AddressSpaces;
use record::{REC_BYTES, RawStack};

/// The BPF object compiled by build.rs from src/bpf/stacks.bpf.c.
static STACKS_OBJECT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/stacks.bpf.o"));

/// Frame-pointer frames a sample can hold (the IP included).
pub const MAX_FP_FRAMES: u8 = record::FP_MAX as u8;
/// Raw stack words a sample can hold.
pub const MAX_WINDOW_WORDS: u8 = record::WINDOW_MAX as u8;

/// Sampler statistics indices (stacks.h `SSTAT_*`).
const SSTAT_DROPS: usize = 0;
const SSTAT_CAPPED: usize = 1;
const SSTAT_RATE_LIMITED: usize = 2;
const SSTAT_NO_STATE: usize = 3;
const SSTAT_NO_WINDOW: usize = 4;
const SSTAT_COUNT: usize = 8;

/// What a stack sampler takes, and how much. Adjust the fields of
/// [`StackConfig::default`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StackConfig {
    /// On-CPU samples per second on each CPU; 0: no on-CPU sampling (no perf events).
    pub on_cpu_hz: u32,
    /// Sample user stacks at the syscalls of traced threads.
    pub syscalls: bool,
    /// Per thread, at least this long between two syscall samples.
    pub syscall_interval: Duration,
    /// Snapshot the threads blocked in a syscall at the start of each burst.
    pub blocked: bool,
    /// ... and again this often during the burst (`None`: only at the start).
    pub blocked_every: Option<Duration>,
    /// On-CPU samples, and syscall samples, per thread and burst (each).
    pub max_per_thread: u32,
    /// Samples handed over per burst, all kinds together; later ones are counted in
    /// [`StackStats::capped`].
    pub max_samples: u32,
    /// Frame-pointer frames per sample, the IP included (at most [`MAX_FP_FRAMES`]).
    pub max_fp_frames: u8,
    /// Raw stack words read from SP per sample (at most [`MAX_WINDOW_WORDS`]).
    pub window_words: u8,
    /// Ring buffer size in bytes, rounded up to a power of two (a sample takes 840).
    pub ring_bytes: usize,
    /// Drain period of [`StackSampler::sample`].
    pub poll_interval: Duration,
}

impl Default for StackConfig {
    fn default() -> StackConfig {
        StackConfig {
            // Not 100: a round rate would beat with periodic work in the target.
            on_cpu_hz: 99,
            syscalls: true,
            syscall_interval: Duration::from_millis(2),
            blocked: true,
            blocked_every: None,
            max_per_thread: 256,
            max_samples: 20_000,
            max_fp_frames: MAX_FP_FRAMES,
            window_words: MAX_WINDOW_WORDS,
            ring_bytes: 4 << 20,
            poll_interval: Duration::from_millis(10),
        }
    }
}

impl StackConfig {
    fn validate(&self) -> Result<(), CaptureError> {
        let bad = |what: String| Err(CaptureError::Config(what));
        if self.max_fp_frames == 0 || self.max_fp_frames > MAX_FP_FRAMES {
            return bad(format!(
                "max_fp_frames is {}, it must be 1 to {MAX_FP_FRAMES}",
                self.max_fp_frames
            ));
        }
        if self.window_words > MAX_WINDOW_WORDS {
            return bad(format!(
                "window_words is {}, at most {MAX_WINDOW_WORDS} are supported",
                self.window_words
            ));
        }
        if self.on_cpu_hz > 10_000 {
            return bad(format!(
                "on_cpu_hz {} is too high for a burst in production (at most 10000)",
                self.on_cpu_hz
            ));
        }
        if self.max_per_thread == 0 || self.max_samples == 0 {
            return bad("max_per_thread and max_samples must be positive".into());
        }
        if self.effective_ring_bytes() > (1 << 30) {
            return bad(format!(
                "ring_bytes {} is too large (at most 1 GiB)",
                self.ring_bytes
            ));
        }
        if self.blocked_every.is_some_and(|d| d.is_zero()) {
            return bad("blocked_every must be positive".into());
        }
        Ok(())
    }

    fn effective_ring_bytes(&self) -> usize {
        self.ring_bytes.max(page_size()).next_power_of_two()
    }
}

/// What a burst did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StackStats {
    /// Samples handed over, by kind.
    pub on_cpu: u64,
    pub syscall: u64,
    pub blocked: u64,
    /// Runs of the blocked-thread iterator.
    pub blocked_passes: u32,
    /// Frames recovered by the stack scan (the frame-pointer walk had skipped them).
    pub scanned_frames: u64,
    /// Samples not taken because a thread reached [`StackConfig::max_per_thread`], or
    /// not handed over past [`StackConfig::max_samples`].
    pub capped: u64,
    /// Syscall samples skipped by [`StackConfig::syscall_interval`].
    pub rate_limited: u64,
    /// Samples lost: the ring buffer was full.
    pub lost: u64,
    /// Samples not taken: no per-thread state could be had.
    pub no_state: u64,
    /// Samples without their raw window (unreadable stack memory).
    pub no_window: u64,
    /// Records that did not decode (a bug: please report).
    pub malformed: u64,
    /// Reads of `/proc/PID/maps`.
    pub maps_reads: u64,
    pub elapsed: Duration,
}

/// A loaded stack sampler; see the [module docs](self).
pub struct StackSampler {
    // Field order is drop order: the ring's mappings go before the object owning the map.
    ring: Ring,
    obj: Object,
    config: StackConfig,
    cpus: Vec<u32>,
    spaces: AddressSpaces,
    burst: u64,
    raw: Box<RawStack>,
    addrs: Vec<u64>,
    iter_buf: Vec<u8>,
}

/// Mirror of stacks.h `struct stack_config` (40 bytes, native endian).
fn config_bytes(filter: &BpfConfig, c: &StackConfig) -> [u8; 40] {
    let mut b = [0u8; 40];
    let mut put = |off: usize, v: &[u8]| b[off..off + v.len()].copy_from_slice(v);
    put(0, &filter.self_tgid.to_ne_bytes());
    put(4, &filter.filter.to_ne_bytes());
    put(8, &filter.cgroup_id.to_ne_bytes());
    put(16, &filter.cgroup_level.to_ne_bytes());
    put(20, &u32::from(c.max_fp_frames).to_ne_bytes());
    put(24, &u32::from(c.window_words).to_ne_bytes());
    put(28, &c.max_per_thread.to_ne_bytes());
    let interval = u64::try_from(c.syscall_interval.as_nanos()).unwrap_or(u64::MAX);
    put(32, &interval.to_ne_bytes());
    b
}

fn load(
    filter: &BpfConfig,
    tgids: BorrowedFd<'_>,
    config: &StackConfig,
) -> Result<Object, CaptureError> {
    loader::install_log();
    let load_err = |source| CaptureError::Load {
        log_tail: loader::log_tail(),
        source,
    };
    let mut open = ObjectBuilder::default()
        .open_memory(STACKS_OBJECT)
        .map_err(load_err)?;
    let mut rodata = false;
    for mut map in open.maps_mut() {
        let name = map.name().to_string_lossy().into_owned();
        let res = match name.as_str() {
            "tgids" => map.reuse_fd(tgids),
            "stack_events" => map.set_max_entries(config.effective_ring_bytes() as u32),
            n if n.ends_with(".rodata") => {
                let value = map.initial_value_mut().ok_or_else(|| {
                    CaptureError::Layout("the sampler's .rodata has no initial value".into())
                })?;
                let bytes = config_bytes(filter, config);
                if value.len() != bytes.len() {
                    return Err(CaptureError::Layout(format!(
                        "the sampler's .rodata is {} bytes, expected {}",
                        value.len(),
                        bytes.len()
                    )));
                }
                value.copy_from_slice(&bytes);
                rodata = true;
                Ok(())
            }
            _ => Ok(()),
        };
        res.map_err(|source| CaptureError::Map {
            map: "stack sampler setup",
            source,
        })?;
    }
    if !rodata {
        return Err(CaptureError::Layout(
            "the sampler has no .rodata map".into(),
        ));
    }
    for mut prog in open.progs_mut() {
        let wanted = match prog.name().to_str() {
            Some("on_cpu_sample") => config.on_cpu_hz > 0,
            Some("stack_at_syscall") => config.syscalls,
            Some("dump_blocked") => config.blocked,
            _ => true,
        };
        prog.set_autoload(wanted);
    }
    loader::clear_log();
    open.load().map_err(load_err)
}

impl StackSampler {
    /// Loads the sampler's BPF programs for the traced tasks of a session, given by its
    /// BPF-side filter settings and a new fd of its process set map
    /// ([`crate::Session::stack_sampler`] passes them). Attaches nothing: see
    /// [`StackSampler::start`] and [`StackSampler::sample`].
    pub(crate) fn new(
        filter: BpfConfig,
        tgids: OwnedFd,
        config: StackConfig,
    ) -> Result<StackSampler, CaptureError> {
        config.validate()?;
        preflight::check()?;
        if config.blocked && !preflight::kernel_at_least(5, 18) {
            return Err(CaptureError::KernelTooOld {
                release: preflight::kernel_release(),
                feature: "blocked-thread stacks (sleepable task iterators, \
                          bpf_copy_from_user_task; set StackConfig::blocked to false)",
                needs: "5.18",
                source: None,
            });
        }
        let cpus = if config.on_cpu_hz > 0 {
            perf::online_cpus()?
        } else {
            Vec::new()
        };
        let obj = load(&filter, tgids.as_fd(), &config)?;
        drop(tgids); // the loaded object holds its own reference to the map
        let ring_bytes = config.effective_ring_bytes();
        let ring = Ring::new(
            find_map(&obj, "stack_events")?.as_fd(),
            ring_bytes,
            page_size(),
        )
        .map_err(|e| CaptureError::io("mapping the stack ring buffer", e))?;
        Ok(StackSampler {
            ring,
            obj,
            config,
            cpus,
            spaces: AddressSpaces::default(),
            burst: 0,
            raw: Box::default(),
            addrs: Vec::with_capacity(usize::from(MAX_FP_FRAMES) + usize::from(MAX_WINDOW_WORDS)),
            iter_buf: Vec::new(),
        })
    }

    pub fn config(&self) -> &StackConfig {
        &self.config
    }

    /// The ids of the sampler's loaded BPF programs (as `bpftool prog` lists them).
    pub fn prog_ids(&self) -> Vec<u32> {
        self.obj
            .progs()
            .filter_map(|p| libbpf_rs::Program::id_from_fd(p.as_fd()).ok())
            .collect()
    }

    fn attach_err(what: &str) -> impl FnOnce(libbpf_rs::Error) -> CaptureError + '_ {
        move |source| CaptureError::Attach {
            what: what.to_string(),
            source,
        }
    }

    /// Starts a burst: syscall sampling and the per-CPU perf events are attached until
    /// the returned [`Burst`] is finished or dropped. The first [`Burst::poll`] takes the
    /// blocked-thread snapshot.
    pub fn start(&mut self) -> Result<Burst<'_>, CaptureError> {
        self.burst += 1;
        find_map(&self.obj, "stack_burst")?
            .update(
                &0u32.to_ne_bytes(),
                &self.burst.to_ne_bytes(),
                MapFlags::ANY,
            )
            .map_err(|source| CaptureError::Map {
                map: "stack_burst",
                source,
            })?;
        self.spaces.clear();
        // Samples an abandoned (dropped, not finished) burst left behind are not this one's.
        self.ring.consume(|_| {});
        let base = self.kernel_stats()?;
        let mut links = Vec::new();
        if self.config.syscalls {
            let link = program(&self.obj, "stack_at_syscall")?
                .attach()
                .map_err(Self::attach_err("the syscall stack sampler"))?;
            links.push(link);
        }
        if self.config.on_cpu_hz > 0 {
            let prog = program(&self.obj, "on_cpu_sample")?;
            for &cpu in &self.cpus {
                let fd = perf::cpu_clock(cpu, self.config.on_cpu_hz)?;
                let link = prog.attach_perf_event(fd.as_raw_fd()).map_err(|source| {
                    CaptureError::Attach {
                        what: format!("the on-CPU stack sampler to cpu {cpu}"),
                        source,
                    }
                })?;
                // The link owns the perf event from now on, and closes it when dropped.
                let _ = fd.into_raw_fd();
                links.push(link);
            }
        }
        let now = Instant::now();
        Ok(Burst {
            links,
            started: now,
            next_blocked: self.config.blocked.then_some(now),
            base,
            stats: StackStats::default(),
            sampler: self,
        })
    }

    /// Runs a burst for `duration`, draining every [`StackConfig::poll_interval`] into
    /// `sink`; returns its statistics. Everything it attached is detached on return.
    pub fn sample(
        &mut self,
        duration: Duration,
        sink: &mut impl FnMut(Event),
    ) -> Result<StackStats, CaptureError> {
        let poll = self.config.poll_interval;
        let mut burst = self.start()?;
        let end = burst.started + duration;
        loop {
            burst.poll(sink)?;
            let now = Instant::now();
            if now >= end {
                break;
            }
            std::thread::sleep(poll.min(end - now));
        }
        burst.finish(sink)
    }

    /// One blocked-thread snapshot outside a burst: the user stacks of the traced threads
    /// sleeping in a syscall now. Returns how many were handed to `sink`.
    pub fn blocked(&mut self, sink: &mut impl FnMut(Event)) -> Result<usize, CaptureError> {
        if !self.config.blocked {
            return Err(CaptureError::Config(
                "this sampler was made with StackConfig::blocked false".into(),
            ));
        }
        let mut stats = StackStats::default();
        // Snapshots may be far apart: mappings seen by the last one may be gone.
        self.spaces.clear();
        self.spaces.new_batch();
        self.blocked_pass(&mut stats, sink)?;
        Ok(stats.blocked as usize)
    }

    fn blocked_pass(
        &mut self,
        stats: &mut StackStats,
        sink: &mut impl FnMut(Event),
    ) -> Result<(), CaptureError> {
        let link = program(&self.obj, "dump_blocked")?
            .attach()
            .map_err(Self::attach_err("the blocked-thread iterator"))?;
        let mut iter = Iter::new(&link).map_err(Self::attach_err("the blocked-thread iterator"))?;
        self.iter_buf.clear();
        iter.read_to_end(&mut self.iter_buf)
            .map_err(|e| CaptureError::io("reading the blocked-thread iterator", e))?;
        drop(iter);
        drop(link);
        stats.blocked_passes += 1;
        let buf = std::mem::take(&mut self.iter_buf);
        for rec in buf.chunks(REC_BYTES) {
            self.hand_over(rec, stats, sink);
        }
        self.iter_buf = buf;
        Ok(())
    }

    /// Decodes, unwinds and hands over one record.
    fn hand_over(&mut self, rec: &[u8], stats: &mut StackStats, sink: &mut impl FnMut(Event)) {
        Self::convert(
            rec,
            &mut self.raw,
            &mut self.addrs,
            &mut self.spaces,
            self.config.max_samples,
            stats,
            sink,
        );
    }

    fn convert(
        rec: &[u8],
        raw: &mut RawStack,
        addrs: &mut Vec<u64>,
        spaces: &mut AddressSpaces,
        max_samples: u32,
        stats: &mut StackStats,
        sink: &mut impl FnMut(Event),
    ) {
        if record::decode(rec, raw).is_err() {
            stats.malformed += 1;
            return;
        }
        if stats.on_cpu + stats.syscall + stats.blocked >= u64::from(max_samples) {
            stats.capped += 1;
            return;
        }
        stats.scanned_frames += unwind::merge(raw, spaces, addrs) as u64;
        let pid = raw.pid;
        let frames: Vec<CodeLocation> = addrs
            .iter()
            .enumerate()
            .map(|(i, &a)| spaces.location(pid, if i == 0 { a } else { a.wrapping_sub(1) }))
            .collect();
        match raw.kind {
            StackKind::OnCpu => stats.on_cpu += 1,
            StackKind::Syscall => stats.syscall += 1,
            StackKind::Blocked => stats.blocked += 1,
        }
        sink(Event::Stack {
            ts: raw.ts,
            pid,
            tid: raw.tid,
            kind: raw.kind,
            nr: raw.nr,
            frames,
        });
    }

    fn drain(&mut self, stats: &mut StackStats, sink: &mut impl FnMut(Event)) {
        self.spaces.new_batch();
        let StackSampler {
            ring,
            raw,
            addrs,
            spaces,
            config,
            ..
        } = self;
        let max = config.max_samples;
        ring.consume(|rec| Self::convert(rec, raw, addrs, spaces, max, stats, sink));
    }

    /// The kernel side's counters, summed over CPUs.
    fn kernel_stats(&self) -> Result<[u64; SSTAT_COUNT], CaptureError> {
        let map = find_map(&self.obj, "stack_stats")?;
        let mut out = [0u64; SSTAT_COUNT];
        for (i, total) in out.iter_mut().enumerate() {
            let per_cpu = map
                .lookup_percpu(&(i as u32).to_ne_bytes(), MapFlags::ANY)
                .map_err(|source| CaptureError::Map {
                    map: "stack_stats",
                    source,
                })?
                .unwrap_or_default();
            *total = per_cpu
                .iter()
                .filter_map(|v| Some(u64::from_ne_bytes(v.get(..8)?.try_into().ok()?)))
                .sum();
        }
        Ok(out)
    }
}

/// A running burst: its perf events and links stay attached until it is finished or
/// dropped.
pub struct Burst<'s> {
    // Dropped first: detaches before anything else goes.
    links: Vec<Link>,
    sampler: &'s mut StackSampler,
    started: Instant,
    next_blocked: Option<Instant>,
    base: [u64; SSTAT_COUNT],
    stats: StackStats,
}

impl Burst<'_> {
    /// Drains the samples taken so far into `sink`, and takes a blocked-thread snapshot
    /// when one is due (the first poll, then every [`StackConfig::blocked_every`]).
    /// Returns the samples handed over. Does not block.
    pub fn poll(&mut self, sink: &mut impl FnMut(Event)) -> Result<usize, CaptureError> {
        let before = self.handed_over();
        if let Some(due) = self.next_blocked
            && Instant::now() >= due
        {
            self.sampler.spaces.new_batch();
            self.sampler.blocked_pass(&mut self.stats, sink)?;
            self.next_blocked = self.sampler.config.blocked_every.map(|d| due + d);
        }
        self.sampler.drain(&mut self.stats, sink);
        Ok((self.handed_over() - before) as usize)
    }

    fn handed_over(&self) -> u64 {
        self.stats.on_cpu + self.stats.syscall + self.stats.blocked
    }

    /// The ids of the burst's BPF links (perf events and syscall hook).
    pub fn link_ids(&self) -> Vec<u32> {
        self.links
            .iter()
            .filter_map(|l| l.info().ok().map(|i| i.id))
            .collect()
    }

    /// Detaches everything, hands over the samples still in the ring buffer, and returns
    /// the burst's statistics.
    pub fn finish(mut self, sink: &mut impl FnMut(Event)) -> Result<StackStats, CaptureError> {
        // Detaching waits for running programs: every record is committed after this.
        self.links.clear();
        self.sampler.drain(&mut self.stats, sink);
        let now = self.sampler.kernel_stats()?;
        let delta = |i: usize| now[i].saturating_sub(self.base[i]);
        let mut stats = self.stats;
        stats.lost = delta(SSTAT_DROPS);
        stats.capped += delta(SSTAT_CAPPED);
        stats.rate_limited = delta(SSTAT_RATE_LIMITED);
        stats.no_state = delta(SSTAT_NO_STATE);
        stats.no_window = delta(SSTAT_NO_WINDOW);
        stats.maps_reads = self.sampler.spaces.maps_reads;
        stats.elapsed = self.started.elapsed();
        tracing::debug!(?stats, "stack burst finished");
        Ok(stats)
    }
}

fn find_map<'a>(obj: &'a Object, name: &str) -> Result<libbpf_rs::Map<'a>, CaptureError> {
    obj.maps()
        .find(|m| m.name() == name)
        .ok_or_else(|| CaptureError::Layout(format!("no BPF map {name} in the stack sampler")))
}

fn program<'a>(obj: &'a Object, name: &str) -> Result<libbpf_rs::ProgramMut<'a>, CaptureError> {
    obj.progs_mut()
        .find(|p| p.name() == name)
        .ok_or_else(|| CaptureError::Layout(format!("no BPF program {name} in the stack sampler")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_layout() {
        let filter = BpfConfig {
            self_tgid: 7,
            filter: loader::FILTER_CGROUP,
            cgroup_id: 0x0102_0304_0506_0708,
            cgroup_level: 3,
            ..BpfConfig::default()
        };
        let b = config_bytes(&filter, &StackConfig::default());
        assert_eq!(u32::from_ne_bytes(b[0..4].try_into().unwrap()), 7);
        assert_eq!(
            u64::from_ne_bytes(b[8..16].try_into().unwrap()),
            0x0102_0304_0506_0708
        );
        assert_eq!(u32::from_ne_bytes(b[20..24].try_into().unwrap()), 32);
        assert_eq!(u32::from_ne_bytes(b[24..28].try_into().unwrap()), 64);
        assert_eq!(u32::from_ne_bytes(b[28..32].try_into().unwrap()), 256);
        assert_eq!(u64::from_ne_bytes(b[32..40].try_into().unwrap()), 2_000_000);
    }

    #[test]
    fn config_validation() {
        assert!(StackConfig::default().validate().is_ok());
        for bad in [
            StackConfig {
                max_fp_frames: 0,
                ..StackConfig::default()
            },
            StackConfig {
                max_fp_frames: MAX_FP_FRAMES + 1,
                ..StackConfig::default()
            },
            StackConfig {
                window_words: MAX_WINDOW_WORDS + 1,
                ..StackConfig::default()
            },
            StackConfig {
                max_per_thread: 0,
                ..StackConfig::default()
            },
            StackConfig {
                blocked_every: Some(Duration::ZERO),
                ..StackConfig::default()
            },
        ] {
            assert!(
                matches!(bad.validate(), Err(CaptureError::Config(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn embedded_object_is_bpf_elf() {
        assert_eq!(&STACKS_OBJECT[..4], b"\x7fELF");
        assert_eq!(
            u16::from_ne_bytes([STACKS_OBJECT[18], STACKS_OBJECT[19]]),
            247
        );
    }
}
