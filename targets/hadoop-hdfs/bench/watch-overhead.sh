#!/bin/bash
# Online capture overhead on a standalone HDFS cluster (the recipe's bin/: one NameNode JVM,
# one DataNode JVM) under a steady small-file load: eval/common-hdfs/HdfsClient.java
# `benchlog`, THREADS client threads each creating a SIZE-byte file, reading it back, stating
# and deleting it, over and over (NameNode RPCs: create, addBlock, complete, getBlockLocations,
# getFileInfo, delete; DataNode: one write pipeline and one read per file).
#
# Files per second untraced, and with one JVM traced: the NameNode or the DataNode, each under
#   floor      the kernel's syscall tracing alone: perfscope's BPF programs attached to that
#              JVM and returning at once (capture's `overhead hold PID`), the cost no tracer
#              built on the syscall tracepoints can go under
#   capture    perfscope's BPF side recording that JVM's syscalls, drained by a loop that only
#              counts them (`overhead hold PID record`)
#   perfscope  `perfscope watch --db SIGDB --pid PID` (the production side as it runs)
# in paired, interleaved rounds (every mode once per round, in an order rotated from round to
# round: the JVMs still speed up minutes into the load, and "none always first" would credit
# that to the traced modes). Each mode is compared with the untraced run of its own round and
# the median of those ratios (and their range) is reported, as perfscope/benches/online_overhead.sh does for the C servers: the machine's speed
# drifts within minutes. Also the traced JVM's CPU time per file (utime+stime of the whole
# JVM from /proc/PID/stat: the BPF programs run in the traced threads) and the tracer's CPU;
# each result line ends with the 1-minute load average, and the summary gives the absolute
# medians beside the ratios. The client reports counts only, so there is no latency here.
#
#   targets/hadoop-hdfs/bench/watch-overhead.sh TREE [ROUNDS] [SECONDS] [MODES]     (as root)
#
# TREE is the recipe's tree (hadoop-3.5.0 of a fetch). ROUNDS defaults to 5, SECONDS (the
# measured part of each mode, after SETTLE=3 s) to 20, MODES to "nn-floor nn-capture
# nn-perfscope dn-floor dn-capture dn-perfscope". THREADS (16: with 4 the load mostly waits
# for the NameNode's edit-log syncs, 20 files/s at load 1.3 here, and throughput shows little
# of a CPU cost; 16 make 90-130 files/s at load 2.3-2.9 on 2 cores), SIZE (8192), PORT (19890),
# SIGDB (sigdb/hadoop-hdfs-3.5.0.quick.sigdb), WARMUP (90 s of load before the first round:
# after 40 s the rate still rose by 25 % within a minute).
# Needs release builds: cargo build --release -p perfscope && cargo build --release -p capture
# --example overhead (CARGO_TARGET_DIR honoured).
set -eu
TREE=$(cd "${1:?usage: watch-overhead.sh TREE [ROUNDS] [SECONDS] [MODES]}" && pwd)
ROUNDS=${2:-5}
SECS=${3:-20}
MODES=${4:-nn-floor nn-capture nn-perfscope dn-floor dn-capture dn-perfscope}
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
BIN=${PERFSCOPE:-${CARGO_TARGET_DIR:-$ROOT/target}/release/perfscope}
HOLD=${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/overhead
DB=${SIGDB:-$ROOT/sigdb/hadoop-hdfs-3.5.0.quick.sigdb}
THREADS=${THREADS:-16}
SIZE=${SIZE:-8192}
SETTLE=${SETTLE:-3}
WARMUP=${WARMUP:-90}
PORT=${PORT:-19890}
W=$(mktemp -d /var/tmp/hdfs-overhead.XXXXXX)
NN= DN= CLIENT= T=
cleanup() {
  for p in $T $CLIENT $DN $NN; do kill -TERM "$p" 2>/dev/null || true; done
  sleep 3
  for p in $T $CLIENT $DN $NN; do kill -KILL "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -n "${KEEP:-}" ] || rm -rf "$W"
}
trap cleanup EXIT

for f in "$BIN" "$HOLD"; do
  [ -x "$f" ] || { echo "no $f (cargo build --release -p perfscope; cargo build --release -p capture --example overhead)"; exit 2; }
done
[ -f "$DB" ] || { echo "no database $DB (cargo xtask train --target hadoop-hdfs --quick)"; exit 2; }

C=$W/cluster
HDFS_NN_HTTP_PORT=0 "$TREE/bin/hdfs-conf" "$C" "$PORT" >/dev/null
mkdir -p "$C/dfs/name"
cp -r "$ROOT/eval/common-hdfs/name-template/current" "$C/dfs/name/"
"$TREE/bin/hdfs-namenode" "$C" >"$W/namenode.log" 2>&1 &
NN=$!
until (echo >"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; do
  kill -0 "$NN" 2>/dev/null || { tail "$W/namenode.log"; exit 2; }
  sleep 0.5
done
"$TREE/bin/hdfs-datanode" "$C" >"$W/datanode.log" 2>&1 &
DN=$!
TARGET_SRC=$TREE WORK=$W PORT=$PORT "$ROOT/eval/common-hdfs/client.sh" benchlog "$THREADS" "$SIZE" \
  >"$W/client.log" 2>&1 &
CLIENT=$!
until grep -q '^T ' "$W/client.log"; do
  kill -0 "$CLIENT" 2>/dev/null || { tail "$W/client.log"; exit 2; }
  sleep 1
done
echo "cluster up (NameNode $NN, DataNode $DN), load running; warming up ${WARMUP}s" >&2
sleep "$WARMUP"

ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
last() { grep '^T ' "$W/client.log" | tail -1; }

measure() { # prints: files/s, NameNode and DataNode CPU microseconds per file
  local a b n0 n1 t0 t1 nn0 dn0 nn1 dn1
  a=$(last); nn0=$(ticks "$NN"); dn0=$(ticks "$DN")
  sleep "$SECS"
  b=$(last); nn1=$(ticks "$NN"); dn1=$(ticks "$DN")
  t0=$(cut -d' ' -f2 <<<"$a"); n0=$(cut -d' ' -f3 <<<"$a")
  t1=$(cut -d' ' -f2 <<<"$b"); n1=$(cut -d' ' -f3 <<<"$b")
  awk -v n="$((n1 - n0))" -v ms="$((t1 - t0))" -v nc="$((nn1 - nn0))" -v dc="$((dn1 - dn0))" \
    'BEGIN { f = n > 0 ? n : 1; printf "%.2f %.0f %.0f", 1000 * n / ms, nc * 10000 / f, dc * 10000 / f }'
}

run_mode() { # mode -> "files/s nn_us dn_us tracer_ticks"
  local m=$1 pid kind c0 c1 r
  case $m in
    none) sleep "$SETTLE"; echo "$(measure) 0"; return ;;
    nn-*) pid=$NN ;;
    dn-*) pid=$DN ;;
  esac
  kind=${m#*-}
  case $kind in
    floor|capture)
      "$HOLD" hold "$pid" $([ "$kind" = capture ] && echo record) >"$W/hold.out" 2>&1 &
      T=$!
      until grep -qs attached "$W/hold.out"; do
        kill -0 "$T" 2>/dev/null || { cat "$W/hold.out" >&2; exit 2; }
        sleep 0.1
      done ;;
    perfscope)
      rm -f "$W/w.sock"
      "$BIN" watch --db "$DB" --pid "$pid" --socket "$W/w.sock" >"$W/watch.out" 2>"$W/watch.err" &
      T=$!
      until [ -S "$W/w.sock" ]; do
        kill -0 "$T" 2>/dev/null || { cat "$W/watch.err" >&2; exit 2; }
        sleep 0.1
      done ;;
    *) echo "unknown mode $m" >&2; exit 2 ;;
  esac
  sleep "$SETTLE"
  c0=$(ticks "$T"); r=$(measure); c1=$(ticks "$T")
  [ "$kind" = perfscope ] && grep VmHWM "/proc/$T/status" >>"$W/memory"
  kill -TERM "$T"; wait "$T" 2>/dev/null || true; T=
  echo "$r $((c1 - c0))"
}

modes=(none $MODES)
for i in $(seq "$ROUNDS"); do
  k=$(( (i - 1) % ${#modes[@]} ))
  for m in "${modes[@]:k}" "${modes[@]:0:k}"; do
    # not in a $(...): the tracer's pid must reach cleanup, and an exit must end the script
    run_mode "$m" >"$W/line"
    echo "$i $m $(cat "$W/line") $(cut -d' ' -f1 /proc/loadavg)" | tee -a "$W/results"
  done
done
echo "--- $ROUNDS rounds of ${SECS}s per mode ($THREADS client threads, $SIZE-byte files: create,"
echo "    write, read, stat, delete); change against the untraced run of the same round, median"
echo "    over rounds [range]; CPU per file is the traced JVM's:"
awk -v secs="$SECS" '
  # round mode files/s nn_us dn_us tracer_ticks load; read twice: the untraced run of a round
  # need not come first
  NR == FNR { if ($2 == "none") { rate[$1] = $3; nn[$1] = $4; dn[$1] = $5 }; next }
  { k = ++n[$2]; if (!($2 in seen)) { seen[$2] = 1; order[++m] = $2 }
    ab[$2, k] = $3; nc[$2, k] = $4; dc[$2, k] = $5; la[$2, k] = $7
    if ($2 == "none") next
    r[$2, k] = 100 * ($3 / rate[$1] - 1)
    jc[$2, k] = ($2 ~ /^nn-/) ? $4 : $5
    c[$2, k] = ($2 ~ /^nn-/) ? 100 * ($4 / nn[$1] - 1) : 100 * ($5 / dn[$1] - 1)
    tr[$2, k] = $6 / secs }  # ticks (1/100 s) per second = % of a CPU
  function med(a, mode, k,   i, j, t, v) {
    for (i = 1; i <= k; i++) v[i] = a[mode, i]
    for (i = 2; i <= k; i++) { t = v[i]; for (j = i - 1; j >= 1 && v[j] > t; j--) v[j + 1] = v[j]; v[j + 1] = t }
    lo = v[1]; hi = v[k]
    return (k % 2) ? v[(k + 1) / 2] : (v[k / 2] + v[k / 2 + 1]) / 2
  }
  function f(a, x, k, form,   mv) { mv = med(a, x, k); return sprintf(form, mv, lo, hi) }
  END {
    for (i = 1; i <= m; i++) {
      x = order[i]; k = n[x]
      if (x == "none") {
        printf "%-13s files/s %s   NameNode CPU per file %s   DataNode %s   load avg %s\n", x,
          f(ab, x, k, "%.1f [%.1f, %.1f]"), f(nc, x, k, "%.0f us [%.0f, %.0f]"),
          f(dc, x, k, "%.0f us [%.0f, %.0f]"), f(la, x, k, "%.1f [%.1f, %.1f]")
        continue
      }
      printf "%-13s files/s %s %s   traced JVM CPU per file %s %s   tracer %s   load avg %s\n", x,
        f(ab, x, k, "%.1f [%.1f, %.1f]"), f(r, x, k, "%+.1f %% [%+.1f, %+.1f]"),
        f(jc, x, k, "%.0f us [%.0f, %.0f]"), f(c, x, k, "%+.1f %% [%+.1f, %+.1f]"),
        f(tr, x, k, "%.2f %% of a CPU [%.2f, %.2f]"), f(la, x, k, "%.1f [%.1f, %.1f]")
    }
  }' "$W/results" "$W/results"
awk '$2 == "none" { s += $3; n++ } END { if (n) printf "untraced: %.1f files/s on average\n", s / n }' "$W/results"
[ -s "$W/memory" ] && echo "perfscope watch peak RSS: $(sort -k2 -n "$W/memory" | tail -1)"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
cp "$W/results" "${RESULTS:-/dev/null}" 2>/dev/null || true
