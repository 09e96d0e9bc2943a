#!/bin/bash
# start-cluster.sh [NAME=VALUE...]: the HD-* cases' cluster with the recipe's jars,
# configuration templates and bin/hdfs-datanode: this script execs the JVM that becomes the
# NameNode (HdfsCluster.java beside it: RPC on 127.0.0.1:$PORT, HTTP on an ephemeral port,
# WebHDFS off, NAME=VALUE pairs added to hdfs-site.xml), which starts the DataNode as its
# child; everything under $WORK/cluster. Logs: NameNode on stderr (the harness's start.log),
# DataNode in $WORK/cluster/logs/datanode.log.
#
# Start-up settings, because the harness gives the NameNode's port 30 s on a machine at load
# average 25-50: the name folder is a copy of name-template/ (a format is one more JVM), the
# web pages are unpacked from the tests jar (Jetty otherwise reads through all of it), and the
# JVMs run with C1 only (with C2's compiler threads the port took 10-37 s, without 4-9 s).
# -XX:+PreserveFramePointer lets perfscope's sampled stacks go past the first Java frame.
# The script does nothing before the exec but one mkdir: see HdfsCluster.java for why.
set -eu
here=${BASH_SOURCE[0]%/*}
W=$WORK/cluster
mkdir -p "$W/conf"     # on the class path: it has to exist when the JVM starts
export HDFS_JAVA_OPTS="-XX:TieredStopAtLevel=1 -XX:+PreserveFramePointer ${HDFS_JAVA_OPTS:-}"
# shellcheck disable=SC2086
exec java -Xmx1g -Djava.net.preferIPv4Stack=true -Djava.io.tmpdir="$W/tmp" \
  -Dhadoop.log.dir="$W/logs" -Dhadoop.home.dir="$TARGET_SRC" -Dhadoop.tmp.dir="$W/tmp" \
  -Dhadoop.security.logger=INFO,NullAppender \
  --add-opens=java.base/java.lang=ALL-UNNAMED --add-opens=java.base/java.nio=ALL-UNNAMED \
  $HDFS_JAVA_OPTS -Dhdfs.cases.common="$here" -cp "$W/conf:$TARGET_SRC/lib/*" \
  "$here/HdfsCluster.java" "$@"
