#!/usr/bin/env python3
"""A new capacity dashboard polls the item size histogram ("stats sizes") ten times a
second, on its own connection."""
import os, sys, time
sys.path.insert(0, os.path.join(os.environ["CASE_DIR"], "..", "common"))
from mcclient import MC

mc = MC(timeout=60)
n = 0
while True:
    t = time.time()
    st = mc.stats("sizes")
    n += 1
    if n % 10 == 1:
        print(time.strftime("%H:%M:%S"), "stats sizes: %d buckets in %.3f s" % (len(st), time.time() - t), flush=True)
    time.sleep(0.1)
