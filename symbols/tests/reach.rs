//! The syscall reach of `fixtures/symbols/reach/reach.c`, built at -O0 and -O2: each
//! function's verdict, and the -O2 shapes (`.cold` parts, a tail jump, jump tables) that
//! make the cases mean what they say.

use object::{Object, ObjectSymbol};
use symbols::{FunctionTable, LoadOptions, SyscallReach};
use testkit::Flags;

use SyscallReach::{Callee, Cannot, Direct, Unknown};

/// Function → verdict, at every optimisation level.
const EXPECTED: &[(&str, SyscallReach)] = &[
    ("leaf_arith", Cannot),
    ("calls_leaf", Cannot),
    ("switch_table", Cannot),
    ("cold_free", Cannot),
    ("rare_arith", Cannot),
    ("uses_memcpy", Cannot),
    ("raw_syscall", Direct),
    ("calls_write", Unknown),
    ("uses_malloc", Unknown),
    ("through_pointer", Unknown),
    ("tail_to_write", Callee),
    ("switch_calls_write", Callee),
    ("cold_write", Callee),
    ("main", Callee),
];

fn build(flags: Flags) -> Option<(testkit::Built, FunctionTable)> {
    if !testkit::require_tool("syscall reach", "gcc") {
        return None;
    }
    let built = testkit::fixture("symbols/reach", "reach", flags);
    let table = symbols::load(&built.exe, &LoadOptions::default()).expect("load the fixture");
    Some((built, table))
}

#[track_caller]
fn check(flags: Flags) {
    let Some((_built, table)) = build(flags) else {
        return;
    };
    let mut wrong = Vec::new();
    for &(name, want) in EXPECTED {
        let got: Vec<SyscallReach> = table
            .functions
            .iter()
            .filter(|f| f.name == name)
            .map(|f| f.syscalls)
            .collect();
        if got != [want] {
            wrong.push(format!("{name}: want {want:?}, got {got:?}"));
        }
    }
    assert!(wrong.is_empty(), "{flags:?}:\n{}", wrong.join("\n"));
}

#[test]
fn verdicts_at_o0() {
    check(Flags::Debug);
}

#[test]
fn verdicts_at_o2() {
    check(Flags::Fixture);
}

/// The -O2 build has the shapes the cases are about; otherwise the verdicts above would
/// prove less than they claim.
#[test]
fn o2_has_cold_parts_tail_jumps_and_tables() {
    let Some((built, _)) = build(Flags::Fixture) else {
        return;
    };
    let data = std::fs::read(&built.exe).expect("read the fixture");
    let file = object::File::parse(&*data).expect("parse the fixture");
    let names: Vec<String> = file
        .symbols()
        .filter_map(|s| s.name().ok().map(str::to_owned))
        .collect();
    for cold in ["cold_free.cold", "cold_write.cold"] {
        assert!(names.iter().any(|n| n == cold), "no {cold} in {names:?}");
    }
    let objdump = std::process::Command::new("objdump")
        .args(["-d", "--no-show-raw-insn"])
        .arg(&built.exe)
        .output();
    let Ok(out) = objdump else {
        testkit::require("objdump", false, "objdump is not installed");
        return;
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let body = |name: &str| -> String {
        let start = text
            .find(&format!("<{name}>:\n"))
            .unwrap_or_else(|| panic!("{name} not in objdump"));
        let rest = &text[start..];
        rest[..rest.find("\n\n").unwrap_or(rest.len())].to_owned()
    };
    assert!(
        body("tail_to_write").contains("jmp") && !body("tail_to_write").contains("call "),
        "{}",
        body("tail_to_write")
    );
    for f in ["switch_table", "switch_calls_write"] {
        assert!(
            body(f).contains("jmp    *%"),
            "{f} has no jump table:\n{}",
            body(f)
        );
    }
}
