#!/bin/bash
# LT-4: lighttpd serving a small site and two CGI scripts (mod_cgi): a quick stock lookup
# and a slow monthly report that, once started, always finishes writing its cache file
# (it ignores SIGTERM). CGIs that send nothing for 2 s are timed out (cgi.limits).
set -e
mkdir -p "$WORK/www/docs" "$WORK/www/cgi-bin" "$WORK/cache"
printf '<html><body><h1>index</h1>%s</body></html>\n' "$(head -c 900 /dev/zero | tr '\0' 'x')" > "$WORK/www/index.html"
for i in 1 2 3 4 5 6 7 8; do head -c $((i * 700)) /dev/zero | tr '\0' 'a' > "$WORK/www/docs/page$i.txt"; done
cat > "$WORK/www/cgi-bin/stock.sh" <<'CGI'
#!/bin/sh
# quick lookup: answers at once
printf 'Content-Type: text/plain\r\n\r\n'
echo "item ${QUERY_STRING:-none}: 17 in stock"
CGI
cat > "$WORK/www/cgi-bin/report.sh" <<CGI
#!/bin/sh
# monthly report: takes about 8 s to build; once started it finishes and writes its
# cache file even if the request has been given up
trap '' TERM
sleep 8
date > "$WORK/cache/report.txt"
printf 'Content-Type: text/plain\r\n\r\n'
cat "$WORK/cache/report.txt"
CGI
chmod 755 "$WORK/www/cgi-bin/"*.sh
cat > "$WORK/lighttpd.conf" <<CONF
server.modules = ( "mod_cgi", "mod_staticfile" )
server.document-root = "$WORK/www"
server.bind = "127.0.0.1"
server.port = $PORT
server.errorlog = "$WORK/error.log"
index-file.names = ( "index.html" )
mimetype.assign = ( ".html" => "text/html", ".txt" => "text/plain" )
\$HTTP["url"] =~ "^/cgi-bin/" {
  cgi.assign = ( ".sh" => "/bin/sh" )
  cgi.limits = ( "read-timeout" => 2 )
}
CONF
exec "$TARGET_SRC/src/lighttpd" -D -f "$WORK/lighttpd.conf" -m "$TARGET_SRC/src/.libs"
