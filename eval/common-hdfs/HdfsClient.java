// The HDFS cases' client (HD-*), run as a single-file source program by client.sh:
//   java -cp "$TARGET_SRC/conf:$TARGET_SRC/lib/*" HdfsClient.java MODE [ARGS]
// against the standalone cluster of start-cluster.sh (NameNode RPC on 127.0.0.1:$PORT).
//
//   normal [N]        instance N of an ordinary application: a data thread (puts of 4-256 KB
//                     files, gets, deletes of old files) and a metadata thread (listings,
//                     stats, renames, mkdirs); one line of figures every 5 s
//   append            a log job: appends one 1 KB batch to a day's log file twice a second
//   wal               a write-ahead log: two writers, 100-300 byte records, hflush() after each
//   stream            a metrics shipper: two streams, a 200-byte record + hflush() every 20 ms
//   probe             one put, one get, one listing of a small file, each limited to 5 s
//   bench SECS THREADS SIZE
//                     steady small-file load for the overhead measurements: each thread
//                     creates a SIZE-byte file, reads it back, stats and deletes it, over and
//                     over; prints "bench: N files in S s = R files/s"
//   benchlog THREADS SIZE
//                     the same load without an end, printing "T <epoch ms> <files done>
//                     <errors>" every 500 ms (for targets/hadoop-hdfs/bench/watch-overhead.sh)
//   wait [SECS]       until the NameNode is out of safe mode with a live DataNode
//
// Every file sits under /app. Sizes are multiples of 4 KB, so that the ordinary writes send
// only whole checksum chunks (only hflush() leaves a partial chunk at the end of a packet).
import java.io.IOException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.concurrent.*;
import java.util.concurrent.atomic.AtomicLong;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataInputStream;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.hdfs.DistributedFileSystem;
import org.apache.hadoop.hdfs.protocol.HdfsConstants;

public class HdfsClient {
  static final Random RND = new Random();
  static final byte[] DATA = new byte[256 * 1024];

  static FileSystem fs() throws IOException {
    Configuration conf = new Configuration();
    conf.set("fs.defaultFS", "hdfs://127.0.0.1:" + System.getenv("PORT"));
    conf.setInt("dfs.replication", 1);
    // one DataNode: a failed pipeline cannot be rebuilt on another one
    conf.setBoolean("dfs.client.block.write.replace-datanode-on-failure.enable", false);
    conf.setBoolean("fs.hdfs.impl.disable.cache", true);
    return FileSystem.get(conf);
  }

  static String now() {
    return java.time.LocalTime.now().format(java.time.format.DateTimeFormatter.ofPattern("HH:mm:ss"));
  }

  static void say(String s) {
    System.out.println(now() + " " + s);
    System.out.flush();
  }

  /** Latencies and errors of one kind of operation between two reports. */
  static final class Stats {
    final List<Double> lat = Collections.synchronizedList(new ArrayList<>());
    final AtomicLong errors = new AtomicLong();
    volatile long inFlightSince = 0;   // System.nanoTime() of an operation in progress, or 0
    volatile String inFlight = "";

    String report(String label, double seconds) {
      List<Double> l;
      synchronized (lat) { l = new ArrayList<>(lat); lat.clear(); }
      long e = errors.getAndSet(0);
      Collections.sort(l);
      double sum = 0;
      for (double x : l) sum += x;
      String s = String.format("%s: %.1f ops/s, ok %d, errors %d, avg %.1f ms, p99 %.1f ms, max %.1f ms",
          label, (l.size() + e) / seconds, l.size(), e, l.isEmpty() ? 0 : sum / l.size(),
          l.isEmpty() ? 0 : l.get(Math.min(l.size() - 1, (int) (0.99 * l.size()))),
          l.isEmpty() ? 0 : l.get(l.size() - 1));
      long t = inFlightSince;
      if (t != 0 && System.nanoTime() - t > 2_000_000_000L) {
        s += String.format(", %s in flight for %.0f s", inFlight, (System.nanoTime() - t) / 1e9);
      }
      return s;
    }
  }

  interface Op { void run() throws Exception; }

  static void timed(Stats st, String name, Op op) {
    long t0 = System.nanoTime();
    st.inFlight = name;
    st.inFlightSince = t0;
    try {
      op.run();
      st.lat.add((System.nanoTime() - t0) / 1e6);
    } catch (Exception e) {
      long n = st.errors.incrementAndGet();
      if (n <= 3) say("error in " + name + ": " + e.toString().replace('\n', ' '));
    } finally {
      st.inFlightSince = 0;
    }
  }

  static void reporter(String[] labels, Stats[] stats) {
    Thread t = new Thread(() -> {
      long last = System.nanoTime();
      while (true) {
        try { Thread.sleep(5000); } catch (InterruptedException e) { return; }
        long n = System.nanoTime();
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < stats.length; i++) {
          if (i > 0) sb.append(" | ");
          sb.append(stats[i].report(labels[i], (n - last) / 1e9));
        }
        last = n;
        say(sb.toString());
      }
    }, "reporter");
    t.setDaemon(true);
    t.start();
  }

  static void put(FileSystem fs, Path p, int size) throws IOException {
    try (FSDataOutputStream out = fs.create(p, true)) {
      int off = RND.nextInt(DATA.length - 4096);
      for (int left = size; left > 0; ) {
        int n = Math.min(left, DATA.length - off);
        out.write(DATA, off, n);
        left -= n;
        off = 0;
      }
    }
  }

  static long get(FileSystem fs, Path p) throws IOException {
    byte[] buf = new byte[64 * 1024];
    long total = 0;
    try (FSDataInputStream in = fs.open(p)) {
      for (int n; (n = in.read(buf)) > 0; ) total += n;
    }
    return total;
  }

  static void waitActive(FileSystem fs, int seconds) throws Exception {
    DistributedFileSystem dfs = (DistributedFileSystem) fs;
    long end = System.currentTimeMillis() + seconds * 1000L;
    Exception last = null;
    while (System.currentTimeMillis() < end) {
      try {
        if (!dfs.setSafeMode(HdfsConstants.SafeModeAction.SAFEMODE_GET)
            && dfs.getDataNodeStats(HdfsConstants.DatanodeReportType.LIVE).length > 0) {
          return;
        }
      } catch (Exception e) {
        last = e;
      }
      Thread.sleep(500);
    }
    throw new IOException("cluster not active after " + seconds + " s", last);
  }

  static void normal(int instance) throws Exception {
    FileSystem fs = fs();
    waitActive(fs, 120);
    Path dir = new Path("/app/data/i" + instance);
    Path meta = new Path("/app/meta/i" + instance);
    fs.mkdirs(dir);
    fs.mkdirs(meta);
    List<Path> files = Collections.synchronizedList(new ArrayList<>());
    for (int i = 0; i < 20; i++) {
      Path p = new Path(dir, "seed-" + i);
      put(fs, p, 4096 * (1 + RND.nextInt(64)));
      files.add(p);
    }
    say("normal[" + instance + "] ready: 20 files in " + dir);
    Stats data = new Stats(), md = new Stats();
    reporter(new String[] {"normal[" + instance + "] data", "meta"}, new Stats[] {data, md});
    Thread metaThread = new Thread(() -> {
      Random r = new Random(instance);
      for (long n = 0; ; n++) {
        int k = r.nextInt(10);
        if (k < 5) {
          timed(md, "listing", () -> fs.listStatus(dir));
        } else if (k < 8) {
          timed(md, "stat", () -> {
            Path p = files.isEmpty() ? dir : files.get(r.nextInt(files.size()));
            try { fs.getFileStatus(p); } catch (java.io.FileNotFoundException e) { /* deleted meanwhile */ }
          });
        } else if (k < 9) {
          final long m = n;
          timed(md, "mkdir+rename", () -> {
            Path a = new Path(meta, "tmp-" + m), b = new Path(meta, "done-" + m);
            fs.mkdirs(a);
            fs.rename(a, b);
          });
        } else {
          timed(md, "cleanup", () -> {
            for (FileStatus st : fs.listStatus(meta)) {
              if (st.getPath().getName().startsWith("done-")) fs.delete(st.getPath(), true);
            }
          });
        }
        try { Thread.sleep(150); } catch (InterruptedException e) { return; }
      }
    }, "meta");
    metaThread.setDaemon(true);
    metaThread.start();
    for (long n = 0; ; n++) {
      int k = RND.nextInt(20);
      if (k < 8) {
        Path p = new Path(dir, "f-" + n);
        int size = 4096 * (1 + RND.nextInt(64));
        timed(data, "put", () -> { put(fs, p, size); files.add(p); });
      } else if (k < 17) {
        if (!files.isEmpty()) {
          Path p = files.get(RND.nextInt(files.size()));
          timed(data, "get", () -> get(fs, p));
        }
      } else if (files.size() > 60) {
        Path p = files.remove(0);
        timed(data, "delete", () -> fs.delete(p, false));
      }
      Thread.sleep(80);
    }
  }

  static void append() throws Exception {
    FileSystem fs = fs();
    Path p = new Path("/app/logs/job-" + System.currentTimeMillis() + ".log");
    put(fs, p, 4096);   // yesterday's part, closed
    say("append: appending to " + p);
    Stats st = new Stats();
    reporter(new String[] {"append"}, new Stats[] {st});
    byte[] batch = new byte[1024];
    while (true) {
      timed(st, "append", () -> {
        try (FSDataOutputStream out = fs.append(p)) {
          RND.nextBytes(batch);
          out.write(batch);
        }
      });
      Thread.sleep(500);
    }
  }

  /** Writers of small records with hflush() after each; pause ms between records. */
  static void recordWriters(String label, String dirName, int writers, int pauseMs, int minLen,
      int maxLen) throws Exception {
    FileSystem fs = fs();
    Stats[] st = new Stats[writers];
    String[] labels = new String[writers];
    for (int w = 0; w < writers; w++) {
      st[w] = new Stats();
      labels[w] = label + "[" + w + "] hflush";
    }
    reporter(labels, st);
    ExecutorService ex = Executors.newFixedThreadPool(writers);
    for (int w = 0; w < writers; w++) {
      final int id = w;
      ex.submit((Callable<Void>) () -> {
        byte[] rec = new byte[maxLen];
        Random r = new Random(id);
        for (int seg = 0; ; seg++) {
          Path p = new Path("/app/" + dirName + "/w" + id + "-" + System.currentTimeMillis());
          try (FSDataOutputStream out = fs.create(p, true)) {
            say(label + "[" + id + "]: writing " + p);
            for (long bytes = 0; bytes < 4L << 20; ) {
              int len = minLen + r.nextInt(maxLen - minLen + 1);
              r.nextBytes(rec);
              timed(st[id], "hflush", () -> { out.write(rec, 0, len); out.hflush(); });
              bytes += len;
              if (pauseMs > 0) Thread.sleep(pauseMs);
            }
          } catch (Exception e) {
            say(label + "[" + id + "] error: " + e);
            Thread.sleep(1000);
          }
        }
      });
    }
    ex.awaitTermination(365, TimeUnit.DAYS);
  }

  static void probe() throws Exception {
    // a thread per operation: one that hangs does not keep the next from being tried
    ExecutorService ex = Executors.newCachedThreadPool(r -> {
      Thread t = new Thread(r);
      t.setDaemon(true);
      return t;
    });
    FileSystem fs = fs();
    Path p = new Path("/app/probe-" + System.nanoTime());
    StringBuilder sb = new StringBuilder();
    String[] names = {"put", "get", "listing"};
    Callable<?>[] ops = {
      () -> {
        put(fs, p, 4096);
        ((DistributedFileSystem) fs).rename(p, new Path("/app/probe-file"), org.apache.hadoop.fs.Options.Rename.OVERWRITE);
        return null;
      },
      () -> get(fs, new Path("/app/probe-file")),
      () -> fs.listStatus(new Path("/app")),
    };
    for (int i = 0; i < ops.length; i++) {
      long t0 = System.nanoTime();
      Future<?> f = ex.submit(ops[i]);
      try {
        f.get(5, TimeUnit.SECONDS);
        sb.append(String.format("%s %.1f ms", names[i], (System.nanoTime() - t0) / 1e6));
      } catch (TimeoutException e) {
        sb.append(names[i]).append(" no answer in 5 s");
      } catch (ExecutionException e) {
        sb.append(String.format("%s failed after %.1f s (%s)", names[i],
            (System.nanoTime() - t0) / 1e9, e.getCause().getClass().getSimpleName()));
      }
      if (i < ops.length - 1) sb.append(", ");
    }
    System.out.println(sb);
    System.out.flush();
    Runtime.getRuntime().halt(0);
  }

  static void bench(int seconds, int threads, int size) throws Exception {
    FileSystem fs = fs();
    waitActive(fs, 120);
    Path dir = new Path("/app/bench-" + System.nanoTime());
    fs.mkdirs(dir);
    AtomicLong done = new AtomicLong(), errors = new AtomicLong();
    long t0 = System.nanoTime(), end = t0 + seconds * 1_000_000_000L;
    Thread[] ts = new Thread[threads];
    for (int t = 0; t < threads; t++) {
      final int id = t;
      ts[t] = new Thread(() -> {
        for (long n = 0; System.nanoTime() < end; n++) {
          Path p = new Path(dir, "t" + id + "-" + n);
          try {
            put(fs, p, size);
            if (size > 0) get(fs, p);
            fs.getFileStatus(p);
            fs.delete(p, false);
            done.incrementAndGet();
          } catch (Exception e) {
            if (errors.incrementAndGet() <= 3) say("bench error: " + e);
          }
        }
      });
      ts[t].start();
    }
    for (Thread t : ts) t.join();
    double s = (System.nanoTime() - t0) / 1e9;
    System.out.printf("bench: %d files in %.1f s = %.1f files/s, errors %d%n", done.get(), s,
        done.get() / s, errors.get());
    fs.delete(dir, true);
  }

  /** bench without an end: "T <epoch ms> <files done> <errors>" every 500 ms on stdout. */
  static void benchLog(int threads, int size) throws Exception {
    FileSystem fs = fs();
    waitActive(fs, 120);
    Path dir = new Path("/app/bench-" + System.nanoTime());
    fs.mkdirs(dir);
    AtomicLong done = new AtomicLong(), errors = new AtomicLong();
    for (int t = 0; t < threads; t++) {
      final int id = t;
      Thread th = new Thread(() -> {
        for (long n = 0; ; n++) {
          Path p = new Path(dir, "t" + id + "-" + n);
          try {
            put(fs, p, size);
            if (size > 0) get(fs, p);
            fs.getFileStatus(p);
            fs.delete(p, false);
            done.incrementAndGet();
          } catch (Exception e) {
            if (errors.incrementAndGet() <= 3) say("bench error: " + e);
          }
        }
      });
      th.setDaemon(true);
      th.start();
    }
    while (true) {
      System.out.println("T " + System.currentTimeMillis() + " " + done.get() + " " + errors.get());
      System.out.flush();
      Thread.sleep(500);
    }
  }

  public static void main(String[] args) throws Exception {
    RND.nextBytes(DATA);
    String mode = args.length > 0 ? args[0] : "";
    switch (mode) {
      case "normal": normal(args.length > 1 ? Integer.parseInt(args[1]) : 1); break;
      case "append": append(); break;
      case "wal": recordWriters("wal", "wal", 2, 0, 100, 300); break;
      case "stream": recordWriters("stream", "metrics", 2, 20, 200, 200); break;
      case "probe": probe(); break;
      case "benchlog": benchLog(Integer.parseInt(args[1]), Integer.parseInt(args[2])); break;
      case "bench": bench(Integer.parseInt(args[1]), Integer.parseInt(args[2]), Integer.parseInt(args[3])); break;
      case "wait": waitActive(fs(), args.length > 1 ? Integer.parseInt(args[1]) : 120); break;
      default:
        System.err.println("usage: HdfsClient normal [N] | append | wal | stream | probe | bench SECS THREADS SIZE | benchlog THREADS SIZE | wait [SECS]");
        System.exit(2);
    }
  }
}
