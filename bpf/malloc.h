/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Allocator probes (--malloc): kernel/user ABI of malloc.bpf.c. Its own ring
 * ("mevents") and maps, so the syscall side (memwatch.h) is untouched.
 * Only __u32/__u64 types, as in memwatch.h.
 */
#ifndef MW_MALLOC_H
#define MW_MALLOC_H

#define MW_MREGS 17 /* x86-64 DWARF order: rax rdx rcx rbx rsi rdi rbp rsp r8..r15 rip */
#define MW_MAX_STACK_BYTES 16384 /* bound of --stack-bytes (a power of two) */
#define MW_SAMPLE_TABLE 1024	 /* quantiles of Exp(1) for byte sampling (a power of two) */

/* Traced allocator entry points; C++ variants (nothrow, aligned, sized) fold into four. */
enum mw_mfn {
	MW_MFN_MALLOC = 0,
	MW_MFN_CALLOC,
	MW_MFN_REALLOC,
	MW_MFN_REALLOCARRAY,
	MW_MFN_POSIX_MEMALIGN,
	MW_MFN_ALIGNED_ALLOC,
	MW_MFN_MEMALIGN,
	MW_MFN_VALLOC,
	MW_MFN_PVALLOC,
	MW_MFN_NEW,	  /* operator new */
	MW_MFN_NEW_ARRAY, /* operator new[] */
	MW_MFN_FREE,
	MW_MFN_DELETE,	     /* operator delete */
	MW_MFN_DELETE_ARRAY, /* operator delete[] */
	MW_MFN_COUNT,
};

/*
 * Record types of the malloc ring. Like every record of the syscall ring, a
 * record starts with its u32 type; the values are disjoint from enum
 * mw_rec_type so that one decoder (user/wire/decode.c) reads both rings.
 */
enum mw_mrec_type {
	MW_MREC_ALLOC = 64, /* struct mw_malloc_rec (+ stack bytes) */
	MW_MREC_FREE,	    /* struct mw_mfree_rec: a tracked allocation was freed */
	MW_MREC_EXIT,	    /* struct mw_mfree_rec (addr, size 0): exit() called, process stopped */
	MW_MREC_WAKE,	    /* struct mw_mfree_rec (addr: head): the sampler's ring is half full */
};

/*
 * One traced allocation, taken at the allocator's return: regs are the
 * caller's registers right after the call (rip = the return address), so
 * the unwind starts in the function that called the allocator. stack_len
 * bytes of the caller's stack from regs[7] (rsp) follow the struct. From the
 * in-process sampler's probe (mwsampler:alloc), regs are those at the probe,
 * inside the sampler: the unwind starts there, and addr may be 0 (a sample
 * the sampler could not keep: its free will not be seen).
 */
struct mw_malloc_rec {
	__u32 type; /* MW_MREC_ALLOC */
	__u32 fn;   /* enum mw_mfn */
	__u32 tgid;
	__u32 tid;
	__u64 ts_ns;	/* CLOCK_MONOTONIC */
	__u64 addr;	/* the new block */
	__u64 size;	/* bytes asked for */
	__u64 old_addr; /* realloc: the block it replaced (freed), else 0 */
	__u64 weight;	/* the in-process sampler's: bytes this sample stands for; else 0 */
	__u64 regs[MW_MREGS];
	__u32 stack_len;
	__u32 pad;
};

struct mw_mfree_rec {
	__u32 type; /* MW_MREC_FREE */
	__u32 fn;
	__u32 tgid;
	__u32 tid;
	__u64 ts_ns;
	__u64 addr;
	__u64 size;
};

/* Value of the outstanding table ("live", key = block address). */
struct mw_live {
	__u64 size;
	__u64 ts_ns;
	__u32 tgid;
	__u32 tid;
};

/*
 * Exact per-thread counters ("mthreads", key = tid): outermost calls only.
 * The last four are mw_malloc_stats's per-process shares, so that a report
 * of one process says what happened in it (new fields are appended: user
 * space sums them per tgid).
 */
struct mw_malloc_counters {
	__u64 calls[MW_MFN_COUNT];
	__u64 bytes[MW_MFN_COUNT]; /* asked for; for free/delete: bytes of tracked blocks */
	__u64 sampled;		   /* allocations traced (all of them unless sampling) */
	__u32 tgid;
	__u32 pad;
	__u64 unknown_frees; /* frees of blocks not in the table */
	__u64 live_full;     /* allocations not tracked: outstanding table full */
	__u64 rb_drops;	     /* records lost: ring full */
	__u64 stack_short;   /* stack copies cut at a page boundary */
};

/* Global health counters (per-CPU array "mstats"). */
struct mw_malloc_stats {
	__u64 rb_drops;	     /* records lost: ring full */
	__u64 live_full;     /* allocations not tracked: outstanding table full */
	__u64 unknown_frees; /* frees of blocks not in the table (made before attach, or not sampled) */
	__u64 threads_full; /* counter updates lost: mthreads full */
	__u64 stack_short;  /* stack copies cut at a page boundary */
	__u64 hits;	    /* probe hits */
};

/*
 * Per-process cost of the probes ("mbudget", key = tgid; an entry exists only for
 * traced processes, made by user space at attach): every program run counted and
 * timed, for the overhead budget (--max-overhead). gen is bumped by user space
 * when it re-attaches that process's probes (see generation in malloc.bpf.c).
 */
struct mw_mbudget_ctr {
	__u64 enter_hits; /* entry probes run (malloc family, free, operator new/delete) */
	__u64 ret_hits;	  /* return probes run */
	__u64 body_ns;	  /* time inside the programs (bpf_ktime_get_ns) */
	__u32 gen;
	__u32 pad;
};

/*
 * The cookie of the sampler's alloc probe (mwsampler:alloc): memwatch reads the
 * sampler's table for the frees of its samples (no free probe), so the
 * outstanding table of the kernel does not keep them.
 */
#define MW_USDT_TABLE 1ULL

/* Who is stopped in exit() until memwatch has read its records (malloc.bpf.c). */
enum mw_hold_exit {
	MW_HOLD_OFF,
	MW_HOLD_CHILDREN,
	MW_HOLD_ALL
};

#endif /* MW_MALLOC_H */
