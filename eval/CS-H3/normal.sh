#!/bin/bash
# the ordinary traffic of CS-H1 (one instance of the shop application)
exec "$TARGET_SRC/.venv/bin/python" "$CASE_DIR/../CS-H1/client.py" normal 1
