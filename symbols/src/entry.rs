//! Cost class of a uprobe on a function's first instruction (x86-64).
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
//! The rules mirror the kernel's `uprobe_init_insn` (which instructions it refuses),
//! `branch_setup_xol_ops` and `push_setup_xol_ops` (which it emulates).

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

#[cfg(test)]
mod tests {
    use super::*;
    use EntryInsn::{Emulated, SingleStep, Unknown};

    #[test]
    fn matches_the_kernel_rules_measured_on_6_18() {
        let cases: &[(&[u8], EntryInsn)] = &[
            (&[0x55, 0x48, 0x89, 0xe5], Emulated),         // push %rbp
            (&[0x41, 0x54], Emulated),                     // push %r12
            (&[0x48, 0x55], SingleStep),                   // rex.W push %rbp
            (&[0x66, 0x55], SingleStep),                   // pushw %bp
            (&[0xf3, 0x0f, 0x1e, 0xfa, 0x55], SingleStep), // endbr64; push %rbp
            (&[0x90], Emulated),                           // nop
            (&[0x66, 0x90], Emulated),                     // xchg %ax,%ax
            (&[0xf3, 0x90], Emulated),                     // pause
            (&[0x0f, 0x1f, 0x44, 0x00, 0x00], Emulated),   // nop5
            (&[0x0f, 0x1f, 0xc0], SingleStep),             // nopl %eax: not canonical
            (&[0x66, 0x0f, 0x1f, 0x84, 0, 0, 0, 0, 0], SingleStep), // nopw 0(%rax,%rax)
            (&[0x48, 0x89, 0xf8], SingleStep),             // mov %rdi,%rax
            (&[0x8d, 0x04, 0x37], SingleStep),             // lea (%rdi,%rsi),%eax
            (&[0x48, 0x83, 0xec, 0x08], SingleStep),       // sub $8,%rsp
            (&[0xeb, 0xfe], Emulated),                     // jmp
            (&[0xe9, 0, 0, 0, 0], Emulated),               // jmp rel32
            (&[0xe8, 0, 0, 0, 0], Emulated),               // call rel32
            (&[0x0f, 0x84, 0, 0, 0, 0], Emulated),         // je rel32
            (&[0x66, 0xe8, 0, 0], Unknown),                // callw: refused
            (&[0x2e, 0x74, 0x00], Unknown),                // cs prefix: refused
            (&[0xcc], Unknown),                            // int3: refused
            (&[0xc3], SingleStep),                         // ret
            (&[], Unknown),
            (&[0x66], Unknown),
        ];
        for (code, want) in cases {
            assert_eq!(classify(code), *want, "{code:02x?}");
        }
    }
}
