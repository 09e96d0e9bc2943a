#!/bin/sh
# Online capture overhead on a syscall-heavy server: Debian's redis-server under
# redis-benchmark (GET and SET, 50 connections, no pipelining: about 2.3 syscalls per
# request), throughput untraced, under the kernel's syscall tracing alone (`floor`: our
# programs attached and returning at once, the cost no tracer built on the syscall
# tracepoints can go under), under the capture alone (`capture`: perfscope's BPF side
# recording, drained by a loop that only counts; not in the default modes), under
# `perfscope watch --pid`, under `strace -f` and under `perf trace`, interleaved in the
# same run (ABCDE ABCDE ...). Also the server's own CPU
# time per request (from /proc/PID/schedstat: the BPF programs run in the traced threads,
# so this is where the capture's cost shows) and the tracer's CPU.
#
# Each mode is compared with the untraced run of the same round, and the median of those
# ratios is reported: this VM's speed drifts by 10 % and more within minutes, which
# swamps a comparison of medians taken over the whole run. The server and the client are
# pinned to CPUs 1 and 0 (PIN=0 to let them float).
#
#   sh perfscope/benches/online_overhead.sh [ROUNDS] [REQUESTS] [MODES]     (as root)
#
# MODES defaults to "floor perfscope strace perftrace". Needs redis-server and
# redis-benchmark (apt-get install redis-server), strace, perf, and release builds:
# cargo build --release -p perfscope && cargo build --release -p capture --example overhead
# (CARGO_TARGET_DIR honoured).
set -eu
ROUNDS=${1:-5}
N=${2:-200000}
MODES=${3:-floor perfscope strace perftrace}
PORT=${PORT:-6399}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${PERFSCOPE:-${CARGO_TARGET_DIR:-$ROOT/target}/release/perfscope}
HOLD=${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/overhead
if [ "${PIN:-1}" = 1 ]; then SERVER_CPU="taskset -c 1"; CLIENT_CPU="taskset -c 0"; else SERVER_CPU=; CLIENT_CPU=; fi
DB=${SIGDB:-}
WORK=$(mktemp -d /tmp/perfscope-overhead.XXXXXX)
trap 'kill $REDIS 2>/dev/null || true; rm -rf "$WORK"' EXIT

[ -x "$BIN" ] || { echo "no perfscope binary at $BIN (cargo build --release -p perfscope)"; exit 2; }
case " $MODES " in *" floor "* | *" capture "*)
    [ -x "$HOLD" ] || { echo "no $HOLD (cargo build --release -p capture --example overhead)"; exit 2; } ;;
esac
command -v redis-server >/dev/null || { echo "skipped: redis-server is not installed"; exit 2; }
if [ -z "$DB" ]; then
    # any database will do: the overhead is the capture's
    cargo run -q --release -p perfscope --example synth -- "$WORK/db" none 5 >/dev/null 2>&1
    DB=$WORK/db/demo.sigdb
fi

$SERVER_CPU redis-server --port "$PORT" --save '' --appendonly no --daemonize no --loglevel warning \
    >"$WORK/redis.log" 2>&1 &
REDIS=$!
sleep 1

bench() { # prints the mean of the GET and SET requests per second, and the server's
          # CPU ns per request
    s0=$(cut -d' ' -f1 "/proc/$REDIS/schedstat")
    rps=$($CLIENT_CPU redis-benchmark -p "$PORT" -t get,set -n "$N" -c 50 --csv 2>/dev/null |
        awk -F'"' '/^"(GET|SET)"/ { s += $4; n++ } END { printf "%.0f", s / n }')
    s1=$(cut -d' ' -f1 "/proc/$REDIS/schedstat")
    echo "$rps $(( (s1 - s0) / (2 * N) ))"
}

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

run_mode() { # mode -> requests per second (and tracer CPU on fd 3)
    case $1 in
    none) echo "$(bench) 0" ;;
    floor|capture)
        "$HOLD" hold "$REDIS" $([ "$1" = capture ] && echo record) >"$WORK/hold.out" 2>&1 &
        T=$!
        while ! grep -q attached "$WORK/hold.out"; do
            kill -0 $T 2>/dev/null || { cat "$WORK/hold.out" >&2; exit 2; }
            sleep 0.1
        done
        c0=$(cpu_ticks $T); r=$(bench); c1=$(cpu_ticks $T)
        kill -TERM $T; wait $T || true
        echo "$r $((c1 - c0))" ;;
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
    for m in none $MODES; do
        echo "$i $m $(run_mode $m)" | tee -a "$WORK/results"
    done
done
echo "--- $ROUNDS rounds ($N requests per test, GET and SET, 50 clients); change against the"
echo "    untraced run of the same round, median over rounds (and the range):"
awk '
    $2 == "none" { base_rps[$1] = $3; base_cpu[$1] = $4; next }
    { n[$2]++; rps[$2, n[$2]] = 100 * ($3 / base_rps[$1] - 1); cpu[$2, n[$2]] = 100 * ($4 / base_cpu[$1] - 1)
      tr[$2, n[$2]] = $5; if (!($2 in seen)) { seen[$2] = 1; order[++m] = $2 } }
    function med(a, mode, k,   i, j, t, v) {
        for (i = 1; i <= k; i++) v[i] = a[mode, i]
        for (i = 2; i <= k; i++) { t = v[i]; for (j = i - 1; j >= 1 && v[j] > t; j--) v[j + 1] = v[j]; v[j + 1] = t }
        lo = v[1]; hi = v[k]
        return (k % 2) ? v[(k + 1) / 2] : (v[k / 2] + v[k / 2 + 1]) / 2
    }
    END {
        for (i = 1; i <= m; i++) {
            x = order[i]; k = n[x]
            r = med(rps, x, k); rl = lo; rh = hi
            c = med(cpu, x, k); cl = lo; ch = hi
            t = med(tr, x, k)
            printf "%-10s throughput %+6.1f %% [%+.1f, %+.1f]   server CPU per request %+6.1f %% [%+.1f, %+.1f]   tracer CPU %s ticks\n", x, r, rl, rh, c, cl, ch, t
        }
    }' "$WORK/results"
[ -s "$WORK/memory" ] && echo "perfscope watch peak RSS: $(sort -k2 -n "$WORK/memory" | tail -1)"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
