#!/bin/bash
# a new release's schema migration (one client session, DDL in order, then it ends)
exec "$TARGET_SRC/.venv/bin/python" "$CASE_DIR/migrate.py"
