//! Damaged inputs, as one table: every reader of the project (a training trace through
//! `trainer`, a window through `perfscope analyze`, a signature database through `sigdb
//! verify` and `perfscope analyze --db`) against every kind of damage: empty, cut at 10, 50
//! and 90 %, random bytes, a flipped bit in every header field, trailing garbage, another
//! file type, a directory, no permission, huge declared lengths, a decompression bomb.
//! Each row says the exit code and a part of the message; none may panic, hang, or answer
//! with confidence (exit 0 for a trace or a window, "ok" for a database).

use std::path::{Path, PathBuf};
use std::process::Command;

use tests::{Scratch, bins, exit_code};

/// How a reader must answer a damaged input.
#[derive(Clone, Copy, Debug)]
enum Want {
    /// An error (exit 2) whose text contains this.
    Error(&'static str),
    /// A refusal or an answer that says it cannot be trusted: exit 1 or 2, never 0,
    /// with this in its output.
    NotConfident(&'static str),
}

/// One reader: the command line for an input file.
#[derive(Clone, Copy, Debug)]
enum Reader {
    Trainer,
    Analyze,
    SigdbVerify,
    AnalyzeWithDb,
}

struct Inputs {
    dir: Scratch,
    suite: Vec<u8>,
    window: Vec<u8>,
    db: PathBuf,
    db_bytes: Vec<u8>,
}

fn inputs() -> Inputs {
    let dir = Scratch::new();
    let traces = tests::workspace().join("fixtures/traces");
    let suite = std::fs::read(traces.join("threadsrv.trace")).unwrap();
    let window = std::fs::read(traces.join("threadsrv-slow_fsync.window.trace")).unwrap();
    let db = dir.join("good.sigdb");
    tests::train(&traces.join("threadsrv.trace"), &db);
    let db_bytes = std::fs::read(&db).unwrap();
    Inputs {
        dir,
        suite,
        window,
        db,
        db_bytes,
    }
}

/// Runs `reader` on `file` (with `good` as the other input); returns exit code and all output.
fn run(reader: Reader, file: &Path, i: &Inputs, as_nobody: bool) -> (i32, String) {
    let b = bins();
    let (prog, args): (&Path, Vec<String>) = match reader {
        Reader::Trainer => (
            &b.trainer,
            vec![
                "-o".into(),
                i.dir.join("out.sigdb").display().to_string(),
                file.display().to_string(),
            ],
        ),
        Reader::Analyze => (
            &b.perfscope,
            vec![
                "analyze".into(),
                "--db".into(),
                i.db.display().to_string(),
                file.display().to_string(),
            ],
        ),
        Reader::SigdbVerify => (&b.sigdb, vec!["verify".into(), file.display().to_string()]),
        Reader::AnalyzeWithDb => (
            &b.perfscope,
            vec![
                "analyze".into(),
                "--db".into(),
                file.display().to_string(),
                tests::workspace()
                    .join("fixtures/traces/threadsrv-slow_fsync.window.trace")
                    .display()
                    .to_string(),
            ],
        ),
    };
    let mut cmd = if as_nobody {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"])
            .arg(prog);
        c
    } else {
        Command::new(prog)
    };
    let out = cmd.args(&args).output().expect("running the reader");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (exit_code(out.status), text)
}

fn check(
    reader: Reader,
    name: &str,
    file: &Path,
    want: Want,
    i: &Inputs,
    failures: &mut Vec<String>,
) {
    let (code, text) = run(reader, file, i, false);
    let ok = !text.contains("panicked")
        && match want {
            Want::Error(says) => code == 2 && text.contains(says),
            Want::NotConfident(says) => (code == 1 || code == 2) && text.contains(says),
        };
    if !ok {
        failures.push(format!(
            "{reader:?} on {name}: want {want:?}, got exit {code}:\n{}",
            text.lines().take(6).collect::<Vec<_>>().join("\n")
        ));
    }
}

fn write(i: &Inputs, name: &str, bytes: &[u8]) -> PathBuf {
    let p = i.dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// A deterministic byte stream (xorshift).
fn noise(n: usize, mut seed: u64) -> Vec<u8> {
    (0..n)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as u8
        })
        .collect()
}

/// The damage common to every file: (name, bytes or a special file, what a trace reader
/// and a database reader must say).
fn common_damage(i: &Inputs, good: &[u8], kind: &str) -> Vec<(String, PathBuf)> {
    let mut out = vec![
        (
            format!("{kind}: empty"),
            write(i, &format!("{kind}-empty"), b""),
        ),
        (
            format!("{kind}: random"),
            write(i, &format!("{kind}-random"), &noise(100_000, 7)),
        ),
        (
            format!("{kind}: an ELF file"),
            std::env::current_exe().unwrap(),
        ),
        (
            format!("{kind}: text"),
            write(i, &format!("{kind}-text"), b"hello, world\n"),
        ),
    ];
    let d = i.dir.join(format!("{kind}-dir"));
    std::fs::create_dir_all(&d).unwrap();
    out.push((format!("{kind}: a directory"), d));
    for share in [10, 50, 90] {
        out.push((
            format!("{kind}: cut at {share} %"),
            write(
                i,
                &format!("{kind}-cut{share}"),
                &good[..good.len() * share / 100],
            ),
        ));
    }
    out
}

#[test]
fn every_reader_refuses_damage_with_a_reason() {
    let i = inputs();
    let mut failures = Vec::new();
    let mut tried = 0;

    // ---- traces: the trainer refuses, analyze says it cannot be trusted or errs ----
    for (reader, good) in [(Reader::Trainer, &i.suite), (Reader::Analyze, &i.window)] {
        for (name, file) in common_damage(&i, good, &format!("{reader:?}")) {
            let want = if name.contains("cut at") {
                Want::NotConfident(match reader {
                    Reader::Trainer => "refusing to train on damaged traces",
                    _ => "",
                })
            } else if name.contains("directory") {
                Want::Error("")
            } else if name.contains("empty") {
                Want::Error("cut off before its header")
            } else {
                Want::Error("not a perfscope trace")
            };
            check(reader, &name, &file, want, &i, &mut failures);
            tried += 1;
        }
        // a flipped bit in every byte of the preamble and of the first two chunk headers
        let second = 16 + 16 + u32::from_le_bytes(good[24..28].try_into().unwrap()) as usize;
        let fields: Vec<usize> = (0..32).chain(second..second + 16).collect();
        for at in fields {
            let mut b = good.clone();
            b[at] ^= 0x01;
            let name = format!("{reader:?}: bit 0 of byte {at} flipped");
            let file = write(&i, &format!("{reader:?}-flip{at}"), &b);
            check(
                reader,
                &name,
                &file,
                Want::NotConfident(""),
                &i,
                &mut failures,
            );
            tried += 1;
        }
        // trailing garbage after the footer
        let mut b = good.clone();
        b.extend_from_slice(b"appended, not written by perfscope\n");
        let file = write(&i, &format!("{reader:?}-trailing"), &b);
        check(
            reader,
            "trailing garbage",
            &file,
            Want::NotConfident("follow the footer"),
            &i,
            &mut failures,
        );
        // a chunk that claims 256 MiB in a few bytes: no allocation of what is not there
        let mut b = good[..second].to_vec();
        b.extend_from_slice(&[2, 0, 0, 0]);
        b.extend_from_slice(&(256u32 << 20).to_le_bytes());
        b.extend_from_slice(&(255u32 << 20).to_le_bytes());
        b.extend_from_slice(&[0; 4]);
        let file = write(&i, &format!("{reader:?}-huge"), &b);
        check(
            reader,
            "huge declared chunk",
            &file,
            Want::NotConfident(""),
            &i,
            &mut failures,
        );
        tried += 2;
    }

    // ---- databases: verify errs (2) or doubts (1); analyze refuses ----
    for reader in [Reader::SigdbVerify, Reader::AnalyzeWithDb] {
        for (name, file) in common_damage(&i, &i.db_bytes, &format!("{reader:?}")) {
            let want = if name.contains("empty") {
                Want::Error("empty")
            } else if name.contains("cut at") {
                Want::Error("cut short")
            } else if name.contains("directory") {
                Want::Error("")
            } else {
                Want::Error("signature database")
            };
            check(reader, &name, &file, want, &i, &mut failures);
            tried += 1;
        }
        // a flipped bit in every byte of the zstd frame header and of the last bytes
        let n = i.db_bytes.len();
        for at in (0..12).chain(n - 8..n) {
            let mut b = i.db_bytes.clone();
            b[at] ^= 0x01;
            let file = write(&i, &format!("{reader:?}-flip{at}"), &b);
            let name = format!("{reader:?}: bit 0 of byte {at} flipped");
            check(reader, &name, &file, Want::Error(""), &i, &mut failures);
            tried += 1;
        }
        let mut b = i.db_bytes.clone();
        b.extend_from_slice(b"garbage");
        let file = write(&i, &format!("{reader:?}-trailing"), &b);
        check(
            reader,
            "trailing garbage",
            &file,
            Want::Error(""),
            &i,
            &mut failures,
        );
        tried += 1;
    }
    // a decompression bomb: a few hundred KB of zstd expanding to 1 GiB on one line
    let bomb = {
        use std::io::Write as _;
        let mut enc = zstd::Encoder::new(Vec::new(), 3).unwrap();
        let head = zstd::decode_all(i.db_bytes.as_slice()).unwrap();
        let first = head.split(|&c| c == b'\n').next().unwrap().to_vec();
        enc.write_all(&first).unwrap();
        enc.write_all(b"\n").unwrap();
        let piece = vec![b'a'; 1 << 20];
        for _ in 0..1024 {
            enc.write_all(&piece).unwrap();
        }
        enc.finish().unwrap()
    };
    let file = write(&i, "bomb.sigdb", &bomb);
    for reader in [Reader::SigdbVerify, Reader::AnalyzeWithDb] {
        check(
            reader,
            "decompression bomb",
            &file,
            Want::Error("bound"),
            &i,
            &mut failures,
        );
        tried += 1;
    }
    // no permission: a root-only file read by nobody
    if tests::is_root() && testkit::require_tool("damaged: no permission", "setpriv") {
        let private = i.dir.join("private");
        std::fs::create_dir_all(&private).unwrap();
        let t = private.join("suite.trace");
        std::fs::write(&t, &i.suite).unwrap();
        std::fs::set_permissions(&t, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
        let (code, text) = run(Reader::Trainer, &t, &i, true);
        if !(code == 2 && text.contains("Permission denied")) {
            failures.push(format!(
                "trainer as nobody on a 0600 file: exit {code}: {text}"
            ));
        }
        tried += 1;
    }
    assert!(
        failures.is_empty(),
        "{} of {tried} damaged inputs were not refused with a reason:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    eprintln!("damaged inputs: {tried} tried, every one refused with a reason");
}
