//! Decoding of the sampler's records (src/bpf/stacks.h `struct rec_stack`). Parsed
//! defensively like every kernel record: a short or inconsistent one is an error the
//! sampler counts, never a panic. Decodes into a reused buffer, without allocating.

use trace::StackKind;

use crate::record::Malformed;

pub(crate) const REC_STACK: u8 = 6;
/// Frame-pointer frames and raw window words a record holds at most (`STACK_FP_MAX`,
/// `STACK_WINDOW_MAX`).
pub(crate) const FP_MAX: usize = 32;
pub(crate) const WINDOW_MAX: usize = 64;
/// `REC_STACK_BYTES`.
pub(crate) const REC_BYTES: usize = 832;
const NR_NONE: u32 = u32::MAX;
const FP_OFF: usize = 64;
const WINDOW_OFF: usize = FP_OFF + 8 * FP_MAX;

/// One sampled user stack as the kernel took it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RawStack {
    pub ts: u64,
    pub pid: u32,
    pub tid: u32,
    pub kind: StackKind,
    pub nr: Option<u32>,
    pub ip: u64,
    pub sp: u64,
    pub bp: u64,
    /// The frame-pointer chain: `fp[0]` is the IP, then return addresses.
    pub fp: [u64; FP_MAX],
    pub nfp: usize,
    /// Stack words from `sp` up.
    pub window: [u64; WINDOW_MAX],
    pub nwords: usize,
}

impl Default for RawStack {
    fn default() -> RawStack {
        RawStack {
            ts: 0,
            pid: 0,
            tid: 0,
            kind: StackKind::OnCpu,
            nr: None,
            ip: 0,
            sp: 0,
            bp: 0,
            fp: [0; FP_MAX],
            nfp: 0,
            window: [0; WINDOW_MAX],
            nwords: 0,
        }
    }
}

impl RawStack {
    pub(crate) fn fp(&self) -> &[u64] {
        &self.fp[..self.nfp]
    }

    pub(crate) fn window(&self) -> &[u64] {
        &self.window[..self.nwords]
    }
}

fn u16_at(b: &[u8], off: usize) -> u16 {
    u16::from_ne_bytes([b[off], b[off + 1]])
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_ne_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}

fn u64_at(b: &[u8], off: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[off..off + 8]);
    u64::from_ne_bytes(w)
}

/// Decodes one record into `out`.
pub(crate) fn decode(b: &[u8], out: &mut RawStack) -> Result<(), Malformed> {
    // Every offset read below is < REC_BYTES, so this one check bounds them all.
    if b.len() < REC_BYTES || b[0] != REC_STACK {
        return Err(Malformed);
    }
    let kind = match b[24] {
        0 => StackKind::OnCpu,
        1 => StackKind::Syscall,
        2 => StackKind::Blocked,
        _ => return Err(Malformed),
    };
    let nfp = usize::from(u16_at(b, 26));
    let nwords = usize::from(u16_at(b, 28));
    if nfp > FP_MAX || nwords > WINDOW_MAX {
        return Err(Malformed);
    }
    let nr = u32_at(b, 32);
    out.ts = u64_at(b, 8);
    out.pid = u32_at(b, 16);
    out.tid = u32_at(b, 20);
    out.kind = kind;
    out.nr = (nr != NR_NONE).then_some(nr);
    out.ip = u64_at(b, 40);
    out.sp = u64_at(b, 48);
    out.bp = u64_at(b, 56);
    for (i, w) in out.fp[..nfp].iter_mut().enumerate() {
        *w = u64_at(b, FP_OFF + 8 * i);
    }
    out.nfp = nfp;
    for (i, w) in out.window[..nwords].iter_mut().enumerate() {
        *w = u64_at(b, WINDOW_OFF + 8 * i);
    }
    out.nwords = nwords;
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A record as the BPF side writes it.
    pub(crate) fn encode(r: &RawStack) -> Vec<u8> {
        let mut b = vec![0u8; REC_BYTES];
        b[0] = REC_STACK;
        b[4..8].copy_from_slice(&1u32.to_ne_bytes());
        b[8..16].copy_from_slice(&r.ts.to_ne_bytes());
        b[16..20].copy_from_slice(&r.pid.to_ne_bytes());
        b[20..24].copy_from_slice(&r.tid.to_ne_bytes());
        b[24] = match r.kind {
            StackKind::OnCpu => 0,
            StackKind::Syscall => 1,
            StackKind::Blocked => 2,
        };
        b[26..28].copy_from_slice(&(r.nfp as u16).to_ne_bytes());
        b[28..30].copy_from_slice(&(r.nwords as u16).to_ne_bytes());
        b[32..36].copy_from_slice(&r.nr.unwrap_or(NR_NONE).to_ne_bytes());
        b[40..48].copy_from_slice(&r.ip.to_ne_bytes());
        b[48..56].copy_from_slice(&r.sp.to_ne_bytes());
        b[56..64].copy_from_slice(&r.bp.to_ne_bytes());
        for (i, w) in r.fp().iter().enumerate() {
            b[FP_OFF + 8 * i..FP_OFF + 8 * i + 8].copy_from_slice(&w.to_ne_bytes());
        }
        for (i, w) in r.window().iter().enumerate() {
            b[WINDOW_OFF + 8 * i..WINDOW_OFF + 8 * i + 8].copy_from_slice(&w.to_ne_bytes());
        }
        b
    }

    #[test]
    fn round_trip() {
        let mut r = RawStack {
            ts: 77,
            pid: 10,
            tid: 11,
            kind: StackKind::Blocked,
            nr: Some(0),
            ip: 0x7f00_0000_1234,
            sp: 0x7ffc_0000_0000,
            bp: 0x7ffc_0000_0040,
            nfp: 3,
            nwords: 2,
            ..RawStack::default()
        };
        r.fp[..3].copy_from_slice(&[0x7f00_0000_1234, 0x5555_0000_1000, 0x5555_0000_2000]);
        r.window[..2].copy_from_slice(&[0x5555_0000_0100, 42]);
        let b = encode(&r);
        let mut out = RawStack::default();
        decode(&b, &mut out).unwrap();
        assert_eq!(out, r);

        let mut on_cpu = r.clone();
        on_cpu.kind = StackKind::OnCpu;
        on_cpu.nr = None;
        decode(&encode(&on_cpu), &mut out).unwrap();
        assert_eq!((out.kind, out.nr), (StackKind::OnCpu, None));
    }

    #[test]
    fn malformed() {
        let r = RawStack {
            nfp: 1,
            ..RawStack::default()
        };
        let b = encode(&r);
        let mut out = RawStack::default();
        assert_eq!(decode(&b[..REC_BYTES - 1], &mut out), Err(Malformed));
        let mut bad = b.clone();
        bad[26..28].copy_from_slice(&(FP_MAX as u16 + 1).to_ne_bytes());
        assert_eq!(decode(&bad, &mut out), Err(Malformed));
        let mut bad = b.clone();
        bad[28..30].copy_from_slice(&(WINDOW_MAX as u16 + 1).to_ne_bytes());
        assert_eq!(decode(&bad, &mut out), Err(Malformed));
        let mut bad = b.clone();
        bad[24] = 3;
        assert_eq!(decode(&bad, &mut out), Err(Malformed));
        let mut bad = b;
        bad[0] = 1;
        assert_eq!(decode(&bad, &mut out), Err(Malformed));
    }
}
