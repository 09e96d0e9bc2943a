//! How sure the analysis is that the window holds abnormal behaviour. Each piece of
//! evidence gets a strength on one scale (1 = a rise fourfold beyond the load, or 3 s
//! stuck, or a spin), and the verdict follows the strongest against a threshold
//! calibrated on healthy windows (eval/README.md, "Calibration"). Below the threshold the report says "nothing abnormal", whatever the
//! signatures or the stacks would have ranked: stack samples and signature matches say
//! *where* the trouble is, the evidence says *whether* there is any.
//!
//! The strength is the evidence's score with what ordinary changes also produce taken
//! out:
//!
//! - more or new kinds of units count only beyond the change of the group's own load
//!   (twice the traffic doubles every kind of unit alike), only as far as the group's
//!   syscall mix moved towards what they do (an event loop under more traffic handles
//!   more requests per turn: its units change shape, its mix of syscalls does not), and
//!   in proportion to the share of the group's work they stand for (a reload's few new
//!   units are a trace, not a change of behaviour), and of the application's work the
//!   group does (an idle pool's timer firing is no change of the server's behaviour),
//!   and as far as the group's syscalls moved into theirs, by count or by time (a pool
//!   whose requests start reading a freshly flushed file, 4 µs a read, a few calls in a
//!   thousand, makes new kinds of units out of the same work), and only in a group that
//!   worked before the onset (a pool idle until then that springs to life is a job that
//!   started, a flush or a compaction: it decides nothing by itself, only through what
//!   it does to the threads that worked before);
//! - slower units count in proportion to the share of the group's time they hold, and
//!   only by what their threads did not spend waiting for a CPU beyond their wait before
//!   the onset (client processes taking the machine's CPUs slow every hand-off without
//!   any code of the server changing; a spinning thread of the server shows itself);
//! - a thread blocked, spinning or much busier counts only if it worked before the onset
//!   (a thread born after it has no "before" to differ from, nor has one that only
//!   started up before it);
//! - units that vanished are victims more often than causes: half weight, and only as
//!   far as the group makes their syscalls less often (a shape gone while its syscalls go
//!   on in other shapes is a reshuffle);
//! - units that start or end threads and processes count only for the rest of their
//!   kind: how many threads come and go follows how many connections do, in servers with
//!   a thread or a process per connection; so do units that close a file or change what
//!   an event loop watches (`epoll_ctl`) while the group accepts connections about as
//!   fast as they came.

use crate::abnormal::{Evidence, Kind};

/// The knobs of the verdict.
#[derive(Clone, Debug, PartialEq)]
pub struct ConfidenceParams {
    /// The strength from which the verdict is "abnormal".
    pub threshold: f64,
}

/// The largest strength of the calibration set's healthy windows (0.99, a burst of new
/// connections on lighttpd) with a quarter more as margin.
pub const THRESHOLD: f64 = 1.25;

impl Default for ConfidenceParams {
    fn default() -> Self {
        ConfidenceParams {
            threshold: THRESHOLD,
        }
    }
}

/// A rise in rate by this factor beyond the load's, fully significant, is strength 1 when
/// it holds at least [`SHARE_UNIT`] of its group's work.
const RATE_UNIT: f64 = std::f64::consts::LN_2 * 2.0;
/// The share of a group's work after the onset from which a change counts in full.
const SHARE_UNIT: f64 = 0.1;
/// The share of a group's syscalls (or of its CPU time, in the kernel) that moved into a
/// new or more frequent kind of unit's syscalls from which the change counts in full.
/// Healthy windows: 0.004 at most where the rest of the evidence would have been enough
/// (Cassandra's request pool reading SSTables after a flush, CS-H2).
const MOVED_UNIT: f64 = 0.05;
/// A slower kind of unit: its score (log of median after over the normal p90, damped
/// for few units) at strength 1.
const SLOW_UNIT: f64 = std::f64::consts::LN_2 * 3.0;
/// A blocked thread's score (log of 1 + seconds stuck) at strength 1: 3 s.
const BLOCKED_UNIT: f64 = std::f64::consts::LN_2 * 2.0;
/// A spinning thread's score at strength 1 (its scores run from 3 to 6).
const SPIN_UNIT: f64 = 3.0;
/// A thread that went quiet with its CPU use unknown: below the threshold alone.
const SILENT: f64 = 0.8;
/// A busier thread's score at strength 1 (about 4 times its CPU share, half a CPU).
const BUSY_UNIT: f64 = 1.2;

/// The strength of one piece of evidence.
pub fn strength(e: &Evidence) -> f64 {
    let volume = (e.share / SHARE_UNIT).min(1.0) * (1.0 - e.lifecycle) * e.part;
    match e.kind {
        Kind::New | Kind::MoreFrequent => {
            e.beyond_load.min(e.mix_shift) / RATE_UNIT * volume * (e.moved / MOVED_UNIT).min(1.0)
        }
        Kind::Slower => e.score / SLOW_UNIT * volume,
        Kind::Vanished => 0.5 * e.score.min(e.mix_shift) / RATE_UNIT * (1.0 - e.lifecycle),
        Kind::Spinning if e.worked_before => e.score / SPIN_UNIT,
        Kind::Blocked if e.worked_before => e.score / BLOCKED_UNIT,
        Kind::Busier if e.worked_before => e.score / BUSY_UNIT,
        Kind::Silent if e.worked_before => SILENT,
        Kind::Spinning | Kind::Blocked | Kind::Busier | Kind::Silent => 0.0,
    }
}

/// The verdict's footing: the strongest evidence (an index into the evidence) and its
/// strength.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Footing {
    pub strongest: Option<usize>,
    pub strength: f64,
}

impl Footing {
    /// The strongest of `evidence`.
    pub fn of(evidence: &[Evidence]) -> Footing {
        let mut best = Footing {
            strongest: None,
            strength: 0.0,
        };
        for (i, e) in evidence.iter().enumerate() {
            let s = strength(e);
            if s > best.strength {
                best = Footing {
                    strongest: Some(i),
                    strength: s,
                };
            }
        }
        best
    }

    /// Whether the evidence reaches the threshold.
    pub fn is_abnormal(&self, p: &ConfidenceParams) -> bool {
        self.strength >= p.threshold
    }

    /// `high` from twice the threshold, `medium` from it, else `low`.
    pub fn level(&self, p: &ConfidenceParams) -> &'static str {
        if self.strength >= 2.0 * p.threshold {
            "high"
        } else if self.strength >= p.threshold {
            "medium"
        } else {
            "low"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(kind: Kind, score: f64) -> Evidence {
        Evidence {
            kind,
            group: 0,
            cluster: None,
            thread: None,
            score,
            units: Vec::new(),
            normal_units: Vec::new(),
            rate: (0.0, 0.0),
            median_ns: (0, 0),
            pending: None,
            first_ts: 0,
            last_ts: 0,
            load: 1.0,
            share: 1.0,
            worked_before: true,
            beyond_load: score,
            lifecycle: 0.0,
            mix_shift: score,
            moved: 1.0,
            part: 1.0,
            cpu_wait_ns: 0,
        }
    }

    #[test]
    fn more_of_everything_is_not_abnormal() {
        // twice the traffic: the units rose as much as the group's load did
        let mut e = ev(Kind::MoreFrequent, 0.69);
        e.load = 2.0;
        e.beyond_load = 0.0;
        assert_eq!(strength(&e), 0.0);
        // a new kind of unit at eight times its former rate beyond the load, most of
        // the group's work: abnormal
        let mut bug = ev(Kind::New, 3.0);
        bug.beyond_load = 3.0;
        bug.share = 0.6;
        // an event loop's turns holding more requests each: new shapes, the same mix
        bug.mix_shift = 0.2;
        assert!(strength(&bug) < 0.2, "{}", strength(&bug));
        bug.mix_shift = 3.5;
        assert!(strength(&bug) > 2.0, "{}", strength(&bug));
        // the same rise in a few units (a reload's): a trace
        bug.share = 0.005;
        assert!(strength(&bug) < 0.2, "{}", strength(&bug));
    }

    #[test]
    fn a_change_in_threads_that_barely_work_is_a_trace() {
        // a new kind of unit, all of its group's work, fourfold beyond the load
        let mut e = ev(Kind::New, 2.0 * RATE_UNIT);
        assert!(strength(&e) >= 2.0, "{}", strength(&e));
        // ... in a group that makes 0.1 % of the application's syscalls (an idle pool's
        // timer): below any threshold
        e.part = 0.1;
        assert!(strength(&e) < 0.25, "{}", strength(&e));
        // a runtime's own threads: shown, never deciding
        e.part = 0.0;
        assert_eq!(strength(&e), 0.0);
        // thread evidence does not depend on it
        let mut b = ev(Kind::Blocked, (1.0f64 + 3.0).ln());
        b.part = 0.0;
        assert!((strength(&b) - 1.0).abs() < 1e-9);
    }

    #[test]
    fn threads_born_after_the_onset_have_no_before() {
        let mut e = ev(Kind::Busier, 2.0);
        assert!(strength(&e) > 1.0);
        e.worked_before = false;
        assert_eq!(strength(&e), 0.0);
        let mut b = ev(Kind::Blocked, (1.0f64 + 3.0).ln());
        assert!((strength(&b) - 1.0).abs() < 1e-9);
        b.worked_before = false;
        assert_eq!(strength(&b), 0.0);
    }

    #[test]
    fn the_strongest_evidence_decides() {
        let p = ConfidenceParams { threshold: 1.0 };
        let list = [ev(Kind::Vanished, 0.8), ev(Kind::Spinning, 4.5)];
        let f = Footing::of(&list);
        assert_eq!(f.strongest, Some(1));
        assert!(f.is_abnormal(&p));
        assert_eq!(f.level(&p), "medium");
        let weak = Footing::of(&list[..1]);
        assert!(!weak.is_abnormal(&p));
        assert_eq!(weak.level(&p), "low");
        assert_eq!(Footing::of(&[]).strongest, None);
    }
}
