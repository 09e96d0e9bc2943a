//! DWARF: where each out-of-line function was declared, and which unit covers an address.
//!
//! One sequential pass over `.debug_info` reads only `DW_TAG_subprogram` DIEs (the others
//! are skipped without materialising their attributes). Every subprogram that carries a
//! declaration or points at another DIE is remembered by its section offset; those with
//! code (`DW_AT_low_pc` or `DW_AT_ranges`) become entries. A second step follows
//! `DW_AT_abstract_origin` / `DW_AT_specification` through the remembered DIEs, across
//! units too (LTO builds refer across them), to the declaring file and line.

use std::borrow::Cow;

use gimli::{AttributeValue, EndianSlice, RunTimeEndian};
use object::{Object, ObjectSection};
use rustc_hash::FxHashMap;

use crate::class::join_normalized;

type R<'a> = EndianSlice<'a, RunTimeEndian>;

const NO_FILE: u32 = u32::MAX;
const NO_TARGET: u64 = u64::MAX;
/// Origin chains are one or two links long; a longer one is a cycle in broken DWARF.
const MAX_CHAIN: usize = 8;

/// What DWARF says about the functions of one file.
#[derive(Debug, Default)]
pub(crate) struct DwarfIndex {
    /// Interned normalized paths; `u32` ids index this.
    pub paths: Vec<String>,
    pub units: Vec<UnitInfo>,
    /// Out-of-line instances sorted by address (several may share one).
    pub entries: Vec<Entry>,
    /// Address ranges of the units, sorted by start.
    pub unit_ranges: Vec<UnitRange>,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct UnitInfo {
    /// The unit's primary source file, resolved against its compilation directory.
    pub file: Option<u32>,
    pub comp_dir: Option<u32>,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Entry {
    pub addr: u64,
    pub file: Option<u32>,
    pub line: Option<u32>,
    pub unit: u32,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct UnitRange {
    pub begin: u64,
    pub end: u64,
    pub unit: u32,
}

impl DwarfIndex {
    /// The first entry at `addr` that knows its declaring file, else any entry there.
    pub fn entry_at(&self, addr: u64) -> Option<&Entry> {
        let start = self.entries.partition_point(|e| e.addr < addr);
        let same = self.entries[start..].iter().take_while(|e| e.addr == addr);
        let mut first = None;
        for e in same {
            if e.file.is_some() {
                return Some(e);
            }
            first.get_or_insert(e);
        }
        first
    }

    /// The unit whose address ranges contain `addr`.
    pub fn unit_at(&self, addr: u64) -> Option<u32> {
        let end = self.unit_ranges.partition_point(|r| r.begin <= addr);
        // Ranges of different units do not overlap in a linked file, but stay correct
        // if they do: look back over the few ranges that start before `addr`.
        self.unit_ranges[..end]
            .iter()
            .rev()
            .take(64)
            .find(|r| addr < r.end)
            .map(|r| r.unit)
    }
}

/// A remembered subprogram DIE, by its offset in `.debug_info`.
#[derive(Debug, Clone, Copy)]
struct Decl {
    offset: u64,
    target: u64,
    file: u32,
    line: u32,
}

#[derive(Debug, Clone, Copy)]
struct Pending {
    addr: u64,
    target: u64,
    file: u32,
    line: u32,
    unit: u32,
}

#[derive(Default)]
struct Interner {
    ids: FxHashMap<String, u32>,
    paths: Vec<String>,
    scratch: String,
}

impl Interner {
    fn intern_joined(&mut self, base: &str, rel: &str) -> u32 {
        let mut scratch = std::mem::take(&mut self.scratch);
        join_normalized(&mut scratch, base, rel);
        let id = match self.ids.get(scratch.as_str()) {
            Some(&id) => id,
            None => {
                let id = u32::try_from(self.paths.len()).unwrap_or(u32::MAX - 1);
                self.paths.push(scratch.clone());
                self.ids.insert(scratch.clone(), id);
                id
            }
        };
        self.scratch = scratch;
        id
    }
}

/// Reads the DWARF of `file`; `None` when it has none (or none that can be read).
pub(crate) fn read(file: &object::File<'_>) -> Option<DwarfIndex> {
    let endian = if file.is_little_endian() {
        RunTimeEndian::Little
    } else {
        RunTimeEndian::Big
    };
    let sections = gimli::DwarfSections::load(|id| -> Result<Cow<'_, [u8]>, ()> {
        Ok(section_data(file, id.name()).unwrap_or(Cow::Borrowed(&[])))
    })
    .ok()?;
    let dwarf = sections.borrow(|s| EndianSlice::new(s, endian));
    if gimli::Section::reader(&dwarf.debug_info).is_empty() {
        return None;
    }
    let mut walker = Walker::default();
    let mut headers = dwarf.units();
    // A unit header that does not parse leaves no way to find the next one: stop there.
    while let Ok(Some(header)) = headers.next() {
        let Ok(unit) = dwarf.unit(header) else {
            continue;
        };
        walker.unit(&dwarf, &unit);
    }
    if walker.units.is_empty() {
        return None;
    }
    Some(walker.finish())
}

/// The largest ratio of claimed uncompressed size to compressed size that is believed.
/// deflate cannot exceed ~1,032:1 and DWARF compresses ~5:1; a corrupted header claiming
/// more would have us allocate and zero gigabytes.
const MAX_COMPRESSION_RATIO: u64 = 4096;

/// The bytes of a debug section, decompressed. A section that is absent, cannot be
/// decompressed, or claims an absurd size counts as absent: the table then degrades to
/// what the symbols say rather than failing.
fn section_data<'d>(file: &object::File<'d>, name: &str) -> Option<Cow<'d, [u8]>> {
    let compressed = file.section_by_name(name)?.compressed_data().ok()?;
    let limit = (compressed.data.len() as u64).saturating_mul(MAX_COMPRESSION_RATIO);
    if compressed.format != object::CompressionFormat::None && compressed.uncompressed_size > limit
    {
        return None;
    }
    compressed.decompress().ok()
}

#[derive(Default)]
struct Walker<'a> {
    interner: Interner,
    units: Vec<UnitInfo>,
    decls: Vec<Decl>,
    pending: Vec<Pending>,
    unit_ranges: Vec<UnitRange>,
    attrs: Vec<gimli::Attribute<R<'a>>>,
    /// Per-unit cache: file index → interned path (`NO_FILE` = none, `UNRESOLVED`).
    files: Vec<u32>,
    starts: Vec<u64>,
}

const UNRESOLVED: u32 = u32::MAX - 1;

impl<'a> Walker<'a> {
    fn unit(&mut self, dwarf: &gimli::Dwarf<R<'a>>, unit: &gimli::Unit<R<'a>>) {
        let unit_id = u32::try_from(self.units.len()).unwrap_or(u32::MAX);
        let comp_dir = unit.comp_dir.map(|d| String::from_utf8_lossy(d.slice()));
        let comp_dir_str = comp_dir.as_deref().unwrap_or("");
        let file = unit.name.map(|n| {
            let name = String::from_utf8_lossy(n.slice());
            // rustc names units `src/main.rs/@/crate.hash-cgu.0`.
            let name = name.split("/@/").next().unwrap_or_default();
            self.interner.intern_joined(comp_dir_str, name)
        });
        let comp_dir_id = comp_dir
            .as_deref()
            .map(|d| self.interner.intern_joined("", d));
        self.units.push(UnitInfo {
            file,
            comp_dir: comp_dir_id,
        });
        if let Ok(mut ranges) = dwarf.unit_ranges(unit) {
            while let Ok(Some(r)) = ranges.next() {
                if r.begin < r.end {
                    self.unit_ranges.push(UnitRange {
                        begin: r.begin,
                        end: r.end,
                        unit: unit_id,
                    });
                }
            }
        }
        self.files.clear();
        // An error inside a unit keeps what was read before it.
        let _ = self.subprograms(dwarf, unit, unit_id, comp_dir_str);
    }

    fn subprograms(
        &mut self,
        dwarf: &gimli::Dwarf<R<'a>>,
        unit: &gimli::Unit<R<'a>>,
        unit_id: u32,
        comp_dir: &str,
    ) -> gimli::Result<()> {
        let Some(base) = unit.header.debug_info_offset() else {
            return Ok(());
        };
        let base = base.0 as u64;
        let mut raw = unit.entries_raw(None)?;
        while !raw.is_empty() {
            let offset = raw.next_offset().0 as u64;
            let Some(abbrev) = raw.read_abbreviation()? else {
                continue;
            };
            if abbrev.tag() != gimli::DW_TAG_subprogram {
                raw.skip_attributes(abbrev.attributes())?;
                continue;
            }
            raw.read_attributes(abbrev.attributes(), &mut self.attrs)?;
            self.subprogram(dwarf, unit, unit_id, comp_dir, base, base + offset);
        }
        Ok(())
    }

    fn subprogram(
        &mut self,
        dwarf: &gimli::Dwarf<R<'a>>,
        unit: &gimli::Unit<R<'a>>,
        unit_id: u32,
        comp_dir: &str,
        base: u64,
        offset: u64,
    ) {
        let mut low_pc = None;
        let mut ranges = None;
        let mut file_index = None;
        let mut line = 0u32;
        let mut target = NO_TARGET;
        let mut declaration = false;
        for attr in &self.attrs {
            match attr.name() {
                gimli::DW_AT_low_pc => {
                    low_pc = dwarf.attr_address(unit, attr.value()).ok().flatten()
                }
                gimli::DW_AT_ranges => ranges = Some(attr.value()),
                gimli::DW_AT_decl_file => {
                    file_index = match attr.value() {
                        AttributeValue::FileIndex(i) => Some(i),
                        v => v.udata_value(),
                    }
                }
                gimli::DW_AT_decl_line => {
                    line = attr
                        .value()
                        .udata_value()
                        .and_then(|l| u32::try_from(l).ok())
                        .unwrap_or(0);
                }
                gimli::DW_AT_abstract_origin | gimli::DW_AT_specification
                    if target == NO_TARGET =>
                {
                    target = match attr.value() {
                        AttributeValue::UnitRef(o) => base + o.0 as u64,
                        AttributeValue::DebugInfoRef(o) => o.0 as u64,
                        _ => NO_TARGET,
                    };
                }
                gimli::DW_AT_declaration => declaration = true,
                _ => {}
            }
        }
        let file = match file_index {
            Some(i) => self.file(dwarf, unit, comp_dir, i),
            None => NO_FILE,
        };
        if file != NO_FILE || target != NO_TARGET || line != 0 {
            self.decls.push(Decl {
                offset,
                target,
                file,
                line,
            });
        }
        if declaration {
            return;
        }
        self.starts.clear();
        if let Some(value) = ranges {
            if let Ok(Some(mut list)) = dwarf.attr_ranges(unit, value) {
                while let Ok(Some(r)) = list.next() {
                    if r.begin < r.end {
                        self.starts.push(r.begin);
                    }
                }
            }
        } else if let Some(pc) = low_pc {
            self.starts.push(pc);
        }
        for &addr in &self.starts {
            self.pending.push(Pending {
                addr,
                target,
                file,
                line,
                unit: unit_id,
            });
        }
    }

    /// The interned path of file `index` of the unit's line table.
    fn file(
        &mut self,
        dwarf: &gimli::Dwarf<R<'a>>,
        unit: &gimli::Unit<R<'a>>,
        comp_dir: &str,
        index: u64,
    ) -> u32 {
        let Ok(slot) = usize::try_from(index) else {
            return NO_FILE;
        };
        if slot >= 1 << 20 {
            return NO_FILE;
        }
        if self.files.len() <= slot {
            self.files.resize(slot + 1, UNRESOLVED);
        }
        if self.files[slot] != UNRESOLVED {
            return self.files[slot];
        }
        let id = self
            .resolve_file(dwarf, unit, comp_dir, index)
            .unwrap_or(NO_FILE);
        self.files[slot] = id;
        id
    }

    fn resolve_file(
        &mut self,
        dwarf: &gimli::Dwarf<R<'a>>,
        unit: &gimli::Unit<R<'a>>,
        comp_dir: &str,
        index: u64,
    ) -> Option<u32> {
        let string = |v| dwarf.attr_string(unit, v).ok().map(|s: R<'a>| s.slice());
        let header = unit.line_program.as_ref()?.header();
        let entry = header.file(index)?;
        let name = String::from_utf8_lossy(string(entry.path_name())?);
        let dir = entry
            .directory(header)
            .and_then(string)
            .map(String::from_utf8_lossy)
            .unwrap_or(Cow::Borrowed(""));
        // The directory may itself be relative to the compilation directory.
        let mut dir_abs = String::new();
        join_normalized(&mut dir_abs, comp_dir, &dir);
        Some(self.interner.intern_joined(&dir_abs, &name))
    }

    fn finish(mut self) -> DwarfIndex {
        // Offsets grow along the section, so this is already sorted unless units repeat.
        self.decls.sort_by_key(|d| d.offset);
        let decls = &self.decls;
        let find = |offset: u64| -> Option<&Decl> {
            let i = decls.binary_search_by_key(&offset, |d| d.offset).ok()?;
            decls.get(i)
        };
        let mut entries: Vec<Entry> = self
            .pending
            .iter()
            .map(|p| {
                let (mut file, mut line, mut target) = (p.file, p.line, p.target);
                let mut hops = 0;
                while file == NO_FILE && target != NO_TARGET && hops < MAX_CHAIN {
                    let Some(d) = find(target) else {
                        break;
                    };
                    file = d.file;
                    if line == 0 {
                        line = d.line;
                    }
                    target = d.target;
                    hops += 1;
                }
                Entry {
                    addr: p.addr,
                    file: (file != NO_FILE).then_some(file),
                    line: (line != 0).then_some(line),
                    unit: p.unit,
                }
            })
            .collect();
        entries.sort_by_key(|e| e.addr);
        self.unit_ranges.sort_by_key(|r| (r.begin, r.end, r.unit));
        DwarfIndex {
            paths: self.interner.paths,
            units: self.units,
            entries,
            unit_ranges: self.unit_ranges,
        }
    }
}
