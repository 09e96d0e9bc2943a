//! What /proc and the cgroup filesystem tell about tasks that existed before capture
//! started: descendants to seed the process set with, thread names, cgroup ids.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use rustc_hash::FxHashMap;

use crate::error::CaptureError;

/// The parent pid from the contents of /proc/PID/stat (the comm field may hold spaces
/// and parentheses, so parse after its last ')').
pub(crate) fn parse_ppid(stat: &str) -> Option<u32> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace();
    let _state = fields.next()?;
    fields.next()?.parse().ok()
}

fn pids() -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect()
}

/// `root` and every process below it, in breadth-first order.
pub(crate) fn descendants(root: u32) -> Vec<u32> {
    let mut children: FxHashMap<u32, Vec<u32>> = FxHashMap::default();
    for pid in pids() {
        if let Some(ppid) = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .as_deref()
            .and_then(parse_ppid)
        {
            children.entry(ppid).or_default().push(pid);
        }
    }
    let mut out = vec![root];
    let mut i = 0;
    while i < out.len() {
        if let Some(c) = children.get(&out[i]) {
            out.extend(c.iter().copied().filter(|p| *p != root));
        }
        i += 1;
    }
    out
}

/// The threads of process `pid` with their names.
pub(crate) fn threads(pid: u32) -> Vec<(u32, String)> {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    let mut out: Vec<(u32, String)> = dir
        .filter_map(|e| {
            let tid: u32 = e.ok()?.file_name().to_str()?.parse().ok()?;
            let comm = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/comm")).ok()?;
            Some((tid, comm.trim_end_matches('\n').to_string()))
        })
        .collect();
    out.sort_unstable();
    out
}

/// The cgroup v2 mount point, from /proc/self/mountinfo.
fn cgroup2_mount() -> Option<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    info.lines().find_map(|l| {
        let (left, right) = l.split_once(" - ")?;
        if right.split_ascii_whitespace().next()? != "cgroup2" {
            return None;
        }
        Some(PathBuf::from(left.split_ascii_whitespace().nth(4)?))
    })
}

/// The id (kernfs inode number) and level (depth below the root, root = 0) of a cgroup
/// v2 directory.
pub(crate) fn cgroup(path: &Path) -> Result<(u64, u32), CaptureError> {
    let err = |reason: String| CaptureError::Cgroup {
        path: path.to_owned(),
        reason,
    };
    let real = path
        .canonicalize()
        .map_err(|e| err(format!("{e}; give a directory under the cgroup v2 mount")))?;
    let mount = cgroup2_mount().ok_or_else(|| err("no cgroup v2 filesystem is mounted".into()))?;
    let rel = real.strip_prefix(&mount).map_err(|_| {
        err(format!(
            "not under the cgroup v2 mount {} (cgroup v1 is not supported)",
            mount.display()
        ))
    })?;
    let meta = std::fs::metadata(&real).map_err(|e| err(e.to_string()))?;
    if !meta.is_dir() || !real.join("cgroup.procs").exists() {
        return Err(err("not a cgroup directory (no cgroup.procs)".into()));
    }
    Ok((meta.ino(), rel.components().count() as u32))
}

/// The processes in a cgroup and its descendants.
pub(crate) fn cgroup_procs(path: &Path) -> Vec<u32> {
    let mut out = Vec::new();
    let mut dirs = vec![path.to_owned()];
    while let Some(d) = dirs.pop() {
        if let Ok(s) = std::fs::read_to_string(d.join("cgroup.procs")) {
            out.extend(s.lines().filter_map(|l| l.trim().parse::<u32>().ok()));
        }
        if let Ok(rd) = std::fs::read_dir(&d) {
            dirs.extend(
                rd.filter_map(|e| e.ok())
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                    .map(|e| e.path()),
            );
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ppid_after_odd_comm() {
        assert_eq!(parse_ppid("42 (a) b) (c) S 17 42 42 0"), Some(17));
        assert_eq!(parse_ppid("1 (init) S 0 1 1"), Some(0));
        assert_eq!(parse_ppid("garbage"), None);
    }

    #[test]
    fn own_process_is_found() {
        let me = std::process::id();
        assert_eq!(descendants(me)[0], me);
        let ts = threads(me);
        assert!(ts.iter().any(|(t, _)| *t == me), "{ts:?}");
    }
}
