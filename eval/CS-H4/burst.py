#!/usr/bin/env python3
"""CS-H4 trigger: a burst of short-lived clients of CS-H1's shop application.

  burst.py THREADS SECONDS   THREADS clients at a time for SECONDS: each opens a new driver
                             session (DataStax Python driver from the tree's .venv: a control
                             connection that reads the node's peers and schema, a pool
                             connection), prepares and runs one product read, and shuts the
                             session down; then the next one starts. One line every 5 s:
                             sessions, their connect and read latencies, errors.
"""
import os, random, sys, threading, time

from cassandra.cluster import Cluster, ExecutionProfile, EXEC_PROFILE_DEFAULT
from cassandra.policies import WhiteListRoundRobinPolicy

PORT = int(os.environ["PORT"])
lock = threading.Lock()
st = {"n": 0, "err": 0, "conn": [], "read": []}


def one(rnd):
    prof = ExecutionProfile(load_balancing_policy=WhiteListRoundRobinPolicy(["127.0.0.1"]), request_timeout=10)
    t0 = time.time()
    cluster = Cluster(["127.0.0.1"], port=PORT, protocol_version=5, connect_timeout=10,
                      execution_profiles={EXEC_PROFILE_DEFAULT: prof})
    try:
        s = cluster.connect()
        t1 = time.time()
        q = s.prepare("SELECT name, price, stock FROM shop.products WHERE id = ?")
        s.execute(q, (rnd.randrange(2000),))
        t2 = time.time()
        with lock:
            st["n"] += 1
            st["conn"].append(t1 - t0)
            st["read"].append(t2 - t1)
    finally:
        cluster.shutdown()


def worker(i, end):
    rnd = random.Random(i)
    while time.time() < end:
        try:
            one(rnd)
        except Exception as e:
            with lock:
                st["err"] += 1
                if st["err"] <= 3:
                    print(time.strftime("%H:%M:%S"), "burst error", type(e).__name__, str(e)[:120], flush=True)


def report():
    with lock:
        n, e, c, r = st["n"], st["err"], st["conn"], st["read"]
        st.update(n=0, err=0, conn=[], read=[])
    avg = lambda xs: 1000 * sum(xs) / len(xs) if xs else 0.0
    print(time.strftime("%H:%M:%S"), "burst: %d sessions, errors %d, connect avg %.0f ms max %.0f ms, prepare+read avg %.0f ms max %.0f ms"
          % (n, e, avg(c), 1000 * max(c or [0]), avg(r), 1000 * max(r or [0])), flush=True)


def main():
    threads, seconds = int(sys.argv[1]), float(sys.argv[2])
    end = time.time() + seconds
    ts = [threading.Thread(target=worker, args=(i, end), daemon=True) for i in range(threads)]
    for t in ts:
        t.start()
    while any(t.is_alive() for t in ts):
        time.sleep(5)
        report()
    print(time.strftime("%H:%M:%S"), "burst: over", flush=True)


if __name__ == "__main__":
    main()
