package perfscope.benchplain;

/** Uninstrumented twin of perfscope.testapp.bench.HotLoop (not an application package). */
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
