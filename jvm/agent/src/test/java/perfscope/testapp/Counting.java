package perfscope.testapp;

/** Known call counts for the PID.methods / PID.counts checks: work 1000x, work4 4 x 2500x. */
public class Counting {
  static volatile long sink;

  public static void main(String[] args) throws Exception {
    for (int i = 0; i < 1000; i++) work(i);
    Thread[] ts = new Thread[4];
    for (int t = 0; t < ts.length; t++) {
      ts[t] = new Thread(Counting::worker, "worker-" + t);
      ts[t].start();
    }
    for (Thread t : ts) t.join();
    System.out.println("leaf " + leaf(1));
    System.out.println("OK counting");
  }

  static void worker() {
    for (int i = 0; i < 2500; i++) work4(i);
  }

  static void work(int i) {
    sink += String.valueOf(i).length();
  }

  static void work4(int i) {
    sink += Integer.toString(i).length();
  }

  static int leaf(int x) {
    return x * 2;
  }
}
