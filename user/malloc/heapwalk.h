/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A walk of glibc's heaps in another process, without stopping it: the
 * blocks in use when --malloc attaches mid-life (made before the probes were
 * there). From glibc's own state (main_arena, its list of arenas, each
 * arena's top chunk and fastbins, the heap_info header of each arena heap,
 * mp_.sbrk_base), every chunk header from a heap's first chunk to its top:
 * a chunk is in use when the next chunk's PREV_INUSE bit says so, unless it
 * sits in a fastbin or a tcache (both leave that bit set; a tcache chunk
 * carries the process's tcache_key at offset 8 of its data). Bounded in bytes
 * per heap, in time and in blocks; a heap past a bound is given up and says
 * why. Pure: memory comes through a read callback.
 */
#ifndef MW_HEAPWALK_H
#define MW_HEAPWALK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "wire/record.h"

/* glibc's malloc as its debuginfo describes it, placed in one process. */
struct mw_glibc_layout {
	/* struct malloc_state: size and member offsets; fastbinsY's length */
	uint32_t ms_size, ms_flags, ms_fastbins, ms_top, ms_next, nfastbins;
	/* struct _heap_info */
	uint32_t hi_size, hi_ar_ptr, hi_prev, hi_heap_size;
	/* struct malloc_par (mp_): sbrk_base; hp_pagesize, or UINT32_MAX when absent */
	uint32_t mp_sbrk_base, mp_hp_pagesize;
	/* addresses in the process (of the variables); tcache_key 0: this glibc has none
	 * (before 2.34: its tcache chunks cannot be told from blocks in use) */
	uint64_t main_arena, mp, tcache_key;
};

struct mw_heapwalk_limits {
	uint64_t max_heap_bytes; /* read per heap */
	uint64_t max_ns;	 /* for the whole walk */
	size_t max_blocks;
};

/* Copy len bytes of the process's memory at addr into buf; returns the bytes copied. */
typedef size_t (*mw_readmem_fn)(void *ctx, uint64_t addr, void *buf, size_t len);
typedef uint64_t (*mw_clock_fn)(void);

struct mw_heapwalk {
	uint32_t status; /* enum mw_heapwalk_status: the walk as a whole */
	struct mw_mheap_span *spans;
	size_t nspans, capspans;
	struct mw_mheap_block *blocks;
	size_t nblocks, capblocks;
	uint64_t bytes_read;
};

/* Walk every heap of every arena. 0, or -ENOMEM (w then holds what was found). */
int mw_heapwalk_run(const struct mw_glibc_layout *l, const struct mw_heapwalk_limits *lim,
		    mw_readmem_fn read, void *ctx, mw_clock_fn clock, struct mw_heapwalk *w);
void mw_heapwalk_free(struct mw_heapwalk *w);
/* "ok", "no_debuginfo", ..., as the retention objects say why they are not complete. */
const char *mw_heapwalk_reason(uint32_t status);

#endif /* MW_HEAPWALK_H */
