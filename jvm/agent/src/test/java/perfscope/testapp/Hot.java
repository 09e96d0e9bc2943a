package perfscope.testapp;

import static perfscope.testkit.T.*;

/** A hot method called 1e6 times (JIT-compiled, Shadow.enter inlined) keeps the depth balanced. */
public class Hot {
  static int sink;

  public static void main(String[] args) {
    int d0 = depth();
    long sum = 0;
    int thrown = 0;
    for (int round = 0; round < 2; round++) {
      for (int i = 0; i < 1_000_000; i++) {
        try {
          sum += tiny(i);
        } catch (IllegalArgumentException e) {
          thrown++;
        }
      }
      eq(d0, depth(), "depth after a round of 1e6 calls");
    }
    eq(2000, thrown, "exceptions");
    check(sum != 0, "sum");
    eq(list("Hot.main"), frames(), "frames after the loop");
    // Still right after compilation: a fresh call sees itself on top.
    eq(list("Hot.probe", "Hot.main"), probe(), "frames in a call after warm-up");
    ok("hot");
  }

  static int tiny(int x) {
    if (x % 1000 == 999) throw new IllegalArgumentException();
    return inc(x);
  }

  /** A leaf: not instrumented with leaf=skip. */
  static int inc(int x) {
    return x + 1;
  }

  static java.util.List<String> probe() {
    return frames();
  }
}
