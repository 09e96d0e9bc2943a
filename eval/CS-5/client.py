#!/usr/bin/env python3
"""CS-5 workload (DataStax Python driver from the tree's .venv).

  client.py normal   schema (idempotent), a one-time load of 20,000 team activity events (80 teams
                     x 250 events spread over the last week), then an ordinary app workload until
                     killed: user reads, event inserts into a team's feed, reads of one team's
                     latest 20 events; about 120 requests/s, one line of latency figures every 5 s
  client.py report   a weekly activity report: all events of the 80 teams, newest first, in one
                     query (WHERE team IN (...) ORDER BY ts DESC, paging off), a new report 2 s
                     after the previous one finished; one line per report
  client.py probe    one team feed read and one event insert (prints both latencies)
"""
import os, random, sys, time, uuid

from cassandra.cluster import Cluster, ExecutionProfile, EXEC_PROFILE_DEFAULT
from cassandra.concurrent import execute_concurrent_with_args
from cassandra.policies import WhiteListRoundRobinPolicy, RetryPolicy
from cassandra.util import uuid_from_time

PORT = int(os.environ["PORT"])
TEAMS, EVENTS_PER_TEAM = 80, 250


def connect(timeout=10.0):
    prof = ExecutionProfile(load_balancing_policy=WhiteListRoundRobinPolicy(["127.0.0.1"]),
                            retry_policy=RetryPolicy(), request_timeout=timeout)
    cluster = Cluster(["127.0.0.1"], port=PORT, protocol_version=5, connect_timeout=10,
                      execution_profiles={EXEC_PROFILE_DEFAULT: prof})
    return cluster, cluster.connect()


def schema(s):
    s.execute("CREATE KEYSPACE IF NOT EXISTS app WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}")
    s.execute("CREATE TABLE IF NOT EXISTS app.users (id int PRIMARY KEY, name text, team int, last_seen timestamp)")
    s.execute("CREATE TABLE IF NOT EXISTS app.team_activity (team int, ts timeuuid, user_id int, kind text, detail text, "
              "PRIMARY KEY (team, ts)) WITH CLUSTERING ORDER BY (ts DESC)")


def pct(xs, p):
    if not xs:
        return 0.0
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100.0 * len(xs)))]


def normal():
    cluster, s = connect()
    schema(s)
    ins_user = s.prepare("INSERT INTO app.users (id, name, team, last_seen) VALUES (?, ?, ?, toTimestamp(now()))")
    ins_ev = s.prepare("INSERT INTO app.team_activity (team, ts, user_id, kind, detail) VALUES (?, ?, ?, ?, ?)")
    get_user = s.prepare("SELECT name, team FROM app.users WHERE id = ?")
    feed = s.prepare("SELECT ts, user_id, kind FROM app.team_activity WHERE team = ? LIMIT 20")
    rnd = random.Random(5)
    now = time.time()
    execute_concurrent_with_args(s, ins_user, [(j, "user%d" % j, j % TEAMS) for j in range(2000)], concurrency=128)
    events = [(t, uuid_from_time(now - rnd.uniform(0, 7 * 86400)), rnd.randrange(2000),
               rnd.choice(("commit", "review", "deploy", "comment")), "d" * rnd.randint(10, 60))
              for t in range(TEAMS) for e in range(EVENTS_PER_TEAM)]
    execute_concurrent_with_args(s, ins_ev, events, concurrency=128)
    print("schema ready, 2000 users, %d team events" % len(events), flush=True)
    lat, errs, ops, t_last = [], 0, 0, time.time()
    while True:
        uid = rnd.randrange(2000)
        for stmt, args in ((get_user, (uid,)),
                           (ins_ev, (uid % TEAMS, uuid_from_time(time.time()), uid, rnd.choice(("commit", "review", "deploy")), "live")),
                           (feed, (rnd.randrange(TEAMS),))):
            t = time.time()
            try:
                s.execute(stmt, args)
                lat.append(time.time() - t)
            except Exception as e:
                errs += 1
                if errs <= 3 or errs % 50 == 0:
                    print(time.strftime("%H:%M:%S"), "error", type(e).__name__, str(e)[:120], flush=True)
            ops += 1
        time.sleep(0.02)
        if time.time() - t_last >= 5:
            el = time.time() - t_last
            print(time.strftime("%H:%M:%S"), "normal: %.0f req/s, ok %d, errors %d, avg %.1f ms, p99 %.1f ms, max %.1f ms"
                  % (ops / el, len(lat), errs, 1000 * sum(lat) / max(len(lat), 1), 1000 * pct(lat, 99), 1000 * max(lat or [0])), flush=True)
            lat, errs, ops, t_last = [], 0, 0, time.time()


def report():
    from cassandra.query import SimpleStatement
    cluster, s = connect(timeout=60)
    schema(s)
    q = SimpleStatement("SELECT team, ts, user_id, kind FROM app.team_activity WHERE team IN (%s) ORDER BY ts DESC"
                        % ",".join(str(t) for t in range(TEAMS)), fetch_size=None)
    while True:
        t = time.time()
        try:
            rows = list(s.execute(q))
            print(time.strftime("%H:%M:%S"), "report: %d events in %.2f s" % (len(rows), time.time() - t), flush=True)
        except Exception as e:
            print(time.strftime("%H:%M:%S"), "report error after %.2f s: %s %s" % (time.time() - t, type(e).__name__, str(e)[:120]), flush=True)
        time.sleep(2)


def probe():
    cluster, s = connect(timeout=4)
    res = []
    for label, q in (("team feed read", "SELECT ts, kind FROM app.team_activity WHERE team = 7 LIMIT 20"),
                     ("event insert", "INSERT INTO app.team_activity (team, ts, user_id, kind) VALUES (7, now(), 7, 'probe')")):
        t = time.time()
        try:
            s.execute(q)
            res.append("%s %.1f ms" % (label, 1000 * (time.time() - t)))
        except Exception as e:
            res.append("%s failed after %.1f s (%s)" % (label, time.time() - t, type(e).__name__))
    print(", ".join(res), flush=True)
    cluster.shutdown()


if __name__ == "__main__":
    {"normal": normal, "report": report, "probe": probe}[sys.argv[1]]()
