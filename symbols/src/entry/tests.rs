//! The kernel's instruction classes, and the probe placement rules on hand-assembled
//! functions (bytes written out from the Intel manual's encodings).

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

const BASE: u64 = 0x1000;

/// Places the probe of one function made of `parts` (instructions, concatenated) at
/// `BASE`, alone in its executable section, and checks the offset and class chosen.
#[track_caller]
fn check(parts: &[&[u8]], want_offset: u64, want: EntryInsn) {
    let code: Vec<u8> = parts.concat();
    let f = FunctionCode {
        addr: BASE,
        size: code.len() as u64,
        code: &code,
    };
    let sites = probe_sites(&[f], &[(BASE, &code)]);
    assert_eq!(
        sites,
        [ProbeSite {
            addr: BASE + want_offset,
            insn: want
        }],
        "{parts:02x?}"
    );
}

// Encodings used below.
const PUSH_RBP: &[u8] = &[0x55];
const MOV_RSP_RBP: &[u8] = &[0x48, 0x89, 0xe5];
const POP_RBP: &[u8] = &[0x5d];
const RET: &[u8] = &[0xc3];
const ENDBR64: &[u8] = &[0xf3, 0x0f, 0x1e, 0xfa];
const MOV_RDI_RAX: &[u8] = &[0x48, 0x89, 0xf8];
const TEST_RSI_RSI: &[u8] = &[0x48, 0x85, 0xf6];
const XOR_EAX_EAX: &[u8] = &[0x31, 0xc0];
const NOP: &[u8] = &[0x90];

#[test]
fn an_emulated_entry_keeps_its_probe() {
    check(&[PUSH_RBP, MOV_RSP_RBP, POP_RBP, RET], 0, Emulated);
    // `jmp` first (a tail call stub): emulated, stays.
    check(&[&[0xe9, 0, 0, 0, 0]], 0, Emulated);
}

#[test]
fn endbr64_is_skipped_onto_the_push() {
    check(&[ENDBR64, PUSH_RBP, MOV_RSP_RBP, POP_RBP, RET], 4, Emulated);
}

#[test]
fn an_early_exit_test_puts_the_probe_on_its_jcc() {
    // checksum_buffer: test %rsi,%rsi; je .Lret; push %rbp; ...; .Lret: ret
    // je +5 lands on the ret: after the candidate, so allowed.
    check(
        &[
            TEST_RSI_RSI,
            &[0x74, 0x05],
            PUSH_RBP,
            MOV_RSP_RBP,
            POP_RBP,
            RET,
        ],
        3,
        Emulated,
    );
    // on_readable: mov 0x10(%rdi),%rax; cmp $0x1000,%rax; je +1; push %rbp; ret
    check(
        &[
            &[0x48, 0x8b, 0x47, 0x10],
            &[0x48, 0x3d, 0x00, 0x10, 0x00, 0x00],
            &[0x74, 0x01],
            PUSH_RBP,
            RET,
        ],
        10,
        Emulated,
    );
    // The same with a near jcc (0f 84 rel32).
    check(
        &[TEST_RSI_RSI, &[0x0f, 0x84, 0x01, 0, 0, 0], PUSH_RBP, RET],
        3,
        Emulated,
    );
}

#[test]
fn canonical_nops_calls_and_pushes_are_candidates() {
    // xor; nopl 0(%rax) (canonical nop4); the loop it aligns starts after it: `jne`
    // back to offset 6 is fine.
    check(
        &[
            XOR_EAX_EAX,
            &[0x0f, 0x1f, 0x40, 0x00],
            &[0x0f, 0xb6, 0x07], // 6: movzbl (%rdi),%eax
            &[0x48, 0xff, 0xc7], // 9: inc %rdi
            &[0x84, 0xc0],       // 12: test %al,%al
            &[0x75, 0xf6],       // 14: jne 6
            RET,
        ],
        2,
        Emulated,
    );
    // mov %rdi,%rsi; call rel32: the probe fires before the call pushes anything.
    check(
        &[&[0x48, 0x89, 0xfe], &[0xe8, 0, 0, 0, 0], RET],
        3,
        Emulated,
    );
    // A non-canonical (single-stepped) nopw, then push %r12.
    check(
        &[&[0x66, 0x0f, 0x1f, 0x84, 0, 0, 0, 0, 0], &[0x41, 0x54], RET],
        9,
        Emulated,
    );
}

#[test]
fn the_5_byte_nop_is_passed_over() {
    const NOP5: &[u8] = &[0x0f, 0x1f, 0x44, 0x00, 0x00];
    // parse_command: xor %r8d,%r8d; nopl 0(%rax,%rax); a loop from offset 8 on. The
    // kernel would turn a probe on the nop into a `uprobe` syscall; past it the loop
    // header is a branch target: the probe stays on the entry.
    check(
        &[
            &[0x45, 0x31, 0xc0],
            NOP5,
            &[0x0f, 0xb6, 0x07], // 8: movzbl (%rdi),%eax
            &[0x48, 0xff, 0xc7], // 11: inc %rdi
            &[0x84, 0xc0],       // 14: test %al,%al
            &[0x75, 0xf6],       // 16: jne 8
            RET,
        ],
        0,
        SingleStep,
    );
    // mov; nop5; push: onto the push.
    check(&[MOV_RDI_RAX, NOP5, PUSH_RBP, RET], 8, Emulated);
    // A patchable entry (nop5 first): moved onto the push...
    check(&[NOP5, PUSH_RBP, MOV_RSP_RBP, POP_RBP, RET], 5, Emulated);
    // ...and kept (emulated, as before) when nothing after it qualifies.
    check(&[NOP5, MOV_RDI_RAX, RET], 0, Emulated);
}

#[test]
fn the_prefix_is_at_most_four_instructions() {
    let mov: &[u8] = MOV_RDI_RAX;
    check(&[mov, mov, mov, mov, PUSH_RBP, RET], 12, Emulated);
    check(&[mov, mov, mov, mov, mov, PUSH_RBP, RET], 0, SingleStep);
}

#[test]
fn instructions_that_move_rsp_end_the_prefix() {
    let cases: &[&[u8]] = &[
        &[0x48, 0x83, 0xec, 0x08],       // sub $8,%rsp
        &[0x48, 0x83, 0xe4, 0xf0],       // and $-16,%rsp
        &[0x48, 0x8d, 0x64, 0x24, 0x08], // lea 8(%rsp),%rsp
        &[0x48, 0x89, 0xfc],             // mov %rdi,%rsp
        &[0x48, 0x94],                   // xchg %rax,%rsp
        &[0x89, 0xfc],                   // mov %edi,%esp
        &[0x48, 0x55],                   // rex.W push %rbp: single-stepped and a push
        &[0x66, 0x55],                   // pushw %bp
        &[0x9c],                         // pushf
        &[0xc9],                         // leave
        &[0xc8, 0x10, 0x00, 0x00],       // enter $16,$0
    ];
    for insn in cases {
        check(&[insn, PUSH_RBP, RET], 0, SingleStep);
        check(&[MOV_RDI_RAX, insn, PUSH_RBP, RET], 0, SingleStep);
    }
    // Reading RSP is harmless.
    check(&[&[0x48, 0x89, 0xe0], PUSH_RBP, RET], 3, Emulated); // mov %rsp,%rax
}

#[test]
fn instructions_that_may_leave_the_prefix_end_it() {
    let cases: &[&[u8]] = &[
        RET,
        &[0x0f, 0x05],       // syscall
        &[0xff, 0xe0],       // jmp *%rax
        &[0xff, 0xd0],       // call *%rax
        &[0x0f, 0x0b],       // ud2
        &[0xf4],             // hlt: refused by the kernel
        &[0xec],             // in (%dx),%al: refused
        &[0xf0, 0xff, 0x07], // lock incl (%rdi): lock prefix refused
        &[0x8e, 0xd8],       // mov %eax,%ds: writes a segment register
    ];
    for insn in cases {
        check(&[MOV_RDI_RAX, insn, PUSH_RBP, RET], 0, SingleStep);
    }
}

#[test]
fn writes_over_the_return_address_slot_end_the_prefix() {
    let slot: &[&[u8]] = &[
        &[0x48, 0x89, 0x3c, 0x24],       // mov %rdi,(%rsp)
        &[0x89, 0x7c, 0x24, 0x04],       // mov %edi,4(%rsp)
        &[0x48, 0x89, 0x7c, 0x24, 0xfc], // mov %rdi,-4(%rsp)
        &[0xc6, 0x44, 0x24, 0x07, 0x00], // movb $0,7(%rsp)
        &[0x48, 0x89, 0x3c, 0x04],       // mov %rdi,(%rsp,%rax): indexed
        &[0x48, 0x83, 0x04, 0x24, 0x01], // addq $1,(%rsp)
        &[0x0f, 0xae, 0x04, 0x24],       // fxsave (%rsp)
    ];
    for insn in slot {
        check(&[insn, PUSH_RBP, RET], 0, SingleStep);
    }
    let elsewhere: &[&[u8]] = &[
        &[0x48, 0x89, 0x7c, 0x24, 0xf8], // mov %rdi,-8(%rsp): the red zone
        &[0x48, 0x89, 0x7c, 0x24, 0x08], // mov %rdi,8(%rsp): the caller's frame
        &[0x48, 0x89, 0x37],             // mov %rsi,(%rdi)
    ];
    for insn in elsewhere {
        check(&[insn, PUSH_RBP, RET], insn.len() as u64, Emulated);
    }
}

#[test]
fn a_branch_into_the_prefix_keeps_the_probe_at_the_entry() {
    // xor; nop (candidate at 2); inc %eax; jmp 2: a loop back to the candidate.
    check(
        &[XOR_EAX_EAX, NOP, &[0xff, 0xc0], &[0xeb, 0xfb]],
        0,
        SingleStep,
    );
    // xor; mov (at 2); push (candidate at 5); jne 2: into the prefix, before it.
    check(
        &[
            XOR_EAX_EAX,
            MOV_RDI_RAX,
            PUSH_RBP,
            &[0x75, 0xfa],
            POP_RBP,
            RET,
        ],
        0,
        SingleStep,
    );
    // A loop back to the entry passes the entry probe again too: allowed.
    check(
        &[XOR_EAX_EAX, PUSH_RBP, POP_RBP, &[0x75, 0xfa], RET],
        2,
        Emulated,
    );
    // A call to the candidate counts like a jump.
    check(
        &[
            XOR_EAX_EAX,
            PUSH_RBP,
            POP_RBP,
            &[0xe8, 0xf9, 0xff, 0xff, 0xff],
            RET,
        ],
        0,
        SingleStep,
    );
}

#[test]
fn an_indirect_jump_in_the_body_keeps_the_probe_at_the_entry() {
    // mov; push; jmp *%rax (a jump table or a register tail call).
    check(&[MOV_RDI_RAX, PUSH_RBP, &[0xff, 0xe0]], 0, SingleStep);
    // jmp *0x10(,%rax,8)
    check(
        &[MOV_RDI_RAX, PUSH_RBP, &[0xff, 0x24, 0xc5, 0x10, 0, 0, 0]],
        0,
        SingleStep,
    );
    // An indirect call returns to the next instruction: allowed.
    check(
        &[MOV_RDI_RAX, PUSH_RBP, &[0xff, 0xd0], POP_RBP, RET],
        3,
        Emulated,
    );
}

#[test]
fn other_code_and_symbols_count_too() {
    // f at BASE: mov; push (candidate at 3); pop; ret.  g at BASE+0x10: jmp f+3.
    let f: Vec<u8> = [MOV_RDI_RAX, PUSH_RBP, POP_RBP, RET].concat();
    let mut text = f.clone();
    text.resize(0x10, 0xcc);
    // jmp rel32 from 0x1010 (next ip 0x1015) to 0x1003: -0x12.
    text.extend_from_slice(&[0xe9, 0xee, 0xff, 0xff, 0xff]);
    fn funcs(text: &[u8], f_len: usize) -> Vec<FunctionCode<'_>> {
        vec![
            FunctionCode {
                addr: BASE,
                size: f_len as u64,
                code: text,
            },
            FunctionCode {
                addr: BASE + 0x10,
                size: 5,
                code: &text[0x10..],
            },
        ]
    }
    let sites = probe_sites(&funcs(&text, f.len()), &[(BASE, &text)]);
    assert_eq!(sites[0].addr, BASE, "{sites:?}");
    assert_eq!(sites[0].insn, SingleStep);
    // The same jump from code that is no function (a `.cold` part) is seen as well.
    let sites = probe_sites(&funcs(&text, f.len())[..1], &[(BASE, &text)]);
    assert_eq!(sites[0].addr, BASE, "{sites:?}");
    // Without the jump the probe moves.
    text[0x10..].copy_from_slice(&[0xe9, 0, 0, 0, 0]);
    let sites = probe_sites(&funcs(&text, f.len()), &[(BASE, &text)]);
    assert_eq!(
        sites[0],
        ProbeSite {
            addr: BASE + 3,
            insn: Emulated
        }
    );

    // Another symbol starting inside the prefix (a second entry point).
    let alias = FunctionCode {
        addr: BASE + 3,
        size: 2,
        code: &f[3..],
    };
    let whole = FunctionCode {
        addr: BASE,
        size: f.len() as u64,
        code: &f,
    };
    let sites = probe_sites(&[whole, alias], &[(BASE, &f)]);
    assert_eq!(sites[0].addr, BASE, "{sites:?}");
}

#[test]
fn missing_or_refused_code_stays_put() {
    // The symbol says 64 bytes, the file holds 5.
    let code: Vec<u8> = [MOV_RDI_RAX, PUSH_RBP, RET].concat();
    let f = FunctionCode {
        addr: BASE,
        size: 64,
        code: &code,
    };
    assert_eq!(
        probe_sites(&[f], &[]),
        [ProbeSite {
            addr: BASE,
            insn: SingleStep
        }]
    );
    // No size: nothing to decode.
    let f = FunctionCode { size: 0, ..f };
    assert_eq!(probe_sites(&[f], &[])[0].addr, BASE);
    // A refused entry stays refused.
    check(&[&[0x2e, 0x48, 0x89, 0xf8], PUSH_RBP, RET], 0, Unknown);
    check(&[&[0xcc], PUSH_RBP, RET], 0, Unknown);
    // Nothing in the file.
    let f = FunctionCode {
        addr: BASE,
        size: 4,
        code: &[],
    };
    assert_eq!(
        probe_sites(&[f], &[]),
        [ProbeSite {
            addr: BASE,
            insn: Unknown
        }]
    );
    // Undecodable bytes after the candidate.
    check(&[MOV_RDI_RAX, PUSH_RBP, &[0x06]], 0, SingleStep);
}
