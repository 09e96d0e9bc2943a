package perfscope.agent;

import java.io.File;
import java.lang.instrument.ClassFileTransformer;
import java.lang.instrument.Instrumentation;
import java.net.URL;
import java.security.CodeSource;
import java.security.ProtectionDomain;
import java.util.Collections;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Chooses application classes and instruments them. Never throws: any failure leaves the class
 * untouched (returns null) and is logged on one line and counted.
 */
final class Transformer implements ClassFileTransformer {
  /** Never instrumented, whatever the arguments say: the agent itself and the platform. */
  private static final String[] EXCLUDED = {"perfscope/agent/", "java/", "javax/", "jdk/", "sun/", "com/sun/"};

  private final Config config;
  private final Instrumentation inst;
  private final Module shadowModule = Shadow.class.getModule();
  /** Code source URL (as a string: URL.equals may resolve host names) to its resolved location. */
  private final ConcurrentHashMap<String, Location> locations = new ConcurrentHashMap<>();

  static final AtomicLong classes = new AtomicLong(), methods = new AtomicLong(),
      instrumented = new AtomicLong(), leaves = new AtomicLong(), nanos = new AtomicLong(), cpuNanos = new AtomicLong();
  /** -Dperfscope.jvm.stats=1: also measure the transforms' CPU time (one clock_gettime syscall each). */
  static final boolean STATS = "1".equals(System.getProperty("perfscope.jvm.stats"));
  private static final java.lang.management.ThreadMXBean MX =
      STATS ? java.lang.management.ManagementFactory.getThreadMXBean() : null;

  private static final class Location {
    final String path;
    final boolean inJars;

    Location(String path, boolean inJars) {
      this.path = path;
      this.inJars = inJars;
    }
  }

  Transformer(Config config, Instrumentation inst) {
    this.config = config;
    this.inst = inst;
  }

  @Override
  public byte[] transform(Module module, ClassLoader loader, String name, Class<?> redefined,
      ProtectionDomain pd, byte[] bytes) {
    if (name == null || redefined != null || bytes == null) return null;
    try {
      if (excluded(name)) return null;
      boolean app = matchesApp(name);
      if (!app && config.jars.isEmpty()) return null;
      Location loc = location(pd);
      if (!app && (loc == null || !loc.inJars)) return null;
      long t0 = System.nanoTime(), c0 = STATS ? MX.getCurrentThreadCpuTime() : 0;
      Instrumenter.Result r = Instrumenter.instrument(bytes, loader, loc == null ? "-" : loc.path, config.leafKeep);
      if (r.bytes != null) allowShadowAccess(module);
      nanos.addAndGet(System.nanoTime() - t0);
      if (STATS) cpuNanos.addAndGet(MX.getCurrentThreadCpuTime() - c0);
      classes.incrementAndGet();
      methods.addAndGet(r.methods);
      instrumented.addAndGet(r.instrumented);
      leaves.addAndGet(r.leaves);
      return r.bytes;
    } catch (Throwable t) {
      Log.classFailed(name, t);
      return null;
    }
  }

  static boolean excluded(String name) {
    for (String p : EXCLUDED) if (name.startsWith(p)) return true;
    // Lambda proxies and other hidden classes (their names carry a "/0x..." or "+0x..." suffix).
    return name.contains("$$Lambda") || name.contains("/0x") || name.contains("+0x");
  }

  private boolean matchesApp(String name) {
    for (String p : config.appPrefixes) if (name.startsWith(p)) return true;
    return config.appClasses.contains(name);
  }

  private Location location(ProtectionDomain pd) {
    CodeSource cs = pd == null ? null : pd.getCodeSource();
    URL url = cs == null ? null : cs.getLocation();
    if (url == null) return null;
    String key = url.toString();
    Location l = locations.get(key);
    if (l == null) {
      l = resolve(url);
      locations.put(key, l);
    }
    return l;
  }

  /** A file URL becomes its canonical path (compared with the jars argument); others stay URLs. */
  private Location resolve(URL url) {
    if ("file".equals(url.getProtocol())) {
      try {
        String path = new File(url.toURI()).getCanonicalPath();
        return new Location(path, config.jars.contains(path));
      } catch (Exception e) {
        // fall through: keep the URL text
      }
    }
    return new Location(url.toString(), false);
  }

  /** Instrumented code in a named module must be able to read the (bootstrap, unnamed) Shadow's module. */
  private void allowShadowAccess(Module module) {
    if (module != null && module.isNamed() && !module.canRead(shadowModule)) {
      inst.redefineModule(module, Collections.singleton(shadowModule), Collections.emptyMap(),
          Collections.emptyMap(), Collections.emptySet(), Collections.emptyMap());
    }
  }
}
