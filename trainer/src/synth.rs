//! Synthetic, deterministic syscall workloads for benchmarks and tests: skewed syscall
//! streams cut into invocation-sized segments, and programs whose functions have
//! characteristic syscall paths, as sequences or as a whole trace file.
//!
//! Syscall numbers are x86_64 numbers 0..60 (read, write, open, close, ...), drawn from a
//! Zipf-like distribution: a few calls dominate, as in real servers.

use std::io::Write;

use trace::{CaptureMode, EntryClass, Event, Frame, Function, FunctionClass, Header, Object};

use crate::counter::Sequence;
use crate::episode::{EpisodeSet, EventType};
use crate::store::FunctionSeqs;

/// splitmix64: small, fast, and the same on every platform.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x5DEE_CE66_D1CE_4E5B)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
}

/// A Zipf-like distribution over `0..n` (weight of rank r ∝ 1/(r+1)^s).
#[derive(Clone, Debug)]
pub struct Skewed {
    cdf: Vec<u64>,
}

impl Skewed {
    pub fn new(n: usize, s: f64) -> Skewed {
        let w: Vec<f64> = (0..n).map(|r| 1.0 / ((r + 1) as f64).powf(s)).collect();
        let total: f64 = w.iter().sum();
        let mut acc = 0.0;
        let cdf = w
            .iter()
            .map(|x| {
                acc += x / total;
                (acc * u64::MAX as f64) as u64
            })
            .collect();
        Skewed { cdf }
    }

    pub fn sample(&self, rng: &mut Rng) -> usize {
        let x = rng.next_u64();
        self.cdf.partition_point(|&c| c < x).min(self.cdf.len() - 1)
    }
}

/// Number of syscall types in the generated workloads.
pub const SYSCALL_TYPES: u16 = 60;

/// A generated stream: owned storage for a [`Sequence`].
#[derive(Clone, Debug)]
pub struct Stream {
    pub types: Vec<EventType>,
    pub ts: Vec<u64>,
    pub seg_starts: Vec<u32>,
}

impl Stream {
    pub fn sequence(&self) -> Sequence<'_> {
        Sequence::new(&self.types, &self.ts, &self.seg_starts)
    }
}

/// A time step between syscalls: mostly microseconds, now and then a blocking wait of
/// milliseconds (what the expiry is there to cut).
fn step(rng: &mut Rng) -> u64 {
    if rng.chance(0.01) {
        rng.range(1_000_000, 20_000_000)
    } else {
        rng.range(500, 30_000)
    }
}

/// `events` syscalls over [`SYSCALL_TYPES`] skewed types, in segments of 5..=200.
pub fn stream(events: usize, seed: u64) -> Stream {
    let mut rng = Rng::new(seed);
    let dist = Skewed::new(usize::from(SYSCALL_TYPES), 1.1);
    let mut s = Stream {
        types: Vec::with_capacity(events),
        ts: Vec::with_capacity(events),
        seg_starts: Vec::new(),
    };
    let mut t = 0;
    while s.types.len() < events {
        s.seg_starts.push(s.types.len() as u32);
        let len = (rng.range(5, 200) as usize).min(events - s.types.len());
        for _ in 0..len {
            t += step(&mut rng);
            s.types.push(dist.sample(&mut rng) as EventType);
            s.ts.push(t);
        }
    }
    s
}

/// `count` distinct episodes of `len` nodes drawn from the same skewed distribution
/// (fewer if the space is smaller), sorted.
pub fn episodes(count: usize, len: usize, seed: u64) -> EpisodeSet {
    let mut rng = Rng::new(seed);
    let dist = Skewed::new(usize::from(SYSCALL_TYPES), 1.1);
    let mut all: Vec<Vec<EventType>> = Vec::with_capacity(count);
    let mut seen = rustc_hash::FxHashSet::default();
    let mut tries = 0;
    while all.len() < count && tries < count * 100 {
        tries += 1;
        let e: Vec<EventType> = (0..len)
            .map(|_| dist.sample(&mut rng) as EventType)
            .collect();
        if seen.insert(e.clone()) {
            all.push(e);
        }
    }
    all.sort();
    EpisodeSet::from_episodes(len, all.iter().map(Vec::as_slice))
}

/// How one generated function behaves.
#[derive(Clone, Debug)]
pub struct Behaviour {
    /// Characteristic paths: syscall numbers, and whether each element repeats (a loop).
    pub paths: Vec<Vec<(u32, bool)>>,
    /// Chance that an invocation makes no syscall at all.
    pub silent: f64,
}

/// A generated program: functions with characteristic behaviour and a popularity.
#[derive(Clone, Debug)]
pub struct Program {
    pub functions: Vec<Behaviour>,
    popularity: Skewed,
    noise: Skewed,
}

impl Program {
    /// `functions` functions; each uses 2..=8 syscalls along 1..=3 paths of 1..=12 steps.
    pub fn new(functions: usize, seed: u64) -> Program {
        let mut rng = Rng::new(seed);
        let dist = Skewed::new(usize::from(SYSCALL_TYPES), 1.1);
        let functions: Vec<Behaviour> = (0..functions)
            .map(|_| {
                let alphabet: Vec<u32> = (0..rng.range(2, 8))
                    .map(|_| dist.sample(&mut rng) as u32)
                    .collect();
                let paths = (0..rng.range(1, 3))
                    .map(|_| {
                        (0..rng.range(1, 12))
                            .map(|_| {
                                let nr = alphabet[rng.range(0, alphabet.len() as u64 - 1) as usize];
                                (nr, rng.chance(0.1))
                            })
                            .collect()
                    })
                    .collect();
                Behaviour {
                    paths,
                    silent: if rng.chance(0.3) { 0.2 } else { 0.0 },
                }
            })
            .collect();
        Program {
            popularity: Skewed::new(functions.len(), 1.0),
            functions,
            noise: dist,
        }
    }

    /// A function, by popularity.
    pub fn pick(&self, rng: &mut Rng) -> usize {
        self.popularity.sample(rng)
    }

    /// The syscalls of one invocation of `f`: one of its paths, loops repeated 1..=5
    /// times, 3 % of calls dropped and 3 % random calls inserted.
    pub fn invocation(&self, f: usize, rng: &mut Rng, out: &mut Vec<u32>) {
        out.clear();
        let b = &self.functions[f];
        if rng.chance(b.silent) {
            return;
        }
        let path = &b.paths[rng.range(0, b.paths.len() as u64 - 1) as usize];
        for &(nr, looped) in path {
            let times = if looped { rng.range(1, 5) } else { 1 };
            for _ in 0..times {
                if rng.chance(0.03) {
                    out.push(self.noise.sample(rng) as u32);
                }
                if !rng.chance(0.03) {
                    out.push(nr);
                }
            }
        }
    }
}

/// Per function of `program`: its invocation sequences (syscall number = event type) and
/// invocation count, for about `events` syscalls in total: what the trainer holds after
/// reading a trace of that size.
pub fn function_sequences(
    program: &Program,
    events: usize,
    timestamps: bool,
    seed: u64,
) -> Vec<(FunctionSeqs, u64)> {
    let mut rng = Rng::new(seed);
    let mut out: Vec<(FunctionSeqs, u64)> = (0..program.functions.len())
        .map(|_| (FunctionSeqs::new(timestamps), 0))
        .collect();
    let (mut n, mut t) = (0, 0u64);
    let mut calls = Vec::new();
    let mut seg = Vec::new();
    while n < events {
        let f = program.pick(&mut rng);
        program.invocation(f, &mut rng, &mut calls);
        seg.clear();
        for &nr in &calls {
            t += step(&mut rng);
            seg.push((nr as EventType, t));
        }
        out[f].1 += 1;
        if !seg.is_empty() {
            out[f].0.push_segment(&seg);
        }
        n += seg.len();
    }
    out
}

/// The header of a trace of `program`: one object, function `i` has id `i` and class
/// `App`, plus a library function (`write_wrapper`, class `System`) with id
/// `program.functions.len()`.
pub fn header(program: &Program) -> Header {
    let mut h = Header::new("perfscope-trainer synth", CaptureMode::Full);
    h.command = vec!["synthetic".into()];
    let func = |id: usize, name: String, class| Function {
        id: id as u32,
        name,
        linkage_name: None,
        class,
        decl_file: Some(format!("src/f{}.c", id % 50)),
        decl_line: Some(id as u32 + 1),
        vaddr: 0x1000 + 0x40 * id as u64,
        size: 0x40,
        file_offset: 0x1000 + 0x40 * id as u64,
        probe_offset: None,
        entry: EntryClass::Emulated,
        descriptor: None,
    };
    let mut functions: Vec<Function> = (0..program.functions.len())
        .map(|i| func(i, format!("fn_{i}"), FunctionClass::App))
        .collect();
    functions.push(func(
        program.functions.len(),
        "write_wrapper".into(),
        FunctionClass::System,
    ));
    h.objects = vec![Object {
        path: "/srv/bin/synthetic".into(),
        build_id: Some("00112233445566778899aabbccddeeff".into()),
        functions,
        kind: trace::ObjectKind::Elf,
    }];
    h
}

/// Writes a full-capture trace of `program` running on `threads` threads (interleaved)
/// with about `events` syscalls: each invocation's syscalls carry its frame (sometimes
/// under the library wrapper, which the trainer must skip), with invocation counts every
/// 100,000 events. Returns the syscalls written.
pub fn write_trace<W: Write>(
    out: W,
    program: &Program,
    events: usize,
    threads: u32,
    seed: u64,
) -> Result<u64, trace::TraceError> {
    let mut rng = Rng::new(seed);
    let mut w = trace::TraceWriter::new(out, &header(program))?;
    let nf = program.functions.len();
    let wrapper = nf as u32;
    let mut counts = vec![0u64; nf + 1];
    let mut calls_per_thread = vec![0u64; threads as usize];
    let mut t = 0u64;
    let mut written = 0u64;
    let mut calls = Vec::new();
    let mut since_counts = 0;
    while (written as usize) < events {
        let th = rng.range(0, u64::from(threads) - 1) as usize;
        let f = program.pick(&mut rng);
        calls_per_thread[th] += 1;
        let call = calls_per_thread[th];
        counts[f] += 1;
        program.invocation(f, &mut rng, &mut calls);
        for &nr in &calls {
            t += step(&mut rng) / u64::from(threads);
            let tid = 1000 + th as u32;
            let mut s = trace::Syscall::new(t, 1000, tid, nr);
            s.dur = Some(500);
            if rng.chance(0.2) {
                calls_per_thread[th] += 1;
                counts[nf] += 1;
                s.set_frames(&[
                    Frame {
                        func: wrapper,
                        call: calls_per_thread[th],
                    },
                    Frame {
                        func: f as u32,
                        call,
                    },
                ]);
            } else {
                s.set_frames(&[Frame {
                    func: f as u32,
                    call,
                }]);
            }
            w.write(&Event::Syscall(s))?;
            written += 1;
            since_counts += 1;
        }
        if since_counts >= 100_000 {
            since_counts = 0;
            w.write(&invocations(t, &counts))?;
        }
    }
    w.write(&invocations(t, &counts))?;
    for th in 0..threads {
        w.write(&Event::Exit {
            ts: t + 1,
            pid: 1000,
            tid: 1000 + th,
            code: 0,
        })?;
    }
    w.finish(trace::Footer::default())?;
    Ok(written)
}

fn invocations(ts: u64, counts: &[u64]) -> Event {
    Event::Invocations {
        ts,
        counts: counts
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(i, &n)| (i as u32, n))
            .collect(),
    }
}
