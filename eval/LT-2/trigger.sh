#!/bin/bash
# Someone browses the photo archive: its listing is requested over and over (a gallery
# page that refreshes it, one request at a time, 1 s apart).
U="http://127.0.0.1:$PORT"
while :; do
  curl -s -o /dev/null --max-time 60 "$U/archive/photos/"
  sleep 1
done
