package perfscope.agent;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Enumeration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.jar.Attributes;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;
import java.util.jar.JarOutputStream;
import java.util.jar.Manifest;
import java.util.stream.Stream;
import org.objectweb.asm.ClassReader;
import org.objectweb.asm.ClassWriter;
import org.objectweb.asm.commons.ClassRemapper;
import org.objectweb.asm.commons.Remapper;

/**
 * Runs scenarios in child JVMs with the agent. The tests run before `mvn package`, so this builds
 * the agent jar the way the shade plugin does (target/classes plus ASM relocated to
 * perfscope.agent.shaded.asm, same manifest) into target/test-agent/perfscope-agent.jar.
 */
final class ChildJvm {
  private ChildJvm() {}

  static final Path TARGET = Paths.get("target").toAbsolutePath();
  static final Path TEST_CLASSES = TARGET.resolve("test-classes");
  private static Path jar;

  /** Output of a finished child JVM. */
  static final class Run {
    int exit;
    String out, err;
    long pid;

    @Override
    public String toString() {
      return "exit=" + exit + "\n--- stdout\n" + out + "--- stderr\n" + err;
    }
  }

  static synchronized Path agentJar() throws IOException {
    if (jar != null) return jar;
    Path dir = Files.createDirectories(TARGET.resolve("test-agent"));
    Path j = dir.resolve("perfscope-agent.jar");
    Manifest mf = new Manifest();
    Attributes a = mf.getMainAttributes();
    a.put(Attributes.Name.MANIFEST_VERSION, "1.0");
    a.putValue("Premain-Class", "perfscope.agent.Agent");
    a.putValue("Can-Redefine-Classes", "false");
    a.putValue("Can-Retransform-Classes", "false");
    Remapper relocate =
        new Remapper(org.objectweb.asm.Opcodes.ASM9) {
          @Override
          public String map(String internalName) {
            return internalName.startsWith("org/objectweb/asm/")
                ? "perfscope/agent/shaded/asm/" + internalName.substring("org/objectweb/asm/".length())
                : internalName;
          }
        };
    try (JarOutputStream out = new JarOutputStream(Files.newOutputStream(j), mf)) {
      Path classes = location(Boot.class);
      try (Stream<Path> s = Files.walk(classes)) {
        for (Path p : (Iterable<Path>) s.filter(Files::isRegularFile)::iterator) {
          String name = classes.relativize(p).toString().replace(File.separatorChar, '/');
          put(out, name, relocate(Files.readAllBytes(p), relocate));
        }
      }
      for (Class<?> c : Arrays.asList(ClassReader.class, ClassRemapper.class, org.objectweb.asm.tree.ClassNode.class)) {
        try (JarFile asm = new JarFile(location(c).toFile())) {
          for (Enumeration<JarEntry> e = asm.entries(); e.hasMoreElements(); ) {
            JarEntry en = e.nextElement();
            String n = en.getName();
            if (!n.startsWith("org/objectweb/asm/") || !n.endsWith(".class")) continue;
            try (InputStream in = asm.getInputStream(en)) {
              put(out, "perfscope/agent/shaded/asm/" + n.substring("org/objectweb/asm/".length()),
                  relocate(in.readAllBytes(), relocate));
            }
          }
        }
      }
    }
    return jar = j;
  }

  private static byte[] relocate(byte[] b, Remapper r) {
    ClassReader cr = new ClassReader(b);
    ClassWriter cw = new ClassWriter(0);
    cr.accept(new ClassRemapper(cw, r), 0);
    return cw.toByteArray();
  }

  private static void put(JarOutputStream out, String name, byte[] b) throws IOException {
    out.putNextEntry(new JarEntry(name));
    out.write(b);
    out.closeEntry();
  }

  static Path location(Class<?> c) {
    try {
      return Paths.get(c.getProtectionDomain().getCodeSource().getLocation().toURI());
    } catch (URISyntaxException e) {
      throw new IllegalStateException(e);
    }
  }

  /** The child JVMs' java: -Dperfscope.test.java=/path/to/bin/java runs them on another JDK. */
  static String javaBin() {
    String j = System.getProperty("perfscope.test.java");
    return j != null && !j.isEmpty() ? j : Paths.get(System.getProperty("java.home"), "bin", "java").toString();
  }

  /** Standard arguments: test mode, app=perfscope.testapp, out=dir, plus extra agent args. */
  static List<String> javaCmd(Path out, String agentExtra, boolean testMode, String classpath) throws IOException {
    List<String> cmd = new ArrayList<>();
    cmd.add(javaBin());
    String args = "app=perfscope.testapp,out=" + out + (agentExtra.isEmpty() ? "" : "," + agentExtra);
    cmd.add("-javaagent:" + agentJar() + "=" + args);
    if (testMode) cmd.add("-Dperfscope.jvm.test=1");
    cmd.add("-cp");
    cmd.add(classpath == null ? TEST_CLASSES.toString() : classpath);
    return cmd;
  }

  static Run run(List<String> cmd) throws IOException, InterruptedException {
    ProcessBuilder pb = new ProcessBuilder(cmd);
    pb.environment().remove("JAVA_TOOL_OPTIONS");
    Path o = Files.createTempFile("child", ".out"), e = Files.createTempFile("child", ".err");
    pb.redirectOutput(o.toFile()).redirectError(e.toFile());
    Process p = pb.start();
    Run r = new Run();
    r.pid = p.pid();
    if (!p.waitFor(180, TimeUnit.SECONDS)) {
      p.destroyForcibly().waitFor();
      throw new IllegalStateException("child JVM timed out: " + cmd);
    }
    r.exit = p.exitValue();
    r.out = new String(Files.readAllBytes(o), StandardCharsets.UTF_8);
    r.err = new String(Files.readAllBytes(e), StandardCharsets.UTF_8);
    Files.delete(o);
    Files.delete(e);
    return r;
  }

  /** Runs main class {@code main} of the test classes with the agent in test mode. */
  static Run scenario(Path out, String agentExtra, String main, String... jvmArgs) throws Exception {
    List<String> cmd = javaCmd(out, agentExtra, true, null);
    cmd.addAll(1, Arrays.asList(jvmArgs));
    cmd.add(main);
    return run(cmd);
  }
}
