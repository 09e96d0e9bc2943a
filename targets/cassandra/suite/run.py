#!/usr/bin/env python3
"""perfscope workload suite for Apache Cassandra 5.0 (the published jars carry no test suite).

    .venv/bin/python suite/run.py --quick|--full [--tree DIR] [--work DIR]
                                  [--only NAME[,NAME...]] [--list] [--class-log] [-v]

Starts the node(s) itself, as child processes (bin/cassandra-node execs the JVM, so each node is
a direct child of this process), drives them over CQL (DataStax Python driver) and bin/nodetool,
prints one line per test ("ok"/"FAIL", name, seconds), stops the nodes (nodetool drain, SIGTERM,
SIGKILL after a timeout) and exits 1 if a test failed. The last line is "N passed, M failed".

--quick  one node on 127.0.0.1: the main request paths and a kill -9 restart with commit log
         replay
--full   --quick, then a clean restart, then a 3-node cluster on 127.0.0.1-3 (RF 3, QUORUM,
         a node down and back with hints delivered, repair across nodes, cleanup)

--tree   the Cassandra tree (with lib/); default: the folder above suite/. bin/ and conf/ are
         always the ones beside this suite/ folder.
--work   scratch folder for the nodes' data and logs, emptied first; default TREE/.suite-work.
         Removed at the end when every test passed (unless --keep).
--only   run only the named tests (comma-separated; --list shows them)
--class-log  every node JVM logs its class loads (-Xlog:class+load) into its data folder; at the
         end the number of distinct org.apache.cassandra classes loaded is printed
"""

import argparse
import glob
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import traceback
import uuid
import zipfile
from decimal import Decimal

SUITE_DIR = os.path.dirname(os.path.abspath(__file__))
SCRIPTS_HOME = os.path.dirname(SUITE_DIR)           # bin/ and conf/ live here
NATIVE_PORT = 9042
ADDRS = ["127.0.0.1", "127.0.0.2", "127.0.0.3"]

from cassandra import ConsistencyLevel, InvalidRequest, Unavailable  # noqa: E402
from cassandra.cluster import (Cluster, ExecutionProfile, EXEC_PROFILE_DEFAULT,  # noqa: E402
                               NoHostAvailable)
from cassandra.concurrent import execute_concurrent_with_args  # noqa: E402
from cassandra.policies import (ConstantReconnectionPolicy, RetryPolicy,  # noqa: E402
                                WhiteListRoundRobinPolicy)
from cassandra.query import BatchStatement, BatchType, SimpleStatement  # noqa: E402

CL = ConsistencyLevel
VERBOSE = False


def log(msg):
    if VERBOSE:
        print("  .. " + msg, flush=True)


class TestFailure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise TestFailure(msg)


def eq(actual, expected, what):
    if actual != expected:
        raise TestFailure("%s: expected %r, got %r" % (what, expected, actual))


def wait_until(fn, timeout, what, interval=0.5):
    """Poll fn() until it returns a true value; fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            v = fn()
            if v:
                return v
        except Exception as e:  # keep polling; report the last error
            last_exc = e
        if time.monotonic() > deadline:
            raise TestFailure("timed out after %ss waiting for %s%s" % (
                timeout, what, (" (last error: %r)" % last_exc) if last_exc else ""))
        time.sleep(interval)


# --------------------------------------------------------------------------------------------
# nodes

def _die_with_parent():
    """In the child before exec: SIGKILL it if this suite process dies (even by SIGKILL), so no
    node outlives the suite. Inherited across the exec of bin/cassandra-node and of the JVM."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)   # PR_SET_PDEATHSIG
    except Exception:
        pass


class Node:
    def __init__(self, name, addr, datadir, tree, seeds, extra_jvm_opts=""):
        self.name, self.addr, self.datadir, self.tree = name, addr, datadir, tree
        self.seeds = seeds
        self.extra_jvm_opts = extra_jvm_opts
        self.proc = None
        self.outlog = os.path.join(datadir + ".out")
        self.peak_rss_kib = 0
        self.starts = 0

    # -- process
    def start(self, timeout=180):
        check(self.proc is None or self.proc.poll() is not None, "%s already running" % self.name)
        os.makedirs(self.datadir, exist_ok=True)
        env = dict(os.environ)
        env["CASSANDRA_HOME"] = self.tree
        if self.extra_jvm_opts:
            env["JVM_EXTRA_OPTS"] = self.extra_jvm_opts
        out = open(self.outlog, "ab")
        offset = out.tell()
        t0 = time.monotonic()
        self.proc = subprocess.Popen(
            [os.path.join(SCRIPTS_HOME, "bin", "cassandra-node"), self.datadir, self.addr,
             str(NATIVE_PORT), self.seeds],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
            preexec_fn=_die_with_parent)
        out.close()
        self.starts += 1

        def ready():
            if self.proc.poll() is not None:
                raise TestFailure("%s exited with %s during start-up; last lines of %s:\n%s" % (
                    self.name, self.proc.returncode, self.outlog, self.tail(offset)))
            with open(self.outlog, "rb") as f:
                f.seek(offset)
                text = f.read().decode("utf-8", "replace")
            if "Exception (" in text and "encountered during startup" in text:
                raise TestFailure("%s failed to start:\n%s" % (self.name, self.tail(offset)))
            return "Startup complete" in text and port_open(self.addr, NATIVE_PORT)
        try:
            wait_until(ready, timeout, "%s to start" % self.name, interval=0.2)
        except TestFailure as e:
            if "timed out" in str(e):
                raise TestFailure(str(e) + "\n" + self.tail(offset))
            raise
        dt = time.monotonic() - t0
        log("%s (%s) started in %.1fs, pid %d" % (self.name, self.addr, dt, self.proc.pid))
        return dt

    def tail(self, offset=0, n=40):
        try:
            with open(self.outlog, "rb") as f:
                f.seek(offset)
                lines = f.read().decode("utf-8", "replace").splitlines()
            return "\n".join(["    | " + l[:300] for l in lines if "CompileCommand" not in l][-n:])
        except OSError:
            return ""

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def sample_rss(self):
        if not self.running():
            return
        try:
            with open("/proc/%d/status" % self.proc.pid) as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        self.peak_rss_kib = max(self.peak_rss_kib, int(line.split()[1]))
        except OSError:
            pass

    def stop(self, drain=True, timeout=60):
        """nodetool drain, then SIGTERM; SIGKILL if still alive after timeout seconds."""
        if not self.running():
            return
        self.sample_rss()
        if drain:
            try:
                self.nodetool("drain", timeout=120)
            except Exception as e:
                print("  .. %s: drain failed: %s" % (self.name, e), flush=True)
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            print("  .. %s did not stop in %ss after SIGTERM: SIGKILL" % (self.name, timeout),
                  flush=True)
            self.proc.kill()
            self.proc.wait()
        log("%s stopped (exit %s)" % (self.name, self.proc.returncode))

    def kill9(self):
        if self.running():
            self.sample_rss()
            self.proc.kill()
            self.proc.wait()
            log("%s killed with SIGKILL" % self.name)

    # -- tools
    def nodetool(self, *args, timeout=300, check_rc=True):
        # stdout only: a JVM under a tracer or agent says so on stderr ("Picked up
        # JAVA_TOOL_OPTIONS: ...", CDS warnings), which is not nodetool's answer
        r = subprocess.run([os.path.join(SCRIPTS_HOME, "bin", "nodetool"), self.datadir] + list(args),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout,
                           env=dict(os.environ, CASSANDRA_HOME=self.tree))
        out = r.stdout.decode("utf-8", "replace")
        if check_rc and r.returncode != 0:
            err = r.stderr.decode("utf-8", "replace")
            raise TestFailure("nodetool %s on %s exited %d:\n%s\n%s" % (
                " ".join(args), self.name, r.returncode, out[-3000:], err[-3000:]))
        log("nodetool %s @%s -> %d line(s)" % (" ".join(args), self.name, len(out.splitlines())))
        return out

    def system_log(self):
        p = os.path.join(self.datadir, "logs", "system.log")
        with open(p, "rb") as f:
            return f.read().decode("utf-8", "replace")


def port_open(addr, port):
    try:
        with socket.create_connection((addr, port), timeout=1):
            return True
    except OSError:
        return False


def connect(addrs, timeout=60):
    """A driver session whose coordinators are exactly addrs."""
    profile = ExecutionProfile(load_balancing_policy=WhiteListRoundRobinPolicy(addrs),
                               retry_policy=RetryPolicy(), request_timeout=timeout)
    cluster = Cluster(addrs, port=NATIVE_PORT, protocol_version=5,
                      execution_profiles={EXEC_PROFILE_DEFAULT: profile},
                      reconnection_policy=ConstantReconnectionPolicy(1.0),
                      connect_timeout=15, control_connection_timeout=15,
                      max_schema_agreement_wait=60)
    session = cluster.connect()
    return cluster, session


def q(session, query, params=None, cl=CL.ONE, fetch_size=None, serial=None):
    st = SimpleStatement(query, consistency_level=cl, fetch_size=fetch_size,
                         serial_consistency_level=serial)
    return session.execute(st, params)


def rows(session, query, params=None, cl=CL.ONE, fetch_size=None):
    return list(q(session, query, params, cl, fetch_size))


def expect_unavailable(fn, what):
    """fn() must fail with Unavailable (the driver's retry policy tries the next host once, so
    it may arrive wrapped in NoHostAvailable)."""
    try:
        fn()
    except Unavailable:
        return
    except NoHostAvailable as e:
        if e.errors and all(isinstance(x, Unavailable) for x in e.errors.values()):
            return
        raise
    raise TestFailure("%s succeeded" % what)


def create_ks(session, ks, rf=1):
    session.execute("DROP KEYSPACE IF EXISTS %s" % ks)
    session.execute("CREATE KEYSPACE %s WITH replication = "
                    "{'class': 'SimpleStrategy', 'replication_factor': %d}" % (ks, rf))


# --------------------------------------------------------------------------------------------
# single-node tests (ctx.node1, ctx.session)

def t_schema(ctx):
    """keyspace/type/table DDL: create, alter (add/drop column, options), truncate, drop."""
    s = ctx.session
    create_ks(s, "ps_schema")
    s.execute("ALTER KEYSPACE ps_schema WITH replication = "
              "{'class': 'NetworkTopologyStrategy', 'datacenter1': 1} AND durable_writes = true")
    s.execute("CREATE TYPE ps_schema.address (street text, city text, zip int)")
    s.execute("CREATE TABLE ps_schema.users (id uuid PRIMARY KEY, name text, age int, "
              "addr frozen<address>, tags set<text>) WITH comment = 'v1'")
    s.execute("ALTER TABLE ps_schema.users ADD email text")
    s.execute("ALTER TABLE ps_schema.users ADD (phone text, score double)")
    s.execute("ALTER TABLE ps_schema.users DROP age")
    s.execute("ALTER TABLE ps_schema.users WITH comment = 'v2' AND compaction = "
              "{'class': 'LeveledCompactionStrategy'} AND gc_grace_seconds = 3600")
    s.execute("ALTER TYPE ps_schema.address ADD country text")
    cols = {r.column_name for r in rows(s, "SELECT column_name FROM system_schema.columns "
                                           "WHERE keyspace_name='ps_schema' AND table_name='users'")}
    eq(cols, {"id", "name", "addr", "tags", "email", "phone", "score"}, "columns after ALTERs")
    t = rows(s, "SELECT comment, compaction FROM system_schema.tables "
                "WHERE keyspace_name='ps_schema' AND table_name='users'")[0]
    eq(t.comment, "v2", "table comment")
    check("LeveledCompactionStrategy" in t.compaction["class"], "compaction not altered: %r" % t.compaction)
    uid = uuid.uuid4()
    s.execute("INSERT INTO ps_schema.users (id, name, addr, tags, email) VALUES "
              "(%s, 'ann', {street: 'Main', city: 'X', zip: 1, country: 'Y'}, {'a','b'}, 'a@x')", [uid])
    r = rows(s, "SELECT * FROM ps_schema.users WHERE id=%s", [uid])[0]
    eq((r.name, r.addr.city, r.addr.country, sorted(r.tags)), ("ann", "X", "Y", ["a", "b"]), "row")
    # re-adding a dropped column with the same type is allowed; data written before the drop stays gone
    s.execute("ALTER TABLE ps_schema.users ADD age int")
    eq(rows(s, "SELECT age FROM ps_schema.users WHERE id=%s", [uid])[0].age, None, "re-added column")
    s.execute("CREATE TABLE ps_schema.tmp (k int, c int, v text, PRIMARY KEY (k, c)) "
              "WITH CLUSTERING ORDER BY (c DESC)")
    s.execute("INSERT INTO ps_schema.tmp (k, c, v) VALUES (1, 1, 'x')")
    s.execute("TRUNCATE ps_schema.tmp")
    eq(rows(s, "SELECT * FROM ps_schema.tmp"), [], "rows after TRUNCATE")
    s.execute("DROP TABLE ps_schema.tmp")
    try:
        s.execute("SELECT * FROM ps_schema.tmp")
        raise TestFailure("dropped table still readable")
    except InvalidRequest:
        pass
    s.execute("DROP TABLE ps_schema.users")
    s.execute("DROP TYPE ps_schema.address")
    s.execute("DROP KEYSPACE ps_schema")
    eq(rows(s, "SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name='ps_schema'"),
       [], "keyspace after DROP")


def t_types_queries(ctx):
    """CQL types and collections; aggregates, IN, GROUP BY, filtering, token scans, JSON."""
    s = ctx.session
    create_ks(s, "ps_types")
    s.execute("CREATE TABLE ps_types.t (k int, c int, txt text, big bigint, dec decimal, vi varint, "
              "d double, b blob, ts timestamp, u timeuuid, ip inet, l list<int>, m map<text,int>, "
              "tu tuple<int,text>, bo boolean, du duration, PRIMARY KEY (k, c))")
    ins = s.prepare("INSERT INTO ps_types.t (k, c, txt, big, dec, vi, d, b, ts, u, ip, l, m, tu, bo) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, toTimestamp(now()), now(), ?, ?, ?, ?, ?)")
    for k in range(20):
        for c in range(10):
            s.execute(ins, (k, c, "t%d-%d" % (k, c), 2**40 + k, Decimal("1.25") * c, 10**20 + c,
                            c / 3.0, bytes([k, c]), "10.0.0.%d" % c, [c, c + 1], {"x": c}, (k, "z"),
                            c % 2 == 0))
    s.execute("UPDATE ps_types.t SET l = l + [99], m['y'] = 5, du = 1h30m WHERE k = 0 AND c = 0")
    r = rows(s, "SELECT * FROM ps_types.t WHERE k = 0 AND c = 0")[0]
    eq((r.l, r.m, r.tu, r.big), ([0, 1, 99], {"x": 0, "y": 5}, (0, "z"), 2**40), "collections")
    eq(rows(s, "SELECT count(*) FROM ps_types.t")[0].count, 200, "count(*)")
    agg = rows(s, "SELECT min(c), max(c), sum(big), avg(d) FROM ps_types.t WHERE k = 3")[0]
    eq((agg[0], agg[1], agg[2]), (0, 9, 10 * (2**40 + 3)), "aggregates")
    eq(len(rows(s, "SELECT DISTINCT k FROM ps_types.t")), 20, "DISTINCT")
    eq(len(rows(s, "SELECT k, c FROM ps_types.t WHERE k IN (1, 2, 3) AND c >= 5")), 15, "IN + range")
    eq(len(rows(s, "SELECT k, c FROM ps_types.t PER PARTITION LIMIT 2")), 40, "PER PARTITION LIMIT")
    eq(len(rows(s, "SELECT k, count(*) FROM ps_types.t GROUP BY k")), 20, "GROUP BY")
    eq(len(rows(s, "SELECT k FROM ps_types.t WHERE bo = true ALLOW FILTERING")), 100, "ALLOW FILTERING")
    tok = rows(s, "SELECT token(k) FROM ps_types.t WHERE k = 5 LIMIT 1")[0][0]
    eq(len(rows(s, "SELECT k FROM ps_types.t WHERE token(k) > %s" % tok)),
       10 * len([1 for r in rows(s, "SELECT DISTINCT token(k) FROM ps_types.t") if r[0] > tok]),
       "token range scan")
    s.execute("INSERT INTO ps_types.t JSON '{\"k\": 100, \"c\": 1, \"txt\": \"json\", \"l\": [7]}'")
    j = rows(s, "SELECT JSON k, c, txt, l FROM ps_types.t WHERE k = 100")[0][0]
    check('"txt": "json"' in j and '"l": [7]' in j, "SELECT JSON: %s" % j)
    w = rows(s, "SELECT writetime(txt), ttl(txt) FROM ps_types.t WHERE k = 1 AND c = 1")[0]
    check(w[0] > 0 and w[1] is None, "writetime/ttl: %r" % (w,))


def t_consistency_levels(ctx):
    """writes and reads at every consistency level; Unavailable for TWO/THREE."""
    s = ctx.session
    create_ks(s, "ps_cl")
    s.execute("CREATE TABLE ps_cl.t (k int PRIMARY KEY, v text)")
    write_cls = [CL.ANY, CL.ONE, CL.QUORUM, CL.ALL, CL.LOCAL_ONE, CL.LOCAL_QUORUM, CL.EACH_QUORUM]
    read_cls = [CL.ONE, CL.QUORUM, CL.ALL, CL.LOCAL_ONE, CL.LOCAL_QUORUM, CL.SERIAL, CL.LOCAL_SERIAL]
    for i, cl in enumerate(write_cls):
        q(s, "INSERT INTO ps_cl.t (k, v) VALUES (%s, %s)", [i, "v%d" % i], cl=cl)
    for cl in read_cls:
        for i in range(len(write_cls)):
            eq(rows(s, "SELECT v FROM ps_cl.t WHERE k = %s", [i], cl=cl)[0].v, "v%d" % i,
               "read at %s" % ConsistencyLevel.value_to_name[cl])
    eq(len(rows(s, "SELECT * FROM ps_cl.t", cl=CL.ALL)), len(write_cls), "range read at ALL")
    # RF 1: TWO and THREE cannot be met
    for cl in (CL.TWO, CL.THREE):
        expect_unavailable(lambda: q(s, "INSERT INTO ps_cl.t (k, v) VALUES (1, 'x')", cl=cl),
                           "write at %s with RF 1" % ConsistencyLevel.value_to_name[cl])
        expect_unavailable(lambda: q(s, "SELECT * FROM ps_cl.t WHERE k = 1", cl=cl),
                           "read at %s with RF 1" % ConsistencyLevel.value_to_name[cl])


def t_prepared(ctx):
    """prepared statements: concurrent inserts, range selects, re-prepare after ALTER."""
    s = ctx.session
    create_ks(s, "ps_prep")
    s.execute("CREATE TABLE ps_prep.t (k int, c int, v text, PRIMARY KEY (k, c))")
    ins = s.prepare("INSERT INTO ps_prep.t (k, c, v) VALUES (?, ?, ?)")
    ins.consistency_level = CL.QUORUM
    res = execute_concurrent_with_args(s, ins, [(k, c, "v%d.%d" % (k, c)) for k in range(50)
                                                for c in range(20)], concurrency=32)
    check(all(ok for ok, _ in res), "concurrent prepared inserts failed")
    sel = s.prepare("SELECT c, v FROM ps_prep.t WHERE k = ? AND c >= ? AND c < ?")
    for k in range(50):
        got = [r.c for r in s.execute(sel, (k, 5, 15))]
        eq(got, list(range(5, 15)), "prepared range select k=%d" % k)
    selstar = s.prepare("SELECT * FROM ps_prep.t WHERE k = ? AND c = ?")
    eq(len(s.execute(selstar, (1, 1)).one()), 3, "columns before ALTER")
    # schema change under a prepared SELECT *: protocol v5 result-metadata ids refresh the columns
    s.execute("ALTER TABLE ps_prep.t ADD extra int")
    s.execute("UPDATE ps_prep.t SET extra = 7 WHERE k = 1 AND c = 1")
    r = s.execute(selstar, (1, 1)).one()
    eq(getattr(r, "extra", None), 7, "prepared SELECT * after ALTER ADD")
    upd = s.prepare("UPDATE ps_prep.t SET v = :v WHERE k = :k AND c = :c")
    s.execute(upd, {"v": "named", "k": 2, "c": 3})
    eq(s.execute(sel, (2, 3, 4)).one().v, "named", "named bind markers")
    n = rows(s, "SELECT count(*) FROM system.prepared_statements")[0].count
    check(n >= 4, "system.prepared_statements has %d rows" % n)


def t_batches(ctx):
    """logged, unlogged, counter and CQL-text batches."""
    s = ctx.session
    create_ks(s, "ps_batch")
    s.execute("CREATE TABLE ps_batch.a (k int, c int, v text, PRIMARY KEY (k, c))")
    s.execute("CREATE TABLE ps_batch.b (k int PRIMARY KEY, v text)")
    s.execute("CREATE TABLE ps_batch.cnt (k int PRIMARY KEY, n counter)")
    ins_a = s.prepare("INSERT INTO ps_batch.a (k, c, v) VALUES (?, ?, ?)")
    ins_b = s.prepare("INSERT INTO ps_batch.b (k, v) VALUES (?, ?)")
    for i in range(10):   # logged, multi-partition, two tables: goes through the batchlog
        b = BatchStatement(batch_type=BatchType.LOGGED, consistency_level=CL.QUORUM)
        for j in range(10):
            b.add(ins_a, (i * 10 + j, 0, "logged"))
        b.add(ins_b, (i, "logged"))
        s.execute(b)
    for i in range(10):   # unlogged, single partition
        b = BatchStatement(batch_type=BatchType.UNLOGGED)
        for c in range(1, 21):
            b.add(ins_a, (1000 + i, c, "unlogged"))
        s.execute(b)
    b = BatchStatement(batch_type=BatchType.COUNTER)
    for k in range(5):
        b.add(SimpleStatement("UPDATE ps_batch.cnt SET n = n + %s WHERE k = %s"), (k + 1, k))
    s.execute(b)
    s.execute("BEGIN BATCH USING TIMESTAMP 1000 INSERT INTO ps_batch.b (k, v) VALUES (500, 'cql') "
              "UPDATE ps_batch.b SET v = 'cql2' WHERE k = 501 APPLY BATCH")
    eq(rows(s, "SELECT count(*) FROM ps_batch.a")[0].count, 100 + 200, "rows from batches")
    eq(sorted((r.k, r.n) for r in rows(s, "SELECT * FROM ps_batch.cnt")),
       [(k, k + 1) for k in range(5)], "counter batch")
    eq(rows(s, "SELECT writetime(v) FROM ps_batch.b WHERE k = 500")[0][0], 1000, "USING TIMESTAMP")
    # a logged batch leaves nothing behind in the batchlog once applied
    eq(rows(s, "SELECT count(*) FROM system.batches")[0].count, 0, "system.batches after logged batches")


def t_lwt(ctx):
    """lightweight transactions: IF NOT EXISTS, conditional UPDATE/DELETE, SERIAL reads."""
    s = ctx.session
    create_ks(s, "ps_lwt")
    s.execute("CREATE TABLE ps_lwt.acct (id int PRIMARY KEY, owner text, balance int, version int)")
    r = q(s, "INSERT INTO ps_lwt.acct (id, owner, balance, version) VALUES (1, 'ann', 100, 1) "
             "IF NOT EXISTS", serial=CL.SERIAL, cl=CL.QUORUM).one()
    check(r.applied, "first INSERT IF NOT EXISTS not applied")
    r = q(s, "INSERT INTO ps_lwt.acct (id, owner, balance, version) VALUES (1, 'bob', 0, 1) "
             "IF NOT EXISTS", serial=CL.SERIAL).one()
    check(not r.applied and r.owner == "ann", "second INSERT IF NOT EXISTS applied: %r" % (r,))
    for v in range(1, 11):   # optimistic-concurrency loop: UPDATE ... IF version = v
        r = q(s, "UPDATE ps_lwt.acct SET balance = %s, version = %s WHERE id = 1 IF version = %s",
              [100 + v, v + 1, v], serial=CL.LOCAL_SERIAL).one()
        check(r.applied, "conditional UPDATE version=%d not applied: %r" % (v, r))
    r = q(s, "UPDATE ps_lwt.acct SET balance = 0 WHERE id = 1 IF version = 1").one()
    check(not r.applied and r.version == 11, "stale conditional UPDATE applied: %r" % (r,))
    r = q(s, "UPDATE ps_lwt.acct SET owner = 'carl' WHERE id = 1 IF owner IN ('ann', 'x') "
             "AND balance > 50").one()
    check(r.applied, "multi-condition UPDATE not applied")
    r = q(s, "UPDATE ps_lwt.acct SET owner = 'z' WHERE id = 2 IF EXISTS").one()
    check(not r.applied, "UPDATE IF EXISTS on a missing row applied")
    eq(tuple(rows(s, "SELECT owner, balance, version FROM ps_lwt.acct WHERE id = 1", cl=CL.SERIAL)[0]),
       ("carl", 110, 11), "row read at SERIAL")
    r = q(s, "DELETE FROM ps_lwt.acct WHERE id = 1 IF EXISTS").one()
    check(r.applied, "DELETE IF EXISTS not applied")
    eq(rows(s, "SELECT * FROM ps_lwt.acct WHERE id = 1", cl=CL.SERIAL), [], "row after DELETE IF EXISTS")
    # conditional batch on one partition
    s.execute("CREATE TABLE ps_lwt.kv (k int, c int, v int, PRIMARY KEY (k, c))")
    r = s.execute("BEGIN BATCH INSERT INTO ps_lwt.kv (k, c, v) VALUES (1, 1, 1) IF NOT EXISTS "
                  "INSERT INTO ps_lwt.kv (k, c, v) VALUES (1, 2, 2) IF NOT EXISTS APPLY BATCH").one()
    check(r.applied, "conditional batch not applied")


def t_ttl(ctx):
    """TTL on rows/cells, default_time_to_live, expiry, purge by compaction."""
    s = ctx.session
    create_ks(s, "ps_ttl")
    s.execute("CREATE TABLE ps_ttl.t (k int, c int, v text, w text, PRIMARY KEY (k, c)) "
              "WITH gc_grace_seconds = 0")
    s.execute("CREATE TABLE ps_ttl.d (k int PRIMARY KEY, v text) WITH default_time_to_live = 2")
    for c in range(10):
        s.execute("INSERT INTO ps_ttl.t (k, c, v, w) VALUES (1, %s, 'short', 'keep') USING TTL 2", [c])
        s.execute("INSERT INTO ps_ttl.t (k, c, v, w) VALUES (2, %s, 'long', 'keep')", [c])
    s.execute("UPDATE ps_ttl.t USING TTL 2 SET v = 'cell' WHERE k = 2 AND c = 0")
    s.execute("INSERT INTO ps_ttl.d (k, v) VALUES (1, 'default ttl')")
    ttl = rows(s, "SELECT ttl(v) FROM ps_ttl.t WHERE k = 1 AND c = 0")[0][0]
    check(ttl is not None and 0 < ttl <= 2, "ttl(v) = %r" % ttl)
    eq(len(rows(s, "SELECT * FROM ps_ttl.t WHERE k = 1")), 10, "rows before expiry")
    ctx.node1.nodetool("flush", "ps_ttl")     # half of the expiring data in an sstable
    s.execute("INSERT INTO ps_ttl.t (k, c, v) VALUES (3, 0, 'x') USING TTL 2")
    # expiry has one-second granularity: after 3.5 s everything with TTL 2 is gone
    time.sleep(3.5)
    wait_until(lambda: rows(s, "SELECT * FROM ps_ttl.t WHERE k = 1") == [], 10, "TTL rows to expire")
    eq(rows(s, "SELECT * FROM ps_ttl.t WHERE k = 3"), [], "memtable row after TTL")
    r = rows(s, "SELECT v, w FROM ps_ttl.t WHERE k = 2 AND c = 0")[0]
    eq((r.v, r.w), (None, "keep"), "cell TTL")
    eq(rows(s, "SELECT * FROM ps_ttl.d"), [], "default_time_to_live")
    eq(len(rows(s, "SELECT * FROM ps_ttl.t WHERE k = 2")), 10, "rows without TTL")
    # purge the expired data (gc_grace_seconds = 0)
    ctx.node1.nodetool("flush", "ps_ttl")
    ctx.node1.nodetool("compact", "ps_ttl", "t")
    eq(len(rows(s, "SELECT * FROM ps_ttl.t")), 10, "rows after compaction")


def t_secondary_index(ctx):
    """legacy secondary indexes: build on existing data, queries, maintenance, drop."""
    s = ctx.session
    create_ks(s, "ps_2i")
    s.execute("CREATE TABLE ps_2i.users (id int PRIMARY KEY, name text, city text, age int, "
              "prefs map<text, text>)")
    ins = s.prepare("INSERT INTO ps_2i.users (id, name, city, age, prefs) VALUES (?, ?, ?, ?, ?)")
    cities = ["paris", "rome", "oslo", "lima"]
    for i in range(400):
        s.execute(ins, (i, "n%d" % i, cities[i % 4], 20 + i % 50, {"lang": ["en", "fr"][i % 2]}))
    ctx.node1.nodetool("flush", "ps_2i")
    # built on existing data (index build task), then kept up to date by writes
    s.execute("CREATE INDEX users_city ON ps_2i.users (city)")
    s.execute("CREATE INDEX users_prefs ON ps_2i.users (entries(prefs))")
    wait_until(lambda: rows(s, "SELECT * FROM system.\"IndexInfo\" WHERE table_name = 'ps_2i'"),
               60, "legacy indexes to be built", interval=0.3)
    wait_until(lambda: len(rows(s, "SELECT * FROM system.\"IndexInfo\" WHERE table_name = 'ps_2i'")) == 2,
               60, "both legacy indexes to be built", interval=0.3)
    eq(len(rows(s, "SELECT id FROM ps_2i.users WHERE city = 'rome'")), 100, "2i query")
    eq(len(rows(s, "SELECT id FROM ps_2i.users WHERE prefs['lang'] = 'fr'")), 200, "2i map entries")
    eq(len(rows(s, "SELECT id FROM ps_2i.users WHERE city = 'oslo' AND age > 60 ALLOW FILTERING")),
       len([i for i in range(400) if i % 4 == 2 and 20 + i % 50 > 60]), "2i + filtering")
    s.execute("UPDATE ps_2i.users SET city = 'rome' WHERE id = 0")
    s.execute("DELETE FROM ps_2i.users WHERE id = 1")
    eq(len(rows(s, "SELECT id FROM ps_2i.users WHERE city = 'rome'")), 100, "2i after update+delete")
    ctx.node1.nodetool("flush", "ps_2i")
    eq(len(rows(s, "SELECT id FROM ps_2i.users WHERE city = 'paris'")), 99, "2i after flush")
    s.execute("DROP INDEX ps_2i.users_city")
    try:
        s.execute("SELECT id FROM ps_2i.users WHERE city = 'rome'")
        raise TestFailure("query on dropped index succeeded without ALLOW FILTERING")
    except InvalidRequest:
        pass


def t_sai(ctx):
    """storage-attached indexes (SAI): range/text/collection queries, compaction, vector ANN."""
    s = ctx.session
    create_ks(s, "ps_sai")
    s.execute("CREATE TABLE ps_sai.items (shop int, id int, name text, price int, cat text, "
              "tags set<text>, PRIMARY KEY (shop, id))")
    ins = s.prepare("INSERT INTO ps_sai.items (shop, id, name, price, cat, tags) VALUES (?, ?, ?, ?, ?, ?)")
    cats = ["Food", "Toys", "Books"]
    data = [(shop, i, "Item %d" % i, (i * 37) % 1000, cats[i % 3], {"t%d" % (i % 5)})
            for shop in range(10) for i in range(100)]
    res = execute_concurrent_with_args(s, ins, data[:500], concurrency=32)
    check(all(ok for ok, _ in res), "inserts failed")
    ctx.node1.nodetool("flush", "ps_sai")
    # SAI on existing data (on-disk index build), then on new memtable data
    s.execute("CREATE INDEX items_price ON ps_sai.items (price) USING 'sai'")
    s.execute("CREATE INDEX items_cat ON ps_sai.items (cat) USING 'sai' "
              "WITH OPTIONS = {'case_sensitive': false, 'normalize': true}")
    s.execute("CREATE INDEX items_tags ON ps_sai.items (tags) USING 'sai'")
    wait_until(lambda: len(rows(s, "SELECT index_name FROM system_views.sai_column_indexes "
                                   "WHERE keyspace_name = 'ps_sai' AND is_queryable = true "
                                   "ALLOW FILTERING")) == 3, 90, "SAI indexes to be queryable")
    res = execute_concurrent_with_args(s, ins, data[500:], concurrency=32)
    check(all(ok for ok, _ in res), "inserts failed")

    def expect(where, pred, what):
        got = sorted((r.shop, r.id) for r in rows(s, "SELECT shop, id FROM ps_sai.items WHERE " + where))
        want = sorted((d[0], d[1]) for d in data if pred(d))
        eq(got, want, what)
    expect("price > 100 AND price <= 300", lambda d: 100 < d[3] <= 300, "SAI numeric range")
    expect("cat = 'toys'", lambda d: d[4] == "Toys", "SAI case-insensitive equality")
    expect("tags CONTAINS 't3' AND price < 500", lambda d: "t3" in d[5] and d[3] < 500, "SAI CONTAINS + AND")
    expect("shop = 4 AND price >= 900", lambda d: d[0] == 4 and d[3] >= 900, "SAI within a partition")
    ctx.node1.nodetool("flush", "ps_sai")
    ctx.node1.nodetool("compact", "ps_sai")
    expect("price > 100 AND price <= 300", lambda d: 100 < d[3] <= 300, "SAI range after compaction")
    s.execute("DELETE FROM ps_sai.items WHERE shop = 0")
    expect("cat = 'BOOKS'", lambda d: d[4] == "Books" and d[0] != 0, "SAI after partition delete")
    # vector search (Cassandra 5: vector type + SAI ANN)
    s.execute("CREATE TABLE ps_sai.vec (id int PRIMARY KEY, emb vector<float, 3>)")
    s.execute("CREATE INDEX vec_ann ON ps_sai.vec (emb) USING 'sai' "
              "WITH OPTIONS = {'similarity_function': 'euclidean'}")
    vins = s.prepare("INSERT INTO ps_sai.vec (id, emb) VALUES (?, ?)")
    for i in range(200):
        s.execute(vins, (i, [float(i), float(i % 7), 1.0]))
    ctx.node1.nodetool("flush", "ps_sai", "vec")
    got = [r.id for r in rows(s, "SELECT id FROM ps_sai.vec ORDER BY emb ANN OF [50.2, 1, 1] LIMIT 3")]
    eq(got[0], 50, "nearest vector")
    check(set(got) <= {49, 50, 51}, "ANN top 3: %r" % got)
    s.execute("DROP INDEX ps_sai.items_tags")


def t_counters(ctx):
    """counter updates, read-before-write from sstables, counter deletes."""
    s = ctx.session
    create_ks(s, "ps_cnt")
    s.execute("CREATE TABLE ps_cnt.pages (page text, day int, views counter, clicks counter, "
              "PRIMARY KEY (page, day))")
    inc = s.prepare("UPDATE ps_cnt.pages SET views = views + ?, clicks = clicks + 1 "
                    "WHERE page = ? AND day = ?")
    args = [(1, "p%d" % (i % 10), i % 3) for i in range(600)]
    res = execute_concurrent_with_args(s, inc, args, concurrency=16)
    check(all(ok for ok, _ in res), "counter updates failed")
    s.execute("UPDATE ps_cnt.pages SET views = views - 5 WHERE page = 'p0' AND day = 0")
    ctx.node1.nodetool("flush", "ps_cnt")
    s.execute(inc, (10, "p0", 0))        # counter cache + sstable read-before-write
    tot = {(r.page, r.day): (r.views, r.clicks) for r in rows(s, "SELECT * FROM ps_cnt.pages")}
    eq(len(tot), 30, "counter rows")
    eq(tot[("p0", 0)], (20 - 5 + 10, 21), "p0/0 counters")
    eq(sum(v for v, _ in tot.values()), 600 - 5 + 10, "sum of views")
    try:
        s.execute("INSERT INTO ps_cnt.pages (page, day, views) VALUES ('x', 1, 1)")
        raise TestFailure("INSERT into a counter table accepted")
    except InvalidRequest:
        pass
    s.execute("DELETE FROM ps_cnt.pages WHERE page = 'p9'")
    eq(len(rows(s, "SELECT * FROM ps_cnt.pages WHERE page = 'p9'")), 0, "deleted counter partition")


def t_paging(ctx):
    """paging over a 5,000-row partition and across partitions, memtable and sstable."""
    s = ctx.session
    create_ks(s, "ps_page")
    s.execute("CREATE TABLE ps_page.wide (k int, c int, v text, PRIMARY KEY (k, c))")
    ins = s.prepare("INSERT INTO ps_page.wide (k, c, v) VALUES (?, ?, ?)")
    pad = "x" * 200
    res = execute_concurrent_with_args(s, ins, [(1, c, "%05d%s" % (c, pad)) for c in range(5000)],
                                       concurrency=48)
    check(all(ok for ok, _ in res), "inserts failed")
    res = execute_concurrent_with_args(s, ins, [(k, c, "r") for k in range(2, 202) for c in range(5)],
                                       concurrency=48)
    check(all(ok for ok, _ in res), "inserts failed")

    def page_through(query, fetch_size, params=None):
        rs = q(s, query, params, fetch_size=fetch_size)
        pages, out = 1, []
        while True:
            out.extend(rs.current_rows)
            if not rs.has_more_pages:
                return out, pages
            rs.fetch_next_page()
            pages += 1
    for phase in ("memtable", "sstable"):
        got, pages = page_through("SELECT c FROM ps_page.wide WHERE k = 1", 100)
        eq([r.c for r in got], list(range(5000)), "wide partition, %s" % phase)
        check(pages in (50, 51), "pages (%s): %d" % (phase, pages))   # 51: a last, empty page
        got, _ = page_through("SELECT c FROM ps_page.wide WHERE k = 1 ORDER BY c DESC", 333)
        eq([r.c for r in got], list(range(4999, -1, -1)), "reversed paging, %s" % phase)
        got, _ = page_through("SELECT c FROM ps_page.wide WHERE k = 1 AND c >= 1000 AND c < 3000", 128)
        eq(len(got), 2000, "slice paging, %s" % phase)
        got, _ = page_through("SELECT k, c FROM ps_page.wide WHERE token(k) > token(1)", 64)
        got2, _ = page_through("SELECT k, c FROM ps_page.wide WHERE token(k) <= token(1)", 64)
        eq(len(got) + len(got2), 5000 + 1000, "range paging over partitions, %s" % phase)
        if phase == "memtable":
            ctx.node1.nodetool("flush", "ps_page")
    # mixed: newer values in the memtable shadow older ones in the sstable
    upd = s.prepare("UPDATE ps_page.wide SET v = 'new' WHERE k = 1 AND c = ?")
    res = execute_concurrent_with_args(s, upd, [(c,) for c in range(0, 5000, 10)], concurrency=48)
    check(all(ok for ok, _ in res), "updates failed")
    got, _ = page_through("SELECT c, v FROM ps_page.wide WHERE k = 1", 250)
    eq(sum(1 for r in got if r.v == "new"), 500, "memtable/sstable merge")


def t_deletes(ctx):
    """partition/row/cell/collection deletes and range tombstones, flushed and compacted."""
    s = ctx.session
    create_ks(s, "ps_del")
    s.execute("CREATE TABLE ps_del.t (k int, c int, v text, s set<int>, PRIMARY KEY (k, c)) "
              "WITH gc_grace_seconds = 0")
    ins = s.prepare("INSERT INTO ps_del.t (k, c, v, s) VALUES (?, ?, ?, ?)")
    res = execute_concurrent_with_args(s, ins, [(k, c, "v", {1, 2, 3}) for k in range(5)
                                                for c in range(100)], concurrency=32)
    check(all(ok for ok, _ in res), "inserts failed")
    ctx.node1.nodetool("flush", "ps_del")
    s.execute("DELETE FROM ps_del.t WHERE k = 0")                              # partition
    s.execute("DELETE FROM ps_del.t WHERE k = 1 AND c = 5")                    # row
    s.execute("DELETE v FROM ps_del.t WHERE k = 1 AND c = 6")                  # cell
    s.execute("UPDATE ps_del.t SET s = s - {2} WHERE k = 1 AND c = 7")         # collection element
    s.execute("DELETE FROM ps_del.t WHERE k = 2 AND c >= 10 AND c < 60")       # range tombstone
    s.execute("DELETE FROM ps_del.t WHERE k = 3 AND c > 90")                   # open-ended range
    s.execute("DELETE s FROM ps_del.t WHERE k = 4 AND c = 0")                  # whole collection

    def verify(when):
        eq(rows(s, "SELECT * FROM ps_del.t WHERE k = 0"), [], "partition delete (%s)" % when)
        eq(rows(s, "SELECT * FROM ps_del.t WHERE k = 1 AND c = 5"), [], "row delete (%s)" % when)
        eq(rows(s, "SELECT v FROM ps_del.t WHERE k = 1 AND c = 6")[0].v, None, "cell delete (%s)" % when)
        eq(rows(s, "SELECT s FROM ps_del.t WHERE k = 1 AND c = 7")[0].s, {1, 3}, "element (%s)" % when)
        eq(len(rows(s, "SELECT c FROM ps_del.t WHERE k = 2")), 50, "range tombstone (%s)" % when)
        eq([r.c for r in rows(s, "SELECT c FROM ps_del.t WHERE k = 2 AND c >= 5 AND c < 65")],
           list(range(5, 10)) + list(range(60, 65)), "slice across range tombstone (%s)" % when)
        eq(len(rows(s, "SELECT c FROM ps_del.t WHERE k = 3")), 91, "open range (%s)" % when)
        eq(rows(s, "SELECT s FROM ps_del.t WHERE k = 4 AND c = 0")[0].s, None, "collection (%s)" % when)
        eq(rows(s, "SELECT count(*) FROM ps_del.t")[0].count, 400 - 1 - 50 - 9, "total rows (%s)" % when)
    verify("memtable tombstones")
    ctx.node1.nodetool("flush", "ps_del")
    verify("sstable tombstones")
    time.sleep(1.1)   # gc_grace_seconds = 0: tombstones older than 1 s are purgeable
    ctx.node1.nodetool("compact", "ps_del", "t")
    verify("after compaction")
    # re-insert into a deleted range: newer timestamp wins over the (purged) tombstone
    s.execute("INSERT INTO ps_del.t (k, c, v) VALUES (2, 20, 'back')")
    eq(rows(s, "SELECT v FROM ps_del.t WHERE k = 2 AND c = 20")[0].v, "back", "insert after delete")


def t_nodetool(ctx):
    """nodetool flush, getsstables, tablestats, compact, cleanup, repair, status, info."""
    n, s = ctx.node1, ctx.session
    create_ks(s, "ps_tool")
    s.execute("CREATE TABLE ps_tool.t (k int PRIMARY KEY, v text) WITH compaction = "
              "{'class': 'SizeTieredCompactionStrategy', 'min_threshold': 8}")
    ins = s.prepare("INSERT INTO ps_tool.t (k, v) VALUES (?, ?)")
    for gen in range(4):       # four sstables
        res = execute_concurrent_with_args(s, ins, [(k, "g%d" % gen) for k in range(gen * 100, gen * 100 + 200)],
                                           concurrency=32)
        check(all(ok for ok, _ in res), "inserts failed")
        n.nodetool("flush", "ps_tool", "t")
    eq(len(n.nodetool("getsstables", "ps_tool", "t", "150").split()), 2, "sstables holding key 150")
    out = n.nodetool("tablestats", "ps_tool.t")
    m = re.search(r"SSTable count: (\d+)", out)
    check(m and int(m.group(1)) == 4, "tablestats SSTable count before compact: %s" % (m and m.group(1)))
    n.nodetool("compact", "ps_tool", "t")
    out = n.nodetool("tablestats", "ps_tool.t")
    eq(re.search(r"SSTable count: (\d+)", out).group(1), "1", "SSTable count after compact")
    eq(re.search(r"Local write count: (\d+)", out).group(1), "800", "tablestats Local write count")
    n.nodetool("cleanup", "ps_tool")
    out = n.nodetool("repair", "ps_tool")          # RF 1: nothing to repair, but the command runs
    out = n.nodetool("status")
    check(re.search(r"^UN\s+127\.0\.0\.1\s", out, re.M), "status: %s" % out)
    out = n.nodetool("info")
    check("Native Transport active: true" in out and "Gossip active" in out, "info: %s" % out)
    eq(rows(s, "SELECT count(*) FROM ps_tool.t")[0].count, 500, "rows after the tools")


def t_nodetool_more(ctx):
    """the other nodetool commands an operator uses (full suite)."""
    n, s = ctx.node1, ctx.session
    create_ks(s, "ps_tool2")
    s.execute("CREATE TABLE ps_tool2.t (k int PRIMARY KEY, v text)")
    ins = s.prepare("INSERT INTO ps_tool2.t (k, v) VALUES (?, ?)")
    for gen in range(2):
        res = execute_concurrent_with_args(s, ins, [(k, "g%d" % gen) for k in range(300)], concurrency=32)
        check(all(ok for ok, _ in res), "inserts failed")
        n.nodetool("flush", "ps_tool2", "t")
    n.nodetool("repair", "--full", "ps_tool2", "t")
    out = n.nodetool("describecluster")
    check("Murmur3Partitioner" in out, "describecluster: %s" % out)
    out = n.nodetool("ring")
    eq(len(re.findall(r"^127\.0\.0\.1\s", out, re.M)), 4, "ring entries (num_tokens 4)")
    n.nodetool("tablehistograms", "ps_tool2", "t")
    n.nodetool("compactionstats")
    n.nodetool("tpstats")
    out = n.nodetool("getendpoints", "ps_tool2", "t", "42")
    eq(out.split(), ["127.0.0.1"], "getendpoints")
    n.nodetool("snapshot", "-t", "pssnap", "ps_tool2")
    check("pssnap" in n.nodetool("listsnapshots"), "snapshot not listed")
    n.nodetool("clearsnapshot", "-t", "pssnap", "--", "ps_tool2")
    n.nodetool("setcompactionthroughput", "32")
    check(" 32" in n.nodetool("getcompactionthroughput"), "compaction throughput not 32")
    n.nodetool("garbagecollect", "ps_tool2", "t")
    n.nodetool("verify", "--force", "ps_tool2", "t")
    n.nodetool("upgradesstables", "-a", "ps_tool2", "t")
    n.nodetool("gossipinfo")
    n.nodetool("tablestats", "ps_tool2")
    eq(rows(s, "SELECT count(*) FROM ps_tool2.t")[0].count, 300, "rows after all the tools")


def _write_rows(s, ks, n_rows, tag):
    s.execute("CREATE TABLE IF NOT EXISTS %s.r (k int, c int, v text, PRIMARY KEY (k, c))" % ks)
    ins = s.prepare("INSERT INTO %s.r (k, c, v) VALUES (?, ?, ?)" % ks)
    res = execute_concurrent_with_args(s, ins, [(i % 50, i, tag) for i in range(n_rows)], concurrency=32)
    check(all(ok for ok, _ in res), "inserts failed")


def t_restart_replay(ctx):
    """kill -9 with unflushed writes; the restart replays the commit log."""
    s, n = ctx.session, ctx.node1
    create_ks(s, "ps_replay")
    _write_rows(s, "ps_replay", 1000, "flushed")
    n.nodetool("flush", "ps_replay")
    _write_rows(s, "ps_replay", 2000, "unflushed")   # rows 0..1999, overwriting 0..999
    s.execute("CREATE TABLE ps_replay.late (k int PRIMARY KEY)")   # schema change after the flush
    s.execute("INSERT INTO ps_replay.late (k) VALUES (1)")
    # commitlog_sync: periodic (10 s): only the part of a segment covered by a sync marker is
    # replayed, so wait for the next periodic sync before killing the node
    time.sleep(11)
    ctx.close_session()
    n.kill9()
    n.start()
    log_text = n.system_log()
    m = re.findall(r"Log replay complete, (\d+) replayed mutations", log_text)
    check(m, "no 'Log replay complete' in system.log")
    check(int(m[-1]) >= 2000, "replayed only %s mutations" % m[-1])
    s = ctx.open_session()
    eq(rows(s, "SELECT count(*) FROM ps_replay.r")[0].count, 2000, "rows after replay")
    check(all(r.v == "unflushed" for r in rows(s, "SELECT v FROM ps_replay.r")), "old values after replay")
    eq(len(rows(s, "SELECT * FROM ps_replay.late")), 1, "table created after the flush")


def t_restart_clean(ctx):
    """drain + SIGTERM, restart: everything flushed, nothing to replay, data still there."""
    s, n = ctx.session, ctx.node1
    create_ks(s, "ps_clean")
    _write_rows(s, "ps_clean", 3000, "before")
    ctx.close_session()
    n.stop(drain=True)
    n.start()
    log_text = n.system_log()
    m = re.findall(r"Log replay complete, (\d+) replayed mutations", log_text)
    check(m and m[-1] == "0", "replayed %s mutations after a drained shutdown" % (m[-1] if m else "?"))
    s = ctx.open_session()
    eq(rows(s, "SELECT count(*) FROM ps_clean.r")[0].count, 3000, "rows after clean restart")
    if ctx.has_replay:
        eq(rows(s, "SELECT count(*) FROM ps_replay.r")[0].count, 2000, "rows of restart_replay")


# --------------------------------------------------------------------------------------------
# 3-node cluster tests (ctx.nodes[0..2] on 127.0.0.1-3)

def status_of(node, addr=None):
    """The Status/State of addr (e.g. "UN") in node's nodetool status; without addr, a dict of all."""
    out = node.nodetool("status")
    states = dict((m.group(2), m.group(1)) for m in re.finditer(r"^([UD][NLJM])\s+(\S+)\s", out, re.M))
    return states if addr is None else states.get(addr)


def hints_files(node):
    return glob.glob(os.path.join(node.datadir, "hints", "*.hints"))


def t_cluster_start(ctx):
    """a fresh 3-node cluster on 127.0.0.1-3; all UN, one schema version."""
    ctx.start_cluster()
    n1, n2, n3 = ctx.nodes
    for n in ctx.nodes:
        wait_until(lambda: status_of(n) == dict((a, "UN") for a in ADDRS), 120,
                   "all nodes UN in nodetool status on %s" % n.name, interval=1)
    s = ctx.csession
    hosts = sorted(h.address for h in ctx.ccluster.metadata.all_hosts())
    eq(hosts, ADDRS, "hosts seen by the driver")
    def one_schema_version():
        out = n1.nodetool("describecluster")
        versions = re.findall(r"^\s*[0-9a-f-]{36}: \[([^\]]*)\]", out, re.M)
        return len(versions) == 1 and all(a in versions[0] for a in ADDRS)
    wait_until(one_schema_version, 60, "one schema version on all nodes (describecluster)", interval=1)
    rows(s, "SELECT * FROM system.peers_v2")


def t_cluster_quorum(ctx):
    """RF 3: QUORUM writes, reads at ONE/QUORUM/ALL, Paxos and counters across nodes."""
    s, n1 = ctx.csession, ctx.nodes[0]
    create_ks(s, "ps_c3", rf=3)
    s.execute("CREATE TABLE ps_c3.t (k int, c int, v text, PRIMARY KEY (k, c))")
    ins = s.prepare("INSERT INTO ps_c3.t (k, c, v) VALUES (?, ?, ?)")
    ins.consistency_level = CL.QUORUM
    res = execute_concurrent_with_args(s, ins, [(k, c, "q") for k in range(100) for c in range(10)],
                                       concurrency=32)
    check(all(ok for ok, _ in res), "QUORUM writes failed")
    eq(sorted(n1.nodetool("getendpoints", "ps_c3", "t", "7").split()), ADDRS, "replicas of k=7")
    for cl in (CL.ONE, CL.QUORUM, CL.ALL):
        eq(rows(s, "SELECT count(*) FROM ps_c3.t", cl=cl)[0].count, 1000,
           "count at %s" % ConsistencyLevel.value_to_name[cl])
    sel = s.prepare("SELECT c FROM ps_c3.t WHERE k = ?")
    sel.consistency_level = CL.ALL
    for k in range(0, 100, 7):
        eq(len(list(s.execute(sel, (k,)))), 10, "partition %d at ALL" % k)
    # paxos across the three replicas, and distributed counters
    s.execute("CREATE TABLE ps_c3.lock (name text PRIMARY KEY, owner text)")
    s.execute("CREATE TABLE ps_c3.cnt (k int PRIMARY KEY, n counter)")
    r = q(s, "INSERT INTO ps_c3.lock (name, owner) VALUES ('l', 'a') IF NOT EXISTS",
          cl=CL.QUORUM, serial=CL.SERIAL).one()
    check(r.applied, "LWT insert")
    r = q(s, "UPDATE ps_c3.lock SET owner = 'b' WHERE name = 'l' IF owner = 'a'",
          cl=CL.QUORUM, serial=CL.SERIAL).one()
    check(r.applied, "LWT update")
    inc = s.prepare("UPDATE ps_c3.cnt SET n = n + 1 WHERE k = ?")
    inc.consistency_level = CL.QUORUM
    res = execute_concurrent_with_args(s, inc, [(i % 10,) for i in range(300)], concurrency=16)
    check(all(ok for ok, _ in res), "counter updates")
    eq(sum(r.n for r in rows(s, "SELECT n FROM ps_c3.cnt", cl=CL.ALL)), 300, "distributed counters")


def t_cluster_hints(ctx):
    """node3 down: QUORUM writes succeed and leave hints; node3 back up: the hints reach it."""
    n1, n2, n3 = ctx.nodes
    s = ctx.csession
    s.execute("CREATE TABLE ps_c3.h (k int PRIMARY KEY, v text)")
    ins = s.prepare("INSERT INTO ps_c3.h (k, v) VALUES (?, ?)")
    ins.consistency_level = CL.QUORUM
    res = execute_concurrent_with_args(s, ins, [(k, "before") for k in range(200)], concurrency=32)
    check(all(ok for ok, _ in res), "writes before")
    def writes_on(node):
        out = node.nodetool("tablestats", "ps_c3.h")
        return int(re.search(r"Local write count: (\d+)", out).group(1))
    eq(writes_on(n3), 200, "node3 local writes before it goes down")
    ctx.reconnect([ADDRS[0], ADDRS[1]])
    s = ctx.csession
    n3.stop(drain=True)
    for n in (n1, n2):
        wait_until(lambda: status_of(n, ADDRS[2]) == "DN", 60, "node3 DN on %s" % n.name, interval=1)
    ins = s.prepare("INSERT INTO ps_c3.h (k, v) VALUES (?, ?)")
    ins.consistency_level = CL.QUORUM
    res = execute_concurrent_with_args(s, ins, [(k, "during") for k in range(200, 500)], concurrency=32)
    check(all(ok for ok, _ in res), "QUORUM writes with one node down")
    expect_unavailable(lambda: q(s, "INSERT INTO ps_c3.h (k, v) VALUES (0, 'all')", cl=CL.ALL),
                       "write at ALL with a node down")
    eq(rows(s, "SELECT count(*) FROM ps_c3.h", cl=CL.QUORUM)[0].count, 500, "QUORUM read, node down")
    # the coordinators keep hints for node3 in hints files (buffers flushed to disk every second,
    # hints_flush_period). nodetool listpendinghints only lists a file once its writer is closed,
    # i.e. at dispatch time, so look at the files themselves.
    wait_until(lambda: all(hints_files(n) for n in (n1, n2)), 30, "hints files on node1 and node2")
    n3.start()
    for n in (n1, n2):
        wait_until(lambda: status_of(n, ADDRS[2]) == "UN", 60, "node3 UN on %s" % n.name, interval=1)
    # dispatch: HintsDispatchTrigger runs every 10 s, sends the files to node3 and deletes them
    wait_until(lambda: not any(hints_files(n) for n in (n1, n2)), 180, "hints to be delivered to node3",
               interval=1)
    check(all("Finished hinted handoff" in n.system_log() for n in (n1, n2)),
          "no 'Finished hinted handoff' in the coordinators' system.log")
    n1.nodetool("listpendinghints")
    eq(writes_on(n3), 300, "node3 local writes from delivered hints (after restart)")
    ctx.reconnect(ADDRS)
    s = ctx.csession
    eq(rows(s, "SELECT count(*) FROM ps_c3.h", cl=CL.ALL)[0].count, 500, "ALL read after hints")


def t_cluster_repair(ctx):
    """node2 misses writes (hinted handoff off): full repair from node2 streams them back."""
    n1, n2, n3 = ctx.nodes
    s = ctx.csession
    s.execute("CREATE TABLE ps_c3.rep (k int PRIMARY KEY, v text)")
    ins = s.prepare("INSERT INTO ps_c3.rep (k, v) VALUES (?, ?)")
    ins.consistency_level = CL.ALL
    res = execute_concurrent_with_args(s, ins, [(k, "all") for k in range(300)], concurrency=32)
    check(all(ok for ok, _ in res), "writes at ALL")
    for n in ctx.nodes:
        n.nodetool("flush", "ps_c3", "rep")
    ctx.reconnect([ADDRS[0], ADDRS[2]])
    s = ctx.csession
    for n in (n1, n3):
        n.nodetool("disablehandoff")
    n2.stop(drain=True)
    for n in (n1, n3):
        wait_until(lambda: status_of(n, ADDRS[1]) == "DN", 60, "node2 DN on %s" % n.name, interval=1)
    ins = s.prepare("INSERT INTO ps_c3.rep (k, v) VALUES (?, ?)")
    ins.consistency_level = CL.QUORUM
    res = execute_concurrent_with_args(s, ins, [(k, "missed") for k in range(300, 600)], concurrency=32)
    check(all(ok for ok, _ in res), "QUORUM writes with node2 down")
    n2.start()
    for n in (n1, n3):
        wait_until(lambda: status_of(n, ADDRS[1]) == "UN", 60, "node2 UN on %s" % n.name, interval=1)
    for n in (n1, n3):
        n.nodetool("enablehandoff")
    out = n2.nodetool("repair", "--full", "ps_c3", "rep", timeout=600)
    check("Repair completed successfully" in out or "finished" in out, "repair output:\n%s" % out[-2000:])
    text = n2.system_log()
    check(re.search(r"out of sync", text), "no 'out of sync' ranges in node2's system.log")
    hist = rows(s, "SELECT status, keyspace_name, columnfamily_name FROM system_distributed.repair_history",
                cl=CL.ONE)
    check(any(r.columnfamily_name == "rep" and r.status == "SUCCESS" for r in hist),
          "no successful repair of ps_c3.rep in system_distributed.repair_history")
    # node2 now holds all 600 rows: with node1 and node3 down it alone could serve them; instead
    # check its sstables' partition count after a flush + major compaction
    n2.nodetool("flush", "ps_c3", "rep")
    n2.nodetool("compact", "ps_c3", "rep")
    out = n2.nodetool("tablestats", "ps_c3.rep")
    m = re.search(r"Number of partitions \(estimate\): (\d+)", out)
    check(m and int(m.group(1)) >= 580, "node2 partitions after repair: %s" % (m and m.group(1)))
    # incremental repair (the default) of the whole keyspace, from node1
    out = n1.nodetool("repair", "ps_c3", timeout=600)
    out = n1.nodetool("tablestats", "ps_c3.rep")
    m = re.search(r"Percent repaired: ([\d.]+)", out)
    check(m and float(m.group(1)) > 99.0, "percent repaired on node1: %s" % (m and m.group(1)))
    ctx.reconnect(ADDRS)
    eq(rows(ctx.csession, "SELECT count(*) FROM ps_c3.rep", cl=CL.ALL)[0].count, 600, "rows at ALL")


def t_cluster_cleanup(ctx):
    """RF 3 -> 1: each node keeps a third; nodetool cleanup drops the rest, reads stay complete."""
    s = ctx.csession
    s.execute("ALTER KEYSPACE ps_c3 WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}")
    for n in ctx.nodes:
        n.nodetool("flush", "ps_c3", "t")
    before = [n.nodetool("tablestats", "ps_c3.t") for n in ctx.nodes]
    for n in ctx.nodes:
        n.nodetool("cleanup", "ps_c3", "t")
    after = [n.nodetool("tablestats", "ps_c3.t") for n in ctx.nodes]
    def parts(out):
        return int(re.search(r"Number of partitions \(estimate\): (\d+)", out).group(1))
    check(all(parts(a) < parts(b) for a, b in zip(after, before)),
          "cleanup did not shrink: %r -> %r" % ([parts(b) for b in before], [parts(a) for a in after]))
    eq(rows(s, "SELECT count(*) FROM ps_c3.t", cl=CL.ONE)[0].count, 1000, "rows after cleanup (RF 1)")
    s.execute("DROP KEYSPACE ps_c3")


def t_cluster_stop(ctx):
    """drain + SIGTERM of the three nodes."""
    ctx.close_cluster_session()
    for n in reversed(ctx.nodes):
        n.stop(drain=True)
    for n in ctx.nodes:
        check(not n.running(), "%s still running" % n.name)


QUICK = [
    ("schema", t_schema),
    ("types_queries", t_types_queries),
    ("consistency_levels", t_consistency_levels),
    ("prepared", t_prepared),
    ("batches", t_batches),
    ("lwt", t_lwt),
    ("ttl", t_ttl),
    ("secondary_index", t_secondary_index),
    ("sai", t_sai),
    ("counters", t_counters),
    ("paging", t_paging),
    ("deletes", t_deletes),
    ("nodetool", t_nodetool),
    ("restart_replay", t_restart_replay),
]
FULL_EXTRA = [
    ("nodetool_more", t_nodetool_more),
    ("restart_clean", t_restart_clean),
    ("cluster_start", t_cluster_start),
    ("cluster_quorum", t_cluster_quorum),
    ("cluster_hints", t_cluster_hints),
    ("cluster_repair", t_cluster_repair),
    ("cluster_cleanup", t_cluster_cleanup),
    ("cluster_stop", t_cluster_stop),
]


# --------------------------------------------------------------------------------------------

class Context:
    def __init__(self, tree, work, class_log):
        self.tree, self.work, self.class_log = tree, work, class_log
        self.node1 = None
        self.nodes = []
        self.cluster = self.session = None
        self.ccluster = self.csession = None
        self.has_replay = False

    def jvm_opts(self, datadir):
        if not self.class_log:
            return ""
        return "-Xlog:class+load=info:file=%s/classload-%%p.log:uptime" % datadir

    def single_node(self):
        d = os.path.join(self.work, "single")
        self.node1 = Node("node1", ADDRS[0], d, self.tree, ADDRS[0], self.jvm_opts(d))
        return self.node1

    def open_session(self):
        self.cluster, self.session = connect([self.node1.addr])
        return self.session

    def close_session(self):
        if self.cluster is not None:
            self.cluster.shutdown()
        self.cluster = self.session = None

    def start_cluster(self):
        self.nodes = []
        for i, addr in enumerate(ADDRS):
            d = os.path.join(self.work, "cluster", "node%d" % (i + 1))
            n = Node("c-node%d" % (i + 1), addr, d, self.tree, ADDRS[0], self.jvm_opts(d))
            self.nodes.append(n)
            n.start()           # one after the other: the seed first, then each joins the ring
        self.reconnect(ADDRS)

    def reconnect(self, addrs):
        self.close_cluster_session()
        self.ccluster, self.csession = connect(addrs)

    def close_cluster_session(self):
        if self.ccluster is not None:
            self.ccluster.shutdown()
        self.ccluster = self.csession = None

    def prepare(self, name):
        """Before a test: the nodes it needs are up (a failed test may have left one down)."""
        if name.startswith("cluster_"):
            if self.node1 is not None and self.node1.running():
                self.close_session()
                self.node1.stop(drain=True)          # frees 127.0.0.1 for the cluster
            if name in ("cluster_start", "cluster_stop") or not self.nodes:
                return
            down = [nd for nd in self.nodes if not nd.running()]
            for nd in down:
                print("  .. restarting %s after a failed test" % nd.name, flush=True)
                nd.start()
            if down or self.csession is None:
                self.reconnect(ADDRS)
        else:
            if not self.node1.running():
                print("  .. restarting node1 after a failed test", flush=True)
                self.close_session()
                self.node1.start()
            if self.session is None:
                self.open_session()

    def all_nodes(self):
        return ([self.node1] if self.node1 else []) + self.nodes


def count_classes(work, tree):
    names = set()
    for p in glob.glob(os.path.join(work, "**", "classload-*.log"), recursive=True):
        with open(p, errors="replace") as f:
            for line in f:
                m = re.search(r"\] (org\.apache\.cassandra\.\S+) source:", line)
                if m and "$$Lambda" not in m.group(1):     # not the JVM's hidden lambda classes
                    names.add(m.group(1))
    jar = glob.glob(os.path.join(tree, "lib", "cassandra-all-*.jar"))
    total = 0
    if jar:
        with zipfile.ZipFile(jar[0]) as z:
            total = sum(1 for n in z.namelist()
                        if n.startswith("org/apache/cassandra/") and n.endswith(".class"))
    return len(names), total, len({n.split("$")[0] for n in names})


def main():
    global VERBOSE
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--quick", action="store_true", help="single node, main request paths (default)")
    g.add_argument("--full", action="store_true", help="everything, including the 3-node cluster")
    ap.add_argument("--tree", default=SCRIPTS_HOME, help="Cassandra tree with lib/ (default: %(default)s)")
    ap.add_argument("--work", default=None,
                    help="scratch folder for node data and logs, emptied first (default: TREE/.suite-work)")
    ap.add_argument("--only", default=None, help="comma-separated test names (in suite order)")
    ap.add_argument("--list", action="store_true", help="list the tests and exit")
    ap.add_argument("--class-log", action="store_true",
                    help="log class loading of the nodes and count org.apache.cassandra classes")
    ap.add_argument("--keep", action="store_true", help="keep the work folder afterwards")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args()
    VERBOSE = a.verbose
    tests = QUICK + (FULL_EXTRA if a.full else [])
    if a.list:
        for name, fn in tests:
            print("%-20s %s" % (name, (fn.__doc__ or "").strip().split("\n")[0]))
        return 0
    if a.only:
        want = a.only.split(",")
        unknown = set(want) - {n for n, _ in QUICK + FULL_EXTRA}
        if unknown:
            ap.error("unknown test(s): %s" % ", ".join(sorted(unknown)))
        tests = [(n, f) for n, f in QUICK + FULL_EXTRA if n in want]
    logging.basicConfig(level=logging.INFO if VERBOSE else logging.CRITICAL,
                        format="  driver %(levelname)s %(message)s")
    logging.getLogger("cassandra").setLevel(logging.ERROR if VERBOSE else logging.CRITICAL)

    tree = os.path.abspath(a.tree)
    if not glob.glob(os.path.join(tree, "lib", "cassandra-all-*.jar")):
        ap.error("no lib/cassandra-all-*.jar under %s" % tree)
    work = os.path.abspath(a.work or os.path.join(tree, ".suite-work"))
    if os.path.exists(work):
        shutil.rmtree(work)
    os.makedirs(work)

    ctx = Context(tree, work, a.class_log)
    mode = "full" if a.full else "quick"
    print("cassandra suite (%s): %d test(s), tree %s, work %s" % (mode, len(tests), tree, work), flush=True)

    def on_signal(signum, frame):
        raise KeyboardInterrupt("signal %d" % signum)
    signal.signal(signal.SIGTERM, on_signal)

    passed = failed = 0
    t_start = time.monotonic()
    try:
        single = [t for t in tests if not t[0].startswith("cluster_")]
        if single:
            n = ctx.single_node()
            t0 = time.monotonic()
            try:
                dt = n.start()
                ctx.open_session()
                print("node1 started in %.1fs" % dt, flush=True)
            except Exception as e:
                print("FAIL node1 start-up (%.1fs): %s" % (time.monotonic() - t0, e), flush=True)
                failed += len(single)
                single = []
        for name, fn in tests:
            if not name.startswith("cluster_") and not single:
                continue
            t0 = time.monotonic()
            try:
                ctx.prepare(name)
                fn(ctx)
                if name == "restart_replay":
                    ctx.has_replay = True
                passed += 1
                print("ok   %-20s %7.1fs" % (name, time.monotonic() - t0), flush=True)
            except Exception as e:
                failed += 1
                msg = str(e) if isinstance(e, TestFailure) else "".join(
                    traceback.format_exception(type(e), e, e.__traceback__)[-6:])
                print("FAIL %-20s %7.1fs  %s" % (name, time.monotonic() - t0,
                                                 msg.strip().replace("\n", "\n     ")), flush=True)
                for nd in ctx.all_nodes():
                    if nd.proc is not None and nd.proc.poll() not in (None, 0, -9, 143):
                        print("  .. %s exited (%s); last log lines:\n%s" % (nd.name, nd.proc.returncode,
                                                                           nd.tail()), flush=True)
                if name == "cluster_start":        # nothing after it can run
                    for rest in [t for t in tests if t[0].startswith("cluster_") and t[0] != name]:
                        print("FAIL %-20s %7.1fs  skipped: the cluster did not start" % (rest[0], 0.0))
                        failed += 1
                    break
            for nd in ctx.all_nodes():
                nd.sample_rss()
    except KeyboardInterrupt as e:
        print("interrupted (%s): stopping the nodes" % e, flush=True)
        failed += 1
    finally:
        ctx.close_session()
        ctx.close_cluster_session()
        for nd in ctx.all_nodes():
            try:
                nd.stop(drain=True, timeout=60)
            except Exception as e:
                print("  .. stopping %s: %s" % (nd.name, e))
                nd.kill9()
    for nd in ctx.all_nodes():
        if nd.peak_rss_kib:
            print("%s peak RSS %.0f MiB (%d start(s))" % (nd.name, nd.peak_rss_kib / 1024.0, nd.starts))
    if a.class_log:
        n_cls, total, n_top = count_classes(work, tree)
        print("classes loaded: %d distinct org.apache.cassandra classes (%d top-level) of %d in the jar"
              % (n_cls, n_top, total))
    print("suite time %.1fs" % (time.monotonic() - t_start))
    if not a.keep and failed == 0:
        shutil.rmtree(work, ignore_errors=True)
    print("%d passed, %d failed" % (passed, failed), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
