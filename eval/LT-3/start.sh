#!/bin/bash
# LT-3: lighttpd serving a small site and a WebDAV upload folder (PUT).
set -e
mkdir -p "$WORK/www/docs" "$WORK/www/uploads"
printf '<html><body><h1>index</h1>%s</body></html>\n' "$(head -c 900 /dev/zero | tr '\0' 'x')" > "$WORK/www/index.html"
for i in 1 2 3 4 5 6 7 8; do head -c $((i * 700)) /dev/zero | tr '\0' 'a' > "$WORK/www/docs/page$i.txt"; done
head -c 16384 /dev/zero | tr '\0' 'm' > "$WORK/www/docs/medium.txt"
cat > "$WORK/lighttpd.conf" <<CONF
server.modules = ( "mod_webdav", "mod_staticfile" )
server.document-root = "$WORK/www"
server.bind = "127.0.0.1"
server.port = $PORT
server.errorlog = "$WORK/error.log"
index-file.names = ( "index.html" )
mimetype.assign = ( ".html" => "text/html", ".txt" => "text/plain", ".jpg" => "image/jpeg" )
\$HTTP["url"] =~ "^/uploads/" {
  webdav.activate = "enable"
}
CONF
exec "$TARGET_SRC/src/lighttpd" -D -f "$WORK/lighttpd.conf" -m "$TARGET_SRC/src/.libs"
