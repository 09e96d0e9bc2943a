#!/usr/bin/env python3
"""CS-3 workload (DataStax Python driver from the tree's .venv).

  client.py normal     schema (idempotent), then an ordinary shop workload until killed:
                       prepared product and user reads, cart writes, order inserts, and about once
                       a second a new-account registration with INSERT ... IF NOT EXISTS (an
                       uncontended lightweight transaction); about 120 requests/s, one line of
                       latency figures every 5 s
  client.py flashsale  a flash sale: 256 concurrent buyers decrement the stock of one deal with
                       optimistic concurrency (UPDATE ... IF version = ?, retried with the version
                       the not-applied answer returns); one line per 2 s
  client.py probe      one product read and one cart write (prints both latencies)
"""
import os, random, sys, threading, time, uuid

from cassandra.cluster import Cluster, ExecutionProfile, EXEC_PROFILE_DEFAULT
from cassandra.policies import WhiteListRoundRobinPolicy, RetryPolicy

PORT = int(os.environ["PORT"])


def connect(timeout=10.0):
    prof = ExecutionProfile(load_balancing_policy=WhiteListRoundRobinPolicy(["127.0.0.1"]),
                            retry_policy=RetryPolicy(), request_timeout=timeout)
    cluster = Cluster(["127.0.0.1"], port=PORT, protocol_version=5, connect_timeout=10,
                      execution_profiles={EXEC_PROFILE_DEFAULT: prof})
    return cluster, cluster.connect()


def schema(s):
    s.execute("CREATE KEYSPACE IF NOT EXISTS shop WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}")
    s.execute("CREATE TABLE IF NOT EXISTS shop.users (id int PRIMARY KEY, name text, email text, last_seen timestamp)")
    s.execute("CREATE TABLE IF NOT EXISTS shop.accounts (login text PRIMARY KEY, user_id uuid, created timestamp)")
    s.execute("CREATE TABLE IF NOT EXISTS shop.products (id int PRIMARY KEY, name text, price decimal, stock int)")
    s.execute("CREATE TABLE IF NOT EXISTS shop.carts (user_id int, product_id int, qty int, added timestamp, PRIMARY KEY (user_id, product_id))")
    s.execute("CREATE TABLE IF NOT EXISTS shop.deals (deal text PRIMARY KEY, stock int, version int)")


def pct(xs, p):
    if not xs:
        return 0.0
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100.0 * len(xs)))]


def normal():
    cluster, s = connect()
    schema(s)
    ins_user = s.prepare("INSERT INTO shop.users (id, name, email, last_seen) VALUES (?, ?, ?, toTimestamp(now()))")
    ins_prod = s.prepare("INSERT INTO shop.products (id, name, price, stock) VALUES (?, ?, 9.99, 100)")
    get_user = s.prepare("SELECT name, email FROM shop.users WHERE id = ?")
    get_prod = s.prepare("SELECT name, price, stock FROM shop.products WHERE id = ?")
    add_cart = s.prepare("INSERT INTO shop.carts (user_id, product_id, qty, added) VALUES (?, ?, ?, toTimestamp(now()))")
    get_cart = s.prepare("SELECT product_id, qty FROM shop.carts WHERE user_id = ?")
    register = s.prepare("INSERT INTO shop.accounts (login, user_id, created) VALUES (?, ?, toTimestamp(now())) IF NOT EXISTS")
    for i in range(0, 2000, 50):
        for j in range(i, i + 50):
            s.execute_async(ins_user, (j, "user%d" % j, "user%d@example.com" % j))
            s.execute_async(ins_prod, (j, "product %d" % j))
    s.execute(get_prod, (1999,))
    print("schema ready, 2000 users and products", flush=True)
    rnd = random.Random(3)
    lat, errs, ops, n, t_last = [], 0, 0, 0, time.time()
    while True:
        n += 1
        uid, pid = rnd.randrange(2000), rnd.randrange(2000)
        work = [(get_user, (uid,)), (get_prod, (pid,)), (add_cart, (uid, pid, rnd.randint(1, 3))) if n % 2 else (get_cart, (uid,))]
        if n % 40 == 0:   # a new account, about once a second: an uncontended LWT
            work.append((register, ("login-%s" % uuid.uuid4().hex[:12], uuid.uuid4())))
        for stmt, args in work:
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


def flashsale():
    cluster, s = connect(timeout=30)
    schema(s)
    s.execute("INSERT INTO shop.deals (deal, stock, version) VALUES ('flash-tv', 1000000, 0) IF NOT EXISTS")
    row = s.execute("SELECT stock, version FROM shop.deals WHERE deal = 'flash-tv'").one()
    buy = s.prepare("UPDATE shop.deals SET stock = ?, version = ? WHERE deal = 'flash-tv' IF version = ?")
    window = threading.Semaphore(256)
    lock = threading.Lock()
    cur = {"v": row.version, "stock": row.stock}
    st = {"sold": 0, "retry": 0, "err": 0}

    def done(rs):
        r = rs[0]
        with lock:
            if r[0]:
                st["sold"] += 1
            else:
                st["retry"] += 1
                if r.version is not None and r.version > cur["v"]:
                    cur["stock"] -= r.version - cur["v"]
                    cur["v"] = r.version
        window.release()

    def fail(e):
        with lock:
            st["err"] += 1
            if st["err"] <= 3:
                print(time.strftime("%H:%M:%S"), "flashsale error", type(e).__name__, str(e)[:120], flush=True)
        window.release()

    t_last = time.time()
    while True:
        window.acquire()
        with lock:
            v, stock = cur["v"], cur["stock"]
        f = s.execute_async(buy, (stock - 1, v + 1, v))
        f.add_callbacks(done, fail)
        if time.time() - t_last >= 2:
            el = time.time() - t_last
            with lock:
                print(time.strftime("%H:%M:%S"), "flashsale: %.0f sold/s, %.0f lost races/s, %d errors"
                      % (st["sold"] / el, st["retry"] / el, st["err"]), flush=True)
                st.update(sold=0, retry=0, err=0)
            t_last = time.time()


def probe():
    cluster, s = connect(timeout=4)
    res = []
    for label, q in (("product read", "SELECT name, price FROM shop.products WHERE id = 7"),
                     ("cart write", "INSERT INTO shop.carts (user_id, product_id, qty, added) VALUES (7, 7, 1, toTimestamp(now()))")):
        t = time.time()
        try:
            s.execute(q)
            res.append("%s %.1f ms" % (label, 1000 * (time.time() - t)))
        except Exception as e:
            res.append("%s failed after %.1f s (%s)" % (label, time.time() - t, type(e).__name__))
    print(", ".join(res), flush=True)
    cluster.shutdown()


if __name__ == "__main__":
    {"normal": normal, "flashsale": flashsale, "probe": probe}[sys.argv[1]]()
