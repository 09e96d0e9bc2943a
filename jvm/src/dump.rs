//! HotSpot thread dumps (`jcmd PID Thread.print -l`): every Java thread's stack, with its
//! native thread id, named exactly, whether its frames run interpreted, compiled or
//! inlined, and the locks it waits for and holds. After an alarm they name what sampled
//! native stacks cannot (a JIT frame without frame pointers, an inlined method), and which
//! thread holds the lock that others wait for.

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
    /// The lock it waits to take: a monitor (`waiting to lock <0x...>`) or the
    /// synchronizer it parks for (`parking to wait for <0x...>`). Not the monitor of an
    /// `Object.wait` (`waiting on`): that waits for a notification, and holds nothing.
    pub waits: Option<u64>,
    /// The locks it holds: monitors with the index of the frame that entered them
    /// (`- locked <0x...>` under a frame), and, with `-l`, its `java.util.concurrent`
    /// locks (`Locked ownable synchronizers`), whose frame the dump does not say.
    pub holds: Vec<(u64, Option<u32>)>,
}

/// The lock identity of a dump line's `<0x...>`.
fn lock_of(line: &str) -> Option<u64> {
    let (_, rest) = line.split_once("<0x")?;
    let (hex, _) = rest.split_once('>')?;
    u64::from_str_radix(hex, 16).ok()
}

/// Parses a thread dump; lines it does not know are skipped.
pub fn parse(text: &str) -> Vec<DumpThread> {
    let mut out: Vec<DumpThread> = Vec::new();
    // in the current thread's `Locked ownable synchronizers` list; the monitor it waits on
    let (mut ownable, mut waited_on) = (false, None);
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
                    waits: None,
                    holds: Vec::new(),
                });
                ownable = false;
                waited_on = None;
            }
            continue;
        }
        let Some(t) = out.last_mut() else { continue };
        let l = line.trim_start();
        if let Some(state) = l.strip_prefix("java.lang.Thread.State: ") {
            t.state = state.trim().to_string();
        } else if l.starts_with("Locked ownable synchronizers:") {
            ownable = true;
        } else if let Some(rest) = l.strip_prefix("- ") {
            let lock = lock_of(rest);
            if ownable {
                t.holds.extend(lock.map(|l| (l, None)));
            } else if rest.starts_with("parking to wait for") || rest.starts_with("waiting to lock")
            {
                t.waits = t.waits.or(lock);
            } else if rest.starts_with("waiting on") {
                waited_on = lock;
            } else if rest.starts_with("locked") {
                // a monitor entered by the frame above; the one it waits on is released
                let frame = u32::try_from(t.frames.len())
                    .ok()
                    .and_then(|n| n.checked_sub(1));
                if let Some(l) = lock.filter(|&l| Some(l) != waited_on) {
                    t.holds.push((l, frame));
                }
            }
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

    /// `jcmd PID Thread.print -l` of OpenJDK 17 over a program whose threads hold and
    /// wait for a `ReentrantLock` and a monitor (the last thread, in `Object.wait`, is
    /// written the way HotSpot prints one).
    const LOCKS: &str = "\"holder-lock\" #12 prio=5 os_prio=0 cpu=0.08ms elapsed=2.15s tid=0x00007f55e0118f40 nid=0x895 waiting on condition  [0x00007f55b89fd000]\n\
   java.lang.Thread.State: TIMED_WAITING (sleeping)\n\
\tat java.lang.Thread.sleep(java.base@17.0.15/Native Method)\n\
\tat Locks.holdLock(Locks.java:5)\n\
\tat Locks$$Lambda$1/0x00007f5564000a08.run(Unknown Source)\n\
\tat java.lang.Thread.run(java.base@17.0.15/Thread.java:840)\n\
\n\
   Locked ownable synchronizers:\n\
\t- <0x000000069ec19448> (a java.util.concurrent.locks.ReentrantLock$NonfairSync)\n\
\n\
\"waiter-lock\" #13 prio=5 os_prio=0 cpu=0.32ms elapsed=1.95s tid=0x00007f55e011a460 nid=0x89a waiting on condition  [0x00007f55b88fd000]\n\
   java.lang.Thread.State: WAITING (parking)\n\
\tat jdk.internal.misc.Unsafe.park(java.base@17.0.15/Native Method)\n\
\t- parking to wait for  <0x000000069ec19448> (a java.util.concurrent.locks.ReentrantLock$NonfairSync)\n\
\tat java.util.concurrent.locks.LockSupport.park(java.base@17.0.15/LockSupport.java:211)\n\
\tat java.util.concurrent.locks.AbstractQueuedSynchronizer.acquire(java.base@17.0.15/AbstractQueuedSynchronizer.java:715)\n\
\tat java.util.concurrent.locks.AbstractQueuedSynchronizer.acquire(java.base@17.0.15/AbstractQueuedSynchronizer.java:938)\n\
\tat java.util.concurrent.locks.ReentrantLock$Sync.lock(java.base@17.0.15/ReentrantLock.java:153)\n\
\tat java.util.concurrent.locks.ReentrantLock.lock(java.base@17.0.15/ReentrantLock.java:322)\n\
\tat Locks.wantLock(Locks.java:6)\n\
\tat Locks$$Lambda$2/0x00007f5564000c28.run(Unknown Source)\n\
\tat java.lang.Thread.run(java.base@17.0.15/Thread.java:840)\n\
\n\
   Locked ownable synchronizers:\n\
\t- None\n\
\n\
\"holder-mon\" #14 prio=5 os_prio=0 cpu=0.07ms elapsed=1.95s tid=0x00007f55e011b670 nid=0x89b waiting on condition  [0x00007f55b87fd000]\n\
   java.lang.Thread.State: TIMED_WAITING (sleeping)\n\
\tat java.lang.Thread.sleep(java.base@17.0.15/Native Method)\n\
\tat Locks.holdMon(Locks.java:7)\n\
\t- locked <0x000000069ec19468> (a java.lang.Object)\n\
\tat Locks$$Lambda$3/0x00007f5564001000.run(Unknown Source)\n\
\tat java.lang.Thread.run(java.base@17.0.15/Thread.java:840)\n\
\n\
   Locked ownable synchronizers:\n\
\t- None\n\
\n\
\"waiter-mon\" #15 prio=5 os_prio=0 cpu=0.29ms elapsed=1.75s tid=0x00007f55e011c740 nid=0x8a0 waiting for monitor entry  [0x00007f55b86fd000]\n\
   java.lang.Thread.State: BLOCKED (on object monitor)\n\
\tat Locks.wantMon(Locks.java:8)\n\
\t- waiting to lock <0x000000069ec19468> (a java.lang.Object)\n\
\tat Locks$$Lambda$4/0x00007f5564001220.run(Unknown Source)\n\
\tat java.lang.Thread.run(java.base@17.0.15/Thread.java:840)\n\
\n\
   Locked ownable synchronizers:\n\
\t- None\n\
\n\
\"waiter-notify\" #16 prio=5 os_prio=0 cpu=0.29ms elapsed=1.75s tid=0x00007f55e011c750 nid=0x8a1 in Object.wait()  [0x00007f55b85fd000]\n\
   java.lang.Thread.State: WAITING (on object monitor)\n\
\tat java.lang.Object.wait(java.base@17.0.15/Native Method)\n\
\t- waiting on <0x000000069ec19478> (a java.lang.Object)\n\
\tat java.lang.Object.wait(java.base@17.0.15/Object.java:338)\n\
\tat Locks.waitNotify(Locks.java:9)\n\
\t- locked <0x000000069ec19478> (a java.lang.Object)\n\
\n\
   Locked ownable synchronizers:\n\
\t- None\n\
";

    #[test]
    fn locks_waited_for_and_held_parse() {
        let t = parse(LOCKS);
        let names: Vec<&str> = t.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "holder-lock",
                "waiter-lock",
                "holder-mon",
                "waiter-mon",
                "waiter-notify"
            ]
        );
        let (lock, mon) = (0x69ec19448, 0x69ec19468);
        // the ReentrantLock: held as an ownable synchronizer (no frame), parked for
        assert_eq!(
            (t[0].waits, t[0].holds.as_slice()),
            (None, &[(lock, None)][..])
        );
        assert_eq!((t[1].waits, t[1].holds.as_slice()), (Some(lock), &[][..]));
        // the monitor: held by the frame that entered it (holdMon, frame 1), waited for
        assert_eq!(t[2].frames[1].0, "Locks.holdMon");
        assert_eq!(
            (t[2].waits, t[2].holds.as_slice()),
            (None, &[(mon, Some(1))][..])
        );
        assert_eq!((t[3].waits, t[3].holds.as_slice()), (Some(mon), &[][..]));
        // Object.wait releases the monitor it waits on: neither waited for nor held
        assert_eq!((t[4].waits, t[4].holds.as_slice()), (None, &[][..]));
    }
}
