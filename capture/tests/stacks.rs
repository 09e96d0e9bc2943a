//! Privileged tests of the stack sampler on the fixtures of fixtures/stacks: on-CPU
//! samples of a spin, blocked samples of a hang in `read`, syscall samples of a syscall
//! loop, and that nothing is left in the kernel afterwards. Skipped without root or BTF.
//! The tests take one lock: they count this process's fds, and a spinning fixture
//! should not compete with another test for the two CPUs.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command as Process;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use capture::{Config, Filter, Session, StackConfig, StackStats};
use host::{Child, Command};
use trace::{CodeLocation, Event, StackKind};

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// A fixture of fixtures/stacks compiled as its README says.
struct Fixture {
    _built: testkit::Built,
    exe: PathBuf,
    /// (name, file offset, size) of its defined functions.
    functions: Vec<(String, u64, u64)>,
}

fn build(name: &str) -> Fixture {
    let built = testkit::fixture("stacks", name, testkit::Flags::Fixture);
    let exe = built.exe.clone();
    let functions = functions(&exe);
    Fixture {
        _built: built,
        exe,
        functions,
    }
}

/// `(name, file offset, size)` of the sized text symbols, from `nm -S` and `readelf -lW`.
fn functions(exe: &Path) -> Vec<(String, u64, u64)> {
    let segs = common::load_segments(exe);
    let out = Process::new("nm")
        .args(["-S", "--defined-only"])
        .arg(exe)
        .output()
        .expect("running nm");
    assert!(out.status.success(), "nm failed");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() != 4 || !matches!(f[2], "T" | "t") {
                return None;
            }
            let vaddr = u64::from_str_radix(f[0], 16).ok()?;
            let size = u64::from_str_radix(f[1], 16).ok()?;
            let (off, v, _) = segs.iter().find(|(_, v, m)| (*v..v + m).contains(&vaddr))?;
            Some((f[3].to_string(), vaddr - v + off, size))
        })
        .collect()
}

impl Fixture {
    /// The fixture function holding a frame, `libc` for a frame in the C library, `?`
    /// otherwise.
    fn name(&self, loc: &CodeLocation) -> String {
        if Path::new(&loc.path) == self.exe {
            if let Some((n, _, _)) = self
                .functions
                .iter()
                .find(|(_, off, size)| (*off..off + size).contains(&loc.offset))
            {
                return n.clone();
            }
        } else if Path::new(&loc.path)
            .file_name()
            .is_some_and(|f| f.to_string_lossy().starts_with("libc"))
        {
            return "libc".into();
        }
        "?".into()
    }

    fn names(&self, frames: &[CodeLocation]) -> Vec<String> {
        frames.iter().map(|f| self.name(f)).collect()
    }
}

/// A running fixture under a syscalls-only session; killed when dropped.
struct Target {
    session: Option<Session>,
    child: Child,
}

impl Target {
    fn start(fx: &Fixture) -> Target {
        let paused = Command::new(&fx.exe).spawn_paused().expect("spawn");
        let root = paused.pid();
        let session =
            Session::start(Config::syscalls_only(Filter::Tree { root })).expect("session start");
        let child = paused.release().expect("release");
        Target {
            session: Some(session),
            child,
        }
    }

    fn session(&self) -> &Session {
        self.session.as_ref().expect("session")
    }

    fn pid(&self) -> u32 {
        self.child.pid()
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        let _ = self.child.signal(host::signals::SIGKILL, false);
        let _ = self.child.wait();
        self.session = None;
    }
}

struct Sample {
    tid: u32,
    ts: u64,
    kind: StackKind,
    nr: Option<u32>,
    frames: Vec<CodeLocation>,
}

fn stack_samples(events: Vec<Event>) -> Vec<Sample> {
    events
        .into_iter()
        .filter_map(|e| match e {
            Event::Stack {
                tid,
                ts,
                kind,
                nr,
                frames,
                ..
            } => Some(Sample {
                tid,
                ts,
                kind,
                nr,
                frames,
            }),
            _ => None,
        })
        .collect()
}

fn burst(target: &Target, config: StackConfig, duration: Duration) -> (Vec<Sample>, StackStats) {
    let mut sampler = target.session().stack_sampler(config).expect("sampler");
    let mut events = Vec::new();
    let stats = sampler
        .sample(duration, &mut |e| events.push(e))
        .expect("burst");
    (stack_samples(events), stats)
}

/// The fixture's threads' current syscall numbers, from /proc/PID/task/TID/syscall
/// (`running` or the number first).
fn thread_syscalls(pid: u32) -> Vec<Option<i64>> {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    dir.filter_map(|e| {
        let path = e.ok()?.path().join("syscall");
        let text = std::fs::read_to_string(path).ok()?;
        Some(text.split_whitespace().next()?.parse().ok())
    })
    .collect()
}

fn wait_until(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn only(kind: StackKind) -> StackConfig {
    StackConfig {
        on_cpu_hz: if kind == StackKind::OnCpu { 99 } else { 0 },
        syscalls: kind == StackKind::Syscall,
        blocked: kind == StackKind::Blocked,
        ..StackConfig::default()
    }
}

#[test]
fn on_cpu_samples_name_the_spinning_function() {
    if !common::can_trace("on_cpu_samples_name_the_spinning_function") {
        return;
    }
    let _serial = serial();
    let fx = build("spin");
    let target = Target::start(&fx);
    // Running (`running` in the syscall file) and past the loader.
    std::thread::sleep(Duration::from_millis(300));
    // One CPU is busy spinning: ~99 samples a second, far fewer when other jobs share the
    // CPUs (6 in a second at a load average of 28 on 2 cores)
    let (samples, stats) = burst(&target, only(StackKind::OnCpu), Duration::from_secs(3));
    assert!(
        samples.len() >= 10,
        "{} on-CPU samples, {stats:?}",
        samples.len()
    );
    assert_eq!(stats.on_cpu, samples.len() as u64);
    for s in &samples {
        assert_eq!(
            (s.kind, s.nr, s.tid),
            (StackKind::OnCpu, None, target.pid())
        );
        let names = fx.names(&s.frames);
        assert_eq!(
            names.get(..3),
            Some(&["spin_here".to_string(), "outer".into(), "main".into()][..]),
            "{names:?} {:?}",
            s.frames
        );
    }
    assert_eq!((stats.lost, stats.malformed), (0, 0), "{stats:?}");
}

#[test]
fn blocked_samples_recover_the_caller_of_libc() {
    if !common::can_trace("blocked_samples_recover_the_caller_of_libc") {
        return;
    }
    let _serial = serial();
    let fx = build("sleeper");
    let target = Target::start(&fx);
    let read = i64::from(trace::syscall_number("read").expect("read"));
    wait_until("both threads blocked in read", || {
        let s = thread_syscalls(target.pid());
        s.len() == 2 && s.iter().all(|n| *n == Some(read))
    });

    // A burst: the blocked snapshot comes with the first poll.
    let (samples, stats) = burst(&target, only(StackKind::Blocked), Duration::from_millis(50));
    assert_eq!(stats.blocked_passes, 1, "{stats:?}");
    let mut tids: Vec<u32> = samples.iter().map(|s| s.tid).collect();
    tids.sort_unstable();
    tids.dedup();
    assert_eq!(samples.len(), 2, "one sample per blocked thread");
    assert_eq!(tids.len(), 2);
    for s in &samples {
        assert_eq!((s.kind, s.nr), (StackKind::Blocked, Some(read as u32)));
        let names = fx.names(&s.frames);
        // libc's read, then the function that called it (found by the stack scan: read
        // has no frame pointer), then its caller (from the frame-pointer chain).
        assert_eq!(
            names.get(..3),
            Some(&["libc".to_string(), "sleeper".into(), "caller".into()][..]),
            "{names:?} {:?}",
            s.frames
        );
    }
    // The frame-pointer walk alone would have missed sleeper in both threads.
    assert!(stats.scanned_frames >= 2, "{stats:?}");

    // The same outside a burst.
    let mut sampler = target
        .session()
        .stack_sampler(only(StackKind::Blocked))
        .expect("sampler");
    let mut events = Vec::new();
    let n = sampler.blocked(&mut |e| events.push(e)).expect("snapshot");
    assert_eq!(n, 2);
    for s in stack_samples(events) {
        assert_eq!(fx.names(&s.frames)[1..3], ["sleeper", "caller"]);
    }
}

#[test]
fn syscall_samples_name_the_calling_function() {
    if !common::can_trace("syscall_samples_name_the_calling_function") {
        return;
    }
    let _serial = serial();
    let fx = build("syscaller");
    let target = Target::start(&fx);
    std::thread::sleep(Duration::from_millis(200));
    let interval = Duration::from_millis(2);
    let config = StackConfig {
        syscall_interval: interval,
        max_per_thread: 100,
        ..only(StackKind::Syscall)
    };
    let (samples, stats) = burst(&target, config, Duration::from_millis(500));
    let getppid = trace::syscall_number("getppid").expect("getppid");
    let write = trace::syscall_number("write").expect("write");
    // 500 ms at one per 2 ms: up to 250, capped at 100.
    assert!(samples.len() >= 20, "{} samples, {stats:?}", samples.len());
    assert!(
        samples.len() <= 100,
        "the per-thread cap: {}",
        samples.len()
    );
    assert!(stats.rate_limited > 0, "{stats:?}");
    for s in &samples {
        assert_eq!(s.kind, StackKind::Syscall);
        assert!(
            s.nr == Some(getppid) || s.nr == Some(write),
            "nr {:?}",
            s.nr
        );
        let names = fx.names(&s.frames);
        assert_eq!(
            names.get(..3),
            Some(&["libc".to_string(), "syscaller".into(), "main".into()][..]),
            "{names:?}"
        );
    }
    // The rate limit holds per thread.
    let mut ts: Vec<u64> = samples.iter().map(|s| s.ts).collect();
    ts.sort_unstable();
    for w in ts.windows(2) {
        assert!(
            w[1] - w[0] >= interval.as_nanos() as u64,
            "two samples {} ns apart",
            w[1] - w[0]
        );
    }
}

/// This process's fds whose link target starts with `prefix`.
fn fds(prefix: &str) -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|t| t.to_string_lossy().starts_with(prefix))
        .count()
}

fn all_fds() -> usize {
    fds("")
}

/// CPUs in /sys/devices/system/cpu/online (`0-1`, `0,2-3`): one perf event each.
fn online_cpus() -> usize {
    let text = std::fs::read_to_string("/sys/devices/system/cpu/online").expect("online cpus");
    text.trim()
        .split(',')
        .map(|r| match r.split_once('-') {
            Some((a, b)) => b.parse::<usize>().unwrap() - a.parse::<usize>().unwrap() + 1,
            None => 1,
        })
        .sum()
}

#[test]
fn nothing_is_left_after_a_burst_and_a_sampler() {
    if !common::can_trace("nothing_is_left_after_a_burst_and_a_sampler") {
        return;
    }
    let _serial = serial();
    let fx = build("sleeper");
    let target = Target::start(&fx);
    let ncpus = online_cpus();

    let base_fds = all_fds();
    let base_links = fds("anon_inode:bpf_link");
    let mut sampler = target
        .session()
        .stack_sampler(StackConfig::default())
        .expect("sampler");
    let prog_ids = sampler.prog_ids();
    assert_eq!(prog_ids.len(), 3, "on-CPU, syscall and blocked programs");
    // Loaded, not attached: the traced syscall path is unchanged between bursts.
    assert_eq!(fds("anon_inode:bpf_link"), base_links);
    assert_eq!(fds("anon_inode:[perf_event]"), 0);

    let burst = sampler.start().expect("burst");
    let link_ids = burst.link_ids();
    // One syscall hook, one perf link per CPU, each perf event with its fd.
    assert_eq!(link_ids.len(), 1 + ncpus, "{link_ids:?}");
    assert_eq!(fds("anon_inode:[perf_event]"), ncpus);
    burst.finish(&mut |_| {}).expect("finish");
    assert_eq!(fds("anon_inode:[perf_event]"), 0);
    assert_eq!(fds("anon_inode:bpf_link"), base_links);
    for id in &link_ids {
        let deadline = Instant::now() + Duration::from_secs(10);
        while capture::census::link_exists(*id) {
            assert!(Instant::now() < deadline, "link {id} survived its burst");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    drop(sampler);
    assert_eq!(all_fds(), base_fds, "fds left by the sampler");
    // The kernel frees a program after an RCU grace period once its last reference is
    // gone (an RCU-tasks-trace one for the sleepable iterator): give it time.
    for id in &prog_ids {
        let deadline = Instant::now() + Duration::from_secs(10);
        while capture::census::program_exists(*id) {
            assert!(
                Instant::now() < deadline,
                "program {id} survived its sampler"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[test]
fn cgroup_filter_samples_only_the_cgroup() {
    if !common::can_trace("cgroup_filter_samples_only_the_cgroup") {
        return;
    }
    let base = host::procfs::cgroup2_mount();
    if !testkit::require(
        "cgroup_filter_samples_only_the_cgroup",
        base.is_some(),
        "no cgroup v2 mounted",
    ) {
        return;
    }
    let base = base.unwrap_or_default();
    let _serial = serial();
    let fx = build("sleeper");
    // The filter names the outer cgroup, the target sits one level below it: the BPF
    // iterator must walk up from the task's own cgroup.
    let dir = base.join(format!("perfscope-stacks-{}", std::process::id()));
    let inner = dir.join("inner");
    std::fs::create_dir_all(&inner).expect("cgroup");
    let cleanup = || {
        let _ = std::fs::remove_dir(&inner);
        let _ = std::fs::remove_dir(&dir);
    };
    let inside = Command::new(&fx.exe).spawn_paused().expect("spawn");
    let outside = Command::new(&fx.exe).spawn_paused().expect("spawn");
    let (pin, pout) = (inside.pid(), outside.pid());
    std::fs::write(inner.join("cgroup.procs"), pin.to_string()).expect("move to cgroup");
    let session = Session::start(Config::syscalls_only(Filter::Cgroup(dir.clone())));
    let mut a = inside.release().expect("release");
    let mut b = outside.release().expect("release");
    let read = i64::from(trace::syscall_number("read").expect("read"));
    let result = session.map(|session| {
        wait_until("both fixtures blocked in read", || {
            [pin, pout].iter().all(|&p| {
                let s = thread_syscalls(p);
                s.len() == 2 && s.iter().all(|n| *n == Some(read))
            })
        });
        let mut sampler = session
            .stack_sampler(only(StackKind::Blocked))
            .expect("sampler");
        let mut events = Vec::new();
        sampler.blocked(&mut |e| events.push(e)).expect("snapshot");
        events
    });
    for c in [&mut a, &mut b] {
        let _ = c.signal(host::signals::SIGKILL, false);
        let _ = c.wait();
    }
    cleanup();
    let events = result.expect("session");
    let pids: Vec<u32> = events
        .iter()
        .filter_map(|e| match e {
            Event::Stack { pid, .. } => Some(*pid),
            _ => None,
        })
        .collect();
    assert_eq!(pids, [pin, pin], "both threads inside, nothing outside");
}
