//! A synthetic thread-per-connection server for the end-to-end tests and the benchmark:
//! its syscalls (a trace, or events), a signature database of its functions, and an
//! injected bug after a normal phase. Deterministic for a seed.
//!
//! Functions and what they do per request (the signatures say the same):
//! `read_request` read; `read_file` openat newfstatat read close; `write_response`
//! writev; `log_request` write; `store_append` write; `store_fsync` fsync;
//! `accept_loop` poll accept4; `flush_journal` fsync clock_nanosleep, repeated (a rare
//! maintenance path in normal times). The bugs: `SlowFlush` makes every PUT run
//! `flush_journal` (10 × fsync + 1 ms sleep), `Spin` makes one worker spin without
//! syscalls, `Hang` blocks one worker in a one-hour `clock_nanosleep`.

use std::collections::BTreeMap;
use std::path::Path;

use sigdb::{Class, Coverage, Episode, Header, ObjectRef, Params, Record, Sigdb, Target, Training};
use trace::{CaptureMode, Event, Footer, Syscall, TraceWriter};

pub const S: u64 = 1_000_000_000;
pub const MS: u64 = 1_000_000;
pub const US: u64 = 1_000;
/// Monotonic time of the trace start.
pub const T0: u64 = 5_000 * S;
pub const BUILD_ID: &str = "5eed0f00d5eed0f00d5eed0f00d5eed0f00d0001";
pub const PID: u32 = 4242;
pub const INJECTED: &str = "flush_journal";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bug {
    None,
    SlowFlush,
    Spin,
    Hang,
}

#[derive(Clone, Copy, Debug)]
pub struct Scenario {
    pub seconds: u64,
    pub workers: u32,
    /// Requests per second per worker.
    pub rate: f64,
    pub onset_s: u64,
    pub bug: Bug,
    pub seed: u64,
    /// Write scheduler samples (as the watcher's /proc sampler does) every second.
    pub states: bool,
    /// Share of requests that also make 1 to 3 syscalls drawn from a 40-name vocabulary
    /// (more unit shapes, as real servers have).
    pub variety: f64,
}

impl Default for Scenario {
    fn default() -> Self {
        Scenario {
            seconds: 60,
            workers: 8,
            rate: 20.0,
            onset_s: 40,
            bug: Bug::SlowFlush,
            seed: 1,
            states: true,
            variety: 0.0,
        }
    }
}

/// xorshift64*.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Around `mean`, ±50 %.
    pub fn around(&mut self, mean: u64) -> u64 {
        mean / 2 + (self.unit() * mean as f64) as u64
    }
}

fn nr(name: &str) -> u32 {
    trace::syscall_number(name).unwrap_or_else(|| panic!("no syscall {name}"))
}

/// Appends syscalls of one thread, one after the other.
struct Thread<'a> {
    tid: u32,
    cpu: u32,
    t: u64,
    out: &'a mut Vec<Event>,
    rng: &'a mut Rng,
}

impl Thread<'_> {
    fn call(&mut self, name: &str, dur: u64, ret: i64) {
        let mut s = Syscall::new(self.t, PID, self.tid, nr(name));
        s.dur = Some(dur);
        s.ret = ret;
        s.cpu = self.cpu;
        self.out.push(Event::Syscall(s));
        // user-space work between syscalls
        self.t += dur + self.rng.around(4 * US);
    }
    /// A syscall taking about `mean` ns.
    fn timed(&mut self, name: &str, mean: u64, ret: i64) {
        let d = self.rng.around(mean);
        self.call(name, d, ret);
    }
    fn quick(&mut self, name: &str) {
        let d = self.rng.around(8 * US);
        self.call(name, d, 0);
    }
}

/// The events of a scenario, sorted by time.
pub fn events(sc: &Scenario) -> Vec<Event> {
    let mut rng = Rng::new(sc.seed);
    let mut out = Vec::new();
    let end = T0 + sc.seconds * S;
    let onset = T0 + sc.onset_s * S;
    let comm = |tid: u32, name: &str| Event::Comm {
        ts: T0,
        pid: PID,
        tid,
        comm: name.into(),
    };
    out.push(comm(PID, "demo-server"));
    // the accept loop
    {
        let mut th = Thread {
            tid: PID,
            cpu: 0,
            t: T0,
            out: &mut out,
            rng: &mut rng,
        };
        while th.t < end {
            let wait = th.rng.around(200 * MS);
            th.call("poll", wait, 1);
            th.quick("accept4");
        }
    }
    for w in 0..sc.workers {
        let tid = PID + 1 + w;
        out.push(comm(tid, "worker"));
        let mut th = Thread {
            tid,
            cpu: w % 2,
            t: T0 + rng.around(S / 2),
            out: &mut out,
            rng: &mut rng,
        };
        let mean_gap = (S as f64 / sc.rate) as u64;
        let mut spun = false;
        while th.t < end {
            let bugged = th.t >= onset;
            if bugged && w == 2 && sc.bug == Bug::Spin {
                spun = true;
                break;
            }
            if bugged && w == 2 && sc.bug == Bug::Hang {
                th.quick("read");
                let mut s = Syscall::new(th.t, PID, tid, nr("clock_nanosleep"));
                s.cpu = th.cpu;
                th.out.push(Event::Syscall(s)); // never returns: dur None
                break;
            }
            // waiting for the next request on the connection
            let idle = th.rng.around(mean_gap);
            th.call("read", idle, 64);
            if sc.variety > 0.0 && th.rng.unit() < sc.variety {
                for _ in 0..1 + th.rng.next_u64() % 3 {
                    let k = (th.rng.next_u64() % VOCABULARY.len() as u64) as usize;
                    th.quick(VOCABULARY[k]);
                }
            }
            let r = th.rng.unit();
            if r < 0.6 {
                // GET: read_file, write_response, log_request
                th.timed("openat", 12 * US, 5);
                th.quick("newfstatat");
                th.timed("read", 20 * US, 4096);
                th.quick("close");
                th.timed("writev", 15 * US, 4200);
                th.quick("write");
            } else if r < 0.9 {
                // PUT: store_append, store_fsync, (flush_journal), write_response, log
                th.quick("write");
                th.timed("fsync", 400 * US, 0);
                if (bugged && sc.bug == Bug::SlowFlush) || th.rng.unit() < 0.002 {
                    for _ in 0..10 {
                        th.timed("fsync", 400 * US, 0);
                        th.timed("clock_nanosleep", MS + 30 * US, 0);
                    }
                }
                th.timed("writev", 10 * US, 10);
                th.quick("write");
            } else {
                // STAT
                th.timed("writev", 10 * US, 80);
                th.quick("write");
            }
        }
        let _ = spun;
    }
    if sc.states {
        // scheduler samples: the spinner is on CPU from the onset
        for k in 0..=sc.seconds {
            let ts = T0 + k * S;
            for w in 0..sc.workers {
                let spinning = sc.bug == Bug::Spin && w == 2 && ts > onset;
                let cpu_ns = k * 3 * MS + if spinning { (ts - onset) * 95 / 100 } else { 0 };
                out.push(Event::ThreadState {
                    ts,
                    pid: PID,
                    tid: PID + 1 + w,
                    state: if spinning { b'R' } else { b'S' },
                    cpu_ns,
                    // a little waiting for a CPU, steady
                    wait_ns: Some(k * 200 * US),
                });
            }
        }
    }
    out.push(Event::Mark {
        ts: onset,
        label: "trigger".into(),
    });
    out.push(Event::Mark {
        ts: end,
        label: "alarm".into(),
    });
    out.sort_by_key(Event::ts);
    out
}

/// Writes a scenario as a syscall-only trace; returns its syscall count.
pub fn write_trace(path: &Path, sc: &Scenario, build_id: &str) -> u64 {
    let mut h = trace::Header::new("perfscope-tests", CaptureMode::SyscallsOnly);
    h.start_monotonic_ns = T0;
    h.start_realtime_ns = 1_700_000_000 * S;
    h.objects = vec![trace::Object {
        path: "/srv/demo/bin/demo-server".into(),
        build_id: Some(build_id.into()),
        functions: Vec::new(),
        kind: trace::ObjectKind::Elf,
    }];
    let mut w = TraceWriter::create(path, &h).unwrap();
    let mut n = 0;
    for e in events(sc) {
        n += u64::from(matches!(e, Event::Syscall(_)));
        w.write(&e).unwrap();
    }
    w.finish(Footer {
        end_monotonic_ns: T0 + sc.seconds * S,
        ..Footer::default()
    })
    .unwrap();
    n
}

/// The syscalls of a bench-scale mix, for filler functions.
const VOCABULARY: [&str; 40] = [
    "read",
    "write",
    "openat",
    "close",
    "newfstatat",
    "fstat",
    "lseek",
    "mmap",
    "munmap",
    "mprotect",
    "brk",
    "pread64",
    "pwrite64",
    "readv",
    "writev",
    "access",
    "pipe2",
    "dup",
    "socket",
    "connect",
    "accept4",
    "sendto",
    "recvfrom",
    "sendmsg",
    "recvmsg",
    "shutdown",
    "bind",
    "listen",
    "getsockname",
    "setsockopt",
    "epoll_wait",
    "epoll_ctl",
    "poll",
    "futex",
    "fsync",
    "fdatasync",
    "rename",
    "unlink",
    "getdents64",
    "clock_nanosleep",
];

/// The server's functions, plus `fillers` made-up functions with random signatures.
pub fn sigdb(fillers: usize, build_id: &str) -> Sigdb {
    let mut funcs: Vec<(String, Vec<&str>, &str)> = vec![
        ("read_request".into(), vec!["read"], "worker"),
        (
            "read_file".into(),
            vec![
                "openat>newfstatat>read>close",
                "openat>newfstatat",
                "read>close",
            ],
            "worker",
        ),
        ("write_response".into(), vec!["writev"], "worker"),
        ("log_request".into(), vec!["write"], "worker"),
        ("store_append".into(), vec!["write"], "worker"),
        ("store_fsync".into(), vec!["fsync"], "worker"),
        (
            INJECTED.into(),
            vec![
                "fsync>clock_nanosleep",
                "clock_nanosleep>fsync",
                "fsync>clock_nanosleep>fsync",
            ],
            "worker",
        ),
        (
            "accept_loop".into(),
            vec!["poll>accept4", "poll"],
            "demo-server",
        ),
    ]
    .into_iter()
    .collect();
    let mut rng = Rng::new(99);
    let mut filler_eps: Vec<Vec<String>> = Vec::new();
    for _ in 0..fillers {
        let k = 1 + (rng.next_u64() % 6) as usize;
        let eps: Vec<String> = (0..k)
            .map(|_| {
                let len = 1 + (rng.next_u64() % 4) as usize;
                (0..len)
                    .map(|_| VOCABULARY[(rng.next_u64() % VOCABULARY.len() as u64) as usize])
                    .collect::<Vec<_>>()
                    .join(">")
            })
            .collect();
        filler_eps.push(eps);
    }
    let mut all: Vec<(String, Vec<String>, String)> = funcs
        .drain(..)
        .map(|(n, e, t)| (n, e.iter().map(|x| x.to_string()).collect(), t.to_string()))
        .collect();
    for (i, eps) in filler_eps.into_iter().enumerate() {
        all.push((format!("module{}_fn{i}", i % 37), eps, "worker".into()));
    }
    // specificity: ln(functions with signatures / functions having the episode)
    let mut having: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, eps, _) in &all {
        let mut seen: Vec<&str> = eps.iter().map(String::as_str).collect();
        seen.sort_unstable();
        seen.dedup();
        for e in seen {
            *having.entry(e).or_default() += 1;
        }
    }
    let total = all.len() as f64;
    let records: Vec<Record> = all
        .iter()
        .map(|(name, eps, thread)| {
            let mut profile = BTreeMap::new();
            let episodes: Vec<Episode> = eps
                .iter()
                .map(|e| {
                    for s in e.split('>') {
                        *profile.entry(s.to_string()).or_insert(0u64) += 100;
                    }
                    Episode {
                        events: e.split('>').map(str::to_string).collect(),
                        occurrences: 100,
                        invocations: 100,
                        support: 1.0,
                        weight: sigdb::round6((total / having[e.as_str()] as f64).ln()),
                        sumsq: Some(100),
                    }
                })
                .collect();
            Record {
                name: name.clone(),
                file: Some("src/server.c".into()),
                line: Some(1),
                linkage_name: None,
                object: "demo-server".into(),
                class: Class::App,
                invocations: 100,
                invocations_with_syscalls: 100,
                syscalls: profile.values().sum(),
                inclusive: profile.clone(),
                profile,
                threads: BTreeMap::from([(thread.clone(), 100)]),
                ranges: Vec::new(),
                episodes,
                descriptor: None,
            }
        })
        .collect();
    let header = Header {
        format: String::new(),
        version: 0,
        target: Target {
            name: "demo-server".into(),
            version: "1.0".into(),
            objects: vec![ObjectRef {
                path: "/build/demo/demo-server".into(),
                build_id: Some(build_id.into()),
            }],
        },
        training: Training {
            tool: "perfscope-tests".into(),
            params: Params {
                callers: 0,
                max_episode_len: 4,
                expiry_ns: Some(10 * MS),
                min_support: 0.5,
                min_invocations: 3,
                max_episodes: 8,
                app_classes: vec![Class::App],
                min_coverage: 0.25,
                selection: "closed".into(),
                outside_gap_ns: 10 * MS,
                max_candidates: 20_000,
                min_evidence: sigdb::DEFAULT_MIN_EVIDENCE,
            },
            traces: vec![sigdb::TraceSummary {
                name: "suite.trace".into(),
                command: vec!["make".into(), "check".into()],
                events: 100_000,
                syscalls: 90_000,
                lost: 0,
                truncated: false,
                unread_bytes: 0,
                unknown_frames: 0,
            }],
        },
        coverage: Coverage {
            functions_probed: records.len() as u64,
            functions_hit: records.len() as u64,
            functions_with_syscalls: records.len() as u64,
            functions_with_signatures: records.len() as u64,
            invocations: 100 * records.len() as u64,
            syscalls: records.iter().map(|r| r.syscalls).sum(),
            syscalls_outside_app: 0,
        },
        records: 0,
        checksum: String::new(),
    };
    Sigdb::new(header, records)
}
