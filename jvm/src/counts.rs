//! The agent's invocation counts (`OUT/PID.counts`): per method id, the calls of every
//! thread of one JVM, rewritten atomically every second and once more at exit.

use std::collections::BTreeMap;
use std::path::Path;

use crate::JvmError;

const HEADER: &str = "# perfscope-jvm counts v1 ";

/// One JVM's counts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Method id (in the process's table) → invocations.
    pub by_id: BTreeMap<u32, u64>,
    /// Written by the JVM's shutdown hook: the counts are complete. A JVM killed by a
    /// signal leaves the last periodic file (up to a second short).
    pub last: bool,
}

/// Reads `path` (`None` when there is none: the JVM ran no instrumented method).
pub fn read(path: &Path) -> Result<Option<Counts>, JvmError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(JvmError::Io {
                path: path.to_owned(),
                source,
            });
        }
    };
    let bad = |line: usize, reason: String| JvmError::Format {
        path: path.to_owned(),
        line,
        reason,
    };
    let mut lines = text.lines();
    let head = lines.next().unwrap_or_default();
    let Some(rest) = head.strip_prefix(HEADER) else {
        return Err(bad(1, format!("not a perfscope-jvm counts file: {head:?}")));
    };
    let mut c = Counts {
        last: rest.split_whitespace().any(|w| w == "final=1"),
        ..Counts::default()
    };
    for (i, l) in lines.enumerate() {
        let (id, n) = l
            .split_once('\t')
            .and_then(|(a, b)| Some((a.parse::<u32>().ok()?, b.parse::<u64>().ok()?)))
            .ok_or_else(|| bad(i + 2, format!("expected `id<TAB>count`, got {l:?}")))?;
        *c.by_id.entry(id).or_default() += n;
    }
    Ok(Some(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_read_and_say_whether_they_are_final() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("7.counts");
        assert_eq!(read(&p).unwrap(), None);
        std::fs::write(&p, "# perfscope-jvm counts v1 pid=7 final=1\n0\t5\n3\t12\n").unwrap();
        let c = read(&p).unwrap().unwrap();
        assert!(c.last);
        assert_eq!(c.by_id.get(&3), Some(&12));
        std::fs::write(&p, "# perfscope-jvm counts v1 pid=7 final=0\n0\tx\n").unwrap();
        assert!(read(&p).is_err());
        std::fs::write(&p, "garbage\n").unwrap();
        assert!(read(&p).is_err());
    }
}
