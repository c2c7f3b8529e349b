/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The overhead budget of the allocation probes (--max-overhead), one process:
 * pure accounting, fed samples of the target's CPU time (utime+stime, which
 * includes the probes: they run in its context) and of the probes' counters
 * (hits and program time, bpf/malloc.h). The probes' cost is hits x the
 * trap's calibrated cost + the programs' own time; the target's own CPU time
 * is its CPU time less that cost. The probes stay attached while the cost so
 * far, plus what the next tick would add at the last measured rate, fits in
 * PCT% of the own CPU time so far: a duty cycle driven by the budget, with no
 * fixed period.
 *
 * What share of the target's allocations the probes saw is not estimated: while
 * attached, a process that allocates often spends most of its CPU time in the
 * probes' traps (a trap costs more than the work between two mallocs), so its
 * own CPU time then is the small difference of two large numbers, below the 10
 * ms resolution of /proc and the error of the calibrated cost; its user-mode
 * time is no better (a part of the traps is counted there). Reports say what
 * was seen and that the rest was not.
 */
#ifndef MW_BUDGET_H
#define MW_BUDGET_H

#include <stdbool.h>
#include <stdint.h>
#include <linux/types.h>
#include "malloc.h"

/* What one hit costs the probed thread besides the program's run time. */
struct mw_mcost {
	double enter_ns; /* an entry probe (uprobe) */
	double ret_ns;	 /* a return probe (uretprobe) */
};

struct mw_budget {
	double pct; /* the budget, % of the target's own CPU time; 0 = unlimited */
	struct mw_mcost cost;
	uint64_t tick_ns; /* how far ahead a decision looks: the sampling period */
	uint64_t lag_ns;  /* and what the last detach cost, in time at the rate below */
	bool started;
	bool attached;		     /* as of the last sample */
	uint64_t start_ns, last_ns;  /* first and last sample (CLOCK_MONOTONIC) */
	uint64_t cpu0_ns, cpu_ns;    /* the target's CPU time then */
	struct mw_mbudget_ctr c0, c; /* the probes' counters then */
	double probe_ns;	     /* the probes' cost since the first sample */
	uint64_t attached_ns;	     /* wall time attached */
	double rate; /* cost per wall ns while attached: the highest lately (halved each tick) */
	uint32_t windows; /* times attached by the budget */
};

void mw_budget_init(struct mw_budget *b, double pct, const struct mw_mcost *cost, uint64_t tick_ns);
/*
 * A sample at now: the target's CPU time and the probes' counters; attached: whether the probes were attached since the previous sample;
 * tick: a sample of the regular period (not the one that closes an attach or a
 * detach, whose interval is the change itself: no rate is learned from it).
 * Returns whether the budget wants them attached from now on (always true when
 * unlimited).
 */
bool mw_budget_sample(struct mw_budget *b, uint64_t now_ns, uint64_t cpu_ns,
		      const struct mw_mbudget_ctr *c, bool attached, bool tick);
/* The target's own CPU time since the first sample (CPU time less the probes'). */
double mw_budget_own_ns(const struct mw_budget *b);
/* The probes' cost as a share of the own CPU time, in %; 0 before any CPU time. */
double mw_budget_share_pct(const struct mw_budget *b);

#endif /* MW_BUDGET_H */
