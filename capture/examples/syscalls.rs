//! Runs a command under a syscall-only capture and prints its events, one per line:
//! `cargo run -p capture --example syscalls -- ls /` (as root).

use capture::{Config, Filter, Session};
use host::Command;
use trace::Event;

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(2);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let Some((program, args)) = argv.split_first() else {
        eprintln!("usage: syscalls COMMAND [ARGS...]");
        std::process::exit(2);
    };
    let paused = Command::new(program).args(args).spawn_paused()?;
    let mut session = Session::start(Config::syscalls_only(Filter::Tree { root: paused.pid() }))?;
    let mut child = paused.release()?;
    let mut print = |ev: Event| match ev {
        Event::Syscall(s) => println!(
            "{} {}/{} {} = {} ({:?} ns)",
            s.ts,
            s.pid,
            s.tid,
            trace::syscall_name(s.nr),
            s.ret,
            s.dur
        ),
        other => println!("{other:?}"),
    };
    session.run_until(&mut print, || matches!(child.try_wait(), Ok(Some(_))))?;
    let status = child.wait()?;
    let stats = session.finish(&mut print)?;
    eprintln!("{status:?} {stats:?}");
    Ok(())
}
