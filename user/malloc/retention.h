/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Retention: how much of each glibc heap is free but kept by the allocator.
 * Pure: the live blocks come from the leak tables, the heaps' committed spans
 * from the allocator model (main heap: the brk range; arena heaps: base to
 * their committed end).
 */
#ifndef MW_RETENTION_H
#define MW_RETENTION_H

#include <stddef.h>
#include <stdint.h>
#include "leak.h"

#define MW_TRIM_THRESHOLD (128 * 1024) /* glibc's M_TRIM_THRESHOLD default */
#define MW_ARENA_MAIN (-1)
/* glibc's own bytes at the start of an arena's heaps: heap_info and, in its
 * first heap, the arena's malloc_state (glibc 2.35+, x86-64; 16 bytes less
 * before). Not free, not a block. */
#define MW_GLIBC_ARENA_HEAD 2256
#define MW_GLIBC_HEAP_HEAD 48

struct mw_heap_span {
	int arena;	     /* MW_ARENA_MAIN, or the arena id (1, 2, ...) */
	uint64_t start, end; /* committed bytes [start, end) */
	/* NULL when every live block of the span is known; else why not (a word) */
	const char *incomplete;
	uint64_t overhead; /* glibc's own bytes at its start (MW_GLIBC_*_HEAD) */
};

struct mw_retention {
	int arena;
	uint64_t live; /* bytes of live chunks (glibc chunk sizes, headers included) */
	uint64_t committed;
	uint64_t overhead;	/* glibc's own headers in the heaps */
	uint64_t free_kept;	/* committed - live - overhead; meaningless when incomplete */
	const char *incomplete; /* of its first span that is (NULL: complete) */
	uint32_t blocks;
	bool pinned; /* free space below the highest live chunk exceeds the trim threshold */
	uint64_t pinned_addr, pinned_size, pinned_free_below;
	uint32_t pinned_stack;
};

/* glibc's chunk size for a request (headers, 16-byte alignment, 32-byte minimum). */
uint64_t mw_glibc_chunk(uint64_t request);
/*
 * One row per arena present in spans (spans of one arena are summed; it is
 * pinned when any of its heaps is; it is complete when all of them are).
 * out has room for n rows; returns the rows.
 */
size_t mw_retention_compute(const struct mw_leak *l, uint32_t pid, const struct mw_heap_span *spans,
			    size_t n, uint64_t trim_threshold, struct mw_retention *out);

#endif /* MW_RETENTION_H */
