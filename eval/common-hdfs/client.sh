#!/bin/bash
# client.sh MODE [ARGS...]: the HD-* cases' client (HdfsClient.java beside this script) with the
# jars of $TARGET_SRC, against 127.0.0.1:$PORT. The first call of a run (normal.sh's) compiles
# it into $WORK/client-classes, so that the trigger's JVM starts without javac; until that is
# there the source is run as a single-file program. Modes: see HdfsClient.java.
here=${BASH_SOURCE[0]%/*}
cp="$TARGET_SRC/conf:$TARGET_SRC/lib/*"
cls=$WORK/client-classes
mkdir -p "$WORK/client-tmp"
if [ ! -f "$cls/.done" ]; then
  tmp=$(mktemp -d "$WORK/client-classes.XXXXXX")
  if javac -J-XX:TieredStopAtLevel=1 -nowarn -XDsuppressNotes -d "$tmp" -cp "$cp" "$here/HdfsClient.java" 2>"$tmp/javac.log"; then
    touch "$tmp/.done"
    mv -T "$tmp" "$cls" 2>/dev/null || rm -rf "$tmp"   # another call got there first
  fi
fi
opts=(-Xmx256m -XX:TieredStopAtLevel=1 -Djava.net.preferIPv4Stack=true
      -Djava.io.tmpdir="$WORK/client-tmp" -Dhadoop.root.logger=WARN,console)
if [ -f "$cls/.done" ]; then
  exec java "${opts[@]}" -cp "$cls:$cp" HdfsClient "$@"
fi
exec java "${opts[@]}" -cp "$cp" "$here/HdfsClient.java" "$@"
