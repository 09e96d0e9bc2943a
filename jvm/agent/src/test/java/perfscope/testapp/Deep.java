package perfscope.testapp;

import static perfscope.testkit.T.*;

import perfscope.agent.Shadow;

/** Recursion past the region's capacity and back keeps the depth exact (run with depth=64). */
public class Deep {
  static int bottomDepth;
  static int bottomStored;
  static String bottomTop;

  public static void main(String[] args) {
    int d0 = depth();
    long[] h = Shadow.header();
    eq(64L, h[1], "capacity");
    eq(0x3176_6A73_7066_7370L, h[2], "magic");
    recurse(200);
    eq(d0 + 200, bottomDepth, "depth at the bottom");
    eq(64, bottomStored, "stored frames at the bottom (capacity)");
    eq("Deep.recurse", bottomTop, "top stored frame at the bottom");
    eq(d0, depth(), "depth after returning");
    try {
      throwAtBottom(300);
    } catch (RuntimeException e) {
      eq(d0, depth(), "depth after an exception from past the capacity");
    }
    eq(list("Deep.probe", "Deep.main"), probe(), "frames after the deep excursions");
    ok("deep");
  }

  static void recurse(int n) {
    if (n == 1) {
      bottomDepth = depth();
      bottomStored = Shadow.frameIds().length;
      bottomTop = frames().get(0);
      return;
    }
    int d = depth();
    recurse(n - 1);
    eq(d, depth(), "depth after a recursive return");
  }

  static void throwAtBottom(int n) {
    if (n == 0) throw new RuntimeException("bottom");
    throwAtBottom(n - 1);
  }

  static java.util.List<String> probe() {
    return frames();
  }
}
