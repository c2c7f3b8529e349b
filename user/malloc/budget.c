// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The overhead budget of the allocation probes. See budget.h. */
#include <math.h>
#include <string.h>
#include "budget.h"

void mw_budget_init(struct mw_budget *b, double pct, const struct mw_mcost *cost, uint64_t tick_ns)
{
	memset(b, 0, sizeof(*b));
	b->pct = pct;
	b->cost = *cost;
	b->tick_ns = tick_ns;
}

/* A counter's growth; 0 if it went back (the kernel's entry was made anew). */
static double grew(uint64_t now, uint64_t before)
{
	return now >= before ? (double)(now - before) : 0;
}

bool mw_budget_sample(struct mw_budget *b, uint64_t now_ns, uint64_t cpu_ns,
		      const struct mw_mbudget_ctr *c, bool attached, bool tick)
{
	double dcost, credit;
	uint64_t dt;

	if (!b->started) {
		b->started = true;
		b->start_ns = b->last_ns = now_ns;
		b->cpu0_ns = b->cpu_ns = cpu_ns;
		b->c0 = b->c = *c;
		b->attached = attached;
		/* Nothing measured yet: attached, and the next sample measures the rate. */
		return true;
	}
	dt = now_ns > b->last_ns ? now_ns - b->last_ns : 0;
	dcost = grew(c->enter_hits, b->c.enter_hits) * b->cost.enter_ns +
		grew(c->ret_hits, b->c.ret_hits) * b->cost.ret_ns + grew(c->body_ns, b->c.body_ns);
	b->probe_ns += dcost;
	if (attached) {
		b->attached_ns += dt;
		/* A rise is taken at once, a fall slowly: a window that starts as the load
		 * rises must not be planned on a quiet one's rate. */
		if (dt && tick)
			b->rate = fmax(dcost / (double)dt, b->rate / 2);
	}
	/* What the last attach or detach cost, in time at that rate: a window costs that more. */
	if (!tick && b->rate > 0)
		b->lag_ns = (uint64_t)(dcost / b->rate);
	b->last_ns = now_ns;
	if (cpu_ns > b->cpu_ns)
		b->cpu_ns = cpu_ns;
	b->c = *c;
	b->attached = attached;
	if (b->pct <= 0)
		return true;
	/* Attached until the next sample only if what it would cost still fits. */
	credit = b->pct / 100 * mw_budget_own_ns(b) - b->probe_ns;
	return credit >= b->rate * (double)((dt > b->tick_ns ? dt : b->tick_ns) + b->lag_ns);
}

double mw_budget_own_ns(const struct mw_budget *b)
{
	double own = (double)(b->cpu_ns - b->cpu0_ns) - b->probe_ns;

	return own > 0 ? own : 0;
}

double mw_budget_share_pct(const struct mw_budget *b)
{
	double own = mw_budget_own_ns(b);

	if (own <= 0)
		return b->probe_ns > 0 ? 1e6 : 0; /* all of its CPU time went to the probes */
	return 100 * b->probe_ns / own;
}
