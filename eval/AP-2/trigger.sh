#!/bin/bash
# The nightly backup job starts: two uploaders PUT 16 MB archives to the share, one after
# another (half a second apart).
U="http://127.0.0.1:$PORT"
head -c $((16 * 1024 * 1024)) /dev/zero | tr '\0' 'b' > archive.bin
for w in 1 2; do
  ( n=0; while :; do n=$((n + 1)); curl -s -o /dev/null --max-time 300 -T archive.bin "$U/share/backup-$w-$n.bin"; sleep 0.5; done ) &
done
wait
