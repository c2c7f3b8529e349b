// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The floor: the cheapest probe that still counts memory syscalls per thread.
 * Same tracepoints and the same tgid filter as memwatch (a hash-map lookup on
 * enter and on exit), no enter/exit pairing, no records: the exit bumps one
 * counter of the calling thread. `make bench` measures memwatch against it.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "memwatch.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Traced processes (tgid -> 1), filled by the loader. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u8);
} targets SEC(".maps");

/* Exact per-thread counts (tid -> calls per syscall, enum mw_sys order). */
struct floor_counts {
	__u64 calls[MW_SYS_COUNT];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct floor_counts);
} counts SEC(".maps");

/* Counter updates lost because the counts map was full. */
__u64 counts_full = 0;

static __always_inline bool is_target(__u64 id)
{
	__u32 tgid = id >> 32;

	return bpf_map_lookup_elem(&targets, &tgid) != NULL;
}

static __always_inline int on_enter(void)
{
	/* Kept so that the floor pays for the same enter-side filter as memwatch. */
	is_target(bpf_get_current_pid_tgid());
	return 0;
}

static __always_inline int on_exit(int sys)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	struct floor_counts *c, zero = {};

	if (!is_target(id))
		return 0;
	c = bpf_map_lookup_elem(&counts, &tid);
	if (!c) {
		/* First call of this thread; only it writes its own slot, so no race. */
		bpf_map_update_elem(&counts, &tid, &zero, BPF_NOEXIST);
		c = bpf_map_lookup_elem(&counts, &tid);
		if (!c) {
			__sync_fetch_and_add(&counts_full, 1);
			return 0;
		}
	}
	c->calls[sys]++;
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_brk")
int sys_enter_brk(void *ctx)
{
	return on_enter();
}

SEC("tracepoint/syscalls/sys_enter_mmap")
int sys_enter_mmap(void *ctx)
{
	return on_enter();
}

SEC("tracepoint/syscalls/sys_enter_munmap")
int sys_enter_munmap(void *ctx)
{
	return on_enter();
}

SEC("tracepoint/syscalls/sys_enter_mprotect")
int sys_enter_mprotect(void *ctx)
{
	return on_enter();
}

SEC("tracepoint/syscalls/sys_enter_mremap")
int sys_enter_mremap(void *ctx)
{
	return on_enter();
}

SEC("tracepoint/syscalls/sys_enter_madvise")
int sys_enter_madvise(void *ctx)
{
	return on_enter();
}

SEC("tracepoint/syscalls/sys_exit_brk")
int sys_exit_brk(void *ctx)
{
	return on_exit(MW_SYS_BRK);
}

SEC("tracepoint/syscalls/sys_exit_mmap")
int sys_exit_mmap(void *ctx)
{
	return on_exit(MW_SYS_MMAP);
}

SEC("tracepoint/syscalls/sys_exit_munmap")
int sys_exit_munmap(void *ctx)
{
	return on_exit(MW_SYS_MUNMAP);
}

SEC("tracepoint/syscalls/sys_exit_mprotect")
int sys_exit_mprotect(void *ctx)
{
	return on_exit(MW_SYS_MPROTECT);
}

SEC("tracepoint/syscalls/sys_exit_mremap")
int sys_exit_mremap(void *ctx)
{
	return on_exit(MW_SYS_MREMAP);
}

SEC("tracepoint/syscalls/sys_exit_madvise")
int sys_exit_madvise(void *ctx)
{
	return on_exit(MW_SYS_MADVISE);
}
