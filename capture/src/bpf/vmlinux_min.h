/* Hand-written subset of the kernel types perfscope's BPF programs use (x86_64).
 *
 * Only the fields we read are declared. Every struct carries preserve_access_index, so
 * clang emits CO-RE relocations and libbpf fixes the offsets against the running kernel's
 * BTF at load time: field order and padding here do not need to match the kernel. See
 * README.md in this folder for why this is not a generated vmlinux.h. */
#ifndef PERFSCOPE_VMLINUX_MIN_H
#define PERFSCOPE_VMLINUX_MIN_H

/* bpf_tracing.h picks kernel register names (sp, ip...) when this is defined. */
#define __VMLINUX_H__

typedef unsigned char __u8;
typedef signed char __s8;
typedef unsigned short __u16;
typedef short __s16;
typedef unsigned int __u32;
typedef int __s32;
typedef unsigned long long __u64;
typedef long long __s64;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u32 __wsum;
typedef __u8 u8;
typedef __u16 u16;
typedef __u32 u32;
typedef __s32 s32;
typedef __u64 u64;
typedef __s64 s64;
typedef int pid_t;
typedef _Bool bool;
#define true 1
#define false 0

/* Named in a helper prototype of bpf_helper_defs.h only. */
enum rc_proto { RC_PROTO_UNKNOWN = 0 };

/* uapi values (stable ABI, include/uapi/linux/bpf.h). */
enum bpf_map_type {
	BPF_MAP_TYPE_HASH = 1,
	BPF_MAP_TYPE_ARRAY = 2,
	BPF_MAP_TYPE_PERCPU_ARRAY = 6,
	BPF_MAP_TYPE_RINGBUF = 27,
	BPF_MAP_TYPE_TASK_STORAGE = 29,
};

enum {
	BPF_ANY = 0,
	BPF_NOEXIST = 1,
};

enum {
	BPF_F_NO_PREALLOC = (1U << 0),
	BPF_F_MMAPABLE = (1U << 10),
};

enum {
	BPF_RB_NO_WAKEUP = (1ULL << 0),
};

enum {
	BPF_F_USER_STACK = (1ULL << 8),
};

enum {
	BPF_LOCAL_STORAGE_GET_F_CREATE = (1ULL << 0),
};

#pragma clang attribute push(__attribute__((preserve_access_index)), apply_to = record)

/* The user registers: uprobe context, the first argument of sys_enter/sys_exit, and
 * what bpf_task_pt_regs() returns. orig_ax is the syscall number while in a syscall. */
struct pt_regs {
	unsigned long bp;
	unsigned long di; /* syscall arguments 1-3 */
	unsigned long si;
	unsigned long dx;
	unsigned long orig_ax;
	unsigned long sp;
	unsigned long ip;
};

typedef struct {
	int counter;
} atomic_t;

struct signal_struct {
	/* Live threads of the group; do_exit decrements it before sched_process_exit. */
	atomic_t live;
};

struct mm_struct;

struct kernfs_node {
	u64 id; /* a cgroup's id (the inode number of its directory) */
};

struct cgroup;

struct cgroup_subsys_state {
	struct cgroup *cgroup;
	struct cgroup_subsys_state *parent;
};

struct cgroup {
	struct cgroup_subsys_state self;
	int level; /* root = 0 */
	struct kernfs_node *kn;
};

struct css_set {
	struct cgroup *dfl_cgrp; /* the task's cgroup v2 */
};

struct task_struct {
	unsigned int __state; /* 0: running or runnable (5.14+; `state` before) */
	pid_t pid;
	pid_t tgid;
	int exit_code;
	char comm[16];
	struct mm_struct *mm;
	struct signal_struct *signal;
	struct css_set *cgroups;
};

struct linux_binprm {
	const char *filename;
};

struct seq_file;

struct bpf_iter_meta {
	struct seq_file *seq;
	__u64 session_id;
	__u64 seq_num;
};

struct bpf_iter__task {
	struct bpf_iter_meta *meta;
	struct task_struct *task;
};

/* The context of perf_event programs; only passed to helpers, never read. */
struct bpf_perf_event_data;

#pragma clang attribute pop

#endif
