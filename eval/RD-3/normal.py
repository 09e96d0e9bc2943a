#!/usr/bin/env python3
"""Ordinary traffic of a game service, about 100 commands/s: player sessions with a TTL
(SETEX/GET/EXPIRE), player profiles (HSET/HGET), the live leaderboard (ZINCRBY, ZREVRANGE),
per-player rate limits (INCR + EXPIRE) and a match-event stream trimmed to its last 500
entries (XADD MAXLEN)."""
import os, random, sys, time
sys.path.insert(0, os.path.join(os.environ["CASE_DIR"], "..", "common"))
from resp import Redis

random.seed(13)
r = Redis()
n = 0
while True:
    n += 1
    pid = random.randint(1, 400)
    sid = "session:player:%d" % pid
    if r.cmd("GET", sid) is None:
        r.cmd("SETEX", sid, 900, '{"player": %d, "region": "eu-%d", "token": "%032x"}'
              % (pid, pid % 4, random.getrandbits(128)))
    else:
        r.cmd("EXPIRE", sid, 900)
    r.cmd("HSET", "player:%d" % pid, "name", "p%d" % pid, "last_match", int(time.time()))
    r.cmd("ZINCRBY", "leaderboard:live", random.randint(1, 30), "p%d" % pid)
    rl = "ratelimit:%d:%d" % (pid, int(time.time()) // 10)
    if r.cmd("INCR", rl) == 1:
        r.cmd("EXPIRE", rl, 20)
    r.cmd("XADD", "match:events", "MAXLEN", "~", 500, "*", "player", pid, "score", random.randint(0, 99))
    if n % 5 == 0:
        r.cmd("ZREVRANGE", "leaderboard:live", 0, 9, "WITHSCORES")
    if n % 7 == 0:
        r.cmd("HGET", "player:%d" % random.randint(1, 400), "name")
    time.sleep(0.06)
