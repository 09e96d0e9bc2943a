#!/bin/bash
# RD-3: redis behind a game service, with a memory limit. Only keys with a TTL may be
# evicted (volatile-lru), and evicted large values are freed in the background
# (lazyfree-lazy-eviction). Eviction tenacity stays at its default.
set -e
cat > "$WORK/redis.conf" <<CONF
bind 127.0.0.1
port $PORT
daemonize no
dir $WORK
logfile $WORK/redis.log
save ""
appendonly no
maxmemory 100mb
maxmemory-policy volatile-lru
lazyfree-lazy-eviction yes
CONF
exec "$TARGET_SRC/src/redis-server" "$WORK/redis.conf"
