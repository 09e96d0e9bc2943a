#!/bin/bash
# Ordinary traffic, about 10 requests/s: public pages, the index, HEAD requests, a missing
# page now and then, and the WebDAV share: folder listings (PROPFIND) and report downloads.
U="http://127.0.0.1:$PORT"
n=0
while :; do
  n=$((n + 1))
  i=$((n % 8 + 1))
  curl -s -o /dev/null --max-time 10 "$U/docs/page$i.txt"
  curl -s -o /dev/null --max-time 10 "$U/"
  curl -s -o /dev/null --max-time 10 -I "$U/docs/page$i.txt"
  if [ $((n % 4)) -eq 0 ]; then curl -s -o /dev/null --max-time 10 "$U/missing$i.html"; fi
  if [ $((n % 3)) -eq 0 ]; then curl -s -o /dev/null --max-time 10 -X PROPFIND -H "Depth: 1" "$U/share/reports/"; fi
  if [ $((n % 2)) -eq 0 ]; then curl -s -o /dev/null --max-time 10 "$U/share/reports/report-$((n % 12 + 1)).txt"; fi
  sleep 0.3
done
