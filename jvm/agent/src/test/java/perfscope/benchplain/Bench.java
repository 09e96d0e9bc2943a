package perfscope.benchplain;

import java.util.Arrays;

/**
 * ns per call of a tiny method in a hot loop, instrumented (perfscope.testapp.bench.HotLoop, with the
 * agent and leaf=keep) and not (its twin in this package), in the same JVM, alternating, median of
 * rounds. Without the agent both are plain. Times are the thread's CPU time, not wall time, so that
 * other load on the machine does not count.
 */
public final class Bench {
  private static final java.lang.management.ThreadMXBean MX = java.lang.management.ManagementFactory.getThreadMXBean();

  public static void main(String[] args) {
    int n = args.length > 0 ? Integer.parseInt(args[0]) : 50_000_000;
    int rounds = args.length > 1 ? Integer.parseInt(args[1]) : 9;
    long sink = 0;
    for (int i = 0; i < 5; i++) { // warm-up: both compiled by C2
      sink += perfscope.testapp.bench.HotLoop.loop(n / 10);
      sink += HotLoop.loop(n / 10);
    }
    double[] inst = new double[rounds], plain = new double[rounds];
    for (int r = 0; r < rounds; r++) {
      long t0 = MX.getCurrentThreadCpuTime();
      sink += perfscope.testapp.bench.HotLoop.loop(n);
      long t1 = MX.getCurrentThreadCpuTime();
      sink += HotLoop.loop(n);
      long t2 = MX.getCurrentThreadCpuTime();
      inst[r] = (t1 - t0) / (double) n;
      plain[r] = (t2 - t1) / (double) n;
    }
    Arrays.sort(inst);
    Arrays.sort(plain);
    double mi = inst[rounds / 2], mp = plain[rounds / 2];
    System.out.printf("BENCH instrumented=%.2f ns/call (min %.2f) plain=%.2f ns/call (min %.2f) overhead=%.2f ns/call ratio=%.1fx sink=%d%n",
        mi, inst[0], mp, plain[0], mi - mp, mi / mp, sink);
  }
}
