#!/bin/bash
# a burst of new connections: 40 clients connecting, asking once and closing, for 6 s
exec python3 "$CASE_DIR/../common/connburst.py" --seconds 6 --conns 40 --request 'PING\r\n'
