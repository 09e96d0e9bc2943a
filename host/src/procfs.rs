//! What /proc and the cgroup filesystem say about tasks: `stat` lines, CPU time, maps,
//! process trees, threads, cgroups. One parser per file, shared by every tool.

use std::collections::HashMap;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The fields of a `/proc/PID/stat` (or `/proc/PID/task/TID/stat`) line that perfscope
/// uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stat<'a> {
    pub pid: u32,
    /// The name between the parentheses (it may itself hold spaces and parentheses).
    pub comm: &'a str,
    /// `R` running, `S` sleeping, `D` disk wait, `Z` zombie...
    pub state: u8,
    pub ppid: u32,
    pub pgrp: i32,
    /// User and system CPU time, in clock ticks.
    pub utime: u64,
    pub stime: u64,
    /// Clock ticks after boot: with the pid, it names one process for ever.
    pub starttime: u64,
}

impl Stat<'_> {
    /// Neither a zombie nor dead.
    pub fn is_alive(&self) -> bool {
        !matches!(self.state, b'Z' | b'X' | b'x')
    }
}

/// Parses a `stat` line. The fields after the name start at its **last** `)`.
pub fn parse_stat(s: &str) -> Option<Stat<'_>> {
    let open = s.find('(')?;
    let close = s.rfind(')')?;
    let pid = s.get(..open)?.trim().parse().ok()?;
    let comm = s.get(open + 1..close)?;
    let mut f = s.get(close + 1..)?.split_ascii_whitespace();
    // field 3 on: state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
    // utime stime cutime cstime priority nice threads itrealvalue starttime
    let state = *f.next()?.as_bytes().first()?;
    let ppid = f.next()?.parse().ok()?;
    let pgrp = f.next()?.parse().ok()?;
    let mut f = f.skip(8);
    let utime = f.next()?.parse().ok()?;
    let stime = f.next()?.parse().ok()?;
    let starttime = f.nth(6)?.parse().ok()?;
    Some(Stat {
        pid,
        comm,
        state,
        ppid,
        pgrp,
        utime,
        stime,
        starttime,
    })
}

/// The owned form of [`Stat`] for one process, read now; `None` when it is gone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcInfo {
    pub pid: u32,
    pub ppid: u32,
    pub pgrp: i32,
    pub state: u8,
    pub starttime: u64,
}

impl ProcInfo {
    pub fn is_alive(&self) -> bool {
        !matches!(self.state, b'Z' | b'X' | b'x')
    }
}

/// `/proc/PID/stat` of a process, now.
pub fn proc_info(pid: u32) -> Option<ProcInfo> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let s = parse_stat(&text)?;
    Some(ProcInfo {
        pid: s.pid,
        ppid: s.ppid,
        pgrp: s.pgrp,
        state: s.state,
        starttime: s.starttime,
    })
}

/// Whether `pid` is still the process that started at `starttime` and has not exited.
pub fn same_and_alive(pid: u32, starttime: u64) -> bool {
    proc_info(pid).is_some_and(|p| p.starttime == starttime && p.is_alive())
}

/// Every process on the machine (those that vanish while being read are skipped).
pub fn scan() -> Vec<ProcInfo> {
    pids().into_iter().filter_map(proc_info).collect()
}

/// Time on CPU and time runnable waiting for a CPU, in ns: the first two fields of
/// `/proc/PID/task/TID/schedstat`.
pub fn parse_schedstat(s: &str) -> Option<(u64, u64)> {
    let mut f = s.split_ascii_whitespace().map(|x| x.parse().ok());
    Some((f.next()??, f.next()??))
}

/// Nanoseconds per clock tick (`utime`, `stime` and `starttime` are in ticks).
pub fn ns_per_tick() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    1_000_000_000 / u64::try_from(hz).unwrap_or(100).max(1)
}

/// The arguments `pid` was started with (`/proc/PID/cmdline`); `None` when it is gone.
pub fn cmdline(pid: u32) -> Option<Vec<String>> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let raw = raw.strip_suffix(&[0]).unwrap_or(&raw);
    if raw.is_empty() {
        return Some(Vec::new());
    }
    Some(
        raw.split(|&b| b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect(),
    )
}

/// One variable of the environment `pid` was started with (`/proc/PID/environ`).
pub fn environ_var(pid: u32, name: &str) -> Option<String> {
    let env = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    env.split(|&b| b == 0).find_map(|v| {
        let rest = v.strip_prefix(name.as_bytes())?.strip_prefix(b"=")?;
        Some(String::from_utf8_lossy(rest).into_owned())
    })
}

/// A clock's time now, in ns.
pub fn clock_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid out pointer; these clocks always exist on Linux.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    (ts.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec as u64)
}

/// When `pid` started, on `CLOCK_MONOTONIC` (the clock of every event) in ns, to the
/// clock tick: its `starttime` counts from boot on `CLOCK_BOOTTIME`, which also runs
/// while the machine is suspended. `None` when the process is gone.
pub fn started_monotonic_ns(pid: u32) -> Option<u64> {
    let since_boot = proc_info(pid)?.starttime.checked_mul(ns_per_tick())?;
    let suspended = clock_ns(libc::CLOCK_BOOTTIME).saturating_sub(clock_ns(libc::CLOCK_MONOTONIC));
    Some(since_boot.saturating_sub(suspended))
}

/// User + system CPU time of this process so far.
pub fn self_cpu() -> std::time::Duration {
    // SAFETY: rusage is plain old data and the pointer is valid.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return std::time::Duration::ZERO;
    }
    let d = |tv: libc::timeval| {
        std::time::Duration::from_secs(tv.tv_sec.max(0) as u64)
            + std::time::Duration::from_micros(tv.tv_usec.max(0) as u64)
    };
    d(ru.ru_utime) + d(ru.ru_stime)
}

/// Reads a small /proc file into `buf` (cleared first), reusing its allocation.
pub fn read_into(path: &Path, buf: &mut String) -> bool {
    buf.clear();
    std::fs::File::open(path)
        .and_then(|mut f| f.read_to_string(buf))
        .is_ok()
}

/// The pids under /proc.
pub fn pids() -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect()
}

/// `root` and every process below it, in breadth-first order.
pub fn descendants(root: u32) -> Vec<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for p in scan() {
        children.entry(p.ppid).or_default().push(p.pid);
    }
    let mut out = vec![root];
    let mut i = 0;
    while i < out.len() {
        if let Some(c) = children.get(&out[i]) {
            out.extend(c.iter().copied().filter(|p| *p != root));
        }
        i += 1;
    }
    out
}

/// The threads of process `pid` with their names, by tid.
pub fn threads(pid: u32) -> Vec<(u32, String)> {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    let mut out: Vec<(u32, String)> = dir
        .filter_map(|e| {
            let tid: u32 = e.ok()?.file_name().to_str()?.parse().ok()?;
            let comm = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/comm")).ok()?;
            Some((tid, comm.trim_end_matches('\n').to_string()))
        })
        .collect();
    out.sort_unstable();
    out
}

/// One line of `/proc/PID/maps`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mapping<'a> {
    pub start: u64,
    pub end: u64,
    pub exec: bool,
    /// File offset of `start`.
    pub offset: u64,
    /// `major << 32 | minor`.
    pub dev: u64,
    pub inode: u64,
    /// As the kernel shows it: a path (maybe with " (deleted)"), `[vdso]`, or empty.
    pub path: &'a str,
}

/// Parses one line of `/proc/PID/maps` (paths may hold spaces).
pub fn parse_maps_line(line: &str) -> Option<Mapping<'_>> {
    let mut it = line.splitn(6, ' ');
    let (start, end) = it.next()?.split_once('-')?;
    let perms = it.next()?;
    let offset = it.next()?;
    let (major, minor) = it.next()?.split_once(':')?;
    let inode = it.next()?;
    let hex = |s: &str| u64::from_str_radix(s, 16).ok();
    Some(Mapping {
        start: hex(start)?,
        end: hex(end)?,
        exec: perms.as_bytes().get(2) == Some(&b'x'),
        offset: hex(offset)?,
        dev: (hex(major)? << 32) | hex(minor)?,
        inode: inode.parse().ok()?,
        path: it.next().unwrap_or("").trim_start(),
    })
}

/// The cgroup v2 mount point, from /proc/self/mountinfo.
pub fn cgroup2_mount() -> Option<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    info.lines().find_map(|l| {
        let (left, right) = l.split_once(" - ")?;
        if right.split_ascii_whitespace().next()? != "cgroup2" {
            return None;
        }
        Some(PathBuf::from(left.split_ascii_whitespace().nth(4)?))
    })
}

/// The cgroup v2 directory of this process (`/proc/self/cgroup`'s `0::` line under the
/// mount point).
pub fn own_cgroup() -> Option<PathBuf> {
    let mount = cgroup2_mount()?;
    let text = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let rel = text.lines().find_map(|l| l.strip_prefix("0::"))?;
    Some(mount.join(rel.trim_start_matches('/')))
}

/// The id (kernfs inode number) and level (depth below the root, root = 0) of a cgroup
/// v2 directory; the error says why it is not one.
pub fn cgroup_id_level(path: &Path) -> Result<(u64, u32), String> {
    let real = path
        .canonicalize()
        .map_err(|e| format!("{e}; give a directory under the cgroup v2 mount"))?;
    let mount = cgroup2_mount().ok_or("no cgroup v2 filesystem is mounted")?;
    let rel = real.strip_prefix(&mount).map_err(|_| {
        format!(
            "not under the cgroup v2 mount {} (cgroup v1 is not supported)",
            mount.display()
        )
    })?;
    let meta = std::fs::metadata(&real).map_err(|e| e.to_string())?;
    if !meta.is_dir() || !real.join("cgroup.procs").exists() {
        return Err("not a cgroup directory (no cgroup.procs)".into());
    }
    Ok((meta.ino(), rel.components().count() as u32))
}

/// The processes in a cgroup directory and below it, sorted.
pub fn cgroup_procs(path: &Path) -> Vec<u32> {
    let mut out = Vec::new();
    let mut dirs = vec![path.to_owned()];
    while let Some(d) = dirs.pop() {
        if let Ok(s) = std::fs::read_to_string(d.join("cgroup.procs")) {
            out.extend(s.lines().filter_map(|l| l.trim().parse::<u32>().ok()));
        }
        if let Ok(rd) = std::fs::read_dir(&d) {
            dirs.extend(
                rd.flatten()
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                    .map(|e| e.path()),
            );
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_s_arguments_and_environment_are_read() {
        // an empty argument last (sh keeps running: the script has two commands)
        let mut child = std::process::Command::new("sh")
            .args(["-c", "sleep 5; :", "sh", ""])
            .env("PERFSCOPE_TEST_VAR", "a=b")
            .spawn()
            .unwrap();
        let pid = child.id();
        // the child may still be in its exec for a moment
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        while cmdline(pid).is_some_and(|a| a.first().is_none_or(|a| a != "sh"))
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let (args, var, none) = (
            cmdline(pid),
            environ_var(pid, "PERFSCOPE_TEST_VAR"),
            environ_var(pid, "PERFSCOPE_TEST"),
        );
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(args.unwrap(), ["sh", "-c", "sleep 5; :", "sh", ""]);
        assert_eq!((var.as_deref(), none), (Some("a=b"), None));
        assert_eq!(cmdline(u32::MAX), None);
    }

    #[test]
    fn a_process_started_now_starts_now_on_the_event_clock() {
        let before = clock_ns(libc::CLOCK_MONOTONIC);
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let at = started_monotonic_ns(child.id());
        let after = clock_ns(libc::CLOCK_MONOTONIC);
        child.kill().unwrap();
        child.wait().unwrap();
        let at = at.expect("a live child has a start time");
        // to the clock tick (10 ms at 100 Hz), either side
        let tick = ns_per_tick();
        assert!(
            at + 2 * tick >= before && at <= after + 2 * tick,
            "started at {at}, spawned between {before} and {after}"
        );
        // this process started before its child, a gone process has no start
        assert!(started_monotonic_ns(std::process::id()).unwrap() <= at);
        assert_eq!(started_monotonic_ns(u32::MAX), None);
    }

    #[test]
    fn stat_after_odd_comm() {
        let line = "42 (a) b) (c) S 17 40 40 0 -1 4194560 100 0 0 0 7 3 0 0 20 0 1 0 12345 \
                    1000 10 18446744073709551615";
        let s = parse_stat(line).unwrap();
        assert_eq!(
            (s.pid, s.comm, s.state, s.ppid, s.pgrp),
            (42, "a) b) (c", b'S', 17, 40)
        );
        assert_eq!((s.utime, s.stime, s.starttime), (7, 3, 12345));
        assert!(s.is_alive());
        assert_eq!(parse_stat("garbage"), None);
        assert_eq!(parse_stat("1 (init) S 0 1"), None, "cut before utime");
    }

    #[test]
    fn own_process_is_found() {
        let me = std::process::id();
        assert_eq!(descendants(me)[0], me);
        let ts = threads(me);
        assert!(ts.iter().any(|(t, _)| *t == me), "{ts:?}");
        let info = proc_info(me).unwrap();
        assert!(info.is_alive() && same_and_alive(me, info.starttime));
        assert!(!same_and_alive(me, info.starttime + 1));
    }

    #[test]
    fn maps_lines() {
        let l =
            "55d0c0a01000-55d0c0a02000 r-xp 00001000 fd:01 1234                       /usr/bin/a b";
        assert_eq!(
            parse_maps_line(l),
            Some(Mapping {
                start: 0x55d0_c0a0_1000,
                end: 0x55d0_c0a0_2000,
                exec: true,
                offset: 0x1000,
                dev: (0xfd << 32) | 1,
                inode: 1234,
                path: "/usr/bin/a b",
            })
        );
        let anon = parse_maps_line("7ffd1000-7ffd3000 rw-p 00000000 00:00 0 ").unwrap();
        assert_eq!((anon.exec, anon.path), (false, ""));
        let vdso = parse_maps_line("7ffd5000-7ffd7000 r-xp 00000000 00:00 0    [vdso]").unwrap();
        assert_eq!((vdso.exec, vdso.path), (true, "[vdso]"));
        assert_eq!(parse_maps_line("garbage"), None);
        assert_eq!(parse_maps_line(""), None);
    }

    #[test]
    fn schedstat() {
        assert_eq!(parse_schedstat("123456 789 10\n"), Some((123_456, 789)));
        assert_eq!(parse_schedstat(""), None);
        assert_eq!(parse_schedstat("123456"), None);
    }
}
