#!/usr/bin/env python3
"""CS-1 workload (DataStax Python driver from the tree's .venv).

  client.py normal   schema (idempotent), then an ordinary app workload until killed: user
                     profile reads and updates, event inserts, a small per-user event scan;
                     about 120 requests/s, one line of latency figures every 5 s
  client.py bulk     a data import job: 32 KiB blobs into six staging tables, 128 requests in
                     flight, one line of throughput figures per second
  client.py probe    one event insert and one profile read (prints both latencies)
"""
import os, random, sys, threading, time

from cassandra.cluster import Cluster, ExecutionProfile, EXEC_PROFILE_DEFAULT
from cassandra.policies import WhiteListRoundRobinPolicy, RetryPolicy

PORT = int(os.environ["PORT"])
STAGING_TABLES = 6


def connect(timeout=10.0):
    prof = ExecutionProfile(load_balancing_policy=WhiteListRoundRobinPolicy(["127.0.0.1"]),
                            retry_policy=RetryPolicy(), request_timeout=timeout)
    cluster = Cluster(["127.0.0.1"], port=PORT, protocol_version=5, connect_timeout=10,
                      execution_profiles={EXEC_PROFILE_DEFAULT: prof})
    return cluster, cluster.connect()


def schema(s):
    s.execute("CREATE KEYSPACE IF NOT EXISTS app WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}")
    s.execute("CREATE TABLE IF NOT EXISTS app.users (id int PRIMARY KEY, name text, email text, last_seen timestamp, visits int)")
    s.execute("CREATE TABLE IF NOT EXISTS app.events (user_id int, ts timeuuid, kind text, payload text, PRIMARY KEY (user_id, ts)) WITH CLUSTERING ORDER BY (ts DESC)")
    s.execute("CREATE KEYSPACE IF NOT EXISTS staging WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}")
    for i in range(STAGING_TABLES):
        s.execute("CREATE TABLE IF NOT EXISTS staging.import_%d (batch_id bigint, seq int, data blob, PRIMARY KEY (batch_id, seq))" % i)


def pct(xs, p):
    if not xs:
        return 0.0
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100.0 * len(xs)))]


def normal():
    cluster, s = connect()
    schema(s)
    ins_user = s.prepare("INSERT INTO app.users (id, name, email, last_seen, visits) VALUES (?, ?, ?, toTimestamp(now()), 0)")
    get_user = s.prepare("SELECT name, email, last_seen, visits FROM app.users WHERE id = ?")
    touch_user = s.prepare("UPDATE app.users SET last_seen = toTimestamp(now()), visits = ? WHERE id = ?")
    add_event = s.prepare("INSERT INTO app.events (user_id, ts, kind, payload) VALUES (?, now(), ?, ?)")
    recent = s.prepare("SELECT ts, kind FROM app.events WHERE user_id = ? LIMIT 10")
    for i in range(0, 2000, 50):
        for j in range(i, i + 50):
            s.execute_async(ins_user, (j, "user%d" % j, "user%d@example.com" % j))
    s.execute(get_user, (1999,))
    print("schema ready, 2000 users", flush=True)
    rnd = random.Random(1)
    lat, errs, ops, t_last = [], 0, 0, time.time()
    while True:
        uid = rnd.randrange(2000)
        for stmt, args in ((get_user, (uid,)),
                           (add_event, (uid, rnd.choice(("view", "click", "cart")), "p" * rnd.randint(20, 200))),
                           (touch_user, (rnd.randint(1, 100), uid)) if rnd.random() < 0.3 else (recent, (uid,))):
            t = time.time()
            try:
                s.execute(stmt, args)
                lat.append(time.time() - t)
            except Exception as e:  # timeouts are what a hang looks like from here
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


def bulk():
    cluster, s = connect(timeout=30)
    schema(s)
    stmts = [s.prepare("INSERT INTO staging.import_%d (batch_id, seq, data) VALUES (?, ?, ?)" % i) for i in range(STAGING_TABLES)]
    blob = os.urandom(32768)
    window = threading.Semaphore(128)
    lock = threading.Lock()
    st = {"ok": 0, "err": 0}

    def ok(_):
        with lock:
            st["ok"] += 1
        window.release()

    def err(e):
        with lock:
            st["err"] += 1
            if st["err"] <= 3:
                print(time.strftime("%H:%M:%S"), "bulk error", type(e).__name__, str(e)[:120], flush=True)
        window.release()

    batch = random.Random().randrange(1 << 40)
    n, t_last = 0, time.time()
    while True:
        window.acquire()
        n += 1
        f = s.execute_async(stmts[n % STAGING_TABLES], (batch + n // 1000, n % 1000, blob))
        f.add_callbacks(ok, err)
        if time.time() - t_last >= 1:
            with lock:
                o, e = st["ok"], st["err"]
                st.update(ok=0, err=0)
            print(time.strftime("%H:%M:%S"), "bulk: %d rows/s (%.1f MB/s), %d errors" % (o, o * 32768 / 1e6, e), flush=True)
            t_last = time.time()


def probe():
    cluster, s = connect(timeout=4)
    res = []
    for label, q in (("event insert", "INSERT INTO app.events (user_id, ts, kind, payload) VALUES (1, now(), 'probe', 'x')"),
                     ("profile read", "SELECT name FROM app.users WHERE id = 1")):
        t = time.time()
        try:
            s.execute(q)
            res.append("%s %.1f ms" % (label, 1000 * (time.time() - t)))
        except Exception as e:
            res.append("%s failed after %.1f s (%s)" % (label, time.time() - t, type(e).__name__))
    print(", ".join(res), flush=True)
    cluster.shutdown()


if __name__ == "__main__":
    {"normal": normal, "bulk": bulk, "probe": probe}[sys.argv[1]]()
