//! The function tables of freshly built C, C++ and Rust fixtures, checked against
//! readelf, nm and objdump.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use support::{Fixtures, fixtures};
use symbols::{EntryInsn, FunctionSym, FunctionTable, LoadOptions, SymClass, SymbolsError};

/// Every ELF fixture that names its functions.
const TABLES: [&str; 11] = [
    "c_pie_O0",
    "c_pie_O2",
    "c_nopie_O0",
    "c_nopie_O2",
    "c_dwarf4_O2",
    "c_gz_O2",
    "c_split",
    "cpp_O0",
    "cpp_O2",
    "rust_legacy",
    "rust_v0",
];

fn load(path: &Path) -> FunctionTable {
    symbols::load(path, &LoadOptions::default())
        .unwrap_or_else(|e| panic!("load {}: {e}", path.display()))
}

fn each_table(f: &Fixtures, mut check: impl FnMut(&str, &Path, &FunctionTable)) {
    for name in TABLES {
        let Some(path) = f.bins.get(name) else {
            continue;
        };
        check(name, path, &load(path));
    }
}

fn by_name<'a>(t: &'a FunctionTable, name: &str) -> Vec<&'a FunctionSym> {
    t.functions.iter().filter(|f| f.name == name).collect()
}

fn one<'a>(t: &'a FunctionTable, name: &str) -> &'a FunctionSym {
    let found = by_name(t, name);
    assert_eq!(found.len(), 1, "{name} in {}: {found:#?}", t.path.display());
    found[0]
}

/// The entry points readelf lists: FUNC, sized, in an executable section but the PLT,
/// without `.cold` parts. The symbol table to read is the one of the file that has it.
fn expected_entries(symbols_from: &Path) -> BTreeMap<u64, Vec<support::Sym>> {
    let sections = support::sections(symbols_from);
    let mut out: BTreeMap<u64, Vec<support::Sym>> = BTreeMap::new();
    for s in support::func_symbols(symbols_from) {
        let Some((sec_name, exec)) = s.section.and_then(|n| sections.get(&n)) else {
            continue;
        };
        let cold = s.name.ends_with(".cold") || s.name.contains(".cold.");
        if s.size == 0 || !exec || sec_name.starts_with(".plt") || cold {
            continue;
        }
        out.entry(s.addr).or_default().push(s);
    }
    out
}

#[test]
fn functions_are_the_symbol_table_entries() {
    let Some(f) = fixtures() else { return };
    each_table(f, |name, path, table| {
        let symbols_from = if name == "c_split" {
            f.bin("c_split.debug")
        } else {
            path
        };
        let want = expected_entries(symbols_from);
        let got: Vec<u64> = table.functions.iter().map(|f| f.vaddr).collect();
        let mut sorted = got.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(got, sorted, "{name}: sorted, one per address");
        assert_eq!(
            got,
            want.keys().copied().collect::<Vec<_>>(),
            "{name}: addresses"
        );
        for func in &table.functions {
            let raw = func.linkage_name.as_deref().unwrap_or(&func.name);
            let syms = &want[&func.vaddr];
            let sym = syms
                .iter()
                .find(|s| s.name == raw)
                .unwrap_or_else(|| panic!("{name}: {raw} not among {syms:?}"));
            assert_eq!(func.size, sym.size, "{name}: size of {raw}");
            if func.linkage_name.is_some() {
                assert_ne!(func.linkage_name.as_deref(), Some(func.name.as_str()));
            }
        }
    });
}

#[test]
fn file_offsets_come_from_the_load_segments() {
    let Some(f) = fixtures() else { return };
    each_table(f, |name, path, table| {
        let loads = support::loads(path);
        assert!(!loads.is_empty(), "{name} has LOAD segments");
        for func in &table.functions {
            let seg = loads
                .iter()
                .find(|l| l.vaddr <= func.vaddr && func.vaddr < l.vaddr + l.filesz)
                .unwrap_or_else(|| panic!("{name}: no LOAD holds {:#x}", func.vaddr));
            assert_eq!(
                func.file_offset,
                func.vaddr - seg.vaddr + seg.offset,
                "{name}: {}",
                func.name
            );
        }
    });
    let pie = load(f.bin("c_pie_O2"));
    let nopie = load(f.bin("c_nopie_O2"));
    assert!(pie.pie && !nopie.pie);
    let main = one(&nopie, "main");
    assert!(
        main.vaddr >= 0x400000,
        "non-PIE code sits at 0x400000 and up"
    );
    assert_ne!(
        main.vaddr, main.file_offset,
        "non-PIE: offset differs from vaddr"
    );
}

/// The kernel's rule for the instruction objdump decoded, where it is plain to tell.
fn oracle(bytes: &[u8], text: &str) -> Option<EntryInsn> {
    let mnemonic = text.split_whitespace().next().unwrap_or_default();
    let operands = text.split_whitespace().nth(1).unwrap_or_default();
    match mnemonic {
        "push" if operands.starts_with("%r") && (bytes.len() == 1 || bytes[0] == 0x41) => {
            Some(EntryInsn::Emulated)
        }
        "push" => Some(EntryInsn::SingleStep),
        // Indirect jumps and calls are stepped; relative ones emulated.
        "jmp" | "call" if operands.starts_with('*') => Some(EntryInsn::SingleStep),
        "jmp" | "call" => Some(EntryInsn::Emulated),
        m if m.starts_with('j') => Some(EntryInsn::Emulated),
        "nop" if bytes == [0x90] => Some(EntryInsn::Emulated),
        "endbr64" | "mov" | "lea" | "sub" | "add" | "xor" | "test" | "cmp" | "and" | "or"
        | "movl" | "movq" | "movzbl" | "movslq" | "movabs" | "ret" | "imul" | "sar" | "shl" => {
            Some(EntryInsn::SingleStep)
        }
        _ => None,
    }
}

/// The address of a function's probe.
fn probe_vaddr(func: &FunctionSym) -> u64 {
    func.vaddr + (func.probe_offset - func.file_offset)
}

#[test]
fn entry_instruction_class_matches_objdump() {
    let Some(f) = fixtures() else { return };
    let mut seen: BTreeSet<(EntryInsn, String)> = BTreeSet::new();
    each_table(f, |name, path, table| {
        let insns = support::insns(path);
        for func in &table.functions {
            // The class is the one of the probed instruction.
            let Some((bytes, text)) = insns.get(&probe_vaddr(func)) else {
                continue;
            };
            if let Some(want) = oracle(bytes, text) {
                assert_eq!(func.entry, want, "{name}: {} probed at {text}", func.name);
                seen.insert((
                    want,
                    text.split_whitespace().next().unwrap_or("").to_owned(),
                ));
            }
        }
    });
    assert!(
        seen.contains(&(EntryInsn::Emulated, "push".to_owned())),
        "{seen:?}"
    );
    assert!(
        seen.contains(&(EntryInsn::SingleStep, "lea".to_owned())),
        "{seen:?}"
    );

    // -O0 with frame pointers: every C function of the application starts with push.
    let o0 = load(f.bin("c_pie_O0"));
    let insns = support::first_insns(f.bin("c_pie_O0"));
    for func in o0.functions.iter().filter(|f| f.class == SymClass::App) {
        assert!(
            insns[&func.vaddr].1.starts_with("push   %rbp"),
            "{}",
            func.name
        );
        assert_eq!(func.entry, EntryInsn::Emulated, "{}", func.name);
        assert_eq!(func.probe_offset, func.file_offset, "{}", func.name);
    }
    // -O2: the leaf is `lea; ret` (objdump says so): nothing emulated before the ret, so
    // it is probed on its entry and single-stepped.
    let o2 = load(f.bin("c_pie_O2"));
    let leaf = one(&o2, "leaf_add");
    let insns = support::first_insns(f.bin("c_pie_O2"));
    assert!(
        insns[&leaf.vaddr].1.starts_with("lea"),
        "{:?}",
        insns[&leaf.vaddr]
    );
    assert_eq!(leaf.entry, EntryInsn::SingleStep);
    assert_eq!(leaf.probe_offset, leaf.file_offset);
}

/// Whether an instruction objdump printed may stand before a moved probe: it falls
/// through, does not write RSP and does not write near the return address slot.
fn keeps_entry_frame(text: &str) -> bool {
    let mut words = text.split_whitespace();
    let mnemonic = words.next().unwrap_or_default();
    let leaves = [
        "push", "pop", "call", "ret", "j", "leave", "enter", "syscall", "int", "ud2",
    ];
    if leaves.iter().any(|p| mnemonic.starts_with(p)) {
        return false;
    }
    // AT&T: the destination is the last operand.
    let dest = words
        .next()
        .unwrap_or_default()
        .rsplit(',')
        .next()
        .unwrap_or_default();
    if dest == "%rsp" || dest == "%esp" || dest == "%sp" {
        return false;
    }
    match dest.strip_suffix("(%rsp)") {
        None => !dest.contains("%rsp"),
        Some(disp) => {
            let value = match disp.strip_prefix('-') {
                Some(d) => -i64::from_str_radix(d.trim_start_matches("0x"), 16).unwrap_or(0),
                None => i64::from_str_radix(disp.trim_start_matches("0x"), 16).unwrap_or(0),
            };
            !(-7..8).contains(&value)
        }
    }
}

#[test]
fn moved_probes_keep_the_entry_frame_by_objdump() {
    let Some(f) = fixtures() else { return };
    let mut moved = 0;
    each_table(f, |name, path, table| {
        let insns = support::insns(path);
        let targets: BTreeSet<u64> = insns
            .values()
            .filter_map(|(_, text)| support::direct_target(text))
            .collect();
        for func in &table.functions {
            let at = probe_vaddr(func);
            if at == func.vaddr {
                continue;
            }
            moved += 1;
            let who = format!("{name}: {} probed at {at:#x}", func.name);
            assert!(at < func.vaddr + func.size, "{who}");
            let prefix: Vec<&String> = insns.range(func.vaddr..at).map(|(_, (_, t))| t).collect();
            assert!((1..=4).contains(&prefix.len()), "{who}: {prefix:?}");
            let (bytes, first) = &insns[&func.vaddr];
            assert_ne!(
                oracle(bytes, first),
                Some(EntryInsn::Emulated),
                "{who}: {first}"
            );
            for text in &prefix {
                assert!(keeps_entry_frame(text), "{who}: {text} before the probe");
            }
            let (bytes, text) = &insns[&at];
            assert_eq!(
                oracle(bytes, text),
                Some(EntryInsn::Emulated),
                "{who}: {text}"
            );
            assert_eq!(func.entry, EntryInsn::Emulated, "{who}");
            assert!(
                targets.range(func.vaddr + 1..=at).next().is_none(),
                "{who}: a branch lands in the prefix"
            );
        }
    });
    // The -O2 builds have shrink-wrapped and frameless functions that move.
    assert!(moved > 0);
}

#[test]
fn c_classes_and_declarations() {
    let Some(f) = fixtures() else { return };
    let main_c = f.c_app.join("main.c");
    let util_c = f.c_app.join("util.c");
    let sysdep_h = f.c_sysinc.join("sysdep.h");
    for name in [
        "c_pie_O0",
        "c_pie_O2",
        "c_nopie_O2",
        "c_dwarf4_O2",
        "c_gz_O2",
        "c_split",
    ] {
        let t = load(f.bin(name));
        assert!(t.has_dwarf, "{name}");
        let cases = [
            ("main", &main_c, "int main("),
            ("work_global", &main_c, "int work_global("),
            ("helper_static", &main_c, "int helper_static("),
            ("util_scale_a", &util_c, "int util_scale_a("),
            ("leaf_add", &util_c, "int leaf_add("),
            ("scale", &util_c, "int scale("),
        ];
        for (func, file, needle) in cases {
            let sym = one(&t, func);
            assert_eq!(sym.class, SymClass::App, "{name}: {func}");
            assert_eq!(sym.decl_file.as_deref(), file.to_str(), "{name}: {func}");
            assert_eq!(
                sym.decl_line,
                Some(support::line_of(file, needle)),
                "{name}: {func}"
            );
        }
        // Declared in the separate include folder, outside the inferred root.
        let mix = one(&t, "sysdep_mix");
        assert_eq!(mix.class, SymClass::System, "{name}");
        assert_eq!(mix.decl_file.as_deref(), sysdep_h.to_str());
        assert_eq!(
            mix.decl_line,
            Some(support::line_of(&sysdep_h, "int sysdep_mix("))
        );
        // The C runtime's entry point carries no DWARF on Debian.
        assert_eq!(one(&t, "_start").class, SymClass::NoDwarf, "{name}");
    }
    // With both folders as roots the header function is application code.
    let opts = LoadOptions {
        app_roots: vec![f.c_app.clone(), f.c_sysinc.clone()],
    };
    let t = symbols::load(f.bin("c_pie_O2"), &opts).expect("load");
    assert_eq!(one(&t, "sysdep_mix").class, SymClass::App);
    assert_eq!(one(&t, "main").class, SymClass::App);
    // With a root elsewhere nothing is application code.
    let opts = LoadOptions {
        app_roots: vec![f.rust_dir.clone()],
    };
    let t = symbols::load(f.bin("c_pie_O2"), &opts).expect("load");
    assert_eq!(one(&t, "main").class, SymClass::System);
}

#[test]
fn clones_and_inlining() {
    let Some(f) = fixtures() else { return };
    let nm_o2 = support::nm_demangled(f.bin("c_pie_O2"));
    let all_o2: Vec<&String> = nm_o2.values().flatten().collect();
    assert!(
        all_o2.iter().any(|n| n.starts_with("scale.constprop.")),
        "gcc -O2 made a constprop clone: {all_o2:?}"
    );
    assert!(
        !all_o2.iter().any(|n| n.starts_with("add_one")),
        "add_one inlined at -O2"
    );
    let t = load(f.bin("c_pie_O2"));
    let scale = one(&t, "scale");
    assert!(
        scale
            .linkage_name
            .as_deref()
            .is_some_and(|l| l.starts_with("scale.constprop.")),
        "{scale:?}"
    );
    assert!(by_name(&t, "add_one").is_empty());

    let nm_o0 = support::nm_demangled(f.bin("c_pie_O0"));
    assert!(
        nm_o0.values().flatten().any(|n| n == "add_one"),
        "add_one out of line at -O0"
    );
    let t = load(f.bin("c_pie_O0"));
    assert_eq!(one(&t, "add_one").class, SymClass::App);
    assert_eq!(one(&t, "scale").linkage_name, None);
}

/// `nm -C` prints gcc clones as `f() [clone .isra.0]`; the table drops the suffix.
fn nm_base(name: &str) -> &str {
    name.split(" [clone ").next().unwrap_or(name)
}

#[test]
fn cpp_names_match_nm() {
    let Some(f) = fixtures() else { return };
    for name in ["cpp_O0", "cpp_O2"] {
        let path = f.bin(name);
        let nm = support::nm_demangled(path);
        let t = load(path);
        let mut checked = 0;
        for func in &t.functions {
            let names: Vec<&str> = nm[&func.vaddr].iter().map(|n| nm_base(n)).collect();
            if names.iter().any(|n| n.starts_with("geo::")) {
                assert!(
                    names.contains(&func.name.as_str()),
                    "{name}: {} vs {names:?}",
                    func.name
                );
                assert_eq!(func.class, SymClass::App, "{name}: {}", func.name);
                checked += 1;
            }
        }
        assert!(checked >= 4, "{name}: checked {checked}");
        one(&t, "geo::scale(double, int)");
        one(&t, "geo::detail::twice(int)");
        one(&t, "geo::Box<int>::area() const");
        // libstdc++'s templates are declared under /usr/include.
        let std_fns: Vec<&FunctionSym> = t
            .functions
            .iter()
            .filter(|f| f.name.starts_with("std::"))
            .collect();
        assert!(!std_fns.is_empty(), "{name}: std::vector members");
        for func in std_fns {
            assert_eq!(func.class, SymClass::System, "{func:?}");
            assert!(
                func.decl_file
                    .as_deref()
                    .is_some_and(|p| p.starts_with("/usr/include/"))
            );
        }
    }
}

#[test]
fn rust_names_and_classes() {
    let Some(f) = fixtures() else { return };
    if let Some(why) = &f.v0_skipped {
        testkit::require("v0 mangling", false, why);
    }
    for name in ["rust_legacy", "rust_v0"] {
        let Some(path) = f.bins.get(name) else {
            continue;
        };
        let nm = support::nm_demangled(path);
        let t = load(path);
        let mut apps = 0;
        for func in t.functions.iter().filter(|f| f.class == SymClass::App) {
            let names = &nm[&func.vaddr];
            assert!(
                names.contains(&func.name),
                "{name}: {} vs {names:?}",
                func.name
            );
            assert!(
                func.linkage_name.is_some(),
                "{name}: {} is mangled",
                func.name
            );
            let file = func.decl_file.as_deref().unwrap_or_default();
            assert_eq!(
                Path::new(file).parent(),
                Some(f.rust_dir.as_path()),
                "{name}"
            );
            apps += 1;
        }
        assert!(apps >= 4, "{name}: {apps} app functions");
        let work = one(&t, "app::inner::work");
        assert_eq!(
            work.decl_line,
            Some(support::line_of(&f.rust_dir.join("app.rs"), "pub fn work("))
        );
        assert!(!work.name.contains("::h"), "no hash in {}", work.name);
        let lang_start = t
            .functions
            .iter()
            .find(|f| f.name.starts_with("std::rt::lang_start"))
            .expect("std::rt::lang_start");
        assert_eq!(lang_start.class, SymClass::RustStd);
        assert!(
            lang_start
                .decl_file
                .as_deref()
                .is_some_and(|p| p.starts_with("/rustc/"))
        );
        let bump = if name == "rust_v0" {
            "<app::inner::Counter>::bump"
        } else {
            "app::inner::Counter::bump"
        };
        one(&t, bump);
    }
}

#[test]
fn split_debug_file_is_found_and_used() {
    let Some(f) = fixtures() else { return };
    let full = load(f.bin("c_pie_O2"));
    let split = load(f.bin("c_split"));
    let explicit = symbols::load_with_debug_file(
        f.bin("c_split"),
        f.bin("c_split.debug"),
        &LoadOptions::default(),
    )
    .expect("explicit debug file");
    assert_eq!(split, explicit);
    assert!(split.has_dwarf);
    assert_eq!(split.functions, full.functions);
    assert_eq!(split.build_id, full.build_id);

    // Without its debug file next to it, the stripped half is refused.
    let alone = tempfile::tempdir().expect("temp dir");
    let copy = alone.path().join("c_split");
    std::fs::copy(f.bin("c_split"), &copy).expect("copy");
    let err = symbols::load(&copy, &LoadOptions::default()).unwrap_err();
    assert!(matches!(err, SymbolsError::Stripped { .. }), "{err:?}");

    // The debug file alone has no code and no file offsets: it is refused with advice.
    let err = symbols::load(f.bin("c_split.debug"), &LoadOptions::default()).unwrap_err();
    assert!(matches!(err, SymbolsError::Parse { .. }), "{err:?}");
    assert!(err.to_string().contains("load_with_debug_file"), "{err}");
}

#[test]
fn dwarf_versions_and_compression_agree() {
    let Some(f) = fixtures() else { return };
    let key = |t: &FunctionTable| -> BTreeSet<(String, SymClass, Option<String>, Option<u32>)> {
        t.functions
            .iter()
            .map(|f| (f.name.clone(), f.class, f.decl_file.clone(), f.decl_line))
            .collect()
    };
    let v5 = load(f.bin("c_pie_O2"));
    for name in ["c_dwarf4_O2", "c_gz_O2"] {
        let other = load(f.bin(name));
        assert!(other.has_dwarf, "{name}");
        assert_eq!(key(&other), key(&v5), "{name}");
    }
    let text = std::process::Command::new("readelf")
        .args(["-SW"])
        .arg(f.bin("c_gz_O2"))
        .output()
        .expect("readelf");
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.lines()
            .any(|l| l.contains(".debug_info") && l.contains(" C ")),
        "debug sections of c_gz_O2 are compressed"
    );
}

#[test]
fn loading_is_deterministic() {
    let Some(f) = fixtures() else { return };
    for name in ["c_pie_O2", "cpp_O2", "rust_legacy"] {
        assert_eq!(load(f.bin(name)), load(f.bin(name)), "{name}");
    }
}

#[test]
fn stripped_binaries_are_refused_with_advice() {
    let Some(f) = fixtures() else { return };
    let err = symbols::load(f.bin("c_stripped"), &LoadOptions::default()).unwrap_err();
    assert!(matches!(err, SymbolsError::Stripped { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("-g"), "{message}");
    assert!(message.contains("c_stripped"), "{message}");
}

#[test]
fn bad_files_are_errors_not_panics() {
    let Some(f) = fixtures() else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "not an elf file\n").expect("write");
    let empty = dir.path().join("empty");
    std::fs::write(&empty, b"").expect("write");
    for path in [&text, &empty] {
        let err = symbols::load(path, &LoadOptions::default()).unwrap_err();
        assert!(matches!(err, SymbolsError::NotElf { .. }), "{err:?}");
    }
    let missing = dir.path().join("missing");
    let err = symbols::load(&missing, &LoadOptions::default()).unwrap_err();
    assert!(matches!(err, SymbolsError::Io { .. }), "{err:?}");

    let bytes = std::fs::read(f.bin("c_pie_O2")).expect("read fixture");
    for len in [4, 16, 63, 64, 200, 1000, bytes.len() / 2, bytes.len() - 1] {
        let cut = dir.path().join(format!("cut{len}"));
        std::fs::write(&cut, &bytes[..len]).expect("write");
        // Anything but a panic; with the section headers gone it must be an error.
        let result = symbols::load(&cut, &LoadOptions::default());
        if len < bytes.len() / 2 {
            assert!(result.is_err(), "truncated to {len}: {result:?}");
        }
    }
}

#[test]
fn garbage_dwarf_degrades_to_the_symbol_table() {
    let Some(f) = fixtures() else { return };
    let path = f.bin("c_pie_O2");
    let good = load(path);
    let text = std::process::Command::new("readelf")
        .args(["-SW"])
        .arg(path)
        .output()
        .expect("readelf");
    let text = String::from_utf8_lossy(&text.stdout).into_owned();
    let dir = tempfile::tempdir().expect("temp dir");
    for section in [
        ".debug_info",
        ".debug_abbrev",
        ".debug_line",
        ".debug_str",
        ".debug_rnglists",
    ] {
        let Some(line) = text.lines().find(|l| l.contains(&format!(" {section} "))) else {
            continue;
        };
        let cols: Vec<&str> = line
            .split(']')
            .nth(1)
            .unwrap_or_default()
            .split_whitespace()
            .collect();
        let offset = usize::from_str_radix(cols[3], 16).expect("offset");
        let size = usize::from_str_radix(cols[4], 16).expect("size");
        for (seed, fill) in [(1u8, 0xffu8), (2, 0x00), (3, 0x5a)] {
            let mut bytes = std::fs::read(path).expect("read");
            // Keep the first bytes of the section so headers parse and garbage follows.
            let start = offset + (size / 4).min(16 * usize::from(seed));
            for (i, b) in bytes[start..offset + size].iter_mut().enumerate() {
                *b = fill ^ (i as u8).wrapping_mul(seed);
            }
            let broken = dir.path().join(format!("broken{section}{seed}"));
            std::fs::write(&broken, &bytes).expect("write");
            let t = symbols::load(&broken, &LoadOptions::default())
                .unwrap_or_else(|e| panic!("{section}/{seed}: {e}"));
            let addrs = |t: &FunctionTable| t.functions.iter().map(|f| f.vaddr).collect::<Vec<_>>();
            assert_eq!(addrs(&t), addrs(&good), "{section}/{seed}: same functions");
        }
    }
}

#[test]
fn debian_stripped_binary_is_refused() {
    let path = Path::new("/bin/ls");
    if !testkit::require(
        "debian_stripped_binary_is_refused",
        path.exists(),
        "no /bin/ls",
    ) {
        return;
    }
    match symbols::load(path, &LoadOptions::default()) {
        Err(SymbolsError::Stripped { .. }) => {}
        Ok(t) if t.has_dwarf || !t.functions.is_empty() => {
            testkit::require(
                "debian_stripped_binary_is_refused",
                false,
                "/bin/ls is not stripped here",
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn random_corruption_never_panics() {
    let Some(f) = fixtures() else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    for name in ["c_pie_O2", "cpp_O2", "c_dwarf4_O2", "c_gz_O2"] {
        let original = std::fs::read(f.bin(name)).expect("read fixture");
        // A fixed linear congruential sequence: the same corruptions on every run.
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            state >> 33
        };
        for round in 0..100 {
            let mut bytes = original.clone();
            for _ in 0..1 + next() % 64 {
                let at = usize::try_from(next()).expect("index") % bytes.len();
                bytes[at] = u8::try_from(next() & 0xff).expect("byte");
            }
            let path = dir.path().join(format!("{name}-{round}"));
            std::fs::write(&path, &bytes).expect("write");
            let _ = symbols::load(&path, &LoadOptions::default());
        }
    }
}
