#!/bin/bash
# the recipe's standalone cluster, stock settings: NameNode in the foreground, DataNode a child
exec "$CASE_DIR/../common-hdfs/start-cluster.sh"
