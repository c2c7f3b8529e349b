// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The allocation ledger's weights: each traced block stands for 1 / the probability that it
 * was traced (--sample N: N; --sample-bytes B: 1 / (1 - e^(-size / B))). */
#include <math.h>
#include <string.h>
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
