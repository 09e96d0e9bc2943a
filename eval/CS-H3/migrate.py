#!/usr/bin/env python3
"""CS-H3 trigger: the schema migration of a new release of CS-H1's shop application.

One driver session (DataStax Python driver from the tree's .venv) runs the release's DDL in
order, waiting for schema agreement after each statement as the driver does by default, then
checks the new index with one query and ends. Prints each step with its duration.
"""
import os, time

from cassandra.cluster import Cluster, ExecutionProfile, EXEC_PROFILE_DEFAULT
from cassandra.policies import WhiteListRoundRobinPolicy

PORT = int(os.environ["PORT"])

STEPS = [
    ("add users.phone", "ALTER TABLE shop.users ADD phone text"),
    ("add products.category", "ALTER TABLE shop.products ADD category text"),
    ("create reviews", "CREATE TABLE IF NOT EXISTS shop.reviews (product_id int, ts timeuuid, user_id int, stars int, body text, PRIMARY KEY (product_id, ts)) WITH CLUSTERING ORDER BY (ts DESC)"),
    ("index users.email", "CREATE INDEX IF NOT EXISTS users_email ON shop.users (email) USING 'sai'"),
]


def main():
    prof = ExecutionProfile(load_balancing_policy=WhiteListRoundRobinPolicy(["127.0.0.1"]), request_timeout=60)
    cluster = Cluster(["127.0.0.1"], port=PORT, protocol_version=5, connect_timeout=10,
                      execution_profiles={EXEC_PROFILE_DEFAULT: prof})
    s = cluster.connect()
    for label, q in STEPS:
        t = time.time()
        try:
            s.execute(q)
            print(time.strftime("%H:%M:%S"), "migrate: %s %.0f ms" % (label, 1000 * (time.time() - t)), flush=True)
        except Exception as e:
            print(time.strftime("%H:%M:%S"), "migrate: %s failed after %.1f s: %s %s" % (label, time.time() - t, type(e).__name__, str(e)[:160]), flush=True)
    # the index is built in the background: wait until a query through it answers
    q = s.prepare("SELECT id FROM shop.users WHERE email = ?")
    t = time.time()
    while True:
        try:
            rows = list(s.execute(q, ("user1999@example.com",)))
            print(time.strftime("%H:%M:%S"), "migrate: index query %d row(s) %.0f ms after the DDL" % (len(rows), 1000 * (time.time() - t)), flush=True)
            break
        except Exception as e:
            if time.time() - t > 30:
                print(time.strftime("%H:%M:%S"), "migrate: index not queryable after 30 s: %s" % str(e)[:160], flush=True)
                break
            time.sleep(0.5)
    cluster.shutdown()
    print(time.strftime("%H:%M:%S"), "migrate: done", flush=True)


if __name__ == "__main__":
    main()
