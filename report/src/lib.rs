//! perfscope's report and alarm formats: what `perfscope analyze --format json` and
//! `perfscope watch --report-dir` write, and what `perfscope alarm` says to a watcher.
//! These are on-disk and wire formats read by other programs, so their types live here,
//! frozen per version, apart from the analysis's own model.
//!
//! * [`v2`]: the report as JSON Lines (version 2; version 1 reports read too): one `report` record, then `function`, `evidence`,
//!   `step` and `warning` records, each with a `type` field. [`read_json_lines`] reads a
//!   report back (bounded: a line longer than [`MAX_LINE`] is an error).
//! * [`alarm`]: the alarm socket protocol, one JSON line each way.

pub mod alarm;
pub mod v2;

/// Version of the JSON Lines report format this crate writes.
pub const REPORT_VERSION: u32 = 2;

/// The oldest version this crate reads (its reports read as version 2 ones).
pub const OLDEST_REPORT_VERSION: u32 = 1;

/// The longest record line a reader accepts.
pub const MAX_LINE: usize = 16 << 20;

/// Why a report could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("line {line}: {source}")]
    Json {
        line: usize,
        #[source]
        source: serde_json::Error,
    },
    #[error("line {line} is longer than {MAX_LINE} bytes")]
    LineTooLong { line: usize },
    #[error("the first record is not a `report` record")]
    NoHead,
    #[error(
        "report format version {found}; this reader knows versions {OLDEST_REPORT_VERSION} to {REPORT_VERSION}"
    )]
    Version { found: u32 },
}

/// Reads a JSON Lines report: its `report` record first, then the others in order.
pub fn read_json_lines(text: &str) -> Result<(v2::Head, Vec<v2::Record>), ReportError> {
    let mut head = None;
    let mut rest = Vec::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        if line.len() > MAX_LINE {
            return Err(ReportError::LineTooLong { line: i + 1 });
        }
        let r: v2::Record = serde_json::from_str(line).map_err(|source| ReportError::Json {
            line: i + 1,
            source,
        })?;
        match r {
            v2::Record::Report(h) if head.is_none() => {
                if !(OLDEST_REPORT_VERSION..=REPORT_VERSION).contains(&h.version) {
                    return Err(ReportError::Version { found: h.version });
                }
                head = Some(h);
            }
            _ if head.is_none() => return Err(ReportError::NoHead),
            other => rest.push(other),
        }
    }
    Ok((head.ok_or(ReportError::NoHead)?, rest))
}
