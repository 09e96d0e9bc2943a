//! ELF side: mapping files, function symbols, load segments, entry bytes, debug files.

use std::borrow::Cow;
use std::fs::File;
use std::path::{Path, PathBuf};

use object::{
    Object, ObjectSection, ObjectSegment, ObjectSymbol, ObjectSymbolTable, SectionKind,
    SymbolFlags, elf,
};

use crate::SymbolsError;
use crate::names::split_suffixes;

/// File contents: a read-only mapping, or nothing for an empty file.
pub(crate) struct Mapped(Option<memmap2::Mmap>);

impl Mapped {
    pub fn open(path: &Path) -> Result<Self, SymbolsError> {
        let io = |source| SymbolsError::Io {
            path: path.to_owned(),
            source,
        };
        let file = File::open(path).map_err(io)?;
        if file.metadata().map_err(io)?.len() == 0 {
            return Ok(Mapped(None));
        }
        // SAFETY: the mapping is read-only and private. If another process truncates or
        // rewrites the file while we read it, we may read changed bytes or fault; perfscope
        // reads binaries that are not being rebuilt, as `perf` and `gdb` do.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io)?;
        Ok(Mapped(Some(map)))
    }

    pub fn bytes(&self) -> &[u8] {
        self.0.as_deref().unwrap_or(&[])
    }
}

/// Parses `data` as an ELF file.
pub(crate) fn parse<'d>(path: &Path, data: &'d [u8]) -> Result<object::File<'d>, SymbolsError> {
    if !data.starts_with(&elf::ELFMAG) {
        return Err(SymbolsError::NotElf {
            path: path.to_owned(),
        });
    }
    let file = object::File::parse(data).map_err(|e| SymbolsError::Parse {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    if file.format() != object::BinaryFormat::Elf {
        return Err(SymbolsError::NotElf {
            path: path.to_owned(),
        });
    }
    Ok(file)
}

/// Whether the file can name its functions: a `.symtab`, or DWARF.
pub(crate) fn self_describing(file: &object::File<'_>) -> bool {
    file.symbol_table().is_some() || file.has_debug_symbols()
}

/// A separate debug file (`objcopy --only-keep-debug`): its code sections are `NOBITS`.
pub(crate) fn is_debug_only(file: &object::File<'_>) -> bool {
    let mut code = file.sections().filter(|s| {
        matches!(s.flags(), object::SectionFlags::Elf { sh_flags, .. }
            if sh_flags.0 & elf::SHF_EXECINSTR.0 != 0)
    });
    let mut any = false;
    let all_empty = code.all(|s| {
        any = true;
        s.kind() == SectionKind::UninitializedData
    });
    any && all_empty
}

/// A function symbol before demangling.
#[derive(Debug, Clone)]
pub(crate) struct RawFunction<'d> {
    pub addr: u64,
    pub size: u64,
    pub raw: Cow<'d, str>,
    /// Lower is preferred when several symbols share an address.
    rank: (u8, bool, bool, usize),
}

/// The entry points of `file`: `STT_FUNC` symbols with a size in an executable section
/// other than the PLT, one per address, without split-off `.cold` parts.
pub(crate) fn functions<'d>(file: &object::File<'d>) -> Vec<RawFunction<'d>> {
    #[derive(Clone, Copy, Default)]
    struct Sec {
        code: bool,
    }
    let mut sections: Vec<Sec> = Vec::new();
    for section in file.sections() {
        let index = section.index().0;
        if sections.len() <= index {
            sections.resize(index + 1, Sec::default());
        }
        let exec = matches!(section.flags(), object::SectionFlags::Elf { sh_flags, .. }
            if sh_flags.0 & elf::SHF_EXECINSTR.0 != 0);
        let plt = section.name().is_ok_and(|n| n.starts_with(".plt"));
        sections[index] = Sec { code: exec && !plt };
    }
    let symbols = if file.symbol_table().is_some() {
        file.symbols()
    } else {
        file.dynamic_symbols()
    };
    let mut out: Vec<RawFunction<'d>> = Vec::new();
    for symbol in symbols {
        let SymbolFlags::Elf { st_info, .. } = symbol.flags() else {
            continue;
        };
        if st_info.st_type() != elf::STT_FUNC || symbol.size() == 0 {
            continue;
        }
        let Some(section) = symbol.section_index() else {
            continue;
        };
        if !sections.get(section.0).is_some_and(|s| s.code) {
            continue;
        }
        let Ok(bytes) = symbol.name_bytes() else {
            continue;
        };
        let raw = String::from_utf8_lossy(bytes);
        let suffixes = split_suffixes(&raw);
        if suffixes.cold || raw.is_empty() {
            continue;
        }
        let bind = match st_info.st_bind() {
            elf::STB_GLOBAL => 0,
            elf::STB_WEAK => 1,
            _ => 2,
        };
        let rank = (
            bind,
            suffixes.base.len() != raw.len(),
            raw.starts_with('_'),
            raw.len(),
        );
        out.push(RawFunction {
            addr: symbol.address(),
            size: symbol.size(),
            raw,
            rank,
        });
    }
    out.sort_by(|a, b| (a.addr, a.rank, &a.raw).cmp(&(b.addr, b.rank, &b.raw)));
    out.dedup_by_key(|f| f.addr);
    out
}

/// What a uprobe needs from the file that is executed: segments and code bytes.
pub(crate) struct CodeImage<'d> {
    /// `PT_LOAD` headers: (p_vaddr, p_filesz, p_offset).
    loads: Vec<(u64, u64, u64)>,
    /// Allocated sections with file bytes, sorted by address: (address, bytes).
    code: Vec<(u64, &'d [u8])>,
    /// The executable ones among them.
    exec: Vec<(u64, &'d [u8])>,
}

impl<'d> CodeImage<'d> {
    pub fn new(file: &object::File<'d>) -> Self {
        let loads = file
            .segments()
            .map(|s| {
                let (offset, filesz) = s.file_range();
                (s.address(), filesz, offset)
            })
            .collect();
        let mut code: Vec<(u64, &'d [u8])> = Vec::new();
        let mut exec: Vec<(u64, &'d [u8])> = Vec::new();
        for (s, data, is_exec) in loaded_sections(file) {
            code.push((s.address(), data));
            if is_exec {
                exec.push((s.address(), data));
            }
        }
        code.sort_by_key(|(addr, _)| *addr);
        exec.sort_by_key(|(addr, _)| *addr);
        CodeImage { loads, code, exec }
    }

    /// The file offset of `vaddr` through the `PT_LOAD` segment whose file bytes hold it.
    pub fn file_offset(&self, vaddr: u64) -> Option<u64> {
        self.loads
            .iter()
            .find(|(start, filesz, _)| *start <= vaddr && vaddr - start < *filesz)
            .map(|(start, _, offset)| vaddr - start + offset)
    }

    /// The bytes from `vaddr` to the end of its section, empty when the file does not
    /// hold them.
    pub fn bytes_from(&self, vaddr: u64) -> &'d [u8] {
        let i = self.code.partition_point(|(addr, _)| *addr <= vaddr);
        let Some(&(addr, data)) = i.checked_sub(1).and_then(|i| self.code.get(i)) else {
            return &[];
        };
        let start = usize::try_from(vaddr - addr).unwrap_or(usize::MAX);
        data.get(start..).unwrap_or(&[])
    }

    /// The executable sections: (address, bytes), sorted by address.
    pub fn exec_sections(&self) -> &[(u64, &'d [u8])] {
        &self.exec
    }
}

/// Lowercase hex of the GNU build-id.
pub(crate) fn build_id(file: &object::File<'_>) -> Option<String> {
    let id = file.build_id().ok().flatten()?;
    Some(id.iter().map(|b| format!("{b:02x}")).collect())
}

/// Where a separate debug file for `path` may be, in the order gdb looks:
/// by build-id under /usr/lib/debug, then by `.gnu_debuglink` next to the file,
/// in its `.debug/` folder, and under /usr/lib/debug.
pub(crate) fn debug_file_candidates(path: &Path, file: &object::File<'_>) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(id) = build_id(file).filter(|id| id.len() > 2) {
        out.push(PathBuf::from(format!(
            "/usr/lib/debug/.build-id/{}/{}.debug",
            &id[..2],
            &id[2..]
        )));
    }
    if let Ok(Some((name, _crc))) = file.gnu_debuglink() {
        let name = String::from_utf8_lossy(name).into_owned();
        let dir = path.parent().unwrap_or(Path::new("."));
        out.push(dir.join(&name));
        out.push(dir.join(".debug").join(&name));
        if let Ok(abs) = std::path::absolute(dir) {
            let rel = abs.strip_prefix("/").unwrap_or(&abs);
            out.push(Path::new("/usr/lib/debug").join(rel).join(&name));
        }
    }
    out.retain(|p| p != path);
    out
}

/// `.cold` parts split off functions, as (address, size, entry address of the function
/// they belong to). The owner is the sized function symbol named like the part without
/// its last `.cold` or `.cold.N` (`foo.part.0.cold` belongs to `foo.part.0`); parts
/// without one are left out.
pub(crate) fn cold_parts(file: &object::File<'_>) -> Vec<(u64, u64, u64)> {
    let symbols = if file.symbol_table().is_some() {
        file.symbols()
    } else {
        file.dynamic_symbols()
    };
    let mut by_name: rustc_hash::FxHashMap<&[u8], u64> = rustc_hash::FxHashMap::default();
    let mut cold: Vec<(u64, u64, &[u8])> = Vec::new();
    for symbol in symbols {
        let SymbolFlags::Elf { st_info, .. } = symbol.flags() else {
            continue;
        };
        if st_info.st_type() != elf::STT_FUNC || symbol.size() == 0 {
            continue;
        }
        let Ok(name) = symbol.name_bytes() else {
            continue;
        };
        match strip_cold(name) {
            Some(owner) => cold.push((symbol.address(), symbol.size(), owner)),
            None => {
                by_name.insert(name, symbol.address());
            }
        }
    }
    let mut out: Vec<(u64, u64, u64)> = cold
        .into_iter()
        .filter_map(|(addr, size, owner)| Some((addr, size, *by_name.get(owner)?)))
        .collect();
    out.sort_unstable();
    out.dedup_by_key(|c| c.0);
    out
}

/// `foo.cold` and `foo.cold.3` → `foo`.
fn strip_cold(name: &[u8]) -> Option<&[u8]> {
    let digits = name.iter().rev().take_while(|b| b.is_ascii_digit()).count();
    let mut rest = &name[..name.len() - digits];
    if digits > 0 {
        rest = rest.strip_suffix(b".")?;
    }
    rest.strip_suffix(b".cold").filter(|r| !r.is_empty())
}

/// The sections loaded with bytes from the file (an address, not bss or tbss, not empty):
/// each with its bytes and whether it is executable.
fn loaded_sections<'d, 'f>(
    file: &'f object::File<'d>,
) -> impl Iterator<Item = (object::Section<'d, 'f>, &'d [u8], bool)> {
    file.sections().filter_map(|s| {
        if s.address() == 0
            || matches!(
                s.kind(),
                SectionKind::UninitializedData | SectionKind::UninitializedTls
            )
        {
            return None;
        }
        let data = s.data().ok().filter(|d| !d.is_empty())?;
        let exec = matches!(s.flags(), object::SectionFlags::Elf { sh_flags, .. }
            if sh_flags.0 & elf::SHF_EXECINSTR.0 != 0);
        Some((s, data, exec))
    })
}

/// What the syscall-reach analysis needs from the executed file: its PLT sections, the
/// names of its GOT slots and its data sections.
pub(crate) fn reach_image<'d>(file: &object::File<'d>) -> crate::reach::Image<'d> {
    let mut image = crate::reach::Image::default();
    for (s, data, exec) in loaded_sections(file) {
        if exec && s.name().is_ok_and(|n| n.starts_with(".plt")) {
            image.plt.push((s.address(), data));
        } else if !exec {
            image.data.push((s.address(), data));
        }
    }
    image.data.sort_by_key(|(addr, _)| *addr);
    if let (Some(relocs), Some(dynsym)) = (file.dynamic_relocations(), file.dynamic_symbol_table())
    {
        for (slot, reloc) in relocs {
            let object::RelocationTarget::Symbol(index) = reloc.target() else {
                continue;
            };
            if let Ok(name) = dynsym.symbol_by_index(index).and_then(|s| s.name()) {
                image.got.insert(slot, name.to_owned());
            }
        }
    }
    image
}
