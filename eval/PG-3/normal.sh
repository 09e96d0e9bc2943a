#!/bin/bash
# Ordinary traffic with the tree's own pgbench: transfers that each queue a receipt mail
# job (2 clients, 40 tx/s), and the one queue worker that claims jobs with
# FOR UPDATE SKIP LOCKED and marks them done (50 claims/s).
. "$WORK/pgenv.sh"
# the port opens a moment before the server accepts sessions
until "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PORT"; do sleep 0.2; done
"$PGBIN/pgbench" -n -h 127.0.0.1 -p "$PORT" -U postgres -c 2 -j 1 -T 100000 -R 40 \
  -f "$CASE_DIR/transfer.sql" postgres &
"$PGBIN/pgbench" -n -h 127.0.0.1 -p "$PORT" -U postgres -c 1 -j 1 -T 100000 -R 50 \
  -f "$CASE_DIR/claim.sql" postgres &
wait
