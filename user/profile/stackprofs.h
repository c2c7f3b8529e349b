/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The mapped and resident profiles, from the session's per-stack ledgers: "mapped"
 * (mapped_space, committed_space) from --stacks' ledger of the bytes each code path mapped
 * that are still mapped (session/bystack.h), "resident" (faulted_space, faults) from
 * --fault-stacks' sampled page faults (session/faults.h), estimates unless every fault was
 * sampled. Both are mw_prof_source_fn for mw_profiles_source, with the session as ctx. Pure:
 * they read the session's ledgers, nothing else.
 */
#ifndef MW_PROF_STACKPROFS_H
#define MW_PROF_STACKPROFS_H

#include "pprof.h"

/* Every live process's rows of --stacks' ledger (ctx: struct mw_session). 0 or -ENOMEM. */
int mw_prof_mapped(void *ctx, struct mw_pprof *b);
/* Every process's sampled faults by code path (ctx: struct mw_session). 0 or -ENOMEM. */
int mw_prof_resident(void *ctx, struct mw_pprof *b);

#endif /* MW_PROF_STACKPROFS_H */
