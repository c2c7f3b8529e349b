/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The overhead budget of the allocation probes (--max-overhead), one process:
 * pure accounting, fed samples of the target's CPU time (utime+stime, which
 * includes the probes: they run in its context) and of the probes' counters
 * (hits and program time, bpf/malloc.h). The probes' cost is hits x the
 * trap's calibrated cost + the programs' own time; the target's own CPU time
 * is its CPU time less that cost. The probes are attached only while the cost so
 * far, plus what they would add until the next decision at the last measured
 * rate, fits in PCT% of the own CPU time so far: a duty cycle driven by the budget.
 *
 * Windows are planned, not as long as the credit allows: a window that spends
 * all the credit saved since the last comes seldom (about one a second at 2% of
 * a busy process), and a run of a few seconds is then seen in a few places, a
 * phase of it not at all. A window lasts what the budget makes the shortest
 * whose cost is mostly the probes' (twice what an attach and a detach cost the
 * target, and at least MW_BUDGET_MIN_WIN_NS), so that the same credit buys more
 * of them, spread over the run: the next one comes when the credit pays for it
 * and its attach and detach. It is longer when the budget pays for more: what
 * MW_BUDGET_PERIOD_NS of credit buys (a window that often is enough, and a
 * longer one sees more of its blocks freed), or what the attach and detach
 * leave time for (their wall time: a shorter window would leave credit
 * unspent); at most MW_BUDGET_MAX_WIN_NS. It is not cut at all while the
 * probes cost less than the budget earns, or the credit would keep them for
 * MW_BUDGET_SPREAD_NS more.
 *
 * What the budget earns is PCT% of the target's own CPU time since it last was idle
 * (no CPU time and no hits for MW_BUDGET_IDLE_NS), not since the first sample: a
 * process idle when memwatch attached (waiting for its first client, or for a go)
 * would else earn, once busy, on its average over the idle time too, and probes that
 * cost a fraction of the budget would be cut into windows, its blocks made before
 * each of fate unknown. The credit itself is still counted from the first sample.
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

/*
 * The shortest window planned. Each window's two ends cut a request or so in two (its
 * read counted, its allocations not, or the reverse), and a busy server slowed by the
 * probes serves only one or two a millisecond then: redis, at 2%, saw 2 ms windows come
 * out 46-103% of a full run's bytes, 5 ms ones 85-94% (10 ms: fewer windows, 67-89%).
 * The attach's own time (the breakpoints go in one after the other: 0.3-10 ms measured,
 * under 1.5 ms mostly) records nothing (held) and costs the target next to nothing.
 */
#define MW_BUDGET_MIN_WIN_NS (5 * 1000000ULL)
/* Windows are planned to come about this often when the budget pays for longer ones. */
#define MW_BUDGET_PERIOD_NS (200 * 1000000ULL)
/* The longest window planned: a phase of a fraction of a second must not fall between two. */
#define MW_BUDGET_MAX_WIN_NS (100 * 1000000ULL)
/* A window is not cut while the credit would keep the probes this much longer. */
#define MW_BUDGET_SPREAD_NS (1000 * 1000000ULL)
/*
 * A target that used no CPU time and made no probe hits this long was idle: what the budget
 * earns is measured from its next sample on. Longer than a slow process's CPU time takes to
 * show (/proc counts it in 10 ms steps: 250 ms at 4% of a CPU).
 */
#define MW_BUDGET_IDLE_NS (250 * 1000000ULL)
/*
 * /proc counts CPU time in clock ticks (USER_HZ, 100 a second), truncated: a load that began
 * a few ticks ago may show a fraction of its CPU time. The planning takes what it earns at
 * the most that the reading allows (a step more), so that probes cheaper than the budget are
 * not cut on a lagging reading; the credit, which keeps the budget, takes the reading.
 */
#define MW_BUDGET_CPU_STEP_NS (10 * 1000000ULL)
/*
 * Whether the probes cost less than the budget earns is judged on their cost averaged over
 * about this much time attached (rate_avg), not on the highest lately (rate, which plans the
 * windows and keeps the credit): one tick of costly hits (an allocation that waits for the
 * cgroup's reclaim, its probes with it) must not cut into windows a process whose probes
 * cost a fraction of the budget; its blocks before each detach are of unknown fate.
 */
#define MW_BUDGET_AVG_NS (250 * 1000000ULL)

struct mw_budget {
	double pct; /* the budget, % of the target's own CPU time; 0 = unlimited */
	struct mw_mcost cost;
	uint64_t tick_ns; /* how far ahead a decision looks when no window ends first */
	uint64_t lag_ns;  /* and what the last attach or detach cost, in time at the rate below */
	uint64_t chg_wall_ns; /* the wall time of the last attach and the last detach, summed */
	uint64_t att_wall_ns, det_wall_ns;
	bool started;
	bool attached;	  /* as of the last sample */
	bool open;	  /* a window is open: the probes are attached (mw_budget_attached) */
	uint64_t win_ns;  /* the window planned (0: not cut, as long as the credit allows) */
	uint64_t win_end; /* the open window's planned end (0: not cut) */
	uint64_t late_ns; /* how late windows ended lately (halved at each) */
	uint64_t start_ns, last_ns; /* first and last sample (CLOCK_MONOTONIC) */
	uint64_t cpu0_ns, cpu_ns;   /* the target's CPU time then */
	uint64_t active_ns;	    /* the last sample that saw it use CPU time or the probes */
	uint64_t busy_ns;	    /* the sample before it was last seen active after being idle */
	double busy_own_ns;	    /* its own CPU time then (mw_budget_own_ns) */
	struct mw_mbudget_ctr c0, c; /* the probes' counters then */
	double probe_ns;	     /* the probes' cost since the first sample */
	uint64_t attached_ns;	     /* wall time attached */
	double rate; /* cost per wall ns while attached: the highest lately (halved each tick) */
	double rate_avg;  /* and averaged over MW_BUDGET_AVG_NS attached (0: not measured) */
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
/*
 * The probes were attached at now (the sample of the attach taken): a window opens, to
 * last the length planned at that sample. Counted in windows.
 */
void mw_budget_attached(struct mw_budget *b, uint64_t now_ns);
/* They were detached, from now (before the detach's sample: it plans the next window). */
void mw_budget_detached(struct mw_budget *b, uint64_t now_ns);
/* What an attach (attach true) or a detach took, in wall time: the planning's floor. */
void mw_budget_change_wall(struct mw_budget *b, bool attach, uint64_t wall_ns);
/* When the open window ends as planned, for the next sample: 0 if it is not cut. */
uint64_t mw_budget_window_end(const struct mw_budget *b);
/*
 * The window the budget would plan now (0: not cut): the shortest whose cost is mostly
 * the probes', lengthened to a period's credit and so that the credit it needs comes no
 * faster than an attach and a detach can follow it; not cut while the probes cost less
 * than the budget earns.
 */
uint64_t mw_budget_plan(const struct mw_budget *b);
/* The target's own CPU time since the first sample (CPU time less the probes'). */
double mw_budget_own_ns(const struct mw_budget *b);
/* Its own CPU time per wall ns since it was last idle (since the first sample if never). */
double mw_budget_busy_rate(const struct mw_budget *b);
/* The probes' cost as a share of the own CPU time, in %; 0 before any CPU time. */
double mw_budget_share_pct(const struct mw_budget *b);

#endif /* MW_BUDGET_H */
