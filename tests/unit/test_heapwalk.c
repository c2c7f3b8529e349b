// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The heap walk on a made-up process image laid out as glibc 2.36 lays out
 * its state (offsets of Debian 12's libc): a main heap holding blocks in use,
 * a chunk in the bins, fastbin chunks (a safe-linked list) and a tcache chunk
 * (tcache_key at offset 8 of its data), then the top chunk; an arena with two
 * heaps, the older one ended by glibc's fencepost.
 */
#include <stdlib.h>
#include <string.h>
#include "malloc/heapwalk.h"
#include "unit.h"

#define P 1ULL /* PREV_INUSE */
#define LIBC 0x7f1000000000ULL
#define MAIN_ARENA (LIBC + 0x0)
#define MP (LIBC + 0x1000)
#define TKEY_VAR (LIBC + 0x2000)
#define TKEY 0x1234567890abcdefULL
#define HEAP 0x50000000ULL
#define H1 0x7f0004000000ULL /* the arena's first heap (64 MiB aligned) */
#define H2 0x7f0008000000ULL /* its second, holding top */
#define ARENA (H1 + 48)

struct region {
	uint64_t addr;
	size_t len;
	uint8_t *b;
};

static struct region mem[4];

static size_t fake_read(void *ctx, uint64_t addr, void *buf, size_t len)
{
	(void)ctx;
	for (int i = 0; i < 4; i++) {
		struct region *r = &mem[i];

		if (addr >= r->addr && addr < r->addr + r->len) {
			size_t n = r->addr + r->len - addr < len ? r->addr + r->len - addr : len;

			memcpy(buf, r->b + (addr - r->addr), n);
			return n;
		}
	}
	return 0;
}

static uint64_t fake_clock(void)
{
	return 0;
}

static void put(uint64_t addr, uint64_t v)
{
	for (int i = 0; i < 4; i++)
		if (addr >= mem[i].addr && addr + 8 <= mem[i].addr + mem[i].len)
			memcpy(mem[i].b + (addr - mem[i].addr), &v, 8);
}

static void chunk(uint64_t c, uint64_t size_field)
{
	put(c + 8, size_field);
}

/* glibc's safe-linking: a list link at pos holds next ^ (pos >> 12). */
static uint64_t protect(uint64_t pos, uint64_t next)
{
	return next ^ (pos >> 12);
}

static const struct mw_glibc_layout layout = {
	.ms_size = 2200,
	.ms_flags = 4,
	.ms_fastbins = 16,
	.ms_top = 96,
	.ms_next = 2160,
	.nfastbins = 10,
	.hi_size = 48,
	.hi_ar_ptr = 0,
	.hi_prev = 8,
	.hi_heap_size = 16,
	.mp_sbrk_base = 96,
	.mp_hp_pagesize = 48,
	.main_arena = MAIN_ARENA,
	.mp = MP,
	.tcache_key = TKEY_VAR,
};

static void build(void)
{
	uint64_t c6 = HEAP + 0x200, c7 = HEAP + 0x220, c2 = HEAP + 0x50;

	for (int i = 0; i < 4; i++)
		free(mem[i].b);
	mem[0] = (struct region){ LIBC, 0x3000, calloc(1, 0x3000) };
	mem[1] = (struct region){ HEAP, 0x10000, calloc(1, 0x10000) };
	mem[2] = (struct region){ H1, 0x4000, calloc(1, 0x4000) };
	mem[3] = (struct region){ H2, 0x2000, calloc(1, 0x2000) };
	/* Main heap. */
	chunk(HEAP, 0x20 | P);	       /* in use */
	chunk(HEAP + 0x20, 0x30 | P);  /* in use */
	chunk(c2, 0x30 | P);	       /* in fastbinsY[1] */
	chunk(HEAP + 0x80, 0x40 | P);  /* in a tcache: */
	put(HEAP + 0x80 + 24, TKEY);   /* the key after its next link */
	chunk(HEAP + 0xc0, 0x100 | P); /* free in the bins: */
	chunk(HEAP + 0x1c0, 0x40);     /* its successor's PREV_INUSE is clear */
	chunk(c6, 0x20 | P);	       /* fastbinsY[0]: c6 -> c7 */
	chunk(c7, 0x20 | P);
	put(c6 + 16, protect(c6 + 16, c7));
	put(c7 + 16, protect(c7 + 16, 0));
	chunk(HEAP + 0x240, (0x10000 - 0x240) | P); /* top */
	put(MAIN_ARENA + 16, c6);
	put(MAIN_ARENA + 16 + 8, c2);
	put(c2 + 16, protect(c2 + 16, 0));
	put(MAIN_ARENA + 96, HEAP + 0x240);
	put(MAIN_ARENA + 2160, ARENA);
	put(MP + 96, HEAP);
	put(TKEY_VAR, TKEY);
	/* The arena: heap_info, malloc_state, chunks from 0x8d0; the older heap ends
	 * with a fencepost (16 | P, then 0 | P). */
	put(H1 + 0, ARENA);
	put(H1 + 16, 0x4000);
	chunk(H1 + 0x8d0, 0x30 | P);
	chunk(H1 + 0x900, 0x10 | P);
	chunk(H1 + 0x910, 0 | P);
	put(ARENA + 96, H2 + 48 + 0x50);
	put(ARENA + 2160, MAIN_ARENA);
	put(H2 + 0, ARENA);
	put(H2 + 8, H1);
	put(H2 + 16, 0x2000);
	chunk(H2 + 48, 0x50 | P);
	chunk(H2 + 48 + 0x50, (0x2000 - 48 - 0x50) | P);
}

static const struct mw_mheap_block *block_at(const struct mw_heapwalk *w, uint64_t addr)
{
	for (size_t i = 0; i < w->nblocks; i++)
		if (w->blocks[i].addr == addr)
			return &w->blocks[i];
	return NULL;
}

static struct mw_heapwalk_limits lim = { 1 << 20, 1000000000, 1000 };

TEST(heapwalk_finds_the_blocks_in_use)
{
	struct mw_heapwalk w;

	build();
	CHECK_EQ_INT(mw_heapwalk_run(&layout, &lim, fake_read, NULL, fake_clock, &w), 0);
	CHECK_EQ_INT(w.status, MW_HEAPWALK_OK);
	/* In use: two in the main heap below the free one, one above it, one per arena heap.
	 * Not: the fastbin and tcache chunks (their successors say in use), the free one. */
	CHECK_EQ_INT(w.nblocks, 5);
	CHECK(block_at(&w, HEAP + 16) && block_at(&w, HEAP + 16)->size == 0x20);
	CHECK(block_at(&w, HEAP + 0x30) && block_at(&w, HEAP + 0x30)->size == 0x30);
	CHECK(block_at(&w, HEAP + 0x1d0) && block_at(&w, HEAP + 0x1d0)->size == 0x40);
	CHECK(block_at(&w, H1 + 0x8e0) && block_at(&w, H1 + 0x8e0)->size == 0x30);
	CHECK(block_at(&w, H2 + 64) && block_at(&w, H2 + 64)->size == 0x50);
	CHECK_EQ_INT(w.nspans, 3);
	if (w.nspans == 3) {
		CHECK_EQ_HEX(w.spans[0].start, HEAP);
		CHECK_EQ_HEX(w.spans[0].end, HEAP + 0x10000);
		CHECK_EQ_INT(w.spans[0].flags, MW_MHEAP_MAIN);
		CHECK_EQ_HEX(w.spans[1].start, H2);
		CHECK_EQ_HEX(w.spans[1].end, H2 + 0x2000);
		CHECK_EQ_HEX(w.spans[2].start, H1);
		CHECK_EQ_HEX(w.spans[2].end, H1 + 0x4000);
		for (int i = 0; i < 3; i++)
			CHECK_EQ_INT(w.spans[i].status, MW_HEAPWALK_OK);
	}
	mw_heapwalk_free(&w);
}

TEST(heapwalk_gives_up_and_says_why)
{
	struct mw_heapwalk_limits small = lim;
	struct mw_glibc_layout old = layout;
	struct mw_heapwalk w;

	/* Past the byte bound: the main heap is given up, the arena's are walked. */
	build();
	small.max_heap_bytes = 0x8000;
	mw_heapwalk_run(&layout, &small, fake_read, NULL, fake_clock, &w);
	CHECK(w.nspans == 3 && w.spans[0].status == MW_HEAPWALK_BYTES);
	CHECK(w.nspans == 3 && w.spans[1].status == MW_HEAPWALK_OK);
	CHECK_EQ_STR(mw_heapwalk_reason(w.spans[0].status), "bound_bytes");
	mw_heapwalk_free(&w);
	/* A size that no chunk has: the heap changed under the walk. */
	build();
	chunk(HEAP + 0x20, 0x38 | P);
	mw_heapwalk_run(&layout, &lim, fake_read, NULL, fake_clock, &w);
	CHECK(w.nspans >= 1 && w.spans[0].status == MW_HEAPWALK_CHANGED);
	mw_heapwalk_free(&w);
	/* A fastbin link that is not a chunk. */
	build();
	put(HEAP + 0x200 + 16, protect(HEAP + 0x200 + 16, HEAP + 0x221));
	mw_heapwalk_run(&layout, &lim, fake_read, NULL, fake_clock, &w);
	CHECK(w.nspans >= 1 && w.spans[0].status == MW_HEAPWALK_FREE_LISTS);
	mw_heapwalk_free(&w);
	/* More blocks than the tables take: the walk stops there. */
	build();
	small = lim;
	small.max_blocks = 2;
	mw_heapwalk_run(&layout, &small, fake_read, NULL, fake_clock, &w);
	CHECK_EQ_INT(w.status, MW_HEAPWALK_TABLE_FULL);
	CHECK_EQ_INT(w.nblocks, 2);
	mw_heapwalk_free(&w);
	/* No tcache_key (glibc before 2.34): a tcache chunk looks in use, no heap is whole. */
	build();
	old.tcache_key = 0;
	mw_heapwalk_run(&old, &lim, fake_read, NULL, fake_clock, &w);
	CHECK(block_at(&w, HEAP + 0x90) != NULL);
	CHECK(w.nspans == 3 && w.spans[0].status == MW_HEAPWALK_FREE_LISTS);
	mw_heapwalk_free(&w);
	/* Nothing there to read. */
	build();
	memset(mem[0].b, 0, mem[0].len);
	mem[0].len = 0;
	mw_heapwalk_run(&layout, &lim, fake_read, NULL, fake_clock, &w);
	CHECK_EQ_INT(w.status, MW_HEAPWALK_UNREADABLE);
	mw_heapwalk_free(&w);
	for (int i = 0; i < 4; i++) {
		free(mem[i].b);
		mem[i].b = NULL;
	}
}
