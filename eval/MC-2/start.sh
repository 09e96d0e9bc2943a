#!/bin/bash
# MC-2: memcached (the memcached-debug binary that the project's test suite runs) with
# 1 GB of item memory, 4 worker threads, modern defaults.
exec "$TARGET_SRC/memcached-debug" -l 127.0.0.1 -p "$PORT" -U 0 -m 1024 -t 4 -o modern -u nobody
