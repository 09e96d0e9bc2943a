package perfscope.agent;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.WeakHashMap;
import java.util.concurrent.ConcurrentHashMap;
import org.objectweb.asm.ClassReader;
import org.objectweb.asm.ClassWriter;
import org.objectweb.asm.Opcodes;

/**
 * A ClassWriter whose COMPUTE_FRAMES never loads a class: loading one from inside a transformer could
 * initialise application code early, recurse into the transformer or deadlock. Super types are read
 * from class files through the defining loader's resources, then the system loader's; results are
 * cached per loader.
 */
final class SafeClassWriter extends ClassWriter {
  private static final String OBJECT = "java/lang/Object";

  /** Super class name (null for Object) and whether the type is an interface. */
  private static final class Info {
    final String superName;
    final boolean isInterface;

    Info(String superName, boolean isInterface) {
      this.superName = superName;
      this.isInterface = isInterface;
    }
  }

  private static final Info MISSING = new Info(null, false);
  private static final Map<ClassLoader, Map<String, Info>> CACHE = new WeakHashMap<>();
  private static final Map<String, Info> BOOT_CACHE = new ConcurrentHashMap<>();

  /** Thrown when a type needed for a frame cannot be read: the class is then left untouched. */
  static final class UnresolvedType extends RuntimeException {
    UnresolvedType(String type) {
      super("cannot read class file of " + type.replace('/', '.') + " to compute stack map frames");
    }
  }

  private final ClassLoader loader;
  /** This loader's cache, looked up once per class rather than once per type. */
  private final Map<String, Info> cache;

  SafeClassWriter(ClassReader cr, int flags, ClassLoader loader) {
    super(cr, flags);
    this.loader = loader;
    this.cache = cacheFor(loader);
  }

  @Override
  protected String getCommonSuperClass(String type1, String type2) {
    if (type1.equals(type2)) return type1;
    if (type1.equals(OBJECT) || type2.equals(OBJECT)) return OBJECT;
    Info i1 = info(type1), i2 = info(type2);
    // The verifier treats interfaces as Object, as does ClassWriter's own implementation.
    if (i1.isInterface || i2.isInterface) return OBJECT;
    Set<String> ancestors = new HashSet<>();
    for (String t = type1; t != null; t = info(t).superName) ancestors.add(t);
    for (String t = type2; t != null; t = info(t).superName) if (ancestors.contains(t)) return t;
    return OBJECT;
  }

  /**
   * Reads a type's header. A type that cannot be read aborts the rewrite rather than answering
   * java/lang/Object: a wrong common super class makes the verifier reject the class (VerifyError in
   * the application), whereas an aborted rewrite only leaves the class uninstrumented.
   */
  private Info info(String type) {
    if (type.equals(OBJECT)) return new Info(null, false);
    Info i = cache.get(type);
    if (i == null) {
      i = read(loader, type);
      if (i == MISSING && loader != null) i = read(null, type);
      cache.put(type, i);
    }
    if (i == MISSING) throw new UnresolvedType(type);
    return i;
  }

  private static Map<String, Info> cacheFor(ClassLoader loader) {
    if (loader == null) return BOOT_CACHE;
    synchronized (CACHE) {
      Map<String, Info> m = CACHE.get(loader);
      if (m == null) CACHE.put(loader, m = new ConcurrentHashMap<>());
      return m;
    }
  }

  /** Reads a class file header through {@code loader}, or the system loader when null. */
  private static Info read(ClassLoader loader, String type) {
    String res = type + ".class";
    try (InputStream in =
        loader != null ? loader.getResourceAsStream(res) : ClassLoader.getSystemResourceAsStream(res)) {
      if (in == null) return MISSING;
      ClassReader cr = new ClassReader(readAll(in));
      return new Info(cr.getSuperName(), (cr.getAccess() & Opcodes.ACC_INTERFACE) != 0);
    } catch (IOException | RuntimeException e) {
      return MISSING;
    }
  }

  private static byte[] readAll(InputStream in) throws IOException {
    ByteArrayOutputStream b = new ByteArrayOutputStream(4096);
    byte[] buf = new byte[8192];
    for (int n; (n = in.read(buf)) > 0; ) b.write(buf, 0, n);
    return b.toByteArray();
  }
}
