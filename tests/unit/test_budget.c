// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The allocation probes' overhead budget (malloc/budget.c), fed a simulated target. */
#include <string.h>
#include "malloc/budget.h"
#include "unit.h"

#define TICK 20000000ULL /* ns */

/* What attaching and detaching the probes take: wall time (the target runs free), and
 * probe hits of 1 us each that they cost it (a trap in flight, a return probe's). */
struct change {
	uint64_t att_wall, det_wall;
	uint64_t hits;
	uint64_t late; /* how late the end of a window is seen (a busy host) */
};

/* What a simulated run did: windows, the longest time between two, the time attached. */
struct sim_out {
	uint32_t windows;
	uint64_t max_gap, att_ns, min_win, max_win;
	double attached_share;
};

/*
 * A target busy on one CPU for secs seconds: attached, share att_cost of its time goes to
 * the probes (hits of 1 us each), the rest is its own work; detached, all of it is its own.
 * As mtrace.c drives the budget: a sample every tick, or at the end of a window planned
 * shorter; an attach or a detach when the budget changes its mind, each followed by its
 * own sample (not a tick), the detach's wall time before the next tick.
 */
static void simulate_changes(struct mw_budget *b, double att_cost, const struct change *chg,
			     double secs, struct sim_out *o)
{
	const struct mw_mcost cost = { .enter_ns = 1000, .ret_ns = 0 };
	struct mw_mbudget_ctr c = {};
	uint64_t now = 1000000000ULL, cpu = 5000000000ULL, stop, next, last_start, since;
	bool attached = true, want;
	double hits = 0;

	memset(o, 0, sizeof(*o));
	o->min_win = UINT64_MAX;
	mw_budget_init(b, b->pct, &cost, TICK);
	CHECK(mw_budget_sample(b, now, cpu, &c, true, false));
	mw_budget_attached(b, now);
	stop = now + (uint64_t)(secs * 1e9);
	next = now + TICK;
	last_start = since = now;
	while (now < stop) {
		uint64_t end = mw_budget_window_end(b),
			 at = end && end < next ? end + chg->late : next;

		/* To the next decision: the target's CPU time, and the probes' hits if attached. */
		cpu += at - now;
		if (attached) {
			hits += att_cost * (double)(at - now) / 1000;
			o->att_ns += at - now;
		}
		c.enter_hits = (uint64_t)hits;
		now = at;
		want = mw_budget_sample(b, now, cpu, &c, attached, true);
		next = now + TICK;
		if (want == attached)
			continue;
		if (want) {
			now += chg->att_wall;
			cpu += chg->att_wall;
			hits += (double)chg->hits;
			c.enter_hits = (uint64_t)hits;
			mw_budget_change_wall(b, true, chg->att_wall);
			mw_budget_sample(b, now, cpu, &c, false, false);
			mw_budget_attached(b, now);
			if (now - last_start > o->max_gap)
				o->max_gap = now - last_start;
			last_start = since = now;
		} else {
			/* The first window is the shortest: nothing measured yet. */
			if (b->windows > 1 && now - since < o->min_win)
				o->min_win = now - since;
			if (now - since > o->max_win)
				o->max_win = now - since;
			mw_budget_detached(b, now);
			now += chg->det_wall;
			cpu += chg->det_wall;
			hits += (double)chg->hits;
			c.enter_hits = (uint64_t)hits;
			mw_budget_change_wall(b, false, chg->det_wall);
			mw_budget_sample(b, now, cpu, &c, false, false);
		}
		attached = want;
		next = now + TICK;
	}
	o->windows = b->windows;
	o->attached_share = (double)o->att_ns / (secs * 1e9);
}

static uint32_t simulate(struct mw_budget *b, double att_cost, double secs, double *attached_share)
{
	const struct change free_change = {};
	struct sim_out o;

	simulate_changes(b, att_cost, &free_change, secs, &o);
	*attached_share = o.attached_share;
	return o.windows;
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

TEST(budget_windows_short_and_spread)
{
	/* A detach takes 40 ms of grace periods, an attach 1 ms, and costs the target nothing. */
	const struct change chg = { .att_wall = 1000000, .det_wall = 40000000 };
	struct mw_budget b = { .pct = 2 };
	struct sim_out o;

	/* A busy target at 2%: windows as long as the credit allows came about once a second
	 * (a tick each, 18 ms of probes at 0.9). Planned: the shortest, 5 ms, every ~0.23 s,
	 * twice that after the first (no credit earned before it). */
	simulate_changes(&b, 0.9, &chg, 5, &o);
	CHECK(mw_budget_share_pct(&b) <= 2.0);
	CHECK(mw_budget_share_pct(&b) > 1.5);
	CHECK(o.max_win <= MW_BUDGET_MIN_WIN_NS + 1000);
	CHECK(o.windows >= 18);
	CHECK(o.max_gap <= 500000000);
	CHECK(mw_budget_plan(&b) == MW_BUDGET_MIN_WIN_NS);
}

TEST(budget_windows_that_end_late_cost_more)
{
	/* The budget's thread wakes 15 ms after a window's end (a busy host): a window costs
	 * 20 ms of the probes, not 5; the windows come less often, the budget holds. */
	const struct change chg = { .att_wall = 1000000, .det_wall = 40000000, .late = 15000000 };
	struct mw_budget b = { .pct = 2 };
	struct sim_out o;

	simulate_changes(&b, 0.9, &chg, 5, &o);
	CHECK(mw_budget_share_pct(&b) <= 2.0);
	CHECK(b.late_ns >= 14000000 && b.late_ns <= 16000000);
	CHECK(o.windows >= 4 && o.windows <= 8);
	CHECK(o.min_win >= 19000000);
}

TEST(budget_windows_longer_when_the_budget_pays_for_more)
{
	const struct change chg = { .att_wall = 1000000, .det_wall = 40000000 };
	struct mw_budget b = { .pct = 20 };
	struct sim_out o;

	/* At 20%, 5 ms windows would come every 25 ms: a window every 0.2 s is enough, and a
	 * longer one sees more blocks freed. About 0.2 s of credit each, 35-40 ms. */
	simulate_changes(&b, 0.9, &chg, 5, &o);
	CHECK(mw_budget_share_pct(&b) <= 20.0);
	CHECK(mw_budget_share_pct(&b) > 15.0);
	CHECK(o.min_win > 5 * MW_BUDGET_MIN_WIN_NS);
	CHECK(o.max_win <= MW_BUDGET_MAX_WIN_NS);
	CHECK(o.windows >= 15);
	CHECK(o.max_gap <= 2 * MW_BUDGET_PERIOD_NS);
}

TEST(budget_windows_longer_when_the_budget_outpaces_changes)
{
	/* A detach that takes 300 ms (grace periods on a loaded host): windows of a period's
	 * credit would come faster than a detach and a tick follow them, and leave credit
	 * unspent. Longer, so that it is spent all the same. */
	const struct change chg = { .att_wall = 1000000, .det_wall = 300000000 };
	struct mw_budget b = { .pct = 20 };
	struct sim_out o;

	simulate_changes(&b, 0.9, &chg, 5, &o);
	CHECK(mw_budget_share_pct(&b) <= 20.0);
	CHECK(mw_budget_share_pct(&b) > 15.0);
	CHECK(o.min_win > 60000000);
	CHECK(o.max_win <= MW_BUDGET_MAX_WIN_NS);
}

TEST(budget_windows_outlast_their_changes)
{
	/* An attach or a detach costs the target 1000 hits of 1 us (return probes in flight):
	 * at a rate of 0.5, 2 ms attached each. A window is twice both, 8 ms. */
	const struct change chg = { .att_wall = 1000000, .det_wall = 20000000, .hits = 1000 };
	struct mw_budget b = { .pct = 5 };
	struct sim_out o;

	simulate_changes(&b, 0.5, &chg, 5, &o);
	CHECK(b.lag_ns > 1900000 && b.lag_ns < 2100000);
	CHECK(o.min_win >= 4 * 1900000);
	CHECK(o.windows >= 10);
	/* The changes' cost is counted, and the budget still holds. */
	CHECK(mw_budget_share_pct(&b) <= 5.0);
	CHECK(mw_budget_share_pct(&b) > 3.5);
}

/*
 * A target idle for idle_s seconds, then busy on load of a CPU for busy_s, as /proc counts
 * it (in 10 ms steps); attached, att_cost of its CPU time goes to the probes (hits of 1 us),
 * and spike more hits in the tick half a second into the load (if attached then). Returns the
 * share of the busy time attached; *windows: those opened once it was busy.
 */
static double simulate_spike(struct mw_budget *b, double idle_s, double busy_s, double load,
			     double att_cost, double spike, uint32_t *windows)
{
	const struct mw_mcost cost = { .enter_ns = 1000, .ret_ns = 0 };
	const uint64_t step = 10000000ULL; /* USER_HZ */
	struct mw_mbudget_ctr c = {};
	uint64_t now = 1000000000ULL, busy = now + (uint64_t)(idle_s * 1e9),
		 stop = busy + (uint64_t)(busy_s * 1e9), att_busy = 0;
	double cpu = 0, hits = 0;
	bool attached = true, want;
	uint32_t w0 = 0;

	mw_budget_init(b, b->pct, &cost, TICK);
	mw_budget_sample(b, now, 0, &c, true, false);
	mw_budget_attached(b, now);
	while (now < stop) {
		uint64_t end = mw_budget_window_end(b),
			 at = end && end < now + TICK ? end : now + TICK;
		double run = at > busy ? (double)(at - (now > busy ? now : busy)) * load : 0;

		if (attached && at > busy)
			att_busy += at - (now > busy ? now : busy);
		if (!w0 && at > busy)
			w0 = b->windows;
		cpu += run;
		if (attached)
			hits += att_cost * run / 1000;
		if (attached && spike > 0 && at >= busy + 500000000ULL) {
			hits += spike;
			spike = 0;
		}
		c.enter_hits = (uint64_t)hits;
		now = at;
		want = mw_budget_sample(b, now, (uint64_t)(cpu / step) * step, &c, attached, true);
		if (want == attached)
			continue;
		if (want) {
			mw_budget_sample(b, now, (uint64_t)(cpu / step) * step, &c, false, false);
			mw_budget_attached(b, now);
		} else {
			mw_budget_detached(b, now);
			mw_budget_sample(b, now, (uint64_t)(cpu / step) * step, &c, false, false);
		}
		attached = want;
	}
	*windows = b->windows - w0;
	return (double)att_busy / (busy_s * 1e9);
}

static double simulate_idle_start(struct mw_budget *b, double idle_s, double busy_s, double load,
				  double att_cost, uint32_t *windows)
{
	return simulate_spike(b, idle_s, busy_s, load, att_cost, 0, windows);
}

TEST(budget_idle_start_earns_once_busy)
{
	/* grower under -p: idle at the attach, then 70% of a CPU, the probes 1% of it, at 2%.
	 * Earned on its CPU time since the attach, idle half a second, the probes looked dearer
	 * than the budget for a while and were cut into windows (attached 58-89% of the time, its
	 * blocks before each detach of unknown fate). At most the one detach at its start (no
	 * credit earned yet when its first hits come): attached after, all along. */
	struct mw_budget b = { .pct = 2 };
	uint32_t windows;
	double share = simulate_idle_start(&b, 0.5, 1.0, 0.7, 0.01, &windows);

	CHECK(share > 0.9);
	CHECK(windows <= 1);
	CHECK(mw_budget_share_pct(&b) <= 2.0);
	/* Idle for longer, the same. */
	b = (struct mw_budget){ .pct = 2 };
	share = simulate_idle_start(&b, 5, 1.0, 0.7, 0.01, &windows);
	CHECK(share > 0.9);
	CHECK(windows <= 1);
	CHECK(mw_budget_busy_rate(&b) > 0.6 && mw_budget_busy_rate(&b) < 0.75);
	/* Probes at 1.5% of its CPU time: a window planned short as the load began (its CPU
	 * time not yet seen, /proc counts it in 10 ms steps) goes on once they are seen to cost
	 * less than the budget earns, however little credit it has saved. */
	b = (struct mw_budget){ .pct = 2 };
	share = simulate_idle_start(&b, 0.5, 1.0, 0.7, 0.015, &windows);
	CHECK(share > 0.85);
	CHECK(windows <= 2);
	CHECK(mw_budget_share_pct(&b) <= 2.0);
	/* Probes dearer than the budget after an idle start: windows, and the budget holds. */
	b = (struct mw_budget){ .pct = 2 };
	share = simulate_idle_start(&b, 0.5, 3.0, 0.7, 0.5, &windows);
	CHECK(windows >= 5);
	CHECK(share < 0.1);
	CHECK(mw_budget_share_pct(&b) <= 2.0);
}

TEST(budget_a_costly_tick_does_not_cut)
{
	/* grower at its cgroup's limit: one tick whose hits cost 1 ms (reclaim), 5% of the
	 * tick, against probes at 1% of its CPU time otherwise. Judged on the highest rate
	 * lately, the probes were cut into 5 ms windows to its end; the credit pays for that
	 * tick, and the average rate is under what the budget earns: attached on. */
	struct mw_budget b = { .pct = 2 };
	uint32_t windows;
	double share = simulate_spike(&b, 0.5, 1.0, 0.7, 0.01, 1000, &windows);

	CHECK(share > 0.9);
	CHECK(windows <= 1);
	CHECK(mw_budget_share_pct(&b) <= 2.0);
	/* Costly hits on and on: cut into windows all the same, the budget holds. */
	b = (struct mw_budget){ .pct = 2 };
	share = simulate_idle_start(&b, 0.5, 3.0, 0.7, 0.05, &windows);
	CHECK(windows >= 5);
	CHECK(mw_budget_share_pct(&b) <= 2.0);
}
