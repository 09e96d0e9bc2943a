//! Calls into shared libraries, seen from both ends: which imported function a call
//! instruction of the application goes to (through its PLT stub or its GOT slot), and
//! which exported functions of a shared library hold a code offset. Together they check a
//! sampled frame against the library frame below it: a return address whose call went to
//! `fsync` cannot be the caller of code inside `select`.

use object::{
    Object, ObjectSection, ObjectSegment, ObjectSymbol, ObjectSymbolTable, RelocationTarget,
    SymbolKind,
};
use rustc_hash::FxHashMap;

/// A file's loadable segments: (address, size, file offset).
fn segments(file: &object::File<'_>) -> Vec<(u64, u64, u64)> {
    file.segments()
        .filter_map(|s| {
            let (off, size) = s.file_range();
            (size > 0).then_some((s.address(), size, off))
        })
        .collect()
}

fn to_addr(segs: &[(u64, u64, u64)], off: u64) -> Option<u64> {
    segs.iter()
        .find(|&&(_, size, o)| off >= o && off < o + size)
        .map(|&(a, _, o)| off - o + a)
}

fn to_off(segs: &[(u64, u64, u64)], addr: u64) -> Option<u64> {
    segs.iter()
        .find(|&&(a, size, _)| addr >= a && addr < a + size)
        .map(|&(a, _, o)| addr - a + o)
}

/// The imports of an executable or shared object.
pub(super) struct Imports {
    /// GOT slot address → imported symbol name.
    got: FxHashMap<u64, String>,
    /// PLT sections: [start, end) addresses.
    plt: Vec<(u64, u64)>,
    segs: Vec<(u64, u64, u64)>,
}

impl Imports {
    pub(super) fn of(data: &[u8]) -> Option<Imports> {
        let file = object::File::parse(data).ok()?;
        let dynsyms = file.dynamic_symbol_table();
        let mut got = FxHashMap::default();
        for (slot, rel) in file.dynamic_relocations()? {
            if let (RelocationTarget::Symbol(i), Some(table)) = (rel.target(), dynsyms.as_ref())
                && let Ok(sym) = table.symbol_by_index(i)
                && let Ok(name) = sym.name()
                && !name.is_empty()
            {
                got.insert(slot, name.to_string());
            }
        }
        let plt = file
            .sections()
            .filter(|s| s.name().is_ok_and(|n| n.starts_with(".plt")))
            .map(|s| (s.address(), s.address() + s.size()))
            .collect();
        Some(Imports {
            got,
            plt,
            segs: segments(&file),
        })
    }

    /// The imported function that the call ending at `offset + 1` (a return location:
    /// the return address minus one) goes to: `call stub` into a PLT section whose stub
    /// jumps through a GOT slot, or `call *slot(%rip)`.
    pub(super) fn called(&self, data: &[u8], offset: u64) -> Option<&str> {
        let end = offset.checked_add(1)?;
        let at = |o: u64, n: usize| {
            let o = usize::try_from(o).ok()?;
            data.get(o..o.checked_add(n)?)
        };
        let end_addr = to_addr(&self.segs, end)?;
        // call *disp32(%rip): ff 15 disp32
        if let Some(b) = at(end.checked_sub(6)?, 6)
            && b[0] == 0xff
            && b[1] == 0x15
        {
            let disp = i32::from_le_bytes(b[2..6].try_into().ok()?);
            return self
                .got
                .get(&end_addr.checked_add_signed(disp.into())?)
                .map(String::as_str);
        }
        let b = at(end.checked_sub(5)?, 5)?;
        if b[0] != 0xe8 {
            return None;
        }
        let rel = i32::from_le_bytes(b[1..5].try_into().ok()?);
        let stub = end_addr.checked_add_signed(rel.into())?;
        if !self.plt.iter().any(|&(s, e)| stub >= s && stub < e) {
            return None;
        }
        // the stub: [endbr64] [bnd] jmp *disp32(%rip)
        let mut code = at(to_off(&self.segs, stub)?, 16)?;
        let mut addr = stub;
        if code.starts_with(&[0xf3, 0x0f, 0x1e, 0xfa]) {
            code = &code[4..];
            addr += 4;
        }
        if code.first() == Some(&0xf2) {
            code = &code[1..];
            addr += 1;
        }
        if code.len() < 6 || code[0] != 0xff || code[1] != 0x25 {
            return None;
        }
        let disp = i32::from_le_bytes(code[2..6].try_into().ok()?);
        let slot = (addr + 6).checked_add_signed(disp.into())?;
        self.got.get(&slot).map(String::as_str)
    }
}

/// The exported functions of a shared library, by file offset.
pub(super) struct Exports {
    /// (start, end, names at that start), sorted by start.
    funcs: Vec<(u64, u64, Vec<String>)>,
}

impl Exports {
    pub(super) fn of(data: &[u8]) -> Option<Exports> {
        let file = object::File::parse(data).ok()?;
        let segs = segments(&file);
        let mut by_start: FxHashMap<u64, (u64, Vec<String>)> = FxHashMap::default();
        for sym in file.dynamic_symbols() {
            if sym.kind() != SymbolKind::Text || sym.size() == 0 || sym.is_undefined() {
                continue;
            }
            let (Ok(name), Some(off)) = (sym.name(), to_off(&segs, sym.address())) else {
                continue;
            };
            let e = by_start.entry(off).or_default();
            e.0 = e.0.max(off + sym.size());
            e.1.push(name.to_string());
        }
        let mut funcs: Vec<(u64, u64, Vec<String>)> =
            by_start.into_iter().map(|(s, (e, n))| (s, e, n)).collect();
        funcs.sort_unstable_by_key(|f| f.0);
        (!funcs.is_empty()).then_some(Exports { funcs })
    }

    /// The names (aliases: `select`, `__select`) of the exported function holding `off`.
    pub(super) fn names_at(&self, off: u64) -> Option<&[String]> {
        let i = self.funcs.partition_point(|f| f.0 <= off);
        let f = self.funcs.get(i.checked_sub(1)?)?;
        (off < f.1).then_some(&f.2[..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object::{Object, ObjectSymbol};

    const SRC: &str = "#include <sys/select.h>\n#include <unistd.h>\n\
        int main(void) { fsync(1); struct timeval tv = {0, 1}; \
        return select(0, 0, 0, 0, &tv); }\n";

    /// The imports that calls in `main` of a program built with `extra` go to, found by
    /// asking at every byte of `main` (only real call encodings into a PLT stub or a GOT
    /// slot of a named import answer).
    fn imports_called_by_main(extra: &[&str]) -> Option<Vec<String>> {
        if !testkit::require_tool("imports of a call", "gcc") {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("m.c");
        std::fs::write(&src, SRC).unwrap();
        let exe = dir.path().join("m");
        testkit::gcc(&src, &exe, testkit::Flags::Debug, extra);
        let data = std::fs::read(&exe).unwrap();
        let file = object::File::parse(&*data).unwrap();
        let main = file.symbols().find(|s| s.name() == Ok("main")).unwrap();
        let segs = segments(&file);
        let start = to_off(&segs, main.address()).unwrap();
        let imports = Imports::of(&data).unwrap();
        let mut names: Vec<String> = (start..start + main.size())
            .filter_map(|off| imports.called(&data, off).map(str::to_string))
            .collect();
        names.dedup();
        Some(names)
    }

    #[test]
    fn a_call_through_the_plt_names_its_import() {
        if let Some(names) = imports_called_by_main(&[]) {
            assert_eq!(names, ["fsync", "select"]);
        }
    }

    #[test]
    fn a_call_through_the_got_names_its_import() {
        if let Some(names) = imports_called_by_main(&["-fno-plt"]) {
            assert_eq!(names, ["fsync", "select"]);
        }
    }

    #[test]
    fn a_call_through_an_ibt_plt_names_its_import() {
        // endbr64 stubs (.plt.sec) when every input carries the IBT property
        if let Some(names) = imports_called_by_main(&["-fcf-protection=full", "-Wl,-z,ibtplt"]) {
            assert_eq!(names, ["fsync", "select"]);
        }
    }

    #[test]
    fn a_library_offset_names_the_exported_function_and_its_aliases() {
        let Some(libc) = testkit::require_mapped_libc("exported functions of libc") else {
            return;
        };
        let data = std::fs::read(libc).unwrap();
        let file = object::File::parse(&*data).unwrap();
        let select = file
            .dynamic_symbols()
            .find(|s| s.name() == Ok("select"))
            .unwrap();
        let off = to_off(&segments(&file), select.address()).unwrap();
        let exports = Exports::of(&data).unwrap();
        let names = exports.names_at(off + 1).unwrap();
        assert!(names.iter().any(|n| n == "select"), "{names:?}");
        assert!(!names.iter().any(|n| n == "fsync"), "{names:?}");
        let fsync = file
            .dynamic_symbols()
            .find(|s| s.name() == Ok("fsync"))
            .unwrap();
        let off = to_off(&segments(&file), fsync.address()).unwrap();
        assert!(exports.names_at(off).unwrap().iter().any(|n| n == "fsync"));
    }
}
