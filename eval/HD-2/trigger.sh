#!/bin/bash
# a write-ahead log: two writers, 100-300 byte records, hflush() after each
exec "$CASE_DIR/../common-hdfs/client.sh" wal
