//! HotSpot thread dumps (`jcmd PID Thread.print`): every Java thread's stack, with its
//! native thread id, named exactly, whether its frames run interpreted, compiled or
//! inlined. After an alarm they name what sampled native stacks cannot (a JIT frame
//! without frame pointers, an inlined method).

/// One thread of a dump.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DumpThread {
    pub name: String,
    /// The kernel's thread id (`nid=0x...`).
    pub tid: u32,
    /// `RUNNABLE`, `WAITING (on object monitor)`, `TIMED_WAITING (sleeping)`...
    pub state: String,
    /// Innermost first: (`org.example.Server.handle`, line or 0).
    pub frames: Vec<(String, u32)>,
}

/// Parses a thread dump; lines it does not know are skipped.
pub fn parse(text: &str) -> Vec<DumpThread> {
    let mut out: Vec<DumpThread> = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix('"') {
            let Some((name, attrs)) = rest.split_once('"') else {
                continue;
            };
            let tid = attrs
                .split_whitespace()
                .find_map(|w| w.strip_prefix("nid=0x"))
                .and_then(|h| u32::from_str_radix(h, 16).ok());
            if let Some(tid) = tid {
                out.push(DumpThread {
                    name: name.to_string(),
                    tid,
                    state: String::new(),
                    frames: Vec::new(),
                });
            }
            continue;
        }
        let Some(t) = out.last_mut() else { continue };
        let l = line.trim_start();
        if let Some(state) = l.strip_prefix("java.lang.Thread.State: ") {
            t.state = state.trim().to_string();
        } else if let Some(frame) = l.strip_prefix("at ") {
            let Some((method, place)) = frame.split_once('(') else {
                continue;
            };
            // place: "File.java:123)", "java.base@17/File.java:12)", "Native Method)"
            let line_no = place
                .trim_end_matches(')')
                .rsplit_once(':')
                .and_then(|(_, n)| n.parse().ok())
                .unwrap_or(0);
            t.frames.push((method.trim().to_string(), line_no));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const DUMP: &str = "9993:\n\
Full thread dump OpenJDK 64-Bit Server VM (17.0.15+6 mixed mode, sharing):\n\
\n\
\"main\" #1 prio=5 os_prio=0 cpu=56.43ms elapsed=2.35s tid=0x00007fbe700179a0 nid=0x270d runnable  [0x00007fbe761f3000]\n\
   java.lang.Thread.State: RUNNABLE\n\
\tat sun.nio.ch.Net.accept(java.base@17.0.15/Native Method)\n\
\tat perfscope.fixture.JThreadSrv.acceptLoop(JThreadSrv.java:556)\n\
\tat perfscope.fixture.JThreadSrv.main(JThreadSrv.java:673)\n\
\n\
\"C2 CompilerThread0\" #7 daemon prio=9 os_prio=0 cpu=7.05ms elapsed=2.31s tid=0x00007fbe70060110 nid=0x2714 waiting on condition  [0x0000000000000000]\n\
   java.lang.Thread.State: RUNNABLE\n\
   No compile task\n\
\n\
\"worker-1\" #12 prio=5 os_prio=0 tid=0x1 nid=0x2720 waiting on condition [0x1]\n\
   java.lang.Thread.State: TIMED_WAITING (sleeping)\n\
\tat java.lang.Thread.sleep(java.base@17.0.15/Native Method)\n\
\t- locked <0x00000000f800d798> (a java.lang.Object)\n\
\tat perfscope.fixture.JThreadSrv$Worker.lambda$run$0(JThreadSrv.java:77)\n";

    #[test]
    fn threads_frames_and_states_parse() {
        let t = parse(DUMP);
        assert_eq!(t.len(), 3);
        assert_eq!((t[0].name.as_str(), t[0].tid), ("main", 0x270d));
        assert_eq!(t[0].state, "RUNNABLE");
        assert_eq!(
            t[0].frames,
            [
                ("sun.nio.ch.Net.accept".to_string(), 0),
                ("perfscope.fixture.JThreadSrv.acceptLoop".to_string(), 556),
                ("perfscope.fixture.JThreadSrv.main".to_string(), 673),
            ]
        );
        assert!(t[1].frames.is_empty());
        assert_eq!(t[2].state, "TIMED_WAITING (sleeping)");
        assert_eq!(
            t[2].frames[1].0,
            "perfscope.fixture.JThreadSrv$Worker.lambda$run$0"
        );
        assert!(parse("garbage\n\"x\" no nid\n").is_empty());
    }
}
