#!/bin/bash
# twice the traffic: a second client with the ordinary mix, without the bulk load
exec python3 "$CASE_DIR/../MC-3/normal.py"
