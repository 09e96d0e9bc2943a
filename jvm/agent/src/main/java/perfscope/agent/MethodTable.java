package perfscope.agent;

import java.io.File;
import java.io.FileOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * Method ids and the {@code PID.methods} side file.
 *
 * <p>Ids are dense per process, start at 0 and are never reused. A class takes a block of ids with an
 * optimistic protocol: it reads the next free id, rewrites itself with ids from there (outside any
 * lock: rewriting reads class bytes through application class loaders, and holding a lock across that
 * could deadlock with a loader's own lock), then commits the block only if no other class took those
 * ids meanwhile, otherwise rewrites again. The commit appends the class's lines with one write before
 * the transformer returns the new bytes, so the tracer always finds an id it sees in a syscall record.
 */
final class MethodTable {
  private MethodTable() {}

  private static final Object LOCK = new Object();
  /** Next free id (guarded by LOCK; volatile for the lock-free peek). */
  private static volatile int next;
  /** Append-mode stream: unbuffered, each write is one write(2). Null before open (offline use). */
  private static FileOutputStream out;
  /** "dotted.Class.method" by id, kept only in test mode for {@link Shadow#frames()}. */
  private static final List<String> NAMES = new ArrayList<>();

  static void open(File file, long pid) throws IOException {
    FileOutputStream o = new FileOutputStream(file, false);
    String header = "# perfscope-jvm methods v1 pid=" + pid + " java=" + System.getProperty("java.version") + "\n";
    o.write(header.getBytes(StandardCharsets.UTF_8));
    synchronized (LOCK) {
      out = o;
    }
  }

  static int peek() {
    return next;
  }

  /** Number of ids handed out so far. */
  static int size() {
    return next;
  }

  /**
   * Takes ids [base, base + n) if base is still the next free id and appends {@code lines}.
   * Returns false if another class took them first (the caller rewrites with a new base).
   *
   * @throws IOException if the side file could not be written; the ids stay taken
   */
  static boolean commit(int base, int n, byte[] lines, List<String> names) throws IOException {
    synchronized (LOCK) {
      if (next != base) return false;
      next = base + n;
      if (Shadow.TEST) NAMES.addAll(names);
      if (out != null) out.write(lines);
      return true;
    }
  }

  static String name(int id) {
    synchronized (LOCK) {
      return id >= 0 && id < NAMES.size() ? NAMES.get(id) : "#" + id;
    }
  }

  /** Offline use (tests): forget everything. */
  static void resetForTests() {
    synchronized (LOCK) {
      next = 0;
      NAMES.clear();
      out = null;
    }
  }
}
