//! Symbol names: compiler clone suffixes and demangling (Rust legacy and v0, C++).

/// Suffix words that compilers append to a symbol with `.`: gcc's IPA clones
/// (`.constprop.N`, `.isra.N`, `.part.N`), LTO privatised statics (`.lto_priv.N`), split
/// cold parts (`.cold`, `.cold.N`), local aliases, and LLVM's `.llvm.N` for promoted
/// internal symbols (Rust with ThinLTO).
const SUFFIX_WORDS: &[&str] = &[
    "constprop",
    "isra",
    "part",
    "lto_priv",
    "cold",
    "llvm",
    "localalias",
    "clone",
];

/// A raw symbol name split into the name it came from and what the compiler appended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Suffixes<'a> {
    /// The name without compiler suffixes (still mangled).
    pub base: &'a str,
    /// A `.cold` part split off a function: not a function entry.
    pub cold: bool,
}

/// Strips compiler suffixes from the end of `raw`, keeping anything that is not one.
///
/// Works from the end because Rust legacy mangling itself contains dots (`..` for `::`
/// inside `$LT$...$GT$`), so the first dot does not start a suffix.
pub(crate) fn split_suffixes(raw: &str) -> Suffixes<'_> {
    let mut base = raw;
    let mut cold = false;
    loop {
        let mut candidate = base;
        if let Some(pos) = candidate.rfind('.') {
            let tail = &candidate[pos + 1..];
            if !tail.is_empty() && tail.bytes().all(|b| b.is_ascii_digit()) {
                candidate = &candidate[..pos];
            }
        }
        let Some(pos) = candidate.rfind('.') else {
            break;
        };
        let word = &candidate[pos + 1..];
        if pos == 0 || !SUFFIX_WORDS.contains(&word) {
            break;
        }
        cold |= word == "cold";
        base = &candidate[..pos];
    }
    Suffixes { base, cold }
}

/// The readable name of a symbol: suffixes stripped, then demangled (Rust without the
/// hash, C++ with its parameter list as `c++filt` prints it). Unmangled names come back
/// unchanged.
pub(crate) fn display_name(base: &str) -> String {
    if is_rust(base)
        && let Ok(demangled) = rustc_demangle::try_demangle(base)
    {
        // `{:#}` leaves out the legacy hash and v0 crate disambiguators.
        return format!("{demangled:#}");
    }
    if base.starts_with("_Z")
        && let Ok(symbol) = cpp_demangle::Symbol::new(base)
        && let Ok(demangled) = symbol.demangle()
    {
        return demangled;
    }
    base.to_owned()
}

/// Rust v0 symbols start with `_R`; Rust legacy symbols look like C++ nested names but
/// end with a `17h<16 hex digits>E` hash segment, which C++ never produces.
fn is_rust(base: &str) -> bool {
    if base.starts_with("_R") {
        return true;
    }
    // "17h" and 16 hex digits, then the closing 'E'.
    if !base.starts_with("_ZN") || !base.ends_with('E') || base.len() < 3 + 19 + 1 {
        return false;
    }
    let hash = &base.as_bytes()[base.len() - 20..base.len() - 1];
    hash.starts_with(b"17h") && hash[3..].iter().all(u8::is_ascii_hexdigit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixes_are_stripped_from_the_end_only() {
        let cases = [
            ("scale.constprop.0", "scale", false),
            ("f.isra.0.cold", "f", true),
            ("f.cold", "f", true),
            ("f.part.0", "f", false),
            ("g.lto_priv.3", "g", false),
            ("h.localalias", "h", false),
            ("plain", "plain", false),
            ("version.1.2", "version.1.2", false),
            (
                "_ZN4core3ptr13drop_in_place$LT$std..rt..X$GT$17h0123456789abcdefE.llvm.42",
                "_ZN4core3ptr13drop_in_place$LT$std..rt..X$GT$17h0123456789abcdefE",
                false,
            ),
            (".cold", ".cold", false),
        ];
        for (raw, base, cold) in cases {
            assert_eq!(split_suffixes(raw), Suffixes { base, cold }, "{raw}");
        }
    }

    #[test]
    fn demangles_rust_and_cpp() {
        assert_eq!(
            display_name("_ZN3app5inner4work17h0123456789abcdefE"),
            "app::inner::work"
        );
        assert_eq!(display_name("_ZN2ns3fooEi"), "ns::foo(int)");
        assert_eq!(display_name("_Z3bari"), "bar(int)");
        assert_eq!(display_name("main"), "main");
        // A broken mangled name is kept rather than dropped.
        assert_eq!(display_name("_ZN3app"), "_ZN3app");
    }
}
