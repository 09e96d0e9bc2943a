#!/bin/bash
# Run HDFS's own JUnit 5 tests (hadoop-hdfs-3.5.0-tests.jar) against MiniDFSCluster, from the
# tree made by ../pom.xml. Run it from anywhere; it works on the tree it lies in.
#
#   suite/run-tests.sh quick              the tests of suite/quick.txt
#   suite/run-tests.sh full               the tests of suite/full.txt
#   suite/run-tests.sh FILE               the classes of any list file (same format)
#   suite/run-tests.sh CLASS[#METHOD]...  these classes or methods
#
# List format (and arguments): a test class per line (simple or fully-qualified name), or
# CLASS#METHOD for one test method (several lines of one class make one selection), or
# -CLASS#METHOD to leave that one method out (an --exclude-methodname pattern for every JVM);
# '#' at the start of a line or after a blank starts a comment; blank lines are ignored.
#
# The classes run in as few JVMs as HDFS_TEST_CLASSES_PER_JVM allows (one JVM for the quick
# list), one after the other; every JVM prints nothing to the terminal (all its output goes to
# WORK/jvm-NN/output.log). At the end every class is listed with its result and the last line
# is "N passed, N failed, N skipped" (test methods). Exit status: 0 when every selected class
# ran and no test failed, 1 otherwise.
#
# Environment (all optional):
#   HDFS_TEST_WORK            scratch folder (default TREE/build/test-run; emptied first)
#   HDFS_TEST_CLASSES_PER_JVM classes per JVM (default 30)
#   HDFS_TEST_JVM_TIMEOUT     seconds one JVM may run before it is killed (default 3600)
#   HDFS_TEST_METHOD_TIMEOUT  JUnit default timeout of a test or lifecycle method (default 300s)
#   HDFS_TEST_XMX             heap of a test JVM (default 3g; upstream surefire uses 4096m)
#   HDFS_TEST_CLASSLOAD_LOG   if set, -Xlog:class+load is written to WORK/jvm-NN/classload.log
#   HDFS_TEST_JAVA_OPTS       extra JVM options
#   JAVA                      java binary (default: java on PATH)
set -u -o pipefail

TREE=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$TREE" || exit 2
[ $# -ge 1 ] || { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }

JAVA=${JAVA:-java}
WORK=${HDFS_TEST_WORK:-$TREE/build/test-run}
PER_JVM=${HDFS_TEST_CLASSES_PER_JVM:-30}
JVM_TIMEOUT=${HDFS_TEST_JVM_TIMEOUT:-3600}
METHOD_TIMEOUT=${HDFS_TEST_METHOD_TIMEOUT:-300s}
XMX=${HDFS_TEST_XMX:-3g}
TESTRES=$TREE/hadoop-hdfs-project/hadoop-hdfs/src/test/resources  # from the test-sources jar

# ---- which classes --------------------------------------------------------------------------
read_list() { sed -E -e 's/^[[:space:]]*#.*$//' -e 's/[[:space:]]+#.*$//' -e 's/^[[:space:]]+//' "$1" | grep -v '^$'; }
RAW=()
if [ $# -eq 1 ] && { [ "$1" = quick ] || [ "$1" = full ]; }; then
  mapfile -t RAW < <(read_list "$TREE/suite/$1.txt")
elif [ $# -eq 1 ] && [ -f "$1" ]; then
  mapfile -t RAW < <(read_list "$1")
else
  RAW=("$@")
fi
# resolve simple class names, group the selectors by class (first-seen order), keep exclusions
ALL=$(unzip -Z1 "$TREE"/lib/hadoop-hdfs-*-tests.jar | grep -E '/Test[^$/]*\.class$' | sed -e 's/\.class$//' -e 's|/|.|g')
CLASSES=() EXCLUDE=()
declare -A SEL=()
for a in "${RAW[@]}"; do
  neg=; [[ $a == -* ]] && { neg=-; a=${a#-}; }
  cls=${a%%#*}; meth=; [[ $a == *#* ]] && meth=${a#*#}
  if [[ $cls != *.* ]]; then
    fq=$(grep -E "\.$cls\$" <<<"$ALL" | head -1)
    [ -n "$fq" ] || { echo "no test class $cls in the tests jar" >&2; exit 2; }
    cls=$fq
  fi
  if [ -n "$neg" ]; then
    [ -n "$meth" ] || { echo "-$a: only single methods can be left out" >&2; exit 2; }
    EXCLUDE+=(--exclude-methodname="^$cls#$meth\$"); continue
  fi
  [ -n "${SEL[$cls]+x}" ] || { CLASSES+=("$cls"); SEL[$cls]=; }
  if [ -z "$meth" ]; then SEL[$cls]=ALL
  elif [ "${SEL[$cls]}" != ALL ]; then SEL[$cls]+=" $meth"; fi
done
[ ${#CLASSES[@]} -gt 0 ] || { echo "no classes selected" >&2; exit 2; }

# ---- the test class path ------------------------------------------------------------------------
# As upstream's target/test-classes: the tests jar unpacked plus the test resources, in one
# writable folder (tests such as the SSL/SASL ones write their ssl-*.xml next to their own
# .class file, KeyStoreTestUtil.getClasspathDir), then every jar of lib/ but the tests jar.
rm -rf "$WORK"; mkdir -p "$WORK"
TC=$WORK/test-classes
TESTJAR=$(ls "$TREE"/lib/hadoop-hdfs-*-tests.jar)
mkdir -p "$TC" && unzip -q -o "$TESTJAR" -d "$TC" -x 'META-INF/*' && cp -r "$TESTRES/." "$TC/" ||
  { echo "cannot make $TC" >&2; exit 2; }
CP=$TC
for j in "$TREE"/lib/*.jar; do [ "$j" = "$TESTJAR" ] || CP+=":$j"; done

# ---- one JVM ----------------------------------------------------------------------------------
run_jvm() {  # run_jvm DIR SELECTOR...
  local d=$1; shift
  mkdir -p "$d"/{tmp,data,test-dir,log,webapps,home,reports}
  local opts=(
    -Xmx"$XMX" -Xss4m -XX:+HeapDumpOnOutOfMemoryError -XX:HeapDumpPath="$d"
    # hadoop-project 3.5.0 ${extraJavaTestArgs}: what the Java 17 surefire runs open
    -XX:+IgnoreUnrecognizedVMOptions
    --add-opens=java.base/java.io=ALL-UNNAMED --add-opens=java.base/java.lang=ALL-UNNAMED
    --add-opens=java.base/java.lang.reflect=ALL-UNNAMED --add-opens=java.base/java.math=ALL-UNNAMED
    --add-opens=java.base/java.net=ALL-UNNAMED --add-opens=java.base/java.text=ALL-UNNAMED
    --add-opens=java.base/java.util=ALL-UNNAMED --add-opens=java.base/java.util.concurrent=ALL-UNNAMED
    --add-opens=java.base/java.util.zip=ALL-UNNAMED --add-opens=java.base/sun.security.util=ALL-UNNAMED
    --add-opens=java.base/sun.security.x509=ALL-UNNAMED --enable-native-access=ALL-UNNAMED
    # the surefire systemPropertyVariables of hadoop-project / hadoop-hdfs, pointed at $d
    -Djava.io.tmpdir="$d/tmp" -Duser.home="$d/home"
    -Dhadoop.log.dir="$d/log" -Dhadoop.tmp.dir="$d/tmp"
    -Dtest.build.dir="$d/test-dir" -Dtest.build.data="$d/data" -Dtest.build.webapps="$d/webapps"
    -Dtest.cache.data="$TC" -Dtest.build.classes="$TC"
    -Djava.net.preferIPv4Stack=true -Djava.security.krb5.conf="$TC/krb5.conf"
    -Djava.security.egd=file:///dev/urandom -Drequire.test.libhadoop=false -DrunningWithNative=false
  )
  [ -n "${HDFS_TEST_CLASSLOAD_LOG:-}" ] && opts+=("-Xlog:class+load=info:file=$d/classload.log")
  # shellcheck disable=SC2206
  [ -n "${HDFS_TEST_JAVA_OPTS:-}" ] && opts+=($HDFS_TEST_JAVA_OPTS)
  local sel=() c m
  for c in "$@"; do
    if [ "${SEL[$c]}" = ALL ]; then sel+=(--select-class="$c")
    else for m in ${SEL[$c]}; do sel+=(--select-method="$c#$m"); done; fi
  done
  printf '%s\n' "$@" > "$d/classes.txt"
  MALLOC_ARENA_MAX=4 timeout --foreground -k 30 "$JVM_TIMEOUT" "$JAVA" "${opts[@]}" -cp "$CP" \
    org.junit.platform.console.ConsoleLauncher execute \
    --disable-banner --disable-ansi-colors --details=testfeed --exclude-engine=junit-vintage \
    --config=junit.jupiter.execution.timeout.default="$METHOD_TIMEOUT" \
    --config=junit.jupiter.extensions.autodetection.enabled=false \
    --reports-dir="$d/reports" "${EXCLUDE[@]}" "${sel[@]}" > "$d/output.log" 2>&1
  echo $? > "$d/exit-code"
}

n=${#CLASSES[@]}; jvms=$(( (n + PER_JVM - 1) / PER_JVM ))
echo "hadoop-hdfs tests: $n classes in $jvms JVM(s), work folder $WORK"
start=$(date +%s)
for ((j = 0; j < jvms; j++)); do
  d=$(printf '%s/jvm-%02d' "$WORK" "$j")
  t0=$(date +%s)
  run_jvm "$d" "${CLASSES[@]:j*PER_JVM:PER_JVM}"
  echo "jvm-$(printf %02d "$j"): $(( $(date +%s) - t0 ))s, exit $(cat "$d/exit-code")"
done
echo "wall time: $(( $(date +%s) - start ))s"

# ---- per-class results from the XML reports ------------------------------------------------
"$JAVA" "$TREE/suite/Summary.java" "$WORK"
