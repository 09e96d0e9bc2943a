package perfscope.testapp;

import static perfscope.testkit.T.*;

import java.util.List;

/** Virtual and interface calls show the implementing method. */
public class Virtual {
  interface Shape {
    List<String> area();

    default List<String> describe() {
      return frames();
    }
  }

  static final class Square implements Shape {
    @Override
    public List<String> area() {
      return frames();
    }
  }

  abstract static class Base {
    abstract List<String> f();

    List<String> g() {
      return f();
    }
  }

  static final class Impl extends Base {
    @Override
    List<String> f() {
      return frames();
    }
  }

  public static void main(String[] args) {
    Shape s = new Square();
    eq(list("Virtual$Square.area", "Virtual.main"), s.area(), "interface call");
    eq(list("Virtual$Shape.describe", "Virtual.main"), s.describe(), "default method");
    Base b = new Impl();
    eq(list("Virtual$Impl.f", "Virtual$Base.g", "Virtual.main"), b.g(), "virtual call via abstract method");
    Comparable<String> c = new Comparable<String>() {
      @Override
      public int compareTo(String o) {
        eq(list("Virtual$1.compareTo", "Virtual.main"), frames(), "anonymous class, called through a bridge");
        return 0;
      }
    };
    @SuppressWarnings({"unchecked", "rawtypes"})
    int r = ((Comparable) c).compareTo("x"); // goes through the bridge compareTo(Object), not instrumented
    eq(0, r, "compareTo");
    ok("virtual");
  }
}
