// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* glibc's heaps, chunk by chunk, from another process. See heapwalk.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "base/grow.h"
#include "heapwalk.h"

#define CHUNK_HDR 16	/* prev_size and size: the block is 16 bytes in */
#define MINSIZE 32	/* glibc's smallest chunk on 64-bit */
#define PREV_INUSE 1ULL /* size field bits */
#define IS_MMAPPED 2ULL
#define NONCONTIGUOUS_BIT 2U	       /* malloc_state.flags: the main heap is not one brk range */
#define HEAP_MAX_DEFAULT (64ULL << 20) /* 2 x DEFAULT_MMAP_THRESHOLD_MAX on 64-bit */
#define MAX_ARENAS 4096
#define MAX_HEAPS_PER_ARENA 65536
#define MAX_FASTBIN_CHUNKS (1u << 20)
#define WINDOW (1u << 20) /* bytes read at a time */
#define CLOCK_EVERY 4096  /* chunks between looks at the clock */

struct walker {
	const struct mw_glibc_layout *l;
	const struct mw_heapwalk_limits *lim;
	mw_readmem_fn read;
	void *ctx;
	mw_clock_fn clock;
	uint64_t t0;
	struct mw_heapwalk *w;
	uint8_t *win; /* [win_addr, win_addr + win_len) of the process */
	uint64_t win_addr;
	size_t win_len;
	uint64_t heap_bytes; /* read for the heap being walked */
	uint64_t *fast;	     /* chunks in fastbins, sorted */
	size_t nfast, capfast;
	uint64_t tkey; /* the value of tcache_key (0: no tcache yet) */
	bool nomem;
};

const char *mw_heapwalk_reason(uint32_t status)
{
	static const char *const names[MW_HEAPWALK_COUNT] = {
		"ok",	      "no_debuginfo", "no_libc",    "unreadable", "bound_bytes",
		"bound_time", "changed",      "table_full", "free_lists", "noncontiguous",
	};

	return status < MW_HEAPWALK_COUNT ? names[status] : "unknown";
}

void mw_heapwalk_free(struct mw_heapwalk *w)
{
	free(w->spans);
	free(w->blocks);
	memset(w, 0, sizeof(*w));
}

static bool read_exact(struct walker *k, uint64_t addr, void *buf, size_t len)
{
	size_t got = k->read(k->ctx, addr, buf, len);

	k->w->bytes_read += got;
	return got == len;
}

static bool read_u64(struct walker *k, uint64_t addr, uint64_t *v)
{
	return read_exact(k, addr, v, sizeof(*v));
}

/* 8 bytes at addr of the heap ending at end, through the window. 0 or a status. */
static uint32_t heap_u64(struct walker *k, uint64_t addr, uint64_t end, uint64_t *v)
{
	size_t want, got;

	if (addr < k->win_addr || addr + 8 > k->win_addr + k->win_len) {
		if (addr + 8 > end)
			return MW_HEAPWALK_CHANGED;
		want = end - addr < WINDOW ? (size_t)(end - addr) : WINDOW;
		if (k->heap_bytes + want > k->lim->max_heap_bytes)
			return MW_HEAPWALK_BYTES;
		got = k->read(k->ctx, addr, k->win, want);
		k->w->bytes_read += got;
		k->heap_bytes += got;
		k->win_addr = addr;
		k->win_len = got;
		if (got < 8)
			return MW_HEAPWALK_UNREADABLE;
	}
	memcpy(v, k->win + (addr - k->win_addr), sizeof(*v));
	return MW_HEAPWALK_OK;
}

/* The first chunk at or after p whose data (chunk + 16) is 16-byte aligned. */
static uint64_t align_chunk(uint64_t p)
{
	return p + ((16 - ((p + CHUNK_HDR) & 15)) & 15);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static bool in_fastbin(const struct walker *k, uint64_t c)
{
	return k->nfast && bsearch(&c, k->fast, k->nfast, sizeof(*k->fast), cmp_u64);
}

/*
 * The fastbin lists of one arena (ms: its malloc_state as read). Their links
 * are safe-linked (glibc 2.32+, which every glibc with tcache_key is): the
 * stored pointer is next ^ (address of the link >> 12).
 */
static uint32_t collect_fastbins(struct walker *k, const uint8_t *ms)
{
	for (uint32_t i = 0; i < k->l->nfastbins; i++) {
		uint64_t p, stored;

		memcpy(&p, ms + k->l->ms_fastbins + 8 * i, sizeof(p));
		while (p) {
			if ((p & 15) || k->nfast >= MAX_FASTBIN_CHUNKS)
				return MW_HEAPWALK_FREE_LISTS;
			if (mw_grow(&k->fast, k->nfast, &k->capfast, sizeof(*k->fast), 256)) {
				k->nomem = true;
				return MW_HEAPWALK_FREE_LISTS;
			}
			k->fast[k->nfast++] = p;
			if (!read_u64(k, p + CHUNK_HDR, &stored))
				return MW_HEAPWALK_FREE_LISTS;
			p = stored ^ ((p + CHUNK_HDR) >> 12);
		}
	}
	return MW_HEAPWALK_OK;
}

static uint32_t add_block(struct walker *k, uint64_t chunk, uint64_t size)
{
	struct mw_heapwalk *w = k->w;

	if (w->nblocks >= k->lim->max_blocks)
		return MW_HEAPWALK_TABLE_FULL;
	if (mw_grow(&w->blocks, w->nblocks, &w->capblocks, sizeof(*w->blocks), 1024)) {
		k->nomem = true;
		return MW_HEAPWALK_TABLE_FULL;
	}
	w->blocks[w->nblocks++] =
		(struct mw_mheap_block){ .addr = chunk + CHUNK_HDR, .size = size };
	return MW_HEAPWALK_OK;
}

/* Is the chunk at c (in use by its successor's bit) really in use? */
static uint32_t in_use(struct walker *k, uint64_t c, uint64_t end, bool *used)
{
	uint64_t key;
	uint32_t st;

	*used = false;
	if (in_fastbin(k, c))
		return MW_HEAPWALK_OK;
	if (k->tkey) {
		st = heap_u64(k, c + CHUNK_HDR + 8, end, &key);
		if (st)
			return st;
		if (key == k->tkey)
			return MW_HEAPWALK_OK;
	}
	*used = true;
	return MW_HEAPWALK_OK;
}

/*
 * Chunks from first to top (the arena's top chunk, free, the last of its
 * heap) or, in an arena's older heap, to the fencepost glibc left at its end.
 */
static uint32_t walk_heap(struct walker *k, uint64_t first, uint64_t top, uint64_t end)
{
	uint64_t c = first, n = 0;

	k->win_len = 0;
	k->heap_bytes = 0;
	while (c != top) {
		uint64_t hdr, next, size;
		uint32_t st;
		bool used;

		if (++n % CLOCK_EVERY == 0 && k->clock() - k->t0 > k->lim->max_ns)
			return MW_HEAPWALK_TIME;
		st = heap_u64(k, c + 8, end, &hdr);
		if (st)
			return st;
		size = hdr & ~7ULL;
		if (!top && size < MINSIZE)
			return size == CHUNK_HDR ? MW_HEAPWALK_OK : MW_HEAPWALK_CHANGED;
		if (size < MINSIZE || (size & 15) || (hdr & IS_MMAPPED) || size > end - c ||
		    end - c - size < CHUNK_HDR)
			return MW_HEAPWALK_CHANGED;
		st = heap_u64(k, c + size + 8, end, &next);
		if (st)
			return st;
		if (next & PREV_INUSE) {
			st = in_use(k, c, end, &used);
			if (!st && used)
				st = add_block(k, c, size);
			if (st)
				return st;
		}
		c += size;
	}
	return MW_HEAPWALK_OK;
}

static uint32_t add_span(struct walker *k, uint64_t start, uint64_t end, uint32_t status,
			 uint32_t flags)
{
	struct mw_heapwalk *w = k->w;

	if (mw_grow(&w->spans, w->nspans, &w->capspans, sizeof(*w->spans), 16)) {
		k->nomem = true;
		return MW_HEAPWALK_TABLE_FULL;
	}
	w->spans[w->nspans++] = (struct mw_mheap_span){
		.start = start, .end = end, .status = status, .flags = flags
	};
	return status;
}

static uint64_t field(const uint8_t *ms, uint32_t off)
{
	uint64_t v;

	memcpy(&v, ms + off, sizeof(v));
	return v;
}

/* The main heap: glibc's brk range, from sbrk_base to the end of the top chunk. */
static uint32_t walk_main(struct walker *k, const uint8_t *ms, uint32_t lists)
{
	uint64_t base, top = field(ms, k->l->ms_top), topsize;
	uint32_t flags;

	memcpy(&flags, ms + k->l->ms_flags, sizeof(flags));
	if (!read_u64(k, k->l->mp + k->l->mp_sbrk_base, &base))
		return add_span(k, 0, 0, MW_HEAPWALK_UNREADABLE, MW_MHEAP_MAIN);
	if (!base || !top)
		return add_span(k, 0, 0, MW_HEAPWALK_OK, MW_MHEAP_MAIN); /* not set up yet */
	if (flags & NONCONTIGUOUS_BIT)
		return add_span(k, base, base, MW_HEAPWALK_NONCONTIGUOUS, MW_MHEAP_MAIN);
	if (!read_u64(k, top + 8, &topsize) || top < base)
		return add_span(k, base, base, MW_HEAPWALK_CHANGED, MW_MHEAP_MAIN);
	topsize &= ~7ULL;
	if (lists)
		return add_span(k, base, top + topsize, lists, MW_MHEAP_MAIN);
	return add_span(k, base, top + topsize, walk_heap(k, align_chunk(base), top, top + topsize),
			MW_MHEAP_MAIN);
}

/* An arena's heaps: the one holding its top, then each heap_info.prev. */
static uint32_t walk_arena(struct walker *k, uint64_t arena, const uint8_t *ms, uint32_t lists)
{
	uint64_t top = field(ms, k->l->ms_top), heap_max = HEAP_MAX_DEFAULT, hp, h, topsize;
	uint32_t worst = MW_HEAPWALK_OK;
	uint8_t hi[256];

	if (k->l->mp_hp_pagesize != UINT32_MAX &&
	    read_u64(k, k->l->mp + k->l->mp_hp_pagesize, &hp) && hp)
		heap_max = hp * 4;
	if (!top || !read_u64(k, top + 8, &topsize))
		return add_span(k, arena, arena, MW_HEAPWALK_CHANGED, 0);
	topsize &= ~7ULL;
	h = top & ~(heap_max - 1);
	for (int n = 0; h && n < MAX_HEAPS_PER_ARENA; n++) {
		uint64_t ar, prev, size, first, end, t;
		uint32_t st;

		if (k->l->hi_size > sizeof(hi) || !read_exact(k, h, hi, k->l->hi_size))
			return add_span(k, h, h, MW_HEAPWALK_UNREADABLE, 0);
		ar = field(hi, k->l->hi_ar_ptr);
		prev = field(hi, k->l->hi_prev);
		size = field(hi, k->l->hi_heap_size);
		if (ar != arena || size > heap_max)
			return add_span(k, h, h, MW_HEAPWALK_CHANGED, 0);
		/* The arena's first heap holds its malloc_state right after the header. */
		first = align_chunk(h + k->l->hi_size == arena ? arena + k->l->ms_size
							       : h + k->l->hi_size);
		t = n == 0 ? top : 0;
		end = n == 0 ? top + topsize : h + size;
		st = lists	   ? lists
		     : end > first ? walk_heap(k, first, t, end)
				   : MW_HEAPWALK_CHANGED;
		add_span(k, h, end, st, 0);
		if (st && !worst)
			worst = st;
		if (st == MW_HEAPWALK_TIME || st == MW_HEAPWALK_TABLE_FULL)
			return st;
		h = prev;
	}
	return worst;
}

int mw_heapwalk_run(const struct mw_glibc_layout *l, const struct mw_heapwalk_limits *lim,
		    mw_readmem_fn read, void *ctx, mw_clock_fn clock, struct mw_heapwalk *w)
{
	struct walker k = { .l = l, .lim = lim, .read = read, .ctx = ctx, .clock = clock, .w = w };
	uint64_t arena = l->main_arena;
	uint8_t *ms = NULL;
	uint32_t st;

	memset(w, 0, sizeof(*w));
	k.t0 = clock();
	if (l->tcache_key && !read_u64(&k, l->tcache_key, &k.tkey)) {
		w->status = MW_HEAPWALK_UNREADABLE;
		return 0;
	}
	k.win = malloc(WINDOW);
	ms = malloc(l->ms_size);
	if (!k.win || !ms) {
		free(k.win);
		free(ms);
		return -ENOMEM;
	}
	for (int n = 0; n < MAX_ARENAS; n++) {
		uint32_t lists;

		if (!read_exact(&k, arena, ms, l->ms_size)) {
			if (arena == l->main_arena)
				w->status = MW_HEAPWALK_UNREADABLE;
			else
				add_span(&k, arena, arena, MW_HEAPWALK_UNREADABLE, 0);
			break;
		}
		k.nfast = 0;
		lists = collect_fastbins(&k, ms);
		if (k.nfast)
			qsort(k.fast, k.nfast, sizeof(*k.fast), cmp_u64);
		st = arena == l->main_arena ? walk_main(&k, ms, lists)
					    : walk_arena(&k, arena, ms, lists);
		/* Out of time or room: the heaps not walked are not known at all. */
		if (st == MW_HEAPWALK_TIME || st == MW_HEAPWALK_TABLE_FULL) {
			w->status = st;
			break;
		}
		arena = field(ms, l->ms_next);
		if (!arena || arena == l->main_arena)
			break;
	}
	/* Without tcache_key a tcache chunk looks in use: no heap is known whole. */
	for (size_t i = 0; !l->tcache_key && i < w->nspans; i++)
		if (w->spans[i].status == MW_HEAPWALK_OK && w->spans[i].end > w->spans[i].start)
			w->spans[i].status = MW_HEAPWALK_FREE_LISTS;
	free(k.win);
	free(k.fast);
	free(ms);
	return k.nomem ? -ENOMEM : 0;
}
