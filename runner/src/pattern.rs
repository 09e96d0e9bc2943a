//! Shell-style name patterns for `--include` and `--exclude`: `*` (any run of
//! characters, `::` included), `?` (one character), `[abc]`, `[a-z]`, `[!x]`.
//! Function names are matched whole; no regex engine is needed for this.

use std::fmt;

/// A compiled glob.
#[derive(Clone, PartialEq, Eq)]
pub struct Glob {
    source: String,
    tokens: Vec<Token>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    Char(char),
    Any,
    AnyRun,
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

/// Why a pattern did not compile.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("bad pattern {pattern:?}: {reason}")]
pub struct PatternError {
    pub pattern: String,
    pub reason: &'static str,
}

impl Glob {
    pub fn new(pattern: &str) -> Result<Glob, PatternError> {
        let err = |reason| PatternError {
            pattern: pattern.to_string(),
            reason,
        };
        let mut tokens = Vec::new();
        let mut chars = pattern.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '*' => {
                    // `**` means the same as `*`; keep one so matching stays linear.
                    if tokens.last() != Some(&Token::AnyRun) {
                        tokens.push(Token::AnyRun);
                    }
                }
                '?' => tokens.push(Token::Any),
                '[' => {
                    let negated = chars.next_if(|&c| c == '!' || c == '^').is_some();
                    let mut ranges = Vec::new();
                    let mut first = true;
                    loop {
                        let Some(lo) = chars.next() else {
                            return Err(err("unclosed ["));
                        };
                        if lo == ']' && !first {
                            break;
                        }
                        first = false;
                        let hi = if chars.peek() == Some(&'-') {
                            chars.next();
                            match chars.next() {
                                Some(']') => {
                                    // `[a-]`: a literal dash at the end.
                                    ranges.push((lo, lo));
                                    ranges.push(('-', '-'));
                                    break;
                                }
                                Some(hi) => hi,
                                None => return Err(err("unclosed [")),
                            }
                        } else {
                            lo
                        };
                        if hi < lo {
                            return Err(err("reversed range in [...]"));
                        }
                        ranges.push((lo, hi));
                    }
                    tokens.push(Token::Class { negated, ranges });
                }
                '\\' => tokens.push(Token::Char(chars.next().unwrap_or('\\'))),
                c => tokens.push(Token::Char(c)),
            }
        }
        Ok(Glob {
            source: pattern.to_string(),
            tokens,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether the whole of `name` matches.
    pub fn matches(&self, name: &str) -> bool {
        let text: Vec<char> = name.chars().collect();
        // Classic greedy glob matching with one backtrack point (the last `*`): linear
        // in practice, worst case O(n·m), never exponential.
        let (mut t, mut p) = (0usize, 0usize);
        let mut star: Option<(usize, usize)> = None;
        while t < text.len() {
            match self.tokens.get(p) {
                Some(Token::AnyRun) => {
                    star = Some((p, t));
                    p += 1;
                }
                Some(tok) if tok.matches_one(text[t]) => {
                    p += 1;
                    t += 1;
                }
                _ => match star {
                    Some((sp, st)) => {
                        p = sp + 1;
                        t = st + 1;
                        star = Some((sp, st + 1));
                    }
                    None => return false,
                },
            }
        }
        self.tokens[p..].iter().all(|t| *t == Token::AnyRun)
    }
}

impl Token {
    fn matches_one(&self, c: char) -> bool {
        match self {
            Token::Char(x) => *x == c,
            Token::Any => true,
            Token::AnyRun => false,
            Token::Class { negated, ranges } => {
                ranges.iter().any(|&(lo, hi)| (lo..=hi).contains(&c)) != *negated
            }
        }
    }
}

impl fmt::Debug for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Glob({:?})", self.source)
    }
}

impl std::str::FromStr for Glob {
    type Err = PatternError;
    fn from_str(s: &str) -> Result<Glob, PatternError> {
        Glob::new(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(pattern: &str, yes: &[&str], no: &[&str]) {
        let g = Glob::new(pattern).unwrap();
        for name in yes {
            assert!(g.matches(name), "{pattern} should match {name}");
        }
        for name in no {
            assert!(!g.matches(name), "{pattern} should not match {name}");
        }
    }

    #[test]
    fn globs() {
        check("kv_*", &["kv_get", "kv_", "kv_set"], &["xkv_get", "kv"]);
        check("*_loop", &["event_loop", "_loop"], &["event_loop2"]);
        check("f?", &["f0", "f9"], &["f", "f10"]);
        check("f[0-4]*", &["f0", "f42"], &["f5", "g0"]);
        check("f[!0-4]", &["f5"], &["f0", "f55"]);
        check("*", &["", "anything::at::all"], &[]);
        check("a*b*c", &["abc", "aXbYc", "abbbc", "acbc"], &["ab", "acb"]);
        check(
            "std::*::fmt",
            &["std::io::fmt", "std::a::b::fmt"],
            &["std::fmt"],
        );
        check("\\*x", &["*x"], &["ax"]);
        check("[a-]", &["a", "-"], &["b"]);
        check("[]]", &["]"], &["a"]);
    }

    #[test]
    fn bad_patterns() {
        assert!(Glob::new("f[0-").is_err());
        assert!(Glob::new("f[z-a]").is_err());
        assert!(Glob::new("[abc").is_err());
    }

    #[test]
    fn many_stars_stay_fast() {
        let g = Glob::new("*a*a*a*a*a*a*a*b").unwrap();
        let text = "a".repeat(5_000);
        assert!(!g.matches(&text));
    }
}
