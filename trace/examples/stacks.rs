//! Prints the stack samples of a trace, one per line: time, thread, kind, syscall and
//! frames as `file+offset`. `cargo run -p trace --example stacks -- TRACE`
use std::path::Path;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let Some(path) = std::env::args().nth(1) else {
        return Err("usage: stacks TRACE".into());
    };
    let mut r = trace::TraceReader::open(Path::new(&path))?;
    while let Some(ev) = r.next_event()? {
        if let trace::Event::Stack {
            ts,
            tid,
            kind,
            nr,
            frames,
            ..
        } = ev
        {
            let frames: Vec<String> = frames
                .iter()
                .map(|f| {
                    let base = Path::new(&f.path)
                        .file_name()
                        .map_or(f.path.clone(), |n| n.to_string_lossy().into_owned());
                    format!("{base}+{:#x}", f.offset)
                })
                .collect();
            let nr = nr.map_or("-".into(), trace::syscall_name);
            println!("{ts} {tid} {kind:?} {nr} {}", frames.join(" "));
        }
    }
    Ok(())
}
