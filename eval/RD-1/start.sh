#!/bin/bash
# RD-1: redis as a session store with a memory limit. Only keys with a TTL may be evicted
# (volatile-lru); eviction frees large values in the background (lazyfree-lazy-eviction)
# and may take as long as it needs (maxmemory-eviction-tenacity 100).
set -e
cat > "$WORK/redis.conf" <<CONF
bind 127.0.0.1
port $PORT
daemonize no
dir $WORK
logfile $WORK/redis.log
save ""
appendonly no
maxmemory 128mb
maxmemory-policy volatile-lru
maxmemory-eviction-tenacity 100
lazyfree-lazy-eviction yes
CONF
exec "$TARGET_SRC/src/redis-server" "$WORK/redis.conf"
