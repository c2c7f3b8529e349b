// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The allocation ledger's weights: each traced block stands for 1 / the probability that it
 * was traced (--sample N: N; --sample-bytes B: 1 / (1 - e^(-size / B))). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "config.h"
#include "ledger/class.h"
#include "ledger/model.h"
#include "malloc/mledger.h"
#include "unit.h"

static void alloc(struct mw_mledger *ml, uint64_t addr, uint64_t size)
{
	struct mw_event ev = { .kind = MW_EV_MALLOC, .pid = 3, .tid = 3, .mono_ns = addr };
	uint64_t ip = 0x401000;

	ev.mal.addr = addr;
	ev.mal.size = size;
	mw_mledger_alloc(ml, &ev, &ip, 1, NULL, NULL);
}

static double weight(struct mw_mledger *ml, uint64_t addr)
{
	const struct mw_block *b = mw_leak_find(&ml->leak, addr);

	CHECK(b != NULL);
	return b ? b->weight : -1;
}

TEST(mledger_sample_weights)
{
	struct mw_session s;
	struct mw_malloc_config mc = { .on = true };
	struct mw_mledger ml;
	char err[128];

	memset(&s, 0, sizeof(s)); /* no recording, no output: the ledger alone */
	CHECK_EQ_INT(mw_mledger_init(&ml, &s, &mc, 100, err, sizeof(err)), 0);
	alloc(&ml, 0x1000, 100);
	CHECK(weight(&ml, 0x1000) == 1.0);
	mw_mledger_destroy(&ml);

	mc.sample_every = 8;
	CHECK_EQ_INT(mw_mledger_init(&ml, &s, &mc, 100, err, sizeof(err)), 0);
	alloc(&ml, 0x1000, 100);
	alloc(&ml, 0x2000, 1 << 20);
	CHECK(weight(&ml, 0x1000) == 8.0);
	CHECK(weight(&ml, 0x2000) == 8.0);
	CHECK(mw_mledger_find(&ml, 3) != NULL);
	if (mw_mledger_find(&ml, 3)) {
		CHECK(mw_mledger_find(&ml, 3)->est_count == 16.0);
		CHECK(mw_mledger_find(&ml, 3)->est_bytes == 8.0 * (100 + (1 << 20)));
	}
	mw_mledger_destroy(&ml);

	mc.sample_every = 0;
	mc.sample_bytes = 16384;
	CHECK_EQ_INT(mw_mledger_init(&ml, &s, &mc, 100, err, sizeof(err)), 0);
	alloc(&ml, 0x1000, 16384);
	CHECK(fabs(weight(&ml, 0x1000) - 1.0 / (1.0 - exp(-1.0))) < 1e-6);
	/* Large blocks are (almost) always traced: weight 1. */
	alloc(&ml, 0x2000, 16384 * 64);
	CHECK(fabs(weight(&ml, 0x2000) - 1.0) < 1e-6);
	mw_mledger_destroy(&ml);
}

/* A block of pid 3 at addr, allocated at t from the stack at ip. */
static void alloc_at(struct mw_mledger *ml, uint64_t addr, uint64_t size, uint64_t t, uint64_t ip)
{
	struct mw_event ev = { .kind = MW_EV_MALLOC, .pid = 3, .tid = 3, .mono_ns = t };

	ev.mal.addr = addr;
	ev.mal.size = size;
	mw_mledger_alloc(ml, &ev, &ip, 1, NULL, NULL);
}

/* The budget's entry for pid 3 at now: last detached at dark, attached att in all. */
static void budget_at(struct mw_mledger *ml, uint64_t now, uint64_t dark, uint64_t att,
		      bool attached)
{
	struct mw_mbudget_entry e = {
		.now_mono_ns = now,
		.dark_ns = dark,
		.attached_ns = att,
		.wall_ns = now - 1000,
		.pid = 3,
		.attached = attached,
	};

	mw_mledger_budget(ml, &e);
}

static double stack_bytes(const struct mw_leak_row *rows, long n, const struct mw_leak *l,
			  uint64_t ip)
{
	for (long i = 0; i < n; i++)
		if (l->stacks[rows[i].stack].n && l->stacks[rows[i].stack].ips[0] == ip)
			return rows[i].bytes;
	return 0;
}

/*
 * The overhead budget's intervals: the probes attached from 1000 to 2000 (every block
 * weighs 1), then detached at 2000 and attached again from 2900 to 3000 (an interval of
 * 1000 ns, 100 attached: each block it saw weighs 10), detached at 3000. A record read
 * after its interval closed takes that interval's weight.
 */
TEST(mledger_budget_scaled_estimates)
{
	struct mw_session s;
	struct mw_malloc_config mc = { .on = true };
	struct mw_mledger ml;
	struct mw_leak_row *rows = NULL;
	char err[128];
	long n;

	memset(&s, 0, sizeof(s));
	CHECK_EQ_INT(mw_mledger_init(&ml, &s, &mc, 100, err, sizeof(err)), 0);
	ml.min_att_ns = 0; /* windows of ns */
	alloc_at(&ml, 0x1000, 100, 1500, 0x401000);
	budget_at(&ml, 2000, 2000, 1000, false); /* detached at 2000: the first interval */
	CHECK(weight(&ml, 0x1000) == 1.0);
	CHECK(!mw_mledger_scaled(&ml, 3));
	alloc_at(&ml, 0x2000, 100, 2950, 0x401000);
	alloc_at(&ml, 0x3000, 40, 2960, 0x402000);
	budget_at(&ml, 3000, 3000, 1100, false);
	CHECK(weight(&ml, 0x1000) == 1.0);
	CHECK(fabs(weight(&ml, 0x2000) - 10.0) < 1e-6);
	CHECK(fabs(weight(&ml, 0x3000) - 10.0) < 1e-6);
	CHECK(mw_mledger_scaled(&ml, 3));
	/* Allocated at 2990, read now: the closed interval's weight. */
	alloc_at(&ml, 0x4000, 40, 2990, 0x402000);
	CHECK(fabs(weight(&ml, 0x4000) - 10.0) < 1e-6);
	/* What was allocated, per process: 100 + 10 x (100 + 40 + 40). */
	CHECK(fabs(mw_mledger_find(&ml, 3)->est_bytes - 1900.0) < 1e-6);
	CHECK(fabs(mw_mledger_find(&ml, 3)->est_count - 31.0) < 1e-6);
	/* Per stack (pprof's alloc_space): 0x401000 100 + 1000, 0x402000 800. */
	for (size_t i = 1; i < ml.leak.nstacks; i++) {
		const struct mw_stack_ent *st = &ml.leak.stacks[i];

		CHECK(fabs(st->alloc_bytes - (st->ips[0] == 0x401000 ? 1100.0 : 800.0)) < 1e-6);
	}
	/* Attached again from 3500; a report at 3600 while attached: a boundary there. */
	alloc_at(&ml, 0x5000, 10, 3550, 0x401000);
	budget_at(&ml, 3600, 3000, 1200, true);
	CHECK(fabs(weight(&ml, 0x5000) - 6.0) < 1e-6);
	/* Nothing was ever freed, and no walk resolved a fate: the blocks before the last
	 * detach are of unknown fate, the one after it is known. */
	n = mw_mledger_known_rows(&ml, 3, UINT64_MAX, false, &rows);
	CHECK_EQ_INT(n, 1);
	CHECK(fabs(stack_bytes(rows, n, &ml.leak, 0x401000) - 60.0) < 1e-6);
	free(rows);
	mw_mledger_destroy(&ml);

	/* Never detached: every block weighs 1 and nothing is scaled. */
	CHECK_EQ_INT(mw_mledger_init(&ml, &s, &mc, 100, err, sizeof(err)), 0);
	ml.min_att_ns = 0; /* windows of ns */
	alloc_at(&ml, 0x1000, 100, 1500, 0x401000);
	budget_at(&ml, 2000, 0, 1000, true);
	alloc_at(&ml, 0x2000, 100, 2500, 0x401000);
	budget_at(&ml, 3000, 0, 2000, true);
	CHECK(weight(&ml, 0x1000) == 1.0 && weight(&ml, 0x2000) == 1.0);
	CHECK(!mw_mledger_scaled(&ml, 3));
	n = mw_mledger_known_rows(&ml, 3, UINT64_MAX, false, &rows);
	CHECK_EQ_INT(n, 1);
	CHECK(fabs(stack_bytes(rows, n, &ml.leak, 0x401000) - 200.0) < 1e-6);
	free(rows);
	mw_mledger_destroy(&ml);
}

/*
 * A report while the probes are detached: the time since the last window (the dark tail)
 * is weighed as the last closed interval's windows. Traced from 1000, attached to 2000;
 * attached again from 2900 to 3000 (each block weighs 10, 1000 ns over 100 attached); a
 * report at 3500, detached: that interval takes in the 500 ns since, its blocks weigh 15;
 * at 4000, 20. A record of that window read late takes its weight now, and the next
 * report's. Attached again from 4500 to 4600: the dark time from the last report on is
 * that window's (6); a process that exited has a tail up to its last sample only. A report
 * whose entry brings the detach weighs the tail too.
 */
TEST(mledger_budget_weighs_the_dark_tail)
{
	struct mw_session s;
	struct mw_malloc_config mc = { .on = true };
	struct mw_mledger ml;
	struct mw_leak_row *rows = NULL;
	char err[128];
	long n;

	memset(&s, 0, sizeof(s));
	CHECK_EQ_INT(mw_mledger_init(&ml, &s, &mc, 100, err, sizeof(err)), 0);
	ml.min_att_ns = 0; /* windows of ns */
	alloc_at(&ml, 0x1000, 100, 1500, 0x401000);
	budget_at(&ml, 2000, 2000, 1000, false);
	alloc_at(&ml, 0x2000, 100, 2950, 0x402000);
	budget_at(&ml, 3000, 3000, 1100, false);
	CHECK(fabs(weight(&ml, 0x2000) - 10.0) < 1e-6);
	budget_at(&ml, 3500, 3000, 1100, false);
	CHECK(weight(&ml, 0x1000) == 1.0);
	CHECK(fabs(weight(&ml, 0x2000) - 15.0) < 1e-6);
	alloc_at(&ml, 0x3000, 10, 2990, 0x402000); /* read late */
	CHECK(fabs(weight(&ml, 0x3000) - 15.0) < 1e-6);
	budget_at(&ml, 4000, 3000, 1100, false);
	CHECK(fabs(weight(&ml, 0x2000) - 20.0) < 1e-6);
	CHECK(fabs(weight(&ml, 0x3000) - 20.0) < 1e-6);
	/* Allocated, per process and per stack: 100 + 20 x (100 + 10). */
	CHECK(fabs(mw_mledger_find(&ml, 3)->est_bytes - 2300.0) < 1e-6);
	CHECK(fabs(mw_mledger_find(&ml, 3)->est_count - 41.0) < 1e-6);
	for (size_t i = 1; i < ml.leak.nstacks; i++) {
		const struct mw_stack_ent *st = &ml.leak.stacks[i];

		CHECK(fabs(st->alloc_bytes - (st->ips[0] == 0x401000 ? 100.0 : 2200.0)) < 1e-6);
	}
	/* Of unknown fate (allocated before the detach at 3000), as estimated. */
	n = mw_leak_aggregate_fate(&ml.leak, 3, 3000, UINT64_MAX, false, false, &rows);
	CHECK(fabs(stack_bytes(rows, n, &ml.leak, 0x402000) - 2200.0) < 1e-6);
	free(rows);
	alloc_at(&ml, 0x4000, 10, 4550, 0x402000);
	budget_at(&ml, 4600, 4600, 1200, false);
	CHECK(fabs(weight(&ml, 0x4000) - 6.0) < 1e-6);
	CHECK(fabs(weight(&ml, 0x2000) - 20.0) < 1e-6);
	/* Exited meanwhile: its state as of its last sample (at 4600), the tail ends there. */
	{
		struct mw_mbudget_entry e = { .now_mono_ns = 9000,
					      .dark_ns = 4600,
					      .attached_ns = 1200,
					      .wall_ns = 3600,
					      .pid = 3 };

		mw_mledger_budget(&ml, &e);
		CHECK(fabs(weight(&ml, 0x4000) - 6.0) < 1e-6);
		/* Or attached then (its attached time stopped growing with it): no tail. */
		e.attached = true;
		e.now_mono_ns = 9500;
		mw_mledger_budget(&ml, &e);
		CHECK(fabs(weight(&ml, 0x4000) - 6.0) < 1e-6);
	}
	mw_mledger_destroy(&ml);

	/* Attached from 1000 to 2000, the detach told by the report at 2500: 1500 / 1000. */
	CHECK_EQ_INT(mw_mledger_init(&ml, &s, &mc, 100, err, sizeof(err)), 0);
	ml.min_att_ns = 0; /* windows of ns */
	alloc_at(&ml, 0x1000, 100, 1500, 0x401000);
	budget_at(&ml, 2500, 2000, 1000, false);
	CHECK(fabs(weight(&ml, 0x1000) - 1.5) < 1e-6);
	CHECK(mw_mledger_scaled(&ml, 3));
	mw_mledger_destroy(&ml);
}

/*
 * Weighed by time (a process that makes few system calls), a window attached less than
 * 40 ms is merged into the next interval at its detach: its block or two would stand for its
 * whole dark time alone. Traced from 0 (ms here), attached to 1000; a 5 ms window at 1900 sees
 * one block, a 100 ms one at 2500 ten: all eleven weigh 1600 / 105, not 181 and 6. A report
 * that finds less than 40 ms attached since the last boundary joins the last interval.
 */
TEST(mledger_budget_short_windows_merge)
{
	const uint64_t ms = 1000000;
	struct mw_session s;
	struct mw_malloc_config mc = { .on = true };
	struct mw_mledger ml;
	char err[128];

	memset(&s, 0, sizeof(s));
	CHECK_EQ_INT(mw_mledger_init(&ml, &s, &mc, 100, err, sizeof(err)), 0);
	budget_at(&ml, 1000 * ms, 1000 * ms, 1000 * ms, false);
	alloc_at(&ml, 0x1000, 100, 1902 * ms, 0x401000);
	budget_at(&ml, 1905 * ms, 1905 * ms, 1005 * ms, false);
	CHECK(weight(&ml, 0x1000) == 1.0);
	for (int i = 0; i < 10; i++)
		alloc_at(&ml, 0x2000 + 0x100 * (uint64_t)i, 100, (2510 + i) * ms, 0x401000);
	budget_at(&ml, 2600 * ms, 2600 * ms, 1105 * ms, false);
	CHECK(fabs(weight(&ml, 0x1000) - 1600.0 / 105) < 1e-4);
	CHECK(fabs(weight(&ml, 0x2000) - 1600.0 / 105) < 1e-4);
	CHECK(fabs(mw_mledger_find(&ml, 3)->est_count - 11 * 1600.0 / 105) < 1e-3);
	/* A 5 ms window (merged), then a report 5 ms into the next: 10 ms attached since the
	 * last boundary are too little to weigh on, the time since joins the last interval
	 * (from 1000): all its blocks and the new one weigh 2510 / 115, not 91. */
	alloc_at(&ml, 0x3000, 100, 3002 * ms, 0x401000);
	budget_at(&ml, 3005 * ms, 3005 * ms, 1110 * ms, false);
	CHECK(weight(&ml, 0x3000) == 1.0);
	budget_at(&ml, 3510 * ms, 3005 * ms, 1115 * ms, true);
	CHECK(fabs(weight(&ml, 0x3000) - 2510.0 / 115) < 1e-3);
	CHECK(fabs(weight(&ml, 0x1000) - 2510.0 / 115) < 1e-3);
	CHECK(fabs(mw_mledger_find(&ml, 3)->est_count - 12 * 2510.0 / 115) < 1e-2);
	/* A report 50 ms into the next window: closed there, on its own. */
	alloc_at(&ml, 0x4000, 100, 3520 * ms, 0x401000);
	budget_at(&ml, 3560 * ms, 3005 * ms, 1165 * ms, true);
	CHECK(fabs(weight(&ml, 0x4000) - 1.0) < 1e-3);
	mw_mledger_destroy(&ml);
}

/*
 * glibc's mmapped chunks are freed by munmap, which the syscall tracing sees while the probes
 * are away: at a report, a block of unknown fate whose chunk mapping the model still has is
 * in use, of known fate (a leak); one whose mapping is gone stays unknown, and so does a
 * block in an arena's heap (the heap walk's part). Also when the process is gone: the model
 * has its mappings until its final report.
 */
TEST(mledger_budget_chunk_mappings_resolve_fate)
{
	struct mw_config cfg = { .json = true };
	struct mw_mreport_entry in = { .now_mono_ns = 2500, .pid = 3 };
	struct mw_region chunk = { .start = 0x7f0000010000, .end = 0x7f0000111000, .prot = 3 };
	struct mw_region arena = { .start = 0x7e0000000000, .end = 0x7e0000021000, .prot = 3 };
	struct mw_leak_row *rows = NULL;
	struct mw_session s;
	struct mw_mledger ml;
	struct mw_process *p;
	char err[128], *json = NULL;
	size_t jlen = 0;
	FILE *out = open_memstream(&json, &jlen);
	long n;

	cfg.mal.on = true;
	mw_session_init(&s, &cfg, out, 4096, 0);
	CHECK_EQ_INT(mw_mledger_init(&ml, &s, &cfg.mal, 100, err, sizeof(err)), 0);
	mw_mledger_proc(&ml, 3, "grower", "/x/libc.so.6", 0);
	p = mw_model_process(&s.model, 3);
	CHECK(p != NULL);
	CHECK_EQ_INT(mw_regions_map(&p->regions, &chunk, NULL), 0);
	CHECK_EQ_INT(mw_regions_map(&p->regions, &arena, NULL), 0);
	CHECK_EQ_INT(mw_regions_label(&p->regions, chunk.start, chunk.end, MW_CLASS_MALLOC_CHUNK,
				      -1),
		     0);
	CHECK_EQ_INT(mw_regions_label(&p->regions, arena.start, arena.end, MW_CLASS_ARENA_HEAP, 2),
		     0);
	alloc_at(&ml, 0x7f0000010010, 1 << 20, 1500, 0x401000); /* its mapping is there */
	alloc_at(&ml, 0x7f0000200010, 1 << 20, 1600, 0x402000); /* its mapping is gone */
	alloc_at(&ml, 0x7e0000000100, 100, 1600, 0x403000);	/* in an arena's heap */
	budget_at(&ml, 2000, 2000, 1000, false);
	n = mw_mledger_known_rows(&ml, 3, UINT64_MAX, false, &rows);
	CHECK_EQ_INT(n, 0);
	free(rows);
	mw_mledger_report(&ml, &in);
	n = mw_mledger_known_rows(&ml, 3, UINT64_MAX, false, &rows);
	CHECK_EQ_INT(n, 1);
	CHECK(fabs(stack_bytes(rows, n, &ml.leak, 0x401000) - (1 << 20)) < 1e-6);
	free(rows);
	n = mw_leak_aggregate_fate(&ml.leak, 3, 2000, UINT64_MAX, false, false, &rows);
	CHECK_EQ_INT(n, 2);
	CHECK(fabs(stack_bytes(rows, n, &ml.leak, 0x402000) - (1 << 20)) < 1e-6);
	CHECK(fabs(stack_bytes(rows, n, &ml.leak, 0x403000) - 100) < 1e-6);
	free(rows);
	/* The next detach: unknown again until the next report finds it. */
	budget_at(&ml, 3000, 3000, 1100, false);
	n = mw_mledger_known_rows(&ml, 3, UINT64_MAX, false, &rows);
	CHECK_EQ_INT(n, 0);
	free(rows);
	mw_mledger_destroy(&ml);
	mw_session_free(&s);
	fclose(out);
	free(json);
}

/*
 * Blocks of unknown fate and a heap walk: still in use at its address with its chunk size:
 * known again (a leak); absent, or another size there: freed unseen (released, never a
 * leak); outside the spans the walk read (an mmapped chunk): still unknown. The next
 * detach makes the found ones unknown again. The walk's entry replays to the same.
 */
TEST(mledger_budget_walk_resolves_fate)
{
	struct mw_session s;
	struct mw_malloc_config mc = { .on = true };
	struct mw_mledger ml;
	struct mw_leak_row *rows = NULL;
	const struct mw_mheap_span spans[] = { { .start = 0x10000, .end = 0x20000 } };
	const struct mw_mheap_block walk[] = {
		{ .addr = 0x10100, .size = 112 }, /* a's chunk: 100 bytes asked */
		{ .addr = 0x10800, .size = 48 },  /* c's address, another size: c was freed */
	};
	char err[128];
	long n;

	memset(&s, 0, sizeof(s));
	CHECK_EQ_INT(mw_mledger_init(&ml, &s, &mc, 100, err, sizeof(err)), 0);
	alloc_at(&ml, 0x10100, 100, 1500, 0x401000);	 /* a: still there */
	alloc_at(&ml, 0x10400, 100, 1500, 0x402000);	 /* b: gone */
	alloc_at(&ml, 0x10800, 100, 1500, 0x403000);	 /* c: another block there now */
	alloc_at(&ml, 0x900000, 200000, 1500, 0x404000); /* d: mmapped, not walked */
	budget_at(&ml, 2000, 2000, 1000, false);
	n = mw_mledger_known_rows(&ml, 3, UINT64_MAX, false, &rows);
	CHECK_EQ_INT(n, 0);
	free(rows);
	CHECK_EQ_INT((int)mw_mledger_confirm(&ml, 3, 2500, spans, 1, walk, 2), 3);
	CHECK(mw_leak_find(&ml.leak, 0x10100) != NULL);
	CHECK(mw_leak_find(&ml.leak, 0x10400) == NULL);
	CHECK(mw_leak_find(&ml.leak, 0x10800) == NULL);
	CHECK(mw_leak_find(&ml.leak, 0x900000) != NULL);
	n = mw_mledger_known_rows(&ml, 3, UINT64_MAX, false, &rows);
	CHECK_EQ_INT(n, 1);
	CHECK(fabs(stack_bytes(rows, n, &ml.leak, 0x401000) - 100.0) < 1e-6);
	free(rows);
	n = mw_leak_aggregate_fate(&ml.leak, 3, 2000, UINT64_MAX, false, false, &rows);
	CHECK_EQ_INT(n, 1);
	CHECK(fabs(stack_bytes(rows, n, &ml.leak, 0x404000) - 200000.0) < 1e-6);
	free(rows);
	/* Detached again: what the walk found may be freed unseen from now on. */
	budget_at(&ml, 3000, 3000, 1100, false);
	n = mw_mledger_known_rows(&ml, 3, UINT64_MAX, false, &rows);
	CHECK_EQ_INT(n, 0);
	free(rows);
	mw_mledger_destroy(&ml);

	/* The same walk as a recording has it: the freed addresses, then those in use. */
	CHECK_EQ_INT(mw_mledger_init(&ml, &s, &mc, 100, err, sizeof(err)), 0);
	alloc_at(&ml, 0x10100, 100, 1500, 0x401000);
	alloc_at(&ml, 0x10400, 100, 1500, 0x402000);
	budget_at(&ml, 2000, 2000, 1000, false);
	{
		struct {
			struct mw_mfreed_entry e;
			uint64_t a[2];
		} rec = { { .pid = 3, .n = 1, .now_mono_ns = 2500, .flags = MW_MFREED_CONFIRM },
			  { 0x10400, 0x10100 } };

		CHECK_EQ_INT(mw_mledger_freed_entry(&ml, &rec, sizeof(rec)), 0);
	}
	CHECK(mw_leak_find(&ml.leak, 0x10400) == NULL);
	n = mw_mledger_known_rows(&ml, 3, UINT64_MAX, false, &rows);
	CHECK_EQ_INT(n, 1);
	free(rows);
	mw_mledger_destroy(&ml);
}

/*
 * A server's requests as the weight: an interval of 1000 ns attached 100, in which the
 * process made 400 read and write system calls, 100 of them attached (it served 4 times
 * fewer requests per second while traced): its blocks weigh 4, not 10. Below 16 calls
 * attached the count says too little: the interval is merged into the next (time would
 * weigh by the probes' slowdown); a report closes it by the count whatever it is, the
 * time since the last window included. A process that makes fewer than 16 calls in an
 * interval is weighed by time.
 */
TEST(mledger_budget_weighs_by_io_calls)
{
	struct mw_session s;
	struct mw_malloc_config mc = { .on = true };
	struct mw_mledger ml;
	struct mw_mbudget_entry e = { .now_mono_ns = 2000,
				      .dark_ns = 2000,
				      .attached_ns = 1000,
				      .pid = 3,
				      .io_calls = 1000,
				      .io_calls_attached = 1000 };
	char err[128];

	memset(&s, 0, sizeof(s));
	CHECK_EQ_INT(mw_mledger_init(&ml, &s, &mc, 100, err, sizeof(err)), 0);
	ml.min_att_ns = 0; /* windows of ns */
	mw_mledger_budget(&ml, &e);
	alloc_at(&ml, 0x2000, 100, 2950, 0x401000);
	e.now_mono_ns = e.dark_ns = 3000;
	e.attached_ns = 1100;
	e.io_calls = 1400;
	e.io_calls_attached = 1100;
	mw_mledger_budget(&ml, &e);
	CHECK(fabs(weight(&ml, 0x2000) - 4.0) < 1e-6);
	/* 100 calls, 10 attached: merged into the next, 400 calls, 40 attached: both 10. */
	alloc_at(&ml, 0x3000, 100, 3950, 0x401000);
	e.now_mono_ns = e.dark_ns = 4000;
	e.attached_ns = 1200;
	e.io_calls = 1500;
	e.io_calls_attached = 1110;
	mw_mledger_budget(&ml, &e);
	CHECK(weight(&ml, 0x3000) == 1.0);
	alloc_at(&ml, 0x4000, 100, 4950, 0x401000);
	e.now_mono_ns = e.dark_ns = 5000;
	e.attached_ns = 1300;
	e.io_calls = 1900;
	e.io_calls_attached = 1150;
	mw_mledger_budget(&ml, &e);
	CHECK(fabs(weight(&ml, 0x3000) - 10.0) < 1e-6);
	CHECK(fabs(weight(&ml, 0x4000) - 10.0) < 1e-6);
	/* 10 calls in all: time, 1000 / 100. */
	alloc_at(&ml, 0x5000, 100, 5950, 0x401000);
	e.now_mono_ns = e.dark_ns = 6000;
	e.attached_ns = 1400;
	e.io_calls = 1910;
	e.io_calls_attached = 1151;
	mw_mledger_budget(&ml, &e);
	CHECK(fabs(weight(&ml, 0x5000) - 10.0) < 1e-6);
	/* A window with 5 calls of 100 (merged), then a report while detached, 100 calls
	 * later: closed by the count all the same, 200 / 5. */
	alloc_at(&ml, 0x6000, 100, 6950, 0x401000);
	e.now_mono_ns = e.dark_ns = 7000;
	e.attached_ns = 1600;
	e.io_calls = 2010;
	e.io_calls_attached = 1156;
	mw_mledger_budget(&ml, &e);
	CHECK(weight(&ml, 0x6000) == 1.0);
	e.now_mono_ns = 8000;
	e.io_calls = 2110;
	mw_mledger_budget(&ml, &e);
	CHECK(fabs(weight(&ml, 0x6000) - 40.0) < 1e-6);
	mw_mledger_destroy(&ml);
}

/*
 * Reads weigh before writes, as redis showed them: a window of a server whose replies
 * wait for the end of an event-loop iteration (which the probes stretch to the window's
 * length) saw its requests' reads and few of their writes. An interval of 1000 reads
 * and 1000 writes, 100 reads and 20 writes attached: its blocks weigh 10 (reads), not
 * 2000 / 120 = 16.7 (both). A process that makes fewer than 16 reads in an interval (a
 * writer): reads and writes together; an entry with no reads (a recording from before
 * they were kept) weighs by both.
 */
TEST(mledger_budget_weighs_by_reads)
{
	struct mw_session s;
	struct mw_malloc_config mc = { .on = true };
	struct mw_mledger ml;
	struct mw_mbudget_entry e = { .now_mono_ns = 2000,
				      .dark_ns = 2000,
				      .attached_ns = 1000,
				      .pid = 3,
				      .io_calls = 1000,
				      .io_calls_attached = 1000,
				      .reads = 500,
				      .reads_attached = 500 };
	char err[128];

	memset(&s, 0, sizeof(s));
	CHECK_EQ_INT(mw_mledger_init(&ml, &s, &mc, 100, err, sizeof(err)), 0);
	ml.min_att_ns = 0; /* windows of ns */
	mw_mledger_budget(&ml, &e);
	alloc_at(&ml, 0x2000, 100, 2950, 0x401000);
	e.now_mono_ns = e.dark_ns = 3000;
	e.attached_ns = 1100;
	e.io_calls += 2000;
	e.io_calls_attached += 120;
	e.reads += 1000;
	e.reads_attached += 100;
	mw_mledger_budget(&ml, &e);
	CHECK(fabs(weight(&ml, 0x2000) - 10.0) < 1e-6);
	/* 10 reads in all: a writer; 400 calls, 40 attached: 10, not 10 / 5 reads. */
	alloc_at(&ml, 0x3000, 100, 3950, 0x401000);
	e.now_mono_ns = e.dark_ns = 4000;
	e.attached_ns = 1200;
	e.io_calls += 400;
	e.io_calls_attached += 40;
	e.reads += 10;
	e.reads_attached += 5;
	mw_mledger_budget(&ml, &e);
	CHECK(fabs(weight(&ml, 0x3000) - 10.0) < 1e-6);
	/* 100 reads, 10 attached, though 40 of 400 calls: merged (the reads say too little),
	 * then 200 reads, 20 attached: both 300 / 30. */
	alloc_at(&ml, 0x4000, 100, 4950, 0x401000);
	e.now_mono_ns = e.dark_ns = 5000;
	e.attached_ns = 1300;
	e.io_calls += 400;
	e.io_calls_attached += 40;
	e.reads += 100;
	e.reads_attached += 10;
	mw_mledger_budget(&ml, &e);
	CHECK(weight(&ml, 0x4000) == 1.0);
	alloc_at(&ml, 0x5000, 100, 5950, 0x401000);
	e.now_mono_ns = e.dark_ns = 6000;
	e.attached_ns = 1400;
	e.io_calls += 400;
	e.io_calls_attached += 40;
	e.reads += 200;
	e.reads_attached += 20;
	mw_mledger_budget(&ml, &e);
	CHECK(fabs(weight(&ml, 0x4000) - 10.0) < 1e-6);
	CHECK(fabs(weight(&ml, 0x5000) - 10.0) < 1e-6);
	/* The stack was seen in 3 intervals: 0x4000's and 0x5000's were merged into one. */
	CHECK_EQ_INT((int)ml.leak.stacks[mw_leak_find(&ml.leak, 0x2000)->stack].intervals, 3);
	/* Records read after their interval closed: of that interval, not another one. */
	alloc_at(&ml, 0x6000, 100, 5900, 0x401000);
	alloc_at(&ml, 0x7000, 100, 5900, 0x402000);
	CHECK_EQ_INT((int)ml.leak.stacks[mw_leak_find(&ml.leak, 0x2000)->stack].intervals, 3);
	CHECK_EQ_INT((int)ml.leak.stacks[mw_leak_find(&ml.leak, 0x7000)->stack].intervals, 1);
	alloc_at(&ml, 0x8000, 100, 6500, 0x402000);
	CHECK_EQ_INT((int)ml.leak.stacks[mw_leak_find(&ml.leak, 0x7000)->stack].intervals, 2);
	mw_mledger_destroy(&ml);

	/* No reads in the entries (an older recording): both, 2000 / 120. */
	CHECK_EQ_INT(mw_mledger_init(&ml, &s, &mc, 100, err, sizeof(err)), 0);
	ml.min_att_ns = 0; /* windows of ns */
	e = (struct mw_mbudget_entry){ .now_mono_ns = 2000,
				       .dark_ns = 2000,
				       .attached_ns = 1000,
				       .pid = 3,
				       .io_calls = 1000,
				       .io_calls_attached = 1000 };
	mw_mledger_budget(&ml, &e);
	alloc_at(&ml, 0x2000, 100, 2950, 0x401000);
	e.now_mono_ns = e.dark_ns = 3000;
	e.attached_ns = 1100;
	e.io_calls += 2000;
	e.io_calls_attached += 120;
	mw_mledger_budget(&ml, &e);
	CHECK(fabs(weight(&ml, 0x2000) - 2000.0 / 120.0) < 1e-4);
	mw_mledger_destroy(&ml);
}
