package perfscope.testapp;

import static perfscope.testkit.T.*;

/** Exceptions unwinding through instrumented methods leave no stale frames. */
public class Exceptions {
  public static void main(String[] args) {
    int d0 = depth();
    caughtByCaller();
    eq(d0, depth(), "after caughtByCaller");

    try {
      a();
      throw new AssertionError("a() should throw");
    } catch (IllegalStateException e) {
      eq(d0, depth(), "depth after an exception propagated through a, b, c");
      eq(list("Exceptions.main"), frames(), "frames after propagation");
    }

    eq(7, catchesItself(), "catchesItself");
    eq(d0, depth(), "after catchesItself");

    eq(3, finallyReturn(), "finallyReturn");
    eq(d0, depth(), "after finallyReturn");

    try {
      jdkThrows();
      throw new AssertionError("jdkThrows() should throw");
    } catch (NumberFormatException e) {
      eq(d0, depth(), "depth after an exception thrown by the JDK inside an app method");
    }
    ok("exceptions");
  }

  static void caughtByCaller() {
    int d = depth();
    try {
      thrower();
      throw new AssertionError("thrower should throw");
    } catch (RuntimeException e) {
      eq(d, depth(), "depth in caller after the callee threw");
      eq(list("Exceptions.caughtByCaller", "Exceptions.main"), frames(), "frames after catch");
    }
  }

  static void thrower() {
    eq(list("Exceptions.thrower", "Exceptions.caughtByCaller", "Exceptions.main"), frames(), "frames in thrower");
    throw new RuntimeException("boom");
  }

  static void a() {
    b();
  }

  static void b() {
    c();
  }

  static void c() {
    eq(list("Exceptions.c", "Exceptions.b", "Exceptions.a", "Exceptions.main"), frames(), "frames in c");
    throw new IllegalStateException("from c");
  }

  /** A throw caught inside the same method must not pop the method's own frame. */
  static int catchesItself() {
    int d = depth();
    try {
      throw new RuntimeException("local");
    } catch (RuntimeException e) {
      eq(d, depth(), "depth after a local catch");
      eq("Exceptions.catchesItself", frames().get(0), "top after a local catch");
      return 7;
    }
  }

  @SuppressWarnings("finally")
  static int finallyReturn() {
    try {
      thrower2();
      return 1;
    } finally {
      eq("Exceptions.finallyReturn", frames().get(0), "top in finally");
      return 3;
    }
  }

  static void thrower2() {
    throw new RuntimeException("swallowed by finally");
  }

  static int jdkThrows() {
    return Integer.parseInt("not a number");
  }
}
