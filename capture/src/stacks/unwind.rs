//! From a raw sample to a list of code addresses. The frame-pointer chain is trusted;
//! return addresses found by scanning the raw stack window between SP and the first
//! frame record (at BP) are the frames the chain skipped: the caller of a function
//! without frame pointers (libc's syscall wrappers), or of one sampled before its
//! prologue set BP up. Pure: the address space is behind [`Code`], so the rules are tested
//! on synthetic stacks.

use super::record::RawStack;

/// The call instruction that ends right before a return address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CallForm {
    None,
    /// `e8 rel32`: the target is the return address plus `rel32`.
    Direct(i32),
    /// `ff /2`: through a register or memory.
    Indirect,
}

/// Whether `code`, the bytes right before a candidate return address, ends with a call:
/// `e8 rel32`, or `ff /2` in any addressing form (ModRM, SIB, disp8/disp32, RIP-relative),
/// with an optional REX prefix and an optional `notrack` (3e) prefix before it.
pub(crate) fn call_form(code: &[u8]) -> CallForm {
    let n = code.len();
    if n >= 5 && code[n - 5] == 0xe8 {
        let rel = i32::from_le_bytes([code[n - 4], code[n - 3], code[n - 2], code[n - 1]]);
        return CallForm::Direct(rel);
    }
    // ff /2 is 2 to 7 bytes, plus up to two prefixes.
    for start in n.saturating_sub(9)..n.saturating_sub(1) {
        if indirect_call_len(&code[start..]) == Some(n - start) {
            return CallForm::Indirect;
        }
    }
    CallForm::None
}

/// The length of the `ff /2` instruction at the start of `code`, if it is one.
fn indirect_call_len(code: &[u8]) -> Option<usize> {
    let mut p = 0;
    if code.get(p) == Some(&0x3e) {
        p += 1;
    }
    if code.get(p).is_some_and(|b| (0x40..=0x4f).contains(b)) {
        p += 1;
    }
    if code.get(p) != Some(&0xff) {
        return None;
    }
    let modrm = *code.get(p + 1)?;
    p += 2;
    if (modrm >> 3) & 7 != 2 {
        return None;
    }
    let (md, rm) = (modrm >> 6, modrm & 7);
    if md == 3 {
        return Some(p);
    }
    if rm == 4 {
        let sib = *code.get(p)?;
        p += 1;
        if md == 0 && sib & 7 == 5 {
            p += 4;
        }
    } else if md == 0 && rm == 5 {
        p += 4;
    }
    p += match md {
        1 => 1,
        2 => 4,
        _ => 0,
    };
    Some(p)
}

/// What the unwinder needs to know about a process's memory.
pub(crate) trait Code {
    /// The process's address space can be read (false once it has exited).
    fn known(&mut self, pid: u32) -> bool;
    /// `addr` is in an executable mapping (file or anonymous).
    fn executable(&mut self, pid: u32, addr: u64) -> bool;
    /// `addr` is in an executable file mapping, right after a call instruction.
    fn after_call(&mut self, pid: u32, addr: u64) -> bool;
}

/// Writes the sample's code addresses into `out`, innermost first: the IP, the return
/// addresses the window scan found below the first frame record, then the frame-pointer
/// chain up to its first address outside executable memory (garbage: the chain's end).
/// Returns how many came from the scan.
///
/// When BP is not a plausible frame pointer (below SP, or misaligned: code that uses RBP
/// as a general register), or points into the stack at something that is not a frame
/// record (its return-address word is not code), the chain read from it is garbage and
/// dropped, and the whole window is scanned instead. BP equal to SP is a frame without locals, sampled after its
/// prologue: nothing to scan.
pub(crate) fn merge(raw: &RawStack, code: &mut impl Code, out: &mut Vec<u64>) -> usize {
    out.clear();
    let fp = raw.fp();
    out.push(fp.first().copied().unwrap_or(raw.ip));
    if !code.known(raw.pid) {
        // Gone before its samples were drained: nothing to check against, so the chain
        // is kept as the kernel read it, and nothing is scanned.
        out.extend_from_slice(fp.get(1..).unwrap_or(&[]));
        return 0;
    }
    let mut bp_ok = raw.bp >= raw.sp && raw.bp & 7 == 0;
    let chain: &[u64] = if bp_ok && fp.len() > 1 {
        let trusted = fp[1..]
            .iter()
            .position(|&a| !code.executable(raw.pid, a))
            .unwrap_or(fp.len() - 1);
        // BP points into the stack, but not at a frame record: code that uses RBP as a
        // general register (glibc's `select` keeps its timeout pointer there, an address
        // in the caller's locals)
        bp_ok = trusted > 0;
        &fp[1..1 + trusted]
    } else {
        &[]
    };
    let gap_end = if bp_ok { raw.bp } else { u64::MAX };
    let mut scanned = 0;
    for (i, &word) in raw.window().iter().enumerate() {
        let slot = raw.sp.wrapping_add(8 * i as u64);
        if slot >= gap_end || slot < raw.sp {
            break;
        }
        // Dedup: a copy of a chain frame (or of the word just taken) is not a new frame.
        if word == 0 || chain.contains(&word) || out.last() == Some(&word) {
            continue;
        }
        if code.after_call(raw.pid, word) {
            out.push(word);
            scanned += 1;
        }
    }
    out.extend_from_slice(chain);
    scanned
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_forms() {
        // call rel32
        assert_eq!(
            call_form(&[0x90, 0xe8, 0x10, 0, 0, 0]),
            CallForm::Direct(0x10)
        );
        assert_eq!(
            call_form(&[0xe8, 0xfb, 0xff, 0xff, 0xff]),
            CallForm::Direct(-5)
        );
        // call *%rax; call *%r11 (REX.B)
        assert_eq!(call_form(&[0x90, 0xff, 0xd0]), CallForm::Indirect);
        assert_eq!(call_form(&[0x41, 0xff, 0xd3]), CallForm::Indirect);
        // call *(%rax); call *0x10(%rax); call *0x1000(%rbx)
        assert_eq!(call_form(&[0xff, 0x10]), CallForm::Indirect);
        assert_eq!(call_form(&[0xff, 0x50, 0x10]), CallForm::Indirect);
        assert_eq!(call_form(&[0xff, 0x93, 0, 0x10, 0, 0]), CallForm::Indirect);
        // call *0x1234(%rip): the PLT-less form of calls into shared libraries
        assert_eq!(
            call_form(&[0xff, 0x15, 0x34, 0x12, 0, 0]),
            CallForm::Indirect
        );
        // call *0x8(%rax,%rbx,8) (SIB + disp8); call *0x10(,%rax,8) (SIB, no base)
        assert_eq!(call_form(&[0xff, 0x54, 0xd8, 0x08]), CallForm::Indirect);
        assert_eq!(
            call_form(&[0xff, 0x14, 0xc5, 0x10, 0, 0, 0]),
            CallForm::Indirect
        );
        // notrack call *%rax (CET builds)
        assert_eq!(call_form(&[0x3e, 0xff, 0xd0]), CallForm::Indirect);
        // Not calls: jmp *%rax (ff /4), push (ff /6), a ret, plain data, too short.
        assert_eq!(call_form(&[0x90, 0xff, 0xe0]), CallForm::None);
        assert_eq!(call_form(&[0x90, 0xff, 0x30]), CallForm::None);
        assert_eq!(call_form(&[0x90, 0x90, 0xc3]), CallForm::None);
        assert_eq!(call_form(&[0x48, 0x89, 0xe5]), CallForm::None);
        assert_eq!(call_form(&[]), CallForm::None);
        // ff 15 needs its disp32: two bytes of it are not a call ending here.
        assert_eq!(call_form(&[0x90, 0xff, 0x15, 0x34, 0x12]), CallForm::None);
    }

    /// Executable code at [0x1000, 0x2000) (app) and [0x7000, 0x8000) (libc); return
    /// addresses are the listed words.
    struct Fake {
        returns: Vec<u64>,
        gone: bool,
    }

    impl Code for Fake {
        fn known(&mut self, _pid: u32) -> bool {
            !self.gone
        }
        fn executable(&mut self, _pid: u32, a: u64) -> bool {
            (0x1000..0x2000).contains(&a) || (0x7000..0x8000).contains(&a)
        }
        fn after_call(&mut self, pid: u32, a: u64) -> bool {
            self.executable(pid, a) && self.returns.contains(&a)
        }
    }

    fn raw(ip: u64, sp: u64, bp: u64, fp: &[u64], window: &[u64]) -> RawStack {
        let mut r = RawStack {
            ip,
            sp,
            bp,
            nfp: fp.len(),
            nwords: window.len(),
            ..RawStack::default()
        };
        r.fp[..fp.len()].copy_from_slice(fp);
        r.window[..window.len()].copy_from_slice(window);
        r
    }

    fn check(r: &RawStack, returns: &[u64], want: &[u64], want_scanned: usize) {
        let mut code = Fake {
            returns: returns.to_vec(),
            gone: false,
        };
        let mut out = Vec::new();
        let scanned = merge(r, &mut code, &mut out);
        assert_eq!(out, want);
        assert_eq!(scanned, want_scanned);
    }

    #[test]
    fn libc_wrapper_caller_is_recovered() {
        // In libc's read (no frame pointer) at 0x7010; [sp] = return into sleeper
        // (0x1105); bp = sleeper's frame at sp + 0x20, whose record holds caller's
        // frame and the return into caller (0x1205), then main (0x1305).
        let sp = 0x10_0000;
        let r = raw(
            0x7010,
            sp,
            sp + 0x20,
            &[0x7010, 0x1205, 0x1305],
            &[0x1105, 42, 0x7777_0000, 0, sp + 0x40, 0x1205, 0x1ffff],
        );
        check(
            &r,
            &[0x1105, 0x1205, 0x1305],
            &[0x7010, 0x1105, 0x1205, 0x1305],
            1,
        );
    }

    #[test]
    fn words_above_the_first_frame_record_are_not_scanned() {
        // A stale return address (0x1405) above bp is ignored: the chain covers that part.
        let sp = 0x10_0000;
        let r = raw(
            0x1010,
            sp,
            sp + 8,
            &[0x1010, 0x1205],
            &[0, sp + 0x40, 0x1405],
        );
        check(&r, &[0x1205, 0x1405], &[0x1010, 0x1205], 0);
    }

    #[test]
    fn frame_without_locals_has_nothing_to_scan() {
        // A leaf after `push %rbp; mov %rsp,%rbp`: bp == sp, [sp + 8] is the return
        // address the chain already has.
        let sp = 0x10_0000;
        let r = raw(
            0x1010,
            sp,
            sp,
            &[0x1010, 0x1205, 0x1305],
            &[sp + 0x20, 0x1205],
        );
        check(&r, &[0x1205, 0x1305], &[0x1010, 0x1205, 0x1305], 0);
    }

    #[test]
    fn copies_of_chain_frames_are_dropped() {
        let sp = 0x10_0000;
        let r = raw(
            0x7010,
            sp,
            sp + 0x18,
            &[0x7010, 0x1205],
            &[0x1105, 0x1105, 0x1205],
        );
        check(&r, &[0x1105, 0x1205], &[0x7010, 0x1105, 0x1205], 1);
    }

    #[test]
    fn chain_ends_at_first_address_outside_code() {
        let sp = 0x10_0000;
        let r = raw(0x1010, sp, sp + 8, &[0x1010, 0x1205, 0x9999, 0x1305], &[]);
        check(&r, &[0x1205, 0x1305], &[0x1010, 0x1205], 0);
    }

    #[test]
    fn implausible_bp_drops_the_chain_and_scans_everything() {
        // bp below sp (RBP used as a general register): the chain read from it is noise.
        let sp = 0x10_0000;
        let r = raw(0x7010, sp, 0x42, &[0x7010, 0x1305], &[0x1105, 7, 0x1205]);
        check(&r, &[0x1105, 0x1205, 0x1305], &[0x7010, 0x1105, 0x1205], 2);
        // Misaligned bp likewise.
        let r = raw(0x7010, sp, sp + 0x13, &[0x7010, 0x1305], &[0x1105]);
        check(&r, &[0x1105, 0x1305], &[0x7010, 0x1105], 1);
    }

    #[test]
    fn bp_at_a_local_that_is_no_frame_record_scans_everything() {
        // In libc's select, RBP holds the timeout pointer: an address in the caller's
        // locals (sp + 0x18), where the chain reads {0, 1000}. The callers' frames above
        // it (0x1205: the sleeper's caller) are found by the scan.
        let sp = 0x10_0000;
        let r = raw(
            0x7010,
            sp,
            sp + 0x18,
            &[0x7010, 1000],
            &[0x1105, 0, sp + 0x30, 0, 1000, sp + 0x40, 0x1205],
        );
        check(&r, &[0x1105, 0x1205], &[0x7010, 0x1105, 0x1205], 2);
    }

    #[test]
    fn exited_process_keeps_the_raw_chain() {
        let sp = 0x10_0000;
        let r = raw(0x7010, sp, sp + 8, &[0x7010, 0x9999, 0x1205], &[0x1105]);
        let mut code = Fake {
            returns: vec![0x1105],
            gone: true,
        };
        let mut out = Vec::new();
        assert_eq!(merge(&r, &mut code, &mut out), 0);
        assert_eq!(out, [0x7010, 0x9999, 0x1205]);
    }

    #[test]
    fn no_chain_at_all_keeps_the_ip() {
        let r = raw(0x1010, 0x10_0000, 0x10_0010, &[], &[]);
        check(&r, &[], &[0x1010], 0);
    }
}
