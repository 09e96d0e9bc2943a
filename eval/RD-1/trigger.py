#!/usr/bin/env python3
"""The nightly reporting job: it builds a large report hash (600,000 rows) kept for an hour
(EXPIRE), then imports the product catalog as 16 MB snapshot blobs with no TTL, which takes
the server over its memory limit."""
import os, sys, time
sys.path.insert(0, os.path.join(os.environ["CASE_DIR"], "..", "common"))
from resp import Redis

r = Redis(timeout=600)
key = "report:daily"
for start in range(0, 600000, 2000):
    r.cmd("HSET", key, *[x for i in range(start, start + 2000)
                         for x in ("row:%06d" % i, "sku=%06d;qty=%d;sum=%d.%02d" % (i, i % 97, i % 9973, i % 100))])
r.cmd("EXPIRE", key, 3600)
print(time.strftime("%H:%M:%S"), "report built:", r.cmd("HLEN", key), "rows", flush=True)
blob = b"c" * (16 * 1024 * 1024)
for n in range(1, 20):
    print(time.strftime("%H:%M:%S"), "catalog:%d ->" % n, r.cmd("SET", "catalog:%d" % n, blob), flush=True)
    time.sleep(0.2)
