#!/usr/bin/env python3
"""Ordinary traffic of a web application's session store and counters, about 100
commands/s: sessions with a TTL (SETEX/GET/EXPIRE), user profiles (HSET/HGETALL), page
counters (INCR), a recent-activity list (LPUSH/LTRIM/LRANGE), and an admin SCAN now and then."""
import os, random, sys, time
sys.path.insert(0, os.path.join(os.environ["CASE_DIR"], "..", "common"))
from resp import Redis

random.seed(11)
r = Redis()
n = 0
while True:
    n += 1
    sid = "session:%04d" % random.randint(1, 300)
    uid = random.randint(1, 200)
    if r.cmd("GET", sid) is None:
        r.cmd("SETEX", sid, 1800, '{"user": %d, "cart": [%s], "csrf": "%032x"}'
              % (uid, ",".join(str(random.randint(1, 999)) for _ in range(5)), random.getrandbits(128)))
    else:
        r.cmd("EXPIRE", sid, 1800)
    r.cmd("HSET", "user:%d" % uid, "name", "user%d" % uid, "last_seen", int(time.time()))
    r.cmd("HGETALL", "user:%d" % uid)
    r.cmd("INCR", "views:/page/%d" % random.randint(1, 50))
    r.cmd("LPUSH", "recent", "user%d viewed page" % uid)
    r.cmd("LTRIM", "recent", 0, 99)
    if n % 5 == 0:
        r.cmd("LRANGE", "recent", 0, 9)
    if n % 100 == 0:
        r.cmd("SCAN", 0, "MATCH", "session:*", "COUNT", 100)
    time.sleep(0.06)
