package perfscope.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;
import org.junit.jupiter.api.io.TempDir;

/**
 * Measurements, not run by default: {@code mvn -B test -Dtest=BenchTest -Dperfscope.bench=1}
 * (add {@code -Dperfscope.bench.jar=JAR -Dperfscope.bench.deps=DIR} for the start-up cost).
 */
@EnabledIfSystemProperty(named = "perfscope.bench", matches = "1")
class BenchTest {
  @TempDir Path out;

  @Test
  void entryExitCost() throws Exception {
    List<String> cmd = ChildJvm.javaCmd(out, "leaf=keep", false, null);
    cmd.add("perfscope.benchplain.Bench");
    ChildJvm.Run r = ChildJvm.run(cmd);
    assertEquals(0, r.exit, r.toString());
    System.out.println("with agent:    " + r.out.trim());
    List<String> plain = new ArrayList<>(Arrays.asList(ChildJvm.javaBin(), "-cp", ChildJvm.TEST_CLASSES.toString(), "perfscope.benchplain.Bench"));
    r = ChildJvm.run(plain);
    assertEquals(0, r.exit, r.toString());
    System.out.println("without agent: " + r.out.trim());
  }

  @Test
  void startupCost() throws Exception {
    String jar = System.getProperty("perfscope.bench.jar");
    if (jar == null) return;
    String deps = System.getProperty("perfscope.bench.deps", "");
    for (int i = 0; i < 2; i++) {
      List<String> base = new ArrayList<>(Arrays.asList(ChildJvm.javaBin(), "-cp", ChildJvm.TEST_CLASSES.toString(),
          "perfscope.benchplain.LoadAll", jar, deps));
      ChildJvm.Run r = ChildJvm.run(base);
      System.out.println("without agent: " + r.out.trim());
      List<String> cmd = new ArrayList<>(Arrays.asList(ChildJvm.javaBin(),
          "-javaagent:" + ChildJvm.agentJar() + "=jars=" + jar + ",out=" + out, "-Dperfscope.jvm.stats=1",
          "-cp", ChildJvm.TEST_CLASSES.toString(), "perfscope.benchplain.LoadAll", jar, deps));
      r = ChildJvm.run(cmd);
      System.out.println("with agent:    " + r.out.trim() + " | " + r.err.trim().replace('\n', ' '));
    }
  }
}
