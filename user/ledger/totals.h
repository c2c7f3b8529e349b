/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A process's size now, read off the region map in one pass: the one
 * definition of "mapped" and "committed" that NDJSON, Prometheus, memwatch
 * top and --perfetto all show. Pure.
 */
#ifndef MW_TOTALS_H
#define MW_TOTALS_H

#include <stdint.h>
#include "class.h"
#include "model.h"

struct mw_totals {
	uint64_t mapped;    /* bytes of the address space (VmSize's view) */
	uint64_t committed; /* of them, accessible: not PROT_NONE */
	uint64_t mapped_by[MW_CLASS_COUNT], committed_by[MW_CLASS_COUNT];
};

void mw_process_totals(const struct mw_process *p, struct mw_totals *t);

/* A thread's own ledger: what it mapped less what it unmapped, and its change of accessible
 * bytes (both may be negative: a thread may unmap what another made). */
static inline int64_t mw_thread_net(const struct mw_thread *t)
{
	return (int64_t)t->mapped - (int64_t)t->unmapped;
}

#endif /* MW_TOTALS_H */
