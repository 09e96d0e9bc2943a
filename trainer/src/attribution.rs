//! Attribution of syscalls to function invocations, from the frames captured with them.
//!
//! The capture decided in the kernel which application frames were live at each syscall
//! (innermost first); this module trusts that list as recorded. A syscall goes to the
//! innermost frame whose function has an application class, skipping library frames
//! (the DWARF library filter), and to up to `callers` enclosing application frames. A
//! syscall with no application frame goes to the outside pseudo-function, whose
//! segments are runs of one thread's outside syscalls, cut at time gaps and whenever the
//! thread runs application code in between.
//!
//! An invocation `(tid, call)` is closed (its syscalls become one segment of its
//! function) when the thread exits or execs, at the end of the trace, or as soon as a
//! later syscall of the thread shows it is no longer live: it is absent from the frames
//! and either the frame list is complete (shorter than the capture's maximum) or the
//! invocation is newer than the outermost recorded frame (ancestors are always older,
//! since `call` counts entries). This keeps memory bounded by the live stacks. Where the
//! recorded frames are wrong (stack switching: coroutines, green threads), an invocation
//! that reappears after being closed becomes a second segment; nothing else breaks.

use rustc_hash::FxHashMap;
use trace::{MAX_FRAMES, Syscall};

use crate::episode::EventType;

/// What a trace's function id stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct LocalFn {
    /// Index in the trainer's function registry.
    pub global: u32,
    /// Whether its class is an application class.
    pub app: bool,
    /// False for ids the function table does not define.
    pub known: bool,
}

impl LocalFn {
    pub const UNKNOWN: LocalFn = LocalFn {
        global: u32::MAX,
        app: false,
        known: false,
    };
}

/// Receives what attribution finds.
pub(crate) trait SegmentSink {
    /// A closed invocation: all syscalls of one invocation of `func`, in order.
    fn segment(&mut self, func: u32, events: &[(EventType, u64)]);
    /// Syscall `id` was made while `func` was live in the frames (once per syscall).
    fn live(&mut self, func: u32, id: EventType);
    /// A syscall went to `func` on a thread named `comm` (an id; [`NO_COMM`] if unknown).
    fn attributed(&mut self, func: u32, comm: u32);
}

/// The comm id of a thread whose name was not seen.
pub(crate) const NO_COMM: u32 = u32::MAX;

type Buf = Vec<(EventType, u64)>;

struct Open {
    call: u64,
    func: u32,
    buf: Buf,
}

struct Run {
    last_ts: u64,
    buf: Buf,
}

struct Thread {
    pid: u32,
    comm: u32,
    /// Open invocations that received syscalls, oldest first.
    open: Vec<Open>,
    outside: Option<Run>,
}

impl Thread {
    fn new(pid: u32, comm: u32) -> Thread {
        Thread {
            pid,
            comm,
            open: Vec::new(),
            outside: None,
        }
    }
}

/// Per-trace attribution state: the threads and their open invocations.
pub(crate) struct Attributor {
    threads: FxHashMap<u32, Thread>,
    /// Emptied buffers, reused so that invocations do not allocate in steady state.
    pool: Vec<Buf>,
    callers: usize,
    max_frames: usize,
    gap_ns: u64,
    outside: u32,
    /// Frames naming functions the table does not define.
    pub unknown_frames: u64,
    /// Syscalls that went to the outside pseudo-function.
    pub outside_syscalls: u64,
}

impl Attributor {
    /// `outside` is the registry index of the outside pseudo-function; `max_frames` the
    /// capture's frame limit (a shorter frame list is a complete stack).
    pub fn new(callers: u32, max_frames: u8, gap_ns: u64, outside: u32) -> Attributor {
        Attributor {
            threads: FxHashMap::default(),
            pool: Vec::new(),
            callers: callers as usize,
            max_frames: usize::from(max_frames),
            gap_ns,
            outside,
            unknown_frames: 0,
            outside_syscalls: 0,
        }
    }

    /// Attributes one syscall (interned as `id`); `fns` maps the trace's function ids.
    pub fn syscall(
        &mut self,
        s: &Syscall,
        id: EventType,
        fns: &[LocalFn],
        sink: &mut impl SegmentSink,
    ) {
        let Attributor {
            threads,
            pool,
            callers,
            max_frames,
            gap_ns,
            outside,
            unknown_frames,
            outside_syscalls,
        } = self;
        let th = threads
            .entry(s.tid)
            .or_insert_with(|| Thread::new(s.pid, NO_COMM));
        th.pid = s.pid;
        let frames = s.frames();
        let mut resolved = [(0u64, LocalFn::UNKNOWN); MAX_FRAMES];
        for (r, f) in resolved.iter_mut().zip(frames) {
            let lf = fns
                .get(f.func as usize)
                .copied()
                .unwrap_or(LocalFn::UNKNOWN);
            if !lf.known {
                *unknown_frames += 1;
            }
            *r = (f.call, lf);
        }
        let resolved = &resolved[..frames.len()];
        for (n, &(_, lf)) in resolved.iter().enumerate() {
            if lf.known && !resolved[..n].iter().any(|r| r.1.global == lf.global) {
                sink.live(lf.global, id);
            }
        }

        if !th.open.is_empty() {
            let complete = frames.len() < *max_frames;
            let oldest = frames.iter().map(|f| f.call).min().unwrap_or(u64::MAX);
            let mut i = 0;
            while i < th.open.len() {
                let o = &th.open[i];
                let live = resolved
                    .iter()
                    .any(|&(call, lf)| call == o.call && lf.known && lf.global == o.func)
                    || (!complete && o.call < oldest);
                if live {
                    i += 1;
                } else {
                    let o = th.open.remove(i);
                    close(sink, pool, o.func, o.buf);
                }
            }
        }

        let mut taken = 0;
        for (n, &(call, lf)) in resolved.iter().enumerate() {
            if !lf.app || resolved[..n].contains(&(call, lf)) {
                continue;
            }
            let o = match th
                .open
                .iter()
                .position(|o| o.call == call && o.func == lf.global)
            {
                Some(i) => &mut th.open[i],
                None => {
                    th.open.push(Open {
                        call,
                        func: lf.global,
                        buf: pool.pop().unwrap_or_default(),
                    });
                    th.open.last_mut().expect("just pushed")
                }
            };
            o.buf.push((id, s.ts));
            sink.attributed(lf.global, th.comm);
            taken += 1;
            if taken > *callers {
                break;
            }
        }

        if taken == 0 {
            *outside_syscalls += 1;
            if let Some(run) = &th.outside
                && s.ts.saturating_sub(run.last_ts) > *gap_ns
            {
                let run = th.outside.take().expect("checked");
                close(sink, pool, *outside, run.buf);
            }
            let run = th.outside.get_or_insert_with(|| Run {
                last_ts: s.ts,
                buf: pool.pop().unwrap_or_default(),
            });
            run.last_ts = run.last_ts.max(s.ts);
            run.buf.push((id, s.ts));
            sink.attributed(*outside, th.comm);
        } else if let Some(run) = th.outside.take() {
            close(sink, pool, *outside, run.buf);
        }
    }

    /// A thread ended: everything it had open is closed (its tid may be reused).
    pub fn exit(&mut self, tid: u32, sink: &mut impl SegmentSink) {
        if let Some(th) = self.threads.remove(&tid) {
            self.close_thread(th, sink);
        }
    }

    /// `tid` of `pid` replaced the process image: every thread of the process is gone
    /// and no invocation survives.
    pub fn exec(&mut self, pid: u32, tid: u32, sink: &mut impl SegmentSink) {
        let mut tids: Vec<u32> = self
            .threads
            .iter()
            .filter(|(t, th)| th.pid == pid || **t == tid)
            .map(|(t, _)| *t)
            .collect();
        tids.sort_unstable();
        for t in tids {
            self.exit(t, sink);
        }
    }

    /// A new thread: state left under its tid (an exit lost in the kernel) is closed;
    /// the child inherits its parent's name, as in the kernel.
    pub fn fork(
        &mut self,
        parent_tid: u32,
        child_pid: u32,
        child_tid: u32,
        sink: &mut impl SegmentSink,
    ) {
        let comm = self.threads.get(&parent_tid).map_or(NO_COMM, |t| t.comm);
        self.exit(child_tid, sink);
        self.threads.insert(child_tid, Thread::new(child_pid, comm));
    }

    /// Thread `tid` of `pid` is named `comm` (an interned id) from now on.
    pub fn comm(&mut self, pid: u32, tid: u32, comm: u32) {
        self.threads
            .entry(tid)
            .or_insert_with(|| Thread::new(pid, comm))
            .comm = comm;
    }

    /// End of the trace: closes everything, in tid order.
    pub fn finish(&mut self, sink: &mut impl SegmentSink) {
        let mut tids: Vec<u32> = self.threads.keys().copied().collect();
        tids.sort_unstable();
        for t in tids {
            self.exit(t, sink);
        }
    }

    fn close_thread(&mut self, th: Thread, sink: &mut impl SegmentSink) {
        for o in th.open {
            close(sink, &mut self.pool, o.func, o.buf);
        }
        if let Some(run) = th.outside {
            close(sink, &mut self.pool, self.outside, run.buf);
        }
    }
}

fn close(sink: &mut impl SegmentSink, pool: &mut Vec<Buf>, func: u32, mut buf: Buf) {
    if !buf.is_empty() {
        sink.segment(func, &buf);
    }
    buf.clear();
    if pool.len() < 4096 {
        pool.push(buf);
    }
}
