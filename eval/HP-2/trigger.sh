#!/bin/bash
# routine maintenance, as a cron job or an operator runs it
. "$WORK/pgenv.sh"
for i in 1 2; do
  "$PGBIN/psql" -q -h 127.0.0.1 -p "$PORT" -U postgres -c "CHECKPOINT" -c "VACUUM ANALYZE" postgres > /dev/null
  sleep 3
done
