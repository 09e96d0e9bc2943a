#!/bin/bash
# Ordinary shop traffic with the tree's own pgbench: orders, browsing and an occasional
# single-product price change (one notification), 3 clients, 60 tx/s.
. "$WORK/pgenv.sh"
# the port opens a moment before the server accepts sessions
until "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PORT"; do sleep 0.2; done
exec "$PGBIN/pgbench" -n -h 127.0.0.1 -p "$PORT" -U postgres -c 3 -j 1 -T 100000 -R 60 \
  -f "$CASE_DIR/order.sql@6" -f "$CASE_DIR/browse.sql@3" -f "$CASE_DIR/reprice.sql@1" postgres
