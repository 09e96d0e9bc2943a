#!/bin/sh
# Online capture overhead on a syscall-heavy server: Debian's redis-server under
# redis-benchmark (GET and SET, 50 connections, no pipelining: one read and one write
# per request), throughput untraced, under `perfscope watch --pid`, under `strace -f`
# and under `perf trace`, interleaved in the same run (ABCD ABCD ...), median of ROUNDS.
# Also the server's own CPU time per request (from /proc/PID/schedstat: the BPF programs
# run in the traced threads, so this is where the capture's cost shows; it is less
# sensitive to other load on the machine than throughput) and the tracer's CPU.
#
#   sh perfscope/benches/online_overhead.sh [ROUNDS] [REQUESTS]     (as root)
#
# Needs redis-server and redis-benchmark (apt-get install redis-server), strace, perf,
# and a release build: cargo build --release -p perfscope (CARGO_TARGET_DIR honoured).
set -eu
ROUNDS=${1:-3}
N=${2:-300000}
PORT=${PORT:-6399}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${PERFSCOPE:-${CARGO_TARGET_DIR:-$ROOT/target}/release/perfscope}
DB=${SIGDB:-}
WORK=$(mktemp -d /tmp/perfscope-overhead.XXXXXX)
trap 'kill $REDIS 2>/dev/null || true; rm -rf "$WORK"' EXIT

[ -x "$BIN" ] || { echo "no perfscope binary at $BIN (cargo build --release -p perfscope)"; exit 2; }
command -v redis-server >/dev/null || { echo "skipped: redis-server is not installed"; exit 2; }
if [ -z "$DB" ]; then
    # any database will do: the overhead is the capture's
    cargo run -q --release -p perfscope --example synth -- "$WORK/db" none 5 >/dev/null 2>&1
    DB=$WORK/db/demo.sigdb
fi

redis-server --port "$PORT" --save '' --appendonly no --daemonize no --loglevel warning \
    >"$WORK/redis.log" 2>&1 &
REDIS=$!
sleep 1

bench() { # prints the mean of the GET and SET requests per second, and the server's
          # CPU ns per request
    s0=$(cut -d' ' -f1 "/proc/$REDIS/schedstat")
    rps=$(redis-benchmark -p "$PORT" -t get,set -n "$N" -c 50 --csv 2>/dev/null |
        awk -F'"' '/^"(GET|SET)"/ { s += $4; n++ } END { printf "%.0f", s / n }')
    s1=$(cut -d' ' -f1 "/proc/$REDIS/schedstat")
    echo "$rps $(( (s1 - s0) / (2 * N) ))"
}

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

run_mode() { # mode -> requests per second (and tracer CPU on fd 3)
    case $1 in
    none) echo "$(bench) 0" ;;
    perfscope)
        "$BIN" watch --db "$DB" --pid "$REDIS" --socket "$WORK/w.sock" >/dev/null 2>"$WORK/w.err" &
        T=$!
        while [ ! -S "$WORK/w.sock" ]; do sleep 0.1; done
        sleep 1
        c0=$(cpu_ticks $T); r=$(bench); c1=$(cpu_ticks $T)
        grep VmHWM "/proc/$T/status" >>"$WORK/memory"
        kill -TERM $T; wait $T || true
        echo "$r $((c1 - c0))" ;;
    strace)
        strace -f -qq -p "$REDIS" -o /dev/null & T=$!; sleep 1
        c0=$(cpu_ticks $T); r=$(bench); c1=$(cpu_ticks $T)
        kill -INT $T; wait $T || true
        echo "$r $((c1 - c0))" ;;
    perftrace)
        perf trace -p "$REDIS" -o /dev/null 2>/dev/null & T=$!; sleep 2
        c0=$(cpu_ticks $T); r=$(bench); c1=$(cpu_ticks $T)
        kill -INT $T; wait $T || true
        echo "$r $((c1 - c0))" ;;
    esac
}

bench >/dev/null # warm up
for i in $(seq "$ROUNDS"); do
    for m in none perfscope strace perftrace; do
        echo "$m $(run_mode $m)" | tee -a "$WORK/results"
    done
done
echo "--- medians over $ROUNDS rounds ($N requests per test, GET and SET, 50 clients):"
med() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
base=$(awk '$1 == "none" { print $2 }' "$WORK/results" | med)
base_cpu=$(awk '$1 == "none" { print $3 }' "$WORK/results" | med)
for m in none perfscope strace perftrace; do
    rps=$(awk -v m=$m '$1 == m { print $2 }' "$WORK/results" | med)
    cpu=$(awk -v m=$m '$1 == m { print $3 }' "$WORK/results" | med)
    tracer=$(awk -v m=$m '$1 == m { print $4 }' "$WORK/results" | med)
    awk -v m=$m -v r="$rps" -v b="$base" -v c="$cpu" -v bc="$base_cpu" -v t="$tracer" 'BEGIN {
        printf "%-10s %7.0f req/s (%5.1f %% of untraced)  server CPU %6.0f ns/request (%+6.1f %%)  tracer CPU %s ticks\n",
               m, r, 100 * r / b, c, 100 * (c - bc) / bc, t }'
done
echo "perfscope watch peak RSS: $(sort -k2 -n "$WORK/memory" | tail -1)"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)" 
