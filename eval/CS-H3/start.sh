#!/bin/bash
# CS-H3: one Cassandra node with the recipe's stock settings (as CS-H1).
# as perfscope is deployed on a JVM: frame pointers, so sampled stacks walk Java frames
export JVM_EXTRA_OPTS="-XX:+PreserveFramePointer ${JVM_EXTRA_OPTS:-}"
exec "$TARGET_SRC/bin/cassandra-node" "$WORK/node" 127.0.0.1 "$PORT"
