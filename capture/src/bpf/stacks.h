/* The records and configuration of the stack sampler (stacks.bpf.c), shared with user
 * space: src/stacks/record.rs and src/stacks/loader.rs mirror this byte for byte, and the
 * _Static_asserts in stacks.bpf.c pin every offset. Change both sides together. */
#ifndef PERFSCOPE_STACKS_H
#define PERFSCOPE_STACKS_H

#include "records.h"

#define REC_STACK 6

/* rec_stack.stack_kind */
#define STACK_ON_CPU 0
#define STACK_SYSCALL 1
#define STACK_BLOCKED 2

/* Frame-pointer frames (the IP first) and raw stack words per sample, at most. */
#define STACK_FP_MAX 32
#define STACK_WINDOW_MAX 64

#define STACK_NR_NONE 0xffffffffU

/* One sampled user stack: the frame-pointer chain and a raw window of the stack from SP
 * up, so that user space can recover return addresses the chain skips (callers of code
 * built without frame pointers, e.g. libc's syscall wrappers). Always sent whole. */
struct rec_stack {
	struct rec_head h; /* kind REC_STACK */
	__u8 stack_kind; /* STACK_* */
	__u8 _pad0;
	__u16 nfp; /* fp[] entries: fp[0] is the IP, then return addresses */
	__u16 nwords; /* window[] words read, from sp up */
	__u16 _pad1;
	__u32 nr; /* the syscall (STACK_SYSCALL, STACK_BLOCKED), else STACK_NR_NONE */
	__u32 _pad2;
	__u64 ip; /* the user registers: IP ... */
	__u64 sp; /* ... SP: address of window[0] ... */
	__u64 bp; /* ... and frame pointer: where the first frame record is */
	__u64 fp[STACK_FP_MAX];
	__u64 window[STACK_WINDOW_MAX];
};
#define REC_STACK_BYTES 832

/* Per-CPU counters of the sampler (stack_stats, a per-CPU array). */
#define SSTAT_DROPS 0 /* ring buffer full */
#define SSTAT_CAPPED 1 /* a thread reached its cap for the burst */
#define SSTAT_RATE_LIMITED 2 /* a syscall sample skipped: too soon after the last */
#define SSTAT_NO_STATE 3 /* no per-thread state (storage busy or out of memory) */
#define SSTAT_NO_WINDOW 4 /* the raw stack window could not be read */
#define SSTAT_COUNT 8

/* Set by user space in .rodata before load. */
struct stack_config {
	__u32 self_tgid; /* never sampled: the sampling process */
	__u32 filter; /* FILTER_* of records.h, as the session's */
	__u64 cgroup_id;
	__u32 cgroup_level;
	__u32 fp_max; /* <= STACK_FP_MAX */
	__u32 window_words; /* <= STACK_WINDOW_MAX */
	__u32 max_per_thread; /* on-CPU and syscall samples per thread and burst, each */
	__u64 syscall_interval_ns; /* per thread, between syscall samples */
};
#define STACK_CONFIG_BYTES 40

#endif
