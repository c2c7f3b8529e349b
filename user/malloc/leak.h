/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Outstanding allocations and their call stacks, in user space (pure: no
 * BPF, no /proc). A bounded table of blocks (address -> size, time, thread,
 * stack), a bounded table of distinct stacks, and the leak report's
 * aggregation: per stack, outstanding bytes and count (weighted by the
 * sampling weight: estimates when sampling), oldest block, growth since the
 * previous report; collapsed stacks for flame graphs.
 */
#ifndef MW_LEAK_H
#define MW_LEAK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "stacks/ustack.h"

#define MW_LEAK_MAX_FRAMES 64
#define MW_STACK_NONE 0 /* stack id of blocks whose stack is unknown */

struct mw_stack_ent {
	uint64_t hash;
	uint32_t pid;
	uint32_t n;		 /* frames */
	uint64_t *ips;		 /* return addresses, innermost first */
	struct mw_frame *frames; /* symbolized (n of them), or NULL */
	double prev_bytes;	 /* outstanding at the previous report */
	double alloc_bytes;	 /* allocated from here since traced (weighted), for pprof */
	double alloc_count;
	bool reported;
	/* Frees seen of its blocks whose fate had become unknown (a detached window
	 * came between allocation and free): what estimates the frees not seen. */
	double late_bytes, late_count;
	/* Allocated (weighted by sampling only) since its process's last interval boundary:
	 * scaled to the whole interval when it closes (mledger.c). */
	double pend_bytes, pend_count;
	/* Of what it allocated, what its process's last closed interval holds (weighted):
	 * rescaled when that interval takes in the dark tail after it (mledger.c). */
	double last_bytes, last_count;
	/* Intervals of its process in which the probes saw it allocate (the last one's
	 * start + 1 in interval_at): what an estimate of it stands on, few being a guess. */
	uint32_t intervals;
	uint64_t interval_at;
};

struct mw_block {
	uint64_t addr; /* 0: empty slot */
	uint64_t size;
	uint64_t ts_ns;
	uint32_t pid, tid;
	uint32_t stack;
	/* 1, or the inverse of the probability that it was traced: sampling, and the
	 * share of its interval the probes were attached (mledger.c) */
	float weight;
	uint8_t seen;  /* mw_leak_sweep: confirmed by the kernel's table */
	uint8_t found; /* made before the attach, found by the heap walk: size is the
			* chunk's usable size; in retention, never in leak rows */
	uint8_t known; /* allocated before a detached window, but a heap walk since found
			* it still in use: of known fate (mw_leak_aggregate_fate) */
};

struct mw_leak {
	struct mw_block *blocks; /* open addressing, linear probing */
	size_t bmask, nblocks, max_blocks;
	size_t bmask_max; /* the table doubles up to this (max_blocks at most half full) */
	struct mw_stack_ent *stacks; /* stacks[0]: the unknown stack */
	size_t nstacks, capstacks, max_stacks;
	uint32_t *sidx; /* hash index: stack id, 0 = empty */
	size_t smask;
	uint64_t blocks_full; /* allocations not kept: table full */
	uint64_t stacks_full; /* allocations put under the unknown stack: too many stacks */
};

struct mw_leak_row {
	uint32_t pid;
	uint32_t stack;
	double bytes, count;		   /* outstanding (estimates when weights are not 1) */
	double traced_bytes, traced_count; /* the blocks traced, unweighted */
	uint64_t oldest_ns;		   /* allocation time of the oldest block */
	double growth;			   /* bytes now - bytes at the previous report */
};

int mw_leak_init(struct mw_leak *l, size_t max_blocks, size_t max_stacks);
void mw_leak_destroy(struct mw_leak *l);
/* The id of a stack of pid (added when new; *fresh then true). MW_STACK_NONE when
 * n is 0 or the table is full. */
uint32_t mw_leak_stack(struct mw_leak *l, uint32_t pid, const uint64_t *ips, uint32_t n,
		       bool *fresh);
/* A new block (replaces a block at the same address). -ENOSPC when full. */
int mw_leak_alloc(struct mw_leak *l, const struct mw_block *b);
/* Remove the block at addr; false if it was not there. */
bool mw_leak_release(struct mw_leak *l, uint64_t addr, struct mw_block *out);
const struct mw_block *mw_leak_find(const struct mw_leak *l, uint64_t addr);
/* The same, to change its weight or fate (NULL: not there). */
struct mw_block *mw_leak_get(struct mw_leak *l, uint64_t addr);
/*
 * After lost records, the kernel's outstanding table is the truth: mark each
 * block it still has (mw_leak_confirm; a block it has that is missing here is
 * added with its stack unknown), then mw_leak_sweep drops pid's unmarked
 * blocks (their frees were lost) and clears the marks. Returns the blocks dropped.
 */
void mw_leak_confirm(struct mw_leak *l, const struct mw_block *kernel);
size_t mw_leak_sweep(struct mw_leak *l, uint32_t pid);
/* Drop every block of pid (it exited and was reported, or exec'd). */
void mw_leak_forget_pid(struct mw_leak *l, uint32_t pid);
/*
 * Rows per stack for the blocks of pid allocated at or before max_ts, sorted
 * by bytes (by_count: by count), largest first; blocks found by the heap walk
 * are not in them. *rows is malloc'd. Returns the number of rows or -ENOMEM.
 */
long mw_leak_aggregate(const struct mw_leak *l, uint32_t pid, uint64_t max_ts, bool by_count,
		       struct mw_leak_row **rows);
/* The same for the blocks allocated in [min_ts, max_ts]. */
long mw_leak_aggregate_range(const struct mw_leak *l, uint32_t pid, uint64_t min_ts,
			     uint64_t max_ts, bool by_count, struct mw_leak_row **rows);
/*
 * The same split by fate: known (true) are the blocks allocated at or after
 * dark_ns or marked known; the others (allocated before dark_ns, no free seen,
 * not found in use since) have an unknown fate.
 */
long mw_leak_aggregate_fate(const struct mw_leak *l, uint32_t pid, uint64_t dark_ns,
			    uint64_t max_ts, bool known, bool by_count, struct mw_leak_row **rows);
void mw_leak_aggregate_sort(struct mw_leak_row *rows, size_t n, bool by_count);
/* The blocks of pid found by the heap walk and still live, and their bytes. */
void mw_leak_found(const struct mw_leak *l, uint32_t pid, uint64_t *count, uint64_t *bytes);
/* Remember each row's bytes for the growth at the next report. */
void mw_leak_mark(struct mw_leak *l, const struct mw_leak_row *rows, size_t n);
/*
 * How a frame is named in text and folded output: "func"; "[libx.so]+0x.." (the
 * address in the file's ELF address space, as addr2line -e takes it);
 * "[libx.so]@0x.." (a file offset: the file could not be read); or "0x.." (an
 * absolute address: no file, or a recording older than module offsets).
 */
void mw_frame_name(const struct mw_frame *f, uint64_t ip, char *buf, size_t sz);
/* Collapsed stacks, outermost first: "main;f;g 4096\n" per row (bytes rounded). */
void mw_leak_folded(FILE *f, const struct mw_leak *l, const struct mw_leak_row *rows, size_t n);

#endif /* MW_LEAK_H */
