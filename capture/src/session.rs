//! A capture session: the loaded BPF object, its links, and the drain of its ring buffer
//! into trace events.

use std::io::Read;
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use libbpf_rs::{Iter, Link, MapCore, Object, UprobeMultiOpts};
use rustc_hash::FxHashMap;
use trace::{CaptureMode, Event, FunctionId, Syscall};

use crate::config::{Config, Filter, ObjectProbes, page_size};
use crate::counters::{self, Counters, Layout};
use crate::error::CaptureError;
use crate::loader::{self, BpfConfig, MapSizes};
use crate::mmap::Mapping;
use crate::record::{self, EventSink};
use crate::ring::Ring;
use crate::stacks::{StackConfig, StackSampler};
use crate::{monotonic_ns, preflight};

/// Counts what goes to the caller's sink, and drops the ring's copies of syscalls that
/// [`Session::flush`] already handed over.
struct Counting<'a, S> {
    sink: &'a mut S,
    echoed: &'a mut FxHashMap<u32, Vec<(u64, u64)>>,
    events: usize,
    syscalls: u64,
}

impl<S: EventSink> EventSink for Counting<'_, S> {
    fn event(&mut self, ev: Event) {
        if let Event::Exit { tid, .. } = &ev {
            self.echoed.remove(tid);
        }
        self.events += 1;
        self.sink.event(ev);
    }

    fn syscall(&mut self, s: &Syscall) {
        if !self.echoed.is_empty() && is_echo(self.echoed, s.tid, s.ts) {
            return;
        }
        self.events += 1;
        self.syscalls += 1;
        self.sink.syscall(s);
    }
}

/// Tgids the kernel's process set covers (tgidset.h `TGID_LIMIT`: PID_MAX_LIMIT on 64-bit).
const TGID_LIMIT: u32 = 1 << 22;

/// Programs attached for the whole session (the entry program is attached per object).
const TRACEPOINTS: [&str; 6] = [
    "on_sys_enter",
    "on_sys_exit",
    "on_fork",
    "on_exec",
    "on_exit",
    "on_rename",
];

/// What [`Session::attach`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttachInfo {
    pub path: PathBuf,
    /// Probes attached (distinct file offsets).
    pub probes: usize,
    /// Probes dropped because another probe of the object had the same file offset (an
    /// alias: the first function id given for an offset wins).
    pub duplicates: usize,
    /// Wall time of the attach.
    pub took: Duration,
}

/// Counters of a session, cheap enough to read for a progress display.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Events handed to sinks (all kinds).
    pub events: u64,
    /// Syscall events among them.
    pub syscalls: u64,
    /// Records the kernel side could not hand over (ring buffer full), all CPUs.
    pub lost: u64,
    /// Functions invoked at least once.
    pub functions_hit: u32,
    /// Entry probes attached, over `objects` uprobe_multi links.
    pub probes: usize,
    pub objects: usize,
    /// Outermost shadow-stack frames dropped because a thread was more than
    /// [`STACK_DEPTH`](crate::STACK_DEPTH) probed frames deep.
    pub stack_overflows: u64,
    /// Events skipped because a thread's state could not be allocated.
    pub no_state: u64,
    /// JVM threads that announced their shadow stack (the JVM agent's registration).
    pub jvm_threads: u64,
    /// Syscalls of JVM threads whose shadow stack could not be read (attributed to no
    /// method), and syscalls made deeper than a JVM thread's shadow stack holds
    /// (attributed to the deepest stored method, an ancestor of the running one).
    pub jvm_unreadable: u64,
    pub jvm_deep: u64,
    /// New processes not followed because their tgid was beyond the process set (never on
    /// Linux, whose tgids stay below 2^22).
    pub unfollowed: u64,
    /// Records that did not decode (a bug: please report).
    pub malformed: u64,
    /// Bytes waiting in the ring buffer.
    pub backlog_bytes: u64,
}

/// Detaches links on a thread of its own. Detaching a uprobe_multi link removes its
/// probes from every process that maps the file and waits for an RCU grace period
/// (replacing postgres's link of 12,000 probes in its backends takes 200-300 ms, about
/// 200 times in its quick suite): time the capture loop would not drain the ring buffer,
/// and in which both links count entries (see `on_entry`). The thread holds a second file
/// descriptor of each link (the kernel link lives until the last one is closed) and
/// closes it; [`Reaper::wait`] (and dropping) waits until every one is detached.
#[derive(Default)]
struct Reaper {
    tx: Option<std::sync::mpsc::Sender<std::os::fd::OwnedFd>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Reaper {
    /// Detaches `link` off this thread (on this one if no thread can be had).
    fn reap(&mut self, link: Link) {
        use std::os::fd::AsFd;
        let Ok(fd) = link.as_fd().try_clone_to_owned() else {
            return; // dropping `link` detaches it here
        };
        drop(link);
        if self.tx.is_none() {
            let (tx, rx) = std::sync::mpsc::channel::<std::os::fd::OwnedFd>();
            if let Ok(t) = std::thread::Builder::new()
                .name("perfscope-unlink".into())
                .spawn(move || rx.into_iter().for_each(drop))
            {
                self.tx = Some(tx);
                self.thread = Some(t);
            }
        }
        if let Some(tx) = &self.tx {
            // a send fails only when the thread is gone: then the fd is closed here
            let _ = tx.send(fd);
        }
    }

    /// Waits until every link handed over is detached.
    fn wait(&mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Reaper {
    fn drop(&mut self) {
        self.wait();
    }
}

struct EntryLink {
    _link: Link,
    /// What the link probes: its file and probes (deduplicated by offset).
    object: ObjectProbes,
}

/// A running capture. Dropping it detaches everything; [`Session::finish`] also drains
/// what is left and reports in-flight syscalls, invocation counts and losses.
pub struct Session {
    // Field order is drop order: links go first, so nothing runs on freed maps.
    entries: Vec<EntryLink>,
    /// Detaches the links [`Session::mute`] replaced, off the capture loop.
    reaper: Reaper,
    /// Entry-probe links made so far: the next one's generation.
    links_made: std::cell::Cell<u32>,
    tracepoints: Vec<Link>,
    ring: Ring,
    counters: Counters,
    obj: Object,
    /// The filter part of it is shared with stack samplers.
    bpf: BpfConfig,
    mode: CaptureMode,
    filter: Filter,
    capacity: u32,
    poll_interval: Duration,
    /// Comm events of the tasks that existed at start, handed over at the first poll.
    seed: Vec<Event>,
    /// The kernel's process set, a bitmap by tgid, mapped (set with atomic ORs).
    tgid_set: Mapping,
    /// Syscalls handed over from threads' batches by [`Session::flush`]: per thread, the
    /// ranges of entry times already delivered, which the ring must not deliver again.
    echoed: FxHashMap<u32, Vec<(u64, u64)>>,
    /// Where ring records are decoded.
    scratch: Syscall,
    /// Drops per CPU already reported as `Event::Lost`.
    lost_seen: Vec<u64>,
    events: u64,
    syscalls: u64,
    malformed: u64,
}

impl Session {
    /// Checks privileges and kernel support, loads the BPF programs, seeds the filter,
    /// starts tracing syscalls and process events, and attaches the entry probes of
    /// `config.objects`.
    pub fn start(config: Config) -> Result<Session, CaptureError> {
        config.validate()?;
        preflight::check()?;
        let self_tgid = std::process::id();
        let full = config.mode == CaptureMode::Full;
        let capacity = config.effective_function_capacity();
        let ncpus = libbpf_rs::num_possible_cpus().map_err(|e| CaptureError::Map {
            map: "counters",
            source: e,
        })?;
        let layout = Layout::new(ncpus, capacity as usize);
        let ring_bytes = config.effective_ring_bytes();

        let mut bpf = BpfConfig {
            self_tgid,
            filter: loader::FILTER_TGIDS,
            follow: matches!(config.filter, Filter::Tree { .. }),
            full,
            max_frames: u32::from(config.max_frames),
            ncpus: layout.ncpus as u32,
            func_capacity: capacity,
            count_rows: layout.rows as u32,
            attach_only: config.attach_only,
            ..BpfConfig::default()
        };
        match &config.filter {
            Filter::Cgroup(path) => {
                let (id, level) =
                    host::procfs::cgroup_id_level(path).map_err(|reason| CaptureError::Cgroup {
                        path: path.clone(),
                        reason,
                    })?;
                bpf.filter = loader::FILTER_CGROUP;
                bpf.cgroup_id = id;
                bpf.cgroup_level = level;
            }
            Filter::Tree { root } => check_pid(*root, self_tgid)?,
            Filter::Pids(pids) => {
                for &p in pids {
                    check_pid(p, self_tgid)?;
                }
            }
        }
        let sizes = MapSizes {
            ring_bytes: ring_bytes as u32,
            counters: u32::try_from(layout.entries()).map_err(|_| {
                CaptureError::Config(format!("function capacity {capacity} is too large"))
            })?,
        };
        let obj = loader::load(bpf, sizes)?;

        let page = page_size();
        let ring = Ring::new(find_map(&obj, "events")?.as_fd(), ring_bytes, page)
            .map_err(|e| CaptureError::io("mapping the ring buffer", e))?;
        let counters = Counters::new(find_map(&obj, "counters")?.as_fd(), layout, page)
            .map_err(|e| CaptureError::io("mapping the counters", e))?;
        let tgid_set = Mapping::new(
            find_map(&obj, "tgids")?.as_fd(),
            TGID_LIMIT as usize / 8,
            0,
            true,
        )
        .map_err(|e| CaptureError::io("mapping the process set", e))?;

        let mut session = Session {
            entries: Vec::new(),
            reaper: Reaper::default(),
            links_made: std::cell::Cell::new(0),
            tracepoints: Vec::new(),
            ring,
            counters,
            obj,
            bpf,
            mode: config.mode,
            filter: config.filter.clone(),
            capacity,
            poll_interval: config.poll_interval,
            seed: Vec::new(),
            tgid_set,
            echoed: FxHashMap::default(),
            scratch: Syscall::default(),
            lost_seen: vec![0; layout.ncpus],
            events: 0,
            syscalls: 0,
            malformed: 0,
        };
        for name in TRACEPOINTS {
            let link = session
                .program(name)?
                .attach()
                .map_err(|source| CaptureError::Attach {
                    what: format!("BPF program {name}"),
                    source,
                })?;
            session.tracepoints.push(link);
        }
        session.seed_filter()?;
        for object in &config.objects {
            session.attach(object)?;
        }
        Ok(session)
    }

    fn program(&self, name: &str) -> Result<libbpf_rs::ProgramMut<'_>, CaptureError> {
        self.obj
            .progs_mut()
            .find(|p| p.name() == name)
            .ok_or_else(|| CaptureError::Layout(format!("no BPF program {name}")))
    }

    /// Seeds the kernel's process set (after the process tracepoints are attached, then
    /// once more, so that a process forked meanwhile is not missed) and records the names
    /// of the threads that already exist.
    fn seed_filter(&mut self) -> Result<(), CaptureError> {
        let pids = match self.filter.clone() {
            Filter::Tree { root } => {
                self.add_process(root)?;
                // Descendants may exit meanwhile: only the root must exist.
                let mut all = vec![root];
                for _ in 0..2 {
                    for p in host::procfs::descendants(root) {
                        if !all.contains(&p) {
                            self.insert_tgid(p)?;
                            all.push(p);
                        }
                    }
                }
                all
            }
            Filter::Pids(pids) => {
                for &p in &pids {
                    self.add_process(p)?;
                }
                pids
            }
            Filter::Cgroup(path) => host::procfs::cgroup_procs(&path),
        };
        let ts = monotonic_ns();
        for pid in pids {
            for (tid, comm) in host::procfs::threads(pid) {
                self.seed.push(Event::Comm { ts, pid, tid, comm });
            }
        }
        Ok(())
    }

    /// Adds a process (all its threads) to the traced set; with [`Filter::Tree`], its
    /// future children too. Not available with [`Filter::Cgroup`].
    pub fn add_process(&mut self, pid: u32) -> Result<(), CaptureError> {
        if matches!(self.filter, Filter::Cgroup(_)) {
            return Err(CaptureError::Config(
                "a cgroup session traces its cgroup; it has no process set".into(),
            ));
        }
        check_pid(pid, std::process::id())?;
        self.insert_tgid(pid)
    }

    fn insert_tgid(&mut self, pid: u32) -> Result<(), CaptureError> {
        if pid >= TGID_LIMIT {
            return Err(CaptureError::Config(format!(
                "pid {pid} is beyond the kernel's largest ({})",
                TGID_LIMIT - 1
            )));
        }
        let word = (pid / 64) as usize;
        debug_assert!((word + 1) * 8 <= self.tgid_set.len());
        // SAFETY: in bounds (checked), 8-aligned (the mapping is page-aligned), and the
        // mapping lives as long as `self`; the kernel only changes the words atomically.
        let w = unsafe { &*self.tgid_set.as_ptr().cast::<AtomicU64>().add(word) };
        w.fetch_or(1 << (pid % 64), Ordering::SeqCst);
        Ok(())
    }

    /// Attaches the entry probes of one ELF object with a single uprobe_multi link
    /// (cookie = function id; any process: the kernel filters by the traced set).
    pub fn attach(&mut self, object: &ObjectProbes) -> Result<AttachInfo, CaptureError> {
        if self.mode != CaptureMode::Full {
            return Err(CaptureError::NotFull);
        }
        let path = &object.path;
        std::fs::metadata(path).map_err(|source| CaptureError::Object {
            path: path.clone(),
            source,
        })?;
        let mut probes = object.probes.clone();
        if let Some(p) = probes.iter().find(|p| p.func >= self.capacity) {
            return Err(CaptureError::FunctionCapacity {
                path: path.clone(),
                id: p.func,
                capacity: self.capacity,
            });
        }
        // Stable sort: for aliases (same offset), the first given keeps the probe.
        probes.sort_by_key(|p| p.file_offset);
        let given = probes.len();
        probes.dedup_by_key(|p| p.file_offset);
        let duplicates = given - probes.len();
        let started = Instant::now();
        let attached = probes.len();
        if !probes.is_empty() {
            let object = ObjectProbes {
                path: path.clone(),
                probes,
            };
            let link = self.link(&object)?;
            self.entries.push(EntryLink {
                _link: link,
                object,
            });
        }
        Ok(AttachInfo {
            path: path.clone(),
            probes: attached,
            duplicates,
            took: started.elapsed(),
        })
    }

    /// One uprobe_multi link over `object`'s probes (deduplicated), cookie = function id
    /// with the link's generation in the high half.
    fn link(&self, object: &ObjectProbes) -> Result<Link, CaptureError> {
        let (path, probes) = (&object.path, &object.probes);
        let generation = self.links_made.get();
        self.links_made.set(generation.wrapping_add(1));
        let opts = UprobeMultiOpts {
            offsets: probes.iter().map(|p| p.file_offset as usize).collect(),
            // the high half: this link's generation, newer links higher (see on_entry)
            cookies: probes
                .iter()
                .map(|p| u64::from(p.func) | (u64::from(generation) << 32))
                .collect(),
            ..UprobeMultiOpts::default()
        };
        self.program("on_entry")?
            .attach_uprobe_multi_with_opts(-1, path, "", opts)
            .map_err(|source| {
                if preflight::kernel_at_least(6, 6) {
                    CaptureError::Attach {
                        what: format!("{} entry probes on {}", probes.len(), path.display()),
                        source,
                    }
                } else {
                    CaptureError::KernelTooOld {
                        release: preflight::kernel_release(),
                        feature: "uprobe_multi links",
                        needs: "6.6",
                        source: Some(source),
                    }
                }
            })
    }

    /// Removes the entry probes of `funcs` while the capture runs: each link holding one
    /// is replaced by a link without them (attached before the old one is detached, so
    /// the others are never unprobed; an entry both links catch pushes one frame, as a
    /// second frame at the same SP replaces the first). The old links are detached on a
    /// thread of their own ([`Reaper`]): until then they still count the muted functions'
    /// entries, and [`Session::finish`] waits for them. Their invocation counts stay as they
    /// are; syscalls made under them from now on go to their nearest probed caller.
    /// Returns the functions whose probes were removed, and the first error of an object
    /// whose link could not be replaced (its probes all stay).
    pub fn mute(
        &mut self,
        funcs: &std::collections::HashSet<FunctionId>,
    ) -> (Vec<FunctionId>, Option<CaptureError>) {
        let mut removed = Vec::new();
        let mut first_error = None;
        let mut i = 0;
        while i < self.entries.len() {
            let old = &self.entries[i].object;
            let (gone, keep): (Vec<&crate::config::Probe>, Vec<_>) =
                old.probes.iter().partition(|p| funcs.contains(&p.func));
            if gone.is_empty() {
                i += 1;
                continue;
            }
            let gone: Vec<FunctionId> = gone.iter().map(|p| p.func).collect();
            if keep.is_empty() {
                let old = self.entries.remove(i);
                self.reaper.reap(old._link);
                removed.extend(gone);
                continue;
            }
            let object = ObjectProbes {
                path: old.path.clone(),
                probes: keep.into_iter().copied().collect(),
            };
            match self.link(&object) {
                // the old link is detached after the new one is attached
                Ok(link) => {
                    let old = std::mem::replace(
                        &mut self.entries[i],
                        EntryLink {
                            _link: link,
                            object,
                        },
                    );
                    self.reaper.reap(old._link);
                    removed.extend(gone);
                }
                // the old link stays: those functions keep their probes
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
            i += 1;
        }
        (removed, first_error)
    }

    /// Drains every record the kernel has committed, handing the events to `sink`, then
    /// reports drops since the previous poll as [`Event::Lost`]. Returns the events handed
    /// over. Does not block.
    pub fn poll(&mut self, sink: &mut impl EventSink) -> Result<usize, CaptureError> {
        let mut n = 0usize;
        for ev in self.seed.drain(..) {
            sink.event(ev);
            n += 1;
        }
        let mut malformed = 0u64;
        let mut out = Counting {
            sink: &mut *sink,
            echoed: &mut self.echoed,
            events: 0,
            syscalls: 0,
        };
        let scratch = &mut self.scratch;
        self.ring.consume(|rec| {
            if record::decode(rec, scratch, &mut out).is_err() {
                malformed += 1;
            }
        });
        let syscalls = out.syscalls;
        n += out.events;
        for cpu in 0..self.counters.ncpus() {
            let drops = self.counters.stat(cpu, counters::STAT_DROPS);
            let seen = &mut self.lost_seen[cpu];
            if drops > *seen {
                sink.event(Event::Lost {
                    ts: monotonic_ns(),
                    cpu: cpu as u32,
                    count: drops - *seen,
                });
                n += 1;
                *seen = drops;
            }
        }
        if malformed > 0 {
            tracing::warn!(malformed, "capture: records that did not decode");
        }
        self.events += n as u64;
        self.syscalls += syscalls;
        self.malformed += malformed;
        Ok(n)
    }

    /// Polls every [`Config::poll_interval`] until `stop` returns true (checked after each
    /// poll). Call [`Session::finish`] afterwards for what is left.
    pub fn run_until(
        &mut self,
        sink: &mut impl EventSink,
        mut stop: impl FnMut() -> bool,
    ) -> Result<(), CaptureError> {
        loop {
            self.poll(sink)?;
            if stop() {
                return Ok(());
            }
            std::thread::sleep(self.poll_interval);
        }
    }

    /// Hands over everything recorded up to now: what the ring holds (as [`Session::poll`]
    /// does), then the completed syscalls still waiting in their threads' batches (a
    /// syscalls-only session sends a busy thread's syscalls several at a time, and a
    /// thread that went quiet may hold its last ones). Returns the syscalls in flight, as
    /// [`Session::in_flight`]. For the moments the stream must be complete (an alarm), not
    /// for the periodic drain: it walks every task on the machine.
    pub fn flush(&mut self, sink: &mut impl EventSink) -> Result<Vec<Syscall>, CaptureError> {
        self.poll(sink)?;
        let (buffered, pending) = self.dump_threads()?;
        let mut fresh: FxHashMap<u32, (u64, u64)> = FxHashMap::default();
        for s in buffered {
            let seen = self.echoed.get(&s.tid).is_some_and(|r| in_ranges(r, s.ts));
            if seen {
                continue;
            }
            let r = fresh.entry(s.tid).or_insert((s.ts, s.ts));
            r.0 = r.0.min(s.ts);
            r.1 = r.1.max(s.ts);
            self.events += 1;
            self.syscalls += 1;
            sink.syscall(&s);
        }
        for (tid, range) in fresh {
            self.echoed.entry(tid).or_default().push(range);
        }
        Ok(pending)
    }

    /// Syscalls entered and not returned, one per thread, as of now (`dur: None`): on
    /// a hang, what each thread is blocked in, with its frames.
    pub fn in_flight(&self) -> Result<Vec<Syscall>, CaptureError> {
        Ok(self.dump_threads()?.1)
    }

    /// Runs the thread iterator: the completed syscalls in threads' batches, sorted, and
    /// the syscalls in flight (`dur: None`), sorted.
    fn dump_threads(&self) -> Result<(Vec<Syscall>, Vec<Syscall>), CaptureError> {
        let attach_err = |source| CaptureError::Attach {
            what: "the in-flight syscall iterator".into(),
            source,
        };
        let link = self.program("dump_pending")?.attach().map_err(attach_err)?;
        let mut iter = Iter::new(&link).map_err(attach_err)?;
        let mut bytes = Vec::new();
        iter.read_to_end(&mut bytes)
            .map_err(|e| CaptureError::io("reading the in-flight syscall iterator", e))?;
        let (mut buffered, mut pending) = (Vec::new(), Vec::new());
        let mut rest = &bytes[..];
        while !rest.is_empty() {
            let Ok((s, len)) = record::syscall(rest) else {
                return Err(CaptureError::Layout(
                    "an in-flight syscall record does not decode".into(),
                ));
            };
            // The pending record has no duration (`exit`, which has none either, is sent
            // at once and never waits in a batch).
            if s.dur.is_some() {
                buffered.push(s);
            } else {
                pending.push(s);
            }
            rest = &rest[len..];
        }
        buffered.sort_unstable_by_key(|s| (s.ts, s.tid));
        pending.sort_unstable_by_key(|s| (s.ts, s.tid));
        Ok((buffered, pending))
    }

    /// Invocation counts since start of the functions invoked at least once, by id.
    pub fn invocations(&self) -> Vec<(FunctionId, u64)> {
        self.counters.all_invocations()
    }

    /// Hands the current invocation counts to `sink` as one [`Event::Invocations`].
    pub fn emit_invocations(&mut self, sink: &mut impl EventSink) {
        sink.event(Event::Invocations {
            ts: monotonic_ns(),
            counts: self.invocations(),
        });
        self.events += 1;
    }

    /// Counters for a progress display. Costs a scan of the functions not hit yet.
    pub fn stats(&mut self) -> Stats {
        Stats {
            events: self.events,
            syscalls: self.syscalls,
            lost: self.counters.stat_total(counters::STAT_DROPS),
            functions_hit: self.counters.hit(),
            probes: self.entries.iter().map(|e| e.object.probes.len()).sum(),
            objects: self.entries.len(),
            stack_overflows: self.counters.stat_total(counters::STAT_STACK_OVERFLOW),
            no_state: self.counters.stat_total(counters::STAT_NO_STATE),
            jvm_threads: self.counters.stat_total(counters::STAT_JVM_THREADS),
            jvm_unreadable: self.counters.stat_total(counters::STAT_JVM_UNREADABLE),
            jvm_deep: self.counters.stat_total(counters::STAT_JVM_DEEP),
            unfollowed: self.counters.stat_total(counters::STAT_TGIDS_FULL),
            malformed: self.malformed,
            backlog_bytes: self.ring.backlog(),
        }
    }

    /// A stack sampler over the session's traced tasks (same filter, same process set,
    /// followed as it changes): see [`StackSampler`].
    pub fn stack_sampler(&self, config: StackConfig) -> Result<StackSampler, CaptureError> {
        // what the sampler needs to filter like this session: the BPF-side filter
        // settings and a new fd of the process set map
        let tgids = find_map(&self.obj, "tgids")?
            .as_fd()
            .try_clone_to_owned()
            .map_err(|e| CaptureError::io("duplicating the process set map fd", e))?;
        StackSampler::new(self.bpf, tgids, config)
    }

    /// The ids of the session's BPF links (as `bpftool link` lists them).
    pub fn link_ids(&self) -> Vec<u32> {
        self.entries
            .iter()
            .map(|e| &e._link)
            .chain(&self.tracepoints)
            .filter_map(|l| l.info().ok().map(|i| i.id))
            .collect()
    }

    /// Stops tracing, then hands over everything left: the records drained after the
    /// detach, the syscalls still in flight (`dur: None`), the invocation counts (Full
    /// mode) and the last losses. Returns the final counters.
    pub fn finish(mut self, sink: &mut impl EventSink) -> Result<Stats, CaptureError> {
        // Detaching waits for running programs, so every record is committed after this.
        let probes = self.entries.iter().map(|e| e.object.probes.len()).sum();
        let objects = self.entries.len();
        self.entries.clear();
        self.reaper.wait();
        self.tracepoints.clear();
        for s in self.flush(sink)? {
            sink.event(Event::Syscall(s));
            self.events += 1;
            self.syscalls += 1;
        }
        if self.mode == CaptureMode::Full {
            self.emit_invocations(sink);
        }
        Ok(Stats {
            probes,
            objects,
            ..self.stats()
        })
    }
}

fn find_map<'a>(obj: &'a Object, name: &str) -> Result<libbpf_rs::Map<'a>, CaptureError> {
    obj.maps()
        .find(|m| m.name() == name)
        .ok_or_else(|| CaptureError::Layout(format!("no BPF map {name}")))
}

fn check_pid(pid: u32, self_tgid: u32) -> Result<(), CaptureError> {
    if pid == self_tgid {
        return Err(CaptureError::Config(
            "cannot trace the capturing process itself".into(),
        ));
    }
    if pid == 0 || !std::path::Path::new(&format!("/proc/{pid}")).exists() {
        return Err(CaptureError::Config(format!("no process {pid}")));
    }
    Ok(())
}

fn in_ranges(ranges: &[(u64, u64)], ts: u64) -> bool {
    ranges.iter().any(|&(a, b)| a <= ts && ts <= b)
}

/// Whether the ring's syscall of `tid` entered at `ts` was already handed over by
/// [`Session::flush`]. A thread's records come through the ring in order, so a range is
/// done with once a later record of the thread arrives.
fn is_echo(echoed: &mut FxHashMap<u32, Vec<(u64, u64)>>, tid: u32, ts: u64) -> bool {
    let Some(ranges) = echoed.get_mut(&tid) else {
        return false;
    };
    let echo = in_ranges(ranges, ts);
    ranges.retain(|&(_, b)| b > ts);
    if ranges.is_empty() {
        echoed.remove(&tid);
    }
    echo
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echoes_are_dropped_by_range_and_forgotten_when_passed() {
        let mut echoed = FxHashMap::default();
        // Thread 7: one flush took [10, 30], a later one [90, 95]; the batch between
        // them (40..80) went through the ring unseen by either flush.
        echoed.insert(7, vec![(10, 30), (90, 95)]);
        let ring = [10, 20, 30, 40, 80, 90, 95, 100];
        let kept: Vec<u64> = ring
            .into_iter()
            .filter(|&ts| !is_echo(&mut echoed, 7, ts))
            .collect();
        assert_eq!(kept, [40, 80, 100]);
        assert!(echoed.is_empty(), "both ranges are done with: {echoed:?}");
        // Other threads are untouched.
        echoed.insert(7, vec![(10, 30)]);
        assert!(!is_echo(&mut echoed, 8, 20));
        assert_eq!(echoed[&7], [(10, 30)]);
    }
}
