//! Which functions can reach a system call: a static call graph of the machine code.
//!
//! The runner's attribution (capture's BPF program) pushes a frame per probed function
//! entry and gives each syscall to the top live frame. A function that provably makes no
//! system call, directly or through anything it calls, is never the top live frame at a
//! syscall, so leaving its probe out changes no attribution: its caller's frame stays on
//! top. [`analyze`] decides that per function, conservatively:
//!
//! - **Direct**: the body (with its split `.cold` parts, which GCC names `foo.cold` and
//!   which are merged into `foo`) holds `syscall`, `sysenter` or `int N`.
//! - **Unknown** ("may"): an indirect call; an indirect jump that is not a switch of
//!   the function itself; a call or jump to an address that is neither inside the
//!   function nor another function's start; a shared-library function (through the PLT
//!   or the GOT) outside [`NO_SYSCALL_IMPORTS`]; bytes that do not decode or are not in
//!   the file. A call to a `noreturn` function (`abort`, `exit`, `__stack_chk_fail`) is
//!   an ordinary call: those do make system calls before the process ends.
//! - **Callee**: a direct call, a tail jump (`jmp`/`jcc` to another function's start) or
//!   a call through the PLT reaches a function that is Direct, Unknown or Callee.
//! - **Cannot**: none of the above; the least fixed point over the call graph.
//!
//! A switch: an indirect `jmp` whose last few instructions before it (in the same
//! straight line) compute it from a jump table, found as a RIP-relative `lea` (PIC:
//! 32-bit offsets from the table) or a `[table + index*8]` operand (absolute 64-bit
//! addresses) at an address in a non-code section, whose first two entries or more land
//! on instruction starts of the function itself. Anything else (a tail call through a
//! pointer, a table of function pointers) is Unknown.
//!
//! Assumed: code and data are not interleaved in a function's bytes (true of gcc and
//! clang output for x86-64; hand-written assembly with data in `.text` could make the
//! linear decoding skip an instruction).
//!
//! Not seen, and why it does not matter for attribution: a signal handler runs as its
//! own (probed) function; the lazy binding of a PLT slot runs the dynamic linker's
//! resolver, which looks symbols up in memory. Self-modifying or JIT code is not
//! analysed (such a function's callers reach it indirectly: Unknown).

use iced_x86::{Decoder, DecoderOptions, FlowControl, Instruction, Mnemonic, OpKind, Register};
use rustc_hash::FxHashMap;

use crate::SyscallReach;

/// Shared-library functions (called through the PLT or GOT) that never make a system
/// call in glibc and libm: memory and string primitives, character classes and case
/// (read from the thread's locale tables, already loaded), pure maths.
/// Anything that may allocate, lock, read the locale files, print or abort is left out
/// (so `__memcpy_chk`, whose failure path aborts, is not here).
pub const NO_SYSCALL_IMPORTS: &[&str] = &[
    "memcpy",
    "memmove",
    "memset",
    "memcmp",
    "bcmp",
    "memchr",
    "memrchr",
    "rawmemchr",
    "strlen",
    "strnlen",
    "strcmp",
    "strncmp",
    "strchr",
    "strrchr",
    "strchrnul",
    "strstr",
    "strcpy",
    "strncpy",
    "stpcpy",
    "strcat",
    "strncat",
    "strspn",
    "strcspn",
    "strpbrk",
    "strcasecmp",
    "strncasecmp",
    "tolower",
    "toupper",
    "__errno_location",
    "__ctype_b_loc",
    "__ctype_tolower_loc",
    "__ctype_toupper_loc",
    "abs",
    "labs",
    "llabs",
    "sqrt",
    "floor",
    "ceil",
    "round",
    "trunc",
    "fabs",
    "fmod",
    "exp",
    "log",
    "log2",
    "log10",
    "pow",
];

/// How many entries a jump table must have (valid, in a row, from its start).
const MIN_TABLE_ENTRIES: usize = 2;

/// How far back from an indirect `jmp` its table computation is looked for.
const TABLE_LOOKBACK: usize = 10;

/// One function of the graph: its entry and the ranges of its code.
#[derive(Clone, Debug)]
pub(crate) struct Body<'d> {
    pub addr: u64,
    /// The entry part first, then `.cold` parts: (address, bytes). A part whose bytes the
    /// file does not fully hold has fewer bytes than its symbol's size.
    pub parts: Vec<(u64, u64, &'d [u8])>,
}

/// What [`analyze`] needs from the ELF file besides the bodies.
#[derive(Clone, Debug, Default)]
pub(crate) struct Image<'d> {
    /// Executable `.plt*` sections: (address, bytes).
    pub plt: Vec<(u64, &'d [u8])>,
    /// GOT slot address → imported symbol name (from the dynamic relocations).
    pub got: FxHashMap<u64, String>,
    /// Allocated non-executable sections with file bytes: (address, bytes), sorted.
    pub data: Vec<(u64, &'d [u8])>,
}

/// Where a call or jump goes, seen from one function.
enum Target {
    Inside,
    Function(u32),
    Import(bool),
    Nowhere,
}

/// The syscall reach of every body (same order).
pub(crate) fn analyze(bodies: &[Body<'_>], image: &Image<'_>) -> Vec<SyscallReach> {
    let plt = plt_stubs(image);
    let mut starts: FxHashMap<u64, u32> = FxHashMap::default();
    for (i, b) in bodies.iter().enumerate() {
        starts.insert(b.addr, i as u32);
    }
    let mut own: Vec<SyscallReach> = Vec::with_capacity(bodies.len());
    // callers[callee] = functions that call or tail-jump to it.
    let mut callers: Vec<Vec<u32>> = vec![Vec::new(); bodies.len()];
    let mut insns: Vec<Instruction> = Vec::new();
    for (i, body) in bodies.iter().enumerate() {
        let (reach, callees) = scan(body, &starts, &plt, image, &mut insns);
        for c in callees {
            if c as usize != i {
                callers[c as usize].push(i as u32);
            }
        }
        own.push(reach);
    }
    // Taint flows from every function that may reach a syscall to its callers.
    let mut reach = own;
    let mut work: Vec<u32> = (0..bodies.len() as u32)
        .filter(|&i| reach[i as usize] != SyscallReach::Cannot)
        .collect();
    while let Some(f) = work.pop() {
        for &caller in &callers[f as usize] {
            if reach[caller as usize] == SyscallReach::Cannot {
                reach[caller as usize] = SyscallReach::Callee;
                work.push(caller);
            }
        }
    }
    reach
}

/// One function's own verdict (Direct, Unknown, or Cannot so far) and its direct
/// callees.
fn scan(
    body: &Body<'_>,
    starts: &FxHashMap<u64, u32>,
    plt: &FxHashMap<u64, String>,
    image: &Image<'_>,
    insns: &mut Vec<Instruction>,
) -> (SyscallReach, Vec<u32>) {
    insns.clear();
    for &(addr, size, bytes) in &body.parts {
        if (bytes.len() as u64) < size {
            return (SyscallReach::Unknown, Vec::new());
        }
        let mut decoder = Decoder::with_ip(64, bytes, addr, DecoderOptions::NONE);
        let start = insns.len();
        while decoder.can_decode() {
            let insn = decoder.decode();
            if insn.is_invalid() {
                return (SyscallReach::Unknown, Vec::new());
            }
            insns.push(insn);
        }
        // A part of the function ends its straight lines: mark it for the lookback.
        if insns.len() > start {
            insns.push(Instruction::default());
        }
    }
    let inside = |a: u64| {
        body.parts
            .iter()
            .any(|&(start, size, _)| start <= a && a - start < size)
    };
    let target = |a: u64| -> Target {
        if inside(a) {
            Target::Inside
        } else if let Some(&f) = starts.get(&a) {
            Target::Function(f)
        } else if let Some(name) = plt.get(&a) {
            Target::Import(NO_SYSCALL_IMPORTS.contains(&name.as_str()))
        } else {
            Target::Nowhere
        }
    };
    let mut callees: Vec<u32> = Vec::new();
    let mut syscall = false;
    for (k, insn) in insns.iter().enumerate() {
        if insn.code() == iced_x86::Code::INVALID {
            continue;
        }
        if matches!(
            insn.mnemonic(),
            Mnemonic::Syscall | Mnemonic::Sysenter | Mnemonic::Int | Mnemonic::Into
        ) {
            syscall = true;
            continue;
        }
        match insn.flow_control() {
            FlowControl::Call
            | FlowControl::UnconditionalBranch
            | FlowControl::ConditionalBranch
            | FlowControl::XbeginXabortXend => {
                if !matches!(
                    insn.op0_kind(),
                    OpKind::NearBranch16 | OpKind::NearBranch32 | OpKind::NearBranch64
                ) {
                    // A far branch, or `xabort`/`xend` (no target): only xbegin has one.
                    if insn.flow_control() == FlowControl::XbeginXabortXend {
                        continue;
                    }
                    return (SyscallReach::Unknown, callees);
                }
                match target(insn.near_branch_target()) {
                    Target::Inside | Target::Import(true) => {}
                    Target::Function(f) => callees.push(f),
                    Target::Import(false) | Target::Nowhere => {
                        return (SyscallReach::Unknown, callees);
                    }
                }
            }
            FlowControl::IndirectCall if !allowed_import(insn, image) => {
                return (SyscallReach::Unknown, callees);
            }
            FlowControl::IndirectBranch
                if !allowed_import(insn, image) && !is_switch(insns, k, &inside, image) =>
            {
                return (SyscallReach::Unknown, callees);
            }
            _ => {}
        }
    }
    callees.sort_unstable();
    callees.dedup();
    let reach = if syscall {
        SyscallReach::Direct
    } else {
        SyscallReach::Cannot
    };
    (reach, callees)
}

/// An indirect call or jump through a GOT slot of an allow-listed import (`-fno-plt`).
fn allowed_import(insn: &Instruction, image: &Image<'_>) -> bool {
    insn.op0_kind() == OpKind::Memory
        && insn.is_ip_rel_memory_operand()
        && image
            .got
            .get(&insn.ip_rel_memory_address())
            .is_some_and(|n| NO_SYSCALL_IMPORTS.contains(&n.as_str()))
}

/// Whether the indirect jump `insns[k]` is a switch over a jump table of this function
/// (module docs).
fn is_switch(
    insns: &[Instruction],
    k: usize,
    inside: &dyn Fn(u64) -> bool,
    image: &Image<'_>,
) -> bool {
    let mut ips: Vec<u64> = insns
        .iter()
        .filter(|i| i.code() != iced_x86::Code::INVALID)
        .map(Instruction::ip)
        .collect();
    ips.sort_unstable();
    let starts_insn = |a: u64| inside(a) && ips.binary_search(&a).is_ok();
    let jmp = &insns[k];
    // `jmp *table(,%reg,8)`: absolute entries.
    if jmp.op0_kind() == OpKind::Memory
        && jmp.memory_base() == Register::None
        && jmp.memory_index_scale() == 8
    {
        return table_ok(image, jmp.memory_displacement64(), 8, &starts_insn);
    }
    if jmp.op0_kind() != OpKind::Register {
        return false;
    }
    let first = k.saturating_sub(TABLE_LOOKBACK);
    for insn in insns[first..k].iter().rev() {
        if insn.code() == iced_x86::Code::INVALID || insn.flow_control() != FlowControl::Next {
            break;
        }
        if insn.mnemonic() == Mnemonic::Lea && insn.is_ip_rel_memory_operand() {
            if table_ok(image, insn.ip_rel_memory_address(), 4, &starts_insn) {
                return true;
            }
        } else if insn.op1_kind() == OpKind::Memory
            && insn.memory_base() == Register::None
            && insn.memory_index_scale() == 8
            && table_ok(image, insn.memory_displacement64(), 8, &starts_insn)
        {
            return true;
        }
    }
    false
}

/// Whether `table` holds at least [`MIN_TABLE_ENTRIES`] entries in a row, from its
/// start, that land on instruction starts of the function: 4-byte offsets from the
/// table (`width` 4) or 8-byte addresses (`width` 8).
fn table_ok(image: &Image<'_>, table: u64, width: usize, lands: &dyn Fn(u64) -> bool) -> bool {
    let i = image.data.partition_point(|(addr, _)| *addr <= table);
    let Some(&(addr, data)) = i.checked_sub(1).and_then(|i| image.data.get(i)) else {
        return false;
    };
    let Some(bytes) = usize::try_from(table - addr)
        .ok()
        .and_then(|o| data.get(o..))
    else {
        return false;
    };
    let mut valid = 0;
    for entry in bytes.chunks_exact(width).take(MIN_TABLE_ENTRIES) {
        let to = if width == 4 {
            let off = i32::from_le_bytes(entry.try_into().unwrap_or_default());
            table.wrapping_add_signed(i64::from(off))
        } else {
            u64::from_le_bytes(entry.try_into().unwrap_or_default())
        };
        if !lands(to) {
            break;
        }
        valid += 1;
    }
    valid >= MIN_TABLE_ENTRIES
}

/// PLT stub address → the imported name its `jmp *slot(%rip)` goes through. A stub
/// starts at its `jmp`, or at the `endbr64` right before it (`.plt.sec`).
fn plt_stubs(image: &Image<'_>) -> FxHashMap<u64, String> {
    let mut out: FxHashMap<u64, String> = FxHashMap::default();
    for &(addr, bytes) in &image.plt {
        let mut decoder = Decoder::with_ip(64, bytes, addr, DecoderOptions::NONE);
        let mut prev: Option<Instruction> = None;
        while decoder.can_decode() {
            let insn = decoder.decode();
            if insn.flow_control() == FlowControl::IndirectBranch
                && insn.is_ip_rel_memory_operand()
                && let Some(name) = image.got.get(&insn.ip_rel_memory_address())
            {
                out.insert(insn.ip(), name.clone());
                if let Some(p) = prev.filter(|p| p.mnemonic() == Mnemonic::Endbr64) {
                    out.insert(p.ip(), name.clone());
                }
            }
            prev = Some(insn);
        }
    }
    out
}
