//! `perfscope watch`: the online loop. One thread drains the capture into the rolling
//! window every 20 ms, samples /proc once a second, runs the detectors, and answers
//! alarms (SIGUSR1, the socket, the detectors) by taking a snapshot of the recent window
//! (with the syscalls still in flight) and handing it to the analysis thread.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use analysis::Alarm;
use anyhow::{Context, bail};
use capture::{Config, EventSink, Filter, Session, StackConfig, StackSampler, monotonic_ns};
use host::{Child, ExitStatus};
use trace::{Event, Syscall};

use crate::alarm::{self, Incoming, Server, Signals, Waiter};
use crate::cli::{Detect, WatchArgs};
use crate::detector::{self, Detector, DetectorConfig};
use crate::procstat::{Sampler, ThreadSample};
use crate::rolling::{Store, StoreStats};
use crate::target;
use crate::worker::{Job, Outputs, Worker};

/// Thread dumps of each JVM per stack-sampling burst (`jcmd PID Thread.print`): each
/// brings the JVM to a safepoint for a few milliseconds.
const JVM_DUMPS: u32 = 4;

/// An alarm of any source, waiting for its snapshot.
struct Raised {
    source: String,
    waiter: Option<Incoming>,
}

/// Everything the loop owns.
struct Watch<'a> {
    a: &'a WatchArgs,
    session: Session,
    /// Samples user stacks after an alarm, when the kernel allows it.
    stacks: Option<StackSampler>,
    store: Store,
    det: Option<Detector>,
    sampler: Sampler,
    samples: Vec<ThreadSample>,
    worker: Worker,
    /// Processes given (or launched) at start.
    seeds: Vec<u32>,
    started: u64,
    alarms: u64,
    warnings: Vec<String>,
}

/// The capture's events into the rolling window and the detectors; syscalls by
/// reference, as decoded.
struct Ingest<'a> {
    store: &'a mut Store,
    det: Option<&'a mut Detector>,
}

impl EventSink for Ingest<'_> {
    fn event(&mut self, ev: Event) {
        match &ev {
            Event::Syscall(s) => self.syscall(s),
            _ => {
                self.store.push(&ev);
            }
        }
    }

    fn syscall(&mut self, s: &Syscall) {
        let slot = self.store.push_syscall(s);
        if let (Some(d), Some(slot)) = (self.det.as_deref_mut(), slot) {
            d.on_syscall(self.store.slot(slot).group, s.nr as u16, s.dur);
        }
    }
}

fn drain_into(
    session: &mut Session,
    store: &mut Store,
    det: &mut Option<Detector>,
) -> anyhow::Result<()> {
    let mut sink = Ingest {
        store,
        det: det.as_mut(),
    };
    session.poll(&mut sink).context("draining the capture")?;
    Ok(())
}

impl Watch<'_> {
    fn drain(&mut self) -> anyhow::Result<()> {
        drain_into(&mut self.session, &mut self.store, &mut self.det)
    }

    /// A burst of stack sampling right after an alarm, the capture drained meanwhile;
    /// the samples go into the analysed window.
    fn sample_stacks(&mut self, window: &mut analysis::window::Window, warnings: &mut Vec<String>) {
        let duration = Duration::from_nanos(self.a.stacks);
        let jvms = crate::jvm::jvms(&self.pids());
        let Some(sampler) = self.stacks.as_mut().filter(|_| !duration.is_zero()) else {
            return;
        };
        let mut events = Vec::new();
        let dumps = if jvms.is_empty() { 0 } else { JVM_DUMPS };
        let mut dumped = 0;
        let mut sink = |ev: Event| events.push(ev);
        let mut dump_warnings = Vec::new();
        let result = (|| -> anyhow::Result<()> {
            let mut burst = sampler.start().context("starting the stack sampling")?;
            let started = std::time::Instant::now();
            let until = started + duration;
            while std::time::Instant::now() < until {
                std::thread::sleep(Duration::from_millis(10));
                burst
                    .poll(&mut sink)
                    .context("draining the stack samples")?;
                drain_into(&mut self.session, &mut self.store, &mut self.det)?;
                // thread dumps of the JVMs, spread over the burst
                if dumped < dumps && started.elapsed() >= duration * dumped / dumps {
                    for ev in crate::jvm::dump_stacks(&jvms, monotonic_ns(), &mut dump_warnings) {
                        sink(ev);
                    }
                    dumped += 1;
                }
            }
            burst
                .finish(&mut sink)
                .context("ending the stack sampling")?;
            Ok(())
        })();
        if let Err(e) = result {
            warnings.push(format!(
                "stack sampling failed, ranking from syscalls only: {e:#}"
            ));
        }
        warnings.append(&mut dump_warnings);
        let mut b = analysis::window::WindowBuilder::new(window.start, u64::MAX);
        for ev in &events {
            b.push(ev);
        }
        let sampled = b.finish();
        window.stacks.extend(sampled.stacks);
        window.locks.extend(sampled.locks);
        // the JVMs' compiled code, named by the JIT
        window.jit = crate::jvm::perf_maps(&jvms, warnings);
    }

    /// The processes to sample: the seeds, every process seen since, the cgroup's.
    fn pids(&self) -> Vec<u32> {
        let mut pids = self.store.live_pids();
        pids.extend(&self.seeds);
        if let Some(cg) = &self.a.cgroup {
            pids.extend(host::procfs::cgroup_procs(cg));
        }
        pids.sort_unstable();
        pids.dedup();
        pids.retain(|p| std::path::Path::new(&format!("/proc/{p}")).exists());
        pids
    }

    /// Samples /proc; returns whether any traced process is left.
    fn sample(&mut self) -> bool {
        let pids = self.pids();
        self.sampler.sample(&pids, &mut self.samples);
        let ts = monotonic_ns();
        for s in &self.samples {
            if self.store.comm_of(s.tid) != Some(s.comm.as_str()) {
                self.store.push(&Event::Comm {
                    ts,
                    pid: s.pid,
                    tid: s.tid,
                    comm: s.comm.clone(),
                });
            }
            self.store.push(&Event::ThreadState {
                ts,
                pid: s.pid,
                tid: s.tid,
                state: s.state,
                cpu_ns: s.cpu_ns,
                wait_ns: s.wait_ns,
            });
        }
        !pids.is_empty()
    }

    fn blocked(&mut self) -> Vec<(u32, trace::Syscall)> {
        match self.session.in_flight() {
            Ok(v) => v
                .into_iter()
                .filter_map(|s| {
                    let slot = self.store.slot_of_tid(s.tid)?;
                    Some((self.store.slot(slot).group, s))
                })
                .collect(),
            Err(e) => {
                eprintln!("perfscope: reading the syscalls in flight: {e}");
                Vec::new()
            }
        }
    }

    /// Answers one raised alarm: a detector's waits while an analysis is queued, and
    /// with `--once` only the first alarm is taken.
    fn raise(&mut self, r: Raised) -> anyhow::Result<()> {
        let detector = r.waiter.is_none() && r.source.starts_with("detector");
        if detector && self.worker.pending > 0 {
            return Ok(());
        }
        if self.a.once && self.alarms > 0 {
            if let Some(i) = r.waiter {
                i.reject("the watcher runs --once and already has its alarm");
            }
            return Ok(());
        }
        self.alarm(r)
    }

    /// Takes the snapshot of an alarm and queues its analysis.
    fn alarm(&mut self, r: Raised) -> anyhow::Result<()> {
        if self.worker.pending >= 2 {
            let msg = "two analyses are already queued; raise the alarm again later";
            match r.waiter {
                Some(i) => i.reject(msg),
                None => eprintln!("perfscope: alarm ({}) ignored: {msg}", r.source),
            }
            return Ok(());
        }
        let (now, realtime) = capture::clock_pair();
        // everything up to now, the syscalls still batched in the kernel included
        let mut sink = Ingest {
            store: &mut self.store,
            det: self.det.as_mut(),
        };
        let in_flight = match self.session.flush(&mut sink) {
            Ok(v) => v,
            Err(e) => {
                eprintln!("perfscope: reading the threads' last and in-flight syscalls: {e}");
                self.drain()?;
                Vec::new()
            }
        };
        let start = now.saturating_sub(self.a.analyze);
        let mut window = self.store.snapshot(start, now, &in_flight);
        self.alarms += 1;
        let n = self.alarms;
        self.store.push(&Event::Mark {
            ts: now,
            label: format!("alarm {n}"),
        });
        let waiter: Option<Waiter> = r.waiter.and_then(|i| i.accept(n));
        let mut warnings = self.warnings.clone();
        let st = self.store.stats();
        warnings.extend(full_window_warning(&st, start, now, self.a.analyze));
        if now.saturating_sub(self.started) < self.a.analyze {
            warnings.push(format!(
                "the watcher started only {:.1} s before the alarm: the window is shorter than \
                 the {:.0} s asked, and its normal part may be too short",
                now.saturating_sub(self.started) as f64 / 1e9,
                self.a.analyze as f64 / 1e9
            ));
        }
        if st.dropped_threads > 0 {
            warnings.push(format!(
                "{} syscalls of threads beyond the watcher's thread table were dropped",
                st.dropped_threads
            ));
        }
        self.sample_stacks(&mut window, &mut warnings);
        if self.sampler.skipped > 0 {
            warnings.push(format!(
                "{} threads were not sampled in /proc (more than {}): their CPU use is unknown",
                self.sampler.skipped,
                crate::procstat::MAX_THREADS
            ));
        }
        let label = match &r.source {
            s if s.is_empty() => "alarm".to_string(),
            s => s.clone(),
        };
        self.worker.submit(Job {
            n,
            window,
            alarm: Alarm {
                source: label,
                realtime_ns: Some(realtime),
            },
            warnings,
            pids: self.pids(),
            waiter,
        });
        Ok(())
    }
}

/// When the rolling window was full: how far back this analysis really reaches.
fn full_window_warning(st: &StoreStats, start: u64, now: u64, asked: u64) -> Option<String> {
    let h = st.full_horizon.filter(|&h| h > start)?;
    Some(format!(
        "the rolling window was full ({} syscalls, --max-events): this analysis holds every \
         syscall of only the last {:.1} s of the {:.0} s asked; the {} syscalls evicted early \
         were counted per second, thread name and syscall instead; raise --max-events or \
         shorten --window to keep them all",
        st.held,
        now.saturating_sub(h) as f64 / 1e9,
        asked as f64 / 1e9,
        st.evicted_full
    ))
}

fn detector_config(a: &WatchArgs) -> anyhow::Result<Option<DetectorConfig>> {
    let off = a.detect.contains(&Detect::Off);
    if off && a.detect.len() > 1 {
        bail!("--detect off cannot be combined with a detector");
    }
    if a.latency_factor < 1.0 || !a.latency_factor.is_finite() {
        bail!("--latency-factor must be at least 1");
    }
    Ok((!off).then(|| DetectorConfig {
        silent_cpu: a.detect.contains(&Detect::SilentCpu),
        latency: a.detect.contains(&Detect::Latency),
        silent_ns: a.silent_for,
        factor: a.latency_factor,
        cooldown_ns: a.detect_cooldown,
    }))
}

/// What is watched: the capture's filter, the processes given or launched, the launched
/// command still paused (released once the capture runs), and how to name it.
struct Watched {
    filter: Filter,
    seeds: Vec<u32>,
    paused: Option<host::PausedChild>,
    what: String,
}

/// The command to launch (paused until the capture runs), the cgroup, or the pids.
fn watched(a: &WatchArgs, socket: &std::path::Path) -> anyhow::Result<Watched> {
    if let Some((prog, args)) = a.command.split_first() {
        let who = host::identity::for_this_process(
            &host::identity::Request {
                user: a.user.clone(),
                as_root: a.as_root,
            },
            "perfscope watch",
        )?;
        let mut cmd = host::Command::new(prog);
        // Contained: the command dies with the watcher, however the watcher ends.
        cmd.args(args).contain("watch").unlink_at_end(socket);
        who.apply(&mut cmd);
        let p = cmd.spawn_paused().context("launching the command")?;
        let pid = p.pid();
        return Ok(Watched {
            filter: Filter::Tree { root: pid },
            seeds: vec![pid],
            paused: Some(p),
            what: format!("{} (pid {pid})", cmd.display()),
        });
    }
    if let Some(cg) = &a.cgroup {
        return Ok(Watched {
            filter: Filter::Cgroup(cg.clone()),
            seeds: Vec::new(),
            paused: None,
            what: format!("cgroup {}", cg.display()),
        });
    }
    let pids: Vec<String> = a.pid.iter().map(u32::to_string).collect();
    Ok(Watched {
        filter: Filter::Tree { root: a.pid[0] },
        seeds: a.pid.clone(),
        paused: None,
        what: format!("pid {}", pids.join(" ")),
    })
}

/// Marks when each process already running started ([`analysis::window::Mark::started`]):
/// a server that started shortly before the watcher attached is still warming up, which
/// the analysis must not take for its normal behaviour (a start the capture sees is an
/// `execve`).
fn mark_starts(store: &mut Store, seeds: &[u32], cgroup: Option<&std::path::Path>) {
    let mut pids: Vec<u32> = seeds
        .iter()
        .flat_map(|&p| host::procfs::descendants(p))
        .collect();
    if let Some(cg) = cgroup {
        pids.extend(host::procfs::cgroup_procs(cg));
    }
    pids.sort_unstable();
    pids.dedup();
    let mut marks: Vec<analysis::window::Mark> = pids
        .into_iter()
        .filter_map(|p| {
            Some(analysis::window::Mark::started(
                host::procfs::started_monotonic_ns(p)?,
                p,
            ))
        })
        .collect();
    marks.sort_by_key(|m| m.ts);
    for m in marks {
        store.push(&Event::Mark {
            ts: m.ts,
            label: m.label,
        });
    }
}

/// Programs that start a server rather than being one: a script that sets up and then
/// `exec`s the server is watched from its first line.
const LAUNCHERS: &[&str] = &[
    "bash", "sh", "dash", "env", "setpriv", "runuser", "su", "sudo",
];

/// Every process of `pids` runs a launcher (the start script of a server, say).
fn runs_launchers(pids: &[u32]) -> bool {
    pids.iter().all(|p| {
        std::fs::read_link(format!("/proc/{p}/exe")).is_ok_and(|exe| {
            exe.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| LAUNCHERS.contains(&n))
        })
    })
}

/// The stack sampler of the alarms, unless `--stacks 0s` or the kernel refuses it.
fn stack_sampler(
    a: &WatchArgs,
    session: &Session,
    warnings: &mut Vec<String>,
) -> Option<StackSampler> {
    if a.stacks == 0 {
        return None;
    }
    let sc = StackConfig {
        // threads blocked in slow syscalls (fsync, a lock) are caught several times
        blocked_every: Some(Duration::from_millis(200)),
        ..StackConfig::default()
    };
    match session.stack_sampler(sc) {
        Ok(s) => Some(s),
        Err(e) => {
            warnings.push(format!(
                "user stacks cannot be sampled here ({e}); ranking from syscalls only"
            ));
            None
        }
    }
}

/// Runs the watcher; returns the exit code.
pub fn run(a: &WatchArgs) -> anyhow::Result<i32> {
    if a.analyze > a.window {
        bail!(
            "--analyze ({} s) must not be longer than --window ({} s)",
            a.analyze / 1_000_000_000,
            a.window / 1_000_000_000
        );
    }
    let det_cfg = detector_config(a)?;
    // before any thread exists, so that every thread has these signals blocked
    let signals = Signals::new(&alarm::SIGNALS).context("blocking the signals")?;
    let loaded = Arc::new(target::load(&a.db)?);
    let mut warnings = target::check_name(&loaded.db, a.expect_target.as_deref(), a.force)?;
    capture::preflight::check()
        .context("perfscope watch needs root (or CAP_BPF and CAP_PERFMON)")?;

    let socket: PathBuf = a
        .socket
        .clone()
        .unwrap_or_else(|| alarm::default_paths(std::process::id()).remove(0));
    let Watched {
        filter,
        seeds,
        paused,
        what,
    } = watched(a, &socket)?;
    if paused.is_none() && !seeds.is_empty() && !runs_launchers(&seeds) {
        // processes that already run: a database of another program is refused now (a
        // shell that is about to exec the server is checked at each alarm instead)
        let m = target::compare(&loaded.db, &target::running_objects(&loaded.db, &seeds));
        for d in target::refuse_other_program(&m, a.force)? {
            eprintln!("perfscope: warning: {d}");
        }
    }
    let mut cfg = Config::syscalls_only(filter);
    cfg.ring_bytes = a.ring_mb.clamp(1, 1024) << 20;
    let poll_interval = cfg.poll_interval;
    let mut session = Session::start(cfg).context("starting the capture")?;
    for &p in seeds.iter().skip(1) {
        session
            .add_process(p)
            .with_context(|| format!("watching pid {p}"))?;
    }
    let child: Option<Child> = match paused {
        Some(p) => Some(p.release().context("launching the command")?),
        None => None,
    };
    let mut server = Server::bind(&socket)?;
    let mut store = Store::new(a.max_events, a.window, a.sample);
    if child.is_none() {
        mark_starts(&mut store, &seeds, a.cgroup.as_deref());
    }
    eprintln!(
        "perfscope: watching {what} with {} ({}); window {:.0} s, at most {} syscalls ({} MiB); \
         alarm: kill -USR1 {} or perfscope alarm --socket {}",
        a.db.display(),
        format!(
            "{} {}",
            loaded.db.header.target.name, loaded.db.header.target.version
        )
        .trim_end(),
        a.window as f64 / 1e9,
        a.max_events,
        store.max_ring_bytes() >> 20,
        std::process::id(),
        server.path().display()
    );
    let worker = Worker::spawn(Outputs {
        db: loaded.clone(),
        format: a.format,
        report_dir: a.report_dir.clone(),
        save_window: a.save_window.clone(),
        clocks: capture::clock_pair(),
    })?;
    let stacks = stack_sampler(a, &session, &mut warnings);
    let mut w = Watch {
        a,
        session,
        stacks,
        store,
        det: det_cfg.map(Detector::new),
        sampler: Sampler::default(),
        samples: Vec::new(),
        worker,
        seeds,
        started: monotonic_ns(),
        alarms: 0,
        warnings,
    };
    let mut life = Life {
        child,
        stop: None,
        end_signal: host::signals::SIGTERM,
        stop_at: None,
        killed: false,
        exit_code: 0,
        status: None,
    };
    let mut next_sample = 0u64;
    let mut next_latency = monotonic_ns() + detector::LATENCY_PERIOD;
    loop {
        wait_readable(signals.fd(), &server.fds(), poll_interval);
        let mut raised = life.alarms_asked(&signals, &mut server);
        w.drain()?;
        let now = monotonic_ns();
        if now >= next_sample {
            next_sample = now + a.sample;
            let alive = w.sample();
            w.store.evict(now);
            if !alive && life.child.is_none() && a.cgroup.is_none() && life.stop.is_none() {
                life.stop = Some("the traced processes have exited".into());
            }
            if let Some(why) = w.det.as_mut().and_then(|d| d.check_silent(now, &w.store)) {
                raised.push(Raised {
                    source: why,
                    waiter: None,
                });
            }
        }
        if now >= next_latency && w.det.as_ref().is_some_and(|d| d.config().latency) {
            next_latency = now + detector::LATENCY_PERIOD;
            let blocked = w.blocked();
            if let Some(why) = w.det.as_mut().and_then(|d| d.check_latency(now, &blocked)) {
                raised.push(Raised {
                    source: why,
                    waiter: None,
                });
            }
        }
        for r in raised {
            w.raise(r)?;
        }
        for d in w.worker.poll() {
            life.report_done(a, d.exit_code);
        }
        life.end_command(now)?;
        if life.is_over(now) && w.worker.pending == 0 {
            break;
        }
    }
    shut_down(w, server, life)
}

/// The watcher's life: why it stops, the launched command and how it ended, and the exit
/// code so far.
struct Life {
    child: Option<Child>,
    stop: Option<String>,
    /// The launched command is ours: when the watcher stops first, the command gets the
    /// signal that stopped the watcher (SIGTERM otherwise), then SIGKILL 5 s later.
    end_signal: i32,
    stop_at: Option<u64>,
    killed: bool,
    exit_code: i32,
    status: Option<ExitStatus>,
}

impl Life {
    /// The alarms asked for by signal or on the socket; other signals stop the watcher.
    fn alarms_asked(&mut self, signals: &Signals, server: &mut Server) -> Vec<Raised> {
        let mut raised: Vec<Raised> = Vec::new();
        for sig in signals.read() {
            if sig == host::signals::SIGUSR1 {
                raised.push(Raised {
                    source: "SIGUSR1".into(),
                    waiter: None,
                });
            } else if self.stop.is_none() {
                self.stop = Some(format!("signal {sig}"));
                self.end_signal = sig;
            }
        }
        for i in server.service() {
            let source = match &i.label {
                Some(l) => format!("perfscope alarm: {l}"),
                None => "perfscope alarm".into(),
            };
            if self.stop.is_some() {
                i.reject("the watcher is stopping");
                continue;
            }
            raised.push(Raised {
                source,
                waiter: Some(i),
            });
        }
        raised
    }

    /// A report was written with `exit_code`: with `--once` the watcher stops with it,
    /// else any findings make the exit code 1.
    fn report_done(&mut self, a: &WatchArgs, exit_code: i32) {
        if a.once {
            self.exit_code = exit_code;
            self.stop
                .get_or_insert_with(|| "--once: first report written".into());
        } else if exit_code == 1 {
            self.exit_code = 1;
        }
    }

    /// Notices the command's end, and ends it (gently, then not) once the watcher stops.
    fn end_command(&mut self, now: u64) -> anyhow::Result<()> {
        let Some(c) = self.child.as_mut() else {
            return Ok(());
        };
        if self.status.is_none()
            && let Some(s) = c.try_wait().context("waiting for the command")?
        {
            self.status = Some(s);
            self.stop.get_or_insert_with(|| "the command exited".into());
        }
        if self.stop.is_none() || self.status.is_some() {
            return Ok(());
        }
        match self.stop_at {
            None => {
                let _ = c.signal(self.end_signal, false);
                self.stop_at = Some(now + 5_000_000_000);
            }
            Some(t) if now >= t && !self.killed => {
                eprintln!("perfscope: the command did not end in 5 s: killing it");
                let _ = c.signal(host::signals::SIGKILL, false);
                self.killed = true;
                self.stop_at = Some(now + 2_000_000_000);
            }
            _ => {}
        }
        Ok(())
    }

    /// The watcher is stopping and the command, if any, is gone.
    fn is_over(&self, now: u64) -> bool {
        let child_done = self.child.is_none()
            || self.status.is_some()
            || (self.killed && self.stop_at.is_some_and(|t| now >= t));
        self.stop.is_some() && child_done
    }
}

/// Ends the capture after the last reports, says why the watcher stopped, and returns
/// its exit code.
fn shut_down(w: Watch<'_>, server: Server, mut life: Life) -> anyhow::Result<i32> {
    let Watch {
        a,
        session,
        stacks,
        worker,
        store,
        ..
    } = w;
    drop(stacks);
    for d in worker.finish() {
        if d.exit_code == 1 && !a.once {
            life.exit_code = 1;
        }
    }
    let stats = session
        .finish(&mut |_| {})
        .context("stopping the capture")?;
    drop(server);
    let st = store.stats();
    eprintln!(
        "perfscope: stopped ({}); {} syscalls seen, {} lost in the kernel, {} evicted from a full \
         window",
        life.stop.unwrap_or_default(),
        st.syscalls,
        stats.lost,
        st.evicted_full
    );
    if let Some(s) = life.status {
        eprintln!(
            "perfscope: the command {}",
            match s {
                ExitStatus::Exited(c) => format!("exited with status {c}"),
                ExitStatus::Signaled(sig) => format!("was killed by signal {sig}"),
            }
        );
    }
    Ok(life.exit_code)
}

/// Sleeps until a signal, a socket event, or the timeout.
fn wait_readable(sig: i32, fds: &[i32], timeout: Duration) {
    let all: Vec<i32> = std::iter::once(sig).chain(fds.iter().copied()).collect();
    host::signals::wait_readable(&all, timeout);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_processes_are_marked_at_their_start() {
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let (pid, now) = (child.id(), monotonic_ns());
        let mut store = Store::new(1000, 60_000_000_000, 1_000_000_000);
        mark_starts(&mut store, &[pid], None);
        let w = store.snapshot(now - 30_000_000_000, now + 1_000_000_000, &[]);
        child.kill().unwrap();
        child.wait().unwrap();
        let m = w.marks.iter().find(|m| m.started_pid() == Some(pid));
        // started just now, to the clock tick
        assert!(
            m.is_some_and(|m| m.ts.abs_diff(now) < 1_000_000_000),
            "{:?}",
            w.marks
        );
    }

    #[test]
    fn a_full_window_says_how_far_back_it_reaches() {
        let s = 1_000_000_000u64;
        let mut st = StoreStats {
            held: 4_000_000,
            evicted_full: 11_000_000,
            full_horizon: Some(975 * s),
            ..StoreStats::default()
        };
        let w = full_window_warning(&st, 910 * s, 1000 * s, 90 * s).unwrap();
        assert!(
            w.contains("every syscall of only the last 25.0 s of the 90 s asked"),
            "{w}"
        );
        assert!(
            w.contains("the 11000000 syscalls evicted early were counted per second"),
            "{w}"
        );
        // evictions older than the analysed window do not matter
        st.full_horizon = Some(900 * s);
        assert_eq!(full_window_warning(&st, 910 * s, 1000 * s, 90 * s), None);
    }
}
