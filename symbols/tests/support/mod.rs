//! Builds the fixture binaries of fixtures/symbols once per test run, and reads the facts
//! the tests compare against from binutils (readelf, nm, objdump), not from this crate.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The built fixtures; their sources are copied into `dir` first, so the DWARF names
/// a temporary folder and nothing under the repository.
pub struct Fixtures {
    _tmp: tempfile::TempDir,
    pub dir: PathBuf,
    /// The C program's sources (its compilation directory).
    pub c_app: PathBuf,
    /// The separate include folder of the C program.
    pub c_sysinc: PathBuf,
    pub rust_dir: PathBuf,
    /// Name → built file.
    pub bins: BTreeMap<&'static str, PathBuf>,
    /// Why Rust v0 mangling was not built, if it was not.
    pub v0_skipped: Option<String>,
}

impl Fixtures {
    pub fn bin(&self, name: &str) -> &Path {
        self.bins
            .get(name)
            .unwrap_or_else(|| panic!("fixture {name} was not built"))
    }
}

static FIXTURES: OnceLock<Result<Fixtures, String>> = OnceLock::new();

/// The fixtures, or `None` (after printing why) when a tool is missing.
pub fn fixtures() -> Option<&'static Fixtures> {
    match FIXTURES.get_or_init(build) {
        Ok(f) => Some(f),
        Err(why) => {
            testkit::require("symbol fixtures", false, why);
            None
        }
    }
}

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn run(cwd: &Path, program: &str, args: &[&str]) -> Result<(), String> {
    let out = Command::new(program)
        .args(args)
        .current_dir(cwd)
        .output()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{program} {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create fixture folder");
    for entry in std::fs::read_dir(from).expect("read fixture folder") {
        let entry = entry.expect("fixture entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy fixture file");
        }
    }
}

/// The recipes, also written down in fixtures/symbols/README.md.
fn build() -> Result<Fixtures, String> {
    for tool in [
        "gcc", "g++", "rustc", "readelf", "nm", "objdump", "strip", "objcopy",
    ] {
        if !have(tool) {
            return Err(format!("needs {tool} to build the symbols fixtures"));
        }
    }
    let src = Path::new(env!("CARGO_WORKSPACE_DIR")).join("fixtures/symbols");
    let tmp = tempfile::tempdir().map_err(|e| format!("no temp dir: {e}"))?;
    let dir = tmp.path().to_owned();
    for sub in ["c", "cpp", "rust"] {
        copy_tree(&src.join(sub), &dir.join(sub));
    }
    let c_app = dir.join("c/app");
    let mut bins = BTreeMap::new();
    let c_flags = ["-g", "-fno-omit-frame-pointer", "-isystem", "../sysinc"];
    let c_variants: [(&str, &[&str]); 6] = [
        ("c_pie_O0", &["-O0"]),
        ("c_pie_O2", &["-O2"]),
        ("c_nopie_O0", &["-O0", "-no-pie"]),
        ("c_nopie_O2", &["-O2", "-no-pie"]),
        ("c_dwarf4_O2", &["-O2", "-gdwarf-4"]),
        ("c_gz_O2", &["-O2", "-gz=zlib"]),
    ];
    for (name, extra) in c_variants {
        let out = dir.join(name);
        let mut args: Vec<&str> = c_flags.to_vec();
        args.extend_from_slice(extra);
        args.extend_from_slice(&[
            "main.c",
            "util.c",
            "-o",
            out.to_str().expect("utf-8 temp dir"),
        ]);
        run(&c_app, "gcc", &args)?;
        bins.insert(name, out);
    }
    let stripped = dir.join("c_stripped");
    std::fs::copy(dir.join("c_pie_O2"), &stripped).map_err(|e| e.to_string())?;
    run(&dir, "strip", &["c_stripped"])?;
    bins.insert("c_stripped", stripped);

    std::fs::copy(dir.join("c_pie_O2"), dir.join("c_split")).map_err(|e| e.to_string())?;
    run(
        &dir,
        "objcopy",
        &["--only-keep-debug", "c_split", "c_split.debug"],
    )?;
    run(
        &dir,
        "strip",
        &["--strip-debug", "--strip-unneeded", "c_split"],
    )?;
    run(
        &dir,
        "objcopy",
        &["--add-gnu-debuglink=c_split.debug", "c_split"],
    )?;
    bins.insert("c_split", dir.join("c_split"));
    bins.insert("c_split.debug", dir.join("c_split.debug"));

    let cpp_dir = dir.join("cpp");
    for (name, opt) in [("cpp_O0", "-O0"), ("cpp_O2", "-O2")] {
        let out = dir.join(name);
        let args = ["-g", "-fno-omit-frame-pointer", opt, "shapes.cpp", "-o"];
        let mut args = args.to_vec();
        args.push(out.to_str().expect("utf-8 temp dir"));
        run(&cpp_dir, "g++", &args)?;
        bins.insert(name, out);
    }

    let rust_dir = dir.join("rust");
    let out = dir.join("rust_legacy");
    run(
        &rust_dir,
        "rustc",
        &["-g", "app.rs", "-o", out.to_str().expect("utf-8")],
    )?;
    bins.insert("rust_legacy", out);
    let out = dir.join("rust_v0");
    let v0 = run(
        &rust_dir,
        "rustc",
        &[
            "-g",
            "-C",
            "symbol-mangling-version=v0",
            "app.rs",
            "-o",
            out.to_str().expect("utf-8"),
        ],
    );
    let v0_skipped = match v0 {
        Ok(()) => {
            bins.insert("rust_v0", out);
            None
        }
        Err(e) => Some(e),
    };
    Ok(Fixtures {
        _tmp: tmp,
        c_sysinc: dir.join("c/sysinc"),
        c_app,
        rust_dir,
        dir,
        bins,
        v0_skipped,
    })
}

fn output(program: &str, args: &[&str], file: &Path) -> String {
    let out = Command::new(program)
        .args(args)
        .arg(file)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} {} failed",
        file.display()
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn hex(s: &str) -> u64 {
    u64::from_str_radix(s.trim_start_matches("0x"), 16).unwrap_or_else(|_| panic!("not hex: {s}"))
}

/// A `LOAD` row of `readelf -lW`.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    pub offset: u64,
    pub vaddr: u64,
    pub filesz: u64,
}

pub fn loads(file: &Path) -> Vec<Load> {
    output("readelf", &["-lW"], file)
        .lines()
        .filter_map(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            (cols.first() == Some(&"LOAD")).then(|| Load {
                offset: hex(cols[1]),
                vaddr: hex(cols[2]),
                filesz: hex(cols[4]),
            })
        })
        .collect()
}

/// Section number → (name, executable) from `readelf -SW`.
pub fn sections(file: &Path) -> BTreeMap<u32, (String, bool)> {
    let mut out = BTreeMap::new();
    for line in output("readelf", &["-SW"], file).lines() {
        let Some(rest) = line.trim_start().strip_prefix('[') else {
            continue;
        };
        let Some((num, rest)) = rest.split_once(']') else {
            continue;
        };
        let Ok(num) = num.trim().parse::<u32>() else {
            continue;
        };
        let cols: Vec<&str> = rest.split_whitespace().collect();
        // name type address off size es flags ...; flags are absent for some sections.
        if cols.len() < 7 {
            continue;
        }
        let exec = cols[6].contains('X') && cols[6].chars().all(|c| c.is_ascii_uppercase());
        out.insert(num, (cols[0].to_owned(), exec));
    }
    out
}

/// A `FUNC` row of `readelf -sW` (the `.symtab` when there is one).
#[derive(Debug, Clone)]
pub struct Sym {
    pub addr: u64,
    pub size: u64,
    pub name: String,
    pub section: Option<u32>,
}

pub fn func_symbols(file: &Path) -> Vec<Sym> {
    let text = output("readelf", &["-sW"], file);
    let has_symtab = text.contains("'.symtab'");
    let mut out = Vec::new();
    let mut in_table = false;
    for line in text.lines() {
        if line.starts_with("Symbol table") {
            in_table = !has_symtab || line.contains("'.symtab'");
            continue;
        }
        if !in_table {
            continue;
        }
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.len() < 8 || cols[3] != "FUNC" {
            continue;
        }
        // readelf appends symbol versions to .dynsym names: foo@GLIBC_2.2.5.
        let name = cols[7].split('@').next().unwrap_or_default().to_owned();
        out.push(Sym {
            addr: hex(cols[1]),
            size: cols[2].parse().unwrap_or_else(|_| hex(cols[2])),
            name,
            section: cols[6].parse().ok(),
        });
    }
    out
}

/// `nm -C` names by address (text symbols only).
pub fn nm_demangled(file: &Path) -> BTreeMap<u64, Vec<String>> {
    let mut out: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    for line in output("nm", &["-C"], file).lines() {
        let mut parts = line.splitn(3, ' ');
        let (Some(addr), Some(kind), Some(name)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if !matches!(kind, "t" | "T" | "W" | "w") || addr.trim().is_empty() {
            continue;
        }
        out.entry(hex(addr)).or_default().push(name.to_owned());
    }
    out
}

/// The first instruction of each function in `objdump -d -w`: address → (hex bytes,
/// mnemonic with operands).
pub fn first_insns(file: &Path) -> BTreeMap<u64, (Vec<u8>, String)> {
    let text = output("objdump", &["-d", "-w"], file);
    let mut out = BTreeMap::new();
    let mut want: Option<u64> = None;
    for line in text.lines() {
        // "0000000000001139 <main>:"
        if let Some(head) = line.strip_suffix(">:") {
            want = head.split_whitespace().next().map(hex);
            continue;
        }
        let Some(addr) = want else {
            continue;
        };
        let cols: Vec<&str> = line.split('\t').collect();
        if cols.len() < 3 {
            continue;
        }
        let bytes = cols[1]
            .split_whitespace()
            .map(|b| u8::from_str_radix(b, 16).expect("objdump byte"))
            .collect();
        out.insert(addr, (bytes, cols[2].trim().to_owned()));
        want = None;
    }
    out
}

/// Every instruction `objdump -d -w` decodes in the executable sections: address →
/// (hex bytes, mnemonic with operands).
pub fn insns(file: &Path) -> BTreeMap<u64, (Vec<u8>, String)> {
    let text = output("objdump", &["-d", "-w"], file);
    let mut out = BTreeMap::new();
    for line in text.lines() {
        // "    1139:\t55                   \tpush   %rbp"
        let cols: Vec<&str> = line.split('\t').collect();
        if cols.len() < 3 {
            continue;
        }
        let Some(addr) = cols[0].trim().strip_suffix(':') else {
            continue;
        };
        let Ok(addr) = u64::from_str_radix(addr, 16) else {
            continue;
        };
        let bytes = cols[1]
            .split_whitespace()
            .map(|b| u8::from_str_radix(b, 16).expect("objdump byte"))
            .collect();
        out.insert(addr, (bytes, cols[2].trim().to_owned()));
    }
    out
}

/// The target of a direct branch or call as objdump prints it (`je 1150 <f+0x17>`).
pub fn direct_target(text: &str) -> Option<u64> {
    let mut words = text.split_whitespace();
    let mnemonic = words.next()?;
    let branch = mnemonic.starts_with('j')
        || mnemonic.starts_with("call")
        || mnemonic.starts_with("loop")
        || mnemonic == "xbegin";
    let operand = words.next()?;
    if !branch || operand.starts_with('*') {
        return None;
    }
    u64::from_str_radix(operand, 16).ok()
}

/// Line number (1-based) of the first line of `file` containing `needle`.
pub fn line_of(file: &Path, needle: &str) -> u32 {
    let text = std::fs::read_to_string(file).expect("read fixture source");
    let index = text
        .lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("{needle} not in {}", file.display()));
    u32::try_from(index + 1).expect("line number")
}
