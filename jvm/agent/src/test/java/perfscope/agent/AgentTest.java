package perfscope.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.objectweb.asm.ClassWriter;
import org.objectweb.asm.MethodVisitor;
import org.objectweb.asm.Opcodes;

/** The agent in child JVMs: shadow stack behaviour, side files, registration marker. */
class AgentTest {
  @TempDir Path out;

  private ChildJvm.Run scenario(String main, String agentExtra, String... jvmArgs) throws Exception {
    ChildJvm.Run r = ChildJvm.scenario(out, agentExtra, "perfscope.testapp." + main, jvmArgs);
    assertEquals(0, r.exit, r.toString());
    return r;
  }

  private static void assertOk(ChildJvm.Run r, String name) {
    assertTrue(r.out.contains("OK " + name), r.toString());
    assertFalse(r.err.contains("perfscope-agent:"), r.toString());
  }

  @Test
  void pushPopAroundCall() throws Exception {
    assertOk(scenario("Basic", ""), "basic");
  }

  @Test
  void exceptionsLeaveNoStaleFrames() throws Exception {
    assertOk(scenario("Exceptions", ""), "exceptions");
  }

  @Test
  void lambdaBodies() throws Exception {
    assertOk(scenario("Lambdas", ""), "lambdas");
  }

  @Test
  void virtualAndInterfaceCalls() throws Exception {
    assertOk(scenario("Virtual", ""), "virtual");
  }

  @Test
  void constructorsAndStaticInitializers() throws Exception {
    assertOk(scenario("Ctors", ""), "ctors");
  }

  /** 2e6 calls: compiled by C2 with Shadow.enter/exit inlined, and still balanced. */
  @Test
  void hotMethodStaysBalancedAndInlined() throws Exception {
    ChildJvm.Run r = scenario("Hot", "", "-XX:+UnlockDiagnosticVMOptions", "-XX:+PrintCompilation", "-XX:+PrintInlining");
    assertTrue(r.out.contains("OK hot"), r.toString());
    // C2 (tier 4) inlines the probe into the hot method.
    Pattern p = Pattern.compile("perfscope\\.agent\\.Shadow::(enter|exit) \\(\\d+ bytes\\)\\s+inline \\(hot\\)");
    Set<String> inlined = new HashSet<>();
    for (Matcher m = p.matcher(r.out); m.find(); ) inlined.add(m.group(1));
    assertEquals(new HashSet<>(Arrays.asList("enter", "exit")), inlined, "Shadow.enter/exit inlined (hot)");
  }

  @Test
  void recursionPastCapacity() throws Exception {
    assertOk(scenario("Deep", "depth=64"), "deep");
  }

  /** The same scenario, choosing application code by its class directory (jars=) instead of a package. */
  @Test
  void jarsFilter() throws Exception {
    Path jar = out.resolve("app.jar");
    try (JarOutputStream j = new JarOutputStream(Files.newOutputStream(jar));
        Stream<Path> s = Files.walk(ChildJvm.TEST_CLASSES.resolve("perfscope/testapp"))) {
      for (Path p : (Iterable<Path>) s.filter(Files::isRegularFile)::iterator) {
        j.putNextEntry(new JarEntry(ChildJvm.TEST_CLASSES.relativize(p).toString()));
        j.write(Files.readAllBytes(p));
        j.closeEntry();
      }
    }
    List<String> cmd = ChildJvm.javaCmd(out, "", true, jar + File.pathSeparator + ChildJvm.TEST_CLASSES);
    // Replace app=... by jars=...: the agent argument is the third element.
    cmd.replaceAll(a -> a.startsWith("-javaagent:") ? a.replace("app=perfscope.testapp", "jars=" + jar) : a);
    cmd.add("perfscope.testapp.Basic");
    ChildJvm.Run r = ChildJvm.run(cmd);
    assertEquals(0, r.exit, r.toString());
    assertOk(r, "basic");
    // Every method line names the jar as its location.
    Path methods = out.resolve(r.pid + ".methods");
    for (String l : Files.readAllLines(methods)) {
      if (!l.startsWith("#")) assertEquals(jar.toRealPath().toString(), l.split("\t")[7], l);
    }
  }

  /** A method pushed past 64 KiB by the probe: the whole class stays untouched, one stderr line. */
  @Test
  void methodTooLargeLeavesClassUntouched() throws Exception {
    Path gen = out.resolve("gen");
    Files.createDirectories(gen.resolve("perfscope/testapp/gen"));
    Files.write(gen.resolve("perfscope/testapp/gen/Big.class"), bigClass());
    List<String> cmd = ChildJvm.javaCmd(out, "", true, ChildJvm.TEST_CLASSES + File.pathSeparator + gen);
    cmd.add("perfscope.testapp.TooBig");
    ChildJvm.Run r = ChildJvm.run(cmd);
    assertEquals(0, r.exit, r.toString());
    assertTrue(r.out.contains("OK toobig"), r.toString());
    long lines = r.err.lines().filter(l -> l.startsWith("perfscope-agent: left perfscope.testapp.gen.Big untouched")).count();
    assertEquals(1, lines, r.toString());
    assertTrue(r.err.contains("MethodTooLargeException"), r.toString());
    String methods = Files.readString(out.resolve(r.pid + ".methods"));
    assertFalse(methods.contains("perfscope.testapp.gen.Big"), "no ids for the untouched class");
  }

  /** perfscope/testapp/gen/Big: big() has ~65,500 bytes of code; small() returns T.depth(). */
  static byte[] bigClass() {
    ClassWriter cw = new ClassWriter(ClassWriter.COMPUTE_MAXS);
    cw.visit(Opcodes.V11, Opcodes.ACC_PUBLIC, "perfscope/testapp/gen/Big", null, "java/lang/Object", null);
    MethodVisitor mv = cw.visitMethod(Opcodes.ACC_PUBLIC | Opcodes.ACC_STATIC, "big", "()V", null, null);
    mv.visitCode();
    for (int i = 0; i < 21_842; i++) mv.visitMethodInsn(Opcodes.INVOKESTATIC, "perfscope/testkit/T", "nop", "()V", false);
    mv.visitInsn(Opcodes.RETURN); // 65,527 bytes: the probe adds at least 14 more (8 left)
    mv.visitMaxs(0, 0);
    mv.visitEnd();
    mv = cw.visitMethod(Opcodes.ACC_PUBLIC | Opcodes.ACC_STATIC, "small", "()I", null, null);
    mv.visitCode();
    mv.visitMethodInsn(Opcodes.INVOKESTATIC, "perfscope/testkit/T", "depth", "()I", false);
    mv.visitInsn(Opcodes.IRETURN);
    mv.visitMaxs(0, 0);
    mv.visitEnd();
    cw.visitEnd();
    return cw.toByteArray();
  }

  /** PID.methods and PID.counts: format, dense ids, counts equal to the calls (1 thread and 4 threads). */
  @Test
  void sideFiles() throws Exception {
    // Not test mode: the real configuration, registration included.
    List<String> cmd = ChildJvm.javaCmd(out, "", false, null);
    cmd.add("perfscope.testapp.Counting");
    ChildJvm.Run r = ChildJvm.run(cmd);
    assertEquals(0, r.exit, r.toString());
    assertTrue(r.out.contains("OK counting"), r.toString());
    assertFalse(r.err.contains("perfscope-agent:"), r.toString());

    List<String> m = Files.readAllLines(out.resolve(r.pid + ".methods"), StandardCharsets.UTF_8);
    assertTrue(m.get(0).matches("# perfscope-jvm methods v1 pid=" + r.pid + " java=\\S+"), m.get(0));
    Map<String, Integer> ids = new HashMap<>();
    Map<String, Integer> access = new HashMap<>();
    for (int i = 1; i < m.size(); i++) {
      String[] f = m.get(i).split("\t", -1);
      assertEquals(8, f.length, m.get(i));
      assertEquals(i - 1, Integer.parseInt(f[0]), "ids are dense from 0 in file order");
      assertEquals("perfscope.testapp.Counting", f[1].replaceAll("\\$.*", ""));
      assertEquals("perfscope/testapp/Counting.java", f[5]);
      assertEquals(ChildJvm.TEST_CLASSES.toRealPath().toString(), f[7]);
      ids.put(f[2] + f[3], Integer.parseInt(f[0]));
      access.put(f[2] + f[3], Integer.parseInt(f[4]));
      if (f[2].equals("main")) assertTrue(Integer.parseInt(f[6]) > 0, "main has a line");
    }
    assertTrue(ids.containsKey("<init>()V"), ids.toString());
    assertTrue(ids.containsKey("lambda$main$0()V") || ids.containsKey("worker()V"), ids.toString());
    assertEquals(Opcodes.ACC_STATIC | Instrumenter.LEAF_FLAG, access.get("leaf(I)I"), "leaf flag");
    assertEquals(Opcodes.ACC_STATIC, access.get("work(I)V"));

    List<String> c = Files.readAllLines(out.resolve(r.pid + ".counts"), StandardCharsets.UTF_8);
    assertEquals("# perfscope-jvm counts v1 pid=" + r.pid + " final=1", c.get(0));
    Map<Integer, Long> counts = new HashMap<>();
    for (int i = 1; i < c.size(); i++) {
      String[] f = c.get(i).split("\t");
      assertEquals(2, f.length, c.get(i));
      long n = Long.parseLong(f[1]);
      assertTrue(n > 0, "only non-zero counts are listed");
      counts.put(Integer.parseInt(f[0]), n);
    }
    assertEquals(1000L, counts.get(ids.get("work(I)V")), "single thread");
    assertEquals(10_000L, counts.get(ids.get("work4(I)V")), "4 threads, ended");
    assertEquals(4L, counts.get(ids.get("worker()V")), "worker bodies");
    assertEquals(1L, counts.get(ids.get("main([Ljava/lang/String;)V")));
    assertEquals(null, counts.get(ids.get("leaf(I)I")), "a leaf is not counted");
    assertFalse(Files.exists(out.resolve(r.pid + ".counts.tmp")));
  }

  /** Bad arguments: one "perfscope-agent:" line, and the application runs as without the agent. */
  @Test
  void badArgumentsDisableTheAgent() throws Exception {
    for (String args : Arrays.asList("bogus", "app=x", "out=" + out, "app=x,out=/nonexistent/dir", "app=x,out=" + out + ",depth=0", "app=x,out=" + out + ",leaf=maybe")) {
      List<String> cmd = new ArrayList<>(Arrays.asList(ChildJvm.javaBin(), "-javaagent:" + ChildJvm.agentJar() + "=" + args,
          "-cp", ChildJvm.TEST_CLASSES.toString(), "perfscope.testapp.Hello"));
      ChildJvm.Run r = ChildJvm.run(cmd);
      assertEquals(0, r.exit, args + ": " + r);
      assertEquals("hello world\n", r.out, args);
      // Exactly one line, and no other trace of the agent (no bootstrap append: no CDS warning).
      List<String> lines = r.err.lines().collect(java.util.stream.Collectors.toList());
      assertEquals(1, lines.size(), args + ": " + r.err);
      assertTrue(lines.get(0).startsWith("perfscope-agent: "), r.err);
    }
  }

  /**
   * strace: exactly one lseek(fd, 0x5053 << 48 | addr, SEEK_SET) per thread that ran instrumented
   * code, with addr its region.
   */
  @Test
  void registrationMarkerUnderStrace() throws Exception {
    assumeTrue(new File("/usr/bin/strace").canExecute(), "strace not installed");
    Path log = out.resolve("strace.log");
    List<String> cmd = new ArrayList<>(Arrays.asList("/usr/bin/strace", "-f", "-qq", "-e", "trace=lseek", "-o", log.toString()));
    cmd.addAll(ChildJvm.javaCmd(out, "", false, null));
    cmd.add("perfscope.testapp.Registration");
    ChildJvm.Run r = ChildJvm.run(cmd);
    assumeTrue(!r.err.contains("PTRACE_TRACEME") && !r.err.contains("Operation not permitted"), "ptrace not permitted");
    assertEquals(0, r.exit, r.toString());
    Map<String, Long> printed = new HashMap<>(); // thread name -> region address
    for (String l : r.out.split("\n")) {
      if (l.startsWith("ADDR ")) {
        String[] f = l.split(" ");
        Long prev = printed.put(f[1], Long.parseLong(f[2]));
        if (prev != null) assertEquals(prev, Long.parseLong(f[2]), "a thread keeps its region");
      }
    }
    assertEquals(4, printed.size(), r.out);
    Pattern p = Pattern.compile("^(\\d+)\\s+lseek\\((\\d+), (\\d+), SEEK_SET\\)\\s+= (\\d+)");
    List<Long> marked = new ArrayList<>();
    Map<String, Integer> perTid = new HashMap<>();
    for (String l : Files.readAllLines(log)) {
      Matcher mm = p.matcher(l);
      if (!mm.find()) continue;
      long off = Long.parseUnsignedLong(mm.group(3));
      if ((off >>> 48) != 0x5053) continue;
      assertEquals("0", mm.group(4), "lseek on /dev/null succeeds: " + l);
      marked.add(off & ((1L << 48) - 1));
      perTid.merge(mm.group(1), 1, Integer::sum);
    }
    assertEquals(new HashSet<>(printed.values()), new HashSet<>(marked), "marked addresses = regions");
    assertEquals(4, marked.size(), "one marker per thread: " + marked);
    assertEquals(4, perTid.size(), "four distinct threads: " + perTid);
  }
}
