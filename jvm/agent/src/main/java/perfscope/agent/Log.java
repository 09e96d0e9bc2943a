package perfscope.agent;

import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;

/** One-line stderr messages, all prefixed "perfscope-agent:", each kind at most once. */
final class Log {
  private Log() {}

  private static final Set<String> SEEN = new HashSet<>();
  /** Classes left untouched after a failure. */
  static final AtomicInteger failures = new AtomicInteger();
  /** At most this many per-class failure lines; the total is printed at exit. */
  private static final int MAX_CLASS_LINES = 100;

  static void error(String msg) {
    System.err.println("perfscope-agent: " + msg);
  }

  static void once(String key, String msg) {
    synchronized (SEEN) {
      if (!SEEN.add(key)) return;
    }
    error(msg);
  }

  /** A class could not be instrumented: it is loaded untouched; one line, counted. */
  static void classFailed(String className, Throwable t) {
    int n = failures.incrementAndGet();
    if (n <= MAX_CLASS_LINES) {
      error("left " + className.replace('/', '.') + " untouched: " + describe(t));
    } else if (n == MAX_CLASS_LINES + 1) {
      error("more classes left untouched; the total is printed at exit");
    }
  }

  static String describe(Throwable t) {
    String s = t.getClass().getSimpleName();
    String m = t.getMessage();
    if (m != null) {
      m = m.replace('\n', ' ');
      if (m.length() > 200) m = m.substring(0, 200) + "...";
      s += ": " + m;
    }
    return s;
  }
}
