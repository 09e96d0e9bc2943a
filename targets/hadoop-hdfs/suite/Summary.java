// Per-class results of a suite/run-tests.sh run, from the JUnit Platform legacy XML reports.
// Run as a single-file program (no build step):  java suite/Summary.java WORK
// WORK holds jvm-NN/{classes.txt,exit-code,reports/*.xml,output.log}. Prints one line per
// selected class, then "N passed, N failed, N skipped" (test methods). Exit 1 when a test
// failed, a selected class produced no result, or a JVM ended abnormally.
// A JVM killed by its timeout writes no XML report: its classes are then read from the
// launcher's "testfeed" lines in output.log ("JUnit Jupiter > TestX > testY() :: SUCCESSFUL"):
// the class whose test was still running is KILLED, classes whose tests all ended are judged on
// them (no times), classes that never started have no result.
import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.*;
import javax.xml.parsers.DocumentBuilderFactory;
import org.w3c.dom.*;

public class Summary {
  static final class Cls {
    int tests, failed, skipped; double time; String firstFailure; String jvm; boolean killed;
  }

  public static void main(String[] args) throws Exception {
    File work = new File(args[0]);
    Map<String, Cls> byClass = new LinkedHashMap<>();
    List<String> problems = new ArrayList<>();
    File[] jvms = work.listFiles(f -> f.isDirectory() && f.getName().startsWith("jvm-"));
    Arrays.sort(jvms);
    for (File jvm : jvms) {
      List<String> selected = Files.readAllLines(new File(jvm, "classes.txt").toPath());
      for (String s : selected) {
        byClass.computeIfAbsent(s.replaceAll("#.*", ""), k -> new Cls()).jvm = jvm.getName();
      }
      int jvmFailed = 0;
      File[] xmls = new File(jvm, "reports").listFiles(f -> f.getName().endsWith(".xml"));
      for (File x : xmls == null ? new File[0] : xmls) {
        Document doc = DocumentBuilderFactory.newInstance().newDocumentBuilder().parse(x);
        NodeList cases = doc.getElementsByTagName("testcase");
        for (int i = 0; i < cases.getLength(); i++) {
          Element tc = (Element) cases.item(i);
          String cn = tc.getAttribute("classname").replaceAll("\\$.*", "");
          Cls c = byClass.computeIfAbsent(cn, k -> new Cls());
          if (c.jvm == null) c.jvm = jvm.getName();
          c.tests++;
          String t = tc.getAttribute("time");
          if (!t.isEmpty()) c.time += Double.parseDouble(t.replace(",", ""));
          Element bad = first(tc, "failure");
          if (bad == null) bad = first(tc, "error");
          if (bad != null) {
            c.failed++; jvmFailed++;
            if (c.firstFailure == null) {
              String m = bad.getAttribute("message");
              if (m.isEmpty()) m = bad.getAttribute("type");
              m = m.replaceAll("\\s+", " ");
              c.firstFailure = tc.getAttribute("name") + ": " + (m.length() > 160 ? m.substring(0, 160) + "..." : m);
            }
          } else if (first(tc, "skipped") != null) {
            c.skipped++;
          }
        }
      }
      if (xmls == null || xmls.length == 0) {
        jvmFailed += fromTestfeed(new File(jvm, "output.log"), selected, byClass);
      }
      File ec = new File(jvm, "exit-code");
      String code = ec.exists() ? Files.readString(ec.toPath()).trim() : "?";
      if (!code.equals("0") && jvmFailed == 0) {
        problems.add(jvm.getName() + " exited with " + code + (code.equals("124") || code.equals("137")
            ? " (killed by HDFS_TEST_JVM_TIMEOUT)" : "") + " and reported no failed test: see "
            + new File(jvm, "output.log"));
      }
    }
    int passed = 0, failed = 0, skipped = 0, clsPass = 0, clsFail = 0;
    System.out.println();
    System.out.printf("%-6s %-78s %5s %4s %4s %8s%n", "result", "class", "tests", "fail", "skip", "seconds");
    for (Map.Entry<String, Cls> e : byClass.entrySet()) {
      Cls c = e.getValue();
      String r;
      if (c.killed) { r = "KILLED"; clsFail++; }
      else if (c.tests == 0) { r = "NORES"; clsFail++; }
      else if (c.failed > 0) { r = "FAIL"; clsFail++; }
      else { r = "PASS"; clsPass++; }
      passed += c.tests - c.failed - c.skipped; failed += c.failed; skipped += c.skipped;
      System.out.printf("%-6s %-78s %5d %4d %4d %8.1f%s%n", r, e.getKey(), c.tests, c.failed, c.skipped, c.time,
          c.firstFailure != null ? "   " + c.firstFailure
              : c.killed ? "   a test of it was running when its JVM (" + c.jvm + ") was killed"
              : c.tests == 0 ? "   no test result (" + c.jvm + ")" : "");
    }
    for (String p : problems) System.out.println("problem: " + p);
    System.out.printf("%nclasses: %d passed, %d failed or without result%n", clsPass, clsFail);
    System.out.printf("%d passed, %d failed, %d skipped%n", passed, failed, skipped);
    System.exit(failed == 0 && clsFail == 0 && problems.isEmpty() ? 0 : 1);
  }

  static final Pattern FEED = Pattern.compile(
      "JUnit Jupiter > ([^ >]+) > (.*) :: (STARTED|SUCCESSFUL|FAILED|ABORTED|SKIPPED)\\s*$");

  /** Results of a JVM without XML report, from the testfeed lines; returns the failed count. */
  static int fromTestfeed(File log, List<String> selected, Map<String, Cls> byClass) throws Exception {
    if (!log.exists()) return 0;
    Map<String, String> bySimple = new HashMap<>();
    for (String s : selected) {
      String cn = s.replaceAll("#.*", "");
      bySimple.put(cn.substring(cn.lastIndexOf('.') + 1), cn);
    }
    Map<String, String> last = new LinkedHashMap<>();  // "Class > test" -> last status
    try (java.io.BufferedReader r = Files.newBufferedReader(log.toPath(), StandardCharsets.ISO_8859_1)) {
      for (String line; (line = r.readLine()) != null; ) {
        int i = line.indexOf("JUnit Jupiter > ");
        if (i < 0) continue;
        Matcher m = FEED.matcher(line.substring(i));
        if (m.matches()) last.put(m.group(1) + " > " + m.group(2), m.group(3));
      }
    }
    int failed = 0;
    for (Map.Entry<String, String> e : last.entrySet()) {
      String simple = e.getKey().substring(0, e.getKey().indexOf(" > "));
      Cls c = byClass.get(bySimple.getOrDefault(simple, simple));
      if (c == null) continue;
      switch (e.getValue()) {
        case "STARTED": c.killed = true; break;
        case "SUCCESSFUL": c.tests++; break;
        case "SKIPPED": case "ABORTED": c.tests++; c.skipped++; break;
        default:
          c.tests++; c.failed++; failed++;
          if (c.firstFailure == null) c.firstFailure = e.getKey().substring(simple.length() + 3) + ": failed (see output.log)";
      }
    }
    return failed;
  }

  static Element first(Element e, String tag) {
    for (Node n = e.getFirstChild(); n != null; n = n.getNextSibling()) {
      if (n instanceof Element && ((Element) n).getTagName().equals(tag)) return (Element) n;
    }
    return null;
  }
}
