#!/usr/bin/env python3
"""The end-of-season job: it archives the season's final ranking as a 500,000-member sorted
set kept for a day (EXPIRE), then uploads the season's top replays as 8 MB blobs with no TTL,
which takes the server over its memory limit."""
import os, sys, time
sys.path.insert(0, os.path.join(os.environ["CASE_DIR"], "..", "common"))
from resp import Redis

r = Redis(timeout=600)
key = "season:42:final"
for start in range(0, 500000, 2000):
    args = []
    for i in range(start, start + 2000):
        args += [(i * 7919) % 1000003, "player:%07d" % i]
    r.cmd("ZADD", key, *args)
r.cmd("EXPIRE", key, 86400)
print(time.strftime("%H:%M:%S"), "archive built:", r.cmd("ZCARD", key), "members", flush=True)
blob = b"r" * (8 * 1024 * 1024)
for n in range(1, 30):
    print(time.strftime("%H:%M:%S"), "replay:%d ->" % n, r.cmd("SET", "season:42:replay:%d" % n, blob), flush=True)
    time.sleep(0.2)
