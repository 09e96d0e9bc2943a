package perfscope.agent;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Enumeration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;

/**
 * Transforms every class of a jar in this JVM, as the agent would (leaf=skip), and reports counts
 * and time; optionally defines the results in a fresh loader and links them (getDeclaredMethods()
 * links, i.e. verifies, a class without initialising it), comparing with the untouched classes.
 *
 * <p>Usage: {@code Offline JAR [DEP.jar|DIR ...]} (DIR: all jars in it). Run from the project with
 * {@code java -cp target/classes:target/test-classes:ASM_JARS perfscope.agent.Offline ...}.
 */
public final class Offline {
  static final class Stats {
    int classes, methods, instrumented, leaves, failures, rewritten;
    long nanos, cpuNanos;
    final Map<String, byte[]> out = new LinkedHashMap<>();
    final Map<String, byte[]> in = new LinkedHashMap<>();
    final Map<String, Integer> failureKinds = new TreeMap<>();
    final List<String> failed = new ArrayList<>();

    @Override
    public String toString() {
      return String.format(
          "classes=%d methods=%d instrumented=%d leaves=%d (%.1f%% of methods) rewritten=%d failures=%d %s "
              + "transform wall=%.0f ms (%.1f us/class) cpu=%.0f ms (%.1f us/class)",
          classes, methods, instrumented, leaves, 100.0 * leaves / Math.max(1, methods), rewritten, failures,
          failureKinds, nanos / 1e6, nanos / 1e3 / Math.max(1, classes), cpuNanos / 1e6,
          cpuNanos / 1e3 / Math.max(1, classes));
    }
  }

  static Stats transformJar(Path jar, ClassLoader resources, boolean leafKeep) throws IOException {
    MethodTable.resetForTests();
    Stats s = new Stats();
    java.lang.management.ThreadMXBean mx = java.lang.management.ManagementFactory.getThreadMXBean();

    try (JarFile jf = new JarFile(jar.toFile())) {
      for (Enumeration<JarEntry> e = jf.entries(); e.hasMoreElements(); ) {
        JarEntry en = e.nextElement();
        String n = en.getName();
        if (!n.endsWith(".class") || n.endsWith("module-info.class") || n.startsWith("META-INF/")) continue;
        byte[] b;
        try (InputStream in = jf.getInputStream(en)) {
          b = in.readAllBytes();
        }
        String name = n.substring(0, n.length() - 6);
        s.in.put(name, b);
        long t0 = System.nanoTime(), c0 = mx.getCurrentThreadCpuTime();
        try {
          Instrumenter.Result r = Instrumenter.instrument(b, resources, jar.toString(), leafKeep);
          s.nanos += System.nanoTime() - t0;
          s.cpuNanos += mx.getCurrentThreadCpuTime() - c0;
          s.classes++;
          s.methods += r.methods;
          s.instrumented += r.instrumented;
          s.leaves += r.leaves;
          if (r.bytes != null) {
            s.rewritten++;
            s.out.put(name, r.bytes);
          }
        } catch (Throwable t) {
          s.nanos += System.nanoTime() - t0;
          s.cpuNanos += mx.getCurrentThreadCpuTime() - c0;
          s.classes++;
          s.failures++;
          s.failureKinds.merge(t.getClass().getSimpleName(), 1, Integer::sum);
          s.failed.add(name + ": " + Log.describe(t));
        }
      }
    }
    return s;
  }

  /** Defines classes from {@code bytes} (child first) over {@code parent}. */
  static final class DefLoader extends ClassLoader {
    private final Map<String, byte[]> bytes;

    DefLoader(Map<String, byte[]> bytes, ClassLoader parent) {
      super(parent);
      this.bytes = bytes;
    }

    @Override
    protected Class<?> loadClass(String name, boolean resolve) throws ClassNotFoundException {
      synchronized (getClassLoadingLock(name)) {
        Class<?> c = findLoadedClass(name);
        if (c == null) {
          byte[] b = bytes.get(name.replace('.', '/'));
          c = b != null ? defineClass(name, b, 0, b.length) : super.loadClass(name, false);
        }
        return c;
      }
    }
  }

  /** Links every class of {@code bytes} in a fresh loader; returns "class: error" for each failure. */
  static Map<String, String> link(Map<String, byte[]> bytes, ClassLoader parent) {
    DefLoader l = new DefLoader(bytes, parent);
    Map<String, String> errors = new TreeMap<>();
    for (String n : bytes.keySet()) {
      try {
        Class.forName(n.replace('/', '.'), false, l).getDeclaredMethods();
      } catch (Throwable t) {
        errors.put(n, t.getClass().getSimpleName() + ": " + t.getMessage());
      }
    }
    return errors;
  }

  public static void main(String[] args) throws Exception {
    Path jar = Paths.get(args[0]).toAbsolutePath();
    List<URL> urls = new ArrayList<>();
    urls.add(jar.toUri().toURL());
    for (int i = 1; i < args.length; i++) {
      File f = new File(args[i]);
      File[] list = f.isDirectory() ? f.listFiles((d, n) -> n.endsWith(".jar")) : new File[] {f};
      for (File j : list) urls.add(j.toURI().toURL());
    }
    boolean verify = Boolean.getBoolean("verify");
    try (URLClassLoader deps = new URLClassLoader(urls.toArray(new URL[0]), Offline.class.getClassLoader())) {
      Stats warm = transformJar(jar, deps, false); // warm-up: JIT and the super type cache
      Stats s = transformJar(jar, deps, false);
      System.out.println(jar.getFileName() + " (leaf=skip, 2nd pass, warm cache): " + s);
      System.out.println(jar.getFileName() + " (leaf=skip, 1st pass, cold JVM): " + warm);
      for (int i = 0; i < Math.min(10, s.failed.size()); i++) System.out.println("  failed " + s.failed.get(i));
      if (verify) {
        Map<String, String> before = link(s.in, deps);
        Map<String, byte[]> after = new LinkedHashMap<>(s.in);
        after.putAll(s.out);
        Map<String, String> now = link(after, deps);
        int newErrors = 0;
        for (Map.Entry<String, String> e : now.entrySet()) {
          if (!before.containsKey(e.getKey())) {
            if (newErrors++ < 10) System.out.println("  NEW link error " + e.getKey() + ": " + e.getValue());
          }
        }
        System.out.println("link: " + after.size() + " classes, " + before.size() + " fail untouched, "
            + now.size() + " fail instrumented, " + newErrors + " new");
      }
    }
  }
}
