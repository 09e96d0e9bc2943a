#!/bin/bash
# An old newsletter links to a product that left the catalogue; readers follow the link
# (one every 2 s). The lookup answers NULL for it.
U="http://127.0.0.1:$PORT"
while :; do
  curl -s -o /dev/null --max-time 60 "$U/product/lamp-brass" &
  sleep 2
done
