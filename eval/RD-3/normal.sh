#!/bin/bash
# the client reconnects if the server drops or times out the connection
while :; do
  python3 "$CASE_DIR/normal.py"
  sleep 1
done
