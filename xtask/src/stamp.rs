//! Stamp files: what a step's result was made from, so that a rerun can skip the step
//! when nothing it depends on changed.
//!
//! A stamp is a hash over named inputs (recipe fields, file contents, the previous step's
//! stamp). It is written after the step succeeded and removed before the step starts,
//! so an interrupted step never looks done.

use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Bumped when the meaning of a step changes, so that old results are not reused.
const STAMP_VERSION: &str = "xtask-stamp-1";

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    /// `(name, value)` in the order added; the order is part of the hash.
    inputs: Vec<(String, String)>,
}

#[derive(Serialize, Deserialize)]
struct OnDisk {
    hash: String,
    inputs: Vec<(String, String)>,
}

impl Stamp {
    pub fn new(step: &str) -> Stamp {
        let mut s = Stamp::default();
        s.add("step", step);
        s
    }

    pub fn add(&mut self, name: &str, value: impl Into<String>) -> &mut Stamp {
        self.inputs.push((name.to_string(), value.into()));
        self
    }

    pub fn add_list(&mut self, name: &str, values: &[String]) -> &mut Stamp {
        let json = serde_json::to_string(values).unwrap_or_default();
        self.add(name, json)
    }

    pub fn add_map<'a>(
        &mut self,
        name: &str,
        map: impl IntoIterator<Item = (&'a String, &'a String)>,
    ) -> &mut Stamp {
        let pairs: Vec<(&String, &String)> = map.into_iter().collect();
        let json = serde_json::to_string(&pairs).unwrap_or_default();
        self.add(name, json)
    }

    /// The SHA-256 of a file's content.
    pub fn add_file(&mut self, name: &str, path: &Path) -> anyhow::Result<&mut Stamp> {
        let hash = file_sha256(path)?;
        Ok(self.add(name, hash))
    }

    /// The SHA-256 of every file under `dir` (relative path and content, in order), so a
    /// change to any of them changes the stamp.
    pub fn add_tree(&mut self, name: &str, dir: &Path) -> anyhow::Result<&mut Stamp> {
        fn walk(dir: &Path, base: &Path, out: &mut Vec<(String, String)>) -> anyhow::Result<()> {
            let mut entries: Vec<_> = std::fs::read_dir(dir)
                .with_context(|| format!("cannot read {}", dir.display()))?
                .filter_map(Result::ok)
                .collect();
            entries.sort_by_key(|e| e.file_name());
            for e in entries {
                let p = e.path();
                if p.is_dir() {
                    walk(&p, base, out)?;
                } else {
                    let rel = p.strip_prefix(base).unwrap_or(&p).display().to_string();
                    out.push((rel, file_sha256(&p)?));
                }
            }
            Ok(())
        }
        let mut files = Vec::new();
        walk(dir, dir, &mut files)?;
        let json = serde_json::to_string(&files).unwrap_or_default();
        Ok(self.add(name, json))
    }

    /// Hex SHA-256 over the version and every input, unambiguously framed.
    pub fn hash(&self) -> String {
        let mut h = Sha256::new();
        h.update(STAMP_VERSION.as_bytes());
        for (k, v) in &self.inputs {
            for part in [k, v] {
                h.update((part.len() as u64).to_le_bytes());
                h.update(part.as_bytes());
            }
        }
        hex(&h.finalize())
    }

    /// Whether `path` holds a stamp with this hash.
    pub fn matches(&self, path: &Path) -> bool {
        let Ok(text) = std::fs::read_to_string(path) else {
            return false;
        };
        serde_json::from_str::<OnDisk>(&text).is_ok_and(|d| d.hash == self.hash())
    }

    pub fn write(&self, path: &Path) -> anyhow::Result<()> {
        let disk = OnDisk {
            hash: self.hash(),
            inputs: self.inputs.clone(),
        };
        let mut text = serde_json::to_string_pretty(&disk).context("cannot encode a stamp")?;
        text.push('\n');
        write_atomic(path, text.as_bytes())
    }
}

/// Removes a stamp before its step runs again (a missing stamp is fine).
pub fn clear(path: &Path) -> anyhow::Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("cannot remove the stamp {}", path.display())),
    }
}

pub fn file_sha256(path: &Path) -> anyhow::Result<String> {
    let mut f = std::fs::File::open(path)
        .with_context(|| format!("cannot read {} to hash it", path.display()))?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(hex(&h.finalize()))
}

pub fn bytes_sha256(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Writes through a temporary file and a rename, so readers never see half a file.
pub fn write_atomic(path: &Path, data: &[u8]) -> anyhow::Result<()> {
    let tmp = path.with_extension(match path.extension() {
        Some(e) => format!("{}.tmp", e.to_string_lossy()),
        None => "tmp".to_string(),
    });
    std::fs::write(&tmp, data).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path)
        .with_context(|| format!("cannot move {} to {}", tmp.display(), path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamp_matches_only_the_same_inputs() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("build.stamp");
        let mut a = Stamp::new("build");
        a.add("steps", "make")
            .add_list("outputs", &["src/x".to_string()]);
        assert!(!a.matches(&path), "no file yet");
        a.write(&path).unwrap();
        assert!(a.matches(&path));

        let mut same = Stamp::new("build");
        same.add("steps", "make")
            .add_list("outputs", &["src/x".to_string()]);
        assert!(same.matches(&path));

        let mut other = Stamp::new("build");
        other
            .add("steps", "make -j2")
            .add_list("outputs", &["src/x".to_string()]);
        assert!(!other.matches(&path));

        // framing: moving a boundary between name and value changes the hash
        let mut x = Stamp::new("s");
        x.add("ab", "c");
        let mut y = Stamp::new("s");
        y.add("a", "bc");
        assert_ne!(x.hash(), y.hash());

        clear(&path).unwrap();
        assert!(!a.matches(&path));
        clear(&path).unwrap();
        std::fs::write(&path, "not json").unwrap();
        assert!(!a.matches(&path));
    }

    #[test]
    fn file_contents_and_chains_invalidate() {
        let tmp = tempfile::tempdir().unwrap();
        let patch = tmp.path().join("bug.patch");
        std::fs::write(&patch, "one").unwrap();
        let fetch = |p: &Path| {
            let mut s = Stamp::new("fetch");
            s.add_file("patch", p).unwrap();
            s
        };
        let build = |prev: &Stamp| {
            let mut s = Stamp::new("build");
            s.add("after", prev.hash());
            s
        };
        let f1 = fetch(&patch);
        let b1 = build(&f1);
        std::fs::write(&patch, "two").unwrap();
        let f2 = fetch(&patch);
        assert_ne!(f1.hash(), f2.hash());
        assert_ne!(
            b1.hash(),
            build(&f2).hash(),
            "a later step follows the earlier one"
        );
        let mut s = Stamp::new("x");
        assert!(s.add_file("f", &tmp.path().join("absent")).is_err());
        assert_eq!(
            bytes_sha256(b"two"),
            file_sha256(&patch).unwrap(),
            "file and byte hashes agree"
        );
    }
}
