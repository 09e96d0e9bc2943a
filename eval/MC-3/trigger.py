#!/usr/bin/env python3
"""A new page renderer goes live: it caches 2,000 page fragments, then renders pages by
fetching 150 fragments per request with one multiget, about 100 pages/s each (two renderer processes)."""
import os, random, sys, time
sys.path.insert(0, os.path.join(os.environ["CASE_DIR"], "..", "common"))
from mcclient import MC

mc = MC(timeout=60)
for i in range(2000):
    mc.set("frag:%d" % i, "<div>%s</div>" % ("f" * random.randint(100, 600)))
if os.fork() == 0:
    mc = MC(timeout=60)
random.seed(os.getpid())
n = 0
t0 = time.time()
while True:
    keys = ["frag:%d" % random.randint(0, 1999) for _ in range(150)]
    mc.s.sendall(("get %s\r\n" % " ".join(keys)).encode())
    while mc.f.readline() != b"END\r\n":
        pass
    time.sleep(0.01)
    n += 1
    if n % 500 == 0:
        print(time.strftime("%H:%M:%S"), os.getpid(), "%d pages, %.2f ms/page" % (n, 1000 * (time.time() - t0) / n), flush=True)
