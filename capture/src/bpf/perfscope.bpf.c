// SPDX-License-Identifier: (MIT OR GPL-2.0)
/* perfscope's kernel side: function entries (uprobe_multi) feed a per-thread shadow stack,
 * syscalls are recorded with the live application frames they belong to, and the process
 * tree under observation is followed through fork/exec/exit. See README.md. */
#include "vmlinux_min.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "records.h"
#include "tgidset.h"

/* GPL-compatible: bpf_probe_read_user and the task storage helpers are GPL-only. */
char LICENSE[] SEC("license") = "Dual MIT/GPL";

#define NR_exit 60
#define NR_exit_group 231
/* Linux 6.17+: the syscall a uprobe trampoline makes when the kernel optimizes a probe on
 * a 5-byte NOP into a call. It is the tracer's own work, never the application's. */
#define NR_uprobe 336
#define NR_lseek 8

/* The JVM agent (jvm/agent/README.md) announces a thread's shadow stack, once, with
 * lseek(fd, JVM_MARK | addr, SEEK_SET): the high 16 bits of the offset are "PS". */
#define JVM_MARK_SHIFT 48
#define JVM_MARK 0x5053ULL
#define JVM_ADDR_MASK ((1ULL << JVM_MARK_SHIFT) - 1)
#define JVM_HEADER 16
#define JVM_FRAME 16

/* Syscalls-only sessions send a thread's completed syscalls in batches of up to BATCH
 * records: one ring-buffer reservation (a lock and two atomics) per batch instead of per
 * syscall. A batch also goes out as soon as its thread blocked (a syscall that took
 * FLUSH_BLOCKED_NS or more), its oldest record is FLUSH_AGE_NS old, or the thread exits;
 * what sits in a batch when user space needs it is read by the in-flight iterator. So only
 * busy threads (thousands of syscalls a second) batch at all, and they are the ones whose
 * syscalls the per-record cost hurts. */
#define BATCH 8
#define FLUSH_BLOCKED_NS 1000000ULL
#define FLUSH_AGE_NS 5000000ULL

#define READ_ONCE(x) (*(volatile typeof(x) *)&(x))
#define WRITE_ONCE(x, v) (*(volatile typeof(x) *)&(x) = (v))

/* Shadow stack frames per thread: a ring, so that overflow drops the outermost frame
 * without shifting. Must be a power of two. */
#define STACK_DEPTH 32
#define STACK_MASK (STACK_DEPTH - 1)

_Static_assert(sizeof(struct rec_head) == 24, "rec_head layout");
_Static_assert(__builtin_offsetof(struct rec_syscall, dur) == 24, "rec_syscall layout");
_Static_assert(__builtin_offsetof(struct rec_syscall, ret) == 32, "rec_syscall layout");
_Static_assert(__builtin_offsetof(struct rec_syscall, sp) == 40, "rec_syscall layout");
_Static_assert(__builtin_offsetof(struct rec_syscall, nr) == 48, "rec_syscall layout");
_Static_assert(__builtin_offsetof(struct rec_syscall, frames) == REC_SYSCALL_BASE, "rec_syscall layout");
_Static_assert(sizeof(struct rec_syscall) == REC_SYSCALL_BASE + 16 * REC_MAX_FRAMES, "rec_syscall layout");
_Static_assert(sizeof(struct rec_fork) == 48, "rec_fork layout");
_Static_assert(sizeof(struct rec_exec) == 32 + PATH_LEN, "rec_exec layout");
_Static_assert(sizeof(struct rec_exit) == 32, "rec_exit layout");
_Static_assert(sizeof(struct rec_syscall_base) == REC_SYSCALL_BASE, "rec_syscall_base layout");
_Static_assert(sizeof(struct rec_comm) == 40, "rec_comm layout");
_Static_assert(sizeof(struct capture_config) == 48, "capture_config layout");

const volatile struct capture_config cfg = {};

struct shadow_frame {
	u32 func;
	u32 link; /* the generation of the link whose probe pushed it (the cookie's high half) */
	u64 call; /* the thread's entry counter at this entry */
	u64 sp; /* user SP at entry: the address of the return address */
	u64 ret; /* the return address found there at entry */
};

/* Per-thread state, in task local storage: no hashing on the hot path, and the kernel
 * frees it with the task, so threads we never see exit cannot leak entries. */
struct thread_state {
	u64 calls; /* function entries so far: call numbers */
	u64 jvm; /* the JVM agent's shadow stack of this thread (user address), or 0 */
	u32 top; /* ring indices of the shadow stack: depth = top - bottom */
	u32 bottom;
	u32 pending; /* rec holds a syscall that has entered and not exited */
	u32 batched; /* completed records in batch[], not sent yet (syscalls-only mode) */
	u64 flushes; /* batches sent: lets the in-flight iterator see a batch change under it */
	struct shadow_frame stack[STACK_DEPTH];
	struct rec_syscall rec;
	struct rec_syscall_base batch[BATCH];
};

/* The in-flight iterator's copy of a batch, checked for consistency before it is written. */
struct batch_copy {
	struct rec_syscall_base rec[BATCH];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct batch_copy);
} scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct thread_state);
} threads SEC(".maps");

/* Sized by user space (a power-of-two number of bytes). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 26);
} events SEC(".maps");

/* Per-CPU counters in one mmapable array so user space sums them without a syscall:
 * [cpu * STAT_COUNT + stat] for cpu < ncpus, then invocation counts at
 * [ncpus * STAT_COUNT + (cpu % count_rows) * func_capacity + function id]: a row per CPU
 * unless that would take too much memory. Sized by user space. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u64);
} counters SEC(".maps");

static __always_inline void count_n(u32 idx, u64 n)
{
	u64 *c = bpf_map_lookup_elem(&counters, &idx);

	/* Atomic: a program can be preempted by another task's on the same CPU. */
	if (c)
		__sync_fetch_and_add(c, n);
}

static __always_inline void count(u32 idx)
{
	count_n(idx, 1);
}

static __always_inline void stat_add(u32 stat, u64 n)
{
	count_n(bpf_get_smp_processor_id() * STAT_COUNT + stat, n);
}

static __always_inline void stat_inc(u32 stat)
{
	stat_add(stat, 1);
}

/* Is the current task traced? (For FILTER_CGROUP, the current task's cgroup decides,
 * whatever `tgid` is: callers pass the current task's.) */
static __always_inline bool traced_current(u32 tgid)
{
	if (tgid == cfg.self_tgid)
		return false;
	if (cfg.filter == FILTER_CGROUP)
		return bpf_get_current_ancestor_cgroup_id(cfg.cgroup_level) == cfg.cgroup_id;
	return tgid_in_set(tgid);
}

static __always_inline void fill_head(struct rec_head *h, u8 kind, u32 pid, u32 tid)
{
	h->kind = kind;
	h->depth = 0;
	h->_pad = 0;
	h->cpu = bpf_get_smp_processor_id();
	h->ts = bpf_ktime_get_ns();
	h->pid = pid;
	h->tid = tid;
}

/* ---- the shadow stack ---------------------------------------------------------------- */

/* The invariant that keeps attribution cheap: every frame on a shadow stack was live when
 * the frame above it was pushed, so it is an ancestor of that frame. Hence, while the top
 * frame is live, all frames are: checking the top suffices, and frames are only ever
 * removed from the top. Both pops below keep it. */

/* Pops the frames whose entry SP is below `sp` (or equal to it, with `or_equal`): their
 * functions have returned, or (at an entry, equal SP) were replaced by a tail call. */
static __always_inline u32 pop_below(struct thread_state *st, u32 top, u32 bottom, u64 sp,
				     bool or_equal)
{
	for (int i = 0; i < STACK_DEPTH; i++) {
		if (top == bottom)
			break;
		u64 fsp = st->stack[(top - 1) & STACK_MASK].sp;
		if (fsp > sp || (fsp == sp && !or_equal))
			break;
		top--;
	}
	return top;
}

/* Pops frames from the top while their return-address slot no longer holds the return
 * address recorded at entry: the function returned and a later call (to an unprobed
 * function, at the same depth or deeper) reused the slot. The SP test cannot see that:
 * after callee() returns, its caller calling geteuid() in libc makes its syscall at
 * callee's entry SP. */
static __always_inline u32 pop_returned(struct thread_state *st, u32 top, u32 bottom)
{
	for (int i = 0; i < STACK_DEPTH; i++) {
		if (top == bottom)
			break;
		struct shadow_frame *f = &st->stack[(top - 1) & STACK_MASK];
		u64 slot = 0;
		/* An unreadable slot proves nothing: keep the frame. */
		if (bpf_probe_read_user(&slot, sizeof(slot), (void *)f->sp) != 0 || slot == f->ret)
			break;
		top--;
	}
	return top;
}

/* ---- function entries ---------------------------------------------------------------- */

/* Counts one invocation of `func` (per-CPU rows, summed by user space). */
static __always_inline void count_entry(u32 func)
{
	if (func < cfg.func_capacity) {
		u32 row = bpf_get_smp_processor_id() % cfg.count_rows;
		count(cfg.ncpus * STAT_COUNT + row * cfg.func_capacity + func);
	}
}

/* One program behind every uprobe_multi link; the cookie is the function id, with the
 * link's generation in its high half. */
SEC("uprobe.multi")
int on_entry(struct pt_regs *ctx)
{
	u64 id = bpf_get_current_pid_tgid();
	if (!traced_current(id >> 32))
		return 0;

	u64 cookie = bpf_get_attach_cookie(ctx);
	u32 func = (u32)cookie;
	u32 link = (u32)(cookie >> 32);

	struct thread_state *st = bpf_task_storage_get(&threads, bpf_get_current_task_btf(), 0,
						       BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!st) {
		count_entry(func);
		stat_inc(STAT_NO_STATE);
		return 0;
	}

	/* At the first instruction the return address is at [sp]. */
	u64 sp = ctx->sp;
	u64 ret = 0;
	bpf_probe_read_user(&ret, sizeof(ret), (void *)sp);

	/* While muting replaces a link, the old and the new one both probe the functions they
	 * share, and one entry runs this program once per link. The newer link's run is the
	 * one that counts: a frame just pushed for this very entry (same function, SP and
	 * return address) by a newer link means this run is the older link's. (A call made
	 * again from the same call site, through the same link, counts; whichever order the
	 * kernel runs the two in, at most one entry per thread is counted twice when a newer
	 * link appears.) */
	u32 top0 = st->top;
	if (top0 != st->bottom) {
		struct shadow_frame *t = &st->stack[(top0 - 1) & STACK_MASK];
		if (t->link > link && t->func == func && t->sp == sp && t->ret == ret)
			return 0;
	}
	count_entry(func);

	u32 bottom = st->bottom;
	u32 top = pop_below(st, st->top, bottom, sp, true);
	/* A callback called by a library at varying depths (a merge sort's comparator) would
	 * otherwise leave its returned invocations under the live one. */
	top = pop_returned(st, top, bottom);
	if (top - bottom >= STACK_DEPTH) {
		bottom++;
		stat_inc(STAT_STACK_OVERFLOW);
	}
	struct shadow_frame *f = &st->stack[top & STACK_MASK];
	f->func = func;
	f->link = link;
	f->call = ++st->calls;
	f->sp = sp;
	f->ret = ret;
	st->top = top + 1;
	st->bottom = bottom;
	return 0;
}

/* ---- syscalls ---------------------------------------------------------------------------- */

/* Drops the frames that cannot be live at a syscall made with user SP `sp`, and copies the
 * innermost survivors into `rec`. */
static __always_inline void attribute(struct thread_state *st, u64 sp)
{
	u32 bottom = st->bottom;
	/* A frame is live while SP <= its entry SP: a leaf, or a tail-called libc wrapper,
	 * makes the syscall at exactly that SP. */
	u32 top = pop_below(st, st->top, bottom, sp, false);
	top = pop_returned(st, top, bottom);
	st->top = top;

	u32 depth = 0;
	for (int i = 0; i < REC_MAX_FRAMES; i++) {
		if (i >= cfg.max_frames || top - i == bottom)
			break;
		struct shadow_frame *f = &st->stack[(top - 1 - i) & STACK_MASK];
		st->rec.frames[i].func = f->func;
		st->rec.frames[i]._pad = 0;
		st->rec.frames[i].call = f->call;
		depth++;
	}
	st->rec.h.depth = depth;
}

/* A JVM thread's frames come from the agent's shadow stack in its own memory: depth at
 * offset 0, capacity at 4, frames of (method id, 0, call number) from offset 16, the
 * outermost first. The innermost stored max_frames are copied, marked FRAME_JVM. */
static __always_inline void attribute_jvm(struct thread_state *st)
{
	u32 head[2] = {};
	st->rec.h.depth = 0;
	if (bpf_probe_read_user(head, sizeof(head), (void *)st->jvm) != 0) {
		stat_inc(STAT_JVM_UNREADABLE);
		return;
	}
	u32 stored = head[0];
	if (stored > head[1]) {
		/* the innermost frames did not fit: the deepest stored one is an ancestor */
		stored = head[1];
		stat_inc(STAT_JVM_DEEP);
	}
	u32 n = stored;
	if (n > cfg.max_frames)
		n = cfg.max_frames;
	if (n > REC_MAX_FRAMES)
		n = REC_MAX_FRAMES;
	if (n == 0)
		return;
	struct rec_frame buf[REC_MAX_FRAMES];
	u64 from = st->jvm + JVM_HEADER + (u64)(stored - n) * JVM_FRAME;
	u32 size = n * sizeof(struct rec_frame);
	if (size > sizeof(buf))
		size = sizeof(buf);
	if (bpf_probe_read_user(buf, size, (void *)from) != 0) {
		stat_inc(STAT_JVM_UNREADABLE);
		return;
	}
	for (int i = 0; i < REC_MAX_FRAMES; i++) {
		if (i >= n)
			break;
		struct rec_frame *f = &buf[(n - 1 - i) & (REC_MAX_FRAMES - 1)];
		st->rec.frames[i].func = f->func | FRAME_JVM;
		st->rec.frames[i]._pad = 0;
		st->rec.frames[i].call = f->call;
	}
	st->rec.h.depth = n;
}

static __always_inline void send_syscall(struct thread_state *st)
{
	u32 depth = st->rec.h.depth;
	if (depth > REC_MAX_FRAMES)
		depth = REC_MAX_FRAMES;
	if (bpf_ringbuf_output(&events, &st->rec, REC_SYSCALL_BASE + depth * sizeof(struct rec_frame),
			       BPF_RB_NO_WAKEUP))
		stat_inc(STAT_DROPS);
}

/* Sends the first `n` records of the thread's batch. */
static __always_inline void send_batch(struct thread_state *st, u32 n)
{
	if (n > BATCH)
		n = BATCH;
	if (n == 0)
		return;
	if (bpf_ringbuf_output(&events, st->batch, n * sizeof(struct rec_syscall_base),
			       BPF_RB_NO_WAKEUP))
		stat_add(STAT_DROPS, n);
	st->batched = 0;
	/* Before batch[0] is rewritten by the next syscall: the iterator compares. */
	WRITE_ONCE(st->flushes, st->flushes + 1);
}

/* Appends the completed syscall in `rec` to the thread's batch; sends the batch when it is
 * full, the thread blocked, the batch is old, or `now_send`. */
static __always_inline void batch_syscall(struct thread_state *st, u64 now, bool now_send)
{
	u32 n = st->batched;
	if (n >= BATCH)
		n = 0; /* never: a full batch is sent at once */
	__builtin_memcpy(&st->batch[n], &st->rec, sizeof(struct rec_syscall_base));
	barrier();
	st->batched = ++n;
	if (now_send || n == BATCH || st->rec.dur >= FLUSH_BLOCKED_NS ||
	    now - st->batch[0].h.ts >= FLUSH_AGE_NS)
		send_batch(st, n);
}

SEC("tp_btf/sys_enter")
int BPF_PROG(on_sys_enter, struct pt_regs *regs, long nr)
{
	/* A constant of the frozen .rodata: the verifier drops the dead branch. */
	if (cfg.attach_only)
		return 0;
	/* The ids from the task (loads), not bpf_get_current_pid_tgid() (a call: calls and
	 * returns are what this path spends most on, with retpolines and return thunks). */
	struct task_struct *task = bpf_get_current_task_btf();
	u32 tgid = task->tgid;
	if (nr == NR_uprobe || !traced_current(tgid))
		return 0;

	struct thread_state *st = bpf_task_storage_get(&threads, task, 0,
						       BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!st) {
		stat_inc(STAT_NO_STATE);
		return 0;
	}

	if (cfg.full && nr == NR_lseek && regs->dx == 0 /* SEEK_SET */ &&
	    (regs->si >> JVM_MARK_SHIFT) == JVM_MARK) {
		/* The agent's announcement, not the application's syscall: not recorded. */
		st->jvm = regs->si & JVM_ADDR_MASK;
		stat_inc(STAT_JVM_THREADS);
		return 0;
	}

	u64 sp = regs->sp;
	fill_head(&st->rec.h, REC_SYSCALL, tgid, task->pid);
	st->rec.dur = DUR_NONE;
	st->rec.ret = 0;
	st->rec.sp = sp;
	st->rec.nr = nr;
	st->rec._pad = 0;
	if (cfg.full) {
		if (st->jvm)
			attribute_jvm(st);
		else
			attribute(st, sp);
	}

	/* These never return: send them now. */
	if (nr == NR_exit || nr == NR_exit_group) {
		st->pending = 0;
		if (cfg.full)
			send_syscall(st);
		else
			batch_syscall(st, st->rec.h.ts, true);
		return 0;
	}
	st->pending = 1;
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(on_sys_exit, struct pt_regs *regs, long ret)
{
	if (cfg.attach_only)
		return 0;
	/* No filter lookup: only traced threads have a pending syscall. */
	struct thread_state *st = bpf_task_storage_get(&threads, bpf_get_current_task_btf(), 0, 0);
	if (!st || !st->pending)
		return 0;
	st->pending = 0;
	u64 now = bpf_ktime_get_ns();
	st->rec.dur = now - st->rec.h.ts;
	st->rec.ret = ret;
	if (cfg.full)
		send_syscall(st);
	else
		batch_syscall(st, now, false);
	return 0;
}

/* ---- the process tree ------------------------------------------------------------------- */

SEC("tp_btf/sched_process_fork")
int BPF_PROG(on_fork, struct task_struct *parent, struct task_struct *child)
{
	u32 ptgid = parent->tgid;
	/* The parent is the current task. */
	if (!traced_current(ptgid))
		return 0;

	u32 ctgid = child->tgid;
	if (ctgid != ptgid) {
		if (cfg.filter != FILTER_TGIDS)
			goto emit; /* the cgroup decides, and children stay in it */
		if (!cfg.follow)
			return 0;
		if (!tgid_set(ctgid, true)) {
			stat_inc(STAT_TGIDS_FULL);
			return 0;
		}
	}
emit:
	/* A forked process (not a thread, nor a vfork child sharing our stack) continues in
	 * the parent's functions: give it the parent's frames, and the parent's call counter
	 * so that its call numbers never repeat those inherited frames'. */
	if (cfg.full && child->mm != parent->mm) {
		struct thread_state *pst = bpf_task_storage_get(&threads, parent, 0, 0);
		if (pst && (pst->top != pst->bottom || pst->jvm)) {
			struct thread_state *cst = bpf_task_storage_get(
				&threads, child, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
			if (cst) {
				cst->calls = pst->calls;
				cst->jvm = pst->jvm;
				cst->top = pst->top;
				cst->bottom = pst->bottom;
				cst->pending = 0;
				__builtin_memcpy(cst->stack, pst->stack, sizeof(cst->stack));
			} else {
				stat_inc(STAT_NO_STATE);
			}
		}
	}

	struct rec_fork *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
	if (!r) {
		stat_inc(STAT_DROPS);
		return 0;
	}
	fill_head(&r->h, REC_FORK, ptgid, parent->pid);
	r->child_pid = ctgid;
	r->child_tid = child->pid;
	bpf_probe_read_kernel_str(r->comm, sizeof(r->comm), child->comm);
	bpf_ringbuf_submit(r, BPF_RB_NO_WAKEUP);
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(on_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	u32 tgid = p->tgid;
	if (!traced_current(tgid))
		return 0;

	/* The old image's frames are gone. */
	struct thread_state *st = bpf_task_storage_get(&threads, p, 0, 0);
	if (st) {
		st->top = 0;
		st->bottom = 0;
		st->jvm = 0;
	}

	struct rec_exec *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
	if (!r) {
		stat_inc(STAT_DROPS);
		return 0;
	}
	fill_head(&r->h, REC_EXEC, tgid, p->pid);
	r->old_tid = old_pid;
	r->_pad = 0;
	if (bpf_probe_read_kernel_str(r->path, sizeof(r->path), BPF_CORE_READ(bprm, filename)) < 0)
		r->path[0] = 0;
	bpf_ringbuf_submit(r, BPF_RB_NO_WAKEUP);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(on_exit, struct task_struct *p)
{
	u32 tgid = p->tgid;
	if (!traced_current(tgid))
		return 0;

	/* signal->live, not the tracepoint's group_dead argument: older kernels lack it. */
	u32 group_dead = BPF_CORE_READ(p, signal, live.counter) == 0;
	if (group_dead && cfg.filter == FILTER_TGIDS)
		tgid_set(tgid, false);
	/* A thread killed by a signal never made exit(): its last batch goes now. */
	struct thread_state *st = bpf_task_storage_get(&threads, p, 0, 0);
	if (st)
		send_batch(st, st->batched);
	bpf_task_storage_delete(&threads, p);

	struct rec_exit *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
	if (!r) {
		stat_inc(STAT_DROPS);
		return 0;
	}
	fill_head(&r->h, REC_EXIT, tgid, p->pid);
	r->code = p->exit_code;
	r->group_dead = group_dead;
	bpf_ringbuf_submit(r, BPF_RB_NO_WAKEUP);
	return 0;
}

/* Thread names: fork inherits, exec and prctl(PR_SET_NAME) / writes to
 * /proc/.../comm rename. */
SEC("tp_btf/task_rename")
int BPF_PROG(on_rename, struct task_struct *task, const char *comm)
{
	u32 tgid = task->tgid;
	if (tgid == cfg.self_tgid)
		return 0;
	if (task == bpf_get_current_task_btf()) {
		if (!traced_current(tgid))
			return 0;
	} else if (cfg.filter == FILTER_TGIDS) {
		if (!tgid_in_set(tgid))
			return 0;
	} else if (!bpf_task_storage_get(&threads, task, 0, 0)) {
		/* Renamed by another task: cannot ask for its cgroup cheaply; a thread that has
		 * made a traced syscall has state. */
		return 0;
	}

	struct rec_comm *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
	if (!r) {
		stat_inc(STAT_DROPS);
		return 0;
	}
	fill_head(&r->h, REC_COMM, tgid, task->pid);
	if (bpf_probe_read_kernel_str(r->comm, sizeof(r->comm), comm) < 0)
		r->comm[0] = 0;
	bpf_ringbuf_submit(r, BPF_RB_NO_WAKEUP);
	return 0;
}

/* ---- in-flight syscalls ----------------------------------------------------------------- */

/* Run on demand from user space: writes, for every thread, the completed syscalls still in
 * its batch (dur set), then its pending syscall if it has one (dur DUR_NONE): a thread
 * blocked in a syscall when capture stops may be the hang we are looking for, and a thread
 * that went quiet after a few fast syscalls has its last ones in its batch. The batch is
 * copied, then written only if no flush happened meanwhile (a flushed batch reaches user
 * space through the ring; user space drops the copies it already has). */
SEC("iter/task")
int dump_pending(struct bpf_iter__task *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct task_struct *task = ctx->task;
	if (!task)
		return 0;
	struct thread_state *st = bpf_task_storage_get(&threads, task, 0, 0);
	if (!st)
		return 0;
	u32 n = READ_ONCE(st->batched);
	if (n > BATCH)
		n = BATCH;
	if (n > 0) {
		u32 zero = 0;
		struct batch_copy *c = bpf_map_lookup_elem(&scratch, &zero);
		if (c) {
			u64 flushes = READ_ONCE(st->flushes);
			barrier();
			for (u32 i = 0; i < BATCH; i++)
				if (i < n)
					c->rec[i] = st->batch[i];
			barrier();
			if (READ_ONCE(st->flushes) == flushes)
				bpf_seq_write(seq, c, n * sizeof(struct rec_syscall_base));
		}
	}
	if (!st->pending)
		return 0;
	u32 depth = st->rec.h.depth;
	if (depth > REC_MAX_FRAMES)
		depth = REC_MAX_FRAMES;
	bpf_seq_write(seq, &st->rec, REC_SYSCALL_BASE + depth * sizeof(struct rec_frame));
	return 0;
}
