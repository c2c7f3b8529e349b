// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The per-stack ledger (--stacks' mapped_by_stack) fed by event streams through the model. */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include "ledger/model.h"
#include "ledger/procfs.h"
#include "session/bystack.h"
#include "events.h"
#include "unit.h"

#define PG 4096ULL
#define PID 300

static const char *maps0 = "555555554000-555555556000 r--p 00000000 fe:01 1 /usr/bin/w\n"
			   "55555555a000-55555557b000 rw-p 00000000 00:00 0 [heap]\n"
			   "7ffffffde000-7ffffffff000 rw-p 00000000 00:00 0 [stack]\n";

static const struct mw_sframe st_a[2] = {
	{ .addr = 0x7f0000001000ULL, .offset = 0x10, .module = "/lib/libc.so.6", .func = "mmap64" },
	{ .addr = 0x555555554100ULL, .offset = 0x20, .module = "/usr/bin/w", .func = "map_a" },
};
static const struct mw_sframe st_b[2] = {
	{ .addr = 0x7f0000001000ULL, .offset = 0x10, .module = "/lib/libc.so.6", .func = "mmap64" },
	{ .addr = 0x555555554200ULL, .offset = 0x30, .module = "/usr/bin/w", .func = "map_b" },
};

static uint64_t ts;

struct fix {
	struct mw_model m;
	struct mw_bystack b;
	struct mw_process *p;
};

static void setup(struct fix *x)
{
	struct mw_regions maps;

	mw_model_init(&x->m, PG);
	CHECK_EQ_INT(mw_bystack_init(&x->b, PG), 0);
	mw_regions_init(&maps);
	CHECK_EQ_INT(mw_maps_parse(maps0, &maps), 0);
	x->p = mw_model_process(&x->m, PID);
	ts = 5000;
	CHECK_EQ_INT(mw_model_seed(x->p, &maps, 0x55555555a000ULL, mw_regions_bytes(&maps), 0x21000,
				   ts),
		     0);
	mw_regions_free(&maps);
}

static void teardown(struct fix *x)
{
	mw_bystack_free(&x->b);
	mw_model_free(&x->m);
}

/* One syscall of tid through the model, then the ledger (as the session feeds them). */
static void feed(struct fix *x, uint32_t tid, const struct mw_sframe *st, enum mw_sys sys,
		 int64_t ret, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4)
{
	struct mw_event ev = ut_syscall(PID, tid, ts += 1000, sys, ret, a0, a1, a2, a3, a4);
	struct mw_bystack_before bb;
	struct mw_apply a;

	mw_bystack_before(mw_model_find(&x->m, PID), &bb);
	CHECK_EQ_INT(mw_model_apply(&x->m, &ev, &a), 0);
	CHECK_EQ_INT(mw_bystack_event(&x->b, &ev, &a, &bb, st, st ? 2 : 0), 0);
}

static void mmap_anon(struct fix *x, uint32_t tid, const struct mw_sframe *st, uint64_t at,
		      uint64_t len, uint32_t prot, uint32_t extra)
{
	feed(x, tid, st, MW_SYS_MMAP, (int64_t)at, extra & MAP_FIXED ? at : 0, len, prot,
	     MAP_PRIVATE | MAP_ANONYMOUS | extra, (uint64_t)-1);
}

/* The row of the stack with frames st (NULL: none). */
static const struct mw_bystack_row *row_of(struct fix *x, const struct mw_bystack_row *rows, long n,
					   const struct mw_sframe *st)
{
	long id = mw_bystack_intern(&x->b, st, st ? 2 : 0);

	for (long i = 0; i < n; i++)
		if (rows[i].stack == (uint32_t)id)
			return &rows[i];
	return NULL;
}

static long rows_now(struct fix *x, struct mw_bystack_row **rows)
{
	long n = mw_bystack_rows(&x->b, x->p, rows);

	CHECK(n >= 0);
	return n;
}

/* One stack's region cut by partial munmaps (the middle, the start), part of it PROT_NONE,
 * part replaced by another stack's MAP_FIXED mapping. */
TEST(bystack_partial_munmaps_of_one_stacks_region)
{
	uint64_t x0 = 0x7f1000000000ULL, y0 = 0x7f2000000000ULL;
	const struct mw_bystack_row *r;
	struct mw_bystack_row *rows;
	struct fix x;
	long n;

	setup(&x);
	mmap_anon(&x, PID, st_a, x0, 16 * PG, PROT_READ | PROT_WRITE, 0);
	mmap_anon(&x, PID + 1, st_b, y0, 4 * PG, PROT_READ | PROT_WRITE, 0);
	n = rows_now(&x, &rows);
	CHECK_EQ_INT(n, 2);
	CHECK_EQ_INT(rows[0].mapped, 16 * PG); /* largest first */
	free(rows);
	feed(&x, PID, NULL, MW_SYS_MUNMAP, 0, x0 + 4 * PG, 4 * PG, 0, 0, 0);
	feed(&x, PID, NULL, MW_SYS_MUNMAP, 0, x0, 2 * PG, 0, 0, 0);
	feed(&x, PID, NULL, MW_SYS_MPROTECT, 0, x0 + 14 * PG, 2 * PG, PROT_NONE, 0, 0);
	n = rows_now(&x, &rows);
	r = row_of(&x, rows, n, st_a);
	CHECK(r != NULL);
	CHECK_EQ_INT(r ? r->mapped : 0, 10 * PG);
	CHECK_EQ_INT(r ? r->committed : 0, 8 * PG);
	CHECK_EQ_INT(r ? r->count : 0, 1);
	free(rows);
	/* b's MAP_FIXED over 2 of a's pages: those are b's now, b made 2 calls. */
	mmap_anon(&x, PID + 1, st_b, x0 + 8 * PG, 2 * PG, PROT_READ, MAP_FIXED);
	n = rows_now(&x, &rows);
	r = row_of(&x, rows, n, st_a);
	CHECK_EQ_INT(r ? r->mapped : 0, 8 * PG);
	r = row_of(&x, rows, n, st_b);
	CHECK_EQ_INT(r ? r->mapped : 0, 6 * PG);
	CHECK_EQ_INT(r ? r->committed : 0, 6 * PG);
	CHECK_EQ_INT(r ? r->count : 0, 2);
	free(rows);
	/* All of a's gone: its row goes, and so do its spans (the ledger is pruned as the
	 * model unmaps, not only clipped at reports). */
	feed(&x, PID, NULL, MW_SYS_MUNMAP, 0, x0, 16 * PG, 0, 0, 0);
	CHECK_EQ_INT(x.b.nprocs, 1);
	CHECK_EQ_INT(x.b.nprocs ? x.b.procs[0].n : 0, 1);
	n = rows_now(&x, &rows);
	CHECK_EQ_INT(n, 1);
	CHECK(row_of(&x, rows, n, st_a) == NULL);
	CHECK_EQ_INT(rows[0].mapped, 4 * PG);
	free(rows);
	teardown(&x);
}

/* brk growth is the calling stack's; a shrink by another releases the top of it. */
TEST(bystack_brk_grow_and_shrink)
{
	uint64_t end = 0x55555557b000ULL;
	const struct mw_bystack_row *r;
	struct mw_bystack_row *rows;
	struct fix x;
	long n;

	setup(&x);
	feed(&x, PID, st_b, MW_SYS_BRK, (int64_t)end, 0, 0, 0, 0, 0);
	feed(&x, PID, st_a, MW_SYS_BRK, (int64_t)(end + 8 * PG), end + 8 * PG, 0, 0, 0, 0);
	feed(&x, PID, st_a, MW_SYS_BRK, (int64_t)(end + 9 * PG + 16), end + 9 * PG + 16, 0, 0, 0,
	     0);
	n = rows_now(&x, &rows);
	CHECK_EQ_INT(n, 1);
	r = row_of(&x, rows, n, st_a);
	CHECK_EQ_INT(r ? r->mapped : 0, 10 * PG); /* the break's page rounded up */
	CHECK_EQ_INT(r ? r->count : 0, 2);
	free(rows);
	feed(&x, PID, st_b, MW_SYS_BRK, (int64_t)(end + 3 * PG), end + 3 * PG, 0, 0, 0, 0);
	n = rows_now(&x, &rows);
	CHECK_EQ_INT(n, 1);
	r = row_of(&x, rows, n, st_a);
	CHECK_EQ_INT(r ? r->mapped : 0, 3 * PG);
	CHECK_EQ_INT(r ? r->count : 0, 1);
	free(rows);
	teardown(&x);
}

/* mremap: moved bytes keep their stack, the growth is the mremap's; a shrink releases. */
TEST(bystack_mremap_move_grow_shrink)
{
	uint64_t a0 = 0x7f1000000000ULL, z0 = 0x7f3000000000ULL;
	const struct mw_bystack_row *r;
	struct mw_bystack_row *rows;
	struct fix x;
	long n;

	setup(&x);
	mmap_anon(&x, PID, st_a, a0, 4 * PG, PROT_READ | PROT_WRITE, 0);
	feed(&x, PID, st_b, MW_SYS_MREMAP, (int64_t)z0, a0, 4 * PG, 8 * PG, MREMAP_MAYMOVE, 0);
	n = rows_now(&x, &rows);
	r = row_of(&x, rows, n, st_a);
	CHECK_EQ_INT(r ? r->mapped : 0, 4 * PG);
	r = row_of(&x, rows, n, st_b);
	CHECK_EQ_INT(r ? r->mapped : 0, 4 * PG);
	free(rows);
	/* In place down to 2 pages: only a's first 2 are left. */
	feed(&x, PID, st_b, MW_SYS_MREMAP, (int64_t)z0, z0, 8 * PG, 2 * PG, 0, 0);
	n = rows_now(&x, &rows);
	CHECK_EQ_INT(n, 1);
	r = row_of(&x, rows, n, st_a);
	CHECK_EQ_INT(r ? r->mapped : 0, 2 * PG);
	free(rows);
	/* Grown in place: the tail is b's. */
	feed(&x, PID, st_b, MW_SYS_MREMAP, (int64_t)z0, z0, 2 * PG, 5 * PG, 0, 0);
	n = rows_now(&x, &rows);
	r = row_of(&x, rows, n, st_b);
	CHECK_EQ_INT(r ? r->mapped : 0, 3 * PG);
	free(rows);
	teardown(&x);
}

/* Records out of order: thread 2's munmap of a range comes after thread 3's mmap that got
 * it; the model holds that unmap back, so must the ledger. A fork's child starts with the
 * parent's; an exec empties it. */
TEST(bystack_unmap_reordered_fork_exec)
{
	uint64_t a0 = 0x7f1000000000ULL;
	struct mw_bystack_row *rows;
	struct mw_event ev;
	struct mw_apply a;
	struct fix x;
	long n;

	setup(&x);
	mmap_anon(&x, PID + 2, st_b, a0, 4 * PG, PROT_READ | PROT_WRITE, 0);
	mmap_anon(&x, PID + 3, st_a, a0, 4 * PG, PROT_READ | PROT_WRITE, 0); /* not MAP_FIXED */
	feed(&x, PID + 2, NULL, MW_SYS_MUNMAP, 0, a0, 4 * PG, 0, 0, 0);
	n = rows_now(&x, &rows);
	CHECK_EQ_INT(n, 1);
	CHECK(row_of(&x, rows, n, st_a) && row_of(&x, rows, n, st_a)->mapped == 4 * PG);
	free(rows);

	ev = (struct mw_event){ .kind = MW_EV_FORK, .pid = PID, .tid = PID, .ts_ns = ts += 1000 };
	ev.task.child_pid = PID + 50;
	ev.task.child_tid = PID + 50;
	CHECK_EQ_INT(mw_model_apply(&x.m, &ev, &a), 0);
	CHECK(a.child != NULL);
	CHECK_EQ_INT(mw_bystack_event(&x.b, &ev, &a, NULL, NULL, 0), 0);
	n = a.child ? mw_bystack_rows(&x.b, a.child, &rows) : 0;
	CHECK_EQ_INT(n, 1);
	CHECK_EQ_INT(n == 1 ? rows[0].mapped : 0, 4 * PG);
	free(rows);

	ev = (struct mw_event){ .kind = MW_EV_EXEC, .pid = PID, .tid = PID, .ts_ns = ts += 1000 };
	CHECK_EQ_INT(mw_model_apply(&x.m, &ev, &a), 0);
	CHECK_EQ_INT(mw_bystack_event(&x.b, &ev, &a, NULL, NULL, 0), 0);
	x.p = mw_model_find(&x.m, PID);
	n = rows_now(&x, &rows);
	CHECK_EQ_INT(n, 0);
	free(rows);
	mw_bystack_forget(&x.b, PID + 50);
	teardown(&x);
}

/* Equal frames are one stack; a call without frames is the unknown stack (id 0). */
TEST(bystack_intern)
{
	struct mw_sframe c[2];
	struct mw_bystack b;

	CHECK_EQ_INT(mw_bystack_init(&b, PG), 0);
	memcpy(c, st_a, sizeof(c));
	c[1].func = strdup("map_a");
	CHECK_EQ_INT(mw_bystack_intern(&b, st_a, 2), 1);
	CHECK_EQ_INT(mw_bystack_intern(&b, st_b, 2), 2);
	CHECK_EQ_INT(mw_bystack_intern(&b, c, 2), 1);
	CHECK_EQ_INT(mw_bystack_intern(&b, st_a, 1), 3);
	CHECK_EQ_INT(mw_bystack_intern(&b, NULL, 0), 0);
	free((char *)c[1].func);
	mw_bystack_free(&b);
}
