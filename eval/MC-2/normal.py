#!/usr/bin/env python3
"""A warm cache under ordinary traffic. First the application's deploy step warms the cache
with 3,000,000 product records (pipelined sets with noreply, a few seconds), then steady
traffic: sets, gets (hits and misses), deletes, incr, a general stats call now and then,
about 250 requests/s."""
import os, random, sys, time
sys.path.insert(0, os.path.join(os.environ["CASE_DIR"], "..", "common"))
from mcclient import MC

random.seed(8)
mc = MC()
val = b"p" * 100
batch = []
for i in range(3000000):
    batch.append(b"set product:%d 0 0 %d noreply\r\n%s\r\n" % (i, len(val), val))
    if len(batch) == 5000:
        mc.s.sendall(b"".join(batch))
        batch = []
print("warm-up sent; version:", mc.cmd("version"), flush=True)
n = 0
while True:
    n += 1
    k = "product:%d" % random.randint(0, 2999999)
    mc.get(k)
    mc.set(k, "p" * 100, exptime=0)
    s = "session:%d" % random.randint(1, 400)
    mc.set(s, "v" * random.choice((40, 120, 500, 1500)), exptime=600)
    mc.get("session:%d" % random.randint(1, 500))
    if n % 5 == 0:
        mc.cmd("delete session:%d" % random.randint(1, 400))
    if n % 7 == 0:
        mc.set("counter", "0") if mc.get("counter") is None else None
        mc.cmd("incr counter 1")
    if n % 50 == 0:
        mc.stats()
    time.sleep(0.01)
