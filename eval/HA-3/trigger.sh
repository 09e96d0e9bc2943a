#!/bin/bash
# a burst of new connections: 30 clients connecting, asking once and closing, for 6 s
exec python3 "$CASE_DIR/../common/connburst.py" --seconds 6 --conns 30 --request 'GET /docs/page1.txt HTTP/1.0\r\n\r\n'
