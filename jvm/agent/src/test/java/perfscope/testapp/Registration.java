package perfscope.testapp;

import perfscope.agent.Shadow;

/** Prints each thread's region address after its first instrumented call (strace check, not test mode). */
public class Registration {
  public static void main(String[] args) throws Exception {
    touch();
    Thread[] ts = new Thread[3];
    for (int t = 0; t < ts.length; t++) {
      ts[t] = new Thread(() -> { touch(); touch(); }, "reg-" + t);
      ts[t].start();
      ts[t].join(); // one at a time keeps the output simple
    }
    touch();
    System.out.println("OK registration");
  }

  static synchronized void touch() {
    // Shadow.regionAddress() does not allocate here: this method already pushed a frame.
    System.out.println("ADDR " + Thread.currentThread().getName() + " " + Shadow.regionAddress());
  }
}
