/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The heap profile of what --malloc traced, from its ledger (mledger.h),
 * live or replayed alike: per call stack of each process, the blocks still
 * outstanding (inuse_objects, inuse_space) and everything allocated from
 * there since it was traced (alloc_objects, alloc_space). Estimates, rounded,
 * when sampling. Pure.
 */
#ifndef MW_PROF_HEAP_H
#define MW_PROF_HEAP_H

#include "malloc/mledger.h"
#include "pprof.h"

#define MW_PROF_HEAP_NTYPES 4
extern const struct mw_pprof_type mw_prof_heap_types[MW_PROF_HEAP_NTYPES];
#define MW_PROF_HEAP_DEFAULT 1 /* inuse_space */

/* Add every process's stacks to b (made with mw_prof_heap_types). 0 or -ENOMEM. */
int mw_prof_heap(const struct mw_mledger *ml, struct mw_pprof *b);
/* The whole profile: gzip'd profile.proto in *out (malloc'd). 0 or -ENOMEM. */
int mw_prof_heap_encode(const struct mw_mledger *ml, uint64_t time_ns, mw_prof_module_fn module,
			void *ctx, void **out, size_t *len);

#endif /* MW_PROF_HEAP_H */
