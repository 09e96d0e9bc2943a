#!/bin/bash
# Carol's old phone app still sends her previous password; it retries every 2 s.
U="http://127.0.0.1:$PORT"
while :; do
  curl -s -o /dev/null --max-time 60 -u carol:pw-carol-2023 "$U/api/status.json" &
  sleep 2
done
