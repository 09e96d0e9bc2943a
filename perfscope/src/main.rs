//! The perfscope binary: `watch` (online capture and analysis at each alarm), `alarm`
//! (raise one in a running watcher) and `analyze` (a recorded trace). Exit codes: 0
//! nothing abnormal, 1 findings, 2 error.

mod alarm;
mod checks;
mod cli;
mod detector;
mod html;
mod jvm;
mod offline;
mod output;
mod procstat;
mod rolling;
mod target;
mod watch;
mod worker;

use clap::Parser;

fn main() {
    let cli = cli::Cli::parse();
    let result = match &cli.command {
        cli::Cmd::Watch(a) => watch::run(a),
        cli::Cmd::Alarm(a) => alarm::client(a),
        cli::Cmd::Analyze(a) => offline::run(a),
    };
    let code = result.unwrap_or_else(|e| {
        eprintln!("perfscope: error: {}", host::cli::error_text(e.as_ref()));
        2
    });
    std::process::exit(code);
}
