#!/bin/bash
# a burst of new connections: 30 clients connecting, asking once and closing, for 8 s
exec python3 "$CASE_DIR/../common/connburst.py" --seconds 8 --conns 30 --request 'GET / HTTP/1.0\r\n\r\n'
