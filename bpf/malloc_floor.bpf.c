// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The malloc floor: the cheapest probes that still count a process's malloc and free calls.
 * A uprobe on malloc's entry, a uretprobe on its return and a uprobe on free, attached to the
 * target pid only (tools/malloc_floor.c), each with memwatch's tgid filter (a hash-map lookup)
 * and one per-CPU counter increment; nothing is recorded. `make bench` measures memwatch's
 * --malloc modes against it (tools/bench_malloc.sh).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Counter slots; the same order in tools/malloc_floor.c. */
enum {
	MF_MALLOC,
	MF_MALLOC_RET,
	MF_FREE,
	MF_COUNT
};

/* Traced processes (tgid -> 1), filled by the loader: memwatch's filter. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u8);
} targets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MF_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

static __always_inline int bump(__u32 slot)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u64 *c;

	if (!bpf_map_lookup_elem(&targets, &tgid))
		return 0;
	c = bpf_map_lookup_elem(&counts, &slot);
	/*
	 * Atomic although per-CPU: a uprobe program runs preemptible (only migration is
	 * disabled), so another thread on this CPU may bump the same slot in between.
	 */
	if (c)
		__sync_fetch_and_add(c, 1);
	return 0;
}

SEC("uprobe")
int malloc_enter(struct pt_regs *ctx)
{
	return bump(MF_MALLOC);
}

SEC("uretprobe")
int malloc_exit(struct pt_regs *ctx)
{
	return bump(MF_MALLOC_RET);
}

SEC("uprobe")
int free_enter(struct pt_regs *ctx)
{
	return bump(MF_FREE);
}
