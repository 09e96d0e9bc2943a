package perfscope.agent;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

/** The runtime called directly, in this JVM: region header, frames, counters across pages. */
class ShadowTest {
  @Test
  void regionFramesAndCounts() throws Exception {
    int[] ids = {0, 5, 511, 512, 5_000, 70_000};
    long[] before = Shadow.totals(70_001);
    Throwable[] failure = new Throwable[1];
    Thread t =
        new Thread(() -> {
          try {
            long[] h = Shadow.header();
            assertEquals(0L, h[0], "depth of a new thread");
            assertEquals((long) Shadow.capacity, h[1], "capacity");
            assertEquals(0x3176_6A73_7066_7370L, h[2], "magic");
            int[] saved = new int[ids.length];
            for (int i = 0; i < ids.length; i++) saved[i] = Shadow.enter(ids[i]);
            assertArrayEquals(new int[] {0, 1, 2, 3, 4, 5}, saved, "enter returns the depth before the push");
            assertArrayEquals(new int[] {70_000, 5_000, 512, 511, 5, 0}, Shadow.frameIds(), "frames, top first");
            assertArrayEquals(new long[] {6, 5, 4, 3, 2, 1}, Shadow.frameCalls(), "call numbers");
            for (int i = ids.length - 1; i >= 0; i--) Shadow.exit(saved[i]);
            assertEquals(0, Shadow.depth());
            int s = Shadow.enter(5);
            assertArrayEquals(new long[] {7}, Shadow.frameCalls(), "the call number keeps counting");
            Shadow.exit(s);
          } catch (Throwable e) {
            failure[0] = e;
          }
        });
    t.start();
    t.join();
    if (failure[0] != null) throw new AssertionError(failure[0]);
    long[] after = Shadow.totals(70_001); // the thread has ended: folded into the dead threads' sum
    for (int i = 0; i < after.length; i++) {
      final int id = i;
      long expect = i == 5 ? 2 : java.util.Arrays.stream(ids).anyMatch(x -> x == id) ? 1 : 0;
      assertEquals(expect, after[i] - before[i], "count of id " + i);
    }
    assertArrayEquals(after, Shadow.totals(70_001), "folding is stable");
  }
}
