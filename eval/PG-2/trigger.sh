#!/bin/bash
# A new price-sync job goes live: it reprices 20,000 products per statement (one of three
# ranges), one statement after another; each updated row fires the price_changed notification.
. "$WORK/pgenv.sh"
# the port opens a moment before the server accepts sessions
until "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PORT"; do sleep 0.2; done
exec "$PGBIN/pgbench" -n -h 127.0.0.1 -p "$PORT" -U postgres -c 1 -j 1 -T 100000 -P 1 \
  -f "$CASE_DIR/price_sync.sql" postgres
