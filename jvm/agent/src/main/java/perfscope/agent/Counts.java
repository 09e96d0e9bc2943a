package perfscope.agent;

import java.io.File;
import java.io.FileOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.StandardCopyOption;

/**
 * The {@code PID.counts} side file: invocation counts summed over all threads, rewritten atomically
 * (temporary file + rename) every second by the daemon thread "perfscope-counts" when they changed,
 * and once more with final=1 from a shutdown hook.
 */
final class Counts {
  private Counts() {}

  private static final Object LOCK = new Object();
  private static File file, tmp;
  private static long pid;
  private static boolean finalWritten;
  private static long lastSum = -1;
  private static int lastSize = -1;

  static void start(File dir, long processId) {
    pid = processId;
    file = new File(dir, pid + ".counts");
    tmp = new File(dir, pid + ".counts.tmp");
    Thread t =
        new Thread("perfscope-counts") {
          @Override
          public void run() {
            while (true) {
              try {
                Thread.sleep(1000);
                write(false);
              } catch (InterruptedException e) {
                return;
              } catch (Throwable e) {
                Log.once("counts", "cannot write " + file + ": " + e);
              }
            }
          }
        };
    t.setDaemon(true);
    t.start();
    Runtime.getRuntime()
        .addShutdownHook(
            new Thread("perfscope-counts-final") {
              @Override
              public void run() {
                try {
                  write(true);
                } catch (Throwable e) {
                  Log.once("counts", "cannot write " + file + ": " + e);
                }
                Boot.atExit();
              }
            });
  }

  static void write(boolean fin) throws Exception {
    synchronized (LOCK) {
      if (finalWritten) return;
      int n = MethodTable.size();
      long[] totals = Shadow.totals(n);
      long sum = 0;
      for (long c : totals) sum += c;
      // Counts only grow: an unchanged sum over an unchanged table means nothing to rewrite.
      if (!fin && sum == lastSum && n == lastSize) return;
      StringBuilder sb = new StringBuilder(64 + 16 * n);
      sb.append("# perfscope-jvm counts v1 pid=").append(pid).append(" final=").append(fin ? 1 : 0).append('\n');
      for (int i = 0; i < n; i++) {
        if (totals[i] != 0) sb.append(i).append('\t').append(totals[i]).append('\n');
      }
      try (FileOutputStream o = new FileOutputStream(tmp)) {
        o.write(sb.toString().getBytes(StandardCharsets.UTF_8));
      }
      Files.move(tmp.toPath(), file.toPath(), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
      lastSum = sum;
      lastSize = n;
      if (fin) finalWritten = true;
    }
  }
}
