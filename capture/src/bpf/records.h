/* The records perfscope's BPF programs hand to user space (ring buffer, task iterator),
 * and the configuration user space hands to them (.rodata).
 *
 * This is an ABI between the C and Rust halves: src/record.rs and src/bpf_object.rs mirror
 * it byte for byte, and the _Static_asserts in perfscope.bpf.c pin every offset. Change
 * both sides together. */
#ifndef PERFSCOPE_RECORDS_H
#define PERFSCOPE_RECORDS_H

#define REC_SYSCALL 1
#define REC_FORK 2
#define REC_EXEC 3
#define REC_EXIT 4
#define REC_COMM 5

#define REC_MAX_FRAMES 8
#define COMM_LEN 16
#define PATH_LEN 256

/* rec_syscall.dur of a syscall that has not returned (exit, exit_group, in-flight). */
#define DUR_NONE 0xffffffffffffffffULL

/* Every record starts with this head. */
struct rec_head {
	__u8 kind;
	__u8 depth; /* REC_SYSCALL: frames that follow */
	__u16 _pad;
	__u32 cpu;
	__u64 ts; /* CLOCK_MONOTONIC ns */
	__u32 pid; /* tgid */
	__u32 tid;
};

/* A frame whose function id has this bit is a JVM method: the id (bits 0-30) is the
 * method's id in its process's method table (jvm/agent/README.md), not a trace id. */
#define FRAME_JVM 0x80000000U

struct rec_frame {
	__u32 func;
	__u32 _pad;
	__u64 call;
};

/* The fields of a syscall record before its frames. */
#define REC_SYSCALL_FIELDS \
	struct rec_head h; \
	__u64 dur; \
	__s64 ret; \
	__u64 sp; \
	__u32 nr; \
	__u32 _pad;

/* Sent with only `depth` frames: REC_SYSCALL_BASE + 16 * depth bytes. */
struct rec_syscall {
	REC_SYSCALL_FIELDS
	struct rec_frame frames[REC_MAX_FRAMES];
};
#define REC_SYSCALL_BASE 56

/* A syscall record without frames (syscalls-only sessions), as batched. */
struct rec_syscall_base {
	REC_SYSCALL_FIELDS
};

/* h.pid/h.tid are the parent's. */
struct rec_fork {
	struct rec_head h;
	__u32 child_pid;
	__u32 child_tid;
	char comm[COMM_LEN];
};

struct rec_exec {
	struct rec_head h;
	__u32 old_tid; /* the exec'ing thread's tid before de_thread() */
	__u32 _pad;
	char path[PATH_LEN];
};

struct rec_exit {
	struct rec_head h;
	__s32 code; /* kernel exit_code: wait(2) status format */
	__u32 group_dead; /* last thread of the process */
};

struct rec_comm {
	struct rec_head h;
	char comm[COMM_LEN];
};

/* Per-CPU counters (rows of the mmapable `counters` array). */
#define STAT_DROPS 0 /* ring buffer full: a record was lost */
#define STAT_NO_STATE 1 /* no per-thread state (storage busy or out of memory) */
#define STAT_STACK_OVERFLOW 2 /* shadow stack full: the outermost frame was dropped */
#define STAT_TGIDS_FULL 3 /* process set full: a child was not followed */
#define STAT_JVM_UNREADABLE 4 /* a JVM thread's shadow stack could not be read at a syscall */
#define STAT_JVM_DEEP 5 /* a JVM thread was deeper than its shadow stack holds */
#define STAT_JVM_THREADS 6 /* JVM threads that announced their shadow stack */
#define STAT_COUNT 8

#define FILTER_TGIDS 0
#define FILTER_CGROUP 1

/* Set by user space in .rodata before load; the verifier sees it as constant. */
struct capture_config {
	__u32 self_tgid; /* never traced: the capturing process itself */
	__u32 filter; /* FILTER_* */
	__u32 follow; /* add new processes forked by traced ones to the tgid set */
	__u32 full; /* shadow stacks and syscall frames */
	__u64 cgroup_id; /* FILTER_CGROUP: cgroup v2 id ... */
	__u32 cgroup_level; /* ... and its level (root = 0) */
	__u32 max_frames; /* <= REC_MAX_FRAMES */
	__u32 ncpus; /* possible CPUs: rows of the stats part of `counters` */
	__u32 func_capacity; /* function ids < this are counted */
	__u32 count_rows; /* rows of invocation counts (>= 1) */
	__u32 attach_only; /* the syscall programs return at once: the kernel's own cost */
};

#endif
