#!/bin/bash
# CS-1: one Cassandra node whose tables use trie memtables (the memtable implementation that the
# stock 5.0 cassandra.yaml offers as "trie"), with one flush writer and a small memtable space
# (8 MiB, so that a Python bulk loader on a 2-core test node reaches the memtable back-pressure
# limit). The tree's bin/ and conf/ are copied into $WORK and the yaml template is extended; the
# jars are still the tree's (CASSANDRA_HOME).
set -e
mkdir -p "$WORK/tree"
cp -r "$TARGET_SRC/bin" "$TARGET_SRC/conf" "$WORK/tree/"
cat >> "$WORK/tree/conf/cassandra.yaml.in" <<'YAML'

# CS-1: trie memtables for every table, one flush writer, a small memtable space
memtable:
  configurations:
    skiplist:
      class_name: SkipListMemtable
    trie:
      class_name: TrieMemtable
    default:
      inherits: trie
memtable_heap_space: 8MiB
memtable_flush_writers: 1
YAML
# as perfscope is deployed on a JVM: frame pointers, so sampled stacks walk Java frames
export JVM_EXTRA_OPTS="-XX:+PreserveFramePointer ${JVM_EXTRA_OPTS:-}"
CASSANDRA_HOME="$TARGET_SRC" exec "$WORK/tree/bin/cassandra-node" "$WORK/node" 127.0.0.1 "$PORT"
