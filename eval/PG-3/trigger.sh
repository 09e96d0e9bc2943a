#!/bin/bash
# The mail backlog grows, so four more queue workers are started; they claim jobs as fast
# as they can, so workers now meet rows that another worker has locked and skip them.
. "$WORK/pgenv.sh"
until "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PORT"; do sleep 0.2; done
exec "$PGBIN/pgbench" -n -h 127.0.0.1 -p "$PORT" -U postgres -c 4 -j 1 -T 100000 -P 1 \
  -f "$CASE_DIR/claim.sql" postgres
