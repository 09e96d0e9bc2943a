#!/bin/bash
# AP-2: Apache httpd (event MPM) serving a public site and a WebDAV share (mod_dav_fs)
# where documents are listed, downloaded and uploaded. As root, httpd's children run as
# nobody.
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
mkdir -p "$BASE/htdocs/docs" "$BASE/share/reports" "$BASE/davlock" "$WORK/run" "$WORK/logs"
printf '<html><body><h1>index</h1>%s</body></html>\n' "$(head -c 900 /dev/zero | tr '\0' 'x')" > "$BASE/htdocs/index.html"
for i in 1 2 3 4 5 6 7 8; do head -c $((i * 700)) /dev/zero | tr '\0' 'a' > "$BASE/htdocs/docs/page$i.txt"; done
for i in $(seq 1 12); do head -c $((i * 4000)) /dev/zero | tr '\0' 'r' > "$BASE/share/reports/report-$i.txt"; done
[ "$(id -u)" = 0 ] && chown -R nobody:nogroup "$BASE/share" "$BASE/davlock"
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
LoadModule dav_module $M/dav/main/.libs/mod_dav.so
LoadModule dav_fs_module $M/dav/fs/.libs/mod_dav_fs.so
LoadModule mime_module $M/http/.libs/mod_mime.so
LoadModule dir_module $M/mappers/.libs/mod_dir.so
LoadModule alias_module $M/mappers/.libs/mod_alias.so
User nobody
Group nogroup
StartServers 2
ThreadsPerChild 25
MaxRequestWorkers 50
KeepAlive On
DocumentRoot "$BASE/htdocs"
DirectoryIndex index.html
TypesConfig "$TARGET_SRC/docs/conf/mime.types"
AddType application/json .json
AddType text/plain .txt
DavLockDB "$BASE/davlock/lockdb"
LimitRequestBody 0
<Directory "$BASE/htdocs">
  Require all granted
</Directory>
Alias /share "$BASE/share"
<Directory "$BASE/share">
  Dav On
  Require all granted
</Directory>
CONF
exec "$TARGET_SRC/httpd" -d "$WORK" -f "$WORK/httpd.conf" -DFOREGROUND
