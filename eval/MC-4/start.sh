#!/bin/bash
# memcached (the memcached-debug binary that the project's test suite runs) with 256 MB of
# item memory, 4 worker threads, modern defaults (segmented LRU, LRU crawler on).
exec "$TARGET_SRC/memcached-debug" -l 127.0.0.1 -p "$PORT" -U 0 -m 256 -t 4 -o modern -u nobody
