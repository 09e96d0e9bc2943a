#!/bin/bash
# a burst of short-lived clients: 4 at a time for 15 s, each a new session doing one read
exec "$TARGET_SRC/.venv/bin/python" "$CASE_DIR/burst.py" 4 15
