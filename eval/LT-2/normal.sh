#!/bin/bash
# Ordinary browsing, about 10 requests/s: pages, the index, HEAD requests, a missing page
# now and then, and the small downloads folder listing every few seconds.
U="http://127.0.0.1:$PORT"
n=0
while :; do
  n=$((n + 1))
  i=$((n % 8 + 1))
  curl -s -o /dev/null --max-time 10 "$U/docs/page$i.txt"
  curl -s -o /dev/null --max-time 10 "$U/"
  curl -s -o /dev/null --max-time 10 -I "$U/docs/page$i.txt"
  if [ $((n % 4)) -eq 0 ]; then curl -s -o /dev/null --max-time 10 "$U/missing$i.html"; fi
  if [ $((n % 6)) -eq 0 ]; then curl -s -o /dev/null --max-time 10 "$U/files/"; fi
  sleep 0.3
done
