package perfscope.testapp;

import static perfscope.testkit.T.*;

/** Push/pop around a call; the frames seen inside a callee are [callee, caller, ...]. */
public class Basic {
  public static void main(String[] args) {
    eq(list("Basic.main"), frames(), "frames in main");
    int d0 = depth();
    eq(1, d0, "depth in main");
    caller();
    eq(d0, depth(), "depth after caller returned");
    eq(list("Basic.main"), frames(), "frames after caller returned");
    ok("basic");
  }

  static void caller() {
    int d = depth();
    eq(list("Basic.caller", "Basic.main"), frames(), "frames in caller");
    long[] before = perfscope.agent.Shadow.frameCalls();
    int r = callee(41);
    eq(42, r, "callee result");
    eq(d, depth(), "depth in caller after callee returned");
    eq(list("Basic.caller", "Basic.main"), frames(), "frames in caller after callee");
    eq(before[0], perfscope.agent.Shadow.frameCalls()[0], "caller's call number unchanged");
  }

  static int callee(int x) {
    eq(list("Basic.callee", "Basic.caller", "Basic.main"), frames(), "frames in callee");
    long[] calls = perfscope.agent.Shadow.frameCalls();
    check(calls[0] > calls[1] && calls[1] > calls[2], "call numbers grow inward: " + java.util.Arrays.toString(calls));
    return x + 1;
  }
}
