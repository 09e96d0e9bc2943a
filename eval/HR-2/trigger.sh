#!/bin/bash
# background snapshots, as a "save" schedule or an operator would ask for them
exec python3 - <<'PY'
import os, sys, time
sys.path.insert(0, os.path.join(os.environ["CASE_DIR"], "..", "common"))
from resp import Redis
r = Redis()
while True:
    r.cmd("BGSAVE")
    time.sleep(2)
PY
