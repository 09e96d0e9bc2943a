#!/bin/bash
# MC-3: memcached (the memcached-debug binary that the project's test suite runs) with
# 64 MB of item memory, 4 worker threads, modern defaults.
exec "$TARGET_SRC/memcached-debug" -l 127.0.0.1 -p "$PORT" -U 0 -m 64 -t 4 -o modern -u nobody
