#!/usr/bin/env python3
"""Ordinary cache traffic, one key per request: sets, gets (hits and misses), deletes,
incr, a stats call now and then; about 300 requests/s."""
import os, random, sys, time
sys.path.insert(0, os.path.join(os.environ["CASE_DIR"], "..", "common"))
from mcclient import MC

random.seed(9)
mc = MC()
n = 0
while True:
    n += 1
    k = "obj:%d" % random.randint(1, 400)
    mc.set(k, "v" * random.choice((40, 120, 500, 1500, 4000)), exptime=600)
    mc.get("obj:%d" % random.randint(1, 500))
    mc.get(k)
    if n % 5 == 0:
        mc.cmd("delete obj:%d" % random.randint(1, 400))
    if n % 7 == 0:
        mc.set("counter", "0") if mc.get("counter") is None else None
        mc.cmd("incr counter 1")
    if n % 50 == 0:
        mc.stats()
    time.sleep(0.01)
