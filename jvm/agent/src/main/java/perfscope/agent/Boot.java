package perfscope.agent;

import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.InputStream;
import java.lang.instrument.Instrumentation;
import org.objectweb.asm.ClassReader;

/** Starts the agent; runs in the bootstrap loader (see {@link Agent}). */
public final class Boot {
  private Boot() {}

  private static long startNanos;

  public static void start(String args, Instrumentation inst) {
    long t0 = System.nanoTime();
    Config c;
    try {
      c = Config.parse(args);
    } catch (IllegalArgumentException e) {
      Log.error(e.getMessage() + "; agent disabled");
      return;
    }
    try {
      if (!Shadow.ok()) {
        Log.error("no native memory access; agent disabled");
        return;
      }
      Shadow.capacity = c.depth;
      long pid = ProcessHandle.current().pid();
      MethodTable.open(new File(c.out, pid + ".methods"), pid);
      warmUp();
      Counts.start(c.out, pid);
      inst.addTransformer(new Transformer(c, inst), false);
      startNanos = System.nanoTime() - t0;
    } catch (Throwable t) {
      Log.error("not started: " + t);
    }
  }

  /**
   * Rewrites one of our own classes, without committing ids, so that ASM's classes are loaded now
   * rather than inside the first application class load.
   */
  private static void warmUp() {
    try (InputStream in = ClassLoader.getSystemResourceAsStream("perfscope/agent/Config.class")) {
      ByteArrayOutputStream b = new ByteArrayOutputStream();
      byte[] buf = new byte[8192];
      for (int n; (n = in.read(buf)) > 0; ) b.write(buf, 0, n);
      ClassReader cr = new ClassReader(b.toByteArray());
      Instrumenter.Scan scan = new Instrumenter.Scan();
      cr.accept(scan, ClassReader.SKIP_FRAMES);
      for (Instrumenter.MethodInfo m : scan.methods) m.instrument = true;
      Instrumenter.rewrite(cr, scan, 0, null);
      Instrumenter.lines(scan, 0, "-");
    } catch (Throwable t) {
      Log.error("warm-up failed: " + t);
    }
  }

  /** From the shutdown hook: failure total, and statistics when -Dperfscope.jvm.stats=1. */
  static void atExit() {
    int failed = Log.failures.get();
    if (failed > 0) Log.error(failed + " classes left untouched after failures");
    if (Transformer.STATS) {
      Log.error(String.format(
          "stats classes=%d methods=%d instrumented=%d leaves=%d failed=%d transform_ms=%.1f transform_cpu_ms=%.1f premain_ms=%.1f",
          Transformer.classes.get(), Transformer.methods.get(), Transformer.instrumented.get(),
          Transformer.leaves.get(), failed, Transformer.nanos.get() / 1e6, Transformer.cpuNanos.get() / 1e6,
          startNanos / 1e6));
    }
  }
}
