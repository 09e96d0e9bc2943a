#!/bin/bash
# AP-1: Apache httpd (event MPM) serving a public site and a small JSON API behind HTTP
# Basic authentication (bcrypt password file, credentials cached with mod_authn_socache).
# As root, httpd's children run as nobody.
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
mkdir -p "$BASE/htdocs/docs" "$BASE/htdocs/api" "$WORK/run" "$WORK/logs"
printf '<html><body><h1>index</h1>%s</body></html>\n' "$(head -c 900 /dev/zero | tr '\0' 'x')" > "$BASE/htdocs/index.html"
for i in 1 2 3 4 5 6 7 8; do head -c $((i * 700)) /dev/zero | tr '\0' 'a' > "$BASE/htdocs/docs/page$i.txt"; done
for i in $(seq 1 20); do printf '{"page": %d, "items": [%s]}\n' "$i" "$(seq -s, $((i * 10)) $((i * 10 + 9)))" > "$BASE/htdocs/api/items-$i.json"; done
echo '{"status": "ok"}' > "$BASE/htdocs/api/status.json"
"$TARGET_SRC/support/htpasswd" -cbB -C 10 "$WORK/users" alice pw-alice 2>/dev/null
for u in bob carol sync; do "$TARGET_SRC/support/htpasswd" -bB -C 10 "$WORK/users" "$u" "pw-$u" 2>/dev/null; done
chmod 644 "$WORK/users"
cat > "$WORK/httpd.conf" <<CONF
ServerRoot "$WORK"
ServerName localhost
Listen 127.0.0.1:$PORT
PidFile "$WORK/run/httpd.pid"
DefaultRuntimeDir "$WORK/run"
ErrorLog "$WORK/logs/error.log"
LogLevel warn
LoadModule unixd_module $M/arch/unix/.libs/mod_unixd.so
LoadModule authn_core_module $M/aaa/.libs/mod_authn_core.so
LoadModule authn_file_module $M/aaa/.libs/mod_authn_file.so
LoadModule authn_socache_module $M/aaa/.libs/mod_authn_socache.so
LoadModule authz_core_module $M/aaa/.libs/mod_authz_core.so
LoadModule authz_user_module $M/aaa/.libs/mod_authz_user.so
LoadModule auth_basic_module $M/aaa/.libs/mod_auth_basic.so
LoadModule socache_shmcb_module $M/cache/.libs/mod_socache_shmcb.so
LoadModule mime_module $M/http/.libs/mod_mime.so
LoadModule dir_module $M/mappers/.libs/mod_dir.so
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
AuthnCacheSOCache shmcb
<Directory "$BASE/htdocs">
  Require all granted
</Directory>
<Location "/api">
  AuthType Basic
  AuthName "api"
  AuthBasicProvider socache file
  AuthUserFile "$WORK/users"
  AuthnCacheProvideFor file
  AuthnCacheTimeout 600
  Require valid-user
</Location>
CONF
exec "$TARGET_SRC/httpd" -d "$WORK" -f "$WORK/httpd.conf" -DFOREGROUND
