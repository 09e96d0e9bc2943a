#!/bin/bash
# a second instance of the same application starts (its own connections, same request mix)
exec "$TARGET_SRC/.venv/bin/python" "$CASE_DIR/client.py" normal 2
