// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The allocation probes' overhead budget (malloc/budget.c), fed a simulated target. */
#include <string.h>
#include "malloc/budget.h"
#include "unit.h"

#define TICK 20000000ULL /* ns */

/*
 * A target busy on one CPU for secs seconds: attached, share att_cost of each tick
 * goes to the probes (hits of 1 us each), the rest is its own work; detached, all
 * of it is its own. The budget decides at every tick. Returns the windows.
 */
static uint32_t simulate(struct mw_budget *b, double att_cost, double secs, double *attached_share)
{
	const struct mw_mcost cost = { .enter_ns = 1000, .ret_ns = 0 };
	struct mw_mbudget_ctr c = {};
	uint64_t now = 1000000000ULL, cpu = 5000000000ULL, att_ns = 0;
	bool attached = true, want;

	mw_budget_init(b, b->pct, &cost, TICK);
	want = mw_budget_sample(b, now, cpu, &c, true, false);
	CHECK(want);
	for (uint64_t t = 0; t < (uint64_t)(secs * 1e9); t += TICK) {
		now += TICK;
		cpu += TICK;
		if (attached) {
			c.enter_hits += (uint64_t)(att_cost * TICK / 1000);
			att_ns += TICK;
		}
		want = mw_budget_sample(b, now, cpu, &c, attached, true);
		if (want && !attached)
			b->windows++;
		attached = want;
	}
	*attached_share = (double)att_ns / (secs * 1e9);
	return b->windows;
}

TEST(budget_keeps_the_share)
{
	struct mw_budget b = { .pct = 5 };
	double share;
	uint32_t windows = simulate(&b, 0.9, 20, &share);

	/* At or below the budget, and using it: attached again and again, a few % of the time. */
	CHECK(mw_budget_share_pct(&b) <= 5.0);
	CHECK(mw_budget_share_pct(&b) > 4.0);
	CHECK(windows >= 20);
	CHECK(share > 0.02 && share < 0.1);
	CHECK(b.probe_ns > 0);
	CHECK(mw_budget_own_ns(&b) > 18e9);
}

TEST(budget_cheap_or_unlimited_stays_attached)
{
	struct mw_budget b = { .pct = 5 };
	double share;

	/* Probes that cost 1% of the CPU fit in 5%: never detached. */
	simulate(&b, 0.01, 5, &share);
	CHECK(share > 0.99);
	CHECK(mw_budget_share_pct(&b) < 5.0);
	/* 0: unlimited. */
	b = (struct mw_budget){ .pct = 0 };
	simulate(&b, 0.9, 5, &share);
	CHECK(share > 0.99);
	CHECK(mw_budget_share_pct(&b) > 100);
}

TEST(budget_counts_and_cpu_never_go_back)
{
	const struct mw_mcost cost = { .enter_ns = 1000, .ret_ns = 500 };
	struct mw_mbudget_ctr c = { .enter_hits = 100, .ret_hits = 50, .body_ns = 7000 };
	struct mw_budget b;

	mw_budget_init(&b, 5, &cost, TICK);
	mw_budget_sample(&b, 1000, 1000000, &c, true, false);
	c.enter_hits += 10;
	c.ret_hits += 4;
	c.body_ns += 300;
	mw_budget_sample(&b, 1000 + TICK, 11000000, &c, true, true);
	CHECK(b.probe_ns == 10 * 1000 + 4 * 500 + 300);
	/* The kernel's entry made anew (an exec): counts from zero, no negative cost. */
	memset(&c, 0, sizeof(c));
	mw_budget_sample(&b, 1000 + 2 * TICK, 10000000, &c, true, true);
	CHECK(b.probe_ns == 12300);
	CHECK(mw_budget_own_ns(&b) == 10000000 - 12300);
	/* All of its CPU time in the probes: no own time, the share is not a division by 0. */
	mw_budget_init(&b, 5, &cost, TICK);
	c = (struct mw_mbudget_ctr){};
	mw_budget_sample(&b, 0, 0, &c, true, false);
	c.enter_hits = 1000;
	CHECK(!mw_budget_sample(&b, TICK, 0, &c, true, true));
	CHECK(mw_budget_share_pct(&b) > 1000);
}
