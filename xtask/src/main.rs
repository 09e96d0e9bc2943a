//! `cargo xtask`: perfscope's developer tasks. Each subcommand is a module with a clap
//! `Options` struct and a `run(opts)` function; add one by adding a variant to
//! [`Command`].

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use xtask::{bench_train, ci, demo, diffcheck, eval, fuzz, procs, tidy, train};

#[derive(Debug, Parser)]
#[command(name = "cargo xtask", about = "perfscope developer tasks")]
struct Cli {
    /// More logging (-v debug: every command started and stopped); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Train(train::Options),
    Diffcheck(diffcheck::Options),
    BenchTrain(bench_train::Options),
    Eval(eval::Options),
    Demo(demo::Options),
    Ci(ci::Options),
    Fuzz(fuzz::Options),
    Tidy(tidy::Options),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let default = if cli.verbose > 0 { "debug" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
    procs::handle_interrupts();
    let done = |r: anyhow::Result<()>| r.map(|()| ExitCode::SUCCESS);
    let result = match cli.command {
        Command::Train(o) => done(train::run(o)),
        Command::BenchTrain(o) => done(bench_train::run(o)),
        Command::Eval(o) => done(eval::run(o)),
        // 1: a retraining differs, or the patch does not show as its function alone
        Command::Diffcheck(o) => diffcheck::run(o),
        // 0 or 1: whether the injected function ranked first
        Command::Demo(o) => demo::run(o),
        // 1: a step failed
        Command::Ci(o) => ci::run(o),
        // 1: a fuzz target crashed, hung or ran out of memory
        Command::Fuzz(o) => fuzz::run(o),
        // 1: a rule is broken
        Command::Tidy(o) => tidy::run(o),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("xtask: error: {}", host::cli::error_text(e.as_ref()));
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;
    use std::path::PathBuf;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
        let cli = Cli::parse_from(["xtask", "train", "--target", "lighttpd", "--quick"]);
        let Command::Train(t) = cli.command else {
            panic!("not train")
        };
        assert!(t.quick);
        assert_eq!(t.until, train::StepName::Publish);
        let cli = Cli::parse_from([
            "xtask", "eval", "--cases", "a", "b", "--json", "out.json", "--jobs", "2",
        ]);
        let Command::Eval(e) = cli.command else {
            panic!("not eval")
        };
        assert_eq!(e.cases, [PathBuf::from("a"), PathBuf::from("b")]);
        assert_eq!(e.common.jobs, Some(2));
        assert!(
            Cli::try_parse_from(["xtask", "eval"]).is_err(),
            "--cases is required"
        );
        assert!(Cli::try_parse_from(["xtask", "train", "--target", "x", "--jobs", "0"]).is_err());
    }
}
