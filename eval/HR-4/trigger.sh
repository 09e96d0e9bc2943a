#!/bin/bash
# an operator tunes the running server and saves its configuration
exec python3 - <<'PY'
import os, sys, time
sys.path.insert(0, os.path.join(os.environ["CASE_DIR"], "..", "common"))
from resp import Redis
r = Redis()
for i in range(3):
    r.cmd("CONFIG", "SET", "slowlog-log-slower-than", 5000 + i)
    r.cmd("CONFIG", "SET", "maxclients", 2000 + i)
    r.cmd("CONFIG", "REWRITE")
    r.cmd("SLOWLOG", "RESET")
    time.sleep(1)
PY
