package perfscope.agent;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.objectweb.asm.ClassReader;
import org.objectweb.asm.ClassVisitor;
import org.objectweb.asm.ClassWriter;
import org.objectweb.asm.ConstantDynamic;
import org.objectweb.asm.Handle;
import org.objectweb.asm.Label;
import org.objectweb.asm.MethodVisitor;
import org.objectweb.asm.Opcodes;
import org.objectweb.asm.Type;
import org.objectweb.asm.commons.AdviceAdapter;

import static org.objectweb.asm.Opcodes.*;

/**
 * Rewrites one application class: every method with code gets {@code int saved = Shadow.enter(ID)} at
 * entry (after super()/this() in constructors), {@code Shadow.exit(saved)} before each return, and a
 * catch-all handler {@code Shadow.exit(saved); athrow} over the body so that an exception unwinding
 * through the method leaves no stale frame. Abstract, native and bridge methods have no entry of
 * their own. With leaf=skip, methods that can make no syscall (see {@link Scan}) are listed but left
 * as they are.
 */
final class Instrumenter {
  private Instrumenter() {}

  static final int ASM_API = Opcodes.ASM9;
  /** Flag added to {@code access} in PID.methods: the method is listed but not instrumented (leaf). */
  static final int LEAF_FLAG = 0x40000000;

  private static final String SHADOW = "perfscope/agent/Shadow";

  /** Result of a transform: new bytes (null: keep the class as it is) and what was listed. */
  static final class Result {
    byte[] bytes;
    int methods;
    int instrumented;
    int leaves;
  }

  /**
   * Instruments {@code bytes} and commits its ids to {@link MethodTable}. Throws on any failure,
   * before any id is taken.
   *
   * @param loader the defining loader, used only to read super types' class files
   * @param location code source path for PID.methods ("-" if none)
   */
  static Result instrument(byte[] bytes, ClassLoader loader, String location, boolean leafKeep)
      throws IOException {
    ClassReader cr = new ClassReader(bytes);
    Scan scan = new Scan();
    cr.accept(scan, ClassReader.SKIP_FRAMES);
    Result r = new Result();
    r.methods = scan.methods.size();
    if (r.methods == 0) return r;
    for (MethodInfo m : scan.methods) {
      m.instrument = leafKeep || !m.leaf;
      if (m.instrument) r.instrumented++;
      else r.leaves++;
    }
    List<String> names = new ArrayList<>(r.methods);
    String dotted = scan.className.replace('/', '.');
    if (Shadow.TEST) for (MethodInfo m : scan.methods) names.add(dotted + "." + m.name);
    while (true) {
      int base = MethodTable.peek();
      byte[] out = r.instrumented == 0 ? null : rewrite(cr, scan, base, loader);
      byte[] lines = lines(scan, base, location);
      if (MethodTable.commit(base, r.methods, lines, names)) {
        r.bytes = out;
        return r;
      }
      // Another class took these ids while we rewrote: rewrite again with the new base.
    }
  }

  /** Rewrites with ids from {@code base}; does not touch {@link MethodTable} (also used for warm-up). */
  static byte[] rewrite(ClassReader cr, Scan scan, int base, ClassLoader loader) {
    // Class files older than Java 6 carry no stack map frames and may use JSR/RET: only recompute maxs.
    boolean frames = scan.version >= Opcodes.V1_6;
    ClassWriter cw = new SafeClassWriter(cr, frames ? ClassWriter.COMPUTE_FRAMES : ClassWriter.COMPUTE_MAXS, loader);
    Map<String, Integer> ids = new HashMap<>();
    for (int i = 0; i < scan.methods.size(); i++) {
      MethodInfo m = scan.methods.get(i);
      if (m.instrument) ids.put(m.name + m.desc, base + i);
    }
    ClassVisitor cv =
        new ClassVisitor(ASM_API, cw) {
          @Override
          public MethodVisitor visitMethod(int access, String name, String desc, String sig, String[] exc) {
            MethodVisitor mv = super.visitMethod(access, name, desc, sig, exc);
            Integer id = ids.get(name + desc);
            return id == null ? mv : new Probe(mv, access, name, desc, id);
          }
        };
    cr.accept(cv, ClassReader.SKIP_FRAMES);
    return cw.toByteArray(); // MethodTooLargeException etc. propagate: the class stays untouched
  }

  /** The probe: enter at entry, exit before returns, exit + rethrow in a catch-all handler. */
  static final class Probe extends AdviceAdapter {
    private final int id;
    private int saved = -1;
    private final Label start = new Label();

    Probe(MethodVisitor mv, int access, String name, String desc, int id) {
      super(ASM_API, mv, access, name, desc);
      this.id = id;
    }

    @Override
    protected void onMethodEnter() {
      push(id);
      visitMethodInsn(INVOKESTATIC, SHADOW, "enter", "(I)I", false);
      saved = newLocal(Type.INT_TYPE);
      storeLocal(saved);
      visitLabel(start);
    }

    @Override
    protected void onMethodExit(int opcode) {
      // Only normal returns: an athrow may be caught inside this very method; the handler covers the rest.
      if (opcode != ATHROW && saved >= 0) exitCall();
    }

    private void exitCall() {
      loadLocal(saved);
      visitMethodInsn(INVOKESTATIC, SHADOW, "exit", "(I)V", false);
    }

    @Override
    public void visitMaxs(int maxStack, int maxLocals) {
      if (saved >= 0) {
        // Added last, so every handler of the method itself takes precedence over this one.
        Label end = new Label(), handler = new Label();
        visitLabel(end);
        visitTryCatchBlock(start, end, handler, null);
        visitLabel(handler);
        exitCall();
        visitInsn(ATHROW);
      }
      super.visitMaxs(maxStack, maxLocals);
    }
  }

  /** What pass 1 learns about a method. */
  static final class MethodInfo {
    final String name, desc;
    final int access;
    int minLine = Integer.MAX_VALUE;
    boolean leaf = true;
    boolean instrument;

    MethodInfo(String name, String desc, int access) {
      this.name = name;
      this.desc = desc;
      this.access = access;
    }
  }

  /**
   * Pass 1: the class's name and source, and for each method with code its first line and whether it
   * is a leaf: a method that can make no syscall itself nor through a callee. That excludes any call
   * (INVOKE*, INVOKEDYNAMIC), monitor entry (MONITORENTER or ACC_SYNCHRONIZED: contention blocks in
   * futex), allocation (NEW, NEWARRAY, ANEWARRAY, MULTIANEWARRAY), static field access and LDC of a
   * Class/MethodHandle/MethodType/dynamic constant (class loading, initialisation) and ATHROW.
   */
  static final class Scan extends ClassVisitor {
    String className;
    String source;
    int version;
    final List<MethodInfo> methods = new ArrayList<>();

    Scan() {
      super(ASM_API);
    }

    @Override
    public void visit(int version, int access, String name, String sig, String superName, String[] itfs) {
      this.version = version & 0xFFFF;
      this.className = name;
    }

    @Override
    public void visitSource(String source, String debug) {
      this.source = source;
    }

    @Override
    public MethodVisitor visitMethod(int access, String name, String desc, String sig, String[] exc) {
      if ((access & (ACC_ABSTRACT | ACC_NATIVE | ACC_BRIDGE)) != 0) return null;
      MethodInfo m = new MethodInfo(name, desc, access);
      if ((access & ACC_SYNCHRONIZED) != 0) m.leaf = false;
      return new MethodVisitor(ASM_API) {
        @Override
        public void visitCode() {
          methods.add(m); // only methods that really have code
        }

        @Override
        public void visitLineNumber(int line, Label startLabel) {
          if (line < m.minLine) m.minLine = line;
        }

        @Override
        public void visitMethodInsn(int op, String owner, String n, String d, boolean itf) {
          m.leaf = false;
        }

        @Override
        public void visitInvokeDynamicInsn(String n, String d, Handle bsm, Object... args) {
          m.leaf = false;
        }

        @Override
        public void visitInsn(int op) {
          if (op == MONITORENTER || op == ATHROW) m.leaf = false;
        }

        @Override
        public void visitTypeInsn(int op, String type) {
          if (op == NEW || op == ANEWARRAY) m.leaf = false;
        }

        @Override
        public void visitIntInsn(int op, int operand) {
          if (op == NEWARRAY) m.leaf = false;
        }

        @Override
        public void visitMultiANewArrayInsn(String desc, int dims) {
          m.leaf = false;
        }

        @Override
        public void visitFieldInsn(int op, String owner, String n, String d) {
          if (op == GETSTATIC || op == PUTSTATIC) m.leaf = false;
        }

        @Override
        public void visitLdcInsn(Object value) {
          if (value instanceof Type || value instanceof Handle || value instanceof ConstantDynamic) m.leaf = false;
        }
      };
    }
  }

  /** PID.methods lines of the class, tab-separated: id class method descriptor access source line location. */
  static byte[] lines(Scan scan, int base, String location) {
    String dotted = clean(scan.className.replace('/', '.'));
    String src = "-";
    if (scan.source != null) {
      int slash = scan.className.lastIndexOf('/');
      src = clean((slash < 0 ? "" : scan.className.substring(0, slash + 1)) + scan.source);
    }
    String loc = location == null ? "-" : clean(location);
    StringBuilder sb = new StringBuilder(scan.methods.size() * 96);
    for (int i = 0; i < scan.methods.size(); i++) {
      MethodInfo m = scan.methods.get(i);
      int access = m.access | (m.instrument ? 0 : LEAF_FLAG);
      sb.append(base + i).append('\t').append(dotted).append('\t').append(clean(m.name)).append('\t')
          .append(clean(m.desc)).append('\t').append(access).append('\t').append(src).append('\t')
          .append(m.minLine == Integer.MAX_VALUE ? 0 : m.minLine).append('\t').append(loc).append('\n');
    }
    return sb.toString().getBytes(StandardCharsets.UTF_8);
  }

  /** Tabs and line breaks would break the format; the JVM allows them in names, so replace them. */
  private static String clean(String s) {
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (c == '\t' || c == '\n' || c == '\r') {
        return s.replace('\t', ' ').replace('\n', ' ').replace('\r', ' ');
      }
    }
    return s;
  }
}
