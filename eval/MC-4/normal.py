#!/usr/bin/env python3
"""A warm product cache under ordinary traffic. First the application's deploy step warms
the cache with 200,000 product records of 250-450 bytes (pipelined sets with noreply, a
few seconds), then steady traffic from the shop front end: product reads (mostly hits),
price updates (sets), sessions with a TTL, a cart delete now and then, a page counter;
about 300 requests/s."""
import os, random, sys, time
sys.path.insert(0, os.path.join(os.environ["CASE_DIR"], "..", "common"))
from mcclient import MC

N = 200000
random.seed(14)
mc = MC()
batch = []
for i in range(N):
    val = b"%06d;" % i + b"d" * random.randint(250, 450)
    batch.append(b"set product:%06d 0 0 %d noreply\r\n%s\r\n" % (i, len(val), val))
    if len(batch) == 2000:
        mc.s.sendall(b"".join(batch))
        batch = []
print("warm-up sent; version:", mc.cmd("version"), flush=True)
n = 0
while True:
    n += 1
    k = "product:%06d" % random.randint(0, N - 1)
    mc.get(k)
    if n % 2 == 0:
        mc.set(k, "%s;price=%d;" % (k, random.randint(100, 99999)) + "d" * random.randint(250, 450))
    s = "session:%d" % random.randint(1, 500)
    if mc.get(s) is None:
        mc.set(s, "u=%d;cart=" % random.randint(1, 9999) + "i" * random.randint(100, 400), exptime=1800)
    if n % 10 == 0:
        mc.cmd("delete cart:%d" % random.randint(1, 500))
    if n % 7 == 0:
        mc.set("hits", "0") if mc.get("hits") is None else None
        mc.cmd("incr hits 1")
    time.sleep(0.008)
