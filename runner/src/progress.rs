//! The live status line on stderr while the command runs: elapsed time, events per
//! second, functions hit, syscalls, lost events. Hidden when stderr is not a terminal.

use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Redraw at most this often: `Session::stats` scans the counters of functions not hit.
const EVERY: Duration = Duration::from_millis(250);

pub struct Progress {
    bar: ProgressBar,
    probes: usize,
    last: Instant,
    last_events: u64,
}

impl Progress {
    pub fn new(enabled: bool, probes: usize) -> Progress {
        let bar = if enabled {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        } else {
            ProgressBar::hidden()
        };
        Progress {
            bar,
            probes,
            last: Instant::now(),
            last_events: 0,
        }
    }

    /// Whether a redraw is due (never when hidden): only then are the stats read.
    pub fn due(&self) -> bool {
        !self.bar.is_hidden() && self.last.elapsed() >= EVERY
    }

    pub fn update(&mut self, stats: &capture::Stats) {
        let dt = self.last.elapsed().as_secs_f64();
        let rate = (stats.events.saturating_sub(self.last_events)) as f64 / dt;
        self.last = Instant::now();
        self.last_events = stats.events;
        let hit = if self.probes > 0 {
            format!("{}/{} functions hit", stats.functions_hit, self.probes)
        } else {
            "syscalls only".to_string()
        };
        let lost = if stats.lost > 0 {
            format!("{} LOST", stats.lost)
        } else {
            "0 lost".to_string()
        };
        self.bar.set_message(format!(
            "{:>9.0} events/s  {hit}  {} syscalls  {lost}",
            rate, stats.syscalls
        ));
    }

    /// A line above the status line.
    pub fn println(&self, line: &str) {
        if self.bar.is_hidden() {
            eprintln!("{line}");
        } else {
            self.bar.println(line);
        }
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
