package perfscope.testapp;

import static perfscope.testkit.T.*;

import java.util.List;

/** Constructors (entered after super()/this()) and static initializers. */
public class Ctors {
  static class WithInit {
    static List<String> clinitFrames;

    static {
      clinitFrames = frames();
    }

    List<String> ctorFrames;
    List<String> outerCtorFrames;

    WithInit() {
      super();
      ctorFrames = frames();
    }

    WithInit(int x) {
      this();
      outerCtorFrames = frames();
    }
  }

  static class Parent {
    Parent(int x) {}
  }

  static class Child extends Parent {
    static List<String> argFrames;

    Child() {
      super(arg()); // arg() runs before this constructor has entered
    }

    static int arg() {
      argFrames = frames();
      return 1;
    }
  }

  static class Failing {
    Failing() {
      throw new IllegalStateException("ctor fails");
    }
  }

  public static void main(String[] args) {
    int d0 = depth();
    WithInit w = new WithInit();
    eq(list("Ctors$WithInit.<clinit>", "Ctors.main"), WithInit.clinitFrames, "frames in <clinit>");
    eq(list("Ctors$WithInit.<init>", "Ctors.main"), w.ctorFrames, "frames in <init>");
    WithInit w2 = new WithInit(5);
    // The outer constructor enters only after its this() call returned.
    eq(list("Ctors$WithInit.<init>", "Ctors.main"), w2.ctorFrames, "frames in the this()-called <init>");
    eq(list("Ctors$WithInit.<init>", "Ctors.main"), w2.outerCtorFrames, "frames in the outer <init>");
    new Child();
    eq(list("Ctors$Child.arg", "Ctors.main"), Child.argFrames, "frames in a super() argument");
    try {
      new Failing();
      throw new AssertionError("Failing() should throw");
    } catch (IllegalStateException e) {
      eq(d0, depth(), "depth after a constructor threw");
    }
    eq(d0, depth(), "depth at the end");
    ok("ctors");
  }
}
