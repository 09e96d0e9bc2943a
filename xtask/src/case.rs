//! Bug cases in the evaluation format of `shared/EVAL.md`: a folder with `case.toml`, an
//! optional patch and the workload scripts.

use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CaseFile {
    pub id: String,
    pub target: String,
    pub kind: Kind,
    pub summary: String,
    pub origin: String,
    #[serde(default)]
    pub patch: Option<String>,
    pub culprits: Vec<String>,
    pub workload: Workload,
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Hang,
    Slowdown,
    /// No bug: the trigger is an ordinary change (more traffic, a reload, a background
    /// job) or nothing, `culprits` is empty, and any ranking is a false alarm.
    Healthy,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Hang => "hang",
            Kind::Slowdown => "slowdown",
            Kind::Healthy => "healthy",
        }
    }
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Workload {
    pub start: String,
    pub normal: String,
    pub trigger: String,
    pub normal_seconds: f64,
    pub after_trigger_seconds: f64,
}

/// A parsed and checked case, with its folder.
#[derive(Clone, Debug, PartialEq)]
pub struct Case {
    pub dir: PathBuf,
    pub file: CaseFile,
}

impl Case {
    /// Reads `dir/case.toml` and checks that everything it names exists.
    pub fn load(dir: &Path) -> anyhow::Result<Case> {
        let dir = std::path::absolute(dir)
            .with_context(|| format!("cannot resolve the case folder {}", dir.display()))?;
        let path = dir.join("case.toml");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let file: CaseFile = toml::from_str(&text).with_context(|| {
            format!(
                "{} is not a valid case (see shared/EVAL.md)",
                path.display()
            )
        })?;
        let case = Case { dir, file };
        let problems = case.problems();
        if !problems.is_empty() {
            bail!("{}: {}", path.display(), problems.join("; "));
        }
        Ok(case)
    }

    pub fn id(&self) -> &str {
        &self.file.id
    }

    fn problems(&self) -> Vec<String> {
        let f = &self.file;
        let mut p = Vec::new();
        let id_ok = !f.id.is_empty()
            && f.id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
            && !f.id.starts_with('.');
        if !id_ok {
            p.push(format!(
                "id {:?} must be letters, digits, '.', '_' or '-' (it names folders)",
                f.id
            ));
        }
        if f.target.is_empty() {
            p.push("target is empty".to_string());
        }
        let named = f.culprits.iter().any(|c| !c.trim().is_empty());
        match (f.kind, named) {
            (Kind::Healthy, true) => p.push(
                "a healthy case has no culprits: make it `culprits = []` or name its kind"
                    .to_string(),
            ),
            (Kind::Hang | Kind::Slowdown, false) => {
                p.push("culprits is empty: name the functions to blame".to_string());
            }
            _ => {}
        }
        let mut files: Vec<(&str, &str)> = vec![
            ("workload.start", &f.workload.start),
            ("workload.normal", &f.workload.normal),
            ("workload.trigger", &f.workload.trigger),
        ];
        if let Some(patch) = &f.patch {
            files.push(("patch", patch));
        }
        for (field, name) in files {
            let rel = Path::new(name);
            if name.is_empty()
                || rel.is_absolute()
                || rel.components().any(|c| c == Component::ParentDir)
            {
                p.push(format!(
                    "{field} {name:?} must be a file inside the case folder"
                ));
            } else if !self.dir.join(rel).is_file() {
                p.push(format!("{field}: {name} does not exist in the case folder"));
            }
        }
        for (field, s) in [
            ("workload.normal_seconds", f.workload.normal_seconds),
            (
                "workload.after_trigger_seconds",
                f.workload.after_trigger_seconds,
            ),
        ] {
            if !(s.is_finite() && s > 0.0 && s < 86_400.0) {
                p.push(format!(
                    "{field} = {s} must be a positive number of seconds"
                ));
            }
        }
        p
    }

    pub fn script(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// A healthy case: no bug, "nothing abnormal" expected.
    pub fn is_healthy(&self) -> bool {
        self.file.kind == Kind::Healthy
    }

    pub fn patch(&self) -> Option<PathBuf> {
        self.file.patch.as_ref().map(|p| self.dir.join(p))
    }

    pub fn normal(&self) -> Duration {
        Duration::from_secs_f64(self.file.workload.normal_seconds)
    }

    pub fn after_trigger(&self) -> Duration {
        Duration::from_secs_f64(self.file.workload.after_trigger_seconds)
    }
}

/// The case folders named on the command line: a folder with a `case.toml` is a case;
/// any other folder holds cases, one per subfolder with a `case.toml`, in name order.
pub fn discover(args: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for a in args {
        if a.join("case.toml").is_file() {
            out.push(a.clone());
            continue;
        }
        let rd = std::fs::read_dir(a)
            .with_context(|| format!("cannot read the case folder {}", a.display()))?;
        let mut found: Vec<PathBuf> = rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.join("case.toml").is_file())
            .collect();
        if found.is_empty() {
            bail!(
                "{} is not a case (no case.toml) and holds no case folders",
                a.display()
            );
        }
        found.sort();
        out.extend(found);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn examples() -> PathBuf {
        PathBuf::from(env!("CARGO_WORKSPACE_DIR")).join("xtask/tests/cases")
    }

    #[test]
    fn the_example_cases_parse() {
        let dirs = discover(&[examples()]).unwrap();
        let cases: Vec<Case> = dirs.iter().map(|d| Case::load(d).unwrap()).collect();
        let ids: Vec<&str> = cases.iter().map(|c| c.id()).collect();
        assert_eq!(ids, ["LT-1", "MC-1", "PG-1"]);
        let lt = &cases[0];
        assert_eq!(lt.file.target, "lighttpd");
        assert_eq!(lt.file.kind, Kind::Hang);
        assert_eq!(
            lt.file.culprits,
            ["connection_state_machine_loop", "connection_handle_write"]
        );
        assert_eq!(lt.normal(), Duration::from_secs(20));
        assert_eq!(lt.after_trigger(), Duration::from_secs(15));
        assert!(lt.patch().unwrap().ends_with("LT-1/bug.patch"));
        assert_eq!(cases[1].patch(), None);
        assert_eq!(cases[2].file.kind, Kind::Slowdown);
        assert_eq!(cases[2].file.target, "postgresql-15");
    }

    fn write_case(dir: &Path, toml: &str, files: &[&str]) {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("case.toml"), toml).unwrap();
        for f in files {
            std::fs::write(dir.join(f), "#!/bin/bash\n").unwrap();
        }
    }

    const MINIMAL: &str = r#"
id = "X-1"
target = "lighttpd"
kind = "slowdown"
summary = "s"
origin = "injected"
culprits = ["f"]
[workload]
start = "start.sh"
normal = "normal.sh"
trigger = "trigger.sh"
normal_seconds = 1.5
after_trigger_seconds = 2
"#;

    #[test]
    fn cases_are_checked() {
        let tmp = tempfile::tempdir().unwrap();
        let ok = tmp.path().join("ok");
        write_case(&ok, MINIMAL, &["start.sh", "normal.sh", "trigger.sh"]);
        let c = Case::load(&ok).unwrap();
        assert_eq!(c.normal(), Duration::from_millis(1500));
        assert_eq!(c.after_trigger(), Duration::from_secs(2));

        let missing = tmp.path().join("missing");
        write_case(
            &missing,
            &MINIMAL.replace("culprits", "patch = \"bug.patch\"\nculprits"),
            &["start.sh", "normal.sh"],
        );
        let e = format!("{:#}", Case::load(&missing).unwrap_err());
        assert!(e.contains("trigger.sh does not exist"), "{e}");
        assert!(e.contains("patch: bug.patch does not exist"), "{e}");

        let bad = tmp.path().join("bad");
        write_case(
            &bad,
            &MINIMAL
                .replace("X-1", "x/1")
                .replace("normal_seconds = 1.5", "normal_seconds = -1")
                .replace("[\"f\"]", "[]"),
            &["start.sh", "normal.sh", "trigger.sh"],
        );
        let e = format!("{:#}", Case::load(&bad).unwrap_err());
        assert!(e.contains("id \"x/1\""), "{e}");
        assert!(e.contains("normal_seconds = -1"), "{e}");
        assert!(e.contains("culprits is empty"), "{e}");

        let typo = tmp.path().join("typo");
        write_case(
            &typo,
            &MINIMAL.replace("kind = \"slowdown\"", "kind = \"crash\""),
            &["start.sh", "normal.sh", "trigger.sh"],
        );
        let e = format!("{:#}", Case::load(&typo).unwrap_err());
        assert!(e.contains("crash"), "{e}");

        // a healthy case names no culprits, and only a healthy case may
        let healthy = tmp.path().join("healthy");
        let text = MINIMAL.replace("kind = \"slowdown\"", "kind = \"healthy\"");
        write_case(
            &healthy,
            &text.replace("[\"f\"]", "[]"),
            &["start.sh", "normal.sh", "trigger.sh"],
        );
        assert!(Case::load(&healthy).unwrap().is_healthy());
        let blamed = tmp.path().join("blamed");
        write_case(&blamed, &text, &["start.sh", "normal.sh", "trigger.sh"]);
        let e = format!("{:#}", Case::load(&blamed).unwrap_err());
        assert!(e.contains("a healthy case has no culprits"), "{e}");

        // a folder of cases, and a folder that is neither
        assert_eq!(discover(&[tmp.path().to_path_buf()]).unwrap().len(), 6);
        assert!(discover(&[ok.join("nothing")]).is_err());
        let empty = tmp.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        assert!(format!("{:#}", discover(&[empty]).unwrap_err()).contains("no case.toml"));
    }
}
