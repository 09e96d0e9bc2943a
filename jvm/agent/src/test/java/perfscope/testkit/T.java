package perfscope.testkit;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import perfscope.agent.Shadow;

/**
 * Assertions for the scenarios that run inside a child JVM with the agent (test mode). This package
 * is not application code, so these helpers never appear on the shadow stack themselves.
 */
public final class T {
  private T() {}

  private static final String APP = "perfscope.testapp.";

  /** The current thread's shadow frames, top first, without the "perfscope.testapp." prefix. */
  public static List<String> frames() {
    List<String> out = new ArrayList<>();
    for (String f : Shadow.frames()) {
      if (f.startsWith("perfscope.testkit.")) continue; // instrumented too when filtering by jars=
      out.add(f.startsWith(APP) ? f.substring(APP.length()) : f);
    }
    return out;
  }

  /** The first n frames (top first). */
  public static List<String> top(int n) {
    List<String> f = frames();
    return f.subList(0, Math.min(n, f.size()));
  }

  public static int depth() {
    return Shadow.depth();
  }

  public static List<String> list(String... s) {
    return Arrays.asList(s);
  }

  public static void eq(Object expected, Object actual, String what) {
    if (!Objects.equals(expected, actual)) {
      throw new AssertionError(what + ": expected " + expected + " but was " + actual);
    }
  }

  public static void check(boolean cond, String what) {
    if (!cond) throw new AssertionError(what);
  }

  public static void ok(String name) {
    System.out.println("OK " + name);
  }

  /** A do-nothing call target (used by generated classes). */
  public static void nop() {}
}
