//! Target recipes (`targets/NAME.toml`, schema 1 or 2): how to fetch, build, probe and test
//! one real server. The schema is documented field by field in `targets/README.md`.
//! Schema 2 adds servers fetched by Maven (`fetch.maven`, no `debian_version`) and JVM
//! application code to probe (`probe.jvm`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, bail};
use serde::Deserialize;

/// The newest recipe format version this xtask reads (it reads 1 too).
pub const SCHEMA: u32 = 2;

/// The environment every build and root step starts from (plus `build.env`); nothing is
/// inherited from the caller, so a build does not depend on who runs it.
pub const BASE_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    pub schema: u32,
    pub name: String,
    pub version: String,
    /// The Debian source version (with `fetch.apt_source`).
    #[serde(default)]
    pub debian_version: Option<String>,
    pub fetch: Fetch,
    pub deps: Deps,
    pub build: Build,
    pub probe: Probe,
    pub test: Test,
    /// The folder the recipe was read from (`targets/`): its `NAME/` holds the recipe's
    /// files (a POM, scripts), given to fetch steps as `RECIPE_DIR`.
    #[serde(skip)]
    pub dir: PathBuf,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Fetch {
    /// `apt-get source` argument (a Debian source package).
    #[serde(default)]
    pub apt_source: Option<String>,
    /// A Maven project in `targets/` whose goals lay out the tree (schema 2).
    #[serde(default)]
    pub maven: Option<Maven>,
    #[serde(default)]
    pub unpack: Vec<String>,
    pub tree: String,
}

/// How Maven fetches a server: `mvn -B -q GOALS` per entry of `goals`, in a download
/// folder holding a copy of `pom`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Maven {
    /// Relative to `targets/`.
    pub pom: String,
    pub goals: Vec<String>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Deps {
    pub apt: Vec<String>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Build {
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    pub steps: Vec<String>,
    #[serde(default)]
    pub outputs: Vec<String>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Probe {
    #[serde(default)]
    pub binaries: Vec<String>,
    #[serde(default)]
    pub modules: Vec<String>,
    #[serde(default)]
    pub app_roots: Vec<String>,
    #[serde(default)]
    pub library_roots: Vec<String>,
    /// JVM application code (schema 2): the perfscope agent instruments it.
    #[serde(default)]
    pub jvm: Option<JvmProbe>,
}

/// Which JVM classes are the application's: package prefixes and/or jars in the tree.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct JvmProbe {
    #[serde(default)]
    pub packages: Vec<String>,
    #[serde(default)]
    pub jars: Vec<String>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Test {
    pub user: String,
    #[serde(default)]
    pub setup: Vec<String>,
    #[serde(default)]
    pub prepare: Vec<String>,
    /// Root steps run in a bug case's tree after its build (`cargo xtask eval`): what the
    /// case scripts use of the suite's environment (a client library, say).
    #[serde(default)]
    pub case_setup: Vec<String>,
    #[serde(default = "dot")]
    pub cwd: String,
    pub command: String,
    pub quick: String,
    pub timeout_seconds: u64,
    pub quick_timeout_seconds: u64,
    pub env: BTreeMap<String, String>,
}

fn dot() -> String {
    ".".to_string()
}

/// Which test command a training captures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Suite {
    Full,
    Quick,
}

impl Suite {
    pub fn as_str(self) -> &'static str {
        match self {
            Suite::Full => "full",
            Suite::Quick => "quick",
        }
    }
}

impl Recipe {
    /// Reads and validates `path`; the file stem must be the recipe's name.
    pub fn load(path: &Path) -> anyhow::Result<Recipe> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the recipe {}", path.display()))?;
        let recipe: Recipe = toml::from_str(&text).with_context(|| {
            format!(
                "{} is not a valid recipe (see targets/README.md)",
                path.display()
            )
        })?;
        let mut recipe = recipe;
        recipe.dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
        let mut problems = recipe.problems();
        if stem != recipe.name {
            problems.push(format!(
                "name {:?} differs from the file name {stem:?}: name the file NAME.toml",
                recipe.name
            ));
        }
        if !problems.is_empty() {
            let mut msg = format!("{}: {} problem(s):", path.display(), problems.len());
            for p in &problems {
                let _ = write!(msg, "\n  - {p}");
            }
            bail!(msg);
        }
        Ok(recipe)
    }

    /// The recipe of target `name` in the recipes folder `dir`.
    pub fn find(dir: &Path, name: &str) -> anyhow::Result<Recipe> {
        if !valid_name(name) {
            bail!("{name:?} is not a target name (a Debian source package name)");
        }
        let path = dir.join(format!("{name}.toml"));
        if !path.is_file() {
            let known = known_targets(dir).join(", ");
            bail!(
                "no recipe for target {name:?}: {} does not exist (known: {known})",
                path.display()
            );
        }
        Recipe::load(&path)
    }

    /// Everything wrong with the recipe, as sentences; empty when it is usable.
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if !(1..=SCHEMA).contains(&self.schema) {
            p.push(format!(
                "schema {} is not supported: this xtask reads schemas 1 to {SCHEMA}",
                self.schema
            ));
        }
        if self.schema < 2 && (self.fetch.maven.is_some() || self.probe.jvm.is_some()) {
            p.push("fetch.maven and probe.jvm need schema = 2".into());
        }
        if !valid_name(&self.name) {
            p.push(format!(
                "name {:?} is not a Debian source package name",
                self.name
            ));
        }
        let word = |p: &mut Vec<String>, field: &str, v: &str| {
            if v.trim().is_empty() || v.contains(char::is_whitespace) {
                p.push(format!("{field} {v:?} must be one non-empty word"));
            }
        };
        word(&mut p, "version", &self.version);
        match (&self.fetch.apt_source, &self.fetch.maven) {
            (Some(src), None) => {
                if src.is_empty() || src.contains(char::is_whitespace) {
                    p.push(format!(
                        "fetch.apt_source {src:?} must be one argument of apt-get source, e.g. \
                         PKG=VERSION"
                    ));
                }
                match &self.debian_version {
                    Some(v) => word(&mut p, "debian_version", v),
                    None => p.push("debian_version is missing (fetch.apt_source needs it)".into()),
                }
            }
            (None, Some(m)) => {
                relative(&mut p, "fetch.maven.pom", &m.pom, false);
                if m.goals.is_empty() || m.goals.iter().any(|g| g.trim().is_empty()) {
                    p.push("fetch.maven.goals must list one or more mvn goal lines".into());
                }
            }
            _ => p.push("fetch needs exactly one of apt_source and maven".into()),
        }
        relative(&mut p, "fetch.tree", &self.fetch.tree, false);
        steps(&mut p, "fetch.unpack", &self.fetch.unpack, true);
        if self.deps.apt.is_empty() {
            p.push("deps.apt is empty: list at least dpkg-dev (apt-get source) or maven".into());
        }
        for pkg in &self.deps.apt {
            if !valid_name(pkg) {
                p.push(format!("deps.apt: {pkg:?} is not a Debian package name"));
            }
        }
        env_names(&mut p, "build.env", &self.build.env);
        steps(&mut p, "build.steps", &self.build.steps, false);
        for o in &self.build.outputs {
            relative(&mut p, "build.outputs", o, false);
        }
        let jvm = self
            .probe
            .jvm
            .as_ref()
            .is_some_and(|j| !j.packages.is_empty() || !j.jars.is_empty());
        if self.probe.binaries.is_empty() && !jvm {
            p.push(
                "probe.binaries is empty: name the server executable (or its JVM code in \
                 probe.jvm)"
                    .into(),
            );
        }
        if let Some(j) = &self.probe.jvm {
            for pkg in &j.packages {
                if pkg.is_empty()
                    || !pkg
                        .chars()
                        .all(|c| c.is_alphanumeric() || "._$".contains(c))
                {
                    p.push(format!(
                        "probe.jvm.packages: {pkg:?} is not a Java package name"
                    ));
                }
            }
            for jar in &j.jars {
                relative(&mut p, "probe.jvm.jars", jar, false);
            }
        }
        for b in &self.probe.binaries {
            relative(&mut p, "probe.binaries", b, false);
        }
        for m in &self.probe.modules {
            relative(&mut p, "probe.modules", m, false);
        }
        if self.probe.app_roots.is_empty() && !self.probe.binaries.is_empty() {
            p.push("probe.app_roots is empty: name the folders of application code".into());
        }
        for r in &self.probe.app_roots {
            relative(&mut p, "probe.app_roots", r, true);
        }
        for l in &self.probe.library_roots {
            relative(&mut p, "probe.library_roots", l, false);
            let inside = self
                .probe
                .app_roots
                .iter()
                .any(|a| a == "." || Path::new(l).starts_with(a));
            if !inside {
                p.push(format!(
                    "probe.library_roots: {l:?} is not inside any of probe.app_roots"
                ));
            }
        }
        let t = &self.test;
        if !valid_user(&t.user) {
            p.push(format!("test.user {:?} is not a user name", t.user));
        }
        steps(&mut p, "test.setup", &t.setup, true);
        steps(&mut p, "test.prepare", &t.prepare, true);
        relative(&mut p, "test.cwd", &t.cwd, true);
        for (field, cmd) in [("test.command", &t.command), ("test.quick", &t.quick)] {
            if cmd.trim().is_empty() {
                p.push(format!("{field} is empty"));
            }
        }
        for (field, s) in [
            ("test.timeout_seconds", t.timeout_seconds),
            ("test.quick_timeout_seconds", t.quick_timeout_seconds),
        ] {
            if s == 0 {
                p.push(format!("{field} must be at least 1"));
            }
        }
        env_names(&mut p, "test.env", &t.env);
        if !t.env.contains_key("PATH") {
            p.push("test.env has no PATH: the test environment inherits nothing".into());
        }
        p
    }

    /// `targets/NAME/`: the recipe's own files.
    pub fn files_dir(&self) -> PathBuf {
        self.dir.join(&self.name)
    }

    /// The source tree inside a fetch folder.
    pub fn tree_in(&self, fetch_dir: &Path) -> PathBuf {
        fetch_dir.join(&self.fetch.tree)
    }

    /// The environment of the build and of the root steps.
    pub fn build_env(&self, jobs: Option<u32>) -> BTreeMap<String, String> {
        let mut env = BTreeMap::new();
        env.insert("PATH".to_string(), BASE_PATH.to_string());
        env.insert("HOME".to_string(), "/root".to_string());
        env.insert("LC_ALL".to_string(), "C.UTF-8".to_string());
        if let Some(n) = jobs {
            // coreutils `nproc` honours it, and the recipes run `make -j"$(nproc)"`
            env.insert("OMP_NUM_THREADS".to_string(), n.to_string());
        }
        env.extend(self.build.env.clone());
        env
    }

    pub fn test_command(&self, suite: Suite) -> &str {
        match suite {
            Suite::Full => &self.test.command,
            Suite::Quick => &self.test.quick,
        }
    }

    pub fn test_timeout(&self, suite: Suite) -> std::time::Duration {
        std::time::Duration::from_secs(match suite {
            Suite::Full => self.test.timeout_seconds,
            Suite::Quick => self.test.quick_timeout_seconds,
        })
    }

    /// The package name given to `apt-get source` (without `=VERSION` or `/SUITE`), or
    /// the recipe's name for a Maven recipe.
    pub fn source_package(&self) -> &str {
        match &self.fetch.apt_source {
            Some(s) => {
                let end = s.find(['=', '/']).unwrap_or(s.len());
                &s[..end]
            }
            None => &self.name,
        }
    }

    /// Where the download comes from, for stamps and the index: `debian:PKG=V` or
    /// `maven:POM`.
    pub fn origin(&self) -> String {
        match (&self.fetch.apt_source, &self.fetch.maven) {
            (Some(a), _) => format!("debian:{a}"),
            (None, Some(m)) => format!("maven:{}", m.pom),
            (None, None) => "none".into(),
        }
    }
}

/// Names of the recipes in `dir`, sorted.
pub fn known_targets(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| {
                    let p = e.path();
                    (p.extension()? == "toml")
                        .then(|| p.file_stem()?.to_str().map(str::to_string))
                        .flatten()
                })
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Debian package names: lowercase letters, digits, `+`, `-`, `.`; at least two long.
fn valid_name(s: &str) -> bool {
    s.len() >= 2
        && s.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.".contains(c))
}

fn valid_user(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('-')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
}

fn relative(p: &mut Vec<String>, field: &str, path: &str, dot_ok: bool) {
    let pp = Path::new(path);
    if path.is_empty() {
        p.push(format!("{field}: empty path"));
    } else if pp.is_absolute() {
        p.push(format!("{field}: {path:?} must be relative to the tree"));
    } else if pp.components().any(|c| c == Component::ParentDir) {
        p.push(format!("{field}: {path:?} must not leave the tree (no ..)"));
    } else if !dot_ok && pp.components().all(|c| c == Component::CurDir) {
        p.push(format!("{field}: {path:?} names the tree itself"));
    }
}

fn steps(p: &mut Vec<String>, field: &str, list: &[String], empty_ok: bool) {
    if !empty_ok && list.is_empty() {
        p.push(format!("{field} is empty"));
    }
    for (i, s) in list.iter().enumerate() {
        if s.trim().is_empty() {
            p.push(format!("{field}[{i}] is an empty step"));
        }
    }
}

fn env_names(p: &mut Vec<String>, field: &str, env: &BTreeMap<String, String>) {
    for k in env.keys() {
        let ok = k.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ok {
            p.push(format!(
                "{field}: {k:?} is not an environment variable name"
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workspace() -> PathBuf {
        PathBuf::from(env!("CARGO_WORKSPACE_DIR"))
    }

    #[test]
    fn the_real_recipes_parse_and_validate() {
        let dir = workspace().join("targets");
        let names = known_targets(&dir);
        for want in [
            "apache2",
            "cassandra",
            "hadoop-hdfs",
            "lighttpd",
            "memcached",
            "postgresql-15",
            "redis",
        ] {
            assert!(names.iter().any(|n| n == want), "{want} in {names:?}");
        }
        for n in &names {
            let r = Recipe::find(&dir, n).unwrap_or_else(|e| panic!("{n}: {e:#}"));
            assert_eq!(&r.name, n);
            assert_eq!(r.source_package(), n, "apt_source of {n}");
            if r.probe.jvm.is_some() {
                // JVM targets come from Maven Central with their recipe's own files
                assert!(r.fetch.maven.is_some() && r.files_dir().is_dir(), "{n}");
            } else {
                assert!(r.build_env(None)["CFLAGS"].contains("-fno-omit-frame-pointer"));
            }
        }
        let lt = Recipe::find(&dir, "lighttpd").unwrap();
        assert_eq!(lt.version, "1.4.69");
        assert_eq!(lt.fetch.tree, "lighttpd-1.4.69");
        assert_eq!(lt.probe.binaries, ["src/lighttpd"]);
        assert_eq!(lt.test_timeout(Suite::Quick).as_secs(), 300);
        let ap = Recipe::find(&dir, "apache2").unwrap();
        assert_eq!(ap.fetch.unpack.len(), 2);
        assert_eq!(ap.test.cwd, "perl-framework");
    }

    fn lighttpd_text() -> String {
        std::fs::read_to_string(workspace().join("targets/lighttpd.toml")).unwrap()
    }

    fn check_error(text: &str, stem: &str, expected: &[&str]) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(format!("{stem}.toml"));
        std::fs::write(&path, text).unwrap();
        let err = format!("{:#}", Recipe::load(&path).unwrap_err());
        for e in expected {
            assert!(err.contains(e), "{e:?} not in:\n{err}");
        }
    }

    #[test]
    fn bad_recipes_say_what_is_wrong() {
        let t = lighttpd_text();
        check_error(&t, "lighty", &["differs from the file name \"lighty\""]);
        check_error(
            &t.replace("schema = 1", "schema = 3"),
            "lighttpd",
            &["schema 3 is not supported"],
        );
        // schema 2: Maven fetches and JVM probes, each checked
        check_error(
            &t.replace(
                "apt_source = \"lighttpd=1.4.69-1\"",
                "maven = { pom = \"x/pom.xml\", goals = [] }",
            ),
            "lighttpd",
            &["need schema = 2", "fetch.maven.goals"],
        );
        check_error(
            &t.replace("schema = 1", "schema = 2")
                .replace("apt_source = \"lighttpd=1.4.69-1\"\n", ""),
            "lighttpd",
            &["fetch needs exactly one of apt_source and maven"],
        );
        let jvm = t.replace("schema = 1", "schema = 2").replace(
            "binaries = [\"src/lighttpd\"]",
            "binaries = []\njvm = { packages = [\"org.x\", \"a b\"] }",
        );
        check_error(&jvm, "lighttpd", &["\"a b\" is not a Java package name"]);
        check_error(
            &t.replace("tree = \"lighttpd-1.4.69\"", "tree = \"../x\""),
            "lighttpd",
            &["fetch.tree", "must not leave the tree"],
        );
        check_error(
            &t.replace(
                "binaries = [\"src/lighttpd\"]",
                "binaries = [\"/usr/sbin/lighttpd\"]",
            ),
            "lighttpd",
            &["probe.binaries", "relative"],
        );
        check_error(
            &t.replace("library_roots = []", "library_roots = [\"deps\"]"),
            "lighttpd",
            &["\"deps\" is not inside any of probe.app_roots"],
        );
        check_error(
            &t.replace("env = { PATH = \"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\", HOME", "env = { HOME"),
            "lighttpd",
            &["test.env has no PATH"],
        );
        check_error(
            &t.replace("quick_timeout_seconds = 300", "quick_timeout_seconds = 0"),
            "lighttpd",
            &["test.quick_timeout_seconds must be at least 1"],
        );
        // several problems are reported together
        check_error(
            &t.replace("user = \"perfscope\"", "user = \"\"")
                .replace("apt_source = \"lighttpd=1.4.69-1\"", "apt_source = \"a b\""),
            "lighttpd",
            &["2 problem(s)", "test.user", "fetch.apt_source"],
        );
        // typos are not ignored
        check_error(
            &t.replace("[deps]\napt", "[deps]\napts"),
            "lighttpd",
            &["not a valid recipe", "apts"],
        );
    }

    #[test]
    fn jobs_go_through_nproc() {
        let r = Recipe::find(&workspace().join("targets"), "redis").unwrap();
        assert_eq!(r.build_env(Some(3))["OMP_NUM_THREADS"], "3");
        assert!(!r.build_env(None).contains_key("OMP_NUM_THREADS"));
        assert_eq!(r.build_env(None)["PATH"], BASE_PATH);
    }

    #[test]
    fn unknown_targets_list_the_known_ones() {
        let err = Recipe::find(&workspace().join("targets"), "nginx").unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("known: apache2, cassandra, "), "{msg}");
        assert!(Recipe::find(&workspace().join("targets"), "../x").is_err());
    }
}
