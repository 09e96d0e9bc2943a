#!/bin/bash
# PG-3: install the built tree into a private prefix, initdb, create the schema in
# single-user mode, then run the postmaster in the foreground on 127.0.0.1:$PORT.
# postgres refuses to run as root, so as root the server runs as nobody.
set -e
BASE="$WORK"
RUNAS=()
if [ "$(id -u)" = 0 ]; then
  RUNAS=(setpriv --reuid=nobody --regid=nogroup --clear-groups --)
  chmod 755 "$WORK"
  if ! "${RUNAS[@]}" test -x "$WORK"; then
    # $WORK sits below a directory the unprivileged user cannot enter
    BASE=$(mktemp -d "${TMPDIR:-/tmp}/pg-case.XXXXXX"); chmod 755 "$BASE"
  fi
fi
PGI="$BASE/pginst"
make -s -C "$TARGET_SRC" install DESTDIR="$PGI" > "$WORK/install.log" 2>&1
BIN=$(dirname "$(find "$PGI" -path '*/bin/postgres' -type f | head -1)")
LIB=$(dirname "$(find "$PGI" -name 'libpq.so.5' | head -1)")
printf 'export PGBIN="%s"\nexport LD_LIBRARY_PATH="%s"\n' "$BIN" "$LIB" > "$WORK/pgenv.sh"
DATA="$BASE/pgdata"
mkdir -p "$DATA"
[ ${#RUNAS[@]} -eq 0 ] || chown nobody:nogroup "$DATA"
"${RUNAS[@]}" "$BIN/initdb" -D "$DATA" -U postgres --auth=trust -N -E UTF8 --locale=C > "$WORK/initdb.log" 2>&1
cat >> "$DATA/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = ''
shared_buffers = 64MB
max_connections = 40
fsync = on
synchronous_commit = on
CONF
"${RUNAS[@]}" "$BIN/postgres" --single -D "$DATA" postgres < "$CASE_DIR/schema.sql" > "$WORK/schema.log" 2>&1
exec "${RUNAS[@]}" "$BIN/postgres" -D "$DATA"
