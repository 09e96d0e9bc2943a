package perfscope.testapp.bench;

/** Instrumented copy (application package; run with leaf=keep so that tiny() is instrumented). */
public final class HotLoop {
  private HotLoop() {}

  public static long loop(int n) {
    long s = 0;
    for (int i = 0; i < n; i++) s += tiny(i);
    return s;
  }

  static int tiny(int x) {
    return (x ^ (x >>> 3)) + 1;
  }
}
