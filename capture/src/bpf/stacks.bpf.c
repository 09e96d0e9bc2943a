// SPDX-License-Identifier: (MIT OR GPL-2.0)
/* perfscope's stack sampler, a short burst after an alarm: user stacks of traced threads
 * on CPU (a perf cpu-clock event), at their syscalls (sys_enter, rate-limited), and while
 * blocked in a syscall (a sleepable task iterator). A separate object from
 * perfscope.bpf.c, loaded only when a sampler is made: it shares the session's process
 * set (the `tgids` map is reused by fd) and attaches nothing outside a burst, so the
 * syscall path costs nothing extra between bursts. See README.md. */
#include "vmlinux_min.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "stacks.h"

/* GPL-compatible: bpf_probe_read_user, bpf_task_pt_regs, bpf_copy_from_user_task. */
char LICENSE[] SEC("license") = "Dual MIT/GPL";

_Static_assert(__builtin_offsetof(struct rec_stack, stack_kind) == 24, "rec_stack layout");
_Static_assert(__builtin_offsetof(struct rec_stack, nfp) == 26, "rec_stack layout");
_Static_assert(__builtin_offsetof(struct rec_stack, nwords) == 28, "rec_stack layout");
_Static_assert(__builtin_offsetof(struct rec_stack, nr) == 32, "rec_stack layout");
_Static_assert(__builtin_offsetof(struct rec_stack, ip) == 40, "rec_stack layout");
_Static_assert(__builtin_offsetof(struct rec_stack, fp) == 64, "rec_stack layout");
_Static_assert(__builtin_offsetof(struct rec_stack, window) == 64 + 8 * STACK_FP_MAX,
	       "rec_stack layout");
_Static_assert(sizeof(struct rec_stack) == REC_STACK_BYTES, "rec_stack layout");
_Static_assert(sizeof(struct stack_config) == STACK_CONFIG_BYTES, "stack_config layout");

#define PAGE_SIZE 4096
#define WINDOW_BYTES (8 * STACK_WINDOW_MAX)
/* Cgroup levels walked up from a task's cgroup to the filter's level. */
#define CGROUP_MAX_LEVELS 32

const volatile struct stack_config scfg = {};

/* The session's process set (tgidset.h): user space replaces this map with the session's
 * (bpf_map__reuse_fd) before load. */
#include "tgidset.h"

/* Sized by user space. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 22);
} stack_events SEC(".maps");

/* [0]: the burst number, bumped by user space at each burst: per-thread counts of an
 * older burst are reset when next seen. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u64);
} stack_burst SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SSTAT_COUNT);
	__type(key, u32);
	__type(value, u64);
} stack_stats SEC(".maps");

/* The blocked-task iterator builds its record here (512 bytes of BPF stack is too little). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct rec_stack);
} stack_scratch SEC(".maps");

/* Per thread and burst: freed with the task, and all of it with the map when the sampler
 * is dropped. */
struct sampler_thread {
	u64 burst;
	u64 last_syscall; /* ktime of the last syscall sample */
	u32 on_cpu; /* samples taken this burst */
	u32 syscalls;
	u32 since; /* syscalls entered since the last syscall sample */
	u32 skip; /* syscalls still to let pass before the next one may be sampled */
	u32 span; /* syscalls entered between the last two samples (capped) */
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct sampler_thread);
} stack_threads SEC(".maps");

static __always_inline void sstat_inc(u32 stat)
{
	u64 *c = bpf_map_lookup_elem(&stack_stats, &stat);

	if (c)
		__sync_fetch_and_add(c, 1);
}

/* Is the current task sampled? The same rule as the session's traced_current(). */
static __always_inline bool sampled_current(u32 tgid)
{
	if (tgid == scfg.self_tgid)
		return false;
	if (scfg.filter == FILTER_CGROUP)
		return bpf_get_current_ancestor_cgroup_id(scfg.cgroup_level) == scfg.cgroup_id;
	return tgid_in_set(tgid);
}

/* The same for another task (the iterator): its cgroup v2 ancestor at the filter's level,
 * found by walking up from its own cgroup. */
static __always_inline bool sampled_task(struct task_struct *task)
{
	u32 tgid = task->tgid;
	if (tgid == scfg.self_tgid)
		return false;
	if (scfg.filter != FILTER_CGROUP)
		return tgid_in_set(tgid);
	struct cgroup *cg = BPF_CORE_READ(task, cgroups, dfl_cgrp);
	for (int i = 0; i < CGROUP_MAX_LEVELS && cg; i++) {
		int level = BPF_CORE_READ(cg, level);
		if (level < (int)scfg.cgroup_level)
			return false;
		if (level == (int)scfg.cgroup_level)
			return BPF_CORE_READ(cg, kn, id) == scfg.cgroup_id;
		cg = BPF_CORE_READ(cg, self.parent, cgroup);
	}
	return false;
}

/* The thread's counters for the current burst. */
static __always_inline struct sampler_thread *thread_of(struct task_struct *task)
{
	struct sampler_thread *st = bpf_task_storage_get(&stack_threads, task, 0,
							 BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!st) {
		sstat_inc(SSTAT_NO_STATE);
		return NULL;
	}
	u32 zero = 0;
	u64 *burst = bpf_map_lookup_elem(&stack_burst, &zero);
	u64 now = burst ? *burst : 0;
	if (st->burst != now) {
		st->burst = now;
		st->last_syscall = 0;
		st->on_cpu = 0;
		st->syscalls = 0;
		st->since = 0;
		st->skip = 0;
		st->span = 0;
	}
	return st;
}

static __always_inline void fill_stack_head(struct rec_stack *r, u8 kind, u64 id, u32 nr,
					    u64 ts)
{
	r->h.kind = REC_STACK;
	r->h.depth = 0;
	r->h._pad = 0;
	r->h.cpu = bpf_get_smp_processor_id();
	r->h.ts = ts;
	r->h.pid = id >> 32;
	r->h.tid = (u32)id;
	r->stack_kind = kind;
	r->_pad0 = 0;
	r->_pad1 = 0;
	r->nr = nr;
	r->_pad2 = 0;
}

/* Bytes of the window to read at `sp` if the whole window is not readable: what is left
 * of sp's page (resident: the thread is using it), in whole words. */
static __always_inline u32 window_in_page(u64 sp)
{
	u32 n = PAGE_SIZE - (sp & (PAGE_SIZE - 1));
	if (n > scfg.window_words * 8)
		n = scfg.window_words * 8;
	return n & ~7U;
}

/* Takes the current thread's user stack into a ring-buffer record: the kernel's
 * frame-pointer walk (bpf_get_stack, the IP first) and the raw window at SP. */
static __always_inline void sample_current(void *ctx, struct pt_regs *regs, u8 kind, u32 nr,
					   u64 ts)
{
	struct rec_stack *r = bpf_ringbuf_reserve(&stack_events, sizeof(*r), 0);
	if (!r) {
		sstat_inc(SSTAT_DROPS);
		return;
	}
	fill_stack_head(r, kind, bpf_get_current_pid_tgid(), nr, ts);
	u64 sp = BPF_CORE_READ(regs, sp);
	r->ip = BPF_CORE_READ(regs, ip);
	r->sp = sp;
	r->bp = BPF_CORE_READ(regs, bp);

	long n = bpf_get_stack(ctx, r->fp, scfg.fp_max * 8, BPF_F_USER_STACK);
	r->nfp = n > 0 ? (u64)n / 8 : 0;

	u32 want = scfg.window_words * 8;
	if (want > WINDOW_BYTES)
		want = WINDOW_BYTES;
	r->nwords = 0;
	if (want >= 8 && bpf_probe_read_user(r->window, want, (void *)sp) == 0) {
		r->nwords = want / 8;
	} else {
		/* The window runs past the end of the stack mapping: take what the page has. */
		u32 part = window_in_page(sp);
		if (part >= 8 && part <= WINDOW_BYTES &&
		    bpf_probe_read_user(r->window, part, (void *)sp) == 0)
			r->nwords = part / 8;
		else
			sstat_inc(SSTAT_NO_WINDOW);
	}
	bpf_ringbuf_submit(r, BPF_RB_NO_WAKEUP);
}

/* ---- on CPU: a cpu-clock perf event per CPU ------------------------------------------ */

SEC("perf_event")
int on_cpu_sample(struct bpf_perf_event_data *ctx)
{
	u64 id = bpf_get_current_pid_tgid();
	if (!sampled_current(id >> 32))
		return 0;
	struct task_struct *task = bpf_get_current_task_btf();
	/* A kernel thread (or an exiting task) has no user stack. */
	if (!task->mm)
		return 0;
	struct sampler_thread *st = thread_of(task);
	if (!st)
		return 0;
	if (st->on_cpu >= scfg.max_per_thread) {
		sstat_inc(SSTAT_CAPPED);
		return 0;
	}
	st->on_cpu++;
	/* The user registers, whether the timer interrupted user or kernel mode: on x86_64
	 * an interrupt or syscall from user mode saves them at the top of the task's kernel
	 * stack, where bpf_task_pt_regs() finds them. */
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(task);
	sample_current(ctx, regs, STACK_ON_CPU, STACK_NR_NONE, bpf_ktime_get_ns());
	return 0;
}

/* ---- at syscalls: attached only during a burst --------------------------------------- */

SEC("tp_btf/sys_enter")
int BPF_PROG(stack_at_syscall, struct pt_regs *regs, long nr)
{
	u64 id = bpf_get_current_pid_tgid();
	if (!sampled_current(id >> 32))
		return 0;
	struct sampler_thread *st = thread_of(bpf_get_current_task_btf());
	if (!st)
		return 0;
	if (st->syscalls >= scfg.max_per_thread) {
		sstat_inc(SSTAT_CAPPED);
		return 0;
	}
	/* Which syscall of a run is sampled must not depend on its place in the run: a
	 * worker that wakes from epoll_wait and makes a read and then 32 sendmsg within the
	 * rate limit would otherwise only ever be sampled at its read. So after each sample a
	 * random number of syscalls, uniform below the number seen between the last two
	 * samples, is let pass as well: samples land at random places of a thread's syscall
	 * stream, as often as its syscalls are, and a thread with few syscalls is still
	 * sampled at every one the rate limit allows. */
	st->since++;
	if (st->skip) {
		st->skip--;
		sstat_inc(SSTAT_RATE_LIMITED);
		return 0;
	}
	u64 now = bpf_ktime_get_ns();
	if (st->last_syscall && now - st->last_syscall < scfg.syscall_interval_ns) {
		/* the skip ran out within the rate limit: another one, so that the first
		 * sample after the limit still falls at a random place */
		st->skip = st->span > 1 ? bpf_get_prandom_u32() % st->span : 0;
		sstat_inc(SSTAT_RATE_LIMITED);
		return 0;
	}
	u32 seen = st->since < 1024 ? st->since : 1024;
	st->since = 0;
	st->span = seen;
	st->skip = seen > 1 ? bpf_get_prandom_u32() % seen : 0;
	st->last_syscall = now;
	st->syscalls++;
	/* The sample's time is the one the rate limit compares. */
	sample_current(ctx, regs, STACK_SYSCALL, (u32)nr, now);
	return 0;
}

/* ---- blocked in a syscall: a sleepable task iterator, run on demand ------------------- */

/* Sleepable so that it can read another task's stack with bpf_copy_from_user_task (which
 * may fault pages in); bpf_get_task_stack cannot walk another task's user stack. */
SEC("iter.s/task")
int dump_blocked(struct bpf_iter__task *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct task_struct *task = ctx->task;
	if (!task)
		return 0;
	/* Running or runnable (on CPU: the perf event samples it), or no user space. */
	if (task->__state == 0 || !task->mm)
		return 0;
	if (!sampled_task(task))
		return 0;
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(task);
	if (!regs)
		return 0;
	/* orig_ax is -1 unless the task entered the kernel through a syscall (a page fault,
	 * an interrupt): only tasks sleeping in a syscall. */
	long nr = BPF_CORE_READ(regs, orig_ax);
	if (nr < 0)
		return 0;

	u32 zero = 0;
	struct rec_stack *r = bpf_map_lookup_elem(&stack_scratch, &zero);
	if (!r)
		return 0;
	u64 id = ((u64)task->tgid << 32) | (u32)task->pid;
	fill_stack_head(r, STACK_BLOCKED, id, (u32)nr, bpf_ktime_get_ns());
	u64 ip = BPF_CORE_READ(regs, ip);
	u64 sp = BPF_CORE_READ(regs, sp);
	u64 bp = BPF_CORE_READ(regs, bp);
	r->ip = ip;
	r->sp = sp;
	r->bp = bp;

	/* The frame-pointer walk: [bp] = caller's bp, [bp + 8] = return address. Frames
	 * must move up the stack, so a garbage bp ends the walk instead of looping. */
	u32 nfp = 0;
	r->fp[0] = ip;
	nfp = 1;
	u64 fp = bp;
	for (int i = 1; i < STACK_FP_MAX; i++) {
		if (i >= scfg.fp_max || fp <= sp || (fp & 7))
			break;
		u64 frame[2];
		if (bpf_copy_from_user_task(frame, sizeof(frame), (void *)fp, task, 0))
			break;
		if (frame[1] == 0)
			break;
		r->fp[i & (STACK_FP_MAX - 1)] = frame[1];
		nfp = i + 1;
		if (frame[0] <= fp)
			break;
		fp = frame[0];
	}
	r->nfp = nfp;

	u32 want = scfg.window_words * 8;
	if (want > WINDOW_BYTES)
		want = WINDOW_BYTES;
	r->nwords = 0;
	if (want >= 8 && bpf_copy_from_user_task(r->window, want, (void *)sp, task, 0) == 0) {
		r->nwords = want / 8;
	} else {
		u32 part = window_in_page(sp);
		if (part >= 8 && part <= WINDOW_BYTES &&
		    bpf_copy_from_user_task(r->window, part, (void *)sp, task, 0) == 0)
			r->nwords = part / 8;
		else
			sstat_inc(SSTAT_NO_WINDOW);
	}
	bpf_seq_write(seq, r, sizeof(*r));
	return 0;
}
