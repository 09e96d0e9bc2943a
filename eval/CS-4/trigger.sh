#!/bin/bash
exec "$TARGET_SRC/.venv/bin/python" "$CASE_DIR/client.py" orders
