/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Output of the allocator probes: per-process call counts, the leak report and
 * retention, as text tables or NDJSON ("malloc_summary", "leak", "retention",
 * "malloc_guard"). */
#ifndef MW_LEAK_OUTPUT_H
#define MW_LEAK_OUTPUT_H

#include <stdbool.h>
#include <stdint.h>
#include <linux/types.h>
#include "malloc.h"
#include "leak.h"
#include "session/output.h"
#include "retention.h"
#include "wire/record.h"

#define MW_LEAK_TOP_TEXT 10  /* stacks in each text table */
#define MW_LEAK_TOP_JSON 100 /* leak objects per process and report */

struct mw_malloc_sum {
	uint32_t pid;
	const char *comm;
	const char *allocator;	     /* file of the probed allocator */
	const char *sampling;	     /* "off", "every N", "bytes N" */
	bool estimated;		     /* sampling: byte and count figures are estimates */
	bool sampler;		     /* the in-process sampler: calls not counted, samples only */
	const char *sampler_path;    /* its samples: "ring" (read from its memory) or "probe" */
	struct mw_malloc_counters c; /* exact, from the kernel, this process's */
	double out_bytes, out_count; /* outstanding (tracked) */
	uint64_t found_count, found_bytes; /* made before the attach, found by the heap walk */
	double est_bytes, est_count;	   /* allocated, estimated from the sampled ones */
	struct mw_malloc_stats st;	   /* whole session: only threads_full is shown */
	uint64_t unwind_failed;		   /* this process's */
	uint64_t stacks_full; /* its allocations put under the unknown stack: stack table full */
};

void mw_out_malloc_sum(struct mw_output *o, uint64_t ts_ns, const struct mw_malloc_sum *m);
/* The leak report of one process: rows by bytes and by count (same rows, two orders).
 * scaled: its figures stand for intervals the probes were away (each row says in how many
 * it saw its stack allocate). */
void mw_out_leaks(struct mw_output *o, uint64_t ts_ns, const struct mw_leak *l,
		  const struct mw_leak_row *by_bytes, const struct mw_leak_row *by_count, size_t n,
		  double min_age_s, uint64_t now_mono, bool estimated, bool scaled);
void mw_out_retention(struct mw_output *o, uint64_t ts_ns, uint32_t pid, const struct mw_leak *l,
		      const struct mw_retention *r, size_t n, bool estimated);
/* The overhead budget of one process (--max-overhead) at a report. */
struct mw_budget_out {
	const struct mw_mbudget_entry *e;
	double unknown_bytes, unknown_count; /* blocks of unknown fate */
	double late_bytes;		     /* frees seen of blocks whose fate had been unknown */
};
void mw_out_malloc_budget(struct mw_output *o, uint64_t ts_ns, const struct mw_budget_out *b);

/*
 * Blocks of unknown fate by stack (rows by bytes): allocated before a detached
 * window, no free seen. Not leaks: some were freed while the probes were away.
 */
void mw_out_fate_unknown(struct mw_output *o, uint64_t ts_ns, const struct mw_leak *l,
			 const struct mw_leak_row *rows, size_t n, uint64_t now_mono,
			 bool estimated, bool scaled);

/* The rate guard detached the probes (rate: hits/s seen; off_ns: for how long). */
void mw_out_malloc_guard(struct mw_output *o, uint64_t ts_ns, uint64_t rate, uint64_t limit,
			 uint64_t off_ns);

#endif /* MW_LEAK_OUTPUT_H */
