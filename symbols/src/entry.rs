//! Where a function's uprobe goes, and what it costs there (x86-64).
//!
//! The kernel (arch/x86/kernel/uprobes.c) replaces the probed instruction with `int3`.
//! On a hit it must then execute the original instruction: a few kinds it emulates in
//! the kernel, everything else it copies to a per-thread slot and single-steps with a
//! trap flag, which costs one more round trip through the kernel. Measured on this
//! machine (kernel 6.18, classic tracefs uprobe, 50,000 calls each): `push %rbp`,
//! `push %r12`, `nop`, `66 90`, the canonical multi-byte NOPs (3 to 8 bytes), `pause`,
//! `jmp` and `call` cost 1.1–1.9 µs per hit; `endbr64`, `mov`, `sub`, `rex.W push`, the
//! non-canonical NOPs `0f 1f c0` and `66 0f 1f 84 ..` cost 14–21 µs.
//!
//! So `endbr64` is **single-stepped**: the kernel neither emulates it nor skips it, and
//! a function built with `-fcf-protection` (Ubuntu's default, not Debian's) pays the slow
//! path on every entry even though `push %rbp` follows.
//!
//! [`classify`]'s rules mirror the kernel's `uprobe_init_insn` (which instructions it
//! refuses), `branch_setup_xol_ops` and `push_setup_xol_ops` (which it emulates).
//!
//! # Moving the probe past the first instructions
//!
//! gcc -O2 leaves about a third of a server's functions without an emulated first
//! instruction even with `-fno-omit-frame-pointer`: leaves without a frame, prologues
//! shrink-wrapped after an early-exit test (`test; je; push %rbp`), a `mov` of an
//! argument first, `endbr64`. [`probe_sites`] therefore puts the probe of such a function
//! on the first emulated instruction of its straight-line prefix, provided that the
//! BPF entry program sees there exactly what it would see at the entry: the user SP
//! equal to the entry SP (the shadow stack's frame key), `[SP]` the return address (its
//! slot test), and one hit per call. For a candidate at most [`MAX_PREFIX`] instructions
//! in, every instruction before it must
//!
//! - (a) not change RSP: no push, pop, call, `enter`/`leave`, and no explicit write to
//!   RSP/ESP/SP (`sub`, `and`, `lea`, `mov`, `xchg`...). Otherwise SP at the probe is
//!   not the entry SP and the frame would be keyed wrong (popped too early or too late);
//! - (b) fall through to the next instruction: no branch, call, return, `syscall` or
//!   interrupt, and nothing the kernel refuses to probe (privileged or I/O instructions,
//!   segment and `lock` prefixes). Otherwise a path could leave the prefix, and a call
//!   that took it would never reach the probe (a lost invocation, its syscalls blamed
//!   on the caller); being refusable by the kernel also rules out the odd instructions
//!   that trap;
//! - (c) not write memory that may overlap `[RSP, RSP+8)` (a write with base RSP whose
//!   bytes overlap the slot, or with an index, or of unknown size), nor any segment
//!   register. Otherwise the return address read at the probe is not the one the slot
//!   test will compare with later;
//!
//! and the candidate itself must
//!
//! - (d) be emulated ([`EntryInsn::Emulated`]: `push`, canonical NOP, relative `jmp`,
//!   `call` or `jcc`), but not the 5-byte NOP. A `jcc` qualifies: the probe fires before
//!   it executes, with the entry's SP and slot, and both of its outcomes leave the prefix
//!   once. The 5-byte NOP does not: kernel 6.18 optimizes a uprobe there into a `call`
//!   to a trampoline that enters the kernel through the `uprobe` syscall, and the
//!   capture records that syscall as the function's own (measured: loopsrv
//!   `parse_command`, `xor; nopl 0(%rax,%rax)`, got a `uprobe` syscall per call). It is
//!   an ordinary prefix instruction instead, and an entry on one is moved too when an
//!   instruction after it qualifies;
//! - (e) not be reachable except through the prefix: no direct branch or call anywhere
//!   in the file's executable sections (the function's own body, `.cold` parts, other
//!   functions) targets an instruction in (entry, candidate], no other function symbol
//!   starts there, the function has no indirect jump (a jump table's targets are
//!   unknown; so are those of a register tail call, which cannot be told apart), and
//!   its whole body decodes. Otherwise a loop back to the candidate, or a second entry
//!   point, would fire the probe twice in one call, pushing a bogus frame.
//!
//! A jump back to the entry itself is allowed: it passes the entry probe again too, so
//! nothing changes. When no candidate passes, the probe stays on the entry, single-
//! stepped. What remains different from an entry probe: a call that faults inside the
//! prefix (a null argument dereferenced by its first `mov`) is not recorded; the process
//! normally dies of it. A write of the return address slot through another register
//! than RSP (`mov %rsp,%rax; movq $0,(%rax)`) is not seen; compilers do not emit one.

use iced_x86::{
    Decoder, DecoderOptions, FlowControl, Instruction, InstructionInfoFactory, OpAccess, OpKind,
    Register, UsedMemory,
};

use crate::EntryInsn;

/// Legacy prefixes that `is_prefix_bad` refuses: segment overrides es/cs/ss/ds and lock.
const BAD_PREFIXES: [u8; 5] = [0x26, 0x2e, 0x36, 0x3e, 0xf0];

/// Legacy prefixes the decoder skips before the opcode.
const LEGACY_PREFIXES: [u8; 11] = [
    0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65, 0x66, 0x67, 0xf0, 0xf2, 0xf3,
];

/// One-byte opcodes the kernel refuses to probe in 64-bit code (invalid in long mode,
/// privileged, or traps such as `int3`/`int N`). Two-byte opcodes (`0f xx`) all pass:
/// the kernel checks the first opcode byte, and `0f` is in its good table.
const BAD_OPCODES: [u8; 40] = [
    0x06, 0x07, 0x0e, 0x16, 0x17, 0x1e, 0x1f, 0x27, 0x2f, 0x37, 0x3f, 0x60, 0x61, 0x62, 0x6c, 0x6d,
    0x6e, 0x6f, 0x82, 0x9a, 0xcc, 0xcd, 0xce, 0xcf, 0xd4, 0xd5, 0xd6, 0xe4, 0xe5, 0xe6, 0xe7, 0xea,
    0xec, 0xed, 0xee, 0xef, 0xf1, 0xf4, 0xfa, 0xfb,
];

/// The NOPs the kernel emulates by exact byte match (`x86_nops[len]`).
const CANONICAL_NOPS: [&[u8]; 8] = [
    &[0x90],
    &[0x66, 0x90],
    &[0x0f, 0x1f, 0x00],
    &[0x0f, 0x1f, 0x40, 0x00],
    &[0x0f, 0x1f, 0x44, 0x00, 0x00],
    &[0x66, 0x0f, 0x1f, 0x44, 0x00, 0x00],
    &[0x0f, 0x1f, 0x80, 0x00, 0x00, 0x00, 0x00],
    &[0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00],
];

/// Classifies the instruction at the start of `code` (the bytes from the function entry
/// on; an empty slice means the bytes are not in the file).
pub(crate) fn classify(code: &[u8]) -> EntryInsn {
    if code.is_empty() {
        return EntryInsn::Unknown;
    }
    let mut i = 0;
    let mut prefix_66 = false;
    while i < code.len() && i < 4 && LEGACY_PREFIXES.contains(&code[i]) {
        if BAD_PREFIXES.contains(&code[i]) {
            return EntryInsn::Unknown;
        }
        prefix_66 |= code[i] == 0x66;
        i += 1;
    }
    let legacy = i;
    let rex = match code.get(i) {
        Some(&b) if (0x40..=0x4f).contains(&b) => {
            i += 1;
            Some(b)
        }
        _ => None,
    };
    let Some(&opcode) = code.get(i) else {
        return EntryInsn::Unknown;
    };
    if BAD_OPCODES.contains(&opcode) {
        return EntryInsn::Unknown;
    }
    // mov to %ss masks interrupts for one instruction: the kernel will not step it.
    if opcode == 0x8e && code.get(i + 1).is_some_and(|modrm| (modrm >> 3) & 7 == 2) {
        return EntryInsn::Unknown;
    }
    if CANONICAL_NOPS.iter().any(|nop| code.starts_with(nop)) {
        return EntryInsn::Emulated;
    }
    let branch = match opcode {
        0xeb | 0xe9 | 0xe8 | 0x70..=0x7f => true,
        0x0f => code.get(i + 1).is_some_and(|b| (0x80..=0x8f).contains(b)),
        // Any prefixes + 0x90 is treated as a jump by zero.
        0x90 => return EntryInsn::Emulated,
        _ => false,
    };
    if branch {
        // The kernel refuses 16-bit branches (`66 e8 ..`) outright.
        return if prefix_66 {
            EntryInsn::Unknown
        } else {
            EntryInsn::Emulated
        };
    }
    // push reg: one byte, or two with exactly REX.B (0x41) for r8-r15.
    if (0x50..=0x57).contains(&opcode) && legacy == 0 && matches!(rex, None | Some(0x41)) {
        return EntryInsn::Emulated;
    }
    EntryInsn::SingleStep
}

/// Instructions that may stand between a function's entry and its moved probe: enough
/// for `endbr64`, an argument `mov` or two and an early-exit test before `push %rbp`.
pub(crate) const MAX_PREFIX: usize = 4;

/// The bytes of one function, as [`probe_sites`] needs them.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FunctionCode<'d> {
    pub addr: u64,
    /// From the symbol table; 0 when unknown: then the probe stays at the entry.
    pub size: u64,
    /// The file's bytes from `addr` on (to the end of its section); empty when the file
    /// does not hold them.
    pub code: &'d [u8],
}

impl<'d> FunctionCode<'d> {
    /// The function's own bytes, fewer when the file holds fewer.
    fn body(&self) -> &'d [u8] {
        let len = usize::try_from(self.size).unwrap_or(usize::MAX);
        &self.code[..self.code.len().min(len)]
    }
}

/// Where a function's uprobe goes, and the cost class of the instruction there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ProbeSite {
    pub addr: u64,
    pub insn: EntryInsn,
}

/// A candidate probe site after the prefix, not yet checked against branch targets.
#[derive(Clone, Copy, Debug)]
struct Window {
    entry: u64,
    candidate: u64,
    /// Index into the functions.
    function: usize,
    ok: bool,
}

/// The probe site of each function (same order), by the rules in the module docs.
/// `exec` holds the file's executable sections (address, bytes): every direct branch in
/// them counts against the candidates it targets.
pub(crate) fn probe_sites(functions: &[FunctionCode<'_>], exec: &[(u64, &[u8])]) -> Vec<ProbeSite> {
    let mut sites: Vec<ProbeSite> = functions
        .iter()
        .map(|f| ProbeSite {
            addr: f.addr,
            insn: classify(&f.code[..f.code.len().min(16)]),
        })
        .collect();
    let mut entries: Vec<u64> = functions.iter().map(|f| f.addr).collect();
    entries.sort_unstable();
    entries.dedup();

    let mut factory = InstructionInfoFactory::new();
    let mut windows: Vec<Window> = Vec::new();
    for (i, f) in functions.iter().enumerate() {
        // Single-stepped entries move, and 5-byte NOPs (rule (d)). An entry the kernel
        // refuses stays refused: rule (b) would stop at it anyway.
        let movable = match sites[i].insn {
            EntryInsn::SingleStep => true,
            EntryInsn::Emulated => is_nop5(f.code),
            EntryInsn::Unknown => false,
        };
        if !movable {
            continue;
        }
        let Some(candidate) = prefix_candidate(f, &mut factory) else {
            continue;
        };
        let next = entries.partition_point(|&a| a <= f.addr);
        if entries.get(next).is_some_and(|&a| a <= candidate) {
            continue;
        }
        windows.push(Window {
            entry: f.addr,
            candidate,
            function: i,
            ok: true,
        });
    }
    if windows.is_empty() {
        return sites;
    }
    // Windows hold no entry but their own, so sorted by entry they are disjoint.
    windows.sort_by_key(|w| w.entry);

    let mut insn = Instruction::default();
    for w in 0..windows.len() {
        let f = &functions[windows[w].function];
        let body = f.body();
        if (body.len() as u64) < f.size {
            windows[w].ok = false;
            continue;
        }
        let mut decoder = Decoder::with_ip(64, body, f.addr, DecoderOptions::NONE);
        while decoder.can_decode() {
            decoder.decode_out(&mut insn);
            if insn.is_invalid() || insn.flow_control() == FlowControl::IndirectBranch {
                windows[w].ok = false;
                break;
            }
            void_target(&insn, &mut windows);
        }
    }
    for &(addr, bytes) in exec {
        let mut decoder = Decoder::with_ip(64, bytes, addr, DecoderOptions::NONE);
        while decoder.can_decode() {
            decoder.decode_out(&mut insn);
            void_target(&insn, &mut windows);
        }
    }
    for w in windows.iter().filter(|w| w.ok) {
        sites[w.function] = ProbeSite {
            addr: w.candidate,
            insn: EntryInsn::Emulated,
        };
    }
    sites
}

/// Marks the window that a direct branch or call of `insn` lands in, past its entry.
fn void_target(insn: &Instruction, windows: &mut [Window]) {
    if !matches!(
        insn.op0_kind(),
        OpKind::NearBranch16 | OpKind::NearBranch32 | OpKind::NearBranch64
    ) {
        return;
    }
    let target = insn.near_branch_target();
    let i = windows.partition_point(|w| w.entry < target);
    if let Some(w) = i.checked_sub(1).and_then(|i| windows.get_mut(i))
        && target <= w.candidate
    {
        w.ok = false;
    }
}

/// The first emulated instruction after at most [`MAX_PREFIX`] instructions that keep
/// the entry's SP and return-address slot and fall through (rules (a)–(d)).
fn prefix_candidate(f: &FunctionCode<'_>, factory: &mut InstructionInfoFactory) -> Option<u64> {
    let mut decoder = Decoder::with_ip(64, f.body(), f.addr, DecoderOptions::NONE);
    let mut insn = Instruction::default();
    for k in 0..=MAX_PREFIX {
        if !decoder.can_decode() {
            return None;
        }
        decoder.decode_out(&mut insn);
        if insn.is_invalid() {
            return None;
        }
        let at = usize::try_from(insn.ip() - f.addr).ok()?;
        let here = f.code.get(at..)?;
        let class = classify(here);
        if k > 0 && class == EntryInsn::Emulated && !is_nop5(here) {
            return Some(insn.ip());
        }
        if !keeps_entry_frame(&insn, class, factory) {
            return None;
        }
    }
    None
}

/// Rules (a)–(c) for one prefix instruction.
fn keeps_entry_frame(
    insn: &Instruction,
    class: EntryInsn,
    factory: &mut InstructionInfoFactory,
) -> bool {
    if class == EntryInsn::Unknown
        || insn.flow_control() != FlowControl::Next
        || insn.stack_pointer_increment() != 0
    {
        return false;
    }
    let info = factory.info(insn);
    let writes_rsp_or_segment = info.used_registers().iter().any(|r| {
        writes(r.access())
            && (r.register().full_register() == Register::RSP || r.register().is_segment_register())
    });
    !writes_rsp_or_segment
        && !info
            .used_memory()
            .iter()
            .any(|m| writes(m.access()) && may_hit_return_slot(m))
}

/// The canonical 5-byte NOP, whose uprobe the kernel turns into a `uprobe` syscall.
fn is_nop5(code: &[u8]) -> bool {
    code.starts_with(CANONICAL_NOPS[4])
}

fn writes(access: OpAccess) -> bool {
    matches!(
        access,
        OpAccess::Write | OpAccess::CondWrite | OpAccess::ReadWrite | OpAccess::ReadCondWrite
    )
}

/// Whether a memory operand can overlap `[RSP, RSP+8)` at the entry.
fn may_hit_return_slot(m: &UsedMemory) -> bool {
    let rsp = |r: Register| r.full_register() == Register::RSP;
    if !rsp(m.base()) && !rsp(m.index()) {
        return false;
    }
    if m.index() != Register::None || m.address_size() != iced_x86::CodeSize::Code64 {
        return true;
    }
    let Ok(size) = i64::try_from(m.memory_size().size()) else {
        return true;
    };
    // The displacement of a 64-bit address is sign-extended into the u64.
    let disp = m.displacement() as i64;
    size == 0 || (disp < 8 && disp.saturating_add(size) > 0)
}

#[cfg(test)]
mod tests;
