#!/bin/bash
# Rough coverage of run-tests.sh runs made with HDFS_TEST_CLASSLOAD_LOG=1: how many distinct
# classes of each HDFS jar the test JVMs loaded (-Xlog:class+load), against how many it holds.
#   suite/classload-count.sh [WORK...]   (a run's HDFS_TEST_WORK; default build/test-run;
#                                          several: the union of their runs)
TREE=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
[ $# -gt 0 ] || set -- "$TREE/build/test-run"
logs=()
for w in "$@"; do logs+=("$w"/jvm-*/classload.log); done
[ -f "${logs[0]}" ] || { echo "no classload.log under $*" >&2; exit 2; }
tmp=$(mktemp)
# "[0.6s][info][class,load] org.apache.X source: file:/.../lib/hadoop-hdfs-3.5.0.jar"
cat "${logs[@]}" | awk '$3 == "source:" {print $2, $4}' | sort -u > "$tmp"
printf '%-34s %8s %8s %6s\n' jar loaded in-jar share
count() {  # count LABEL SOURCE-PATTERN JAR
  local loaded total
  loaded=$(grep -E " .*$2" "$tmp" | awk '{print $1}' | sort -u | wc -l)
  total=$(unzip -Z1 "$TREE/lib/$3" | grep -c '\.class$')
  printf '%-34s %8d %8d %5d%%\n' "$1" "$loaded" "$total" $((100 * loaded / total))
}
count hadoop-hdfs-3.5.0.jar '/lib/hadoop-hdfs-3\.5\.0\.jar$' hadoop-hdfs-3.5.0.jar
count hadoop-hdfs-client-3.5.0.jar '/lib/hadoop-hdfs-client-3\.5\.0\.jar$' hadoop-hdfs-client-3.5.0.jar
count 'tests (test-classes/)' '/test-classes/$' hadoop-hdfs-3.5.0-tests.jar
count hadoop-common-3.5.0.jar '/lib/hadoop-common-3\.5\.0\.jar$' hadoop-common-3.5.0.jar
# org.apache.hadoop.hdfs.* from any jar or folder, lambdas and other hidden classes left out
all=$(awk '$1 ~ /^org\.apache\.hadoop\.hdfs\./ && $1 !~ /\$\$Lambda|\/0x/ {print $1}' "$tmp" | sort -u | wc -l)
top=$(awk '$1 ~ /^org\.apache\.hadoop\.hdfs\./ && $1 !~ /\$/ {print $1}' "$tmp" | sort -u | wc -l)
echo "distinct org.apache.hadoop.hdfs.* classes loaded: $all ($top top-level, the rest nested)"
rm -f "$tmp"
