#!/bin/bash
# A batch job of another program on the same host: N CPU-bound processes (a shell loop,
# no syscalls) for at most S seconds; the server and its traffic stay as they were.
# Usage: cpuhog.sh N S
n=${1:-3} s=${2:-60}
for _ in $(seq "$n"); do timeout "$s" bash -c 'while :; do :; done' & done
wait
