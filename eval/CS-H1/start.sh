#!/bin/bash
# CS-H1: one Cassandra node with the recipe's stock settings.
exec "$TARGET_SRC/bin/cassandra-node" "$WORK/node" 127.0.0.1 "$PORT"
