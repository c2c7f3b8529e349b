// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Live chunks vs committed heap bytes, and the chunk that pins a heap's top. */
#include <stdlib.h>
#include <string.h>
#include "retention.h"

uint64_t mw_glibc_chunk(uint64_t request)
{
	uint64_t c = (request + 8 + 15) & ~15ULL;

	return c < 32 ? 32 : c;
}

/* The bytes a block stands for (its chunk times its sampling weight), saturated: a weight
 * from a crafted recording must not make the conversion undefined. */
static uint64_t weighted_chunk(uint64_t size, float weight)
{
	double v = (double)mw_glibc_chunk(size) * weight;

	return v >= 18446744073709551615.0 ? UINT64_MAX : v > 0 ? (uint64_t)v : 0;
}

struct span_acc {
	uint64_t live, top_addr, top_size;
	uint32_t blocks, top_stack;
};

size_t mw_retention_compute(const struct mw_leak *l, uint32_t pid, const struct mw_heap_span *spans,
			    size_t n, uint64_t trim_threshold, struct mw_retention *out)
{
	struct span_acc *acc = calloc(n ? n : 1, sizeof(*acc));
	size_t rows = 0;

	if (!acc)
		return 0;
	for (size_t i = 0; i <= l->bmask; i++) {
		const struct mw_block *b = &l->blocks[i];

		if (!b->addr || b->pid != pid)
			continue;
		for (size_t k = 0; k < n; k++) {
			/* The chunk header sits 16 bytes below the block. */
			if (b->addr - 16 < spans[k].start || b->addr >= spans[k].end)
				continue;
			acc[k].live += weighted_chunk(b->size, b->weight);
			acc[k].blocks++;
			if (b->addr > acc[k].top_addr) {
				acc[k].top_addr = b->addr;
				acc[k].top_size = b->size;
				acc[k].top_stack = b->stack;
			}
			break;
		}
	}
	for (size_t k = 0; k < n; k++) {
		struct mw_retention *r = NULL;
		uint64_t committed = spans[k].end - spans[k].start, below;

		for (size_t j = 0; j < rows && !r; j++)
			if (out[j].arena == spans[k].arena)
				r = &out[j];
		if (!r) {
			r = &out[rows++];
			memset(r, 0, sizeof(*r));
			r->arena = spans[k].arena;
		}
		r->live += acc[k].live;
		r->committed += committed;
		r->overhead += spans[k].overhead;
		r->blocks += acc[k].blocks;
		if (!r->incomplete)
			r->incomplete = spans[k].incomplete;
		if (!acc[k].blocks)
			continue;
		/* Free below the top chunk: what trimming cannot give back while it lives. */
		below = acc[k].top_addr - 16 - spans[k].start;
		below -= spans[k].overhead < below ? spans[k].overhead : below;
		below -= acc[k].live - mw_glibc_chunk(acc[k].top_size) < below
				 ? acc[k].live - mw_glibc_chunk(acc[k].top_size)
				 : below;
		if (below > trim_threshold && below > r->pinned_free_below) {
			r->pinned = true;
			r->pinned_addr = acc[k].top_addr;
			r->pinned_size = acc[k].top_size;
			r->pinned_stack = acc[k].top_stack;
			r->pinned_free_below = below;
		}
	}
	for (size_t j = 0; j < rows; j++)
		out[j].free_kept = out[j].committed > out[j].live + out[j].overhead
					   ? out[j].committed - out[j].live - out[j].overhead
					   : 0;
	free(acc);
	return rows;
}
