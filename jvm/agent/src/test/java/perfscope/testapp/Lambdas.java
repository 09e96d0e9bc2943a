package perfscope.testapp;

import static perfscope.testkit.T.*;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Collectors;

/** Lambda bodies are application code: called from the JDK they show [lambda$..., enclosing, ...]. */
public class Lambdas {
  public static void main(String[] args) {
    run();
    eq(list("Lambdas.main"), frames(), "frames after run");
    ok("lambdas");
  }

  static void run() {
    List<List<String>> seen = new ArrayList<>();
    Arrays.asList(1, 2, 3).forEach(x -> seen.add(frames()));
    eq(3, seen.size(), "forEach calls");
    for (List<String> f : seen) {
      eq(list("Lambdas.lambda$run$0", "Lambdas.run", "Lambdas.main"), f, "frames in the lambda");
    }
    List<String> tops =
        Arrays.asList("a", "b").stream().map(s -> frames().get(0)).collect(Collectors.toList());
    eq(list("Lambdas.lambda$run$1", "Lambdas.lambda$run$1"), tops, "top in a stream lambda");
    Runnable r = Lambdas::target;
    r.run();
  }

  static void target() {
    eq(list("Lambdas.target", "Lambdas.run", "Lambdas.main"), frames(), "frames in a method reference target");
  }
}
