//! Java frames after an alarm. A JVM's own diagnostic commands (`jcmd`, run as the JVM's
//! user, which the attach mechanism requires; no agent in the JVM) give two views:
//!
//! * **Thread dumps** (`Thread.print -l`, a few of them over the sampling burst): every
//!   Java thread's stack, exact whether a frame runs interpreted, compiled or inlined. Each
//!   becomes a stack sample of its thread with `jvm:CLASS.METHOD` frames, marked blocked
//!   in the syscall `/proc/PID/task/TID/syscall` shows, or on CPU; the locks it waits for
//!   and holds become a [`trace::Event::Locks`] beside it.
//! * **The JIT's perf map** (`Compiler.perfmap`, read from the JVM's `/tmp` through
//!   `/proc/PID/root`): names frames of the native stack samples that lie in compiled
//!   code. Java frames can only be walked with frame pointers: a JVM started without
//!   `-XX:+PreserveFramePointer` gives at most its innermost compiled frame, and the
//!   report says which flag would help.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long `jcmd` may take (it attaches to the JVM).
const JCMD_TIMEOUT: Duration = Duration::from_secs(15);

/// Whether `pid` runs a HotSpot JVM (it maps libjvm.so).
fn is_jvm(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/maps"))
        .is_ok_and(|m| m.lines().any(|l| l.ends_with("/libjvm.so")))
}

/// The real uid and gid of `pid`.
fn ids(pid: u32) -> Option<(u32, u32)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<u32> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    };
    Some((field("Uid:")?, field("Gid:")?))
}

/// Whether the JVM was started with `flag` (its command line, or the option variables it
/// read from its environment).
fn started_with(pid: u32, flag: &str) -> bool {
    let has = |path: String| {
        std::fs::read(path).is_ok_and(|b| String::from_utf8_lossy(&b).contains(flag))
    };
    has(format!("/proc/{pid}/cmdline")) || has(format!("/proc/{pid}/environ"))
}

fn preserves_frame_pointer(pid: u32) -> bool {
    started_with(pid, "-XX:+PreserveFramePointer")
}

/// Why `jcmd` could not attach, with the flag to blame when the JVM has one.
fn attach_failure(pid: u32, why: String) -> String {
    attach_hint(why, |flag| started_with(pid, flag))
}

fn attach_hint(why: String, started_with: impl Fn(&str) -> bool) -> String {
    if started_with("-XX:+DisableAttachMechanism") {
        format!(
            "{why} (the JVM was started with -XX:+DisableAttachMechanism, which refuses \
             jcmd: drop the flag to get Java stacks)"
        )
    } else if started_with("-XX:+StartAttachListener") || !started_with("-Xrs") {
        why
    } else {
        format!(
            "{why} (the JVM was started with -Xrs, which leaves SIGQUIT to the \
             application, so jcmd cannot start its attach listener: add \
             -XX:+StartAttachListener)"
        )
    }
}

/// `jcmd` beside the JVM's own `java`.
fn jcmd_of(pid: u32) -> PathBuf {
    std::fs::read_link(format!("/proc/{pid}/exe"))
        .ok()
        .and_then(|exe| Some(exe.parent()?.join("jcmd")))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("jcmd"))
}

/// Runs `jcmd PID COMMAND` as the JVM's user; its output, or why it failed.
fn jcmd(pid: u32, command: &str) -> Result<String, String> {
    let (uid, gid) = ids(pid).ok_or("the process is gone")?;
    let mut child = Command::new("setpriv")
        .arg(format!("--reuid={uid}"))
        .arg(format!("--regid={gid}"))
        .arg("--clear-groups")
        .arg(jcmd_of(pid))
        .arg(pid.to_string())
        .arg(command)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run jcmd through setpriv: {e}"))?;
    // read on threads, so that a large dump never blocks the child on a full pipe
    fn drain<R: std::io::Read + Send + 'static>(r: Option<R>) -> std::thread::JoinHandle<String> {
        std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut r) = r {
                let _ = r.read_to_string(&mut text);
            }
            text
        })
    }
    let out = drain(child.stdout.take());
    let err = drain(child.stderr.take());
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if start.elapsed() > JCMD_TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("jcmd {pid} {command} did not answer in 15 s"));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("waiting for jcmd: {e}")),
        }
    };
    let out = out.join().unwrap_or_default();
    let err = err.join().unwrap_or_default();
    if status.success() {
        Ok(out)
    } else {
        Err(format!(
            "jcmd {pid} {command} failed ({status}): {}",
            err.trim()
        ))
    }
}

/// The JVMs among `pids`.
pub fn jvms(pids: &[u32]) -> Vec<u32> {
    pids.iter().copied().filter(|&p| is_jvm(p)).collect()
}

/// The syscall each thread of `pid` is in now (`/proc/PID/task/TID/syscall`), or `None`
/// for a thread running.
fn syscalls_now(pid: u32) -> std::collections::HashMap<u32, Option<u32>> {
    let mut out = std::collections::HashMap::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for t in tasks.flatten() {
        let Some(tid) = t.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let sys = std::fs::read_to_string(t.path().join("syscall")).unwrap_or_default();
        let nr = sys
            .split_whitespace()
            .next()
            .and_then(|f| f.parse::<i64>().ok())
            .filter(|&n| n >= 0)
            .and_then(|n| u32::try_from(n).ok());
        out.insert(tid, nr);
    }
    out
}

/// A thread's state during a dump, from `/proc` read just before and just after it:
/// blocked in one syscall when both reads agree, on CPU when both say running, `None`
/// when it moved on meanwhile (the dump's stack may belong to either state).
pub fn state_across(
    before: Option<&Option<u32>>,
    after: Option<&Option<u32>>,
) -> Option<(trace::StackKind, Option<u32>)> {
    match (before?, after?) {
        (Some(a), Some(b)) if a == b => Some((trace::StackKind::Blocked, Some(*a))),
        (None, None) => Some((trace::StackKind::OnCpu, None)),
        _ => None,
    }
}

/// One thread dump of each JVM in `pids` as stack samples at `ts`: Java frames as
/// `jvm:CLASS.METHOD` locations (the line as offset), innermost first; blocked in the
/// syscall the thread was in just before and just after the dump, or on CPU. A thread
/// that changed state meanwhile is left out: its stack and its syscall may not belong
/// together. Failures become warnings (once per JVM).
pub fn dump_stacks(pids: &[u32], ts: u64, warnings: &mut Vec<String>) -> Vec<trace::Event> {
    let mut out = Vec::new();
    for &pid in pids {
        let before = syscalls_now(pid);
        let text = match jcmd(pid, "Thread.print -l").map_err(|why| attach_failure(pid, why)) {
            Ok(t) => t,
            Err(why) => {
                let w = format!("Java stacks of JVM pid {pid} are not available: {why}");
                if !warnings.contains(&w) {
                    warnings.push(w);
                }
                continue;
            }
        };
        let after = syscalls_now(pid);
        for t in jvm::dump::parse(&text)
            .into_iter()
            .filter(|t| !t.frames.is_empty())
        {
            if t.waits.is_some() || !t.holds.is_empty() {
                out.push(trace::Event::Locks {
                    ts,
                    pid,
                    tid: t.tid,
                    waits: t.waits,
                    holds: t.holds.clone(),
                });
            }
            let Some((kind, nr)) = state_across(before.get(&t.tid), after.get(&t.tid)) else {
                continue;
            };
            out.push(trace::Event::Stack {
                ts,
                pid,
                tid: t.tid,
                kind,
                nr,
                frames: t
                    .frames
                    .into_iter()
                    .map(|(name, line)| trace::CodeLocation {
                        path: format!("jvm:{name}"),
                        offset: u64::from(line),
                    })
                    .collect(),
            });
        }
    }
    out
}

/// The perf maps of the JVMs among `pids`, with warnings for those that could not be had
/// and for JVMs whose Java frames cannot be walked.
pub fn perf_maps(pids: &[u32], warnings: &mut Vec<String>) -> Vec<(u32, analysis::window::JitMap)> {
    let mut out = Vec::new();
    for &pid in pids {
        if !preserves_frame_pointer(pid) {
            warnings.push(format!(
                "JVM pid {pid} runs without -XX:+PreserveFramePointer: its sampled stacks stop \
                 at the first Java frame; add the flag (about 1-3 % of CPU) to see its callers"
            ));
        }
        if let Err(why) = jcmd(pid, "Compiler.perfmap").map_err(|why| attach_failure(pid, why)) {
            warnings.push(format!(
                "the JIT-compiled frames of JVM pid {pid} are not named: {why}"
            ));
            continue;
        }
        let path = format!("/proc/{pid}/root/tmp/perf-{pid}.map");
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let map = jvm::perfmap::PerfMap::parse(&text);
                out.push((pid, map.ranges()));
            }
            Err(e) => warnings.push(format!(
                "the JIT-compiled frames of JVM pid {pid} are not named: reading {path}: {e}"
            )),
        }
    }
    out
}

/// The maps as trace objects (`jit_map`), for a saved window.
pub fn objects(maps: &[(u32, analysis::window::JitMap)]) -> Vec<trace::Object> {
    maps.iter()
        .map(|(pid, ranges)| trace::Object {
            path: format!("jit:{pid}"),
            kind: trace::ObjectKind::JitMap,
            build_id: None,
            functions: ranges
                .iter()
                .enumerate()
                .map(|(i, (start, end, name))| trace::Function {
                    id: i as u32,
                    name: name.clone(),
                    linkage_name: None,
                    class: trace::FunctionClass::NoDwarf,
                    decl_file: None,
                    decl_line: None,
                    vaddr: *start,
                    size: end - start,
                    file_offset: 0,
                    probe_offset: None,
                    entry: trace::EntryClass::Unknown,
                    descriptor: None,
                })
                .collect(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_no_jvm_and_maps_round_trip_as_objects() {
        assert!(!is_jvm(std::process::id()));
        assert!(jvms(&[std::process::id()]).is_empty());
        let maps = vec![(7, vec![(0x1000, 0x1100, "Lorg/x/A;::run".to_string())])];
        let back = analysis::window::Window::jit_from_objects(&objects(&maps));
        assert_eq!(back, maps);
    }

    #[test]
    fn a_failed_attach_names_the_flag_to_blame() {
        let with = |flags: &'static [&'static str]| move |f: &str| flags.contains(&f);
        let why = || "jcmd 7 Thread.print failed (exit status: 1): x".to_string();
        assert_eq!(attach_hint(why(), with(&[])), why());
        let h = attach_hint(why(), with(&["-XX:+DisableAttachMechanism"]));
        assert!(h.starts_with(&why()) && h.contains("drop the flag"), "{h}");
        let h = attach_hint(why(), with(&["-Xrs"]));
        assert!(h.contains("add -XX:+StartAttachListener"), "{h}");
        let both = with(&["-Xrs", "-XX:+StartAttachListener"]);
        assert_eq!(attach_hint(why(), both), why());
    }

    #[test]
    fn a_thread_that_moved_during_the_dump_is_left_out() {
        use trace::StackKind::{Blocked, OnCpu};
        assert_eq!(
            state_across(Some(&Some(0)), Some(&Some(0))),
            Some((Blocked, Some(0)))
        );
        assert_eq!(state_across(Some(&None), Some(&None)), Some((OnCpu, None)));
        // read before, fsync after: the stack may be either's
        assert_eq!(state_across(Some(&Some(0)), Some(&Some(74))), None);
        assert_eq!(state_across(Some(&None), Some(&Some(74))), None);
        // a thread born or ended during the dump
        assert_eq!(state_across(None, Some(&None)), None);
        assert_eq!(state_across(Some(&Some(7)), None), None);
    }
}
