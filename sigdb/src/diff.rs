//! What changed between two signature databases, for people (reviews of a release, a
//! pull-request comment) and programs (CI gates): the model of a diff and how it is
//! computed. Rendering lives in [`render`].

mod noise;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Class, Episode, Record, Sigdb, round6};
use noise::Side;

/// How a diff decides what counts as a change.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiffOptions {
    /// An episode's support change is reported only when `|Δ|` is at least this
    /// (occurrences per invocation). Default 0.1.
    pub support_abs: f64,
    /// ... and also at least this fraction of the larger of the two supports. Default
    /// 0.25. Both floors must be passed: an absolute floor alone flags noise on supports of
    /// 5 or 10, a relative floor alone flags noise on supports near 0. Taking the larger
    /// value as the base makes `diff(a, b)` and `diff(b, a)` flag the same episodes.
    pub support_rel: f64,
    /// Whether a change of a function's invocation count is a signature change.
    /// Default false: invocation counts follow the test suite more than the code, so they
    /// are reported but do not make two databases differ.
    pub invocations: bool,
    /// A support change must also be this many standard errors (of the two supports,
    /// combined) away from zero. Default 4: two trainings of one commit differ by less
    /// (see docs/ci.md), a real change of a syscall per invocation by far more.
    pub z: f64,
    /// Whether changes of the pseudo-function of syscalls outside application code count.
    /// Default false: what runs outside the application (the dynamic loader, libc's
    /// start-up, the test driver's own threads) follows timing, not the code under review.
    pub outside: bool,
    /// Whether changes made only of system calls that follow the whole process's state
    /// count (`brk`, `mmap`, `munmap`, `mremap`, `madvise`: the heap; `futex`: other
    /// threads on the same locks), when the function made them on both sides. Default
    /// false: a change anywhere else shifts that state (measured: a patch of
    /// `connection_close` took lighttpd's `deflate_compress_cleanup` from 2.9 to 5 `brk`
    /// per call in every run; memcached's `slabs_reassign` made 0.79 or 1.26 `futex` per
    /// call from one retraining to the next).
    pub process_state: bool,
}

impl Default for DiffOptions {
    fn default() -> Self {
        DiffOptions {
            support_abs: 0.1,
            support_rel: 0.25,
            invocations: false,
            z: 4.0,
            outside: false,
            process_state: false,
        }
    }
}

impl DiffOptions {
    /// Whether a support going from `old` to `new` passes both floors.
    pub fn support_changed(&self, old: f64, new: f64) -> bool {
        // supports are rounded to 6 decimals; the slack keeps 0.6 - 0.5 from falling
        // just short of 0.1
        const SLACK: f64 = 1e-9;
        let delta = (new - old).abs();
        delta + SLACK >= self.support_abs
            && delta + SLACK >= self.support_rel * old.abs().max(new.abs())
            && delta > 0.0
    }
}

/// The differences between an old and a new database, in a deterministic order: fields
/// in their declaration order, functions by key, episodes in their record's order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Diff {
    pub options: DiffOptions,
    pub old: DbSummary,
    pub new: DbSummary,
    /// Target name, version, objects and their build-ids.
    pub target: Vec<FieldChange>,
    /// Training parameters, and the trainer's name and version (`tool`).
    pub params: Vec<FieldChange>,
    pub coverage: Vec<FieldChange>,
    pub added: Vec<FunctionSummary>,
    pub removed: Vec<FunctionSummary>,
    /// Functions whose key changed because their file did (the only record of that name
    /// on each side). They are also in `changed` when their signature changed.
    pub moved: Vec<Moved>,
    /// Matched functions (by key, or moved) with any change, including invocation-only ones,
    /// low-evidence ones and changes of coverage: [`FunctionChange::kind`] says which.
    pub changed: Vec<FunctionChange>,
}

/// One side of a diff, as a report's heading names it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DbSummary {
    pub target: String,
    pub version: String,
    pub records: u64,
    /// The database's format version.
    pub format: u32,
    /// Invocations a signature must rest on to be trusted ([`crate::Params::min_evidence`]).
    pub min_evidence: u64,
}

/// A header field that differs; `field` is its JSON name (`build_id[PATH]` for objects).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FieldChange {
    pub field: String,
    pub old: Value,
    pub new: Value,
}

/// A function present on one side only.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FunctionSummary {
    pub name: String,
    pub file: Option<String>,
    /// The first line of its definition, when DWARF said.
    pub line: Option<u32>,
    pub class: Class,
    pub invocations: u64,
    /// Whether `invocations` reach its database's `min_evidence`.
    pub enough_evidence: bool,
    pub episodes: Vec<EpisodeSummary>,
}

impl FunctionSummary {
    /// Whether it has a signature to compare: episodes resting on enough invocations. A
    /// function on one side only without one (a generated class's methods named anew by
    /// every run, code listed but never run) changes no signature.
    pub fn has_signature(&self) -> bool {
        self.enough_evidence && !self.episodes.is_empty()
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpisodeSummary {
    pub events: Vec<String>,
    pub support: f64,
    pub weight: f64,
    /// The support's standard error ([`Episode::standard_error`]), rounded to 6 decimals.
    pub se: f64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Moved {
    pub name: String,
    pub from: Option<String>,
    pub to: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change<T> {
    pub old: T,
    pub new: T,
}

/// How one function present on both sides changed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FunctionChange {
    pub name: String,
    /// The new side's file.
    pub file: Option<String>,
    /// The new side's first line of the definition.
    pub line: Option<u32>,
    /// What kind of change, given the evidence on each side.
    pub kind: ChangeKind,
    /// The invocations each side's signature rests on, and whether they are enough.
    pub evidence: Evidence,
    pub class: Option<Change<Class>>,
    pub invocations: Option<Change<u64>>,
    /// With enough evidence on both sides: the episodes whose difference is significant
    /// ([`noise`]); otherwise every difference (shown, never counted).
    pub episodes_added: Vec<EpisodeSummary>,
    pub episodes_removed: Vec<EpisodeSummary>,
    /// Episodes on both sides whose support moved past the tolerance (and, with enough
    /// evidence, significantly).
    pub support: Vec<SupportChange>,
}

/// What a function's change is, given the evidence of each side.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// Enough invocations on both sides and a significant change: the code changed.
    Changed,
    /// Too few invocations on the old side, enough on the new one (a test now reaches it).
    NewlyCovered,
    /// Enough invocations on the old side, too few on the new one.
    NoLongerCovered,
    /// Too few invocations on both sides: differences are shown, they mean little.
    LowEvidence,
    /// The pseudo-function of syscalls outside application code.
    Outside,
    /// Enough evidence, but only episodes of system calls that follow the process's state
    /// (heap, lock contention) changed.
    ProcessState,
    /// Only the invocation count changed.
    Invocations,
}

impl ChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Changed => "changed",
            ChangeKind::NewlyCovered => "newly covered",
            ChangeKind::NoLongerCovered => "no longer covered",
            ChangeKind::LowEvidence => "low evidence",
            ChangeKind::Outside => "outside application code",
            ChangeKind::ProcessState => "heap or lock state only",
            ChangeKind::Invocations => "invocation count",
        }
    }
}

/// The invocations a function's signature rests on, on each side.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    pub old: u64,
    pub new: u64,
    pub old_enough: bool,
    pub new_enough: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SupportChange {
    pub events: Vec<String>,
    pub old: f64,
    pub new: f64,
    /// Standard errors of `old` and `new`, rounded to 6 decimals.
    pub old_se: f64,
    pub new_se: f64,
}

impl FunctionChange {
    /// A change of what the function's signature says: class or episodes.
    pub fn is_signature_change(&self) -> bool {
        self.class.is_some()
            || !self.episodes_added.is_empty()
            || !self.episodes_removed.is_empty()
            || !self.support.is_empty()
    }

    /// Whether this change counts under `options`: a significant change with enough
    /// evidence on both sides (of the outside pseudo-function only when asked), or an
    /// invocation count when asked.
    pub fn counts(&self, options: &DiffOptions) -> bool {
        let signature = match self.kind {
            ChangeKind::Changed => self.is_signature_change(),
            ChangeKind::Outside => options.outside && self.is_signature_change(),
            ChangeKind::ProcessState => options.process_state && self.is_signature_change(),
            _ => false,
        };
        signature || (options.invocations && self.invocations.is_some())
    }
}

impl Diff {
    /// Whether the signatures differ: a function with a signature added or removed
    /// ([`FunctionSummary::has_signature`]), a function moved, or a counting
    /// [`FunctionChange`]. Header differences (target, parameters, coverage) and
    /// invocation-only changes (unless [`DiffOptions::invocations`]) do not count: two
    /// trainings of two builds with the same signatures are "the same".
    pub fn differs(&self) -> bool {
        self.added.iter().any(FunctionSummary::has_signature)
            || self.removed.iter().any(FunctionSummary::has_signature)
            || !self.moved.is_empty()
            || self.changed.iter().any(|c| c.counts(&self.options))
    }

    /// Whether nothing at all was found, header included.
    pub fn is_empty(&self) -> bool {
        self.target.is_empty()
            && self.params.is_empty()
            && self.coverage.is_empty()
            && self.added.is_empty()
            && self.removed.is_empty()
            && self.moved.is_empty()
            && self.changed.is_empty()
    }

    /// The changed functions that count under the diff's options.
    pub fn counted_changes(&self) -> impl Iterator<Item = &FunctionChange> {
        self.changed.iter().filter(|c| c.counts(&self.options))
    }

    /// The changed functions that are reported but do not count.
    pub fn uncounted_changes(&self) -> impl Iterator<Item = &FunctionChange> {
        self.changed.iter().filter(|c| !c.counts(&self.options))
    }

    /// The uncounted changes of one kind.
    pub fn uncounted_of(&self, kind: ChangeKind) -> impl Iterator<Item = &FunctionChange> {
        self.uncounted_changes().filter(move |c| c.kind == kind)
    }
}

/// Why two databases cannot be compared: a diff of them would be all noise.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Incomparable(pub String);

impl std::fmt::Display for Incomparable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The training parameters that decide what an episode is and which are kept: databases
/// that differ in one of them describe different things.
const DEFINING_PARAMS: [&str; 7] = [
    "callers",
    "max_episode_len",
    "expiry_ns",
    "min_support",
    "min_coverage",
    "selection",
    "app_classes",
];

/// Whether `old` and `new` can be compared: two builds of one target, trained with the
/// same parameters of mining (others, like `min_evidence` or the candidate limit, may
/// differ). The error says what differs.
pub fn comparable(old: &Sigdb, new: &Sigdb) -> Result<(), Incomparable> {
    let (o, n) = (&old.header.target.name, &new.header.target.name);
    if o != n {
        return Err(Incomparable(format!(
            "the databases are of two different targets ({o:?} and {n:?}): a diff compares \
             two builds of one target"
        )));
    }
    let (po, pn) = (
        to_value(&old.header.training.params),
        to_value(&new.header.training.params),
    );
    let differing: Vec<String> = DEFINING_PARAMS
        .iter()
        .filter(|k| po.get(**k) != pn.get(**k))
        .map(|k| {
            let v = |x: &Value| x.get(*k).map_or("-".into(), Value::to_string);
            format!("{k} {} vs {}", v(&po), v(&pn))
        })
        .collect();
    if !differing.is_empty() {
        return Err(Incomparable(format!(
            "the databases were trained with different mining parameters ({}): their \
             signatures cannot be compared; train both with the same parameters",
            differing.join(", ")
        )));
    }
    Ok(())
}

/// [`diff_with`] under the default [`DiffOptions`].
pub fn diff(old: &Sigdb, new: &Sigdb) -> Diff {
    diff_with(old, new, &DiffOptions::default())
}

/// Compares two databases. Functions are matched by name and declaring file, the file
/// taken relative to its database's source tree ([`source_root`]: two builds of the same
/// code in different folders match); a function whose key is missing on one side is
/// "moved" when its name is held by exactly one record on each side, with different
/// files; otherwise it is added or removed.
pub fn diff_with(old: &Sigdb, new: &Sigdb, options: &DiffOptions) -> Diff {
    let roots = (source_root(&old.records), source_root(&new.records));
    let params = (&old.header.training.params, &new.header.training.params);
    let (pairs, old_only, new_only) = match_records(&old.records, &new.records, &roots);
    let kept = (noise::Kept::of(&old.records), noise::Kept::of(&new.records));
    let mut diff = Diff {
        options: *options,
        old: summary(old),
        new: summary(new),
        target: target_changes(old, new),
        params: param_changes(old, new),
        coverage: fields(
            &to_value(&old.header.coverage),
            &to_value(&new.header.coverage),
        ),
        added: new_only
            .iter()
            .map(|r| function_summary(r, params.1.min_evidence))
            .collect(),
        removed: old_only
            .iter()
            .map(|r| function_summary(r, params.0.min_evidence))
            .collect(),
        moved: Vec::new(),
        changed: Vec::new(),
    };
    for (o, n) in pairs {
        if !same_file(relative_key(o, &roots.0).1, relative_key(n, &roots.1).1) {
            diff.moved.push(Moved {
                name: n.name.clone(),
                from: o.file.clone(),
                to: n.file.clone(),
            });
        }
        let sides = (
            Side {
                record: o,
                params: params.0,
                kept: &kept.0,
            },
            Side {
                record: n,
                params: params.1,
                kept: &kept.1,
            },
        );
        if let Some(c) = function_change(sides, options) {
            diff.changed.push(c);
        }
    }
    diff.moved
        .sort_by(|a, b| (&a.name, &a.to).cmp(&(&b.name, &b.to)));
    diff.changed
        .sort_by(|a, b| (&a.name, &a.file).cmp(&(&b.name, &b.file)));
    diff
}

type Matched<'a> = (
    Vec<(&'a Record, &'a Record)>,
    Vec<&'a Record>,
    Vec<&'a Record>,
);

/// The folder holding the declaring files of a database's application functions: the
/// longest common folder of their paths ("" when there are none, or they share none).
pub fn source_root(records: &[Record]) -> String {
    let mut root: Option<Vec<&str>> = None;
    for r in records.iter().filter(|r| r.class == crate::Class::App) {
        let Some(file) = r.file.as_deref() else {
            continue;
        };
        let Some((dir, _)) = file.rsplit_once('/') else {
            continue;
        };
        let parts: Vec<&str> = dir.split('/').collect();
        root = Some(match root {
            None => parts,
            Some(mut have) => {
                let same = have.iter().zip(&parts).take_while(|(a, b)| a == b).count();
                have.truncate(same);
                have
            }
        });
    }
    match root {
        Some(parts) if parts.iter().any(|p| !p.is_empty()) => parts.join("/") + "/",
        _ => String::new(),
    }
}

/// A record's matching key: its name and descriptor, and its file relative to `root`
/// when under it.
fn relative_key<'r>(r: &'r Record, root: &str) -> ((&'r str, &'r str), &'r str) {
    let (name, file, descriptor) = r.key();
    let rel = if root.is_empty() {
        file
    } else {
        file.strip_prefix(root).unwrap_or(file)
    };
    ((name, descriptor), rel)
}

/// Whether two relative paths name the same file: equal, or one is the other with more
/// leading folders (the two trees' roots were found at different depths).
fn same_file(a: &str, b: &str) -> bool {
    let under = |long: &str, short: &str| {
        long.strip_suffix(short)
            .is_some_and(|head| head.ends_with('/'))
    };
    a == b || under(a, b) || under(b, a)
}

/// Pairs records by key (both sides sorted), then pairs the leftovers that moved.
fn match_records<'a>(
    old: &'a [Record],
    new: &'a [Record],
    (old_root, new_root): &(String, String),
) -> Matched<'a> {
    let mut by_key = BTreeMap::new();
    for r in old {
        by_key
            .entry(relative_key(r, old_root))
            .or_insert((None, None))
            .0 = Some(r);
    }
    for r in new {
        by_key
            .entry(relative_key(r, new_root))
            .or_insert((None, None))
            .1 = Some(r);
    }
    // per name: how many records each side has, and the unmatched ones
    let mut names: BTreeMap<&str, NameSlots<'a>> = BTreeMap::new();
    for r in old {
        names.entry(&r.name).or_default().old += 1;
    }
    for r in new {
        names.entry(&r.name).or_default().new += 1;
    }
    let mut pairs = Vec::new();
    let mut old_only = Vec::new();
    let mut new_only = Vec::new();
    for (o, n) in by_key.into_values() {
        match (o, n) {
            (Some(o), Some(n)) => pairs.push((o, n)),
            (Some(o), None) => match names.get_mut(o.name.as_str()) {
                Some(slots) if slots.old == 1 && slots.new == 1 => slots.lone_old = Some(o),
                _ => old_only.push(o),
            },
            (None, Some(n)) => match names.get_mut(n.name.as_str()) {
                Some(slots) if slots.old == 1 && slots.new == 1 => slots.lone_new = Some(n),
                _ => new_only.push(n),
            },
            (None, None) => {}
        }
    }
    // one record of a name on each side, neither matched by key: the same function moved
    for slots in names.into_values() {
        if let (Some(o), Some(n)) = (slots.lone_old, slots.lone_new) {
            pairs.push((o, n));
        }
    }
    (pairs, old_only, new_only)
}

#[derive(Default)]
struct NameSlots<'a> {
    old: usize,
    new: usize,
    lone_old: Option<&'a Record>,
    lone_new: Option<&'a Record>,
}

fn summary(db: &Sigdb) -> DbSummary {
    DbSummary {
        target: db.header.target.name.clone(),
        version: db.header.target.version.clone(),
        records: db.records.len() as u64,
        format: db.header.version,
        min_evidence: db.header.training.params.min_evidence,
    }
}

fn function_summary(r: &Record, min_evidence: u64) -> FunctionSummary {
    FunctionSummary {
        name: r.name.clone(),
        file: r.file.clone(),
        line: r.line,
        class: r.class,
        invocations: r.invocations,
        enough_evidence: r.has_enough_evidence(min_evidence),
        episodes: r
            .episodes
            .iter()
            .map(|e| episode_summary(e, r.invocations))
            .collect(),
    }
}

fn episode_summary(e: &Episode, n: u64) -> EpisodeSummary {
    EpisodeSummary {
        events: e.events.clone(),
        support: e.support,
        weight: e.weight,
        se: round6(e.standard_error(n)),
    }
}

fn change<T: PartialEq>(old: T, new: T) -> Option<Change<T>> {
    (old != new).then_some(Change { old, new })
}

fn function_change(
    (os, ns): (Side<'_>, Side<'_>),
    options: &DiffOptions,
) -> Option<FunctionChange> {
    let (o, n) = (os.record, ns.record);
    let evidence = Evidence {
        old: o.invocations,
        new: n.invocations,
        old_enough: o.has_enough_evidence(os.params.min_evidence),
        new_enough: n.has_enough_evidence(ns.params.min_evidence),
    };
    // with too little evidence on a side, every difference is shown (none counts)
    let model = evidence.old_enough && evidence.new_enough;
    // episode identity is its event sequence; the first wins should a record repeat one
    let mut old_eps: BTreeMap<&[String], &Episode> = BTreeMap::new();
    for e in &o.episodes {
        old_eps.entry(&e.events).or_insert(e);
    }
    let mut new_eps: BTreeMap<&[String], &Episode> = BTreeMap::new();
    for e in &n.episodes {
        new_eps.entry(&e.events).or_insert(e);
    }
    let mut c = FunctionChange {
        name: n.name.clone(),
        file: n.file.clone(),
        line: n.line,
        kind: ChangeKind::Changed,
        evidence,
        class: change(o.class, n.class),
        invocations: change(o.invocations, n.invocations),
        episodes_added: Vec::new(),
        episodes_removed: Vec::new(),
        support: Vec::new(),
    };
    for e in &n.episodes {
        match old_eps.remove(e.events.as_slice()) {
            // the first of a repeated episode only; a one-sided one as the model says
            None if new_eps.remove(e.events.as_slice()).is_some()
                && (!model || noise::one_sided_change(e, ns, os, options)) =>
            {
                c.episodes_added.push(episode_summary(e, n.invocations));
            }
            Some(old)
                if options.support_changed(old.support, e.support)
                    && (!model || noise::shared_change(old, e, (os, ns), options)) =>
            {
                c.support.push(SupportChange {
                    events: e.events.clone(),
                    old: old.support,
                    new: e.support,
                    old_se: round6(old.standard_error(o.invocations)),
                    new_se: round6(e.standard_error(n.invocations)),
                });
            }
            _ => {}
        }
    }
    for e in &o.episodes {
        if old_eps.remove(e.events.as_slice()).is_some()
            && (!model || noise::one_sided_change(e, os, ns, options))
        {
            c.episodes_removed.push(episode_summary(e, o.invocations));
        }
    }
    // coverage changes when a signature starts or stops resting on enough invocations;
    // a function without episodes on its covered side has no signature to trust
    c.kind = match (evidence.old_enough, evidence.new_enough) {
        _ if o.class == Class::Outside || n.class == Class::Outside => ChangeKind::Outside,
        (false, true) if !n.episodes.is_empty() => ChangeKind::NewlyCovered,
        (true, false) if !o.episodes.is_empty() => ChangeKind::NoLongerCovered,
        _ if !c.is_signature_change() => ChangeKind::Invocations,
        (true, true) if c.class.is_none() && noise::process_state_only(&c, o, n) => {
            ChangeKind::ProcessState
        }
        (true, true) => ChangeKind::Changed,
        _ => ChangeKind::LowEvidence,
    };
    let any = c.is_signature_change() || c.invocations.is_some();
    any.then_some(c)
}

fn target_changes(old: &Sigdb, new: &Sigdb) -> Vec<FieldChange> {
    let (o, n) = (&old.header.target, &new.header.target);
    let mut out = Vec::new();
    let mut push = |field: String, old: Value, new: Value| {
        if old != new {
            out.push(FieldChange { field, old, new });
        }
    };
    push("name".into(), o.name.clone().into(), n.name.clone().into());
    push(
        "version".into(),
        o.version.clone().into(),
        n.version.clone().into(),
    );
    let paths = |t: &crate::Target| -> Value {
        let mut p: Vec<&str> = t.objects.iter().map(|x| x.path.as_str()).collect();
        p.sort_unstable();
        p.into()
    };
    push("objects".into(), paths(o), paths(n));
    // build-ids of the objects on both sides (the paths usually stay, the ids change)
    let old_ids: BTreeMap<&str, &Option<String>> = o
        .objects
        .iter()
        .map(|x| (x.path.as_str(), &x.build_id))
        .collect();
    let mut new_objects: Vec<_> = n.objects.iter().collect();
    new_objects.sort();
    for x in new_objects {
        if let Some(old_id) = old_ids.get(x.path.as_str()) {
            push(
                format!("build_id[{}]", x.path),
                to_value(old_id),
                to_value(&x.build_id),
            );
        }
    }
    out
}

fn param_changes(old: &Sigdb, new: &Sigdb) -> Vec<FieldChange> {
    let (o, n) = (&old.header.training, &new.header.training);
    let mut out = Vec::new();
    if o.tool != n.tool {
        out.push(FieldChange {
            field: "tool".into(),
            old: o.tool.clone().into(),
            new: n.tool.clone().into(),
        });
    }
    out.extend(fields(&to_value(&o.params), &to_value(&n.params)));
    out
}

/// Field-by-field changes of two JSON objects (one level; keys in sorted order).
fn fields(old: &Value, new: &Value) -> Vec<FieldChange> {
    let empty = serde_json::Map::new();
    let o = old.as_object().unwrap_or(&empty);
    let n = new.as_object().unwrap_or(&empty);
    let mut keys: Vec<&String> = o.keys().chain(n.keys()).collect();
    keys.sort_unstable();
    keys.dedup();
    keys.into_iter()
        .filter_map(|k| {
            let (a, b) = (
                o.get(k).unwrap_or(&Value::Null),
                n.get(k).unwrap_or(&Value::Null),
            );
            (a != b).then(|| FieldChange {
                field: k.clone(),
                old: a.clone(),
                new: b.clone(),
            })
        })
        .collect()
}

fn to_value(x: &impl Serialize) -> Value {
    // plain data of this crate: serialising to a Value cannot fail
    serde_json::to_value(x).unwrap_or(Value::Null)
}

/// Relative change in percent, for reports; `None` from 0.
pub fn percent(old: f64, new: f64) -> Option<f64> {
    (old != 0.0).then(|| round6((new - old) / old.abs() * 100.0))
}
