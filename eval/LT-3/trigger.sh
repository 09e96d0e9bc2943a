#!/bin/bash
# Phones on slow links start syncing photos: three uploaders, each PUTting 3 MB photos one
# after another at about 200 KB/s.
for k in 1 2 3; do
  ( n=0; while :; do n=$((n + 1)); python3 "$CASE_DIR/slowupload.py" "phone$k-$n.jpg"; done ) &
  sleep 0.3
done
wait
