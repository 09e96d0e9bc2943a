#!/bin/bash
# Month end: sixteen users open the monthly report, which now takes longer to build (8 s)
# than the server's CGI read timeout (2 s): most get a 504 after 3-4 s, look at it for a
# moment and ask again. Every timed-out request leaves a report CGI behind (it ignores
# SIGTERM and keeps building the report).
U="http://127.0.0.1:$PORT"
for k in $(seq 1 16); do
  ( while :; do curl -s -o /dev/null --max-time 10 "$U/cgi-bin/report.sh?user=$k"; sleep 1.5; done ) &
  sleep 0.3
done
wait
