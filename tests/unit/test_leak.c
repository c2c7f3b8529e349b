// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The outstanding-block and stack tables, the leak aggregation and the folded output. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include "malloc/leak.h"
#include "unit.h"

static struct mw_block blk(uint64_t addr, uint64_t size, uint64_t ts, uint32_t stack)
{
	return (struct mw_block){ .addr = addr,
				  .size = size,
				  .ts_ns = ts,
				  .pid = 7,
				  .tid = 8,
				  .stack = stack,
				  .weight = 1 };
}

TEST(leak_stacks_dedup)
{
	struct mw_leak l;
	uint64_t a[] = { 0x401000, 0x402000, 0x403000 }, b[] = { 0x401000, 0x402000 };
	bool fresh;
	uint32_t s1, s2, s3, s4;

	CHECK_EQ_INT(mw_leak_init(&l, 100, 2), 0);
	s1 = mw_leak_stack(&l, 7, a, 3, &fresh);
	CHECK(fresh);
	s2 = mw_leak_stack(&l, 7, a, 3, &fresh);
	CHECK(!fresh);
	CHECK_EQ_INT(s1, s2);
	s3 = mw_leak_stack(&l, 7, b, 2, &fresh);
	CHECK(fresh && s3 != s1 && s3 != MW_STACK_NONE);
	/* Same addresses in another process: another stack; the table (2) is full. */
	s4 = mw_leak_stack(&l, 9, a, 3, &fresh);
	CHECK_EQ_INT(s4, MW_STACK_NONE);
	CHECK_EQ_INT(l.stacks_full, 1);
	CHECK_EQ_INT(mw_leak_stack(&l, 7, a, 0, &fresh), MW_STACK_NONE);
	mw_leak_destroy(&l);
}

TEST(leak_blocks_bounded_and_deleted)
{
	struct mw_leak l;
	struct mw_block b, out;

	CHECK_EQ_INT(mw_leak_init(&l, 1000, 10), 0);
	for (uint64_t i = 1; i <= 1000; i++) {
		b = blk(i * 16, i, i, 0);
		CHECK_EQ_INT(mw_leak_alloc(&l, &b), 0);
	}
	b = blk(0xffff0, 1, 1, 0);
	CHECK_EQ_INT(mw_leak_alloc(&l, &b), -ENOSPC);
	CHECK_EQ_INT(l.blocks_full, 1);
	/* Replacing a block at the same address needs no room. */
	b = blk(16, 99, 1, 0);
	CHECK_EQ_INT(mw_leak_alloc(&l, &b), 0);
	CHECK_EQ_INT(mw_leak_find(&l, 16)->size, 99);
	/* Delete every other one: the rest stay findable (backward-shift deletion). */
	for (uint64_t i = 2; i <= 1000; i += 2)
		CHECK(mw_leak_release(&l, i * 16, &out) && out.size == i);
	CHECK(!mw_leak_release(&l, 32, NULL));
	CHECK_EQ_INT(l.nblocks, 500);
	for (uint64_t i = 3; i <= 1000; i += 2)
		CHECK(mw_leak_find(&l, i * 16) && mw_leak_find(&l, i * 16)->size == i);
	CHECK(!mw_leak_find(&l, 0));
	mw_leak_destroy(&l);
}

/* The block table takes memory in proportion to what is outstanding, not to
 * --max-outstanding (it doubled memwatch's RSS with --malloc on 10k threads). */
TEST(leak_block_table_grows_with_use)
{
	struct mw_leak l;
	struct mw_block b;

	CHECK_EQ_INT(mw_leak_init(&l, 65536, 10), 0);
	CHECK_EQ_INT(l.bmask + 1, 4096);
	for (uint64_t i = 1; i <= 20000; i++) {
		b = blk(i * 16, i, i, 0);
		CHECK_EQ_INT(mw_leak_alloc(&l, &b), 0);
		CHECK(l.nblocks * 2 <= l.bmask + 1);
	}
	CHECK_EQ_INT(l.bmask + 1, 65536);
	for (uint64_t i = 1; i <= 20000; i++)
		if (!mw_leak_find(&l, i * 16) || mw_leak_find(&l, i * 16)->size != i) {
			unit_fail(__FILE__, __LINE__, "block %" PRIu64 " lost in a doubling", i);
			break;
		}
	for (uint64_t i = 20001; i <= 65536; i++) {
		b = blk(i * 16, i, i, 0);
		CHECK_EQ_INT(mw_leak_alloc(&l, &b), 0);
	}
	CHECK_EQ_INT(l.bmask + 1, 131072); /* what max_blocks needs, no more */
	b = blk(0xfffffff0, 1, 1, 0);
	CHECK_EQ_INT(mw_leak_alloc(&l, &b), -ENOSPC);
	mw_leak_destroy(&l);
	/* A small maximum starts at its size. */
	CHECK_EQ_INT(mw_leak_init(&l, 100, 10), 0);
	CHECK_EQ_INT(l.bmask + 1, 256);
	mw_leak_destroy(&l);
}

TEST(leak_aggregate_age_growth_order)
{
	struct mw_leak l;
	struct mw_leak_row *rows;
	uint64_t a[] = { 0x401000, 0x500000 }, c[] = { 0x402000, 0x500000 };
	struct mw_block b;
	bool fresh;
	uint32_t sa, sc;
	long n;

	CHECK_EQ_INT(mw_leak_init(&l, 100, 10), 0);
	sa = mw_leak_stack(&l, 7, a, 2, &fresh);
	sc = mw_leak_stack(&l, 7, c, 2, &fresh);
	/* a: 3 x 100 bytes at t=10,20,30; c: 10 x 8 bytes at t=5..14; one of another pid. */
	for (int i = 0; i < 3; i++) {
		b = blk(0x1000 + 0x100 * i, 100, 10 + 10 * i, sa);
		mw_leak_alloc(&l, &b);
	}
	for (int i = 0; i < 10; i++) {
		b = blk(0x9000 + 0x10 * i, 8, 5 + i, sc);
		mw_leak_alloc(&l, &b);
	}
	b = blk(0x20000, 5000, 1, sa);
	b.pid = 9;
	mw_leak_alloc(&l, &b);
	n = mw_leak_aggregate(&l, 7, UINT64_MAX, false, &rows);
	CHECK_EQ_INT(n, 2);
	CHECK_EQ_INT(rows[0].stack, sa);
	CHECK_EQ_INT((long long)rows[0].bytes, 300);
	CHECK_EQ_INT((long long)rows[0].count, 3);
	CHECK_EQ_INT(rows[0].oldest_ns, 10);
	CHECK_EQ_INT((long long)rows[1].bytes, 80);
	CHECK_EQ_INT(rows[1].oldest_ns, 5);
	mw_leak_mark(&l, rows, (size_t)n);
	free(rows);
	/* By count, c first; only blocks allocated at or before t=20. */
	n = mw_leak_aggregate(&l, 7, 20, true, &rows);
	CHECK_EQ_INT(n, 2);
	CHECK_EQ_INT(rows[0].stack, sc);
	CHECK_EQ_INT((long long)rows[0].count, 10);
	CHECK_EQ_INT((long long)rows[1].bytes, 200);
	free(rows);
	/* Growth: one more block on a, one freed on c. */
	b = blk(0x5000, 100, 40, sa);
	mw_leak_alloc(&l, &b);
	mw_leak_release(&l, 0x9000, NULL);
	n = mw_leak_aggregate(&l, 7, UINT64_MAX, false, &rows);
	CHECK_EQ_INT((long long)rows[0].growth, 100);
	CHECK_EQ_INT((long long)rows[1].growth, -8);
	free(rows);
	/* Weights (sampling): estimates. */
	b = blk(0x7000, 10, 50, MW_STACK_NONE);
	b.weight = 4;
	mw_leak_alloc(&l, &b);
	n = mw_leak_aggregate(&l, 7, UINT64_MAX, false, &rows);
	CHECK_EQ_INT(n, 3);
	CHECK_EQ_INT(rows[2].stack, MW_STACK_NONE);
	CHECK_EQ_INT((long long)rows[2].bytes, 40);
	CHECK_EQ_INT((long long)rows[2].count, 4);
	free(rows);
	mw_leak_forget_pid(&l, 7);
	CHECK_EQ_INT(l.nblocks, 1);
	CHECK(mw_leak_find(&l, 0x20000) != NULL);
	mw_leak_destroy(&l);
}

TEST(leak_folded_outermost_first)
{
	struct mw_leak l;
	struct mw_leak_row *rows;
	uint64_t ips[] = { 0x401000, 0x7f0000402000, 0x403000, 0x7f0000801234, 0x7e0000001000 };
	struct mw_frame *fr;
	struct mw_block b;
	char buf[512] = "";
	FILE *f;
	bool fresh;
	uint32_t s;
	long n;

	CHECK_EQ_INT(mw_leak_init(&l, 10, 10), 0);
	s = mw_leak_stack(&l, 7, ips, 5, &fresh);
	fr = calloc(5, sizeof(*fr));
	fr[0] = (struct mw_frame){ .addr = 0x401000, .func = "leak one" };
	/* Unsymbolized: the module-relative address, never the absolute one. */
	fr[1] = (struct mw_frame){ .addr = 0x7f0000402000,
				   .module = "/usr/lib/libfoo.so",
				   .rel = 0x2000,
				   .rel_kind = MW_REL_VADDR };
	fr[2] = (struct mw_frame){ .addr = 0x403000, .func = "main" };
	fr[3] = (struct mw_frame){ .addr = 0x7f0000801234,
				   .module = "/gone/libbar.so",
				   .rel = 0x1234,
				   .rel_kind = MW_REL_FILE };
	fr[4] = (struct mw_frame){ .addr = 0x7e0000001000, .func = "JS:*run x.js:1", .jit = 1 };
	l.stacks[s].frames = fr;
	b = blk(0x1000, 4096, 1, s);
	mw_leak_alloc(&l, &b);
	b = blk(0x2000, 8, 1, MW_STACK_NONE);
	mw_leak_alloc(&l, &b);
	n = mw_leak_aggregate(&l, 7, UINT64_MAX, false, &rows);
	f = fmemopen(buf, sizeof(buf), "w");
	mw_leak_folded(f, &l, rows, (size_t)n);
	fclose(f);
	CHECK_EQ_STR(buf,
		     "JS:*run_x.js:1;[libbar.so]@0x1234;main;[libfoo.so]+0x2000;leak_one 4096\n"
		     "[unknown] 8\n");
	free(rows);
	mw_leak_destroy(&l);
}

TEST(leak_sync_with_kernel_table)
{
	struct mw_leak l;
	struct mw_block b, k;

	CHECK_EQ_INT(mw_leak_init(&l, 100, 10), 0);
	for (uint64_t i = 1; i <= 5; i++) {
		b = blk(i * 0x100, 10 * i, i, 3);
		mw_leak_alloc(&l, &b);
	}
	b = blk(0x9000, 1, 1, 3);
	b.pid = 9;
	mw_leak_alloc(&l, &b);
	/* The kernel still has 0x100 and 0x300, a 0x200 made later (same address, new time),
	 * and 0x700 whose record was lost. */
	k = blk(0x100, 10, 1, 0);
	mw_leak_confirm(&l, &k);
	k = blk(0x300, 30, 3, 0);
	mw_leak_confirm(&l, &k);
	k = blk(0x200, 77, 50, 0);
	mw_leak_confirm(&l, &k);
	k = blk(0x700, 70, 7, 0);
	mw_leak_confirm(&l, &k);
	CHECK_EQ_INT(mw_leak_sweep(&l, 7), 2); /* 0x400 and 0x500: frees lost */
	CHECK_EQ_INT(l.nblocks, 5);
	CHECK_EQ_INT(mw_leak_find(&l, 0x100)->stack, 3);
	CHECK_EQ_INT(mw_leak_find(&l, 0x200)->size, 77);
	CHECK_EQ_INT(mw_leak_find(&l, 0x200)->stack, MW_STACK_NONE);
	CHECK_EQ_INT(mw_leak_find(&l, 0x700)->stack, MW_STACK_NONE);
	CHECK(!mw_leak_find(&l, 0x400) && mw_leak_find(&l, 0x9000));
	/* Marks cleared: a sweep with nothing confirmed drops them all. */
	CHECK_EQ_INT(mw_leak_sweep(&l, 7), 4);
	mw_leak_destroy(&l);
}
