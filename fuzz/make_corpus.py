#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (fuzz/corpus/TARGET/) from the bundled
files. Run from the workspace root after `cargo build --release -p trainer`:

    python3 fuzz/make_corpus.py

Needs the `zstd` command. The seeds are small on purpose: the trace seeds are the bundled
traces' header chunks with a few hundred of their events (every event kind the traces
have), recompressed; the plain seeds (PSPLAIN, see fuzz_targets/trace_reader.rs and
sigdb_reader.rs) are the same without compression. Existing seeds are replaced; inputs
under corpus/TARGET/regression-* are kept (minimized findings)."""

import glob
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

ROOT = os.getcwd()
OUT = os.path.join(ROOT, "fuzz", "corpus")
TRAINER = os.path.join(ROOT, "target", "release", "trainer")

KIND_HEADER, KIND_EVENTS, KIND_FOOTER, KIND_OBJECTS = 1, 2, 3, 4


def zstd(data, *args):
    return subprocess.run(["zstd", "-q", "-c", *args], input=data, check=True,
                          stdout=subprocess.PIPE).stdout


def chunks(path):
    """(kind, payload) of every chunk of a trace file, and its preamble."""
    d = open(path, "rb").read()
    out, off = [], 16
    while off + 16 <= len(d):
        kind = d[off]
        raw, comp, _crc = struct.unpack("<III", d[off + 4:off + 16])
        out.append((kind, zstd(d[off + 16:off + 16 + comp], "-d")))
        off += 16 + comp
    return d[:16], out


class Cut:
    def __init__(self, buf):
        self.buf, self.pos = buf, 0

    def byte(self):
        self.pos += 1
        return self.buf[self.pos - 1]

    def var(self):
        v, shift = 0, 0
        while True:
            b = self.byte()
            v |= (b & 0x7F) << shift
            shift += 7
            if b < 0x80:
                return v

    def string(self):
        n = self.var()
        self.pos += n


def events(payload):
    """(tag, bytes) of every event of an event chunk (mirrors trace/src/codec.rs)."""
    c, out = Cut(payload), []
    while c.pos < len(payload):
        start = c.pos
        tag = c.byte()
        if tag == 1:
            flags = c.byte()
            c.var()
            if flags & 1:
                c.var()
            for _ in range(6):
                c.var()
            for _ in range(c.byte()):
                c.var(); c.var()
        elif tag == 2:
            for _ in range(5):
                c.var()
        elif tag in (3, 5):
            c.var(); c.var(); c.var(); c.string()
        elif tag == 4:
            for _ in range(4):
                c.var()
        elif tag == 6:
            for _ in range(3):
                c.var()
        elif tag == 7:
            c.var()
            for _ in range(c.var()):
                c.var(); c.var()
        elif tag == 8:
            c.var(); c.var(); c.var(); c.byte(); c.var()
        elif tag == 9:
            c.var(); c.string()
        elif tag == 10:
            c.var(); c.var(); c.var(); c.byte(); c.var()
            for _ in range(c.var()):
                c.string(); c.var()
        else:
            raise ValueError(f"unknown tag {tag}")
        out.append((tag, payload[start:c.pos]))
    return out


def sample(payload, first=150, per_kind=3):
    """The first events, then the first few of every other kind, each run re-based."""
    evs = events(payload)
    keep = list(range(min(first, len(evs))))
    seen = {}
    for i, (tag, _) in enumerate(evs):
        seen.setdefault(tag, [])
        if len(seen[tag]) < per_kind:
            seen[tag].append(i)
    for idx in seen.values():
        keep.extend(idx)
    keep = sorted(set(keep))
    return b"".join(evs[i][1] for i in keep)


def trace(pre, chunks_, plain=False):
    out = bytearray((b"PSPLAIN\n" if plain else b"PSTRACE\n") + pre[8:16])
    for kind, payload in chunks_:
        if plain:
            out += bytes([kind, 0, 0, 0]) + struct.pack("<I", len(payload)) + payload
        else:
            comp = zstd(payload, "-1", "--no-check")
            out += bytes([kind, 0, 0, 0]) + struct.pack(
                "<III", len(payload), len(comp), zlib.crc32(comp)) + comp
    return bytes(out)


def put(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)


def clean(target):
    d = os.path.join(OUT, target)
    for p in glob.glob(os.path.join(d, "*")):
        if not os.path.basename(p).startswith("regression-"):
            os.remove(p)


def trace_seeds():
    clean("trace_reader")
    for path in sorted(glob.glob("fixtures/traces/*.trace")):
        name = os.path.basename(path).removesuffix(".trace")
        pre, cs = chunks(path)
        header = next(p for k, p in cs if k == KIND_HEADER)
        footer = next((p for k, p in cs if k == KIND_FOOTER), None)
        evs = [p for k, p in cs if k == KIND_EVENTS]
        small = [(KIND_HEADER, header), (KIND_EVENTS, sample(evs[0]))]
        if len(evs) > 1:
            small.append((KIND_EVENTS, sample(evs[-1], first=40)))
        if footer is not None:
            small.append((KIND_FOOTER, footer))
        for plain in (False, True):
            suffix = ".plain" if plain else ""
            put("trace_reader", f"{name}{suffix}", trace(pre, small, plain))
        if name == "threadsrv":
            # a late object chunk, the header's objects again, before the footer
            objs = json.dumps(json.loads(header)["objects"][:1]).encode()
            late = small[:-1] + [(KIND_OBJECTS, objs), small[-1]]
            put("trace_reader", f"{name}-objects", trace(pre, late))
            put("trace_reader", f"{name}-objects.plain", trace(pre, late, True))
            # format version 1 (the same bytes but the version)
            v1 = pre[:8] + struct.pack("<H", 1) + pre[10:]
            put("trace_reader", f"{name}-v1", trace(v1, small[:2]))
            whole = trace(pre, small)
            put("trace_reader", f"{name}-trailing", whole + b"appended")
            put("trace_reader", f"{name}-header-only", trace(pre, small[:1]))
            put("trace_reader", f"{name}-cut", whole[:len(whole) - 40])


def sigdb_seeds(tmp):
    clean("sigdb_reader")
    if not os.access(TRAINER, os.X_OK):
        sys.exit(f"{TRAINER} is missing: cargo build --release -p trainer")
    cut = os.path.join(tmp, "threadsrv-cut.trace")
    with open("fixtures/traces/threadsrv.trace", "rb") as f:
        open(cut, "wb").write(f.read()[:60000])
    runs = {
        "threadsrv": ["fixtures/traces/threadsrv.trace"],
        "loopsrv": ["fixtures/traces/loopsrv.trace"],
        "loopsrv-short": ["--max-episode-len", "2", "--max-episodes", "4", "--callers", "1",
                          "--no-expiry", "fixtures/traces/loopsrv.trace"],
        "both": ["fixtures/traces/threadsrv.trace", "fixtures/traces/loopsrv.trace"],
        "damaged": ["--keep-going", cut],
    }
    for name, args in runs.items():
        out = os.path.join(tmp, name + ".sigdb")
        subprocess.run([TRAINER, "-o", out, *args], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        data = open(out, "rb").read()
        put("sigdb_reader", name + ".sigdb", data)
        # plain: the header and a few records (the harness fills in count and checksum)
        lines = zstd(data, "-d").split(b"\n")
        put("sigdb_reader", name + ".plain", b"\n".join(lines[:8]) + b"\n")
    # version 1: no v2 fields
    lines = zstd(open(os.path.join(tmp, "loopsrv-short.sigdb"), "rb").read(), "-d")
    put("sigdb_reader", "v1.plain", lines.replace(b'"version":2', b'"version":1', 1)[:3000]
        .rsplit(b"\n", 1)[0] + b"\n")


def report_seeds():
    clean("report_reader")
    for path in sorted(glob.glob("tests/tests/snapshots/*.jsonl.snap")):
        text = open(path).read()
        body = text.split("---\n", 2)[2]  # insta's header is between two `---` lines
        name = os.path.basename(path).removeprefix("golden__").removesuffix(".jsonl.snap")
        put("report_reader", name + ".jsonl", body)
        if name == "loopsrv-spin":
            put("report_reader", "v1.jsonl", body.replace('"version":2', '"version":1', 1))
            put("report_reader", "head-only.jsonl", body.split("\n", 1)[0] + "\n")


def alarm_seeds():
    clean("alarm_protocol")
    lines = {
        "request-min": '{"cmd":"alarm"}',
        "request-wait": '{"cmd":"alarm","label":"p99 latency","wait":true,"format":"json"}',
        "request-text": '{"cmd":"alarm","label":null,"wait":false,"format":"text"}',
        "request-unknown": '{"cmd":"reboot"}',
        "reply-accepted": '{"status":"accepted","alarm":3}\n',
        "reply-error": '{"status":"error","message":"no window yet"}\n',
        "reply-done": '{"status":"done","exit_code":1,"bytes":4242}\n',
    }
    for name, line in lines.items():
        put("alarm_protocol", name, line)


def toml_seeds():
    clean("recipe_parser")
    for path in sorted(glob.glob("targets/*.toml")):
        shutil.copyfile(path, os.path.join(OUT, "recipe_parser", os.path.basename(path)))
    clean("case_parser")
    cases = sorted(glob.glob("eval/*/case.toml")) + sorted(
        glob.glob("/work/shared/eval-cases/*/case.toml"))
    for path in cases:
        case = os.path.basename(os.path.dirname(path))
        shutil.copyfile(path, os.path.join(OUT, "case_parser", case + ".toml"))


def main():
    for t in ["trace_reader", "sigdb_reader", "report_reader", "alarm_protocol",
              "recipe_parser", "case_parser"]:
        os.makedirs(os.path.join(OUT, t), exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        trace_seeds()
        sigdb_seeds(tmp)
    report_seeds()
    alarm_seeds()
    toml_seeds()
    total = sum(os.path.getsize(p) for p in glob.glob(os.path.join(OUT, "*", "*")))
    print(f"seed corpora: {total} bytes in {OUT}")


if __name__ == "__main__":
    main()
