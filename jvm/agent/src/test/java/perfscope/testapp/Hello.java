package perfscope.testapp;

/** Runs with bad agent arguments: the application must run as if there were no agent. */
public class Hello {
  public static void main(String[] args) {
    System.out.println("hello " + greet());
  }

  static String greet() {
    return "world";
  }
}
