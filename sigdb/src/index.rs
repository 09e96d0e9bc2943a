//! The index of a folder of published databases (`index.json` beside the `.sigdb` files
//! that `cargo xtask train` publishes): what each file is, where its source came from,
//! its build-ids, size and training coverage, when it was published. An on-disk format
//! like the database itself: version 1, JSON, entries sorted by file name.

use serde::{Deserialize, Serialize};

/// Version of the index format.
pub const INDEX_VERSION: u32 = 1;
/// Its file name in a publish folder.
pub const INDEX_FILE: &str = "index.json";

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Index {
    pub version: u32,
    /// Sorted by file name.
    pub databases: Vec<Entry>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub file: String,
    pub target: String,
    pub version: String,
    /// `debian:APT_SOURCE` (the recipe's source package), `maven:COORDINATES` or
    /// `local:DIR` (`--source`); absent in entries published before it was recorded (all
    /// Debian).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The Debian source version, for a Debian source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub debian_version: Option<String>,
    /// `HEAD` of a local git checkout, `-dirty` when it had uncommitted changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// `full` or `quick`: which test command was traced.
    pub suite: String,
    pub test_command: String,
    /// Records in the database.
    pub functions: u64,
    pub coverage: Coverage,
    pub objects: Vec<Object>,
    pub sha256: String,
    pub bytes: u64,
    /// UTC, when this content was first published.
    pub published: String,
}

/// The training's coverage, as the database header says it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Coverage {
    pub functions_probed: u64,
    pub functions_hit: u64,
    pub functions_with_signatures: u64,
}

/// A traced object: an ELF file or a jar.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Object {
    /// Relative to the tree when it is inside it.
    pub path: String,
    pub build_id: Option<String>,
}

impl Index {
    /// An empty index of the current version.
    pub fn new() -> Index {
        Index {
            version: INDEX_VERSION,
            databases: Vec::new(),
        }
    }

    /// Reads an index; a newer version is an error, not a guess.
    pub fn parse(text: &str) -> Result<Index, IndexError> {
        #[derive(Deserialize)]
        struct Version {
            version: u32,
        }
        let v: Version = serde_json::from_str(text).map_err(IndexError::Json)?;
        if v.version > INDEX_VERSION {
            return Err(IndexError::Newer(v.version));
        }
        serde_json::from_str(text).map_err(IndexError::Json)
    }

    /// The index as written: current version, entries sorted by file name, pretty JSON
    /// with a final newline.
    pub fn encode(&mut self) -> String {
        self.version = INDEX_VERSION;
        self.databases.sort_by(|a, b| a.file.cmp(&b.file));
        let mut text =
            serde_json::to_string_pretty(self).expect("plain structs always encode as JSON");
        text.push('\n');
        text
    }
}

impl From<&crate::Coverage> for Coverage {
    fn from(c: &crate::Coverage) -> Coverage {
        Coverage {
            functions_probed: c.functions_probed,
            functions_hit: c.functions_hit,
            functions_with_signatures: c.functions_with_signatures,
        }
    }
}

impl Coverage {
    /// `functions probed 769, hit by the suite 312 (40.6 %), with signatures 97 (12.6 %)`.
    pub fn describe(&self) -> String {
        let pct = |n: u64| {
            if self.functions_probed == 0 {
                0.0
            } else {
                100.0 * n as f64 / self.functions_probed as f64
            }
        };
        format!(
            "functions probed {}, hit by the suite {} ({:.1} %), with signatures {} ({:.1} %)",
            self.functions_probed,
            self.functions_hit,
            pct(self.functions_hit),
            self.functions_with_signatures,
            pct(self.functions_with_signatures)
        )
    }
}

/// Why an index could not be read.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("not a sigdb index: {0}")]
    Json(serde_json::Error),
    #[error("index version {0} is newer than this program reads ({INDEX_VERSION}): update it")]
    Newer(u32),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(file: &str) -> Entry {
        Entry {
            file: file.into(),
            target: "t".into(),
            version: "1".into(),
            source: None,
            debian_version: None,
            commit: None,
            suite: "quick".into(),
            test_command: "make check".into(),
            functions: 3,
            coverage: Coverage::default(),
            objects: vec![Object {
                path: "bin/t".into(),
                build_id: Some("ab".into()),
            }],
            sha256: "00".into(),
            bytes: 10,
            published: "2026-12-07T00:00:00Z".into(),
        }
    }

    #[test]
    fn encodes_sorted_and_reads_back() {
        let mut ix = Index::new();
        ix.databases = vec![entry("b.sigdb"), entry("a.sigdb")];
        let text = ix.encode();
        assert!(text.ends_with('\n'));
        let back = Index::parse(&text).unwrap();
        assert_eq!(back.databases[0].file, "a.sigdb");
        assert_eq!(back, ix);
        // optional fields stay out of the file when absent
        assert!(!text.contains("debian_version"));
    }

    #[test]
    fn a_newer_index_is_refused_and_garbage_is_an_error() {
        let e = Index::parse(r#"{"version": 9, "databases": []}"#).unwrap_err();
        assert!(e.to_string().contains("newer"), "{e}");
        assert!(matches!(Index::parse("{"), Err(IndexError::Json(_))));
        assert!(matches!(
            Index::parse(r#"{"version": 1}"#),
            Err(IndexError::Json(_))
        ));
    }

    #[test]
    fn coverage_lines() {
        let c = Coverage {
            functions_probed: 200,
            functions_hit: 50,
            functions_with_signatures: 10,
        };
        assert_eq!(
            c.describe(),
            "functions probed 200, hit by the suite 50 (25.0 %), with signatures 10 (5.0 %)"
        );
    }
}
