#!/bin/bash
# Ordinary traffic, about 10 requests/s: public pages, the index, HEAD requests, a missing
# page now and then, and product pages by their friendly names (about 3/s, all of them
# products in the catalogue).
U="http://127.0.0.1:$PORT"
names=(lamp chair table shelf desk stool bench sofa bed rug)
colours=(oak white black grey)
n=0
while :; do
  n=$((n + 1))
  i=$((n % 8 + 1))
  curl -s -o /dev/null --max-time 10 "$U/docs/page$i.txt"
  curl -s -o /dev/null --max-time 10 "$U/"
  curl -s -o /dev/null --max-time 10 "$U/product/${names[$((n % 10))]}-${colours[$((n % 4))]}"
  curl -s -o /dev/null --max-time 10 -I "$U/docs/page$i.txt"
  if [ $((n % 4)) -eq 0 ]; then curl -s -o /dev/null --max-time 10 "$U/missing$i.html"; fi
  if [ $((n % 2)) -eq 0 ]; then curl -s -o /dev/null --max-time 10 "$U/product/${names[$((n * 3 % 10))]}-${colours[$((n / 2 % 4))]}"; fi
  sleep 0.3
done
