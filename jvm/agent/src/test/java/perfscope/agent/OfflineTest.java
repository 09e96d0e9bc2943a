package perfscope.agent;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.reflect.Constructor;
import java.lang.reflect.Method;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.objectweb.asm.ClassReader;
import org.objectweb.asm.ClassWriter;
import org.objectweb.asm.commons.AdviceAdapter;

/** The transformer over a real jar (ASM's own), in this JVM: no failures, every class verifies, still works. */
class OfflineTest {
  @Test
  void asmJarsTransformVerifyAndRun() throws Exception {
    Map<String, byte[]> all = new HashMap<>();
    int classes = 0, leaves = 0, methods = 0, failures = 0;
    for (Class<?> c : new Class<?>[] {ClassReader.class, AdviceAdapter.class, org.objectweb.asm.tree.ClassNode.class}) {
      Path jar = ChildJvm.location(c);
      Offline.Stats s = Offline.transformJar(jar, c.getClassLoader(), false);
      System.out.println(jar.getFileName() + ": " + s);
      classes += s.classes;
      methods += s.methods;
      leaves += s.leaves;
      failures += s.failures;
      assertEquals(0, s.failures, s.failed.toString());
      all.putAll(s.in);
      all.putAll(s.out);
    }
    assertTrue(classes > 100 && leaves > 0 && leaves < methods, "classes=" + classes + " leaves=" + leaves);
    assertEquals(0, failures);

    // Every transformed class links (HotSpot verifies it) in a fresh loader.
    Map<String, String> errors = Offline.link(all, OfflineTest.class.getClassLoader());
    assertEquals(Map.of(), errors);

    // And the instrumented ASM still does its job: copying a class gives the same bytes as the original.
    Offline.DefLoader l = new Offline.DefLoader(all, OfflineTest.class.getClassLoader());
    byte[] input = Files.readAllBytes(ChildJvm.location(Boot.class).resolve("perfscope/agent/Instrumenter.class"));
    Class<?> cr = Class.forName("org.objectweb.asm.ClassReader", true, l);
    Class<?> cv = Class.forName("org.objectweb.asm.ClassVisitor", true, l);
    Class<?> cw = Class.forName("org.objectweb.asm.ClassWriter", true, l);
    Object reader = cr.getConstructor(byte[].class).newInstance((Object) input);
    Constructor<?> newWriter = cw.getConstructor(int.class);
    Object writer = newWriter.newInstance(ClassWriter.COMPUTE_MAXS);
    Method accept = cr.getMethod("accept", cv, int.class);
    accept.invoke(reader, writer, 0);
    byte[] copied = (byte[]) cw.getMethod("toByteArray").invoke(writer);

    ClassWriter ref = new ClassWriter(ClassWriter.COMPUTE_MAXS);
    new ClassReader(input).accept(ref, 0);
    assertArrayEquals(ref.toByteArray(), copied);
  }
}
