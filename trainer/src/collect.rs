//! Reading traces into per-function invocation sequences: the function registry (keyed
//! like sigdb records, so clones and shards merge), invocation totals, and what each trace
//! looked like. Streams every trace; only the per-function sequences stay in memory.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rustc_hash::FxHashMap;
use trace::{CaptureMode, Event, Object, TraceReader};

use crate::attribution::{Attributor, LocalFn, NO_COMM, SegmentSink};
use crate::episode::EventType;
use crate::error::TrainError;
use crate::feed::{self, Item};
use crate::params::{Params, class_of};
use crate::store::{FunctionSeqs, SyscallTable};

/// The name of the pseudo-function that collects syscalls made with no live application
/// frame (sigdb class `outside`).
pub const OUTSIDE_NAME: &str = "[outside application code]";

/// Registry index of the outside pseudo-function.
pub(crate) const OUTSIDE: u32 = 0;

/// How often (in events) the progress callback is called.
const PROGRESS_EVERY: u64 = 1 << 16;

/// What the sigdb record of a function says about where it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct FunctionInfo {
    pub name: String,
    pub file: Option<String>,
    pub line: Option<u32>,
    pub linkage_name: Option<String>,
    pub object: String,
    pub class: sigdb::Class,
    /// A JVM method's descriptor: with the name and file, the key.
    pub descriptor: Option<String>,
}

/// One function of the registry and what was collected for it.
#[derive(Debug)]
pub(crate) struct FunctionData {
    pub info: FunctionInfo,
    pub seqs: FunctionSeqs,
    /// The support denominator: invocations including those without syscalls.
    pub invocations: u64,
    /// Syscalls made while it was live in the frames, by syscall id.
    pub inclusive: Vec<u64>,
    /// Attributed syscalls by thread name id.
    pub threads: FxHashMap<u32, u64>,
    /// `[file offset, size]` of each entry merged into it.
    pub ranges: Vec<[u64; 2]>,
}

impl FunctionData {
    fn new(info: FunctionInfo, keep_ts: bool) -> FunctionData {
        FunctionData {
            info,
            seqs: FunctionSeqs::new(keep_ts),
            invocations: 0,
            inclusive: Vec::new(),
            threads: FxHashMap::default(),
            ranges: Vec::new(),
        }
    }
}

/// Progress of reading: bytes of the current file read so far, events so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    pub bytes: u64,
    pub events: u64,
}

/// Everything collected from the traces, ready for mining.
#[derive(Debug)]
pub struct Collected {
    pub(crate) functions: Vec<FunctionData>,
    pub(crate) syscalls: SyscallTable,
    pub(crate) traces: Vec<sigdb::TraceSummary>,
    pub(crate) objects: BTreeSet<sigdb::ObjectRef>,
    pub(crate) warnings: Vec<String>,
    pub(crate) syscalls_outside_app: u64,
    /// Thread names by id.
    pub(crate) comms: Vec<String>,
    /// Per damaged trace, what it lost, in a sentence with the numbers.
    pub damage: Vec<String>,
}

impl Collected {
    /// [`TrainError::Damaged`] when a trace lost part of itself, unless `keep_going`.
    pub fn check_damage(&self, keep_going: bool) -> Result<(), TrainError> {
        if self.damage.is_empty() || keep_going {
            return Ok(());
        }
        Err(TrainError::Damaged {
            list: self.damage.join("\n  "),
        })
    }
}

/// Reads traces one after another into one registry.
#[derive(Debug)]
pub struct Collector {
    params: Params,
    functions: Vec<FunctionData>,
    by_key: FxHashMap<(String, Option<String>, Option<String>), u32>,
    syscalls: SyscallTable,
    traces: Vec<sigdb::TraceSummary>,
    objects: BTreeSet<sigdb::ObjectRef>,
    warnings: Vec<String>,
    syscalls_outside_app: u64,
    comms: Vec<String>,
    comm_ids: FxHashMap<String, u32>,
    damage: Vec<String>,
}

/// Where closed invocations go: the registry, the per-trace count of invocations seen
/// with syscalls, and the first function that overflowed its storage.
struct Store<'a> {
    functions: &'a mut [FunctionData],
    seen: &'a mut Vec<u64>,
    overflow: &'a mut Option<u32>,
}

impl SegmentSink for Store<'_> {
    fn segment(&mut self, func: u32, events: &[(EventType, u64)]) {
        let f = func as usize;
        if self.functions[f].seqs.push_segment(events) {
            self.seen[f] += 1;
        } else {
            self.overflow.get_or_insert(func);
        }
    }

    fn live(&mut self, func: u32, id: EventType) {
        let inc = &mut self.functions[func as usize].inclusive;
        let i = usize::from(id);
        if i >= inc.len() {
            inc.resize(i + 1, 0);
        }
        inc[i] += 1;
    }

    fn attributed(&mut self, func: u32, comm: u32) {
        if comm != NO_COMM {
            *self.functions[func as usize]
                .threads
                .entry(comm)
                .or_insert(0) += 1;
        }
    }
}

/// Counts bytes read, for the progress bar (read on another thread than the reader's).
struct Counting<R> {
    inner: R,
    bytes: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// What reading one trace counted, beside the per-function sequences.
#[derive(Default)]
struct Tally {
    events: u64,
    syscalls: u64,
    /// Events the kernel lost, from the trace's lost records.
    lost: u64,
    /// Whether the trace had invocation counts.
    has_counts: bool,
    /// Invocation counts naming functions missing from the function table.
    unknown_counts: u64,
    /// The largest count of each function id of the trace (its counters only grow).
    inv_max: Vec<u64>,
}

/// One trace, read: what [`Collector::account`] records about it.
struct TraceRead<'a> {
    name: &'a str,
    command: Vec<String>,
    mode: CaptureMode,
    /// Whether its function table has any application function.
    any_app: bool,
    tally: Tally,
    undercounted: usize,
    unknown_frames: u64,
    file_len: Option<u64>,
}

impl Collector {
    /// A collector with `params` (validated by the caller).
    pub fn new(params: &Params) -> Collector {
        let outside = FunctionData::new(
            FunctionInfo {
                name: OUTSIDE_NAME.into(),
                file: None,
                line: None,
                linkage_name: None,
                object: String::new(),
                class: sigdb::Class::Outside,
                descriptor: None,
            },
            params.expiry_ns.is_some(),
        );
        let mut by_key = FxHashMap::default();
        // a real function could only take this key by being named like it: it would merge
        by_key.insert((OUTSIDE_NAME.to_string(), None, None), OUTSIDE);
        Collector {
            params: params.clone(),
            functions: vec![outside],
            by_key,
            syscalls: SyscallTable::default(),
            traces: Vec::new(),
            objects: BTreeSet::new(),
            warnings: Vec::new(),
            syscalls_outside_app: 0,
            comms: Vec::new(),
            comm_ids: FxHashMap::default(),
            damage: Vec::new(),
        }
    }

    /// Reads the trace at `path`; `progress` is called now and then.
    pub fn add_trace(
        &mut self,
        path: &Path,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<(), TrainError> {
        let file = File::open(path).map_err(|source| TrainError::Trace {
            path: path.to_owned(),
            source: trace::TraceError::Open {
                path: path.to_owned(),
                source,
            },
        })?;
        let file_len = file.metadata().map(|m| m.len()).ok();
        let bytes = Arc::new(AtomicU64::new(0));
        let input = BufReader::with_capacity(
            1 << 16,
            Counting {
                inner: file,
                bytes: bytes.clone(),
            },
        );
        let name = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into(),
        );
        self.read(&name, path, input, file_len, &mut |events| {
            progress(Progress {
                bytes: bytes.load(Ordering::Relaxed),
                events,
            })
        })
    }

    /// Reads a trace from `input`, named `name` in the database.
    pub fn add_reader(&mut self, name: &str, input: impl Read + Send) -> Result<(), TrainError> {
        self.read(name, Path::new(name), input, None, &mut |_| {})
    }

    fn read(
        &mut self,
        name: &str,
        path: &Path,
        input: impl Read + Send,
        file_len: Option<u64>,
        progress: &mut dyn FnMut(u64),
    ) -> Result<(), TrainError> {
        let err = |source| TrainError::Trace {
            path: path.to_owned(),
            source,
        };
        let r = TraceReader::new(input).map_err(err)?;
        let header = r.header().clone();
        let mut objects: Vec<Object> = header.objects.clone();
        let mut local: Vec<LocalFn> = Vec::new();
        self.map_objects(&objects, &mut local);
        let mut att = Attributor::new(
            self.params.callers,
            header.max_frames,
            self.params.outside_gap_ns,
            OUTSIDE,
        );
        let mut seen = vec![0u64; self.functions.len()];
        let mut overflow = None;
        let mut tally = Tally::default();
        let end = feed::pump(
            r,
            |item| {
                let ev = match item {
                    Item::Objects(late) => {
                        self.map_objects(late, &mut local);
                        seen.resize(self.functions.len(), 0);
                        objects.extend_from_slice(late);
                        return Ok(());
                    }
                    Item::Event(ev) => ev,
                };
                tally.events += 1;
                if tally.events % PROGRESS_EVERY == 0 {
                    progress(tally.events);
                }
                let store = &mut Store {
                    functions: &mut self.functions,
                    seen: &mut seen,
                    overflow: &mut overflow,
                };
                match ev {
                    Event::Syscall(s) => {
                        tally.syscalls += 1;
                        let id = self.syscalls.intern(s.nr).ok_or_else(|| {
                            TrainError::TooManySyscalls {
                                path: path.to_owned(),
                            }
                        })?;
                        att.syscall(&s, id, &local, store);
                    }
                    Event::Fork {
                        parent_tid,
                        child_pid,
                        child_tid,
                        ..
                    } => att.fork(parent_tid, child_pid, child_tid, store),
                    Event::Comm { pid, tid, comm, .. } => {
                        let next = self.comms.len() as u32;
                        let id = *self.comm_ids.entry(comm).or_insert_with_key(|c| {
                            self.comms.push(c.clone());
                            next
                        });
                        att.comm(pid, tid, id);
                    }
                    Event::Exec { pid, tid, .. } => att.exec(pid, tid, store),
                    Event::Exit { tid, .. } => att.exit(tid, store),
                    Event::Lost { count, .. } => tally.lost = tally.lost.saturating_add(count),
                    Event::Invocations { counts, .. } => {
                        tally.has_counts = true;
                        for (id, n) in counts {
                            if local.get(id as usize).is_some_and(|l| l.known) {
                                if tally.inv_max.len() < local.len() {
                                    tally.inv_max.resize(local.len(), 0);
                                }
                                let m = &mut tally.inv_max[id as usize];
                                *m = (*m).max(n);
                            } else {
                                tally.unknown_counts += 1;
                            }
                        }
                    }
                    Event::ThreadState { .. }
                    | Event::Mark { .. }
                    | Event::Stack { .. }
                    | Event::Locks { .. } => {}
                }
                Ok(())
            },
            err,
        )?;
        progress(tally.events);
        att.finish(&mut Store {
            functions: &mut self.functions,
            seen: &mut seen,
            overflow: &mut overflow,
        });
        if let Some(f) = overflow {
            return Err(TrainError::TooManyEvents {
                name: self.functions[f as usize].info.name.clone(),
            });
        }

        let undercounted = self.add_invocations(&local, &tally.inv_max, &seen, tally.has_counts);
        self.syscalls_outside_app += att.outside_syscalls;
        for o in &objects {
            self.objects.insert(sigdb::ObjectRef {
                path: o.path.clone(),
                build_id: o.build_id.clone(),
            });
        }
        let read = TraceRead {
            name,
            command: header.command,
            mode: header.mode,
            any_app: local.iter().any(|l| l.app),
            tally,
            undercounted,
            unknown_frames: att.unknown_frames,
            file_len,
        };
        self.account(read, &end);
        Ok(())
    }

    /// Adds one trace's invocations to the totals: its counts (clones add up), never fewer
    /// than the invocations seen with syscalls; without counts, those seen. Returns how many
    /// functions made syscalls in more invocations than their count says.
    fn add_invocations(
        &mut self,
        local: &[LocalFn],
        inv_max: &[u64],
        seen: &[u64],
        has_counts: bool,
    ) -> usize {
        let mut counted = vec![0u64; self.functions.len()];
        for (l, n) in local.iter().zip(inv_max) {
            if l.known {
                counted[l.global as usize] += n;
            }
        }
        let mut undercounted = 0;
        for (g, f) in self.functions.iter_mut().enumerate() {
            let s = seen[g];
            f.invocations += if has_counts && g != OUTSIDE as usize {
                if s > counted[g] {
                    undercounted += 1;
                }
                counted[g].max(s)
            } else {
                s
            };
        }
        undercounted
    }

    /// Records what one trace was: its summary, what it lost (damage) and what the user
    /// should know about it (warnings).
    fn account(&mut self, read: TraceRead<'_>, end: &feed::End) {
        let TraceRead {
            name,
            tally,
            file_len,
            unknown_frames,
            ..
        } = &read;
        let (events, lost) = (tally.events, tally.lost);
        let footer_lost = end.footer.as_ref().map_or(0, |f| f.lost);
        // what the reader could not read: a cut file's unread bytes counted from the
        // file's size when the reader could not know it
        let unread_bytes = match (&end.damage, &end.truncation) {
            (Some(d), Some(t)) if d.file_bytes.is_none() => {
                file_len.map_or(d.unread_bytes, |n| n.saturating_sub(t.offset))
            }
            (Some(d), _) => d.unread_bytes,
            (None, _) => 0,
        };
        let unread_share = file_len
            .filter(|&n| n > 0 && unread_bytes > 0)
            .map(|n| (n, 100.0 * unread_bytes as f64 / n as f64));
        let total_lost = lost.max(footer_lost);
        let mut lost_parts = Vec::new();
        if let Some(d) = &end.damage {
            lost_parts.push(match unread_share {
                Some((n, pct)) => format!(
                    "{} ({unread_bytes} of {n} bytes, {pct:.1} % of the file, never read)",
                    d.reason
                ),
                None => d.reason.clone(),
            });
        }
        if total_lost > 0 {
            lost_parts.push(format!(
                "{total_lost} events lost in the kernel ({:.2} % of those captured)",
                100.0 * total_lost as f64 / (events + total_lost) as f64
            ));
        }
        if *unknown_frames > 0 {
            lost_parts.push(format!(
                "{unknown_frames} frames name functions missing from its function table"
            ));
        }
        if !lost_parts.is_empty() {
            self.damage
                .push(format!("trace {name}: {}", lost_parts.join("; ")));
        }
        if let Some(d) = &end.damage {
            self.warnings.push(format!(
                "trace {name} is damaged ({}): used the {events} events before it{}",
                d.reason,
                match unread_share {
                    Some((n, pct)) => {
                        format!("; {unread_bytes} of {n} bytes ({pct:.1} %) were not read")
                    }
                    None => String::new(),
                }
            ));
        }
        self.warn_about(&read);
        self.traces.push(sigdb::TraceSummary {
            name: read.name.to_string(),
            command: read.command,
            events,
            syscalls: read.tally.syscalls,
            lost: total_lost,
            truncated: end.truncation.is_some(),
            unknown_frames: read.unknown_frames,
            unread_bytes,
        });
    }

    /// The warnings about a trace that was read whole but may not train well.
    fn warn_about(&mut self, read: &TraceRead<'_>) {
        let name = read.name;
        let warn = &mut self.warnings;
        if read.tally.events == 0 {
            warn.push(format!(
                "trace {name} holds no events: it adds nothing to the signatures"
            ));
        }
        if read.mode == CaptureMode::SyscallsOnly {
            warn.push(format!(
                "trace {name} is a syscall-only capture without frames: all its syscalls \
                 count as outside application code; train on full captures"
            ));
        } else if !read.any_app {
            let classes: Vec<&str> = self
                .params
                .app_classes
                .iter()
                .map(|&c| class_of(c).as_str())
                .collect();
            warn.push(format!(
                "trace {name} has no application functions (classes {}) in its function \
                 table: all its syscalls count as outside application code; check how \
                 `symbols` classified the functions, or pass --app-classes",
                classes.join(",")
            ));
        }
        if !read.tally.has_counts && read.tally.syscalls > 0 {
            warn.push(format!(
                "trace {name} has no invocation counts: support is computed over the \
                 invocations seen with syscalls, which overestimates it"
            ));
        }
        if read.undercounted > 0 {
            warn.push(format!(
                "trace {name}: {} functions made syscalls in more invocations \
                 than their invocation count says (lost events?); used the larger number",
                read.undercounted
            ));
        }
        if read.unknown_frames > 0 || read.tally.unknown_counts > 0 {
            warn.push(format!(
                "trace {name}: {} frames and {} invocation counts name \
                 functions missing from the function table; those frames were skipped \
                 like library frames",
                read.unknown_frames, read.tally.unknown_counts
            ));
        }
    }

    /// Maps the functions of `objects` (those of the header, or of a late object chunk).
    fn map_objects(&mut self, objects: &[Object], local: &mut Vec<LocalFn>) {
        let keep_ts = self.params.expiry_ns.is_some();
        for o in objects {
            let object = Path::new(&o.path)
                .file_name()
                .map_or_else(|| o.path.clone(), |n| n.to_string_lossy().into_owned());
            for f in &o.functions {
                let info = FunctionInfo {
                    name: f.name.clone(),
                    file: f.decl_file.clone(),
                    line: f.decl_line,
                    linkage_name: f.linkage_name.clone(),
                    object: object.clone(),
                    class: class_of(f.class),
                    descriptor: f.descriptor.clone(),
                };
                let key = (
                    info.name.clone(),
                    info.file.clone(),
                    info.descriptor.clone(),
                );
                let global = match self.by_key.get(&key) {
                    Some(&g) => {
                        merge_info(&mut self.functions[g as usize].info, info);
                        g
                    }
                    None => {
                        let g = self.functions.len() as u32;
                        self.by_key.insert(key, g);
                        self.functions.push(FunctionData::new(info, keep_ts));
                        g
                    }
                };
                let ranges = &mut self.functions[global as usize].ranges;
                // JVM methods have no code ranges in a file
                if f.size > 0 && !ranges.contains(&[f.file_offset, f.size]) {
                    ranges.push([f.file_offset, f.size]);
                }
                let id = f.id as usize;
                if id >= local.len() {
                    local.resize(id + 1, LocalFn::UNKNOWN);
                }
                local[id] = LocalFn {
                    global,
                    app: self.params.is_app(f.class),
                    known: true,
                };
            }
        }
    }

    /// Ends collection.
    pub fn finish(self) -> Collected {
        Collected {
            functions: self.functions,
            syscalls: self.syscalls,
            traces: self.traces,
            objects: self.objects,
            warnings: self.warnings,
            syscalls_outside_app: self.syscalls_outside_app,
            comms: self.comms,
            damage: self.damage,
        }
    }
}

/// Clones share a record: keep the smallest of each detail, so the order in which
/// objects and traces were read does not matter.
fn merge_info(into: &mut FunctionInfo, other: FunctionInfo) {
    fn min_opt<T: Ord>(a: &mut Option<T>, b: Option<T>) {
        if let Some(b) = b
            && a.as_ref().is_none_or(|a| b < *a)
        {
            *a = Some(b);
        }
    }
    min_opt(&mut into.line, other.line);
    min_opt(&mut into.linkage_name, other.linkage_name);
    if other.object < into.object {
        into.object = other.object;
    }
    into.class = into.class.min(other.class);
}
