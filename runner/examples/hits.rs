//! The most hit probes of a trace, with what each costs and why it is probed:
//! `cargo run -p runner --example hits -- TRACE [N]`. Per function: probe hits
//! (invocations), the probed instruction's class, the syscalls it was the top frame of,
//! and its syscall reach by `symbols` (read from the object again).

use std::collections::HashMap;
use std::path::Path;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        return Err("usage: hits TRACE [N]".into());
    };
    let top: usize = args.next().map_or(Ok(30), |n| n.parse())?;
    let mut r = trace::TraceReader::open(Path::new(&path))?;
    let mut functions: HashMap<u32, (String, String, trace::EntryClass)> = HashMap::new();
    for o in r.objects() {
        for f in &o.functions {
            functions.insert(f.id, (f.name.clone(), o.path.clone(), f.entry));
        }
    }
    let mut hits: HashMap<u32, u64> = HashMap::new();
    let mut own: HashMap<u32, u64> = HashMap::new();
    while let Some(ev) = r.next_event()? {
        match ev {
            trace::Event::Invocations { counts, .. } => {
                for (id, n) in counts {
                    hits.insert(id, n);
                }
            }
            trace::Event::Syscall(s) => {
                if let Some(f) = s.frames().first() {
                    *own.entry(f.func).or_default() += 1;
                }
            }
            _ => {}
        }
    }
    let mut reach: HashMap<(String, String), symbols::SyscallReach> = HashMap::new();
    let mut objects: Vec<String> = functions.values().map(|f| f.1.clone()).collect();
    objects.sort();
    objects.dedup();
    for o in objects {
        if let Ok(t) = symbols::load(Path::new(&o), &symbols::LoadOptions::default()) {
            for f in t.functions {
                reach.insert((o.clone(), f.name), f.syscalls);
            }
        }
    }
    let total: u64 = hits.values().sum();
    let mut rows: Vec<(u32, u64)> = hits.into_iter().collect();
    rows.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    println!("{total} hits in all");
    for (id, n) in rows.into_iter().take(top) {
        let Some((name, object, entry)) = functions.get(&id) else {
            continue;
        };
        let r = reach.get(&(object.clone(), name.clone()));
        println!(
            "{n:>11} {:>5.1}% {entry:<10?} {:<8} syscalls {:>8}  {name}",
            100.0 * n as f64 / total.max(1) as f64,
            r.map_or("?".to_string(), |r| format!("{r:?}")),
            own.get(&id).copied().unwrap_or(0),
        );
    }
    Ok(())
}
