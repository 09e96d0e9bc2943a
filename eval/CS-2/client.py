#!/usr/bin/env python3
"""CS-2 workload (DataStax Python driver from the tree's .venv).

  client.py normal    schema (idempotent), then an ordinary shop workload until killed:
                      prepared product and user reads, cart writes, order inserts, now and then
                      a prepared (id-based) batch for an order's lines; about 120 requests/s,
                      one line of latency figures every 5 s
  client.py catalog   a catalog sync job: for each product, one UNLOGGED batch (single partition)
                      of 50 variant INSERTs sent as CQL text (not prepared), each variant with a
                      40-element tag set literal; 50 batches/s, at most 4 in flight; one line per 2 s
  client.py probe     one product read and one cart write (prints both latencies)
"""
import os, random, sys, threading, time

from cassandra.cluster import Cluster, ExecutionProfile, EXEC_PROFILE_DEFAULT
from cassandra.policies import WhiteListRoundRobinPolicy, RetryPolicy
from cassandra.query import BatchStatement, BatchType, SimpleStatement

PORT = int(os.environ["PORT"])
RATE = int(os.environ.get("CS2_RATE", "50"))  # catalog batches per second


def connect(timeout=10.0):
    prof = ExecutionProfile(load_balancing_policy=WhiteListRoundRobinPolicy(["127.0.0.1"]),
                            retry_policy=RetryPolicy(), request_timeout=timeout)
    cluster = Cluster(["127.0.0.1"], port=PORT, protocol_version=5, connect_timeout=10,
                      execution_profiles={EXEC_PROFILE_DEFAULT: prof})
    return cluster, cluster.connect()


def schema(s):
    s.execute("CREATE KEYSPACE IF NOT EXISTS shop WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}")
    s.execute("CREATE TABLE IF NOT EXISTS shop.users (id int PRIMARY KEY, name text, email text, last_seen timestamp)")
    s.execute("CREATE TABLE IF NOT EXISTS shop.products (id int PRIMARY KEY, name text, price decimal, stock int)")
    s.execute("CREATE TABLE IF NOT EXISTS shop.carts (user_id int, product_id int, qty int, added timestamp, PRIMARY KEY (user_id, product_id))")
    s.execute("CREATE TABLE IF NOT EXISTS shop.order_lines (order_id timeuuid, line int, product_id int, qty int, PRIMARY KEY (order_id, line))")
    s.execute("CREATE TABLE IF NOT EXISTS shop.variants (product_id int, variant int, sku text, color text, size text, "
              "price decimal, tags set<text>, PRIMARY KEY (product_id, variant))")


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
    add_line = s.prepare("INSERT INTO shop.order_lines (order_id, line, product_id, qty) VALUES (?, ?, ?, ?)")
    for i in range(0, 2000, 50):
        for j in range(i, i + 50):
            s.execute_async(ins_user, (j, "user%d" % j, "user%d@example.com" % j))
            s.execute_async(ins_prod, (j, "product %d" % j))
    s.execute(get_prod, (1999,))
    print("schema ready, 2000 users and products", flush=True)
    from cassandra.util import uuid_from_time
    rnd = random.Random(2)
    lat, errs, ops, n, t_last = [], 0, 0, 0, time.time()
    while True:
        n += 1
        uid, pid = rnd.randrange(2000), rnd.randrange(2000)
        work = [(get_user, (uid,)), (get_prod, (pid,)), (add_cart, (uid, pid, rnd.randint(1, 3))) if n % 2 else (get_cart, (uid,))]
        if n % 10 == 0:   # checkout: a prepared (id-based) batch of the order's lines
            b = BatchStatement(batch_type=BatchType.UNLOGGED)
            oid = uuid_from_time(time.time())
            for line in range(3):
                b.add(add_line, (oid, line, rnd.randrange(2000), 1))
            work.append((b, None))
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


def catalog():
    cluster, s = connect(timeout=60)
    schema(s)
    rnd = random.Random()
    colors = ("red", "green", "blue", "black", "white")
    sizes = ("XS", "S", "M", "L", "XL")
    window = threading.Semaphore(4)
    lock = threading.Lock()
    st = {"ok": 0, "err": 0, "lat": 0.0}

    def ok(_, t):
        with lock:
            st["ok"] += 1
            st["lat"] += time.time() - t
        window.release()

    def err(e, t):
        with lock:
            st["err"] += 1
            if st["err"] <= 3:
                print(time.strftime("%H:%M:%S"), "catalog error", type(e).__name__, str(e)[:120], flush=True)
        window.release()

    pid, t_last = 100000 + rnd.randrange(1000000), time.time()
    next_t = time.time()
    while True:
        next_t += 1.0 / RATE        # the sync job pushes 50 products a second
        d = next_t - time.time()
        if d > 0:
            time.sleep(d)
        window.acquire()
        pid += 1
        b = BatchStatement(batch_type=BatchType.UNLOGGED)
        for v in range(50):
            tags = ",".join("'tag-%d'" % rnd.randrange(500) for _ in range(40))
            b.add(SimpleStatement("INSERT INTO shop.variants (product_id, variant, sku, color, size, price, tags) "
                                  "VALUES (%d, %d, 'SKU-%d-%d', '%s', '%s', %d.99, {%s})"
                                  % (pid, v, pid, v, rnd.choice(colors), rnd.choice(sizes), rnd.randint(5, 99), tags)))
        t = time.time()
        f = s.execute_async(b)
        f.add_callbacks(ok, err, callback_args=(t,), errback_args=(t,))
        if time.time() - t_last >= 2:
            with lock:
                o, e, l = st["ok"], st["err"], st["lat"]
                st.update(ok=0, err=0, lat=0.0)
            el = time.time() - t_last
            print(time.strftime("%H:%M:%S"), "catalog: %.1f batches/s (%.0f variants/s), avg %.0f ms, %d errors"
                  % (o / el, 50 * o / el, 1000 * l / max(o, 1), e), flush=True)
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
    {"normal": normal, "catalog": catalog, "probe": probe}[sys.argv[1]]()
