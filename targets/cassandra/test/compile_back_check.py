#!/usr/bin/env python3
"""Check compile-back.sh end to end on a tree (run as the test user, in the tree):

    .venv/bin/python test/compile_back_check.py [--tree DIR] [--work DIR]

1. applies test/compile-back-demo.patch (a 1.5 s Thread.sleep in Keyspace.applyInternal for
   writes to keyspace compile_back_demo) with patch -p1, runs ./compile-back.sh;
2. starts a node from the patched jar and times one INSERT into compile_back_demo and one into
   another keyspace: the first must take >= 1.5 s, the other well under;
3. reverts the patch (patch -R -p1), runs ./compile-back.sh again and checks that
   lib/cassandra-all-*.jar is byte-identical to pristine/cassandra-all-*.jar.
Exit status 0 when all of that holds.
"""
import argparse
import filecmp
import glob
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "suite"))
import run  # noqa: E402  (suite/run.py: Node, connect)


def sh(cmd, cwd):
    print("$ " + cmd, flush=True)
    t0 = time.monotonic()
    subprocess.run(["bash", "-c", cmd], cwd=cwd, check=True)
    return time.monotonic() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tree", default=os.path.dirname(HERE))
    ap.add_argument("--work", default=None)
    a = ap.parse_args()
    tree = os.path.abspath(a.tree)
    work = os.path.abspath(a.work or os.path.join(tree, ".compile-back-check"))
    patch = os.path.join(HERE, "compile-back-demo.patch")
    subprocess.run(["rm", "-rf", work], check=True)
    os.makedirs(work)

    sh("patch -p1 --forward < %s" % patch, tree)
    dt = sh("./compile-back.sh", tree)
    print("compile-back with one changed file: %.1fs" % dt, flush=True)
    node = run.Node("node1", "127.0.0.1", os.path.join(work, "node1"), tree, "127.0.0.1")
    ok = True
    try:
        print("node started in %.1fs" % node.start(), flush=True)
        cluster, s = run.connect(["127.0.0.1"])
        times = {}
        for ks in ("compile_back_demo", "other_ks"):
            run.create_ks(s, ks)
            s.execute("CREATE TABLE %s.t (k int PRIMARY KEY, v text)" % ks)
            t0 = time.monotonic()
            s.execute("INSERT INTO %s.t (k, v) VALUES (1, 'x')" % ks)
            times[ks] = time.monotonic() - t0
            print("INSERT into %s.t took %.3fs" % (ks, times[ks]), flush=True)
        cluster.shutdown()
        if not (times["compile_back_demo"] >= 1.5 and times["other_ks"] < 1.0):
            print("FAIL: the patched method is not live")
            ok = False
    finally:
        node.stop()
    sh("patch -R -p1 < %s" % patch, tree)
    sh("./compile-back.sh", tree)
    jar = glob.glob(os.path.join(tree, "lib", "cassandra-all-*.jar"))[0]
    pristine = os.path.join(tree, "pristine", os.path.basename(jar))
    same = filecmp.cmp(jar, pristine, shallow=False)
    print("%s %s byte-identical to %s" % (jar, "is" if same else "is NOT", pristine))
    subprocess.run(["rm", "-rf", work])
    ok = ok and same
    print("compile-back check: %s" % ("ok" if ok else "FAIL"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
