package perfscope.agent;

import java.io.File;
import java.lang.instrument.Instrumentation;
import java.util.jar.JarFile;

/**
 * {@code Premain-Class}. The JVM loads this class with the system class loader. Apart from checking the
 * arguments with {@link Config} (so that bad arguments leave no trace but one stderr line), it
 * references no other agent class: it appends its own jar to the bootstrap search path and only then
 * starts {@link Boot} through the bootstrap loader. From then on every agent class (the runtime
 * {@link Shadow}, the transformer, the shaded ASM) is defined once, by the bootstrap loader, and so is
 * visible from every class loader of the application.
 */
public final class Agent {
  private Agent() {}

  public static void premain(String args, Instrumentation inst) {
    try {
      Config.parse(args);
    } catch (IllegalArgumentException e) {
      System.err.println("perfscope-agent: " + e.getMessage() + "; agent disabled");
      return;
    } catch (Throwable t) {
      System.err.println("perfscope-agent: not started: " + t);
      return;
    }
    try {
      File jar = new File(Agent.class.getProtectionDomain().getCodeSource().getLocation().toURI());
      inst.appendToBootstrapClassLoaderSearch(new JarFile(jar));
      Class<?> boot = Class.forName("perfscope.agent.Boot", true, null);
      boot.getMethod("start", String.class, Instrumentation.class).invoke(null, args, inst);
    } catch (Throwable t) {
      // An exception out of premain would abort the host JVM: never let one escape.
      System.err.println("perfscope-agent: not started: " + t);
    }
  }
}
