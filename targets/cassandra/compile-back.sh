#!/usr/bin/env bash
# compile-back.sh: make lib/cassandra-all-VERSION.jar match src/java/.
#
# Run in the tree (cassandra-VERSION/, the folder with lib/, src/java/ and pristine/), or give
# the tree as the only argument. The reference is pristine/, laid down at fetch time by
# `mvn dependency:copy@pristine`: the untouched cassandra-all jar and its sources jar.
#
#  1. Every .java under src/java/ whose content differs from the same entry of the pristine
#     sources jar, or that the sources jar does not have, is "changed".
#  2. No changed file: lib/cassandra-all-VERSION.jar is left alone if it is byte-identical to
#     the pristine jar (the normal case: nothing is done); if an earlier run had patched it, the
#     pristine jar is copied back.
#  3. Otherwise the changed files are compiled together with javac against the pristine jar,
#     every other jar of lib/ and compile-lib/ (the compile-only annotations jar; no source
#     path: unchanged classes come from the jar), with
#     --release equal to the class-file version of the jar (55 = Java 11 for 5.0.x), and the
#     classes written into a copy of the pristine jar (jar uf) that then replaces lib/'s.
#     Starting from the pristine jar every time makes the result depend only on src/java/.
#     --release hides JDK-internal packages; when it fails (4 files of 5.0 use jdk.internal.ref,
#     sun.nio.ch or sun.rmi.registry), javac is run again with --source/--target N and the
#     --add-exports those files need (as the upstream build compiles them).
#
# Exit status: 0 on success (also when nothing changed), 1 when javac fails (lib/ untouched).
set -euo pipefail

tree=${1:-$PWD}
cd "$tree"
shopt -s nullglob
jars=(pristine/cassandra-all-*[0-9].jar)
[ ${#jars[@]} -eq 1 ] || { echo "compile-back: expected one pristine/cassandra-all-VERSION.jar in $PWD" >&2; exit 2; }
pristine_jar=${jars[0]}
version=${pristine_jar#pristine/cassandra-all-}; version=${version%.jar}
pristine_src=pristine/cassandra-all-$version-sources.jar
jar=lib/cassandra-all-$version.jar
[ -f "$pristine_src" ] || { echo "compile-back: missing $pristine_src" >&2; exit 2; }
[ -d src/java ] || { echo "compile-back: missing src/java" >&2; exit 2; }

work=.compile-back
mkdir -p "$work"

# checksum list of the pristine sources, made once from the sources jar (not from src/java,
# which may already be patched)
if [ ! -s "$work/pristine-sources.sha256" ] || [ "$work/pristine-sources.sha256" -ot "$pristine_src" ]; then
  rm -rf "$work/pristine-src"
  mkdir -p "$work/pristine-src"
  unzip -q "$pristine_src" '*.java' -d "$work/pristine-src"
  (cd "$work/pristine-src" && find . -name '*.java' -print0 | sort -z | xargs -0 sha256sum) > "$work/pristine-sources.sha256.tmp"
  mv "$work/pristine-sources.sha256.tmp" "$work/pristine-sources.sha256"
  rm -rf "$work/pristine-src"
fi

(cd src/java && find . -name '*.java' -print0 | sort -z | xargs -0 sha256sum) > "$work/current.sha256"
# lines of current.sha256 not in the pristine list = changed or new files
mapfile -t changed < <(sort "$work/pristine-sources.sha256" | comm -13 - <(sort "$work/current.sha256") | sed 's/^[0-9a-f]*  \.\///')
missing=$(awk '{print $2}' "$work/pristine-sources.sha256" | sort | comm -23 - <(awk '{print $2}' "$work/current.sha256" | sort) | wc -l)
[ "$missing" -eq 0 ] || echo "compile-back: note: $missing pristine source file(s) removed from src/java (their classes stay in the jar)" >&2

if [ ${#changed[@]} -eq 0 ]; then
  if cmp -s "$pristine_jar" "$jar"; then
    echo "compile-back: no changed sources; $jar is the pristine jar, nothing to do"
  else
    cp -p "$pristine_jar" "$jar"
    echo "compile-back: no changed sources; restored the pristine $jar"
  fi
  exit 0
fi

echo "compile-back: ${#changed[@]} changed source file(s):"
printf '  src/java/%s\n' "${changed[@]}"

# --release N from the class-file major version of a class in the jar (major - 44)
probe=$(unzip -Z1 "$pristine_jar" 'org/apache/cassandra/*.class' | sed -n 1p)
major=$(unzip -p "$pristine_jar" "$probe" | od -An -j6 -N2 -tu1 | awk '{print $1 * 256 + $2}')
release=$((major - 44))

cp_entries=("$PWD/$pristine_jar")
for j in lib/*.jar; do [ "$j" = "$jar" ] || cp_entries+=("$PWD/$j"); done
for j in compile-lib/*.jar; do cp_entries+=("$PWD/$j"); done   # compile-only (provided) jars
classpath=$(IFS=:; echo "${cp_entries[*]}")

srcs=()
for f in "${changed[@]}"; do srcs+=("src/java/$f"); done
common=(-encoding UTF-8 -proc:none -implicit:none -nowarn -g -sourcepath '' -cp "$classpath" -d "$work/classes")

rm -rf "$work/classes" && mkdir -p "$work/classes"
mode="--release $release"
if ! javac --release "$release" "${common[@]}" "${srcs[@]}" 2> "$work/javac-release.log"; then
  # --release hides JDK-internal packages (and forbids --add-exports for them): files that use
  # them (in 5.0: utils/memory/BufferPool, utils/concurrent/Ref, db/commitlog/DirectIOSegment,
  # utils/JMXServerUtils) are compiled as the upstream build does, against the running JDK with
  # --source/--target and the exports they need.
  mode="--source $release --target $release (+ --add-exports)"
  rm -rf "$work/classes" && mkdir -p "$work/classes"
  if ! javac --source "$release" --target "$release" -Xlint:-options \
       --add-exports java.base/jdk.internal.misc=ALL-UNNAMED \
       --add-exports java.base/jdk.internal.ref=ALL-UNNAMED \
       --add-exports java.base/sun.nio.ch=ALL-UNNAMED \
       --add-exports java.rmi/sun.rmi.registry=ALL-UNNAMED \
       --add-exports java.rmi/sun.rmi.server=ALL-UNNAMED \
       --add-exports java.management.rmi/com.sun.jmx.remote.internal.rmi=ALL-UNNAMED \
       "${common[@]}" "${srcs[@]}" 2> "$work/javac-exports.log"; then
    echo "compile-back: javac failed with --release $release:" >&2
    cat "$work/javac-release.log" >&2
    echo "compile-back: and with --source/--target $release --add-exports:" >&2
    cat "$work/javac-exports.log" >&2
    echo "compile-back: $jar left unchanged" >&2
    exit 1
  fi
  echo "compile-back: --release $release failed (JDK-internal API); compiled with --source/--target" \
       "and --add-exports instead (javac's warnings: $work/javac-exports.log)"
fi

n=$(find "$work/classes" -name '*.class' | wc -l)
cp -p "$pristine_jar" "$work/new.jar"
chmod u+w "$work/new.jar"
(cd "$work/classes" && jar uf "$PWD/../new.jar" .)
mv "$work/new.jar" "$jar"
echo "compile-back: javac $mode: $n class file(s) written into $jar"
