#!/bin/bash
# RD-2: redis as the page-fragment cache and session store of a web application.
set -e
cat > "$WORK/redis.conf" <<CONF
bind 127.0.0.1
port $PORT
daemonize no
dir $WORK
logfile $WORK/redis.log
save ""
appendonly no
maxmemory 256mb
maxmemory-policy allkeys-lru
CONF
exec "$TARGET_SRC/src/redis-server" "$WORK/redis.conf"
