#!/usr/bin/env python3
"""A user of the admin page's key search types a pattern with many wildcards (the page
passes it to SCAN MATCH as it is)."""
import os, sys, time
sys.path.insert(0, os.path.join(os.environ["CASE_DIR"], "..", "common"))
from resp import Redis

r = Redis(timeout=3600)
pattern = "*?*?*?*?*?*?*?*?*?*?*?*?*?*?*?*?*?*?*?*?*?*?*?*?*?*?*?*?x"
print(time.strftime("%H:%M:%S"), "SCAN MATCH", pattern, flush=True)
cur = 0
while True:
    cur, keys = r.cmd("SCAN", cur, "MATCH", pattern, "COUNT", 200)
    print(time.strftime("%H:%M:%S"), "cursor", cur, len(keys), "keys", flush=True)
    if cur == b"0":
        break
