#!/bin/bash
# the LRU crawler, as an operator or a cache-warming tool starts it
exec python3 - <<'PY'
import os, sys, time
sys.path.insert(0, os.path.join(os.environ["CASE_DIR"], "..", "common"))
from mcclient import MC
mc = MC()
while True:
    mc.cmd("lru_crawler crawl all")
    mc.s.sendall(b"lru_crawler metadump all\r\n")
    while mc.f.readline().strip() not in (b"END", b""):
        pass
    time.sleep(2)
PY
