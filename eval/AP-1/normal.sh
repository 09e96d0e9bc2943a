#!/bin/bash
# Ordinary traffic, about 10 requests/s: public pages, the index, HEAD requests, a missing
# page now and then, and the web front end's API calls (about 2/s, as alice or carol).
U="http://127.0.0.1:$PORT"
n=0
while :; do
  n=$((n + 1))
  i=$((n % 8 + 1))
  curl -s -o /dev/null --max-time 10 "$U/docs/page$i.txt"
  curl -s -o /dev/null --max-time 10 "$U/"
  curl -s -o /dev/null --max-time 10 -I "$U/docs/page$i.txt"
  if [ $((n % 4)) -eq 0 ]; then curl -s -o /dev/null --max-time 10 "$U/missing$i.html"; fi
  if [ $((n % 2)) -eq 0 ]; then curl -s -o /dev/null --max-time 10 -u alice:pw-alice "$U/api/items-$((n % 20 + 1)).json"; fi
  if [ $((n % 5)) -eq 0 ]; then curl -s -o /dev/null --max-time 10 -u carol:pw-carol "$U/api/status.json"; fi
  sleep 0.3
done
