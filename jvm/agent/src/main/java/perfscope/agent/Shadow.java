package perfscope.agent;

import java.io.RandomAccessFile;
import java.lang.reflect.Field;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import sun.misc.Unsafe;

/**
 * The runtime called by instrumented code: a per-thread shadow stack in native memory that the
 * kernel (BPF) reads at each syscall of the thread.
 *
 * <p>Region layout (native byte order, which is little-endian on every platform perfscope supports):
 *
 * <pre>
 * offset 0          u32 depth     frames pushed; may exceed capacity (frames &gt;= capacity are not stored)
 * offset 4          u32 capacity  frames the region holds
 * offset 8          u64 magic     {@link #MAGIC}
 * offset 16 + 16*i  u32 method id, u32 0, u64 call number   (frame i; i = 0 is the outermost)
 * </pre>
 *
 * <p>Each thread announces its region once, before its first push, with {@code lseek(fd, MARK | addr,
 * SEEK_SET)} on a shared /dev/null descriptor; BPF recognises the marker in the offset.
 *
 * <p>{@link #enter} and {@link #exit} must stay tiny and allocation-free so that the JIT inlines them
 * into every instrumented method. Stores are plain: the only reader is the kernel at this same
 * thread's syscalls, which happen (in native code) after the stores.
 */
public final class Shadow {
  private Shadow() {}

  /** "psfpsjv1" read as a little-endian u64: the bytes at offset 8 spell p s f p s j v 1. */
  public static final long MAGIC = 0x3176_6A73_7066_7370L;
  /** Marker in the high 16 bits of the lseek offset that registers a region: 0x5053 = "PS". */
  public static final long MARK = 0x5053L << 48;
  /** Region addresses must fit below the marker bits. */
  static final long ADDR_LIMIT = 1L << 47;

  static final int HEADER = 16;
  static final int FRAME = 16;

  /** System property {@code perfscope.jvm.test=1}: no registration syscall; frames readable from Java. */
  static final boolean TEST = "1".equals(System.getProperty("perfscope.jvm.test"));

  private static final Unsafe U;
  /** Shared /dev/null handle used only for the registration marker; null when registration is off. */
  private static final RandomAccessFile DEV_NULL;
  /** Zero-capacity region for threads whose own allocation failed; never registered. */
  private static final long SINK;

  /** Frames per region; set once by {@link Boot} before any instrumented code runs. */
  static volatile int capacity = 1024;

  /** Every thread that ever pushed a frame and is not yet folded into {@link #deadCounts}. */
  private static final ArrayList<State> STATES = new ArrayList<>();
  /** Invocation counts of threads that have ended (guarded by STATES). */
  private static long[] deadCounts = new long[0];

  static {
    Unsafe u = null;
    try {
      Field f = Unsafe.class.getDeclaredField("theUnsafe");
      f.setAccessible(true);
      u = (Unsafe) f.get(null);
    } catch (Throwable t) {
      Log.error("sun.misc.Unsafe unavailable: " + t);
    }
    U = u;
    long sink = 0;
    if (u != null) {
      try {
        sink = u.allocateMemory(HEADER);
        u.setMemory(sink, HEADER, (byte) 0);
        u.putLong(sink + 8, MAGIC);
      } catch (Throwable t) {
        Log.error("cannot allocate native memory: " + t);
      }
    }
    SINK = sink;
    RandomAccessFile raf = null;
    if (!TEST) {
      try {
        raf = new RandomAccessFile("/dev/null", "r");
      } catch (Throwable t) {
        Log.error("cannot open /dev/null, threads will not be registered: " + t);
      }
    }
    DEV_NULL = raf;
  }

  /** True when the runtime can work (Unsafe and native memory available). */
  static boolean ok() {
    return U != null && SINK != 0;
  }

  /** Invocation counters come in pages of this many ids, allocated when a thread first calls into them. */
  static final int PAGE_BITS = 9;
  static final int PAGE_MASK = (1 << PAGE_BITS) - 1;

  /** Per-thread state, reached through a ThreadLocal. */
  static final class State {
    final long addr;
    final int cap;
    final Thread thread;
    /** Instrumented entries stored so far; the first call number is 1. */
    long calls;
    /**
     * Invocation counts by method id: pages[id >>> PAGE_BITS][id & PAGE_MASK], pages grown on demand
     * (a flat array would cost every thread 8 bytes per method id ever assigned, e.g. 300 KiB per
     * thread for Cassandra's ~40k methods). Plain longs, read racily by the counts writer.
     */
    long[][] pages = new long[8][];

    State(long addr, int cap, Thread thread) {
      this.addr = addr;
      this.cap = cap;
      this.thread = thread;
    }

    /** Slow path of the count: out of line so that enter stays small. */
    void countSlow(int id) {
      try {
        int pi = id >>> PAGE_BITS;
        long[][] p = pages;
        if (pi >= p.length) {
          long[][] n = new long[Math.max(pi + 1, p.length * 2)][];
          System.arraycopy(p, 0, n, 0, p.length);
          pages = p = n;
        }
        if (p[pi] == null) p[pi] = new long[1 << PAGE_BITS];
        p[pi][id & PAGE_MASK]++;
      } catch (Throwable e) {
        // Out of heap: lose this count rather than throw into the application.
      }
    }
  }

  private static final ThreadLocal<State> TL =
      new ThreadLocal<State>() {
        @Override
        protected State initialValue() {
          return newState();
        }
      };

  /**
   * Pushes frame (id, call number) and returns the depth before the push; instrumented code keeps it
   * and hands it back to {@link #exit}.
   */
  public static int enter(int id) {
    State s = TL.get();
    long a = s.addr;
    int d = U.getInt(a);
    if (d < s.cap) {
      long f = a + HEADER + ((long) d << 4);
      U.putInt(f, id);
      U.putLong(f + 8, ++s.calls);
    }
    U.putInt(a, d + 1);
    long[][] p = s.pages;
    int pi = id >>> PAGE_BITS;
    long[] page;
    if (pi < p.length && (page = p[pi]) != null) page[id & PAGE_MASK]++;
    else s.countSlow(id);
    return d;
  }

  /** Pops back to the depth {@link #enter} returned (absolute, so a missed pop heals itself). */
  public static void exit(int saved) {
    U.putInt(TL.get().addr, saved);
  }

  private static State newState() {
    Thread t = Thread.currentThread();
    State s;
    try {
      int cap = capacity;
      long size = HEADER + (long) FRAME * cap;
      long a = U.allocateMemory(size);
      U.setMemory(a, size, (byte) 0);
      U.putInt(a + 4, cap);
      U.putLong(a + 8, MAGIC);
      s = new State(a, cap, t);
      register(a);
    } catch (Throwable e) {
      // Never throw into the application: this thread gets an unregistered zero-capacity region.
      Log.once("alloc", "cannot allocate a shadow stack for thread '" + t.getName() + "': " + e);
      s = new State(SINK, 0, t);
    }
    synchronized (STATES) {
      STATES.add(s);
    }
    return s;
  }

  /** The marker syscall: exactly one lseek(fd, MARK | addr, SEEK_SET) on /dev/null. */
  private static void register(long addr) {
    RandomAccessFile raf = DEV_NULL;
    if (raf == null) return;
    if (addr <= 0 || addr >= ADDR_LIMIT) {
      Log.once("addr", "region address 0x" + Long.toHexString(addr) + " does not fit in 47 bits: not registered");
      return;
    }
    try {
      synchronized (raf) {
        raf.seek(MARK | addr);
      }
    } catch (Throwable e) {
      Log.once("seek", "registration lseek failed: " + e);
    }
  }

  /**
   * Invocation counts summed over all threads, live and ended, for ids below n. Ended threads are
   * folded into one array and dropped (their counters are final once isAlive() returned false).
   */
  static long[] totals(int n) {
    long[] sum = new long[n];
    synchronized (STATES) {
      for (Iterator<State> it = STATES.iterator(); it.hasNext(); ) {
        State s = it.next();
        if (s.thread.isAlive()) {
          add(sum, s.pages);
        } else {
          // Sized by the thread's pages, not n: an id committed after n was read may have been counted.
          int need = s.pages.length << PAGE_BITS;
          if (deadCounts.length < need) deadCounts = Arrays.copyOf(deadCounts, need);
          add(deadCounts, s.pages);
          it.remove();
        }
      }
      for (int i = 0, m = Math.min(n, deadCounts.length); i < m; i++) sum[i] += deadCounts[i];
    }
    return sum;
  }

  /** Adds paged counters into {@code sum} (ids beyond its length are left out: not yet listed). */
  private static void add(long[] sum, long[][] pages) {
    for (int pi = 0; pi < pages.length; pi++) {
      long[] page = pages[pi];
      if (page == null) continue;
      int base = pi << PAGE_BITS;
      for (int j = 0; j < page.length && base + j < sum.length; j++) sum[base + j] += page[j];
    }
  }

  // ---- Introspection, for tests and diagnostics. Not used by instrumented code. ----

  /** Address of the current thread's region (allocating and registering it if needed). */
  public static long regionAddress() {
    return TL.get().addr;
  }

  /** Current depth of the current thread (may exceed capacity). */
  public static int depth() {
    return U.getInt(TL.get().addr);
  }

  /** Stored method ids of the current thread, top (innermost) first. */
  public static int[] frameIds() {
    State s = TL.get();
    int n = Math.min(U.getInt(s.addr), s.cap);
    int[] ids = new int[n];
    for (int i = 0; i < n; i++) ids[i] = U.getInt(s.addr + HEADER + (long) FRAME * (n - 1 - i));
    return ids;
  }

  /** Stored call numbers of the current thread, top first. */
  public static long[] frameCalls() {
    State s = TL.get();
    int n = Math.min(U.getInt(s.addr), s.cap);
    long[] calls = new long[n];
    for (int i = 0; i < n; i++) calls[i] = U.getLong(s.addr + HEADER + (long) FRAME * (n - 1 - i) + 8);
    return calls;
  }

  /** Stored frames of the current thread as "dotted.Class.method", top first (test mode only). */
  public static String[] frames() {
    int[] ids = frameIds();
    String[] names = new String[ids.length];
    for (int i = 0; i < ids.length; i++) names[i] = MethodTable.name(ids[i]);
    return names;
  }

  /** Raw region bytes [0, 16): depth, capacity, magic, for format checks. */
  public static long[] header() {
    long a = TL.get().addr;
    return new long[] {U.getInt(a) & 0xffffffffL, U.getInt(a + 4) & 0xffffffffL, U.getLong(a + 8)};
  }
}
