//! Session life cycle on the real kernel: nothing left behind after SIGKILL, losses
//! counted and reported, in-flight syscalls retrievable, the other filters, errors.
//! Needs root.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command as Process, Stdio};
use std::time::{Duration, Instant};

use capture::{CaptureError, Config, Filter, ObjectProbes, Probe, Session};
use common::{build, can_trace, function_offsets, probe_every_function, run_full};
use host::Command;
use trace::Event;

const HELPER_ENV: &str = "PERFSCOPE_KILL9_HELPER";
const TARGET_ENV: &str = "PERFSCOPE_KILL9_PID";

/// Kills a process when a test ends, passed or not.
struct KillOnDrop(u32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        host::signals::kill(self.0 as i32, host::signals::SIGKILL);
    }
}

use capture::census::{link_exists, link_kind};

/// The process [`kill9_leaves_no_links`] kills: traces the process `PERFSCOPE_KILL9_PID`
/// with probes on the fixture `PERFSCOPE_KILL9_HELPER`, prints its link ids and waits.
#[test]
#[ignore = "helper process of kill9_leaves_no_links, run by it"]
fn kill9_helper() {
    let (Ok(exe), Ok(pid)) = (std::env::var(HELPER_ENV), std::env::var(TARGET_ENV)) else {
        return;
    };
    let pid: u32 = pid.parse().unwrap();
    let probes = probe_every_function(Path::new(&exe));
    let session = Session::start(Config::full(Filter::Pids(vec![pid]), vec![probes])).unwrap();
    let ids: Vec<String> = session.link_ids().iter().map(u32::to_string).collect();
    println!("LINKS {}", ids.join(" "));
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}

#[test]
fn kill9_leaves_no_links() {
    if !can_trace("kill9_leaves_no_links") {
        return;
    }
    let fx = build("callee_caller");
    let mut target = Process::new("sleep").arg("60").spawn().unwrap();
    let _target_guard = KillOnDrop(target.id());
    let mut helper = Process::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "kill9_helper",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(HELPER_ENV, &fx.exe)
        .env(TARGET_ENV, target.id().to_string())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn the helper");
    let _guard = KillOnDrop(helper.id());
    let mut line = String::new();
    for l in BufReader::new(helper.stdout.take().unwrap()).lines() {
        let l = l.unwrap();
        // libtest prints "test kill9_helper ... " before the test's own output.
        if let Some(i) = l.find("LINKS ") {
            line = l[i..].to_string();
            break;
        }
    }
    let ids: Vec<u32> = line
        .split_whitespace()
        .skip(1)
        .map(|w| w.parse().unwrap())
        .collect();
    assert!(ids.len() > 1, "helper said {line:?}");
    assert!(
        ids.iter().all(|&id| link_exists(id)),
        "links {ids:?} not listed"
    );
    assert!(
        ids.iter()
            .any(|&id| link_kind(id).as_deref() == Some("uprobe_multi")),
        "no uprobe_multi link among {ids:?}"
    );

    host::signals::kill(helper.id() as i32, host::signals::SIGKILL);
    helper.wait().unwrap();
    target.kill().unwrap();
    target.wait().unwrap();

    let left = links_left(&ids, Duration::from_secs(10));
    assert!(left.is_empty(), "links survived SIGKILL: {left}");
    let events = std::fs::read_to_string("/sys/kernel/tracing/uprobe_events").unwrap_or_default();
    let name = fx.exe.to_string_lossy();
    assert!(
        !events.contains(name.as_ref()),
        "tracefs uprobes left on the fixture:\n{events}"
    );
}

#[test]
fn ring_buffer_overflow_is_counted_and_reported() {
    if !can_trace("ring_buffer_overflow_is_counted_and_reported") {
        return;
    }
    let fx = build("storm");
    let n = 200_000u64;
    let paused = Command::new(&fx.exe)
        .arg(n.to_string())
        .spawn_paused()
        .unwrap();
    let mut config = Config::syscalls_only(Filter::Tree { root: paused.pid() });
    config.ring_bytes = 4096;
    let session = Session::start(config).unwrap();
    let mut child = paused.release().unwrap();
    // No drain while it runs: the one-page buffer fills within a few dozen syscalls.
    assert!(child.wait().unwrap().success());
    let mut events = Vec::new();
    let stats = session.finish(&mut |e| events.push(e)).unwrap();
    let reported: u64 = events
        .iter()
        .map(|e| match e {
            Event::Lost { count, .. } => *count,
            _ => 0,
        })
        .sum();
    let getppid = trace::syscall_number("getppid").unwrap();
    let kept = events
        .iter()
        .filter(|e| matches!(e, Event::Syscall(s) if s.nr == getppid))
        .count() as u64;
    assert!(stats.lost > 0, "{stats:?}");
    assert_eq!(
        reported, stats.lost,
        "every loss is reported as Event::Lost"
    );
    assert!(kept < n / 10, "kept {kept}");
    // Every getppid is either delivered or counted lost.
    assert!(
        kept + stats.lost >= n,
        "kept {kept} + lost {} < {n}",
        stats.lost
    );
}

#[test]
fn blocked_syscall_is_reported_in_flight() {
    if !can_trace("blocked_syscall_is_reported_in_flight") {
        return;
    }
    let fx = build("blocker");
    let offsets = function_offsets(&fx.exe);
    let names: Vec<&String> = offsets.keys().collect();
    let probes = probe_every_function(&fx.exe);
    let paused = Command::new(&fx.exe).spawn_paused().unwrap();
    let root = paused.pid();
    let mut session = Session::start(Config::full(Filter::Tree { root }, vec![probes])).unwrap();
    let mut child = paused.release().unwrap();
    let _guard = KillOnDrop(root);
    let read = trace::syscall_number("read").unwrap();
    let mut events = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    let blocked = loop {
        session.poll(&mut |e| events.push(e)).unwrap();
        let now = session.in_flight().unwrap();
        if let Some(s) = now.iter().find(|s| s.pid == root && s.nr == read) {
            break *s;
        }
        assert!(
            Instant::now() < deadline,
            "the read never showed up in flight"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let frame_names = |s: &trace::Syscall| -> Vec<String> {
        s.frames()
            .iter()
            .map(|f| names[f.func as usize].clone())
            .collect()
    };
    assert_eq!(blocked.dur, None);
    assert_eq!(frame_names(&blocked)[..2], ["blocked_read", "main"]);

    // Stopping the capture while it is blocked: finish reports it.
    session.finish(&mut |e| events.push(e)).unwrap();
    let reported: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            // (The dynamic loader's reads returned.)
            Event::Syscall(s) if s.pid == root && s.nr == read && s.dur.is_none() => Some(*s),
            _ => None,
        })
        .collect();
    assert_eq!(reported.len(), 1, "{reported:?}");
    assert_eq!(reported[0].ts, blocked.ts);
    assert_eq!(frame_names(&reported[0])[..2], ["blocked_read", "main"]);
    child.signal(host::signals::SIGKILL, false).unwrap();
    assert_eq!(
        child.wait().unwrap(),
        host::ExitStatus::Signaled(host::signals::SIGKILL)
    );
}

/// A syscalls-only session sends a busy thread's syscalls in batches. A thread that goes
/// quiet on CPU right after a few fast syscalls leaves them in its batch: `flush` must
/// hand them over (once, however often it is called), and when the thread sends the batch
/// later the ring must not repeat them.
#[test]
fn quiet_threads_batch_is_handed_over_once() {
    if !can_trace("quiet_threads_batch_is_handed_over_once") {
        return;
    }
    let fx = build("quiet_spin");
    let paused = Command::new(&fx.exe).arg("5000").spawn_paused().unwrap();
    let root = paused.pid();
    let mut session = Session::start(Config::syscalls_only(Filter::Tree { root })).unwrap();
    let mut child = paused.release().unwrap();
    let _guard = KillOnDrop(root);
    // (glibc's nanosleep() is the clock_nanosleep syscall)
    let nanosleep = trace::syscall_number("clock_nanosleep").unwrap();
    let getppid = trace::syscall_number("getppid").unwrap();
    let calls = |events: &[Event], nr: u32| -> Vec<u64> {
        events
            .iter()
            .filter_map(|e| match e {
                Event::Syscall(s) if s.pid == root && s.nr == nr => Some(s.ts),
                _ => None,
            })
            .collect()
    };
    let mut events = Vec::new();
    // The 3 ms sleep blocked, so its batch went out through the ring.
    let deadline = Instant::now() + Duration::from_secs(4);
    while calls(&events, nanosleep).is_empty() {
        assert!(
            Instant::now() < deadline,
            "the nanosleep never came through the ring"
        );
        std::thread::sleep(Duration::from_millis(10));
        session.poll(&mut |e| events.push(e)).unwrap();
    }
    std::thread::sleep(Duration::from_millis(100));
    session.poll(&mut |e| events.push(e)).unwrap();
    assert_eq!(
        calls(&events, getppid).len(),
        0,
        "the three getppid() before the spin should still wait in the thread's batch"
    );

    let in_flight = session.flush(&mut |e| events.push(e)).unwrap();
    assert!(in_flight.iter().all(|s| s.pid != root), "{in_flight:?}");
    let first = calls(&events, getppid);
    assert_eq!(first.len(), 3, "flush hands over the batch");
    session.flush(&mut |e| events.push(e)).unwrap();
    assert_eq!(
        calls(&events, getppid),
        first,
        "a second flush repeats nothing"
    );

    assert!(child.wait().unwrap().success());
    let stats = session.finish(&mut |e| events.push(e)).unwrap();
    assert_eq!(stats.lost, 0);
    let all = calls(&events, getppid);
    assert_eq!(
        all.len(),
        8,
        "3 before the spin, 5 after, each once: {all:?}"
    );
    let mut distinct = all.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), 8, "{all:?}");
    assert_eq!(all[..3], first[..]);
}

#[test]
fn killed_process_exit_code_and_interrupted_syscall() {
    if !can_trace("killed_process_exit_code_and_interrupted_syscall") {
        return;
    }
    let fx = build("blocker");
    let paused = Command::new(&fx.exe).spawn_paused().unwrap();
    let root = paused.pid();
    let session = Session::start(Config::syscalls_only(Filter::Tree { root })).unwrap();
    let mut child = paused.release().unwrap();
    let _guard = KillOnDrop(root);
    let read = trace::syscall_number("read").unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !session.in_flight().unwrap().iter().any(|s| s.nr == read) {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(20));
    }
    child.signal(host::signals::SIGKILL, false).unwrap();
    child.wait().unwrap();
    let mut events = Vec::new();
    session.finish(&mut |e| events.push(e)).unwrap();
    // The read returned (interrupted), then the thread died of SIGKILL.
    assert!(events.iter().any(
        |e| matches!(e, Event::Syscall(s) if s.pid == root && s.nr == read && s.dur.is_some())
    ));
    assert!(events.iter().any(
        |e| matches!(e, Event::Exit { pid, code, .. } if *pid == root && *code == -host::signals::SIGKILL)
    ));
}

#[test]
fn pid_list_does_not_follow_children() {
    if !can_trace("pid_list_does_not_follow_children") {
        return;
    }
    let fx = build("fork_exec");
    let paused = Command::new(&fx.exe).spawn_paused().unwrap();
    let root = paused.pid();
    let session = Session::start(Config::syscalls_only(Filter::Pids(vec![root]))).unwrap();
    let mut child = paused.release().unwrap();
    assert!(child.wait().unwrap().success());
    let mut events = Vec::new();
    session.finish(&mut |e| events.push(e)).unwrap();
    let count = |name: &str| {
        let nr = trace::syscall_number(name).unwrap();
        events
            .iter()
            .filter(|e| matches!(e, Event::Syscall(s) if s.nr == nr))
            .count()
    };
    assert_eq!(count("getuid"), 1, "the listed process is traced");
    assert_eq!(count("getsid"), 0, "its child is not");
    assert!(events.iter().all(|e| match e {
        Event::Syscall(s) => s.pid == root && s.frames().is_empty(),
        _ => true,
    }));
}

#[test]
fn cgroup_filter_traces_only_the_cgroup() {
    if !can_trace("cgroup_filter_traces_only_the_cgroup") {
        return;
    }
    let base = host::procfs::cgroup2_mount();
    if !testkit::require(
        "cgroup_filter_traces_only_the_cgroup",
        base.is_some(),
        "no cgroup v2 mounted",
    ) {
        return;
    }
    let base = base.unwrap_or_default();
    let dir = base.join(format!("perfscope-test-{}", std::process::id()));
    std::fs::create_dir(&dir).unwrap();
    let fx = build("storm");
    let inside = Command::new(&fx.exe).arg("1000").spawn_paused().unwrap();
    let outside = Command::new(&fx.exe).arg("1000").spawn_paused().unwrap();
    let (pin, pout) = (inside.pid(), outside.pid());
    std::fs::write(dir.join("cgroup.procs"), pin.to_string()).unwrap();
    let session = Session::start(Config::syscalls_only(Filter::Cgroup(dir.clone())));
    let session = match session {
        Ok(s) => s,
        Err(e) => {
            let _ = std::fs::remove_dir(&dir);
            panic!("{e}");
        }
    };
    let mut a = inside.release().unwrap();
    let mut b = outside.release().unwrap();
    a.wait().unwrap();
    b.wait().unwrap();
    let mut events = Vec::new();
    session.finish(&mut |e| events.push(e)).unwrap();
    std::fs::remove_dir(&dir).unwrap();
    let getppid = trace::syscall_number("getppid").unwrap();
    let from = |pid: u32| {
        events
            .iter()
            .filter(|e| matches!(e, Event::Syscall(s) if s.pid == pid && s.nr == getppid))
            .count()
    };
    assert_eq!(from(pin), 1000);
    assert_eq!(from(pout), 0);
    // The seed lists the threads already in the cgroup.
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Comm { pid, .. } if *pid == pin))
    );
}

#[test]
fn configuration_errors_are_typed() {
    let err = Session::start(Config::syscalls_only(Filter::Pids(Vec::new()))).err();
    assert!(matches!(err, Some(CaptureError::Config(_))), "{err:?}");
    let mut c = Config::syscalls_only(Filter::Tree { root: 1 });
    c.max_frames = 9;
    assert!(matches!(
        Session::start(c).err(),
        Some(CaptureError::Config(_))
    ));
    let mut c = Config::syscalls_only(Filter::Tree { root: 1 });
    c.objects.push(ObjectProbes {
        path: "/bin/true".into(),
        probes: vec![],
    });
    assert!(matches!(
        Session::start(c).err(),
        Some(CaptureError::NotFull)
    ));
    if !can_trace("configuration_errors_are_typed (kernel part)") {
        return;
    }
    let me = std::process::id();
    let err = Session::start(Config::syscalls_only(Filter::Tree { root: me })).err();
    assert!(matches!(err, Some(CaptureError::Config(_))), "{err:?}");

    let paused = Command::new("true").spawn_paused().unwrap();
    let filter = Filter::Tree { root: paused.pid() };
    let mut session = Session::start(Config::syscalls_only(filter.clone())).unwrap();
    let probes = ObjectProbes {
        path: "/bin/true".into(),
        probes: vec![Probe {
            file_offset: 0x1000,
            func: 0,
        }],
    };
    assert!(matches!(
        session.attach(&probes),
        Err(CaptureError::NotFull)
    ));
    drop(session);

    let mut config = Config::full(filter, Vec::new());
    config.function_capacity = Some(1);
    let mut session = Session::start(config).unwrap();
    let err = session.attach(&ObjectProbes {
        path: "/no/such/binary".into(),
        probes: probes.probes.clone(),
    });
    assert!(matches!(err, Err(CaptureError::Object { .. })), "{err:?}");
    let err = session.attach(&ObjectProbes {
        path: "/bin/true".into(),
        probes: vec![Probe {
            file_offset: 0x1000,
            func: 1,
        }],
    });
    assert!(
        matches!(
            err,
            Err(CaptureError::FunctionCapacity {
                id: 1,
                capacity: 1,
                ..
            })
        ),
        "{err:?}"
    );
    assert_eq!(session.stats().probes, 0);
    drop(session);
    drop(paused);
}

#[test]
fn duplicate_offsets_are_probed_once_and_counters_add_up() {
    if !can_trace("duplicate_offsets_are_probed_once_and_counters_add_up") {
        return;
    }
    let fx = build("invocations");
    let mut leaf_alias = 0;
    let run = run_full(&fx, &["10"], |c| {
        // A second id on an existing offset (an alias): the first id keeps the probe.
        let first = c.objects[0].probes[0];
        leaf_alias = c.objects[0].probes.len() as u32;
        c.objects[0].probes.push(Probe {
            file_offset: first.file_offset,
            func: leaf_alias,
        });
    });
    assert!(run.status.success());
    assert_eq!(run.stats.objects, 1);
    assert_eq!(run.stats.probes, run.ids.len(), "{:?}", run.stats);
    assert_eq!(run.stats.events, run.events.len() as u64);
    let Some(Event::Invocations { counts, .. }) = run.events.last() else {
        panic!("no invocation counts at the end");
    };
    assert_eq!(run.stats.functions_hit as usize, counts.len());
    assert!(counts.iter().all(|(f, _)| *f != leaf_alias));
    assert_eq!(run.invocations("leaf"), Some(10));
    assert_eq!(run.stats.lost, 0);
}

/// Run by [`unprivileged_start_says_what_is_missing`] as user nobody.
#[test]
#[ignore = "helper process of unprivileged_start_says_what_is_missing, run by it"]
fn unprivileged_helper() {
    if std::env::var_os("PERFSCOPE_UNPRIVILEGED_HELPER").is_none() {
        return;
    }
    match Session::start(Config::syscalls_only(Filter::Tree { root: 1 })) {
        Err(e @ CaptureError::NotPrivileged { .. }) => println!("ERR {e}"),
        other => println!("UNEXPECTED {:?}", other.err()),
    }
}

#[test]
fn unprivileged_start_says_what_is_missing() {
    let test = "unprivileged_start_says_what_is_missing";
    if !testkit::require_uid0(test) || !testkit::require_tool(test, "setpriv") {
        return;
    }
    let out = Process::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
        ])
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", "unprivileged_helper", "--ignored", "--nocapture"])
        .env("PERFSCOPE_UNPRIVILEGED_HELPER", "1")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find_map(|l| l.find("ERR ").map(|i| &l[i..]));
    let Some(line) = line else {
        panic!(
            "helper said:\n{text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    assert!(
        line.contains("needs root") && line.contains("CAP_BPF"),
        "{line}"
    );
}

/// A muted function's old link is detached off the caller's thread, and gone once the
/// session is finished or dropped; the new link holds the other probes.
#[test]
fn muting_replaces_the_link_and_the_old_one_is_gone_after_the_session() {
    if !can_trace("muting_replaces_the_link_and_the_old_one_is_gone_after_the_session") {
        return;
    }
    let fx = build("callee_caller");
    let probes = probe_every_function(&fx.exe);
    let n = probes.probes.len();
    assert!(n >= 2, "{probes:?}");
    for finish in [true, false] {
        let paused = Command::new("true").spawn_paused().unwrap();
        let filter = Filter::Tree { root: paused.pid() };
        let mut session = Session::start(Config::full(filter, vec![probes.clone()])).unwrap();
        // A child another thread forks meanwhile (tests run in parallel) must not hold
        // the links open while it waits to exec.
        let bystander = Command::new("true").spawn_paused().unwrap();
        let before = session.link_ids();
        let (removed, error) = session.mute(&[0u32].into());
        assert!(error.is_none(), "{error:?}");
        assert_eq!(removed, vec![0]);
        let after = session.link_ids();
        let replaced: Vec<u32> = before
            .iter()
            .copied()
            .filter(|id| !after.contains(id))
            .collect();
        assert_eq!(replaced.len(), 1, "{before:?} -> {after:?}");
        assert_eq!(session.stats().probes, n - 1);
        if finish {
            session.finish(&mut |_: Event| {}).unwrap();
        } else {
            drop(session);
        }
        // gone once the session is, but for a parallel test's census of the machine's
        // links, which holds each for a moment
        let left = links_left(&replaced, Duration::from_secs(2));
        assert!(
            left.is_empty(),
            "the replaced link outlived the session: {left}"
        );
        let left = links_left(&after, Duration::from_secs(2));
        assert!(left.is_empty(), "links outlived the session: {left}");
        drop((paused, bystander));
    }
}

/// The links of `ids` still alive after waiting up to `wait` for them to go, with the
/// processes holding them (a link lives while any descriptor of it is open); empty when
/// all are gone.
fn links_left(ids: &[u32], wait: Duration) -> String {
    let deadline = Instant::now() + wait;
    while ids.iter().any(|&id| link_exists(id)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let left: Vec<u32> = ids.iter().copied().filter(|&id| link_exists(id)).collect();
    if left.is_empty() {
        return String::new();
    }
    let mut holders = Vec::new();
    for p in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(fds) = std::fs::read_dir(p.path().join("fdinfo")) else {
            continue;
        };
        for f in fds.flatten() {
            let info = std::fs::read_to_string(f.path()).unwrap_or_default();
            if let Some(id) = left
                .iter()
                .find(|&&id| info.contains(&format!("link_id:\t{id}\n")))
            {
                let comm = std::fs::read_to_string(p.path().join("comm")).unwrap_or_default();
                holders.push(format!(
                    "{id} by pid {} ({}) fd {}",
                    p.file_name().to_string_lossy(),
                    comm.trim(),
                    f.file_name().to_string_lossy()
                ));
            }
        }
    }
    format!(
        "{left:?}, held: {holders:?} (this process {})",
        std::process::id()
    )
}
