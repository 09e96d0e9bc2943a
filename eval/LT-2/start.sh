#!/bin/bash
# LT-2: lighttpd serving a small site, a small browsable downloads folder and a large
# browsable photo archive (directory listings on for both folders).
set -e
mkdir -p "$WORK/www/docs" "$WORK/www/files" "$WORK/www/archive/photos"
printf '<html><body><h1>index</h1>%s</body></html>\n' "$(head -c 900 /dev/zero | tr '\0' 'x')" > "$WORK/www/index.html"
for i in 1 2 3 4 5 6 7 8; do head -c $((i * 700)) /dev/zero | tr '\0' 'a' > "$WORK/www/docs/page$i.txt"; done
for i in $(seq 1 15); do head -c $((i * 300)) /dev/zero | tr '\0' 'f' > "$WORK/www/files/release-notes-$i.txt"; done
# the archive: 25,000 photos, as years of camera imports leave them (hard links to a few
# placeholder images: creating 25,000 inodes takes too long on a busy disk)
python3 - "$WORK/www/archive/photos" <<'PY'
import os, sys
d = sys.argv[1]
for j in range(25):
    open(os.path.join(d, "IMG_%05d.jpg" % (j * 1000 + 1)), "wb").write(b"\xff\xd8" + bytes(j * 40))
for i in range(25000):
    if i % 1000:
        os.link(os.path.join(d, "IMG_%05d.jpg" % (i - i % 1000 + 1)), os.path.join(d, "IMG_%05d.jpg" % (i + 1)))
PY
cat > "$WORK/lighttpd.conf" <<CONF
server.modules = ( "mod_dirlisting", "mod_staticfile" )
server.document-root = "$WORK/www"
server.bind = "127.0.0.1"
server.port = $PORT
server.errorlog = "$WORK/error.log"
index-file.names = ( "index.html" )
mimetype.assign = ( ".html" => "text/html", ".txt" => "text/plain", ".jpg" => "image/jpeg" )
\$HTTP["url"] =~ "^/(files|archive)/" {
  dir-listing.activate = "enable"
}
CONF
exec "$TARGET_SRC/src/lighttpd" -D -f "$WORK/lighttpd.conf" -m "$TARGET_SRC/src/.libs"
