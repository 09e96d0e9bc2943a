//! The binary encoding of events inside an event chunk: a tag byte, then LEB128 varints.
//! Timestamps are zigzag deltas from the previous event of the same chunk (events are
//! nearly in time order, so deltas are small), which the encoder and decoder both reset
//! at each chunk.

use crate::event::{CodeLocation, Event, Frame, MAX_FRAMES, StackKind, Syscall};

const TAG_SYSCALL: u8 = 1;
const TAG_FORK: u8 = 2;
const TAG_EXEC: u8 = 3;
const TAG_EXIT: u8 = 4;
const TAG_COMM: u8 = 5;
const TAG_LOST: u8 = 6;
const TAG_INVOCATIONS: u8 = 7;
const TAG_THREAD_STATE: u8 = 8;
const TAG_MARK: u8 = 9;
const TAG_STACK: u8 = 10;
const TAG_LOCKS: u8 = 11;
/// [`Event::ThreadState`] with its run-queue wait (format 4).
const TAG_THREAD_STATE_WAIT: u8 = 12;

const SYSCALL_HAS_DUR: u8 = 1;

/// Delta state shared by the encoder and decoder of one chunk.
#[derive(Default)]
pub(crate) struct Encoder {
    prev_ts: u64,
}

impl Encoder {
    pub(crate) fn encode(&mut self, ev: &Event, out: &mut Vec<u8>) {
        let ts = ev.ts();
        let delta = ts.wrapping_sub(self.prev_ts) as i64;
        self.prev_ts = ts;
        match ev {
            Event::Syscall(s) => {
                out.push(TAG_SYSCALL);
                out.push(if s.dur.is_some() { SYSCALL_HAS_DUR } else { 0 });
                put_i64(out, delta);
                if let Some(d) = s.dur {
                    put_u64(out, d);
                }
                put_u64(out, u64::from(s.pid));
                put_u64(out, u64::from(s.tid));
                put_u64(out, u64::from(s.cpu));
                put_u64(out, u64::from(s.nr));
                put_i64(out, s.ret);
                put_u64(out, s.sp);
                let frames = s.frames();
                out.push(frames.len() as u8);
                for f in frames {
                    put_u64(out, u64::from(f.func));
                    put_u64(out, f.call);
                }
            }
            Event::Fork {
                parent_pid,
                parent_tid,
                child_pid,
                child_tid,
                ..
            } => {
                out.push(TAG_FORK);
                put_i64(out, delta);
                for v in [parent_pid, parent_tid, child_pid, child_tid] {
                    put_u64(out, u64::from(*v));
                }
            }
            Event::Exec { pid, tid, path, .. } => {
                out.push(TAG_EXEC);
                put_i64(out, delta);
                put_u64(out, u64::from(*pid));
                put_u64(out, u64::from(*tid));
                put_str(out, path);
            }
            Event::Exit { pid, tid, code, .. } => {
                out.push(TAG_EXIT);
                put_i64(out, delta);
                put_u64(out, u64::from(*pid));
                put_u64(out, u64::from(*tid));
                put_i64(out, i64::from(*code));
            }
            Event::Comm { pid, tid, comm, .. } => {
                out.push(TAG_COMM);
                put_i64(out, delta);
                put_u64(out, u64::from(*pid));
                put_u64(out, u64::from(*tid));
                put_str(out, comm);
            }
            Event::Lost { cpu, count, .. } => {
                out.push(TAG_LOST);
                put_i64(out, delta);
                put_u64(out, u64::from(*cpu));
                put_u64(out, *count);
            }
            Event::Invocations { counts, .. } => {
                out.push(TAG_INVOCATIONS);
                put_i64(out, delta);
                put_u64(out, counts.len() as u64);
                for (f, n) in counts {
                    put_u64(out, u64::from(*f));
                    put_u64(out, *n);
                }
            }
            Event::ThreadState {
                pid,
                tid,
                state,
                cpu_ns,
                wait_ns,
                ..
            } => {
                out.push(if wait_ns.is_some() {
                    TAG_THREAD_STATE_WAIT
                } else {
                    TAG_THREAD_STATE
                });
                put_i64(out, delta);
                put_u64(out, u64::from(*pid));
                put_u64(out, u64::from(*tid));
                out.push(*state);
                put_u64(out, *cpu_ns);
                if let Some(wait) = wait_ns {
                    put_u64(out, *wait);
                }
            }
            Event::Mark { label, .. } => {
                out.push(TAG_MARK);
                put_i64(out, delta);
                put_str(out, label);
            }
            Event::Stack {
                pid,
                tid,
                kind,
                nr,
                frames,
                ..
            } => {
                out.push(TAG_STACK);
                put_i64(out, delta);
                put_u64(out, u64::from(*pid));
                put_u64(out, u64::from(*tid));
                out.push(match kind {
                    StackKind::OnCpu => 0,
                    StackKind::Syscall => 1,
                    StackKind::Blocked => 2,
                });
                // 0: no syscall, else nr + 1
                put_u64(out, nr.map_or(0, |n| u64::from(n) + 1));
                put_u64(out, frames.len() as u64);
                for f in frames {
                    put_str(out, &f.path);
                    put_u64(out, f.offset);
                }
            }
            Event::Locks {
                pid,
                tid,
                waits,
                holds,
                ..
            } => {
                out.push(TAG_LOCKS);
                put_i64(out, delta);
                put_u64(out, u64::from(*pid));
                put_u64(out, u64::from(*tid));
                // 0: waits for nothing, else 1 and the lock
                match waits {
                    Some(l) => {
                        out.push(1);
                        put_u64(out, *l);
                    }
                    None => out.push(0),
                }
                put_u64(out, holds.len() as u64);
                for (l, frame) in holds {
                    put_u64(out, *l);
                    // 0: frame unknown, else index + 1
                    put_u64(out, frame.map_or(0, |f| u64::from(f) + 1));
                }
            }
        }
    }
}

/// Decodes the events of one chunk payload. Malformed bytes are an error, never a panic.
/// The reader keeps `pos` and `prev_ts` between calls and resumes a decoder over the same
/// chunk buffer for each event.
pub(crate) struct Decoder<'a> {
    buf: &'a [u8],
    pub(crate) pos: usize,
    pub(crate) prev_ts: u64,
}

impl<'a> Decoder<'a> {
    pub(crate) fn resume(buf: &'a [u8], pos: usize, prev_ts: u64) -> Decoder<'a> {
        Decoder { buf, pos, prev_ts }
    }

    /// The next event, `Ok(None)` at the end of the payload.
    pub(crate) fn next_event(&mut self) -> Result<Option<Event>, String> {
        if self.pos == self.buf.len() {
            return Ok(None);
        }
        let tag = self.byte()?;
        let ev = match tag {
            TAG_SYSCALL => {
                let flags = self.byte()?;
                let ts = self.ts()?;
                let dur = if flags & SYSCALL_HAS_DUR != 0 {
                    Some(self.u64()?)
                } else {
                    None
                };
                let mut s = Syscall {
                    ts,
                    dur,
                    pid: self.u32()?,
                    tid: self.u32()?,
                    cpu: self.u32()?,
                    nr: self.u32()?,
                    ret: self.i64()?,
                    sp: self.u64()?,
                    ..Syscall::default()
                };
                let depth = usize::from(self.byte()?);
                if depth > MAX_FRAMES {
                    return Err(format!(
                        "syscall with {depth} frames (at most {MAX_FRAMES})"
                    ));
                }
                for _ in 0..depth {
                    let func = self.u32()?;
                    let call = self.u64()?;
                    s.push_frame(Frame { func, call });
                }
                Event::Syscall(s)
            }
            TAG_FORK => Event::Fork {
                ts: self.ts()?,
                parent_pid: self.u32()?,
                parent_tid: self.u32()?,
                child_pid: self.u32()?,
                child_tid: self.u32()?,
            },
            TAG_EXEC => Event::Exec {
                ts: self.ts()?,
                pid: self.u32()?,
                tid: self.u32()?,
                path: self.string()?,
            },
            TAG_EXIT => Event::Exit {
                ts: self.ts()?,
                pid: self.u32()?,
                tid: self.u32()?,
                code: i32::try_from(self.i64()?).map_err(|_| "exit code out of range")?,
            },
            TAG_COMM => Event::Comm {
                ts: self.ts()?,
                pid: self.u32()?,
                tid: self.u32()?,
                comm: self.string()?,
            },
            TAG_LOST => Event::Lost {
                ts: self.ts()?,
                cpu: self.u32()?,
                count: self.u64()?,
            },
            TAG_INVOCATIONS => {
                let ts = self.ts()?;
                let n = self.u64()?;
                // each pair takes at least two bytes: bound the allocation by the input
                if n > (self.buf.len() - self.pos) as u64 / 2 {
                    return Err(format!(
                        "invocation table of {n} entries overruns the chunk"
                    ));
                }
                let mut counts = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    counts.push((self.u32()?, self.u64()?));
                }
                Event::Invocations { ts, counts }
            }
            TAG_THREAD_STATE | TAG_THREAD_STATE_WAIT => Event::ThreadState {
                ts: self.ts()?,
                pid: self.u32()?,
                tid: self.u32()?,
                state: self.byte()?,
                cpu_ns: self.u64()?,
                wait_ns: if tag == TAG_THREAD_STATE_WAIT {
                    Some(self.u64()?)
                } else {
                    None
                },
            },
            TAG_MARK => Event::Mark {
                ts: self.ts()?,
                label: self.string()?,
            },
            TAG_STACK => {
                let ts = self.ts()?;
                let pid = self.u32()?;
                let tid = self.u32()?;
                let kind = match self.byte()? {
                    0 => StackKind::OnCpu,
                    1 => StackKind::Syscall,
                    2 => StackKind::Blocked,
                    k => return Err(format!("unknown stack kind {k}")),
                };
                let nr = match self.u64()? {
                    0 => None,
                    n => Some(u32::try_from(n - 1).map_err(|_| "syscall number overflows")?),
                };
                let n = self.u64()?;
                // each frame takes at least two bytes: bound the allocation by the input
                if n > (self.buf.len() - self.pos) as u64 / 2 {
                    return Err(format!("stack of {n} frames overruns the chunk"));
                }
                let mut frames = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    frames.push(CodeLocation {
                        path: self.string()?,
                        offset: self.u64()?,
                    });
                }
                Event::Stack {
                    ts,
                    pid,
                    tid,
                    kind,
                    nr,
                    frames,
                }
            }
            TAG_LOCKS => {
                let ts = self.ts()?;
                let pid = self.u32()?;
                let tid = self.u32()?;
                let waits = match self.byte()? {
                    0 => None,
                    1 => Some(self.u64()?),
                    k => return Err(format!("unknown lock wait flag {k}")),
                };
                let n = self.u64()?;
                // each held lock takes at least two bytes: bound the allocation by the input
                if n > (self.buf.len() - self.pos) as u64 / 2 {
                    return Err(format!("{n} held locks overrun the chunk"));
                }
                let mut holds = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    let lock = self.u64()?;
                    let frame = match self.u64()? {
                        0 => None,
                        f => Some(u32::try_from(f - 1).map_err(|_| "frame index overflows")?),
                    };
                    holds.push((lock, frame));
                }
                Event::Locks {
                    ts,
                    pid,
                    tid,
                    waits,
                    holds,
                }
            }
            other => return Err(format!("unknown event tag {other}")),
        };
        Ok(Some(ev))
    }

    fn byte(&mut self) -> Result<u8, String> {
        let b = *self.buf.get(self.pos).ok_or("event cut off")?;
        self.pos += 1;
        Ok(b)
    }

    fn u64(&mut self) -> Result<u64, String> {
        let mut v: u64 = 0;
        for shift in (0..70).step_by(7) {
            let b = self.byte()?;
            if shift == 63 && b > 1 {
                return Err("varint overflows 64 bits".into());
            }
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("varint longer than 10 bytes".into())
    }

    fn u32(&mut self) -> Result<u32, String> {
        u32::try_from(self.u64()?).map_err(|_| "value overflows 32 bits".into())
    }

    fn i64(&mut self) -> Result<i64, String> {
        let z = self.u64()?;
        Ok(((z >> 1) as i64) ^ -((z & 1) as i64))
    }

    fn ts(&mut self) -> Result<u64, String> {
        let d = self.i64()?;
        self.prev_ts = self.prev_ts.wrapping_add(d as u64);
        Ok(self.prev_ts)
    }

    fn string(&mut self) -> Result<String, String> {
        let n = self.u64()?;
        let end = self
            .pos
            .checked_add(usize::try_from(n).map_err(|_| "string length overflows")?)
            .filter(|&e| e <= self.buf.len())
            .ok_or("string overruns the chunk")?;
        let s = std::str::from_utf8(&self.buf[self.pos..end])
            .map_err(|_| "string is not UTF-8")?
            .to_owned();
        self.pos = end;
        Ok(s)
    }
}

fn put_u64(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_i64(out: &mut Vec<u8>, v: i64) {
    put_u64(out, ((v << 1) ^ (v >> 63)) as u64);
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_u64(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}
