#!/bin/bash
# an operator's routine checks with the recipe's tools (bin/hdfs-cli, as `hdfs dfsadmin` and
# `hdfs dfs`), over and over: cluster report, namespace counts and sizes, a recursive listing
# of the whole tree, and an edit log roll; one line per command: exit status and time
cli=$TARGET_SRC/bin/hdfs-cli
run() {
  local t0 t1 rc out
  t0=$(date +%s.%N)
  out=$("$cli" "$WORK/cluster" "$@" 2>&1)
  rc=$?
  t1=$(date +%s.%N)
  echo "$(date +%H:%M:%S) $* : exit $rc, $(echo "$t1 - $t0" | bc) s, $(wc -l <<<"$out") lines${1:+, }$(tail -n 1 <<<"$out" | cut -c1-100)"
}
while true; do
  run dfsadmin -report
  run dfs -count -q -h /
  run dfs -du -s -h /app /app/data /app/meta
  run dfs -ls -R /
  run dfsadmin -rollEdits
  sleep 1
done
