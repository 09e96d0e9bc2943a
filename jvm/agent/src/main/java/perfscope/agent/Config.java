package perfscope.agent;

import java.io.File;
import java.io.IOException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/** The agent's arguments: {@code app=P[:P...],jars=J[:J...],out=DIR,leaf=keep|skip,depth=N}. */
final class Config {
  /** Application package prefixes in internal form, each ending with '/' ("org/apache/cassandra/"). */
  final List<String> appPrefixes = new ArrayList<>();
  /** The same names without the trailing '/': a class with exactly that name is application code too. */
  final Set<String> appClasses = new HashSet<>();
  /** Canonical absolute paths of application jars and class directories. */
  final Set<String> jars = new HashSet<>();
  File out;
  boolean leafKeep;
  int depth = 1024;

  static final int MAX_DEPTH = 1 << 20;

  /** Parses ARGS; throws IllegalArgumentException with a one-line message on any problem. */
  static Config parse(String args) {
    Config c = new Config();
    if (args == null || args.trim().isEmpty()) {
      throw new IllegalArgumentException("no arguments: expected app=PREFIX[:PREFIX...] and/or jars=PATH[:PATH...], and out=DIR");
    }
    for (String kv : args.split(",")) {
      if (kv.trim().isEmpty()) continue;
      int eq = kv.indexOf('=');
      if (eq <= 0) throw new IllegalArgumentException("bad argument '" + kv + "': expected key=value");
      String k = kv.substring(0, eq).trim(), v = kv.substring(eq + 1).trim();
      switch (k) {
        case "app":
          for (String p : v.split(":")) {
            p = p.trim();
            if (p.endsWith(".")) p = p.substring(0, p.length() - 1);
            if (p.isEmpty()) continue;
            String internal = p.replace('.', '/');
            c.appPrefixes.add(internal + "/");
            c.appClasses.add(internal);
          }
          break;
        case "jars":
          for (String p : v.split(":")) {
            if (p.trim().isEmpty()) continue;
            try {
              c.jars.add(new File(p.trim()).getCanonicalPath());
            } catch (IOException e) {
              throw new IllegalArgumentException("bad jar path '" + p + "': " + e.getMessage());
            }
          }
          break;
        case "out":
          c.out = new File(v);
          break;
        case "leaf":
          if (v.equals("keep")) c.leafKeep = true;
          else if (v.equals("skip")) c.leafKeep = false;
          else throw new IllegalArgumentException("bad leaf=" + v + ": expected keep or skip");
          break;
        case "depth":
          try {
            c.depth = Integer.parseInt(v);
          } catch (NumberFormatException e) {
            throw new IllegalArgumentException("bad depth=" + v + ": expected an integer");
          }
          if (c.depth < 1 || c.depth > MAX_DEPTH) {
            throw new IllegalArgumentException("bad depth=" + v + ": expected 1.." + MAX_DEPTH);
          }
          break;
        default:
          throw new IllegalArgumentException("unknown argument '" + k + "' (known: app, jars, out, leaf, depth)");
      }
    }
    if (c.appPrefixes.isEmpty() && c.jars.isEmpty()) {
      throw new IllegalArgumentException("nothing to instrument: give app=PREFIX[:PREFIX...] and/or jars=PATH[:PATH...]");
    }
    if (c.out == null) throw new IllegalArgumentException("missing out=DIR");
    if (!c.out.isDirectory() || !c.out.canWrite()) {
      throw new IllegalArgumentException("out=" + c.out + " is not a writable directory");
    }
    return c;
  }
}
