package perfscope.benchplain;

import java.io.File;
import java.net.URL;
import java.net.URLClassLoader;
import java.util.ArrayList;
import java.util.Enumeration;
import java.util.List;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;

/**
 * Loads (without initialising) every class of JAR through a URLClassLoader over JAR and DEPS: with
 * the agent (jars=JAR) each of them goes through the transformer. Prints the wall time and the
 * process's CPU time (all threads, JIT and GC included, since JVM start).
 * Usage: LoadAll JAR [DEPDIR|DEP.jar ...]
 */
public final class LoadAll {
  public static void main(String[] args) throws Exception {
    long t0 = System.nanoTime();
    List<URL> urls = new ArrayList<>();
    urls.add(new File(args[0]).toURI().toURL());
    for (int i = 1; i < args.length; i++) {
      File f = new File(args[i]);
      File[] list = f.isDirectory() ? f.listFiles((d, n) -> n.endsWith(".jar")) : new File[] {f};
      for (File j : list) urls.add(j.toURI().toURL());
    }
    int ok = 0, failed = 0;
    try (URLClassLoader l = new URLClassLoader(urls.toArray(new URL[0]), LoadAll.class.getClassLoader());
        JarFile jar = new JarFile(args[0])) {
      for (Enumeration<JarEntry> e = jar.entries(); e.hasMoreElements(); ) {
        String n = e.nextElement().getName();
        if (!n.endsWith(".class") || n.contains("-") || n.startsWith("META-INF/")) continue;
        try {
          Class.forName(n.substring(0, n.length() - 6).replace('/', '.'), false, l);
          ok++;
        } catch (Throwable t) {
          failed++;
        }
      }
    }
    long cpu = ProcessHandle.current().info().totalCpuDuration().map(d -> d.toMillis()).orElse(-1L);
    System.out.printf("LOADALL loaded=%d failed=%d wall=%.0f ms process_cpu=%d ms%n", ok, failed, (System.nanoTime() - t0) / 1e6, cpu);
  }
}
