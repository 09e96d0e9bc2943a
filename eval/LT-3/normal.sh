#!/bin/bash
# Ordinary traffic, about 10 requests/s: small pages, the index, HEAD requests, a missing
# page now and then, and every few seconds a small note uploaded with PUT (2 KB, sent at
# once by a client on a fast link).
U="http://127.0.0.1:$PORT"
head -c 2048 /dev/zero | tr '\0' 'n' > note.txt
n=0
while :; do
  n=$((n + 1))
  i=$((n % 8 + 1))
  curl -s -o /dev/null --max-time 10 "$U/docs/page$i.txt"
  curl -s -o /dev/null --max-time 10 "$U/"
  curl -s -o /dev/null --max-time 10 -I "$U/docs/page$i.txt"
  if [ $((n % 4)) -eq 0 ]; then curl -s -o /dev/null --max-time 10 "$U/missing$i.html"; fi
  if [ $((n % 6)) -eq 0 ]; then curl -s -o /dev/null --max-time 10 -T note.txt "$U/uploads/note$i.txt"; fi
  sleep 0.3
done
