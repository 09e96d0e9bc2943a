/* SPDX-License-Identifier: (MIT OR GPL-2.0) */
/* The traced process set, shared by the session's object and the stack sampler's (the
 * sampler reuses the session's map by fd, so both definitions must match exactly).
 *
 * A bitmap over every possible tgid, not a hash: the test runs at every syscall of every
 * task on the machine (the syscall tracepoints are global), and an array lookup is inlined
 * by the JIT (a bounds check and a load), where a hash lookup is a call, a hash and a key
 * compare. PID_MAX_LIMIT is 4 Mi on 64-bit kernels: 512 KiB covers every tgid there can
 * be, so the set can never fill up. User space maps it (BPF_F_MMAPABLE) and sets bits
 * with atomic ORs, as on_fork does. */
#ifndef PERFSCOPE_TGIDSET_H
#define PERFSCOPE_TGIDSET_H

#define TGID_LIMIT (1u << 22)
#define TGID_WORDS (TGID_LIMIT / 64)

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, TGID_WORDS);
	__type(key, u32);
	__type(value, u64);
} tgids SEC(".maps");

static __always_inline bool tgid_in_set(u32 tgid)
{
	u32 w = tgid >> 6;
	u64 *word = bpf_map_lookup_elem(&tgids, &w);

	return word && ((*word >> (tgid & 63)) & 1);
}

/* Adds or removes a tgid (atomically: user space and other CPUs write the same words);
 * false when it is beyond the set, which no Linux tgid is. */
static __always_inline bool tgid_set(u32 tgid, bool in)
{
	u32 w = tgid >> 6;
	u64 *word = bpf_map_lookup_elem(&tgids, &w);

	if (!word)
		return false;
	if (in)
		__sync_fetch_and_or(word, 1ULL << (tgid & 63));
	else
		__sync_fetch_and_and(word, ~(1ULL << (tgid & 63)));
	return true;
}

#endif
