//! A class file parsed as far as the agent's method table needs: the class name and
//! source file, and per method with code its name, descriptor, access flags, first line
//! and whether it is a leaf (it can make no syscall), by the agent's rules
//! (`jvm/agent/README.md`, "Leaf methods"). Bounded by the input and never panicking.

/// `ACC_SYNCHRONIZED`: contention on the method's monitor blocks in `futex`.
const ACC_SYNCHRONIZED: u16 = 0x0020;
/// Methods without an entry of their own in the agent's table.
const ACC_BRIDGE: u16 = 0x0040;
const ACC_NATIVE: u16 = 0x0100;
const ACC_ABSTRACT: u16 = 0x0400;

/// One method with code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MethodInfo {
    pub name: String,
    pub descriptor: String,
    pub access: u16,
    /// The smallest line of its `LineNumberTable`.
    pub line: Option<u32>,
    /// Cannot make a syscall, neither itself nor through a callee.
    pub leaf: bool,
}

/// What a class file says about itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClassInfo {
    /// Internal name: `org/x/Foo$Bar`.
    pub name: String,
    /// The `SourceFile` attribute: `Foo.java`.
    pub source_file: Option<String>,
    /// Methods with code, in class file order; bridges left out as the agent does.
    pub methods: Vec<MethodInfo>,
}

/// Constant pool entries the parse needs: UTF-8 text, class names, and the tags of the
/// rest (to tell an `ldc` of a class or handle from one of a number or string).
#[derive(Clone, Debug)]
enum Constant {
    Utf8(String),
    Class(u16),
    Other(u8),
    Unused,
}

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let s = self
            .pos
            .checked_add(n)
            .and_then(|end| self.b.get(self.pos..end))
            .ok_or_else(|| format!("truncated at byte {} (wanted {n} more)", self.pos))?;
        self.pos += n;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, String> {
        let s = self.take(2)?;
        Ok(u16::from_be_bytes([s[0], s[1]]))
    }
    fn u32(&mut self) -> Result<u32, String> {
        let s = self.take(4)?;
        Ok(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    }
}

struct Pool(Vec<Constant>);

impl Pool {
    fn utf8(&self, i: u16) -> Result<&str, String> {
        match self.0.get(i as usize) {
            Some(Constant::Utf8(s)) => Ok(s),
            _ => Err(format!("constant {i} is not UTF-8 text")),
        }
    }
    fn class(&self, i: u16) -> Result<&str, String> {
        match self.0.get(i as usize) {
            Some(Constant::Class(n)) => self.utf8(*n),
            _ => Err(format!("constant {i} is not a class")),
        }
    }
    /// Whether an `ldc` of constant `i` may load or link a class: a Class (7),
    /// MethodHandle (15), MethodType (16) or dynamic constant (17).
    fn ldc_links(&self, i: u16) -> bool {
        matches!(
            self.0.get(i as usize),
            Some(Constant::Class(_) | Constant::Other(15..=17))
        )
    }
}

fn pool(r: &mut Reader<'_>) -> Result<Pool, String> {
    let count = r.u16()?;
    let mut c = Vec::with_capacity(count as usize);
    c.push(Constant::Unused);
    while c.len() < count as usize {
        let tag = r.u8()?;
        let (entry, slots) = match tag {
            1 => {
                let n = r.u16()? as usize;
                (
                    Constant::Utf8(String::from_utf8_lossy(r.take(n)?).into_owned()),
                    1,
                )
            }
            7 => (Constant::Class(r.u16()?), 1),
            3 | 4 | 9 | 10 | 11 | 12 | 17 | 18 => (Constant::Other(tag), r.take(4).map(|_| 1)?),
            5 | 6 => (Constant::Other(tag), r.take(8).map(|_| 2)?),
            8 | 16 | 19 | 20 => (Constant::Other(tag), r.take(2).map(|_| 1)?),
            15 => (Constant::Other(tag), r.take(3).map(|_| 1)?),
            t => {
                return Err(format!(
                    "unknown constant pool tag {t} at entry {}",
                    c.len()
                ));
            }
        };
        c.push(entry);
        if slots == 2 {
            c.push(Constant::Unused);
        }
    }
    Ok(Pool(c))
}

/// Skips `count` attributes, or hands each (name, body) to `f`.
fn attributes<'a>(
    r: &mut Reader<'a>,
    pool: &Pool,
    mut f: impl FnMut(&str, &'a [u8]) -> Result<(), String>,
) -> Result<(), String> {
    for _ in 0..r.u16()? {
        let name = pool.utf8(r.u16()?)?.to_string();
        let len = r.u32()? as usize;
        f(&name, r.take(len)?)?;
    }
    Ok(())
}

/// Length of the instruction at `pc` (whose opcode is `op`), switches and `wide`
/// included; an error for an opcode no class file may hold.
fn insn_len(code: &[u8], pc: usize, op: u8) -> Result<usize, String> {
    let int_at = |at: usize| -> Result<i64, String> {
        code.get(at..at + 4)
            .map(|s| i64::from(i32::from_be_bytes([s[0], s[1], s[2], s[3]])))
            .ok_or_else(|| format!("switch at {pc} runs past the code"))
    };
    Ok(match op {
        0x10 | 0x12 | 0x15..=0x19 | 0x36..=0x3a | 0xa9 | 0xbc => 2,
        0x11
        | 0x13
        | 0x14
        | 0x84
        | 0x99..=0xa8
        | 0xb2..=0xb8
        | 0xbb
        | 0xbd
        | 0xc0
        | 0xc1
        | 0xc6
        | 0xc7 => 3,
        0xc5 => 4,
        0xb9 | 0xba | 0xc8 | 0xc9 => 5,
        0xc4 => match code.get(pc + 1) {
            Some(0x84) => 6,
            Some(_) => 4,
            None => return Err(format!("wide at {pc} runs past the code")),
        },
        0xaa | 0xab => {
            let base = (pc + 4) & !3; // the operands are 4-byte aligned
            let n = if op == 0xaa {
                let (low, high) = (int_at(base + 4)?, int_at(base + 8)?);
                if high < low {
                    return Err(format!("tableswitch at {pc} has high < low"));
                }
                3 + (high - low + 1) as usize
            } else {
                let pairs = int_at(base + 4)?;
                if pairs < 0 {
                    return Err(format!("lookupswitch at {pc} has a negative count"));
                }
                2 + 2 * pairs as usize
            };
            base - pc + 4 * n
        }
        0x00..=0xc9 => 1,
        op => return Err(format!("opcode {op:#x} at {pc} is not a class file's")),
    })
}

/// Whether `code` contains nothing that may make a syscall (the agent's leaf rule).
fn is_leaf(code: &[u8], pool: &Pool) -> Result<bool, String> {
    let mut pc = 0;
    while let Some(&op) = code.get(pc) {
        let linked = match op {
            0x12 => code
                .get(pc + 1)
                .is_some_and(|&i| pool.ldc_links(u16::from(i))),
            0x13 | 0x14 => code
                .get(pc + 1..pc + 3)
                .is_some_and(|s| pool.ldc_links(u16::from_be_bytes([s[0], s[1]]))),
            _ => false,
        };
        // invoke*, monitorenter, allocation, static fields, athrow
        if linked || matches!(op, 0xb2 | 0xb3 | 0xb6..=0xbd | 0xbf | 0xc2 | 0xc5) {
            return Ok(false);
        }
        pc += insn_len(code, pc, op)?;
        if pc > code.len() {
            return Err(format!("the instruction {op:#x} runs past the code"));
        }
    }
    Ok(true)
}

/// A method's `Code` attribute: its first line and whether it is a leaf.
fn code(body: &[u8], pool: &Pool) -> Result<(Option<u32>, bool), String> {
    let mut r = Reader { b: body, pos: 4 };
    let len = r.u32()? as usize;
    let leaf = is_leaf(r.take(len)?, pool)?;
    let handlers = r.u16()? as usize;
    r.take(8 * handlers)?;
    let mut line: Option<u32> = None;
    attributes(&mut r, pool, |name, b| {
        if name == "LineNumberTable" {
            let mut t = Reader { b, pos: 0 };
            for _ in 0..t.u16()? {
                t.u16()?;
                let l = u32::from(t.u16()?);
                line = Some(line.map_or(l, |m| m.min(l)));
            }
        }
        Ok(())
    })?;
    Ok((line, leaf))
}

/// Parses `bytes` as a class file.
pub fn parse(bytes: &[u8]) -> Result<ClassInfo, String> {
    let mut r = Reader { b: bytes, pos: 0 };
    if r.u32()? != 0xCAFE_BABE {
        return Err("not a class file (no 0xCAFEBABE)".into());
    }
    r.take(4)?; // version
    let pool = pool(&mut r)?;
    r.u16()?; // access
    let name = pool.class(r.u16()?)?.to_string();
    r.u16()?; // super
    let interfaces = r.u16()? as usize;
    r.take(2 * interfaces)?;
    for _ in 0..r.u16()? {
        r.take(6)?;
        attributes(&mut r, &pool, |_, _| Ok(()))?;
    }
    let mut methods = Vec::new();
    for _ in 0..r.u16()? {
        let access = r.u16()?;
        let mname = pool.utf8(r.u16()?)?.to_string();
        let descriptor = pool.utf8(r.u16()?)?.to_string();
        let mut found = None;
        attributes(&mut r, &pool, |n, b| {
            if n == "Code" {
                found = Some(code(b, &pool)?);
            }
            Ok(())
        })?;
        if access & (ACC_ABSTRACT | ACC_NATIVE | ACC_BRIDGE) != 0 {
            continue;
        }
        if let Some((line, leaf)) = found {
            methods.push(MethodInfo {
                name: mname,
                descriptor,
                access,
                line,
                leaf: leaf && access & ACC_SYNCHRONIZED == 0,
            });
        }
    }
    let mut source_file = None;
    attributes(&mut r, &pool, |n, b| {
        if n == "SourceFile" && b.len() == 2 {
            source_file = Some(pool.utf8(u16::from_be_bytes([b[0], b[1]]))?.to_string());
        }
        Ok(())
    })?;
    Ok(ClassInfo {
        name,
        source_file,
        methods,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instruction_lengths_cover_switches_and_wide() {
        // tableswitch at 1: pad to 4, default, low 0, high 1, two offsets
        let mut code = vec![0x00, 0xaa, 0, 0];
        for v in [0i32, 0, 1, 0, 0] {
            code.extend_from_slice(&v.to_be_bytes());
        }
        assert_eq!(insn_len(&code, 1, 0xaa), Ok(3 + 20));
        assert_eq!(insn_len(&[0xc4, 0x84, 0, 1, 0, 1], 0, 0xc4), Ok(6));
        assert_eq!(insn_len(&[0xc4, 0x15, 0, 1], 0, 0xc4), Ok(4));
        assert!(insn_len(&[0xaa], 0, 0xaa).is_err());
        assert!(insn_len(&[0xfe], 0, 0xfe).is_err());
    }

    #[test]
    fn damaged_class_files_are_errors_never_panics() {
        assert!(parse(b"").is_err());
        assert!(parse(b"\xca\xfe\xba\xbe\0\0\0\x34\xff\xff\x01").is_err());
        // every truncation of a minimal class: an error, and no panic
        let mut min = b"\xca\xfe\xba\xbe\0\0\0\x34\0\x03\x01\0\x01A\x07\0\x01".to_vec();
        min.extend_from_slice(&[0, 0x21, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        let c = parse(&min).unwrap();
        assert_eq!((c.name.as_str(), c.methods.len()), ("A", 0));
        for n in 0..min.len() {
            assert!(parse(&min[..n]).is_err(), "truncated at {n}");
        }
    }
}
