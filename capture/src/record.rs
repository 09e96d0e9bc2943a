//! Decoding of the BPF side's records (src/bpf/records.h) into trace events.
//!
//! Records come from the kernel, but are still parsed defensively: a short or unknown
//! record is an error the session counts, never a panic. Syscall records decode without
//! allocating.

use trace::{Event, Frame, Syscall};

/// Where a session's events go. Any `FnMut(Event)` closure is one. A sink that keeps
/// only some of a syscall's fields (the online rolling window) implements
/// [`EventSink::syscall`] too, and takes syscalls by reference, decoded in place: a
/// [`Syscall`] is about 200 bytes, and moving one per record showed in profiles.
pub trait EventSink {
    /// Any event but a syscall, and syscalls unless [`EventSink::syscall`] is implemented.
    fn event(&mut self, ev: Event);

    /// A syscall.
    fn syscall(&mut self, s: &Syscall) {
        self.event(Event::Syscall(*s));
    }
}

impl<F: FnMut(Event)> EventSink for F {
    fn event(&mut self, ev: Event) {
        self(ev)
    }
}

pub(crate) const REC_SYSCALL: u8 = 1;
pub(crate) const REC_FORK: u8 = 2;
pub(crate) const REC_EXEC: u8 = 3;
pub(crate) const REC_EXIT: u8 = 4;
pub(crate) const REC_COMM: u8 = 5;

/// Bytes before the frames of a syscall record (`REC_SYSCALL_BASE`).
pub(crate) const SYSCALL_BASE: usize = 56;
const FRAME_BYTES: usize = 16;
const HEAD_BYTES: usize = 24;
const COMM_LEN: usize = 16;
const DUR_NONE: u64 = u64::MAX;

/// A record that does not parse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Malformed;

fn u32_at(b: &[u8], off: usize) -> Result<u32, Malformed> {
    let bytes = b.get(off..off + 4).ok_or(Malformed)?;
    Ok(u32::from_ne_bytes(bytes.try_into().map_err(|_| Malformed)?))
}

fn u64_at(b: &[u8], off: usize) -> Result<u64, Malformed> {
    let bytes = b.get(off..off + 8).ok_or(Malformed)?;
    Ok(u64::from_ne_bytes(bytes.try_into().map_err(|_| Malformed)?))
}

fn str_at(b: &[u8], off: usize, len: usize) -> Result<String, Malformed> {
    let raw = b.get(off..(off + len).min(b.len())).ok_or(Malformed)?;
    let end = raw.iter().position(|&c| c == 0).unwrap_or(raw.len());
    Ok(String::from_utf8_lossy(&raw[..end]).into_owned())
}

struct Head {
    kind: u8,
    depth: u8,
    cpu: u32,
    ts: u64,
    pid: u32,
    tid: u32,
}

fn head(b: &[u8]) -> Result<Head, Malformed> {
    if b.len() < HEAD_BYTES {
        return Err(Malformed);
    }
    Ok(Head {
        kind: b[0],
        depth: b[1],
        cpu: u32_at(b, 4)?,
        ts: u64_at(b, 8)?,
        pid: u32_at(b, 16)?,
        tid: u32_at(b, 20)?,
    })
}

/// The kernel's `exit_code` (wait(2) status format) as the trace's exit code: the exit
/// status (0–255) of a normal exit, minus the signal number for a death by signal.
pub(crate) fn exit_code(raw: i32) -> i32 {
    if raw & 0x7f == 0 {
        (raw >> 8) & 0xff
    } else {
        -(raw & 0x7f)
    }
}

/// Decodes a syscall record (ring buffer or in-flight dump); also returns its length.
pub(crate) fn syscall(b: &[u8]) -> Result<(Syscall, usize), Malformed> {
    let mut s = Syscall::default();
    let len = syscall_into(b, &mut s)?;
    Ok((s, len))
}

/// Decodes a syscall record into `s` (all of it: nothing of what `s` held is kept);
/// returns the record's length.
pub(crate) fn syscall_into(b: &[u8], s: &mut Syscall) -> Result<usize, Malformed> {
    let h = head(b)?;
    if h.kind != REC_SYSCALL {
        return Err(Malformed);
    }
    let depth = usize::from(h.depth);
    let len = SYSCALL_BASE + depth * FRAME_BYTES;
    if depth > trace::MAX_FRAMES || b.len() < len {
        return Err(Malformed);
    }
    let dur = u64_at(b, 24)?;
    s.ts = h.ts;
    s.pid = h.pid;
    s.tid = h.tid;
    s.nr = u32_at(b, 48)?;
    s.dur = (dur != DUR_NONE).then_some(dur);
    s.ret = u64_at(b, 32)? as i64;
    s.sp = u64_at(b, 40)?;
    s.cpu = h.cpu;
    s.set_frames(&[]);
    for i in 0..depth {
        let off = SYSCALL_BASE + i * FRAME_BYTES;
        s.push_frame(Frame {
            func: u32_at(b, off)?,
            call: u64_at(b, off + 8)?,
        });
    }
    Ok(len)
}

/// Decodes one ring buffer record into events handed to `sink`; returns how many.
/// Syscalls are decoded into `scratch` and handed over by reference.
pub(crate) fn decode(
    b: &[u8],
    scratch: &mut Syscall,
    sink: &mut impl EventSink,
) -> Result<usize, Malformed> {
    let h = head(b)?;
    if h.kind == REC_SYSCALL {
        // A syscalls-only session sends a thread's syscalls in batches: records back to
        // back in one ring-buffer sample.
        let mut rest = b;
        let mut n = 0;
        while !rest.is_empty() {
            let len = syscall_into(rest, scratch)?;
            sink.syscall(scratch);
            rest = &rest[len..];
            n += 1;
        }
        return Ok(n);
    }
    let mut sink = |ev: Event| sink.event(ev);
    match h.kind {
        REC_FORK => {
            let child_pid = u32_at(b, 24)?;
            let child_tid = u32_at(b, 28)?;
            let comm = str_at(b, 32, COMM_LEN)?;
            sink(Event::Fork {
                ts: h.ts,
                parent_pid: h.pid,
                parent_tid: h.tid,
                child_pid,
                child_tid,
            });
            sink(Event::Comm {
                ts: h.ts,
                pid: child_pid,
                tid: child_tid,
                comm,
            });
            Ok(2)
        }
        REC_EXEC => {
            let old_tid = u32_at(b, 24)?;
            let path = str_at(b, 32, 256)?;
            let mut n = 0;
            // A non-leader thread that execs takes the leader's tid: its own ends here.
            if old_tid != h.tid {
                sink(Event::Exit {
                    ts: h.ts,
                    pid: h.pid,
                    tid: old_tid,
                    code: 0,
                });
                n += 1;
            }
            sink(Event::Exec {
                ts: h.ts,
                pid: h.pid,
                tid: h.tid,
                path,
            });
            Ok(n + 1)
        }
        REC_EXIT => {
            let raw = u32_at(b, 24)? as i32;
            sink(Event::Exit {
                ts: h.ts,
                pid: h.pid,
                tid: h.tid,
                code: exit_code(raw),
            });
            Ok(1)
        }
        REC_COMM => {
            let comm = str_at(b, 24, COMM_LEN)?;
            sink(Event::Comm {
                ts: h.ts,
                pid: h.pid,
                tid: h.tid,
                comm,
            });
            Ok(1)
        }
        _ => Err(Malformed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head_bytes(kind: u8, depth: u8, cpu: u32, ts: u64, pid: u32, tid: u32) -> Vec<u8> {
        let mut b = vec![kind, depth, 0, 0];
        b.extend(cpu.to_ne_bytes());
        b.extend(ts.to_ne_bytes());
        b.extend(pid.to_ne_bytes());
        b.extend(tid.to_ne_bytes());
        b
    }

    fn collect(b: &[u8]) -> Result<Vec<Event>, Malformed> {
        let mut v = Vec::new();
        let n = decode(b, &mut Syscall::default(), &mut |e| v.push(e))?;
        assert_eq!(n, v.len());
        Ok(v)
    }

    #[test]
    fn syscall_with_frames() {
        let mut b = head_bytes(REC_SYSCALL, 2, 1, 1000, 10, 11);
        b.extend(50u64.to_ne_bytes()); // dur
        b.extend((-11i64).to_ne_bytes()); // ret
        b.extend(0x7ffe_0000u64.to_ne_bytes()); // sp
        b.extend(39u32.to_ne_bytes()); // nr
        b.extend(0u32.to_ne_bytes());
        for (func, call) in [(7u32, 100u64), (3, 90)] {
            b.extend(func.to_ne_bytes());
            b.extend(0u32.to_ne_bytes());
            b.extend(call.to_ne_bytes());
        }
        let ev = collect(&b).unwrap();
        let Event::Syscall(s) = ev[0] else {
            panic!("{ev:?}")
        };
        assert_eq!(
            (s.ts, s.dur, s.pid, s.tid, s.cpu, s.nr),
            (1000, Some(50), 10, 11, 1, 39)
        );
        assert_eq!((s.ret, s.sp), (-11, 0x7ffe_0000));
        assert_eq!(
            s.frames(),
            &[Frame { func: 7, call: 100 }, Frame { func: 3, call: 90 }]
        );
        // A record cut inside its frames, and one claiming too many frames, are rejected.
        assert_eq!(collect(&b[..b.len() - 1]), Err(Malformed));
        b[1] = 9;
        assert_eq!(collect(&b), Err(Malformed));
    }

    #[test]
    fn syscall_batch() {
        let one = |ts: u64, nr: u32| {
            let mut b = head_bytes(REC_SYSCALL, 0, 0, ts, 10, 12);
            b.extend(7u64.to_ne_bytes());
            b.extend(1i64.to_ne_bytes());
            b.extend(0u64.to_ne_bytes());
            b.extend(nr.to_ne_bytes());
            b.extend(0u32.to_ne_bytes());
            b
        };
        let mut b = one(100, 0);
        b.extend(one(200, 1));
        b.extend(one(300, 3));
        let ev = collect(&b).unwrap();
        let got: Vec<(u64, u32)> = ev
            .iter()
            .map(|e| match e {
                Event::Syscall(s) => (s.ts, s.nr),
                e => panic!("{e:?}"),
            })
            .collect();
        assert_eq!(got, [(100, 0), (200, 1), (300, 3)]);
        // A batch cut inside its last record is malformed.
        assert_eq!(collect(&b[..b.len() - 8]), Err(Malformed));
    }

    #[test]
    fn syscall_without_return() {
        let mut b = head_bytes(REC_SYSCALL, 0, 0, 5, 1, 1);
        b.extend(u64::MAX.to_ne_bytes());
        b.extend([0; 24]);
        let (s, len) = syscall(&b).unwrap();
        assert_eq!((s.dur, len, s.frames().len()), (None, SYSCALL_BASE, 0));
    }

    #[test]
    fn process_records() {
        let mut b = head_bytes(REC_FORK, 0, 0, 7, 100, 101);
        b.extend(200u32.to_ne_bytes());
        b.extend(200u32.to_ne_bytes());
        b.extend(*b"worker\0\0\0\0\0\0\0\0\0\0");
        let ev = collect(&b).unwrap();
        assert_eq!(ev.len(), 2);
        assert!(matches!(
            ev[0],
            Event::Fork {
                parent_tid: 101,
                child_pid: 200,
                ..
            }
        ));
        assert!(matches!(&ev[1], Event::Comm { tid: 200, comm, .. } if comm == "worker"));

        let mut b = head_bytes(REC_EXEC, 0, 0, 8, 100, 100);
        b.extend(105u32.to_ne_bytes());
        b.extend(0u32.to_ne_bytes());
        let mut path = b"/bin/true".to_vec();
        path.resize(256, 0);
        b.extend(path);
        let ev = collect(&b).unwrap();
        assert!(matches!(
            ev[0],
            Event::Exit {
                tid: 105,
                pid: 100,
                ..
            }
        ));
        assert!(matches!(&ev[1], Event::Exec { path, tid: 100, .. } if path == "/bin/true"));

        let mut b = head_bytes(REC_EXIT, 0, 0, 9, 100, 100);
        b.extend((3i32 << 8).to_ne_bytes());
        b.extend(1u32.to_ne_bytes());
        assert!(matches!(
            collect(&b).unwrap()[0],
            Event::Exit { code: 3, .. }
        ));

        assert_eq!(collect(&head_bytes(99, 0, 0, 0, 0, 0)), Err(Malformed));
        assert_eq!(collect(&[1, 2, 3]), Err(Malformed));
    }

    #[test]
    fn exit_codes() {
        assert_eq!(exit_code(0), 0);
        assert_eq!(exit_code(1 << 8), 1);
        assert_eq!(exit_code(255 << 8), 255);
        assert_eq!(exit_code(9), -9);
        assert_eq!(exit_code(11 | 0x80), -11); // core dumped
    }
}
