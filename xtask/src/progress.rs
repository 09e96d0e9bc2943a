//! Progress of the steps of a task: a spinner per step on a terminal (with the step's
//! latest log line), plain start and end lines on stderr otherwise (CI logs).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::procs;

#[derive(Clone, Debug)]
pub struct Progress {
    prefix: String,
    terminal: bool,
}

impl Progress {
    /// `prefix` names the task on every line, e.g. `train lighttpd`.
    pub fn new(prefix: impl Into<String>) -> Progress {
        Progress {
            prefix: prefix.into(),
            terminal: std::io::stderr().is_terminal(),
        }
    }

    /// No output at all (tests).
    #[cfg(test)]
    pub fn silent() -> Progress {
        Progress {
            prefix: String::new(),
            terminal: false,
        }
    }

    pub fn with_prefix(&self, prefix: impl Into<String>) -> Progress {
        Progress {
            prefix: prefix.into(),
            terminal: self.terminal,
        }
    }

    fn quiet(&self) -> bool {
        self.prefix.is_empty()
    }

    pub fn step(&self, name: &str) -> Step {
        let bar = if self.terminal && !self.quiet() {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("{spinner} {prefix} {elapsed:>4} {wide_msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.set_prefix(format!("{} {name}", self.prefix));
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        } else {
            if !self.quiet() {
                eprintln!("[{}] {name} ...", self.prefix);
            }
            ProgressBar::hidden()
        };
        Step {
            label: format!("{} {name}", self.prefix),
            quiet: self.quiet(),
            bar,
            started: Instant::now(),
            log: None,
            last_peek: Instant::now(),
        }
    }

    /// A line above the bars (or on stderr).
    pub fn note(&self, msg: &str) {
        if !self.quiet() {
            eprintln!("[{}] {msg}", self.prefix);
        }
    }
}

/// One step in progress; finish it with [`Step::done`], [`Step::reused`] or
/// [`Step::failed`] (dropping it clears the spinner).
pub struct Step {
    label: String,
    quiet: bool,
    bar: ProgressBar,
    started: Instant,
    log: Option<PathBuf>,
    last_peek: Instant,
}

impl Step {
    /// The log whose last line the spinner shows.
    pub fn watch_log(&mut self, path: &Path) {
        self.log = Some(path.to_path_buf());
    }

    pub fn message(&self, msg: impl Into<String>) {
        self.bar.set_message(msg.into());
    }

    /// Called while waiting: refreshes the log line at most twice a second.
    pub fn tick(&mut self) {
        if self.bar.is_hidden() || self.last_peek.elapsed() < Duration::from_millis(500) {
            return;
        }
        self.last_peek = Instant::now();
        if let Some(log) = &self.log {
            let line = procs::log_tail(log, 1);
            self.bar
                .set_message(line.chars().take(200).collect::<String>());
        }
    }

    fn finish(self, mark: &str, what: &str) {
        self.bar.finish_and_clear();
        if !self.quiet {
            let sep = if what.is_empty() { "" } else { ": " };
            eprintln!(
                "{mark} {}{sep}{what} ({:.1} s)",
                self.label,
                self.started.elapsed().as_secs_f64()
            );
        }
    }

    pub fn done(self, note: &str) {
        self.finish("ok", note);
    }

    /// Nothing changed since the last run: the earlier result stands.
    pub fn reused(self, what: &str) {
        self.finish("ok", &format!("reused {what}"));
    }

    pub fn failed(self, why: &str) {
        self.finish("FAILED", why);
    }

    /// Runs `cmd` with its output in `log` ([`procs::run_logged`]), ticking the spinner;
    /// when it fails, marks the step failed and errs with `what` and the log's last `tail`
    /// lines; else hands the step back.
    pub fn run_logged(
        mut self,
        name: &str,
        cmd: &mut std::process::Command,
        log: &Path,
        timeout: Option<Duration>,
        what: &str,
        tail: usize,
    ) -> anyhow::Result<Step> {
        let end = procs::run_logged(name, cmd, log, timeout, &mut || self.tick())?;
        if !end.success() {
            self.failed(&end.describe());
            anyhow::bail!(
                "{what} ({}); see {}:\n{}",
                end.describe(),
                log.display(),
                procs::log_tail(log, tail)
            );
        }
        Ok(self)
    }
}
