// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Retention: live chunks vs committed bytes per arena, and the pinned top. */
#include <stdlib.h>
#include "malloc/leak.h"
#include "malloc/retention.h"
#include "unit.h"

#define KB 1024ULL

static void add(struct mw_leak *l, uint64_t addr, uint64_t size, uint32_t stack)
{
	struct mw_block b = { .addr = addr,
			      .size = size,
			      .ts_ns = 1,
			      .pid = 5,
			      .tid = 5,
			      .stack = stack,
			      .weight = 1 };

	mw_leak_alloc(l, &b);
}

TEST(retention_chunk_sizes)
{
	CHECK_EQ_INT(mw_glibc_chunk(0), 32);
	CHECK_EQ_INT(mw_glibc_chunk(24), 32);
	CHECK_EQ_INT(mw_glibc_chunk(25), 48);
	CHECK_EQ_INT(mw_glibc_chunk(4096), 4112);
}

TEST(retention_pinned_main_and_arena)
{
	struct mw_heap_span spans[] = {
		{ MW_ARENA_MAIN, 0x100000, 0x100000 + 1024 * KB, NULL, 0 },
		{ 1, 0x7f0000000000, 0x7f0000000000 + 132 * KB, NULL, MW_GLIBC_ARENA_HEAD },
		/* One heap of arena 1 not known whole: the arena is not complete. */
		{ 1, 0x7f0004000000, 0x7f0004000000 + 64 * KB, "bound_bytes", MW_GLIBC_HEAP_HEAD },
	};
	struct mw_retention r[3];
	struct mw_leak l;
	size_t n;

	mw_leak_init(&l, 100, 10);
	/* Main heap: one 1000-byte block at 900 KiB, one at the bottom: pinned. */
	add(&l, 0x100010, 100, 1);
	add(&l, 0x100010 + 900 * KB, 1000, 2);
	/* Arena 1: two blocks low in its first heap: not pinned. */
	add(&l, 0x7f0000000000 + 0x1000, 4096, 3);
	add(&l, 0x7f0000000000 + 0x3000, 4096, 3);
	/* Another process's block in the main heap: not counted. */
	{
		struct mw_block b = { .addr = 0x100400, .size = 64, .pid = 6, .weight = 1 };

		mw_leak_alloc(&l, &b);
	}
	n = mw_retention_compute(&l, 5, spans, 3, MW_TRIM_THRESHOLD, r);
	CHECK_EQ_INT(n, 2);
	CHECK_EQ_INT(r[0].arena, MW_ARENA_MAIN);
	CHECK_EQ_INT(r[0].live, 112 + 1008);
	CHECK_EQ_INT(r[0].committed, 1024 * KB);
	CHECK_EQ_INT(r[0].free_kept, 1024 * KB - 1120);
	CHECK(r[0].pinned);
	CHECK_EQ_INT(r[0].pinned_stack, 2);
	CHECK_EQ_INT(r[0].pinned_free_below, 900 * KB - 112);
	CHECK(r[0].incomplete == NULL);
	CHECK_EQ_INT(r[1].arena, 1);
	CHECK_EQ_INT(r[1].committed, 196 * KB);
	CHECK_EQ_INT(r[1].live, 2 * 4112);
	/* glibc's own headers are neither live nor free. */
	CHECK_EQ_INT(r[1].overhead, MW_GLIBC_ARENA_HEAD + MW_GLIBC_HEAP_HEAD);
	CHECK_EQ_INT(r[1].free_kept,
		     196 * KB - 2 * 4112 - MW_GLIBC_ARENA_HEAD - MW_GLIBC_HEAP_HEAD);
	CHECK(!r[1].pinned);
	CHECK_EQ_STR(r[1].incomplete, "bound_bytes");
	mw_leak_destroy(&l);
}

/* A block found by the heap walk: live in retention (its chunk exactly), no leak row. */
TEST(retention_counts_found_blocks_leaks_do_not)
{
	struct mw_heap_span span = { MW_ARENA_MAIN, 0x100000, 0x100000 + 64 * KB, NULL, 0 };
	struct mw_block b = {
		.addr = 0x100010, .size = 1024 - 8, .pid = 5, .weight = 1, .found = 1
	};
	struct mw_leak_row *rows;
	struct mw_retention r;
	uint64_t count, bytes;
	struct mw_leak l;

	mw_leak_init(&l, 100, 10);
	mw_leak_alloc(&l, &b);
	add(&l, 0x100410, 100, 1);
	CHECK_EQ_INT(mw_retention_compute(&l, 5, &span, 1, MW_TRIM_THRESHOLD, &r), 1);
	CHECK_EQ_INT(r.live, 1024 + 112);
	CHECK_EQ_INT(r.blocks, 2);
	CHECK_EQ_INT(mw_leak_aggregate(&l, 5, UINT64_MAX, false, &rows), 1);
	CHECK_EQ_INT(rows[0].count, 1);
	CHECK_EQ_INT(rows[0].bytes, 100);
	free(rows);
	mw_leak_found(&l, 5, &count, &bytes);
	CHECK_EQ_INT(count, 1);
	CHECK_EQ_INT(bytes, 1016);
	mw_leak_destroy(&l);
}

/* Pinned only when the free space below the top block exceeds glibc's trim threshold: below
 * it glibc would not trim anyway. */
TEST(retention_pinned_only_past_the_trim_threshold)
{
	struct mw_heap_span spans[] = {
		{ .arena = MW_ARENA_MAIN, .start = 0x100000, .end = 0x100000 + 1024 * KB },
		{ .arena = 1, .start = 0x7f0000000000, .end = 0x7f0000000000 + 1024 * KB },
	};
	struct mw_retention r[2];
	struct mw_leak l;

	mw_leak_init(&l, 100, 10);
	/* 120 KiB free below the only block of the main heap; 200 KiB in arena 1. */
	add(&l, 0x100000 + 120 * KB + 16, 100, 1);
	add(&l, 0x7f0000000000 + 200 * KB + 16, 100, 2);
	CHECK_EQ_INT(mw_retention_compute(&l, 5, spans, 2, MW_TRIM_THRESHOLD, r), 2);
	CHECK(!r[0].pinned);
	CHECK_EQ_INT(r[0].pinned_free_below, 0);
	CHECK(r[1].pinned);
	CHECK_EQ_INT(r[1].pinned_free_below, 200 * KB);
	CHECK_EQ_INT(r[1].pinned_stack, 2);
	mw_leak_destroy(&l);
}
