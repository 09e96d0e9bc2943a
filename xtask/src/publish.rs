//! Publishing trained databases: `sigdb/NAME-VERSION.sigdb` (full suite) or
//! `NAME-VERSION.quick.sigdb` (quick subset) beside an `index.json` that says what each
//! file is: target, version, where its source came from (the Debian source package or a
//! local checkout, `--source`), build-ids, size and coverage of the training, when.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::recipe::{Recipe, Suite};
use crate::stamp;
use crate::tree::Checkout;

pub use sigdb::index::{Coverage, Entry, INDEX_FILE, Index, Object};

/// What a database was trained from, as the index records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Provenance {
    /// The version it is published under (in its file name, header and index entry).
    pub version: String,
    /// See [`Entry::source`].
    pub source: String,
    pub debian_version: Option<String>,
    pub commit: Option<String>,
}

impl Provenance {
    /// The recipe's own source (a Debian source package, or Maven Central), at the
    /// recipe's version.
    pub fn debian(recipe: &Recipe) -> Provenance {
        Provenance {
            version: recipe.version.clone(),
            source: recipe.origin(),
            debian_version: recipe.debian_version.clone(),
            commit: None,
        }
    }

    /// A local checkout (`--source`), published as `version`.
    pub fn local(checkout: &Checkout, version: &str) -> Provenance {
        Provenance {
            version: version.to_string(),
            source: checkout.source(),
            debian_version: None,
            commit: checkout.commit.clone(),
        }
    }
}

/// The published file name of a target's database (at the recipe's version).
pub fn file_name(recipe: &Recipe, suite: Suite) -> String {
    versioned_file_name(&recipe.name, &recipe.version, suite)
}

/// `NAME-VERSION.sigdb` or `NAME-VERSION.quick.sigdb`.
pub fn versioned_file_name(name: &str, version: &str, suite: Suite) -> String {
    match suite {
        Suite::Full => format!("{name}-{version}.sigdb"),
        Suite::Quick => format!("{name}-{version}.quick.sigdb"),
    }
}

/// Copies `db` into `dir` under its published name and records it in the index.
/// Publishing the same bytes again changes nothing (not even the date).
pub fn publish(
    db: &Path,
    recipe: &Recipe,
    suite: Suite,
    from: &Provenance,
    tree: &Path,
    dir: &Path,
) -> anyhow::Result<(PathBuf, Entry)> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let data = std::fs::read(db).with_context(|| format!("cannot read {}", db.display()))?;
    let parsed = sigdb::read(db)
        .with_context(|| format!("the trained database {} does not read back", db.display()))?;
    let name = versioned_file_name(&recipe.name, &from.version, suite);
    let dest = dir.join(&name);
    let sha = stamp::bytes_sha256(&data);
    if std::fs::read(&dest).ok().as_deref() != Some(&data[..]) {
        stamp::write_atomic(&dest, &data)?;
    }
    let index_path = dir.join(INDEX_FILE);
    let mut index = read_index(&index_path)?;
    let published = index
        .databases
        .iter()
        .find(|e| e.file == name && e.sha256 == sha)
        .map(|e| e.published.clone())
        .unwrap_or_else(utc_now);
    let h = &parsed.header;
    let entry = Entry {
        file: name.clone(),
        target: recipe.name.clone(),
        version: from.version.clone(),
        source: Some(from.source.clone()),
        debian_version: from.debian_version.clone(),
        commit: from.commit.clone(),
        suite: suite.as_str().to_string(),
        test_command: recipe.test_command(suite).to_string(),
        functions: h.records,
        coverage: Coverage::from(&h.coverage),
        objects: h
            .target
            .objects
            .iter()
            .map(|o| Object {
                path: Path::new(&o.path)
                    .strip_prefix(tree)
                    .map_or_else(|_| o.path.clone(), |p| p.display().to_string()),
                build_id: o.build_id.clone(),
            })
            .collect(),
        sha256: sha,
        bytes: data.len() as u64,
        published,
    };
    index.databases.retain(|e| e.file != name);
    index.databases.push(entry.clone());
    write_index(&index_path, &mut index)?;
    Ok((dest, entry))
}

pub fn read_index(path: &Path) -> anyhow::Result<Index> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            Index::parse(&text).with_context(|| format!("{}: fix or delete it", path.display()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Index::new()),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

fn write_index(path: &Path, index: &mut Index) -> anyhow::Result<()> {
    let text = index.encode();
    if std::fs::read_to_string(path).ok().as_deref() == Some(text.as_str()) {
        return Ok(());
    }
    stamp::write_atomic(path, text.as_bytes())
}

/// Now, as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    utc(secs)
}

/// Seconds since the epoch as an RFC 3339 UTC time (proleptic Gregorian calendar).
pub fn utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's days-to-civil
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(utc(4_102_444_799), "2099-12-31T23:59:59Z");
    }

    fn tiny_db(path: &Path, tree: &Path, probed: u64) {
        let header = sigdb::Header {
            format: String::new(),
            version: 0,
            target: sigdb::Target {
                name: "lighttpd".into(),
                version: "1.4.69".into(),
                objects: vec![sigdb::ObjectRef {
                    path: tree.join("src/lighttpd").display().to_string(),
                    build_id: Some("abcd".into()),
                }],
            },
            training: sigdb::Training {
                tool: "test".into(),
                params: sigdb::Params {
                    callers: 0,
                    max_episode_len: 4,
                    expiry_ns: None,
                    min_support: 1.0,
                    min_invocations: 1,
                    max_episodes: 8,
                    app_classes: vec![sigdb::Class::App],
                    min_coverage: 0.5,
                    selection: "closed".into(),
                    outside_gap_ns: 0,
                    max_candidates: 10,
                    min_evidence: sigdb::DEFAULT_MIN_EVIDENCE,
                },
                traces: vec![],
            },
            coverage: sigdb::Coverage {
                functions_probed: probed,
                functions_hit: 3,
                functions_with_signatures: 1,
                ..Default::default()
            },
            records: 0,
            checksum: String::new(),
        };
        sigdb::write(&sigdb::Sigdb::new(header, vec![]), path).unwrap();
    }

    /// Where a test's source tree, trained database and published folder are.
    struct Paths {
        tree: PathBuf,
        db: PathBuf,
        out: PathBuf,
    }

    /// A scratch folder (kept alive by the returned guard), the lighttpd recipe, and a
    /// 10-function database trained "from" the scratch tree.
    fn lighttpd() -> (tempfile::TempDir, Recipe, Paths) {
        let recipe = Recipe::find(
            &PathBuf::from(env!("CARGO_WORKSPACE_DIR")).join("targets"),
            "lighttpd",
        )
        .unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let p = Paths {
            tree: tmp.path().join("tree"),
            db: tmp.path().join("trained.sigdb"),
            out: tmp.path().join("published"),
        };
        tiny_db(&p.db, &p.tree, 10);
        (tmp, recipe, p)
    }

    #[test]
    fn publishing_updates_the_index_once() {
        let (_tmp, recipe, Paths { tree, db, out }) = lighttpd();
        let deb = Provenance::debian(&recipe);
        let (dest, e) = publish(&db, &recipe, Suite::Quick, &deb, &tree, &out).unwrap();
        assert_eq!(dest, out.join("lighttpd-1.4.69.quick.sigdb"));
        assert_eq!(e.objects[0].path, "src/lighttpd");
        assert_eq!(e.coverage.functions_probed, 10);
        assert_eq!(e.suite, "quick");
        assert_eq!(e.source.as_deref(), Some("debian:lighttpd=1.4.69-1"));
        assert_eq!(e.debian_version.as_deref(), Some("1.4.69-1"));
        let first = std::fs::read_to_string(out.join(INDEX_FILE)).unwrap();

        // the same bytes again: the index does not change, not even its date
        let (_, again) = publish(&db, &recipe, Suite::Quick, &deb, &tree, &out).unwrap();
        assert_eq!(again, e);
        assert_eq!(
            std::fs::read_to_string(out.join(INDEX_FILE)).unwrap(),
            first
        );

        // a full training sits beside it; a retrained quick one replaces its entry
        publish(&db, &recipe, Suite::Full, &deb, &tree, &out).unwrap();
        tiny_db(&db, &tree, 11);
        publish(&db, &recipe, Suite::Quick, &deb, &tree, &out).unwrap();
        let index = read_index(&out.join(INDEX_FILE)).unwrap();
        let files: Vec<&str> = index.databases.iter().map(|e| e.file.as_str()).collect();
        assert_eq!(
            files,
            ["lighttpd-1.4.69.quick.sigdb", "lighttpd-1.4.69.sigdb"]
        );
        assert_eq!(index.databases[0].coverage.functions_probed, 11);
        assert_eq!(index.databases[1].coverage.functions_probed, 10);
    }

    #[test]
    fn a_local_checkout_is_published_under_its_version_and_says_where_it_came_from() {
        let (_tmp, recipe, Paths { tree, db, out }) = lighttpd();
        let from = Provenance {
            version: "1.4.69+pr123".into(),
            source: "local:/ci/server".into(),
            debian_version: None,
            commit: Some("0123abcd-dirty".into()),
        };
        let (dest, e) = publish(&db, &recipe, Suite::Quick, &from, &tree, &out).unwrap();
        assert_eq!(dest, out.join("lighttpd-1.4.69+pr123.quick.sigdb"));
        assert_eq!(e.version, "1.4.69+pr123");
        let text = std::fs::read_to_string(out.join(INDEX_FILE)).unwrap();
        assert!(text.contains(r#""source": "local:/ci/server""#), "{text}");
        assert!(text.contains(r#""commit": "0123abcd-dirty""#), "{text}");
        assert!(!text.contains("debian_version"), "{text}");

        // an index written before sources were recorded still reads
        let old = text
            .replace(r#""source": "local:/ci/server","#, "")
            .replace(
                r#""commit": "0123abcd-dirty","#,
                r#""debian_version": "1.4.69-1","#,
            );
        std::fs::write(out.join(INDEX_FILE), old).unwrap();
        let index = read_index(&out.join(INDEX_FILE)).unwrap();
        assert_eq!(index.databases[0].source, None);
        assert_eq!(
            index.databases[0].debian_version.as_deref(),
            Some("1.4.69-1")
        );
    }
}
