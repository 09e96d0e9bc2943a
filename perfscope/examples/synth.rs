//! Writes a synthetic server's trace and signature database (the ones the tests use), to
//! try `perfscope analyze` by hand:
//!
//! ```text
//! cargo run -p perfscope --example synth -- /tmp/demo slow-flush   # or spin, hang, none
//! perfscope analyze --db /tmp/demo/demo.sigdb /tmp/demo/slow-flush.trace --html /tmp/demo/r.html
//! ```

use testkit::scenario as common;
use testkit::scenario::{BUILD_ID, Bug, Scenario};

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(dir), kind) = (args.next(), args.next()) else {
        eprintln!("usage: synth DIR [slow-flush|spin|hang|none] [SECONDS] [WORKERS] [RATE]");
        std::process::exit(2);
    };
    let kind = kind.unwrap_or_else(|| "slow-flush".into());
    let bug = match kind.as_str() {
        "slow-flush" => Bug::SlowFlush,
        "spin" => Bug::Spin,
        "hang" => Bug::Hang,
        "none" => Bug::None,
        k => {
            eprintln!("unknown scenario {k}");
            std::process::exit(2);
        }
    };
    let num = |a: Option<String>, d: f64| a.and_then(|s| s.parse().ok()).unwrap_or(d);
    let seconds = num(args.next(), 60.0) as u64;
    let sc = Scenario {
        bug,
        seconds,
        onset_s: seconds * 2 / 3,
        workers: num(args.next(), 8.0) as u32,
        rate: num(args.next(), 20.0),
        ..Scenario::default()
    };
    let dir = std::path::Path::new(&dir);
    std::fs::create_dir_all(dir).expect("creating the directory");
    sigdb::write(&common::sigdb(40, BUILD_ID), &dir.join("demo.sigdb")).expect("writing the sigdb");
    let trace = dir.join(format!("{kind}.trace"));
    let n = common::write_trace(&trace, &sc, BUILD_ID);
    eprintln!(
        "{}: {n} syscalls; {}",
        trace.display(),
        dir.join("demo.sigdb").display()
    );
}
