#!/bin/bash
# AP-3: Apache httpd (event MPM) serving a small shop: public pages, and product pages whose
# friendly URLs (/product/<name>) are mapped to item pages by a RewriteMap program (prg:),
# the catalogue service's name-to-id lookup. As root, httpd's children run as nobody.
set -e
BASE="$WORK"
if [ "$(id -u)" = 0 ]; then
  chmod 755 "$WORK"
  if ! setpriv --reuid=nobody --regid=nogroup --clear-groups -- test -x "$WORK"; then
    # $WORK sits below a directory the unprivileged user cannot enter
    BASE=$(mktemp -d "${TMPDIR:-/tmp}/httpd-case.XXXXXX"); chmod 755 "$BASE"
  fi
fi
M="$TARGET_SRC/modules"
mkdir -p "$BASE/htdocs/docs" "$BASE/htdocs/items" "$WORK/run" "$WORK/logs"
printf '<html><body><h1>shop</h1>%s</body></html>\n' "$(head -c 900 /dev/zero | tr '\0' 'x')" > "$BASE/htdocs/index.html"
for i in 1 2 3 4 5 6 7 8; do head -c $((i * 700)) /dev/zero | tr '\0' 'a' > "$BASE/htdocs/docs/page$i.txt"; done
for i in $(seq 1 40); do printf '<html><body><h1>item %d</h1>%s</body></html>\n' "$i" "$(head -c $((i * 50)) /dev/zero | tr '\0' 'i')" > "$BASE/htdocs/items/$i.html"; done
echo '<html><body><h1>this product is no longer available</h1></body></html>' > "$BASE/htdocs/items/unknown.html"
# the name-to-id lookup: 40 products in the catalogue, one answer line per request line,
# NULL for a name it does not know
cat > "$WORK/productmap.py" <<'PY'
#!/usr/bin/python3
import sys
names = ["lamp", "chair", "table", "shelf", "desk", "stool", "bench", "sofa", "bed", "rug"]
colours = ["oak", "white", "black", "grey"]
catalogue = {}
for n, name in enumerate(names):
    for c, colour in enumerate(colours):
        catalogue["%s-%s" % (name, colour)] = str(n * 4 + c + 1)
for line in sys.stdin:
    sys.stdout.write(catalogue.get(line.strip(), "NULL") + "\n")
    sys.stdout.flush()
PY
chmod 755 "$WORK/productmap.py"
cat > "$WORK/httpd.conf" <<CONF
ServerRoot "$WORK"
ServerName localhost
Listen 127.0.0.1:$PORT
PidFile "$WORK/run/httpd.pid"
DefaultRuntimeDir "$WORK/run"
ErrorLog "$WORK/logs/error.log"
LogLevel warn
LoadModule unixd_module $M/arch/unix/.libs/mod_unixd.so
LoadModule authz_core_module $M/aaa/.libs/mod_authz_core.so
LoadModule mime_module $M/http/.libs/mod_mime.so
LoadModule dir_module $M/mappers/.libs/mod_dir.so
LoadModule rewrite_module $M/mappers/.libs/mod_rewrite.so
User nobody
Group nogroup
StartServers 2
ThreadsPerChild 25
MaxRequestWorkers 50
KeepAlive On
DocumentRoot "$BASE/htdocs"
DirectoryIndex index.html
TypesConfig "$TARGET_SRC/docs/conf/mime.types"
AddType text/plain .txt
<Directory "$BASE/htdocs">
  Require all granted
</Directory>
RewriteEngine On
RewriteMap products "prg:$WORK/productmap.py"
RewriteRule "^/product/([a-z0-9-]+)$" "/items/\${products:\$1|unknown}.html" [PT]
CONF
exec "$TARGET_SRC/httpd" -d "$WORK" -f "$WORK/httpd.conf" -DFOREGROUND
