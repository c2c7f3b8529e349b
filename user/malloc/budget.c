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

/* The rate averaged over MW_BUDGET_AVG_NS attached, r measured over dt; from r if none yet. */
static double average(double avg, double r, uint64_t dt)
{
	return avg > 0 ? avg + (r - avg) * -expm1(-(double)dt / (double)MW_BUDGET_AVG_NS) : r;
}

bool mw_budget_sample(struct mw_budget *b, uint64_t now_ns, uint64_t cpu_ns,
		      const struct mw_mbudget_ctr *c, bool attached, bool tick)
{
	double dcost, credit;
	uint64_t dt, end, horizon;

	if (!b->started) {
		b->started = true;
		b->start_ns = b->last_ns = b->active_ns = b->busy_ns = now_ns;
		b->cpu0_ns = b->cpu_ns = cpu_ns;
		b->c0 = b->c = *c;
		b->attached = attached;
		/* Nothing measured yet: attached, and the next sample measures the rate, soon:
		 * no credit is earned yet, a long first window would leave a long gap after it. */
		b->win_ns = b->pct > 0 ? MW_BUDGET_MIN_WIN_NS : 0;
		return true;
	}
	dt = now_ns > b->last_ns ? now_ns - b->last_ns : 0;
	dcost = grew(c->enter_hits, b->c.enter_hits) * b->cost.enter_ns +
		grew(c->ret_hits, b->c.ret_hits) * b->cost.ret_ns + grew(c->body_ns, b->c.body_ns);
	/* Active after an idle stretch: what it earns is measured from the sample before. */
	if (cpu_ns > b->cpu_ns || dcost > 0) {
		if (b->last_ns >= b->active_ns + MW_BUDGET_IDLE_NS) {
			b->busy_ns = b->last_ns;
			b->busy_own_ns = mw_budget_own_ns(b);
			b->rate_avg = 0;
		}
		b->active_ns = now_ns;
	}
	b->probe_ns += dcost;
	if (attached) {
		b->attached_ns += dt;
		/* A rise is taken at once, a fall slowly (halved each tick's worth of time
		 * attached, however short the windows): a window that starts as the load
		 * rises must not be planned on a quiet one's rate. */
		if (dt && tick) {
			b->rate = fmax(dcost / (double)dt,
				       b->rate * exp2(-(double)dt / (double)b->tick_ns));
			b->rate_avg = average(b->rate_avg, dcost / (double)dt, dt);
		}
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
	credit = b->pct / 100 * mw_budget_own_ns(b) - b->probe_ns;
	if (!b->open) {
		/* A window if the credit pays for it, as late as its ends came lately, its
		 * attach and its detach. */
		b->win_ns = mw_budget_plan(b);
		horizon = b->win_ns ? b->win_ns + b->late_ns : b->tick_ns;
		return credit >= b->rate * ((double)horizon + 2 * (double)b->lag_ns);
	}
	end = b->win_end;
	/* A window not cut, of probes that now cost more than the budget earns: cut now. */
	if (!end && mw_budget_plan(b))
		end = now_ns;
	if (end && now_ns >= end) {
		/* Its planned length is over: more only if the credit is plenty, and then
		 * not cut (until the probes cost more than the budget earns). */
		if (credit < b->rate * (double)MW_BUDGET_SPREAD_NS)
			return false;
		b->win_end = 0;
		horizon = dt > b->tick_ns ? dt : b->tick_ns;
	} else {
		horizon = end ? end - now_ns : dt > b->tick_ns ? dt : b->tick_ns;
	}
	/* Attached until the next sample only if what it would cost still fits. */
	return credit >= b->rate * (double)(horizon + b->lag_ns);
}

void mw_budget_attached(struct mw_budget *b, uint64_t now_ns)
{
	b->open = true;
	b->windows++;
	b->win_end = b->win_ns ? now_ns + b->win_ns : 0;
}

void mw_budget_detached(struct mw_budget *b, uint64_t now_ns)
{
	/* How late its end came (the thread's wake-up on a busy host): windows cost that more. */
	if (b->open && b->win_end)
		b->late_ns = (uint64_t)fmax(now_ns > b->win_end ? (double)(now_ns - b->win_end) : 0,
					    (double)b->late_ns / 2);
	b->open = false;
	b->win_end = 0;
}

void mw_budget_change_wall(struct mw_budget *b, bool attach, uint64_t wall_ns)
{
	if (attach)
		b->att_wall_ns = wall_ns;
	else
		b->det_wall_ns = wall_ns;
	b->chg_wall_ns = b->att_wall_ns + b->det_wall_ns;
}

uint64_t mw_budget_window_end(const struct mw_budget *b)
{
	return b->open ? b->win_end : 0;
}

double mw_budget_busy_rate(const struct mw_budget *b)
{
	uint64_t wall = b->last_ns - b->busy_ns;
	double own = mw_budget_own_ns(b) - b->busy_own_ns;

	return wall && own > 0 ? own / (double)wall : 0;
}

uint64_t mw_budget_plan(const struct mw_budget *b)
{
	uint64_t busy = b->last_ns - b->busy_ns;
	/* Credit per wall ns, at the most the CPU time read allows (MW_BUDGET_CPU_STEP_NS). */
	double earn = busy ? b->pct / 100 *
				      (mw_budget_busy_rate(b) +
				       (double)MW_BUDGET_CPU_STEP_NS / (double)busy)
			   : 0;
	double chg = 2 * (double)b->lag_ns; /* an attach and a detach, in time attached */
	double w, gap, rate;

	/* Unlimited, no rate measured yet, or probes the budget keeps up with: not cut. */
	if (b->pct <= 0 || b->rate <= 0 ||
	    fmin(b->rate, b->rate_avg > 0 ? b->rate_avg : b->rate) <= earn)
		return 0;
	/* The probes' own cost twice the attach's and detach's, however short the window. */
	w = fmax((double)MW_BUDGET_MIN_WIN_NS, 2 * chg);
	/*
	 * Lengthened on the rate since the first window at least, and the target's own CPU
	 * rate since it was last idle: a rate below it was mostly measured over a tick in
	 * which the load began (an idle server's first requests), and a window planned long
	 * on it cost several times what it was planned to (redis: a 15-53 ms window, the
	 * credit of seconds).
	 */
	rate = b->attached_ns ? fmax(b->rate, b->probe_ns / (double)b->attached_ns) : b->rate;
	rate = fmax(rate, mw_budget_busy_rate(b));
	/*
	 * A window of w comes every rate (w + chg) / earn: no sooner than the window, an
	 * attach, a detach and a tick (the next decision) can follow each other, or credit
	 * is left unspent. Longer so that they do.
	 */
	gap = (double)(b->chg_wall_ns + b->tick_ns);
	w = fmax(w, (earn * gap - rate * chg) / (rate - earn));
	/*
	 * And what a period's credit pays for: a window every MW_BUDGET_PERIOD_NS is all
	 * that spreading needs, and a longer one sees more of the blocks it saw allocated
	 * freed (one freed unseen, its address reused by a block of its size, counts as
	 * held: leak_shares' held blocks, freed 0.2 s after, came out at 2.1-2.3% of its
	 * leaks with 10 ms windows at 20%, 0.9-1.4% with the tick-long ones before).
	 */
	w = fmax(w, earn * (double)MW_BUDGET_PERIOD_NS / rate - chg);
	return (uint64_t)fmin(w, (double)MW_BUDGET_MAX_WIN_NS);
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
