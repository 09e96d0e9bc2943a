#!/bin/bash
# a backup job: archives the folders of eight hosts into HDFS, one host after the other, with
# the recipe's shell (`hdfs dfs -put -`, a new client JVM per file, reading a tar stream), then
# checks the total with `hdfs dfs -du` and ends. Here each host's folders are the tree's lib/
# (112 MB) and its sources (49 MB): about 160 MB per host, 1.3 GB in all, each file one
# block. One line per file: its folder's size, the put's exit status and time.
cli=$TARGET_SRC/bin/hdfs-cli
day=/backup/$(date +%Y%m%d)
for host in web1 web2 web3 web4 app1 app2 db1 db2; do
  for d in lib hadoop-hdfs-project; do
    t0=$(date +%s.%N)
    tar -C "$TARGET_SRC" -cf - "$d" | "$cli" "$WORK/cluster" dfs -put - "$day/$host/$d.tar"
    rc=${PIPESTATUS[1]}
    t1=$(date +%s.%N)
    mb=$(du -sbL "$TARGET_SRC/$d" | awk '{printf "%.0f", $1 / 1e6}')
    echo "$(date +%H:%M:%S) backup $host: $day/$host/$d.tar (${mb} MB), put exit $rc, $(echo "$t1 - $t0" | bc) s"
  done
done
echo "$(date +%H:%M:%S) backup done: $("$cli" "$WORK/cluster" dfs -du -s "$day" 2>&1 | tail -n 1)"
