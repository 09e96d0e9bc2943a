#!/bin/bash
# maintenance, over and over: flush every memtable to sstables, then compact them
# (each nodetool call is a short-lived client JVM talking JMX to the node)
while true; do
    "$TARGET_SRC/bin/nodetool" "$WORK/node" flush
    "$TARGET_SRC/bin/nodetool" "$WORK/node" compact
    sleep 1
done
