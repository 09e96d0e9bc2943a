//! Recording one command: launch it paused, start the capture on its process tree,
//! attach the planned probes, write the trace header, release it, stream events into the
//! trace until it ends, then detach and write the footer.
//!
//! The trace is flushed every [`RecordOptions::flush_every`] (with the invocation counts
//! so far), so a runner killed by SIGKILL or a power cut leaves a readable prefix. The
//! recording ends when the launched process ends; descendants that outlive it (daemons
//! a test suite forgot) are traced until then.

use std::ffi::OsString;
use std::fs::File;
use std::io::BufWriter;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use capture::{CaptureError, Config, Filter, Session, Stats};
use host::identity::Identity;
use host::signals;
use host::{Command, ExitStatus};
use trace::{CaptureMode, Event, Footer, FunctionId, Header, TraceError, TraceWriter};

use crate::jvm::{JvmCoverage, JvmOptions, JvmRun, JvmSetupError};
use crate::plan::Plan;
use crate::progress::Progress;

/// How to record.
#[derive(Debug)]
pub struct RecordOptions<'a> {
    pub output: PathBuf,
    /// Program and arguments.
    pub command: Vec<OsString>,
    pub identity: Identity,
    /// The probes; `None` records syscalls only (unless `jvm` is given).
    pub plan: Option<&'a Plan>,
    /// JVM application code to instrument with the agent (a Full capture even without
    /// `plan`).
    pub jvm: Option<&'a JvmOptions>,
    pub ring_bytes: usize,
    pub max_frames: u8,
    /// Flush the trace (and record invocation counts) this often.
    pub flush_every: Duration,
    pub progress: bool,
    /// Remove the probe of a function once it has been entered this often with at most
    /// one syscall per [`MUTE_RATE`] entries attributed to it ([`Session::mute`]); `None`
    /// never does.
    pub mute_after: Option<u64>,
}

/// A muted function made at most one syscall per this many invocations before its probe
/// was removed: its signature is empty (an episode needs half an occurrence per
/// invocation), and what it would still make adds at most as much to its callers'.
pub const MUTE_RATE: u64 = 10_000;

/// How often the invocation counts are read for muting: a hot function is entered
/// millions of times a second, so the probes it costs past the threshold are what this
/// lets through.
const MUTE_EVERY: Duration = Duration::from_millis(100);

/// What a recording did.
#[derive(Clone, Debug)]
pub struct Recording {
    pub status: ExitStatus,
    /// A termination signal the runner received and forwarded to the command.
    pub interrupted: Option<i32>,
    pub stats: Stats,
    pub mode: CaptureMode,
    /// Bytes of the finished trace file.
    pub trace_bytes: u64,
    /// Events written to the trace.
    pub events_written: u64,
    /// From the release of the command to its end.
    pub wall: Duration,
    /// Loading the BPF programs and attaching everything.
    pub setup: Duration,
    /// Attaching the entry probes (part of `setup`).
    pub attach: Duration,
    /// Detaching and the last drain.
    pub finish: Duration,
    /// Final invocation counts of the functions hit.
    pub invocations: Vec<(FunctionId, u64)>,
    /// Functions whose probes were removed once they had converged (`mute_after`), with
    /// their invocations then (their counts stop there).
    pub muted: Vec<(FunctionId, u64)>,
    /// Rounds of muting that removed probes, and the time they took (re-linking).
    pub mute_rounds: (u32, Duration),
    /// Also written into the trace footer.
    pub notes: Vec<String>,
    /// The JVM methods, when JVM application code was named.
    pub jvm: Option<JvmCoverage>,
}

/// Why a recording failed (the command's own failure is not an error).
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error(transparent)]
    Capture(#[from] CaptureError),
    #[error(transparent)]
    Launch(#[from] host::HostError),
    #[error("cannot create the trace file {path}: {source}")]
    Output {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write the trace file {path}: {source}")]
    Trace {
        path: PathBuf,
        #[source]
        source: TraceError,
    },
    #[error("cannot install the signal handlers: {0}")]
    Signals(#[source] std::io::Error),
    #[error(transparent)]
    Jvm(#[from] JvmSetupError),
    #[error(transparent)]
    Plan(#[from] crate::plan::PlanError),
}

/// Removes a trace file that never got a released command behind it.
struct Unfinished<'a> {
    path: &'a Path,
    armed: bool,
}

impl Drop for Unfinished<'_> {
    fn drop(&mut self) {
        if self.armed {
            let _ = std::fs::remove_file(self.path);
        }
    }
}

/// Where events go: the trace writer, remembering the first write error (the capture's
/// sink cannot fail) and the last invocation counts.
struct Out {
    writer: TraceWriter<BufWriter<File>>,
    error: Option<TraceError>,
    counts: std::collections::BTreeMap<FunctionId, u64>,
    jvm: Option<JvmRun>,
    /// JVM methods new to the trace, written before the event that names them.
    new_objects: Vec<trace::Object>,
    /// A `java` the command ran while no JVM application code was named.
    unnamed_java: Option<String>,
    /// Syscalls attributed to each function (the innermost frame), by id (ids are dense).
    own: Vec<u64>,
    /// Functions whose probe was removed, with their invocations then.
    muted: Vec<(FunctionId, u64)>,
    /// Functions muting has dealt with (removed, or probed by no link of the session).
    muted_ids: std::collections::HashSet<FunctionId>,
    /// Rounds that removed probes, and their time.
    mute_rounds: (u32, Duration),
}

impl Out {
    /// Ends the JVM side: the late method table, the final invocation counts and the
    /// notes about what could not be attributed. Returns what the agent covered.
    fn finish_jvm(&mut self, stats: &Stats, notes: &mut Vec<String>) -> Option<JvmCoverage> {
        let mut coverage = None;
        if let Some(mut j) = self.jvm.take() {
            let (objects, counts, jvm_notes) = j.finish(capture::monotonic_ns());
            coverage = Some(j.coverage);
            self.add_objects(&objects);
            if let Some(ev) = counts {
                self.put(ev);
            }
            notes.extend(jvm_notes);
            if stats.jvm_unreadable + stats.jvm_deep > 0 {
                notes.push(format!(
                    "JVM: {} syscalls of JVM threads whose shadow stack could not be read, {} \
                     made deeper than the shadow stack holds (attributed to an ancestor)",
                    stats.jvm_unreadable, stats.jvm_deep
                ));
            }
            if j.dropped_agent_syscalls > 0 {
                tracing::info!(
                    "{} syscalls of the agent's own threads left out",
                    j.dropped_agent_syscalls
                );
            }
        }
        if let Some(java) = &self.unnamed_java {
            notes.push(format!(
                "the command ran a JVM ({java}) but no JVM application code was named: its \
                 Java methods were not traced; name them with --jvm-app PACKAGE or --jvm-jar JAR"
            ));
        }
        coverage
    }

    fn put(&mut self, mut ev: Event) {
        if let Event::Exec { path, .. } = &ev
            && self.jvm.is_none()
            && self.unnamed_java.is_none()
            && path.rsplit('/').next() == Some("java")
        {
            self.unnamed_java = Some(path.clone());
        }
        if let Some(j) = &mut self.jvm {
            if !j.translate(&mut ev, &mut self.new_objects) {
                return;
            }
            if !self.new_objects.is_empty() {
                let objs = std::mem::take(&mut self.new_objects);
                self.add_objects(&objs);
            }
        }
        if let Event::Syscall(sc) = &ev
            && let Some(top) = sc.frames().first()
        {
            let f = top.func as usize;
            if f >= self.own.len() {
                self.own.resize(f + 1, 0);
            }
            self.own[f] += 1;
        }
        if let Event::Invocations { counts, .. } = &ev {
            // cumulative per function: ELF counts from the capture, JVM ones from the agents
            self.counts.extend(counts.iter().copied());
        }
        if self.error.is_none()
            && let Err(e) = self.writer.write(&ev)
        {
            self.error = Some(e);
        }
    }

    fn add_objects(&mut self, objs: &[trace::Object]) {
        if self.error.is_none()
            && let Err(e) = self.writer.add_objects(objs)
        {
            self.error = Some(e);
        }
    }

    fn flush(&mut self) {
        if self.error.is_none()
            && let Err(e) = self.writer.flush()
        {
            self.error = Some(e);
        }
    }
}

/// Runs the command under capture and writes its trace.
pub fn record(opts: &RecordOptions<'_>) -> Result<Recording, RecordError> {
    signals::catch(&signals::TERMINATION, signals::Second::Count).map_err(RecordError::Signals)?;
    // Signals from now on are for this command, even those arriving before its release.
    let forwarded = signals::received().0;
    let trace_err = |source| RecordError::Trace {
        path: opts.output.clone(),
        source,
    };
    let Some((program, args)) = opts.command.split_first() else {
        return Err(host::HostError::Config("no command given".into()).into());
    };
    // Created first, so an unwritable path fails before anything runs. The runner (root)
    // owns it; 0644 whatever the umask, so the user can read it afterwards.
    let file = File::create(&opts.output).map_err(|source| RecordError::Output {
        path: opts.output.clone(),
        source,
    })?;
    let mut unfinished = Unfinished {
        path: &opts.output,
        armed: true,
    };
    let _ = file.set_permissions(std::fs::Permissions::from_mode(0o644));

    let mut cmd = Command::new(program);
    // Contained: nothing the suite starts outlives the runner, even one killed by SIGKILL.
    cmd.args(args).contain("runner");
    opts.identity.apply(&mut cmd);
    let first_jvm_id = opts.plan.map_or(0, Plan::functions) as FunctionId;
    let jvm = match opts.jvm.filter(|j| !j.is_empty()) {
        Some(j) => {
            let (run, tool_options) = JvmRun::prepare(j, &opts.identity, first_jvm_id)?;
            tracing::info!("JAVA_TOOL_OPTIONS={tool_options}");
            cmd.env("JAVA_TOOL_OPTIONS", tool_options);
            Some(run)
        }
        None => None,
    };
    let paused = cmd.spawn_paused()?;
    let root = paused.pid();

    let setup_started = Instant::now();
    let config = session_config(opts, jvm.is_some(), Filter::Tree { root });
    let poll_interval = config.poll_interval;
    let mode = config.mode;
    let mut session = Session::start(config)?;
    let mut notes = Vec::new();
    let attach = match opts.plan {
        Some(plan) => attach_probes(&mut session, plan, &mut notes)?,
        None => Duration::ZERO,
    };
    let setup = setup_started.elapsed();

    let (mono, real) = capture::clock_pair();
    let header = Header {
        host: read_trimmed("/proc/sys/kernel/hostname"),
        kernel: capture::preflight::kernel_release(),
        command: opts
            .command
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect(),
        start_monotonic_ns: mono,
        start_realtime_ns: real,
        max_frames: opts.max_frames,
        objects: opts.plan.map(|p| p.objects.clone()).unwrap_or_default(),
        ..Header::new(crate::TOOL, mode)
    };
    let writer =
        TraceWriter::new(BufWriter::with_capacity(1 << 20, file), &header).map_err(trace_err)?;
    let mut out = Out {
        writer,
        error: None,
        counts: Default::default(),
        jvm,
        new_objects: Vec::new(),
        unnamed_java: None,
        own: Vec::new(),
        muted: Vec::new(),
        muted_ids: Default::default(),
        mute_rounds: (0, Duration::ZERO),
    };

    let mut child = paused.release()?;
    unfinished.armed = false;
    tracing::info!("started {} as pid {root}", program.to_string_lossy());

    let started = Instant::now();
    let (status, interrupted) = run_to_exit(
        opts,
        &mut session,
        &mut child,
        &mut out,
        RunState {
            mode,
            poll_interval,
            forwarded,
        },
    )?;
    let wall = started.elapsed();

    let finish_started = Instant::now();
    let stats = session.finish(&mut |ev| out.put(ev))?;
    let jvm_coverage = out.finish_jvm(&stats, &mut notes);
    let finish = finish_started.elapsed();
    if let Some(e) = out.error.take() {
        return Err(trace_err(e));
    }
    notes.extend(capture_notes(&stats));
    if !out.muted.is_empty() {
        notes.push(format!(
            "{} functions lost their probes while the command ran, each after {} or more \
             invocations with at most one syscall per {MUTE_RATE}: their invocation counts \
             stop there, and syscalls under them since went to their callers; the runner \
             summary names them",
            out.muted.len(),
            opts.mute_after.unwrap_or(0)
        ));
    }
    if let Some(sig) = interrupted {
        notes.push(format!(
            "the runner received {} and forwarded it to the command's process group",
            signals::name(sig)
        ));
    }
    let (exit_code, exit_signal) = match status {
        ExitStatus::Exited(c) => (Some(c), None),
        ExitStatus::Signaled(s) => (None, Some(s)),
    };
    let footer = Footer {
        end_monotonic_ns: capture::monotonic_ns(),
        exit_code,
        exit_signal,
        events: 0,
        lost: stats.lost,
        notes: notes.clone(),
    };
    let events_written = out.writer.stats().events;
    let buf = out.writer.finish(footer).map_err(trace_err)?;
    let file = buf.into_inner().map_err(|e| RecordError::Output {
        path: opts.output.clone(),
        source: e.into_error(),
    })?;
    let trace_bytes = file.metadata().map(|m| m.len()).unwrap_or(0);
    if let Identity::User {
        user,
        from_sudo: true,
    } = &opts.identity
    {
        // Under sudo, the trace belongs to the user who asked for it.
        let _ = std::os::unix::fs::fchown(&file, Some(user.uid), Some(user.gid));
    }
    Ok(Recording {
        status,
        interrupted,
        stats,
        mode,
        trace_bytes,
        events_written,
        wall,
        setup,
        attach,
        finish,
        invocations: out.counts.into_iter().collect(),
        muted: out.muted,
        mute_rounds: out.mute_rounds,
        notes,
        jvm: jvm_coverage,
    })
}

/// The capture's configuration: full (frames) with a plan or a JVM, syscalls only
/// otherwise.
fn session_config(opts: &RecordOptions<'_>, jvm: bool, filter: Filter) -> Config {
    let mut config = match (opts.plan, jvm) {
        (Some(plan), _) => {
            let mut c = Config::full(filter, Vec::new());
            c.function_capacity = Some(plan.functions() as u32);
            c
        }
        (None, true) => {
            let mut c = Config::full(filter, Vec::new());
            c.function_capacity = Some(0);
            c
        }
        (None, false) => Config::syscalls_only(filter),
    };
    config.ring_bytes = opts.ring_bytes;
    config.max_frames = opts.max_frames;
    config
}

/// Attaches the plan's probes, object by object; returns the time it took and adds a
/// note per object whose functions share entry addresses.
fn attach_probes(
    session: &mut Session,
    plan: &Plan,
    notes: &mut Vec<String>,
) -> Result<Duration, RecordError> {
    let mut attach = Duration::ZERO;
    for probes in plan.probes() {
        let info = session.attach(&probes)?;
        attach += info.took;
        tracing::info!(
            "attached {} probes to {} in {:.1} ms",
            info.probes,
            info.path.display(),
            info.took.as_secs_f64() * 1e3
        );
        if info.duplicates > 0 {
            notes.push(format!(
                "{}: {} functions share an entry address with another; each address is \
                 probed once, under the first name",
                info.path.display(),
                info.duplicates
            ));
        }
    }
    // After attaching: a rebuild that landed since planning (or while attaching) is
    // caught before the command runs with probes at the wrong offsets.
    plan.check_unchanged()?;
    if plan.pruned() > 0 {
        notes.push(format!(
            "{} functions of the header have no probe ({}): their invocation counts are \
             0 and their signatures empty by construction; the runner summary names them",
            plan.pruned(),
            crate::plan::PRUNED_REASON
        ));
    }
    Ok(attach)
}

/// How the command's run is watched: the capture mode, how often to poll, and the
/// signals already passed on.
struct RunState {
    mode: CaptureMode,
    poll_interval: Duration,
    forwarded: u32,
}

/// Drains the capture into the trace until the command exits, passing signals on (a
/// second one as SIGKILL) and flushing invocation counts now and then. Returns the exit
/// status and the first signal received, if any.
fn run_to_exit(
    opts: &RecordOptions<'_>,
    session: &mut Session,
    child: &mut host::Child,
    out: &mut Out,
    st: RunState,
) -> Result<(ExitStatus, Option<i32>), RecordError> {
    let RunState {
        mode,
        poll_interval,
        mut forwarded,
    } = st;
    let mut progress = Progress::new(opts.progress, opts.plan.map_or(0, Plan::probed));
    let mut last_flush = Instant::now();
    let mut last_mute = Instant::now();
    let mut interrupted = None;
    let status = loop {
        session.poll(&mut |ev| out.put(ev))?;
        if let Some(s) = child.try_wait()? {
            break s;
        }
        let (count, sig) = signals::received();
        if count > forwarded {
            // The first signal is passed on; a second one means "now": SIGKILL.
            let send = if interrupted.is_none() {
                interrupted = Some(sig);
                sig
            } else {
                signals::SIGKILL
            };
            tracing::warn!(
                "received {}: sending {} to the command",
                signals::name(sig),
                signals::name(send)
            );
            progress.println(&format!(
                "runner: {}, sending {} to the command's process group; the trace is kept",
                signals::name(sig),
                signals::name(send)
            ));
            if let Err(e) = child.signal(send, true) {
                tracing::warn!("{e}");
            }
            forwarded = count;
        }
        if last_flush.elapsed() >= opts.flush_every {
            if mode == CaptureMode::Full {
                session.emit_invocations(&mut |ev| out.put(ev));
            }
            out.flush();
            last_flush = Instant::now();
        }
        if let Some(e) = out.error.take() {
            // The trace cannot be written (disk full...): stop the tests rather than let
            // them run untraced for nothing.
            let _ = child.signal(signals::SIGTERM, true);
            let _ = child.wait();
            return Err(RecordError::Trace {
                path: opts.output.clone(),
                source: e,
            });
        }
        if let Some(after) = opts.mute_after
            && mode == CaptureMode::Full
            && last_mute.elapsed() >= MUTE_EVERY
        {
            mute_converged(session, out, after);
            last_mute = Instant::now();
        }
        if progress.due() {
            progress.update(&session.stats());
        }
        std::thread::sleep(poll_interval);
    };
    progress.finish();
    Ok((status, interrupted))
}

/// Removes the probes of functions entered at least `after` times that (almost) never
/// made a syscall themselves: the hot helpers (allocators, hash lookups, comparators)
/// that cost most of a suite's probe hits and add nothing to any signature.
fn mute_converged(session: &mut Session, out: &mut Out, after: u64) {
    let own = |f: &FunctionId| out.own.get(*f as usize).copied().unwrap_or(0);
    let hot: std::collections::HashMap<FunctionId, u64> = session
        .invocations()
        .into_iter()
        .filter(|(f, n)| {
            *n >= after && !out.muted_ids.contains(f) && own(f).saturating_mul(MUTE_RATE) <= *n
        })
        .collect();
    if hot.is_empty() {
        return;
    }
    let started = Instant::now();
    let (removed, error) = session.mute(&hot.keys().copied().collect());
    let took = started.elapsed();
    if let Some(e) = error {
        tracing::warn!("removing the probes of converged functions: {e}");
    }
    // a function the session does not probe (a JVM method) is not tried again
    out.muted_ids.extend(hot.keys().copied());
    if removed.is_empty() {
        return;
    }
    out.mute_rounds.0 += 1;
    out.mute_rounds.1 += took;
    let label = format!("muted {} functions", removed.len());
    out.muted.extend(removed.iter().map(|f| (*f, hot[f])));
    out.put(Event::Mark {
        ts: capture::monotonic_ns(),
        label,
    });
}

/// Warnings from the capture counters, for the footer and the summary.
fn capture_notes(stats: &Stats) -> Vec<String> {
    let mut notes = Vec::new();
    if stats.lost > 0 {
        notes.push(format!(
            "{} events lost: the ring buffer was full; raise --ring-size",
            stats.lost
        ));
    }
    if stats.stack_overflows > 0 {
        notes.push(format!(
            "{} times a thread was more than {} probed frames deep; outermost frames were \
             dropped",
            stats.stack_overflows,
            capture::STACK_DEPTH
        ));
    }
    if stats.unfollowed > 0 {
        notes.push(format!(
            "{} new processes were not followed: the process set was full",
            stats.unfollowed
        ));
    }
    if stats.no_state > 0 {
        notes.push(format!(
            "{} events skipped: per-thread state could not be allocated",
            stats.no_state
        ));
    }
    if stats.malformed > 0 {
        notes.push(format!(
            "{} records did not decode (a perfscope bug: please report it)",
            stats.malformed
        ));
    }
    notes
}

fn read_trimmed(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}
