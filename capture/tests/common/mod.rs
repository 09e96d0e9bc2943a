//! Shared by the privileged integration tests: building the C fixtures of
//! fixtures/attribution, finding their function file offsets with readelf (not with the
//! symbols crate, on purpose: these tests must not depend on it), and running one under
//! capture.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command as Process;

use capture::{Config, Filter, ObjectProbes, Probe, Session, Stats};
use host::{Command, ExitStatus};
use trace::{Event, Syscall};

/// Whether the kernel tests can run here; prints why not (fails under `cargo xtask ci`).
pub fn can_trace(test: &str) -> bool {
    testkit::require_root(test)
}

/// A fixture program compiled into a temporary directory.
pub type Fixture = testkit::Built;

/// Compiles fixtures/attribution/NAME.c as its README says.
pub fn build(name: &str) -> Fixture {
    testkit::fixture("attribution", name, testkit::Flags::Fixture)
}

/// Compiles fixtures/attribution/NAME.c into a shared object `NAME.so`.
pub fn build_shared(name: &str) -> Fixture {
    testkit::fixture("attribution", name, testkit::Flags::Shared)
}

fn readelf(args: &[&str], exe: &Path) -> String {
    let out = Process::new("readelf")
        .args(args)
        .arg(exe)
        .output()
        .expect("running readelf");
    assert!(out.status.success(), "readelf {args:?} failed");
    String::from_utf8(out.stdout).expect("readelf output is text")
}

fn hex(s: &str) -> Option<u64> {
    u64::from_str_radix(s.trim_start_matches("0x"), 16).ok()
}

/// `(p_offset, p_vaddr, p_memsz)` of the PT_LOAD segments, from `readelf -lW`.
pub fn load_segments(exe: &Path) -> Vec<(u64, u64, u64)> {
    readelf(&["-lW"], exe)
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.first() != Some(&"LOAD") || f.len() < 6 {
                return None;
            }
            Some((hex(f[1])?, hex(f[2])?, hex(f[5])?))
        })
        .collect()
}

/// Defined functions of `exe` and their file offsets: offset = vaddr − p_vaddr + p_offset
/// of the PT_LOAD segment holding the address (symbols from `readelf -sW`).
/// Probes on every function of `exe`, ids in the order of [`function_offsets`]'s names.
pub fn probe_every_function(exe: &Path) -> ObjectProbes {
    ObjectProbes {
        path: exe.to_owned(),
        probes: function_offsets(exe)
            .values()
            .enumerate()
            .map(|(i, &file_offset)| Probe {
                file_offset,
                func: i as u32,
            })
            .collect(),
    }
}

pub fn function_offsets(exe: &Path) -> BTreeMap<String, u64> {
    let segs = load_segments(exe);
    let mut out = BTreeMap::new();
    for l in readelf(&["-sW"], exe).lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        // Num: Value Size Type Bind Vis Ndx Name
        if f.len() < 8 || f[3] != "FUNC" || f[6] == "UND" {
            continue;
        }
        let (Some(vaddr), Ok(size)) = (hex(f[1]), f[2].parse::<u64>()) else {
            continue;
        };
        if size == 0 {
            continue;
        }
        let Some(&(off, seg_vaddr, _)) = segs
            .iter()
            .find(|(_, v, memsz)| (*v..v + memsz).contains(&vaddr))
        else {
            continue;
        };
        out.entry(f[7].to_string())
            .or_insert(vaddr - seg_vaddr + off);
    }
    out
}

/// The disassembly of one function, from `objdump -d`.
pub fn disassembly(exe: &Path, function: &str) -> String {
    let out = Process::new("objdump")
        .args(["-d", "--no-show-raw-insn"])
        .arg(exe)
        .output()
        .expect("running objdump");
    let text = String::from_utf8_lossy(&out.stdout);
    let head = format!("<{function}>:");
    text.split("\n\n")
        .find(|block| block.contains(&head))
        .unwrap_or("")
        .to_string()
}

/// What one captured run produced.
pub struct Run {
    pub events: Vec<Event>,
    /// Function name → id (the probes' cookies).
    pub ids: BTreeMap<String, u32>,
    pub names: Vec<String>,
    pub stats: Stats,
    pub status: ExitStatus,
    /// The launched process.
    pub root: u32,
}

impl Run {
    pub fn id(&self, name: &str) -> u32 {
        *self
            .ids
            .get(name)
            .unwrap_or_else(|| panic!("no function {name}"))
    }

    pub fn syscalls(&self, name: &str) -> Vec<Syscall> {
        let nr = trace::syscall_number(name).expect("known syscall");
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Syscall(s) if s.nr == nr => Some(*s),
                _ => None,
            })
            .collect()
    }

    /// The names of a syscall's frames, innermost first.
    pub fn frames(&self, s: &Syscall) -> Vec<&str> {
        s.frames()
            .iter()
            .map(|f| self.names.get(f.func as usize).map_or("?", String::as_str))
            .collect()
    }

    pub fn invocations(&self, name: &str) -> Option<u64> {
        let id = self.id(name);
        self.events.iter().rev().find_map(|e| match e {
            Event::Invocations { counts, .. } => {
                Some(counts.iter().find(|(f, _)| *f == id).map_or(0, |(_, n)| *n))
            }
            _ => None,
        })
    }
}

/// Runs `fx` with `args` under a Full capture probing every function of the executable
/// (ids in name order), and collects every event.
pub fn run_full(fx: &Fixture, args: &[&str], tweak: impl FnOnce(&mut Config)) -> Run {
    run_objects(fx, &[], args, tweak)
}

/// As [`run_full`], also probing every function of the `libraries` (named
/// `FILE:function`, ids after the executable's).
pub fn run_objects(
    fx: &Fixture,
    libraries: &[&Path],
    args: &[&str],
    tweak: impl FnOnce(&mut Config),
) -> Run {
    let mut names: Vec<String> = Vec::new();
    let mut objects = Vec::new();
    let paths = std::iter::once(fx.exe.as_path()).chain(libraries.iter().copied());
    for (k, path) in paths.enumerate() {
        let prefix = if k == 0 {
            String::new()
        } else {
            format!("{}:", path.file_name().unwrap().to_string_lossy())
        };
        let mut probes = Vec::new();
        for (name, file_offset) in function_offsets(path) {
            probes.push(Probe {
                file_offset,
                func: names.len() as u32,
            });
            names.push(format!("{prefix}{name}"));
        }
        objects.push(ObjectProbes {
            path: path.to_owned(),
            probes,
        });
    }
    let ids: BTreeMap<String, u32> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.clone(), i as u32))
        .collect();
    let paused = Command::new(&fx.exe)
        .args(args)
        .spawn_paused()
        .expect("spawn");
    let root = paused.pid();
    let mut config = Config::full(Filter::Tree { root }, objects);
    tweak(&mut config);
    let mut session = Session::start(config).expect("session start");
    let mut child = paused.release().expect("release");
    let mut events = Vec::new();
    let mut sink = |e: Event| events.push(e);
    session
        .run_until(&mut sink, || matches!(child.try_wait(), Ok(Some(_))))
        .expect("drain");
    let status = child.wait().expect("wait");
    let stats = session.finish(&mut sink).expect("finish");
    Run {
        events,
        ids,
        names,
        stats,
        status,
        root,
    }
}
