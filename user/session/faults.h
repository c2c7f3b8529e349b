/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * --fault-stacks: one process's sampled page faults, summed by the code that took them (its
 * named user stack) and by where they landed on the region model (class, glibc arena). Each
 * sample stands for sample_n faults that each mapped a page: the byte counts are estimates
 * unless every fault was sampled (N = 1). Pure: the caller names the stacks and finds the
 * region; writing is at the edge (mw_fprof_out).
 */
#ifndef MW_FAULTS_H
#define MW_FAULTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "ledger/class.h"
#include "ledger/regions.h"
#include "output.h"

/* Distinct stacks kept per process; samples of further stacks are summed in `other`. */
#define MW_FPROF_MAX_STACKS 4096
/* by_class's last slot: an address in no region the model knows (memwatch says so, it does
 * not guess a class). */
#define MW_FPROF_UNPLACED MW_CLASS_COUNT
/* Stacks written per report: NDJSON, text. */
#define MW_FPROF_TOP_JSON 32
#define MW_FPROF_TOP_TEXT 10

struct mw_fprof_frame {
	uint64_t addr, offset;
	char *module, *func; /* owned copies; NULL when unknown */
};

/* One code path. The innermost frame stands for its function (the faulting instruction
 * moves inside a loop, the callers' return addresses do not): addr and offset are those of
 * the first fault sampled there. */
struct mw_fprof_stack {
	uint64_t hash;
	uint64_t samples;
	uint32_t n; /* 0: the stack could not be unwound */
	struct mw_fprof_frame *f;
};

struct mw_fprof {
	uint32_t pid;
	uint32_t sample_n; /* each sample stands for this many faults (the records say) */
	uint64_t samples;  /* all of them */
	uint64_t other;	   /* samples of stacks past MW_FPROF_MAX_STACKS */
	/* Samples the kernel took that the ring had no room for (their stacks are not known):
	 * the caller sets it from the kernel's counters (mw_process_fault_lost) before a report. */
	uint64_t lost;
	struct mw_fprof_stack *v;
	size_t n, cap;
	uint64_t by_class[MW_CLASS_COUNT + 1]; /* samples by the class of the region hit */
	uint64_t *by_arena;		       /* samples by glibc arena id (0: the main arena) */
	size_t narena;
	struct mw_class_samples *threads; /* by_class per thread, sorted by tid */
	size_t nthreads;
};

/* One sample of thread tid: its named frames (innermost first), the region holding the
 * address (NULL: none known), the rate it was sampled at. 0, or -ENOMEM (nothing changed). */
int mw_fprof_add(struct mw_fprof *p, uint32_t tid, const struct mw_sframe *f, size_t n,
		 const struct mw_region *where, uint32_t sample_n);
void mw_fprof_free(struct mw_fprof *p);

/* Bytes that many samples stand for: samples x N x page size. */
static inline uint64_t mw_fprof_bytes(const struct mw_fprof *p, uint64_t samples,
				      uint64_t page_size)
{
	return samples * p->sample_n * page_size;
}

static inline bool mw_fprof_estimated(const struct mw_fprof *p)
{
	return p->sample_n != 1;
}

/* Estimated bytes faulted in by class (MW_CLASS_COUNT + 1 slots, the last: unplaced). */
void mw_fprof_class_bytes(const struct mw_fprof *p, uint64_t page_size, uint64_t *out);
/* Estimated bytes faulted in inside glibc arena id (0 when none sampled there). */
uint64_t mw_fprof_arena_bytes(const struct mw_fprof *p, int arena, uint64_t page_size);
/* Indices of the stacks with the most samples, at most max (ties: the first seen first). */
size_t mw_fprof_top(const struct mw_fprof *p, size_t *out, size_t max);

/* The profile at a report: fault_profile objects (NDJSON) or a leak-report-style table. */
void mw_fprof_out(struct mw_output *o, uint64_t ts_ns, const char *comm, const struct mw_fprof *p,
		  uint64_t page_size);

#endif /* MW_FAULTS_H */
