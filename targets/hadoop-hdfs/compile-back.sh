#!/bin/bash
# compile-back.sh: bring source changes made in the tree (e.g. by `patch -p1`) into the jars the
# tests and the standalone cluster run, without building Hadoop. Run it in the tree (it works on
# the tree it lies in, from anywhere).
#
# For each module below, every file under src/main/java (or src/test/java) and
# src/main/resources (src/test/resources) that differs from the pristine copy made at fetch
# time (.pristine/, see pom.xml), or is new, is taken:
#   *.java        compiled with javac --release N (N from the class-file version of the jar)
#                 against lib/* (only the changed files: -implicit:none), the classes put
#                 into the module's jar with `jar uf`
#   anything else put into the jar as it is (e.g. hdfs-default.xml)
# The jar is first reset to the pristine download, so a reverted patch leaves no trace.
# Nothing changed in a module: its jar is left alone (it stays byte-identical to the download;
# if it differs, because a patch was reverted, it is reset to the download).
# Deleted sources are reported and otherwise ignored (their classes stay in the jar).
#
# Exit status: 0 done (or nothing to do), 1 a compile error (the jar is then the pristine one).
set -euo pipefail
TREE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$TREE"
JAVAC=${JAVAC:-javac}
JAR=${JAR:-jar}
V=3.5.0

# module source root (relative)                     jar in lib/ (also in .pristine/lib/)
MODULES=(
  "hadoop-hdfs-project/hadoop-hdfs/src/main         hadoop-hdfs-$V.jar"
  "hadoop-hdfs-project/hadoop-hdfs-client/src/main  hadoop-hdfs-client-$V.jar"
  "hadoop-hdfs-project/hadoop-hdfs/src/test         hadoop-hdfs-$V-tests.jar"
)

changed_files() {  # changed_files DIR -> relative paths of files that differ from .pristine/DIR
  local dir=$1 line p
  [ -d "$dir" ] || return 0
  # one diff -rq over the whole folder (file names in these trees have no blanks)
  LC_ALL=C diff -rq ".pristine/$dir" "$dir" | while read -r line; do
    case $line in
      "Files .pristine/$dir/"*" differ") p=${line#"Files .pristine/$dir/"}; echo "${p%% and *}" ;;
      "Only in $dir"*) # a new file or folder in the tree
        p=${line#Only in }; p=${p%%: *}/${p#*: }
        find "$p" -type f | sed "s|^$dir/||" ;;
    esac
  done | sort
}

release_of() {  # javac --release matching the class files of a jar
  local cls major
  cls=$(unzip -Z1 "$1" | grep -m1 '\.class$')
  major=$(unzip -p "$1" "$cls" | od -An -j6 -N2 -tu1 | awk '{print $1 * 256 + $2}')
  echo $((major - 44))
}

status=0
for m in "${MODULES[@]}"; do
  read -r root jarname <<<"$m"
  jar=lib/$jarname
  orig=.pristine/lib/$jarname
  mapfile -t java < <(changed_files "$root/java" | grep '\.java$' || true)
  mapfile -t res < <(changed_files "$root/resources")
  # sources deleted by a patch
  LC_ALL=C diff -rq ".pristine/$root" "$root" 2>/dev/null | sed -n "s|^Only in .pristine/||p" |
    sed 's|: |/|; s|^|compile-back: deleted by the patch, its classes stay in the jar: |' >&2 || true
  if [ ${#java[@]} -eq 0 ] && [ ${#res[@]} -eq 0 ]; then
    if ! cmp -s "$jar" "$orig"; then
      echo "compile-back: $root unchanged, resetting $jar to the download"
      cp -p "$orig" "$jar"
    fi
    continue
  fi
  out=build/compile-back/$(echo "$root" | tr / _)
  rm -rf "$out"; mkdir -p "$out/classes"
  cp -p "$orig" "$jar"
  if [ ${#java[@]} -gt 0 ]; then
    rel=$(release_of "$orig")
    echo "compile-back: $root: javac --release $rel, ${#java[@]} file(s): ${java[*]}"
    # the module's other classes come from its (pristine) jar in lib/*; the changed files are
    # compiled alone (-implicit:none), nothing else is recompiled
    if ! "$JAVAC" --release "$rel" -nowarn -Xlint:none -proc:none -implicit:none -encoding UTF-8 \
         -g -cp "lib/*" -d "$out/classes" "${java[@]/#/$root/java/}"; then
      echo "compile-back: javac failed; $jar is the pristine download" >&2
      status=1
      continue
    fi
  fi
  for f in "${res[@]}"; do
    echo "compile-back: $root: resource $f"
    mkdir -p "$out/classes/$(dirname "$f")"
    cp -p "$root/resources/$f" "$out/classes/$f"
  done
  n=$(find "$out/classes" -type f | wc -l)
  "$JAR" uf "$jar" -C "$out/classes" .
  echo "compile-back: $jar updated with $n file(s)"
done
exit $status
