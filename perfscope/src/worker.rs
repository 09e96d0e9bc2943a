//! The watcher's analysis thread: takes the window snapshot of each alarm, analyses it,
//! and delivers the report (stdout, report files, the waiting `perfscope alarm`, a saved
//! window), so that the capture thread keeps draining the kernel meanwhile.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::thread::JoinHandle;

use analysis::window::Window;
use analysis::{Alarm, Params};
use anyhow::Context;
use trace::{CaptureMode, Event, Footer, Header, Object, Syscall, TraceWriter};

use crate::alarm::Waiter;
use crate::cli::Format;
use crate::target::{self, Loaded, Running};
use crate::{checks, output};

/// One alarm's analysis.
pub struct Job {
    pub n: u64,
    pub window: Window,
    pub alarm: Alarm,
    pub warnings: Vec<String>,
    /// The traced processes at the alarm, to compare their builds with the database's.
    pub pids: Vec<u32>,
    pub waiter: Option<Waiter>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Done {
    pub n: u64,
    pub exit_code: i32,
}

/// Where reports go.
pub struct Outputs {
    pub db: Arc<Loaded>,
    pub format: Format,
    pub report_dir: Option<PathBuf>,
    pub save_window: Option<PathBuf>,
    /// `(CLOCK_MONOTONIC, CLOCK_REALTIME)` read together, for saved windows.
    pub clocks: (u64, u64),
}

pub struct Worker {
    tx: Option<Sender<Job>>,
    rx: Receiver<Done>,
    handle: Option<JoinHandle<()>>,
    /// Jobs submitted and not done.
    pub pending: usize,
}

impl Worker {
    pub fn spawn(out: Outputs) -> anyhow::Result<Worker> {
        let (tx, jobs) = channel::<Job>();
        let (done_tx, rx) = channel();
        let handle = std::thread::Builder::new()
            .name("perfscope-analysis".into())
            .spawn(move || {
                for job in jobs {
                    let done = run(&out, job);
                    if done_tx.send(done).is_err() {
                        break;
                    }
                }
            })
            .context("starting the analysis thread")?;
        Ok(Worker {
            tx: Some(tx),
            rx,
            handle: Some(handle),
            pending: 0,
        })
    }

    pub fn submit(&mut self, job: Job) {
        if let Some(tx) = &self.tx
            && tx.send(job).is_ok()
        {
            self.pending += 1;
        }
    }

    /// Analyses finished since the last call.
    pub fn poll(&mut self) -> Vec<Done> {
        let done: Vec<Done> = self.rx.try_iter().collect();
        self.pending -= done.len().min(self.pending);
        done
    }

    /// Waits for every submitted analysis.
    pub fn finish(mut self) -> Vec<Done> {
        self.tx.take();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
        self.rx.try_iter().collect()
    }
}

fn run(out: &Outputs, job: Job) -> Done {
    let Job {
        n,
        window: w,
        alarm,
        warnings,
        pids,
        waiter,
    } = job;
    let db = &out.db;
    let mut report = analysis::analyze(&w, &db.compiled, db.info(), &alarm, &Params::default());
    let running = target::running_objects(&db.db, &pids);
    let extra = checks::window_warnings(&w, &report);
    let mismatch = target::compare(&db.db, &running);
    let mut damage = db.doubts();
    damage.extend(mismatch.other_program.clone());
    report.add_damage(damage);
    checks::add(
        &mut report,
        warnings
            .into_iter()
            .chain(mismatch.into_warnings())
            .chain(extra),
    );
    let code = report.exit_code();
    let mut where_ = String::new();
    if let Some(dir) = &out.report_dir {
        match output::write_all(dir, n, &report, &w) {
            Ok(paths) => where_ = format!("; report in {}", paths[0].display()),
            Err(e) => eprintln!("perfscope: alarm {n}: {e:#}"),
        }
    }
    if let Some(dir) = &out.save_window {
        let path = dir.join(format!("alarm-{n}.trace"));
        match save(&path, &w, &running, out.clocks) {
            Ok(()) => where_.push_str(&format!("; window saved in {}", path.display())),
            Err(e) => eprintln!("perfscope: alarm {n}: saving the window: {e:#}"),
        }
    }
    eprintln!(
        "perfscope: alarm {n} ({}): {} function(s) ranked, {} evidence, {:.0} ms{where_}",
        alarm.source,
        report.ranking.len(),
        report.evidence.len(),
        report.stats.analysis_ms
    );
    output::print(&output::render(&report, out.format));
    if let Some(wt) = waiter {
        let body = output::render(&report, wt.format);
        wt.send(body, code);
    }
    Done { n, exit_code: code }
}

/// Writes the window as a syscall-only trace that `perfscope analyze` reads back into
/// the same window (an `alarm` mark at its end).
pub fn save(
    path: &Path,
    w: &Window,
    running: &[Running],
    clocks: (u64, u64),
) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut h = Header::new(
        concat!("perfscope-watch ", env!("CARGO_PKG_VERSION")),
        CaptureMode::SyscallsOnly,
    );
    h.start_monotonic_ns = w.start;
    h.start_realtime_ns = clocks.1.saturating_sub(clocks.0.saturating_sub(w.start));
    h.kernel = capture::preflight::kernel_release();
    h.objects = running
        .iter()
        .map(|r| Object {
            path: r.path.clone(),
            build_id: r.build_id.clone(),
            functions: Vec::new(),
            kind: trace::ObjectKind::Elf,
        })
        .chain(crate::jvm::objects(&w.jit))
        .collect();
    let mut tw = TraceWriter::create(path, &h)?;
    for t in &w.threads {
        if !t.comm.is_empty() {
            tw.write(&Event::Comm {
                ts: w.start,
                pid: t.pid,
                tid: t.tid,
                comm: t.comm.clone(),
            })?;
        }
        for s in &t.states {
            tw.write(&Event::ThreadState {
                ts: s.ts,
                pid: t.pid,
                tid: t.tid,
                state: s.state,
                cpu_ns: s.cpu_ns,
                wait_ns: s.wait_ns,
            })?;
        }
        for c in &t.calls {
            let mut s = Syscall::new(c.ts, t.pid, t.tid, u32::from(c.nr));
            s.dur = (!c.is_pending()).then_some(c.dur);
            s.ret = c.ret;
            s.cpu = u32::from(c.cpu);
            tw.write(&Event::Syscall(s))?;
        }
        if let Some(x) = t.exited {
            tw.write(&Event::Exit {
                ts: x,
                pid: t.pid,
                tid: t.tid,
                code: 0,
            })?;
        }
    }
    for st in &w.stacks {
        tw.write(&Event::Stack {
            ts: st.ts,
            pid: st.pid,
            tid: st.tid,
            kind: st.kind,
            nr: st.nr,
            frames: st.frames.clone(),
        })?;
    }
    for l in &w.locks {
        tw.write(&Event::Locks {
            ts: l.ts,
            pid: l.pid,
            tid: l.tid,
            waits: l.waits,
            holds: l.holds.clone(),
        })?;
    }
    for m in &w.marks {
        tw.write(&Event::Mark {
            ts: m.ts,
            label: m.label.clone(),
        })?;
    }
    if w.lost > 0 {
        tw.write(&Event::Lost {
            ts: w.end,
            cpu: 0,
            count: w.lost,
        })?;
    }
    tw.write(&Event::Mark {
        ts: w.end,
        label: "alarm".into(),
    })?;
    tw.finish(Footer {
        end_monotonic_ns: w.end,
        lost: w.lost,
        ..Footer::default()
    })?;
    Ok(())
}
