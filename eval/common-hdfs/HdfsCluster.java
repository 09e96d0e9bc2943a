// The HD-* cases' cluster, run by start-cluster.sh as a single-file source program in the JVM
// that becomes the NameNode: it writes $WORK/cluster/conf from the recipe's templates (as
// bin/hdfs-conf does, plus WebHDFS off and the NAME=VALUE arguments), copies the formatted
// name folder from name-template/, starts the DataNode (the recipe's bin/hdfs-datanode) as a
// child process, and then runs NameNode.main in this JVM (RPC on 127.0.0.1:$PORT).
//
// Why a Java launcher and not bin/hdfs-namenode: `perfscope watch --pid` checks what start.sh's
// process runs as soon as it attaches, and refuses a database for another program; a shell
// prelude (configuration, copies) before `exec java` lost that race on the loaded machine
// (HD-2 and HD-3 in the first eval runs). This way start.sh's process is a JVM with the
// HDFS jars on its class path from its first millisecond.
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.*;
import java.util.Enumeration;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;

public class HdfsCluster {
  public static void main(String[] args) throws Exception {
    String src = System.getenv("TARGET_SRC"), port = System.getenv("PORT");
    Path here = Paths.get(System.getProperty("hdfs.cases.common"));
    Path w = Paths.get(System.getenv("WORK"), "cluster");
    Path conf = w.resolve("conf");
    for (String d : new String[] {"conf", "dfs/name", "logs", "tmp"}) Files.createDirectories(w.resolve(d));
    StringBuilder extra = new StringBuilder(
        "  <property><name>dfs.webhdfs.enabled</name><value>false</value></property>\n");
    for (String kv : args) {
      int eq = kv.indexOf('=');
      extra.append("  <property><name>").append(kv, 0, eq).append("</name><value>")
          .append(kv.substring(eq + 1)).append("</value></property>\n");
    }
    for (String f : new String[] {"core-site.xml", "hdfs-site.xml"}) {
      String t = Files.readString(Paths.get(src, "conf", f + ".in"))
          .replace("@WORK@", w.toString()).replace("@NN_PORT@", port)
          .replace("@NN_HTTP_PORT@", "0").replace("@DN_PORT@", "0")
          .replace("@DN_HTTP_PORT@", "0").replace("@DN_IPC_PORT@", "0");
      if (f.equals("hdfs-site.xml")) t = t.replace("</configuration>", extra + "</configuration>");
      Files.writeString(conf.resolve(f), t);
    }
    Files.copy(Paths.get(src, "conf", "log4j.properties"), conf.resolve("log4j.properties"),
        StandardCopyOption.REPLACE_EXISTING);
    Path cur = w.resolve("dfs/name/current");
    Files.createDirectories(cur);
    try (DirectoryStream<Path> ds = Files.newDirectoryStream(here.resolve("name-template/current"))) {
      for (Path p : ds) Files.copy(p, cur.resolve(p.getFileName()), StandardCopyOption.REPLACE_EXISTING);
    }
    // The web pages: Maven Central ships webapps/ only in the hadoop-hdfs tests jar, from which
    // Jetty copies webapps/hdfs by reading through the whole 10 MB jar (15 s and more on the
    // loaded machine); unpacked into conf/ (first on the class path) they are found there.
    Path tmp = w.resolve("webapps.tmp");
    try (ZipFile z = new ZipFile(Paths.get(src, "lib", "hadoop-hdfs-3.5.0-tests.jar").toFile())) {
      for (Enumeration<? extends ZipEntry> e = z.entries(); e.hasMoreElements(); ) {
        ZipEntry ze = e.nextElement();
        if (!ze.getName().startsWith("webapps/")) continue;
        Path out = tmp.resolve(ze.getName());
        if (ze.isDirectory()) { Files.createDirectories(out); continue; }
        Files.createDirectories(out.getParent());
        try (InputStream in = z.getInputStream(ze)) { Files.copy(in, out, StandardCopyOption.REPLACE_EXISTING); }
      }
    }
    Files.move(tmp.resolve("webapps"), conf.resolve("webapps"));
    // the DataNode: a child of this JVM, so in start.sh's process tree and process group
    ProcessBuilder pb = new ProcessBuilder(src + "/bin/hdfs-datanode", w.toString());
    pb.redirectErrorStream(true);
    pb.redirectOutput(w.resolve("logs/datanode.log").toFile());
    pb.start();
    org.apache.hadoop.hdfs.server.namenode.NameNode.main(new String[0]);
  }
}
