#!/bin/sh
# Online capture overhead on a JVM server in a real cluster: one node of a 3-node Cassandra
# 5.0.9 cluster (127.0.2.1-3, keyspace RF 3) under a steady closed-loop CQL load (the
# DataStax Python driver, CONCURRENCY requests in flight, token-aware; half writes at
# QUORUM, a quarter reads at ONE, a quarter reads at QUORUM, 100-byte values over KEYS
# partitions written once before the warm-up). Measured per mode: the whole cluster's
# throughput and p99 latency as the client sees them, and the CPU time per request of the
# watched node's JVM (utime + stime of the whole process from /proc/PID/stat: the BPF
# programs run in the traced threads, so this is where the capture's cost shows) and of the
# three JVMs together, and the tracer's own CPU.
#
# Modes, as in online_overhead.sh: untraced (`none`); `floor`: our programs attached to the
# watched JVM and returning at once (the kernel's own cost of syscall tracing, which no tracer
# built on the syscall tracepoints can go under); `capture`: perfscope's BPF side recording,
# drained by a loop that only counts (not in the default modes); `perfscope`: `perfscope watch
# --pid JVM`. Each round runs every mode once, in an order rotated from round to round (none
# first, then last, ...), and each mode is compared with the untraced run of the same round;
# the median of those ratios and their range are reported (this VM's speed drifts by 10 % and
# more within minutes). After the last round's perfscope measurement, one `perfscope alarm
# --wait` checks that the watcher reports on the node (ALARM=0 to skip); the report is kept.
#
#   sh perfscope/benches/cassandra_overhead.sh TREE [ROUNDS] [SECONDS] [MODES]     (as root)
#
# TREE is a Cassandra tree made by targets/cassandra.toml (lib/, bin/, conf/ and .venv/ with
# the driver), owned by and readable as user perfscope, who runs the nodes and the client.
# ROUNDS defaults to 5, SECONDS (measured per mode) to 60, MODES to "floor perfscope".
# Environment: CONCURRENCY (32), KEYS (50000), WARMUP seconds (120), WATCH (the watched node,
# 1-3; default 2, not the driver's control-connection node), NET (127.0.2), PORT (CQL, 9142;
# storage = PORT - 2042), JMX_BASE (7390: node i gets JMX_BASE + i), SIGDB (default
# sigdb/cassandra-5.0.9.quick.sigdb), WORK (scratch folder, default a new /var/tmp/cs-overhead.*,
# node data removed at the end unless KEEP=1, results kept). Needs release builds: cargo build --release -p
# perfscope && cargo build --release -p capture --example overhead (two commands: with --example,
# cargo builds only the example; CARGO_TARGET_DIR honoured), setpriv (util-linux),
# Java 17, and ~1 GiB of memory per node. Nodes and tracers are stopped on exit, also on error
# or SIGINT/SIGTERM (not on SIGKILL: then stop the JVMs whose pids are in WORK/pids).
set -eu
TREE=${1:?usage: cassandra_overhead.sh TREE [ROUNDS] [SECONDS] [MODES]}
TREE=$(cd "$TREE" && pwd)
ROUNDS=${2:-5}
SECS=${3:-60}
MODES=${4:-floor perfscope}
CONCURRENCY=${CONCURRENCY:-32}
KEYS=${KEYS:-50000}
WARMUP=${WARMUP:-120}
WATCH=${WATCH:-2}
NET=${NET:-127.0.2}
PORT=${PORT:-9142}
JMX_BASE=${JMX_BASE:-7390}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${PERFSCOPE:-${CARGO_TARGET_DIR:-$ROOT/target}/release/perfscope}
HOLD=${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/overhead
DB=${SIGDB:-$ROOT/sigdb/cassandra-5.0.9.quick.sigdb}
WORK=${WORK:-$(mktemp -d /var/tmp/cs-overhead.XXXXXX)}
USER_ENV="env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/nonexistent LC_ALL=C.UTF-8"
AS_USER="setpriv --reuid=perfscope --regid=perfscope --init-groups"

[ "$(id -u)" = 0 ] || { echo "needs root (the tracers; the nodes run as perfscope)"; exit 2; }
[ -x "$BIN" ] || { echo "no perfscope binary at $BIN (cargo build --release -p perfscope)"; exit 2; }
case " $MODES " in *" floor "* | *" capture "*)
    [ -x "$HOLD" ] || { echo "no $HOLD (cargo build --release -p capture --example overhead)"; exit 2; } ;;
esac
[ -f "$DB" ] || { echo "no database $DB (set SIGDB)"; exit 2; }
[ -x "$TREE/bin/cassandra-node" ] && [ -x "$TREE/.venv/bin/python" ] ||
    { echo "$TREE is not a Cassandra tree with bin/cassandra-node and .venv/ (targets/cassandra/README.md)"; exit 2; }
id perfscope >/dev/null 2>&1 || { echo "no user perfscope (targets/README.md)"; exit 2; }

mkdir -p "$WORK" && chmod 755 "$WORK" && chown perfscope: "$WORK"
: >"$WORK/pids"
NODES=
TRACER=
cleanup() {
    [ -n "$TRACER" ] && kill -TERM "$TRACER" 2>/dev/null && wait "$TRACER" 2>/dev/null
    for p in $NODES; do kill -TERM "$p" 2>/dev/null || true; done
    for p in $NODES; do # Cassandra's shutdown hook; SIGKILL after 60 s
        i=0
        while kill -0 "$p" 2>/dev/null && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
        kill -KILL "$p" 2>/dev/null || true
    done
    [ "${KEEP:-0}" = 1 ] || rm -rf "$WORK"/n1 "$WORK"/n2 "$WORK"/n3
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The load client (one process, the driver's libev reactor; callbacks issue the next request,
# so CONCURRENCY requests are always in flight).
cat >"$WORK/load.py" <<'EOF'
"""setup HOSTS PORT KEYS | run HOSTS PORT SECONDS CONCURRENCY KEYS PID..."""
import os, random, sys, threading, time
from cassandra import ConsistencyLevel as CL
from cassandra.cluster import Cluster, ExecutionProfile, EXEC_PROFILE_DEFAULT
from cassandra.concurrent import execute_concurrent_with_args
from cassandra.policies import DCAwareRoundRobinPolicy, TokenAwarePolicy
try:
    from cassandra.io.libevreactor import LibevConnection
except ImportError:
    LibevConnection = None

def connect(hosts, port):
    profile = ExecutionProfile(
        load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy()), request_timeout=20)
    kw = dict(contact_points=hosts.split(","), port=int(port), protocol_version=5,
              execution_profiles={EXEC_PROFILE_DEFAULT: profile})
    if LibevConnection:
        kw["connection_class"] = LibevConnection
    cluster = Cluster(**kw)
    return cluster, cluster.connect()

def ticks(pid):  # utime + stime of the whole process, in clock ticks
    if pid == 0:
        return 0
    with open(f"/proc/{pid}/stat") as f:
        s = f.read()
    fields = s[s.rindex(")") + 2:].split()
    return int(fields[11]) + int(fields[12])

def setup(hosts, port, keys):
    cluster, session = connect(hosts, port)
    deadline = time.time() + 180
    while sum(h.is_up for h in cluster.metadata.all_hosts()) < 3:
        if time.time() > deadline:
            sys.exit("load: fewer than 3 nodes up after 180 s")
        time.sleep(1)
    session.execute("CREATE KEYSPACE IF NOT EXISTS perf WITH replication = "
                    "{'class': 'SimpleStrategy', 'replication_factor': 3}", timeout=120)
    session.execute("CREATE TABLE IF NOT EXISTS perf.kv (k int PRIMARY KEY, v blob)", timeout=120)
    cluster.control_connection.wait_for_schema_agreement()
    ps = session.prepare("INSERT INTO perf.kv (k, v) VALUES (?, ?)")
    ps.consistency_level = CL.QUORUM
    t = time.time()
    res = execute_concurrent_with_args(session, ps, ((k, os.urandom(100)) for k in range(keys)),
                                       concurrency=64, raise_on_first_error=False)
    bad = sum(not ok for ok, _ in res)
    print(f"populated {keys} partitions in {time.time() - t:.1f} s ({bad} failed)", file=sys.stderr)
    cluster.shutdown()

def run(hosts, port, seconds, conc, keys, pids):
    cluster, session = connect(hosts, port)
    write = session.prepare("INSERT INTO perf.kv (k, v) VALUES (?, ?)")
    read = session.prepare("SELECT v FROM perf.kv WHERE k = ?")
    values = [os.urandom(100) for _ in range(64)]
    rng = random.Random(os.getpid())
    done, errors = [], []  # (completion time, latency); completion times of failures
    lock = threading.Lock()
    state = {"stop": float("inf"), "inflight": 0}
    idle = threading.Event()

    def issue():
        r, k = rng.random(), rng.randrange(keys)
        if r < 0.5:
            b = write.bind((k, values[k & 63]))
            b.consistency_level = CL.QUORUM
        else:
            b = read.bind((k,))
            b.consistency_level = CL.ONE if r < 0.75 else CL.QUORUM
        t = time.perf_counter()
        f = session.execute_async(b)
        f.add_callbacks(ok, failed, callback_args=(t,), errback_args=(t,))

    def next_or_finish():
        if time.perf_counter() < state["stop"]:
            issue()
        else:
            with lock:
                state["inflight"] -= 1
                if state["inflight"] == 0:
                    idle.set()

    def ok(_rows, t):
        now = time.perf_counter()
        done.append((now, now - t))
        next_or_finish()

    def failed(exc, t):
        errors.append((time.perf_counter(), type(exc).__name__))
        next_or_finish()

    with lock:
        state["inflight"] = conc
    for _ in range(conc):
        issue()
    time.sleep(3)  # ramp-up: connections to every node, steady state
    c0 = [ticks(p) for p in pids]
    cpu0 = os.times()
    t0 = time.perf_counter()
    time.sleep(seconds)
    t1 = time.perf_counter()
    c1 = [ticks(p) for p in pids]
    cpu1 = os.times()
    state["stop"] = t1
    idle.wait(60)
    cluster.shutdown()
    lat = sorted(l for c, l in done if t0 <= c < t1)
    errs = [e for c, e in errors if t0 <= c < t1]
    if errs:
        print(f"load: {len(errs)} errors: {sorted(set(errs))}", file=sys.stderr)
    n = len(lat)
    if n == 0:
        sys.exit("load: no request completed")
    pct = lambda q: 1000 * lat[min(n - 1, int(q * n))]
    client = (cpu1.user + cpu1.system - cpu0.user - cpu0.system) / (t1 - t0)
    # ops/s p50_ms p99_ms errors ops client_cpu_share ticks(pid)...
    print(f"{n / (t1 - t0):.1f} {pct(0.5):.3f} {pct(0.99):.3f} {len(errs)} {n} {client:.2f}",
          *[b - a for a, b in zip(c0, c1)])

if sys.argv[1] == "setup":
    setup(sys.argv[2], sys.argv[3], int(sys.argv[4]))
else:
    run(sys.argv[2], sys.argv[3], float(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]),
        [int(p) for p in sys.argv[7:]])
EOF
chown perfscope: "$WORK/load.py"
client() { (cd "$WORK" && $AS_USER $USER_ENV "$TREE/.venv/bin/python" "$WORK/load.py" "$@"); }
HOSTS=$NET.1,$NET.2,$NET.3

# The cluster: node 1 is the seed; nodes start one after the other, as in the suite.
for i in 1 2 3; do
    mkdir -p "$WORK/n$i" && chown perfscope: "$WORK/n$i"
    # setpriv, env and cassandra-node all exec: $! is the JVM
    $AS_USER $USER_ENV JMX_PORT=$((JMX_BASE + i)) \
        "$TREE/bin/cassandra-node" "$WORK/n$i" "$NET.$i" "$PORT" "$NET.1" >"$WORK/n$i.console" 2>&1 &
    p=$!
    NODES="$NODES $p"
    echo "$p" >>"$WORK/pids"
    eval "NODE$i=$p"
    t=0
    until grep -q "Startup complete" "$WORK/n$i/logs/system.log" 2>/dev/null; do
        kill -0 "$p" 2>/dev/null || { tail -20 "$WORK/n$i.console" >&2; exit 2; }
        [ $t -lt 3000 ] || { echo "node $i did not start in 300 s" >&2; exit 2; }
        sleep 0.1; t=$((t + 1))
    done
    echo "node $i ($NET.$i) up, pid $p, after $((t / 10)) s"
done
eval "W=\$NODE$WATCH"
grep -q /libjvm.so "/proc/$W/maps" || { echo "pid $W is not the JVM" >&2; exit 2; }
client setup "$HOSTS" "$PORT" "$KEYS"
echo "warm-up: ${WARMUP} s of load"
client run "$HOSTS" "$PORT" "$WARMUP" "$CONCURRENCY" "$KEYS" "$W" >/dev/null

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

load() { # tracer pid or 0 -> ops/s p50 p99 errors ops client watched-ticks cluster-ticks tracer-ticks
    ls "/proc/$W/task" | sort >"$WORK/tasks.0"
    r=$(client run "$HOSTS" "$PORT" "$SECS" "$CONCURRENCY" "$KEYS" "$W" $NODES "$1" 2>>"$WORK/client.err")
    ls "/proc/$W/task" | sort >"$WORK/tasks.1"
    # new threads of the watched JVM during the run, with their names (thread churn)
    new=$(comm -13 "$WORK/tasks.0" "$WORK/tasks.1" | while read -r t; do
        cat "/proc/$W/task/$t/comm" 2>/dev/null || true; done | sort | uniq -c | tr -s ' ' | paste -sd, -)
    echo "$ROUND $MODE threads $(wc -l <"$WORK/tasks.1") new: ${new:-none}" >>"$WORK/threads"
    echo "$r" | awk '{ print $1, $2, $3, $4, $5, $6, $7, $8 + $9 + $10, $11 }'
}

run_mode() { # mode -> one result line
    case $1 in
    none) load 0 ;;
    floor|capture)
        "$HOLD" hold "$W" $([ "$1" = capture ] && echo record) >"$WORK/hold.out" 2>&1 &
        TRACER=$!
        while ! grep -qs attached "$WORK/hold.out"; do
            kill -0 $TRACER 2>/dev/null || { cat "$WORK/hold.out" >&2; exit 2; }
            sleep 0.1
        done
        load $TRACER
        kill -TERM $TRACER; wait $TRACER || true; TRACER= ;;
    perfscope)
        rm -f "$WORK/w.sock"
        "$BIN" watch --db "$DB" --pid "$W" --socket "$WORK/w.sock" >"$WORK/w.out" 2>"$WORK/w.err" &
        TRACER=$!
        t0=$(date +%s.%N)
        while [ ! -S "$WORK/w.sock" ]; do
            kill -0 $TRACER 2>/dev/null || { cat "$WORK/w.err" >&2; exit 2; }
            sleep 0.1
        done
        sleep 1
        load $TRACER
        echo "$ROUND $(grep -E 'VmHWM|VmRSS' "/proc/$TRACER/status" | tr -s ' \t' ' ' | paste -sd' ' -)" >>"$WORK/memory"
        if [ "$ROUND" = "$ROUNDS" ] && [ "${ALARM:-1}" = 1 ]; then
            # the window now holds ~SECS s of this node under load
            "$BIN" alarm --socket "$WORK/w.sock" --label "cassandra_overhead.sh" --wait \
                --timeout 300s >"$WORK/alarm.txt" 2>&1 || echo "alarm: exit $? (0 or 1 expected)" >>"$WORK/alarm.txt"
        fi
        kill -TERM $TRACER; wait $TRACER || true; TRACER=
        # syscalls the watcher saw over its life (load all along but for the alarm's seconds)
        seen=$(sed -n 's/.*; \([0-9]*\) syscalls seen.*/\1/p' "$WORK/w.err")
        echo "$ROUND ${seen:-0} $(echo "$(date +%s.%N) $t0" | awk '{ print $1 - $2 }')" >>"$WORK/syscalls"
        grep -v -E '^perfscope: (watching|alarm 1|stopped \(signal 15\); [0-9]+ syscalls seen, 0 lost in the kernel, 0 evicted)' \
            "$WORK/w.err" | sed "s/^/round $ROUND: /" >>"$WORK/watch.warnings" || true ;;
    esac
}

set -- none $MODES
NMODES=$#
for ROUND in $(seq "$ROUNDS"); do
    # rotate the order: a mode is not always right after the same one
    k=$(( (ROUND - 1) % NMODES ))
    order=$(echo "$@" | tr ' ' '\n' | awk -v k=$k -v n=$NMODES '{ m[NR - 1] = $0 } END { for (i = 0; i < n; i++) print m[(i + k) % n] }')
    for MODE in $order; do
        run_mode "$MODE" >"$WORK/line" # not in a $(...): its tracer must be seen by cleanup
        echo "$ROUND $MODE $(cat "$WORK/line") $(cut -d' ' -f1 /proc/loadavg)" | tee -a "$WORK/results"
    done
done
echo "--- $ROUNDS rounds of $SECS s per mode ($CONCURRENCY requests in flight, 50 % QUORUM writes,"
echo "    25 % ONE reads, 25 % QUORUM reads; node $WATCH of 3 watched); change against the untraced"
echo "    run of the same round, median over rounds [and the range]:"
awk -v secs="$SECS" '
    # round mode ops/s p50 p99 errors ops client watched-ticks cluster-ticks tracer-ticks load
    function cpu(ticks, ops) { return ticks * 10000 / ops } # µs per request (CLK_TCK 100)
    $2 == "none" { b_ops[$1] = $3; b_p99[$1] = $5; b_w[$1] = cpu($9, $7); b_c[$1] = cpu($10, $7) }
    { k = ++n[$2]; if (!($2 in seen)) { seen[$2] = 1; order[++m] = $2 }
      abs_ops[$2, k] = $3; abs_p99[$2, k] = $5; abs_w[$2, k] = cpu($9, $7); abs_c[$2, k] = cpu($10, $7)
      tr[$2, k] = 100 * $11 / (100 * secs); la[$2, k] = $12; err[$2] += $6; round[$2, k] = $1 }
    function med(a, mode, cnt,   i, j, t, v) {
        for (i = 1; i <= cnt; i++) v[i] = a[mode, i]
        for (i = 2; i <= cnt; i++) { t = v[i]; for (j = i - 1; j >= 1 && v[j] > t; j--) v[j + 1] = v[j]; v[j + 1] = t }
        lo = v[1]; hi = v[cnt]
        return (cnt % 2) ? v[(cnt + 1) / 2] : (v[cnt / 2] + v[cnt / 2 + 1]) / 2
    }
    function f(a, x, c, form,   mv) { mv = med(a, x, c); return sprintf(form, mv, lo, hi) }
    END {
        for (i = 1; i <= m; i++) {
            x = order[i]; c = n[x]
            for (j = 1; j <= c; j++) {
                r = round[x, j]
                d_ops[x, j] = 100 * (abs_ops[x, j] / b_ops[r] - 1); d_p99[x, j] = 100 * (abs_p99[x, j] / b_p99[r] - 1)
                d_w[x, j] = 100 * (abs_w[x, j] / b_w[r] - 1); d_c[x, j] = 100 * (abs_c[x, j] / b_c[r] - 1)
            }
            printf "%-9s %s, %s, %s, %s, %s, errors %d\n", x, f(abs_ops, x, c, "%.0f ops/s [%.0f, %.0f]"),
                f(abs_p99, x, c, "p99 %.1f ms [%.1f, %.1f]"), f(abs_w, x, c, "watched JVM %.0f us/op [%.0f, %.0f]"),
                f(abs_c, x, c, "3 JVMs %.0f us/op [%.0f, %.0f]"), f(la, x, c, "load avg %.1f [%.1f, %.1f]"), err[x]
            if (x == "none") continue
            printf "%-9s %s   %s   %s   %s   %s\n", "", f(d_ops, x, c, "throughput %+.1f %% [%+.1f, %+.1f]"),
                f(d_p99, x, c, "p99 %+.1f %% [%+.1f, %+.1f]"), f(d_w, x, c, "watched JVM CPU/op %+.1f %% [%+.1f, %+.1f]"),
                f(d_c, x, c, "3 JVMs CPU/op %+.1f %% [%+.1f, %+.1f]"), f(tr, x, c, "tracer %.1f %% of a CPU [%.1f, %.1f]")
        }
    }' "$WORK/results" | tee "$WORK/summary"
[ -s "$WORK/memory" ] && echo "perfscope watch memory at the end of each round: $(sort -k3 -n "$WORK/memory" | tail -1)" | tee -a "$WORK/summary"
[ -s "$WORK/syscalls" ] && awk '
    function sort(v, k,   i, j, t) { for (i = 2; i <= k; i++) { t = v[i]; for (j = i - 1; j >= 1 && v[j] > t; j--) v[j + 1] = v[j]; v[j + 1] = t } }
    NR == FNR { if ($2 == "perfscope") ops[$1] = $3; next }
    { k++; a[k] = $2 / $3; b[k] = a[k] / ops[$1] }
    END { sort(a, k); sort(b, k); m = int((k + 1) / 2)
          printf "syscalls of the watched JVM (the watcher'"'"'s count over its life): %.0f/s [%.0f, %.0f], %.0f per request [%.0f, %.0f]\n", a[m], a[1], a[k], b[m], b[1], b[k] }' \
    "$WORK/results" "$WORK/syscalls" |
    tee -a "$WORK/summary"
[ -s "$WORK/watch.warnings" ] && { echo "watcher messages beyond the usual:"; cat "$WORK/watch.warnings"; }
[ -s "$WORK/alarm.txt" ] && echo "alarm report of the last round: $WORK/alarm.txt ($(wc -l <"$WORK/alarm.txt") lines)"
echo "load average now: $(cut -d' ' -f1-3 /proc/loadavg); results in $WORK"
