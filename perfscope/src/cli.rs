//! The command line: `perfscope watch`, `perfscope alarm`, `perfscope analyze`, and the
//! parsers of durations (`90s`, `5m`) and time spans (`10..40`).

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// perfscope: names the functions behind a hang or slowdown of a server, from its
/// syscalls alone, using a signature database trained offline on its test suite.
///
/// Exit codes: 0 nothing abnormal, 1 findings, 2 error.
#[derive(Debug, Parser)]
#[command(name = "perfscope", version, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Cmd,
}

#[derive(Debug, Subcommand)]
pub enum Cmd {
    Watch(WatchArgs),
    Alarm(AlarmArgs),
    Analyze(AnalyzeArgs),
}

/// What is printed on stdout per report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// For a person at a terminal.
    #[default]
    Text,
    /// JSON Lines, version 1 (see the README).
    Json,
}

/// Built-in alarm sources.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Detect {
    /// A thread that makes no syscall for a while yet uses the CPU (a spin).
    SilentCpu,
    /// A syscall far slower than usual for its thread group (completed or still blocked).
    Latency,
    /// No built-in detector (the default): alarms come from SIGUSR1 or `perfscope alarm`.
    Off,
}

/// Capture the syscalls of a process tree (no uprobes) into a bounded rolling window,
/// and analyse the recent part of it at each alarm (SIGUSR1, `perfscope alarm`, or the
/// built-in detector). Needs root (or CAP_BPF and CAP_PERFMON).
///
/// With `-- COMMAND`, the command is launched under capture and the watcher exits when
/// it does; when the watcher stops first (SIGTERM, SIGINT, SIGHUP, --once), the command
/// gets that signal (SIGTERM after --once), and SIGKILL 5 s later. The exit code is the
/// watcher's: 2 on error, else 1 if any report had findings, else 0 (with --once: the
/// first report's); the command's own status is printed on stderr.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["pid", "cgroup", "command"])))]
pub struct WatchArgs {
    /// The signature database of the target.
    #[arg(long, value_name = "SIGDB")]
    pub db: PathBuf,
    /// Processes to watch, with their present and future children.
    #[arg(long, value_name = "PID", num_args = 1..)]
    pub pid: Vec<u32>,
    /// A cgroup v2 directory: every task in it or below it.
    #[arg(long, value_name = "PATH")]
    pub cgroup: Option<PathBuf>,
    /// How much history the rolling window keeps.
    #[arg(long, default_value = "300s", value_parser = parse_duration, value_name = "DURATION")]
    pub window: Ns,
    /// How much of it an alarm analyses (the most recent part).
    #[arg(long, default_value = "90s", value_parser = parse_duration, value_name = "DURATION")]
    pub analyze: Ns,
    /// Size of the kernel's ring buffer, MiB (raise it when events are lost).
    #[arg(long, default_value_t = 64, value_name = "MIB")]
    pub ring_mb: usize,
    /// Syscalls the rolling window holds at most (24 bytes each); beyond, the oldest go
    /// first and reports say how much time the window still covers.
    #[arg(long, default_value_t = crate::rolling::DEFAULT_MAX_EVENTS, value_name = "N")]
    pub max_events: usize,
    /// Each alarm writes DIR/alarm-<n>.txt, .json (JSON Lines) and .html.
    #[arg(long, value_name = "DIR")]
    pub report_dir: Option<PathBuf>,
    /// What is printed on stdout per alarm.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    /// The alarm socket [default: $XDG_RUNTIME_DIR/perfscope-<pid>.sock, or
    /// /run/perfscope/<pid>.sock]. Printed on stderr at start.
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// Built-in detectors (comma-separated).
    #[arg(long, value_enum, value_delimiter = ',', default_value = "off")]
    pub detect: Vec<Detect>,
    /// silent-cpu: how long a thread must be silent while on CPU.
    #[arg(long, default_value = "5s", value_parser = parse_duration, value_name = "DURATION")]
    pub silent_for: Ns,
    /// latency: how many times its usual (99th percentile) duration a syscall must take.
    #[arg(long, default_value_t = 20.0, value_name = "FACTOR")]
    pub latency_factor: f64,
    /// Least time between two alarms of the built-in detectors.
    #[arg(long, default_value = "60s", value_parser = parse_duration, value_name = "DURATION")]
    pub detect_cooldown: Ns,
    /// Exit after the first report, with its exit code.
    #[arg(long)]
    pub once: bool,
    /// At each alarm, also save the analysed window as a trace, DIR/alarm-<n>.trace,
    /// which `perfscope analyze --at-mark alarm` reproduces offline.
    #[arg(long, value_name = "DIR")]
    pub save_window: Option<PathBuf>,
    /// Run COMMAND as this user. As root, COMMAND needs --user NAME or --as-root (or
    /// runs as $SUDO_USER under sudo): the same rule as `runner`.
    #[arg(
        long,
        value_name = "NAME",
        requires = "command",
        conflicts_with = "as_root"
    )]
    pub user: Option<String>,
    /// Run COMMAND as root (needed explicitly when the watcher is root).
    #[arg(long, requires = "command")]
    pub as_root: bool,
    /// Refuse to start if the database was trained for another target name.
    #[arg(long, value_name = "NAME")]
    pub expect_target: Option<String>,
    /// Carry on despite a target mismatch (reports then carry a warning).
    #[arg(long)]
    pub force: bool,
    /// After each alarm, sample the traced threads' user stacks for this long (on CPU, at
    /// syscalls, and while blocked) to see which functions they are in; `0s`: syscalls
    /// only, as in the PerfScope paper.
    #[arg(long, default_value = "1s", value_parser = parse_duration, value_name = "DURATION")]
    pub stacks: Ns,
    /// Period of the /proc samples of thread states and CPU time.
    #[arg(long, default_value = "1s", value_parser = parse_duration, value_name = "DURATION")]
    pub sample: Ns,
    /// The command to launch under capture.
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

/// Raise an alarm in a running watcher (through its socket).
#[derive(Debug, clap::Args)]
pub struct AlarmArgs {
    /// The watcher's socket (the path it printed at start).
    #[arg(long, value_name = "PATH", conflicts_with = "pid")]
    pub socket: Option<PathBuf>,
    /// The watcher's pid, to find its socket; without --socket or --pid, the only
    /// watcher running is used.
    #[arg(long, value_name = "WATCHER_PID")]
    pub pid: Option<u32>,
    /// Why (goes into the report).
    #[arg(long, value_name = "TEXT")]
    pub label: Option<String>,
    /// Wait for the analysis, print the report and exit with its code (0 nothing
    /// abnormal, 1 findings; 2 on error).
    #[arg(long)]
    pub wait: bool,
    /// With --wait: the report's format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    /// With --wait: give up after this long.
    #[arg(long, default_value = "120s", value_parser = parse_duration, value_name = "DURATION")]
    pub timeout: Ns,
}

/// Analyse a trace file written by `runner` (or saved by `watch --save-window`), from
/// its syscalls alone (function-entry events, if any, are ignored).
///
/// Times (`--at`, `--normal`, `--abnormal`) are seconds relative to the trace start
/// (the capture start recorded in the trace header, else its first event). The analysed
/// window ends at --at (default: the last mark labelled `alarm...`, else the trace end)
/// and reaches back --window, and further if --normal begins earlier.
#[derive(Debug, clap::Args)]
pub struct AnalyzeArgs {
    /// The signature database of the target.
    #[arg(long, value_name = "SIGDB")]
    pub db: PathBuf,
    /// The trace file.
    #[arg(value_name = "TRACE")]
    pub trace: PathBuf,
    /// How far back from its end the window reaches.
    #[arg(long, default_value = "90s", value_parser = parse_duration, value_name = "DURATION")]
    pub window: Ns,
    /// Where the window ends, seconds from the trace start.
    #[arg(long, value_name = "SECONDS", conflicts_with = "at_mark")]
    pub at: Option<f64>,
    /// The window ends at the last mark with this label.
    #[arg(long, value_name = "LABEL")]
    pub at_mark: Option<String>,
    /// The normal part, seconds from the trace start (instead of detecting the onset).
    #[arg(long, value_parser = parse_span, value_name = "A..B")]
    pub normal: Option<SecSpan>,
    /// The abnormal part, seconds from the trace start.
    #[arg(long, value_parser = parse_span, value_name = "A..B")]
    pub abnormal: Option<SecSpan>,
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    /// Also write the report as one self-contained HTML page.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Refuse to analyse if the database was trained for another target name.
    #[arg(long, value_name = "NAME")]
    pub expect_target: Option<String>,
    /// Carry on despite a target mismatch.
    #[arg(long)]
    pub force: bool,
}

/// A duration in nanoseconds.
pub type Ns = u64;

/// A span in seconds from the trace start.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SecSpan {
    pub start: f64,
    pub end: f64,
}

/// `90s`, `1.5s`, `250ms`, `5m`, `1h`, or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Ns, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let v: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (try 90s, 500ms, 5m)"))?;
    let scale = match unit.trim() {
        "" | "s" => 1e9,
        "ms" => 1e6,
        "us" => 1e3,
        "m" | "min" => 60e9,
        "h" => 3600e9,
        u => return Err(format!("unknown unit {u:?} in {s:?} (use ms, s, m or h)")),
    };
    let ns = v * scale;
    if !ns.is_finite() || ns <= 0.0 || ns > 1e18 {
        return Err(format!("{s:?} is not a positive duration"));
    }
    Ok(ns as u64)
}

/// `A..B` in seconds, `A < B`, both ≥ 0.
pub fn parse_span(s: &str) -> Result<SecSpan, String> {
    let (a, b) = s
        .split_once("..")
        .ok_or_else(|| format!("{s:?} is not a span: write START..END in seconds, e.g. 10..40"))?;
    let num = |x: &str| {
        x.trim()
            .trim_end_matches('s')
            .parse::<f64>()
            .map_err(|_| format!("{x:?} in {s:?} is not a number of seconds"))
    };
    let (start, end) = (num(a)?, num(b)?);
    if !(start >= 0.0 && end > start && end.is_finite()) {
        return Err(format!(
            "{s:?}: the span must have 0 <= START < END (seconds from the trace start)"
        ));
    }
    Ok(SecSpan { start, end })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_the_usual_units() {
        assert_eq!(parse_duration("90s"), Ok(90_000_000_000));
        assert_eq!(parse_duration("90"), Ok(90_000_000_000));
        assert_eq!(parse_duration("1.5s"), Ok(1_500_000_000));
        assert_eq!(parse_duration("250ms"), Ok(250_000_000));
        assert_eq!(parse_duration("5m"), Ok(300_000_000_000));
        assert_eq!(parse_duration("1h"), Ok(3_600_000_000_000));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("5 days").is_err());
    }

    #[test]
    fn spans_are_ordered_seconds() {
        assert_eq!(
            parse_span("10..40.5"),
            Ok(SecSpan {
                start: 10.0,
                end: 40.5
            })
        );
        assert_eq!(parse_span("0s..3s").map(|s| s.end), Ok(3.0));
        assert!(parse_span("40..10").is_err());
        assert!(parse_span("10-40").is_err());
        assert!(parse_span("-5..3").is_err());
    }

    #[test]
    fn the_cli_contract_parses() {
        let c = Cli::try_parse_from([
            "perfscope",
            "watch",
            "--db",
            "x.sigdb",
            "--pid",
            "12",
            "13",
            "--window",
            "300s",
            "--analyze",
            "90s",
            "--ring-mb",
            "64",
            "--max-events",
            "1000",
            "--report-dir",
            "/tmp/r",
            "--format",
            "json",
            "--detect",
            "silent-cpu,latency",
            "--once",
        ])
        .unwrap();
        let Cmd::Watch(w) = c.command else {
            panic!("not watch")
        };
        assert_eq!(w.pid, [12, 13]);
        assert_eq!(w.detect, [Detect::SilentCpu, Detect::Latency]);
        let c = Cli::try_parse_from(["perfscope", "watch", "--db", "x", "--", "sh", "-c", "x"])
            .unwrap();
        let Cmd::Watch(w) = c.command else {
            panic!("not watch")
        };
        assert_eq!(w.command, ["sh", "-c", "x"]);
        assert!(Cli::try_parse_from(["perfscope", "watch", "--db", "x"]).is_err());
        let c = Cli::try_parse_from([
            "perfscope",
            "analyze",
            "--db",
            "x",
            "t.trace",
            "--normal",
            "0..30",
            "--abnormal",
            "30..60",
            "--html",
            "o.html",
        ])
        .unwrap();
        assert!(matches!(c.command, Cmd::Analyze(a) if a.normal.is_some()));
        let c = Cli::try_parse_from([
            "perfscope",
            "alarm",
            "--pid",
            "7",
            "--wait",
            "--format",
            "json",
        ])
        .unwrap();
        assert!(matches!(c.command, Cmd::Alarm(a) if a.wait && a.pid == Some(7)));
    }
}
