//! The trainer's parameters, their defaults and why, and how they are recorded.

use trace::FunctionClass;

use crate::episode::MAX_EPISODE_LEN;
use crate::error::TrainError;
use crate::mining::MiningParams;

/// Which frequent episodes become a function's signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Selection {
    /// Every frequent episode.
    All,
    /// Closed episodes: drop an episode when a frequent super-episode (one more node
    /// anywhere) has the same occurrences *and* occurs in the same number of invocations,
    /// i.e. the longer one says everything the shorter one does. Keeps `(open, read)` at
    /// support 1.0 next to `(open, read, close)` at 0.5.
    #[default]
    Closed,
    /// Maximal episodes: drop an episode when any frequent super-episode exists.
    Maximal,
}

impl Selection {
    pub fn as_str(self) -> &'static str {
        match self {
            Selection::All => "all",
            Selection::Closed => "closed",
            Selection::Maximal => "maximal",
        }
    }
}

/// Everything that decides the output besides the traces.
#[derive(Clone, Debug, PartialEq)]
pub struct Params {
    /// A syscall also belongs to this many enclosing application frames (0: innermost).
    pub callers: u32,
    /// Longest episode mined. 4 (the paper's range): longer ones are rarely frequent and
    /// the candidate count grows with the power of the length.
    pub max_episode_len: u32,
    /// Occurrences must span less than this (ns); `None`: no expiry. 10 ms: a function's
    /// related syscalls are close together, unrelated ones separated by waits.
    pub expiry_ns: Option<u64>,
    /// Frequent needs at least this many non-overlapped occurrences per invocation
    /// (invocations without syscalls included). 0.5: the paper's starting point.
    pub min_support: f64,
    /// ...and an occurrence in at least this fraction of invocations. 0.25, so that an
    /// episode repeated many times in a few invocations (a loop on one rare path) does
    /// not pass for characteristic; 0 disables the test.
    pub min_coverage: f64,
    /// Functions with fewer invocations get no signature (their record stays). 2: one
    /// invocation cannot tell characteristic behaviour from incidental, and makes every
    /// subsequence of its syscalls frequent.
    pub min_invocations: u64,
    /// At most this many episodes per function, most specific first (0: no cap). 32.
    pub max_episodes: u32,
    /// Function classes whose frames are application code; frames of other classes are
    /// skipped (the library filter). Default: `App`.
    pub app_classes: Vec<FunctionClass>,
    pub selection: Selection,
    /// Syscalls outside application code are cut into segments per thread at gaps
    /// longer than this (ns). 10 ms.
    pub outside_gap_ns: u64,
    /// A function whose candidates of some length exceed this stops at the length before
    /// (and a warning says so). Bounds the work on functions with long diverse sequences.
    pub max_candidates: usize,
    /// Signatures resting on fewer invocations are "low evidence" (recorded in the
    /// database; `sigdb diff` shows their changes without counting them). 5, see
    /// [`sigdb::DEFAULT_MIN_EVIDENCE`].
    pub min_evidence: u64,
}

impl Default for Params {
    fn default() -> Params {
        Params {
            callers: 0,
            max_episode_len: 4,
            expiry_ns: Some(10_000_000),
            min_support: 0.5,
            min_coverage: 0.25,
            min_invocations: 2,
            max_episodes: 32,
            app_classes: vec![FunctionClass::App],
            selection: Selection::Closed,
            outside_gap_ns: 10_000_000,
            max_candidates: 20_000,
            min_evidence: sigdb::DEFAULT_MIN_EVIDENCE,
        }
    }
}

impl Params {
    /// Checks the ranges; the error says which parameter is wrong.
    pub fn validate(&self) -> Result<(), TrainError> {
        let bad = |m: String| Err(TrainError::Params(m));
        if !(1..=MAX_EPISODE_LEN as u32).contains(&self.max_episode_len) {
            return bad(format!(
                "max episode length {} is out of 1..={MAX_EPISODE_LEN}",
                self.max_episode_len
            ));
        }
        if self.expiry_ns == Some(0) {
            return bad("an expiry of 0 admits no occurrence; disable expiry instead".into());
        }
        if !(self.min_support.is_finite() && self.min_support >= 0.0) {
            return bad(format!(
                "min support {} must be a number ≥ 0",
                self.min_support
            ));
        }
        if !(self.min_coverage.is_finite() && (0.0..=1.0).contains(&self.min_coverage)) {
            return bad(format!(
                "min coverage {} must be within 0..=1",
                self.min_coverage
            ));
        }
        if self.app_classes.is_empty() {
            return bad("no application classes given: nothing would be attributed".into());
        }
        if self.max_candidates == 0 {
            return bad("max candidates must be at least 1".into());
        }
        Ok(())
    }

    pub(crate) fn mining(&self) -> MiningParams {
        MiningParams {
            max_len: self.max_episode_len as usize,
            expiry: self.expiry_ns,
            min_support: self.min_support,
            min_coverage: self.min_coverage,
            max_candidates: self.max_candidates,
        }
    }

    pub(crate) fn is_app(&self, class: FunctionClass) -> bool {
        self.app_classes.contains(&class)
    }

    /// The sigdb's record of the parameters. Its frozen v1 type has no field for
    /// selection, coverage, outside gap or candidate limit: those go into the tool string
    /// (see [`Params::tool`]).
    pub fn to_sigdb(&self) -> sigdb::Params {
        let mut classes: Vec<sigdb::Class> =
            self.app_classes.iter().map(|&c| class_of(c)).collect();
        classes.sort();
        classes.dedup();
        sigdb::Params {
            callers: self.callers,
            max_episode_len: self.max_episode_len,
            expiry_ns: self.expiry_ns,
            min_support: self.min_support,
            min_invocations: self.min_invocations,
            max_episodes: self.max_episodes,
            app_classes: classes,
            min_coverage: self.min_coverage,
            selection: self.selection.as_str().to_string(),
            outside_gap_ns: self.outside_gap_ns,
            max_candidates: self.max_candidates as u64,
            min_evidence: self.min_evidence,
        }
    }

    /// `perfscope-trainer VERSION`.
    pub fn tool(&self) -> String {
        format!("perfscope-trainer {}", env!("CARGO_PKG_VERSION"))
    }
}

/// The sigdb class of a trace function class.
pub fn class_of(c: FunctionClass) -> sigdb::Class {
    match c {
        FunctionClass::App => sigdb::Class::App,
        FunctionClass::RustStd => sigdb::Class::RustStd,
        FunctionClass::Crate => sigdb::Class::Crate,
        FunctionClass::System => sigdb::Class::System,
        FunctionClass::NoDwarf => sigdb::Class::NoDwarf,
    }
}
