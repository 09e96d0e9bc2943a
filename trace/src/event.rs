//! The events of a trace. Timestamps are `CLOCK_MONOTONIC` nanoseconds (the BPF clock).

use crate::FunctionId;

/// How many live application frames a syscall carries at most, innermost first.
pub const MAX_FRAMES: usize = 8;

/// One live application frame at a syscall: which function, and which invocation of it.
///
/// `call` numbers the function entries of one thread (the capture side counts them), so
/// `(tid, call)` names one invocation for the life of that thread.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Frame {
    pub func: FunctionId,
    pub call: u64,
}

/// One system call, recorded when it returned (or when capture ended while it was still
/// blocked: then `dur` is `None`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Syscall {
    /// Entry time.
    pub ts: u64,
    /// Time spent in the kernel; `None` when it had not returned when it was recorded.
    pub dur: Option<u64>,
    pub pid: u32,
    pub tid: u32,
    pub cpu: u32,
    /// Syscall number of the trace's architecture (see [`crate::syscall_name`]).
    pub nr: u32,
    /// Return value; 0 when `dur` is `None`.
    pub ret: i64,
    /// User stack pointer at entry.
    pub sp: u64,
    pub(crate) depth: u8,
    pub(crate) frames: [Frame; MAX_FRAMES],
}

impl Syscall {
    /// A syscall of `tid` entering `nr` at `ts`, with no duration, return value or frames.
    pub fn new(ts: u64, pid: u32, tid: u32, nr: u32) -> Syscall {
        Syscall {
            ts,
            pid,
            tid,
            nr,
            ..Syscall::default()
        }
    }

    /// The live application frames, innermost first (empty in syscall-only captures and
    /// for syscalls made outside application code).
    #[inline]
    pub fn frames(&self) -> &[Frame] {
        &self.frames[..usize::from(self.depth)]
    }

    /// Sets the frames, keeping the innermost [`MAX_FRAMES`]; returns how many were kept.
    #[inline]
    pub fn set_frames(&mut self, frames: &[Frame]) -> usize {
        let n = frames.len().min(MAX_FRAMES);
        self.frames[..n].copy_from_slice(&frames[..n]);
        self.depth = n as u8;
        n
    }

    /// Appends one outer frame; returns false when the frame array is full.
    #[inline]
    pub fn push_frame(&mut self, frame: Frame) -> bool {
        let d = usize::from(self.depth);
        if d == MAX_FRAMES {
            return false;
        }
        self.frames[d] = frame;
        self.depth += 1;
        true
    }

    /// Exit time, if it returned.
    pub fn end(&self) -> Option<u64> {
        self.dur.map(|d| self.ts.saturating_add(d))
    }
}

/// One record of a trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    Syscall(Syscall),
    /// A new thread (`child_pid == parent_pid`) or process.
    Fork {
        ts: u64,
        parent_pid: u32,
        parent_tid: u32,
        child_pid: u32,
        child_tid: u32,
    },
    Exec {
        ts: u64,
        pid: u32,
        tid: u32,
        path: String,
    },
    /// A thread ended (`tid == pid` and last thread: the process ended).
    Exit {
        ts: u64,
        pid: u32,
        tid: u32,
        code: i32,
    },
    /// A thread's name (`comm`) as seen at `ts`.
    Comm {
        ts: u64,
        pid: u32,
        tid: u32,
        comm: String,
    },
    /// Events the kernel side could not hand over (ring buffer full), counted on `cpu`
    /// since the previous `Lost` of that cpu.
    Lost {
        ts: u64,
        cpu: u32,
        count: u64,
    },
    /// Cumulative invocation counts of probed functions since capture start: the last
    /// value seen for a function is its total. Counts invocations that made no syscall.
    Invocations {
        ts: u64,
        counts: Vec<(FunctionId, u64)>,
    },
    /// A sample of a thread's scheduler state: `state` is the letter of
    /// `/proc/PID/task/TID/stat` (`R` running, `S` sleeping, `D` disk wait...), `cpu_ns`
    /// the CPU time it has used so far, `wait_ns` the time it has spent runnable, waiting
    /// for a CPU (`schedstat`; `None` when unknown, and in traces before format 4).
    ThreadState {
        ts: u64,
        pid: u32,
        tid: u32,
        state: u8,
        cpu_ns: u64,
        wait_ns: Option<u64>,
    },
    /// A named instant: an alarm, a workload phase ("trigger"), set by whoever captured.
    Mark {
        ts: u64,
        label: String,
    },
    /// A sampled user stack of a thread (production side, after an alarm): where the
    /// thread was, as code locations in mapped files, innermost first.
    Stack {
        ts: u64,
        pid: u32,
        tid: u32,
        /// Why it was taken: on CPU, at a syscall, or while blocked in one.
        kind: StackKind,
        /// The syscall it was in or entering (for `Syscall` and `Blocked`).
        nr: Option<u32>,
        frames: Vec<CodeLocation>,
    },
    /// The locks a JVM thread waited for and held when its stack was dumped (the lock
    /// lines of `jcmd PID Thread.print -l`), beside the [`Event::Stack`] of the same
    /// thread and time: which thread holds the lock that others wait for.
    Locks {
        ts: u64,
        pid: u32,
        tid: u32,
        /// The lock object it waits to take (a monitor it waits to enter, or the
        /// synchronizer it parks for), by the identity the dump gives it.
        waits: Option<u64>,
        /// The locks it holds: (lock, index of the frame of its stack that took it, when
        /// the dump says: monitors; `None` for a `java.util.concurrent` lock).
        holds: Vec<(u64, Option<u32>)>,
    },
}

/// Why a stack was sampled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StackKind {
    /// Running in user space (a timer sample).
    OnCpu,
    /// Entering a syscall.
    Syscall,
    /// Sleeping in a syscall.
    Blocked,
}

/// A code address as a file and an offset in it, so it can be matched to the function
/// table of that file without the process's address space.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CodeLocation {
    /// Path of the mapped file; empty for an address in no file (JIT, vdso), and
    /// `jvm:CLASS.METHOD` for a Java frame named by a thread dump (`offset` is then its
    /// source line, 0 when unknown).
    pub path: String,
    pub offset: u64,
}

impl Event {
    /// The event's time (a syscall's entry time).
    pub fn ts(&self) -> u64 {
        match self {
            Event::Syscall(s) => s.ts,
            Event::Fork { ts, .. }
            | Event::Exec { ts, .. }
            | Event::Exit { ts, .. }
            | Event::Comm { ts, .. }
            | Event::Lost { ts, .. }
            | Event::Invocations { ts, .. }
            | Event::ThreadState { ts, .. }
            | Event::Mark { ts, .. }
            | Event::Stack { ts, .. }
            | Event::Locks { ts, .. } => *ts,
        }
    }
}
