// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* --fault-stacks: the sampled faults' aggregation by code path and placement by class and
 * arena (session/faults.c), fed with hand-made samples. */
#include <stdio.h>
#include <stdlib.h>
#include "session/faults.h"
#include "unit.h"

#define PG 4096ULL

static const struct mw_sframe touch_a[] = {
	{ 0x401010, 0x10, "/w", "touch" },
	{ 0x401234, 0x34, "/w", "big_user" },
	{ 0x7f0000002000, 0x80, "/libc.so.6", "__libc_start_call_main" },
};

/* The same function faulting at another instruction, called from the same place. */
static const struct mw_sframe touch_b[] = {
	{ 0x401018, 0x18, "/w", "touch" },
	{ 0x401234, 0x34, "/w", "big_user" },
	{ 0x7f0000002000, 0x80, "/libc.so.6", "__libc_start_call_main" },
};

/* The same function called from another caller. */
static const struct mw_sframe touch_c[] = {
	{ 0x401010, 0x10, "/w", "touch" },
	{ 0x401300, 0x20, "/w", "small_user" },
	{ 0x7f0000002000, 0x80, "/libc.so.6", "__libc_start_call_main" },
};

TEST(fprof_merges_by_function_and_caller)
{
	struct mw_fprof p = { .pid = 7 };
	size_t top[4];
	size_t n;

	for (int i = 0; i < 3; i++)
		CHECK_EQ_INT(mw_fprof_add(&p, 70, touch_a, 3, NULL, 4), 0);
	for (int i = 0; i < 2; i++)
		CHECK_EQ_INT(mw_fprof_add(&p, 70, touch_b, 3, NULL, 4), 0);
	CHECK_EQ_INT(mw_fprof_add(&p, 70, touch_c, 3, NULL, 4), 0);
	/* Two paths: touch from big_user (5 samples, at two instructions), from small_user. */
	CHECK_EQ_INT(p.n, 2);
	CHECK_EQ_INT(p.samples, 6);
	n = mw_fprof_top(&p, top, 4);
	CHECK_EQ_INT(n, 2);
	CHECK_EQ_INT(p.v[top[0]].samples, 5);
	CHECK_EQ_STR(p.v[top[0]].f[1].func, "big_user");
	/* The innermost frame keeps the first sampled instruction. */
	CHECK_EQ_HEX(p.v[top[0]].f[0].addr, 0x401010);
	CHECK_EQ_INT(p.v[top[1]].samples, 1);
	CHECK_EQ_STR(p.v[top[1]].f[1].func, "small_user");
	/* Each sample stands for N faults of a page. */
	CHECK_EQ_INT(mw_fprof_bytes(&p, p.v[top[0]].samples, PG), 5 * 4 * PG);
	CHECK(mw_fprof_estimated(&p));
	mw_fprof_free(&p);
}

TEST(fprof_unnamed_innermost_frames_by_address)
{
	struct mw_sframe a[2] = { { 0x1000, 0, NULL, NULL }, { 0x2000, 0, NULL, NULL } };
	struct mw_sframe b[2] = { { 0x1008, 0, NULL, NULL }, { 0x2000, 0, NULL, NULL } };
	struct mw_fprof p = { .pid = 7 };

	CHECK_EQ_INT(mw_fprof_add(&p, 70, a, 2, NULL, 1), 0);
	CHECK_EQ_INT(mw_fprof_add(&p, 70, b, 2, NULL, 1), 0);
	CHECK_EQ_INT(mw_fprof_add(&p, 70, a, 2, NULL, 1), 0);
	/* Not known to be one function: kept apart. A stack not unwound is a path of its own. */
	CHECK_EQ_INT(p.n, 2);
	CHECK_EQ_INT(mw_fprof_add(&p, 70, NULL, 0, NULL, 1), 0);
	CHECK_EQ_INT(p.n, 3);
	CHECK(!mw_fprof_estimated(&p));
	CHECK_EQ_INT(mw_fprof_bytes(&p, p.samples, PG), 4 * PG);
	mw_fprof_free(&p);
}

TEST(fprof_places_by_class_and_arena)
{
	struct mw_region chunk = { .start = 0x10000, .end = 0x20000, .cls = MW_CLASS_MALLOC_CHUNK };
	struct mw_region heap = {
		.start = 0x20000, .end = 0x30000, .cls = MW_CLASS_MAIN_HEAP, .arena = 1
	};
	struct mw_region arena2 = {
		.start = 0x40000, .end = 0x50000, .cls = MW_CLASS_ARENA_HEAP, .arena = 3
	};
	uint64_t by[MW_CLASS_COUNT + 1];
	struct mw_fprof p = { .pid = 7 };

	for (int i = 0; i < 3; i++)
		CHECK_EQ_INT(mw_fprof_add(&p, 70, touch_a, 3, &chunk, 2), 0);
	CHECK_EQ_INT(mw_fprof_add(&p, 70, touch_a, 3, &heap, 2), 0);
	CHECK_EQ_INT(mw_fprof_add(&p, 70, touch_a, 3, &arena2, 2), 0);
	CHECK_EQ_INT(mw_fprof_add(&p, 70, touch_a, 3, &arena2, 2), 0);
	CHECK_EQ_INT(mw_fprof_add(&p, 70, touch_a, 3, NULL, 2), 0);
	/* Another thread's, by thread too (rows in tid order). */
	CHECK_EQ_INT(mw_fprof_add(&p, 69, touch_a, 3, &chunk, 2), 0);
	CHECK_EQ_INT(p.nthreads, 2);
	CHECK_EQ_INT(p.threads[0].tid, 69);
	CHECK_EQ_INT(p.threads[0].n[MW_CLASS_MALLOC_CHUNK], 1);
	CHECK_EQ_INT(p.threads[1].n[MW_CLASS_MALLOC_CHUNK], 3);
	CHECK_EQ_INT(p.threads[1].n[MW_CLASS_ARENA_HEAP], 2);
	CHECK_EQ_INT(p.threads[1].n[MW_FPROF_UNPLACED], 1);
	mw_fprof_class_bytes(&p, PG, by);
	CHECK_EQ_INT(by[MW_CLASS_MALLOC_CHUNK], 4 * 2 * PG);
	CHECK_EQ_INT(by[MW_CLASS_MAIN_HEAP], 2 * PG);
	CHECK_EQ_INT(by[MW_CLASS_ARENA_HEAP], 2 * 2 * PG);
	CHECK_EQ_INT(by[MW_FPROF_UNPLACED], 2 * PG);
	CHECK_EQ_INT(by[MW_CLASS_ANON], 0);
	/* Arena ids as mw_region_arena gives them: 0 the main arena, 2 the second other. */
	CHECK_EQ_INT(mw_fprof_arena_bytes(&p, 0, PG), 2 * PG);
	CHECK_EQ_INT(mw_fprof_arena_bytes(&p, 1, PG), 0);
	CHECK_EQ_INT(mw_fprof_arena_bytes(&p, 2, PG), 2 * 2 * PG);
	CHECK_EQ_INT(mw_fprof_arena_bytes(&p, 9, PG), 0);
	CHECK_EQ_INT(mw_fprof_arena_bytes(&p, -1, PG), 0);
	mw_fprof_free(&p);
}

TEST(fprof_table_full_sums_the_rest)
{
	struct mw_fprof p = { .pid = 7 };
	struct mw_sframe f[2] = { { 0, 0, NULL, NULL }, { 0x2000, 0, NULL, NULL } };
	size_t top[3];

	for (uint64_t i = 0; i < MW_FPROF_MAX_STACKS + 5; i++) {
		f[0].addr = 0x100000 + i;
		CHECK_EQ_INT(mw_fprof_add(&p, 70, f, 2, NULL, 1), 0);
	}
	f[0].addr = 0x100000; /* a known one still counts in its own */
	CHECK_EQ_INT(mw_fprof_add(&p, 70, f, 2, NULL, 1), 0);
	CHECK_EQ_INT(p.n, MW_FPROF_MAX_STACKS);
	CHECK_EQ_INT(p.other, 5);
	CHECK_EQ_INT(p.samples, MW_FPROF_MAX_STACKS + 6);
	CHECK_EQ_INT(mw_fprof_top(&p, top, 3), 3);
	CHECK_EQ_INT(p.v[top[0]].samples, 2);
	CHECK_EQ_HEX(p.v[top[0]].f[0].addr, 0x100000);
	/* Ties: first seen first. */
	CHECK_EQ_HEX(p.v[top[1]].f[0].addr, 0x100001);
	CHECK_EQ_HEX(p.v[top[2]].f[0].addr, 0x100002);
	mw_fprof_free(&p);
}

/* NDJSON rows: the top stacks, then the rest in one row without a stack, then the samples a
 * full ring lost in one row of their own. */
TEST(fprof_json_rows)
{
	struct mw_fprof p = { .pid = 7 };
	struct mw_sframe f[1] = { { 0, 0, NULL, NULL } };
	char *buf = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&buf, &len);
	struct mw_output o = { .f = mem, .json = true };

	for (int i = 0; i < MW_FPROF_TOP_JSON + 2; i++) {
		f[0].addr = 0x100000 + (uint64_t)i;
		CHECK_EQ_INT(mw_fprof_add(&p, 70, f, 1, NULL, 8), 0);
	}
	CHECK_EQ_INT(mw_fprof_add(&p, 70, touch_a, 3, NULL, 8), 0);
	CHECK_EQ_INT(mw_fprof_add(&p, 70, touch_a, 3, NULL, 8), 0);
	p.lost = 4;
	mw_fprof_out(&o, 5, "w", &p, PG);
	fclose(mem);
	CHECK(buf &&
	      strstr(buf, "{\"type\":\"fault_profile\",\"ts_ns\":5,\"pid\":7,\"bytes\":65536,"
			  "\"count\":16,\"samples\":2,\"sampling\":8,\"estimated\":true,"
			  "\"stack\":[{\"addr\":\"0x401010\",\"func\":\"touch\",\"offset\":16,"
			  "\"module\":\"/w\"},") != NULL);
	/* 35 paths: 32 written, 3 summed (3 samples). */
	CHECK(buf && strstr(buf, "\"bytes\":98304,\"count\":24,\"samples\":3,\"sampling\":8,"
				 "\"estimated\":true,\"other_stacks\":3}") != NULL);
	CHECK(buf && strstr(buf, "\"bytes\":131072,\"count\":32,\"samples\":4,\"sampling\":8,"
				 "\"estimated\":true,\"lost\":true}") != NULL);
	free(buf);
	mw_fprof_free(&p);
}
