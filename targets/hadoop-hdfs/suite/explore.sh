#!/bin/bash
# How suite/full.txt was found: run candidate test classes in batches (one JVM per batch, as
# run-tests.sh does), several batches in parallel, and record the result and time per class.
#
#   suite/explore.sh CLASSLIST OUTDIR [PARALLEL=3] [BATCH=8] [JVM_TIMEOUT_S=1200]
#
# CLASSLIST: fully-qualified class names, one a line (suite/all-classes.sh prints all of them).
# OUTDIR/results.tsv gets one line per class as its batch ends:
#   class  PASS|FAIL|NORES|KILLED  seconds(sum of its test times)  tests  failed  skipped  first-failure
# KILLED: a test of the class was running when the batch JVM hit JVM_TIMEOUT; NORES: no result
# (e.g. the class had not started when the JVM was killed); run those again one by
# one (BATCH=1). A class already in results.tsv is not run again, so a stopped exploration can
# go on. OUTDIR/logs/ keeps the XML report of every batch (per-method times) and the gzipped
# output of batches with a failure.
# Test methods without their own @Timeout get HDFS_TEST_METHOD_TIMEOUT (default here 120s).
set -u
TREE=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LIST=$1 OUT=$2 PAR=${3:-3} BATCH=${4:-8} TMO=${5:-1200}
mkdir -p "$OUT/logs" "$OUT/w" "$OUT/batches"
touch "$OUT/results.tsv"
grep -v '^#' "$LIST" | grep -v '^$' | while read -r c; do
  grep -q "^$c	" "$OUT/results.tsv" || echo "$c"
done > "$OUT/todo.txt"
rm -f "$OUT"/batches/b-*
split -l "$BATCH" -d -a 4 "$OUT/todo.txt" "$OUT/batches/b-"

batch() {
  local b=$1 name w t0 wall
  name=$(basename "$b"); w="$OUT/w/$name"
  t0=$(date +%s)
  HDFS_TEST_WORK=$w HDFS_TEST_JVM_TIMEOUT=$TMO HDFS_TEST_CLASSES_PER_JVM=1000 \
    HDFS_TEST_METHOD_TIMEOUT=${HDFS_TEST_METHOD_TIMEOUT:-120s} \
    "$TREE/suite/run-tests.sh" "$b" > "$w.summary" 2>&1
  wall=$(( $(date +%s) - t0 ))
  echo "$name $wall s: $(tr '\n' ' ' < "$b")" >> "$OUT/batches.log"
  local killed=0
  grep -q "killed by HDFS_TEST_JVM_TIMEOUT" "$w.summary" && killed=1
  while read -r c; do
    local line res tests failed skipped secs rest
    line=$(grep -E "^(PASS|FAIL|NORES|KILLED) +$c " "$w.summary" | head -1)
    read -r res _ tests failed skipped secs rest <<<"$line"
    [ -z "$res" ] && res=NORES
    [ $killed = 1 ] && [ "$res" = NORES ] && res=KILLED
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$c" "$res" "${secs:-0}" "${tests:-0}" "${failed:-0}" \
      "${skipped:-0}" "${rest:0:200}" >> "$OUT/results.tsv"
  done < "$b"
  cp "$w"/jvm-00/reports/TEST-junit-jupiter.xml "$OUT/logs/$name.xml" 2>/dev/null
  if grep -qE '^(FAIL|NORES)|^problem' "$w.summary"; then
    cat "$w.summary" "$w"/jvm-00/output.log 2>/dev/null | gzip > "$OUT/logs/$name.log.gz"
  fi
  rm -rf "$w" "$w.summary"
}
export -f batch; export OUT TMO TREE
ls "$OUT"/batches/b-* 2>/dev/null | xargs -r -P "$PAR" -I{} bash -c 'batch {}'
