#!/bin/bash
# Ordinary traffic, about 10 requests/s: small pages, the index, HEAD requests, a missing
# page now and then, and a quick CGI stock lookup (about 1/s; it completes, no client
# gives up on it).
U="http://127.0.0.1:$PORT"
n=0
while :; do
  n=$((n + 1))
  i=$((n % 8 + 1))
  curl -s -o /dev/null --max-time 10 "$U/docs/page$i.txt"
  curl -s -o /dev/null --max-time 10 "$U/"
  curl -s -o /dev/null --max-time 10 -I "$U/docs/page$i.txt"
  if [ $((n % 4)) -eq 0 ]; then curl -s -o /dev/null --max-time 10 "$U/missing$i.html"; fi
  if [ $((n % 3)) -eq 0 ]; then curl -s -o /dev/null --max-time 10 "$U/cgi-bin/stock.sh?$n"; fi
  sleep 0.3
done
