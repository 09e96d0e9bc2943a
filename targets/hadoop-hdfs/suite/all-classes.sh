#!/bin/bash
# Every test class of the HDFS tests jar that surefire would run upstream (**/Test*.java, no
# nested classes), abstract classes left out, one fully-qualified name a line.
TREE=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
JAR=$(ls "$TREE"/lib/hadoop-hdfs-*-tests.jar)
unzip -Z1 "$JAR" | grep -E '(^|/)Test[^$/]*\.class$' | sed -e 's/\.class$//' -e 's|/|.|g' | sort > /tmp/all-classes.$$
# javap -public prints "public abstract class ..." for abstract ones; do it in one JVM
javap -cp "$JAR" $(cat /tmp/all-classes.$$) 2>/dev/null |
  sed -nE 's/^(public |protected )?(final )?(abstract )?(class|interface|enum) ([A-Za-z0-9_.$]+).*/\3\4 \5/p' |
  awk '$1 == "class" {print $2}' | sort
rm -f /tmp/all-classes.$$
