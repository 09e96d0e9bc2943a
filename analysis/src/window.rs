//! The analysed window: per-thread syscall sequences, thread scheduler samples, marks and
//! what was lost, built from trace events (offline) or from the rolling buffer (online).

use rustc_hash::FxHashMap;
use trace::Event;

/// `Call::dur` of a syscall that had not returned when the window ended.
pub const PENDING: u64 = u64::MAX;

/// One syscall, compact: the analysis holds a million of these.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Call {
    pub ts: u64,
    /// Time in the kernel, or [`PENDING`].
    pub dur: u64,
    pub ret: i64,
    pub nr: u16,
    pub cpu: u16,
}

impl Call {
    /// When it returned, or `now` if it is still pending.
    pub fn end(&self, now: u64) -> u64 {
        if self.dur == PENDING {
            now.max(self.ts)
        } else {
            self.ts.saturating_add(self.dur)
        }
    }

    pub fn is_pending(&self) -> bool {
        self.dur == PENDING
    }
}

/// A sample of a thread's scheduler state (see [`trace::Event::ThreadState`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StateSample {
    pub ts: u64,
    pub state: u8,
    pub cpu_ns: u64,
    /// Time runnable, waiting for a CPU, so far (`None`: not sampled).
    pub wait_ns: Option<u64>,
}

/// One thread's activity in the window.
#[derive(Clone, Debug, Default)]
pub struct Thread {
    pub pid: u32,
    pub tid: u32,
    pub comm: String,
    /// Sorted by entry time.
    pub calls: Vec<Call>,
    /// Sorted by time; may include the last sample before the window.
    pub states: Vec<StateSample>,
    pub exited: Option<u64>,
}

impl Thread {
    /// CPU time used between `from` and `to` by the state samples closest to them, and
    /// the time those samples span.
    pub fn cpu_between(&self, from: u64, to: u64) -> Option<(u64, u64)> {
        self.counter_between(from, to, |s| Some(s.cpu_ns))
    }

    /// Time spent runnable waiting for a CPU between `from` and `to`, as
    /// [`Thread::cpu_between`] measures CPU time; `None` without run-queue samples.
    pub fn wait_between(&self, from: u64, to: u64) -> Option<(u64, u64)> {
        self.counter_between(from, to, |s| s.wait_ns)
    }

    /// How much a sampled counter grew between the samples closest to `from` (the last
    /// at or before it, else the first) and `to` (the last at or before it), and the
    /// time between those samples; samples without the counter are skipped.
    fn counter_between(
        &self,
        from: u64,
        to: u64,
        counter: impl Fn(&StateSample) -> Option<u64>,
    ) -> Option<(u64, u64)> {
        let sampled = || self.states.iter().filter_map(|s| Some((s.ts, counter(s)?)));
        let first = sampled()
            .rev()
            .find(|s| s.0 <= from)
            .or_else(|| sampled().next())?;
        let last = sampled().rev().find(|s| s.0 <= to)?;
        (last.0 > first.0).then(|| (last.1.saturating_sub(first.1), last.0 - first.0))
    }

    /// The last sampled state letter at or before `t`.
    pub fn state_at(&self, t: u64) -> Option<u8> {
        self.states
            .iter()
            .rev()
            .find(|s| s.ts <= t)
            .map(|s| s.state)
    }

    /// A display name: `comm/tid`.
    pub fn label(&self) -> String {
        if self.comm.is_empty() {
            format!("{}/{}", self.pid, self.tid)
        } else {
            format!("{}/{}", self.comm, self.tid)
        }
    }
}

/// Syscalls of one thread group in one second, counted instead of kept: what a full
/// rolling window had to evict early (a storm of syscalls would otherwise push the normal
/// part out of the window).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tally {
    /// Start of the second (monotonic ns, a multiple of 1 s).
    pub ts: u64,
    /// The thread group (thread name).
    pub comm: String,
    pub nr: u16,
    pub calls: u32,
}

/// A named instant (alarm, trigger...).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mark {
    pub ts: u64,
    pub label: String,
}

impl Mark {
    /// The mark of a process's start, which a watcher that attached to running processes
    /// records at each one's start time (a start it saw happen is an `execve` instead).
    pub fn started(ts: u64, pid: u32) -> Mark {
        Mark {
            ts,
            label: format!("{STARTED}{pid}"),
        }
    }

    /// The process a [`Mark::started`] mark is of.
    pub fn started_pid(&self) -> Option<u32> {
        self.label.strip_prefix(STARTED)?.parse().ok()
    }
}

const STARTED: &str = "started pid ";

/// A sampled user stack (see [`trace::Event::Stack`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StackSample {
    pub ts: u64,
    pub pid: u32,
    pub tid: u32,
    pub kind: trace::StackKind,
    pub nr: Option<u32>,
    pub frames: Vec<trace::CodeLocation>,
}

/// What a JVM thread waited for and held when its stack was dumped
/// ([`trace::Event::Locks`]), to follow a lock from the threads waiting for it to the one
/// holding it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockSample {
    pub ts: u64,
    pub pid: u32,
    pub tid: u32,
    pub waits: Option<u64>,
    pub holds: Vec<(u64, Option<u32>)>,
}

/// A process's JIT-compiled code: (start, end, name as the JIT names it), sorted by start.
pub type JitMap = Vec<(u64, u64, String)>;

/// Everything the analysis looks at.
#[derive(Clone, Debug, Default)]
pub struct Window {
    pub start: u64,
    /// The alarm time: the analysis looks back from here.
    pub end: u64,
    pub threads: Vec<Thread>,
    pub marks: Vec<Mark>,
    /// Events the kernel could not deliver, inside the window.
    pub lost: u64,
    /// Syscalls in the window.
    pub syscalls: u64,
    /// User stacks sampled after the alarm, if any.
    pub stacks: Vec<StackSample>,
    /// The locks of the JVM threads whose stacks were dumped, if any.
    pub locks: Vec<LockSample>,
    /// Build-ids of the executables as recorded at capture (path, build-id), so stacks
    /// can be named on another machine through the database's code ranges.
    pub objects: Vec<(String, Option<String>)>,
    /// JIT-compiled code per process (a JVM's perf map read after the alarm): (start, end,
    /// name) sorted by start, to name stack frames in anonymous memory.
    pub jit: Vec<(u32, JitMap)>,
    /// The syscalls are all there only from this time on; before it the window holds
    /// [`Window::tallies`] of what was evicted, sorted by (ts, comm, nr).
    pub complete_from: Option<u64>,
    pub tallies: Vec<Tally>,
}

impl Window {
    /// The JIT maps of a trace's objects (kind `jit_map`, path `jit:PID`).
    pub fn jit_from_objects<'o>(
        objects: impl IntoIterator<Item = &'o trace::Object>,
    ) -> Vec<(u32, JitMap)> {
        let mut out: Vec<(u32, JitMap)> = Vec::new();
        for o in objects {
            if o.kind != trace::ObjectKind::JitMap {
                continue;
            }
            let Some(pid) = o.path.strip_prefix("jit:").and_then(|p| p.parse().ok()) else {
                continue;
            };
            let mut ranges: JitMap = o
                .functions
                .iter()
                .map(|f| (f.vaddr, f.vaddr.saturating_add(f.size), f.name.clone()))
                .collect();
            ranges.sort();
            out.push((pid, ranges));
        }
        out
    }
}

impl Window {
    /// Number of syscalls held.
    pub fn len(&self) -> usize {
        self.threads.iter().map(|t| t.calls.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Syscalls counted in tallies.
    pub fn tallied(&self) -> u64 {
        self.tallies.iter().map(|t| u64::from(t.calls)).sum()
    }
}

/// Builds a [`Window`] from events in any order.
pub struct WindowBuilder {
    w: Window,
    live: FxHashMap<u32, usize>,
    comms: FxHashMap<u32, String>,
}

impl WindowBuilder {
    /// A builder keeping the syscalls that entered in `[start, end]`.
    pub fn new(start: u64, end: u64) -> WindowBuilder {
        WindowBuilder {
            w: Window {
                start,
                end,
                ..Window::default()
            },
            live: FxHashMap::default(),
            comms: FxHashMap::default(),
        }
    }

    fn thread(&mut self, pid: u32, tid: u32) -> &mut Thread {
        let threads = &mut self.w.threads;
        let comms = &self.comms;
        let i = *self.live.entry(tid).or_insert_with(|| {
            threads.push(Thread {
                pid,
                tid,
                comm: comms.get(&tid).cloned().unwrap_or_default(),
                ..Thread::default()
            });
            threads.len() - 1
        });
        &mut threads[i]
    }

    /// Makes room for `n` more syscalls of thread `tid`, when the caller knows the count
    /// (the online snapshot does): the calls are not regrown and copied while pushed.
    pub fn reserve(&mut self, pid: u32, tid: u32, n: usize) {
        self.thread(pid, tid).calls.reserve_exact(n);
    }

    /// Takes one event into the window (events outside it only update thread metadata).
    pub fn push(&mut self, ev: &Event) {
        let (start, end) = (self.w.start, self.w.end);
        match ev {
            Event::Syscall(s) => {
                // a syscall entered before the window counts while it lasts into it (a
                // thread stuck since long ago)
                let lasts_into = s.dur.is_none_or(|d| s.ts.saturating_add(d) >= start);
                if s.ts > end || (s.ts < start && !lasts_into) {
                    return;
                }
                // a syscall still running at the alarm counts as pending
                let dur = match s.dur {
                    Some(d) if s.ts.saturating_add(d) <= end => d,
                    _ => PENDING,
                };
                let call = Call {
                    ts: s.ts,
                    dur,
                    ret: if dur == PENDING { 0 } else { s.ret },
                    nr: u16::try_from(s.nr).unwrap_or(u16::MAX),
                    cpu: u16::try_from(s.cpu).unwrap_or(u16::MAX),
                };
                self.w.syscalls += 1;
                self.thread(s.pid, s.tid).calls.push(call);
            }
            Event::Comm { pid, tid, comm, .. } => {
                self.comms.insert(*tid, comm.clone());
                self.thread(*pid, *tid).comm = comm.clone();
            }
            Event::Exec { pid, tid, path, .. } => {
                let name = path.rsplit('/').next().unwrap_or(path);
                let comm: String = name.chars().take(15).collect();
                self.comms.insert(*tid, comm.clone());
                self.thread(*pid, *tid).comm = comm;
            }
            Event::Fork {
                parent_tid,
                child_pid,
                child_tid,
                ..
            } => {
                // a new thread or process starts with its parent's name
                if let Some(c) = self.comms.get(parent_tid).cloned() {
                    self.comms.insert(*child_tid, c);
                }
                let _ = child_pid;
            }
            Event::Exit { ts, pid, tid, .. } => {
                if *ts >= start {
                    self.thread(*pid, *tid).exited = Some(*ts);
                }
                // a later thread with this tid is another thread
                self.live.remove(tid);
            }
            Event::ThreadState {
                ts,
                pid,
                tid,
                state,
                cpu_ns,
                wait_ns,
            } => {
                if *ts > end {
                    return;
                }
                let t = self.thread(*pid, *tid);
                let sample = StateSample {
                    ts: *ts,
                    state: *state,
                    cpu_ns: *cpu_ns,
                    wait_ns: *wait_ns,
                };
                // keep only the last sample before the window as a baseline
                if *ts < start {
                    match t.states.last_mut() {
                        Some(s) if s.ts < start => *s = sample,
                        _ => t.states.push(sample),
                    }
                } else {
                    t.states.push(sample);
                }
            }
            Event::Lost { ts, count, .. } => {
                if *ts >= start && *ts <= end {
                    self.w.lost += count;
                }
            }
            Event::Mark { ts, label } => {
                if *ts >= start && *ts <= end {
                    self.w.marks.push(Mark {
                        ts: *ts,
                        label: label.clone(),
                    });
                }
            }
            Event::Stack {
                ts,
                pid,
                tid,
                kind,
                nr,
                frames,
            } => {
                // stacks are sampled just after the alarm, so they may be later than it
                if *ts >= start {
                    self.w.stacks.push(StackSample {
                        ts: *ts,
                        pid: *pid,
                        tid: *tid,
                        kind: *kind,
                        nr: *nr,
                        frames: frames.clone(),
                    });
                }
            }
            Event::Locks {
                ts,
                pid,
                tid,
                waits,
                holds,
            } => {
                if *ts >= start {
                    self.w.locks.push(LockSample {
                        ts: *ts,
                        pid: *pid,
                        tid: *tid,
                        waits: *waits,
                        holds: holds.clone(),
                    });
                }
            }
            // invocation counts are the trainer's
            Event::Invocations { .. } => {}
        }
    }

    /// The window, threads with nothing in it dropped, everything sorted by time.
    pub fn finish(mut self) -> Window {
        let (start, end) = (self.w.start, self.w.end);
        self.w.threads.retain(|t| {
            !t.calls.is_empty() || t.states.iter().any(|s| s.ts >= start && s.ts <= end)
        });
        for t in &mut self.w.threads {
            t.calls.sort_by_key(|c| c.ts);
            t.states.sort_by_key(|s| s.ts);
        }
        self.w
            .threads
            .sort_by_key(|t| (t.pid, t.tid, t.calls.first().map(|c| c.ts)));
        self.w.marks.sort_by_key(|m| m.ts);
        self.w.stacks.sort_by_key(|s| (s.ts, s.tid));
        self.w
    }
}
