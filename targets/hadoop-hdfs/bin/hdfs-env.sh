# Sourced by the other bin/ scripts: the tree, the class path of a standalone daemon or client.
#   hdfs_java WORK MAIN_CLASS [ARGS...]  execs java with WORK/conf first on the class path
# JAVA (default java), HDFS_HEAP (default 1g), HDFS_JAVA_OPTS (extra JVM options).
TREE=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
hdfs_java() {
  local work=$1 main=$2; shift 2
  [ -f "$work/conf/hdfs-site.xml" ] || { echo "no $work/conf/hdfs-site.xml: run bin/hdfs-conf $work PORT first" >&2; exit 2; }
  mkdir -p "$work/logs" "$work/tmp"
  # the daemons' web pages (webapps/hdfs, datanode, static): Maven Central ships them only in
  # the tests jar, which is not on the class path (below)
  if [ ! -d "$work/webapps-cp/webapps" ]; then
    unzip -q -o "$TREE/lib/hadoop-hdfs-3.5.0-tests.jar" 'webapps/*' -d "$work/webapps-cp.tmp" &&
      mv "$work/webapps-cp.tmp" "$work/webapps-cp"
  fi
  # shellcheck disable=SC2086
  exec "${JAVA:-java}" -Xmx"${HDFS_HEAP:-1g}" -Djava.net.preferIPv4Stack=true \
    -Djava.io.tmpdir="$work/tmp" -Dhadoop.log.dir="$work/logs" -Dhadoop.home.dir="$TREE" \
    -Dhadoop.tmp.dir="$work/tmp" -Dhadoop.security.logger=INFO,NullAppender \
    --add-opens=java.base/java.lang=ALL-UNNAMED --add-opens=java.base/java.nio=ALL-UNNAMED \
    ${HDFS_JAVA_OPTS:-} -cp "$work/conf:$work/webapps-cp:$(hdfs_classpath)" "$main" "$@"
}
# The jars of lib/ that a daemon or client runs on: all but the tests' own (tests jars,
# JUnit, Mockito and their helpers). A NameNode's WebHDFS start-up (Jersey) reads through
# every jar that holds its resource packages, the hadoop-hdfs tests jar among them: without
# the tests jars the NameNode opens its RPC port sooner (a 30 s readiness limit matters on a
# busy machine). The web pages of the tests jar are unpacked into WORK/webapps-cp instead.
hdfs_classpath() {
  local cp="" j
  for j in "$TREE"/lib/*.jar; do
    case ${j##*/} in
      *-tests.jar|junit-*|mockito-*|opentest4j-*|apiguardian-*|assertj-*|byte-buddy*|objenesis-*|curator-test-*) ;;
      *) cp+="${cp:+:}$j" ;;
    esac
  done
  printf '%s' "$cp"
}
