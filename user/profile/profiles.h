/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The profiles a session serves and writes: "heap" from the --malloc ledger,
 * and "mapped" and "resident" from per-stack ledgers of the memory syscalls
 * and page faults, once something registers them (mw_profiles_source). Used
 * by --pprof FILE (rewritten whole at each report and at the end) and by the
 * --prometheus endpoint's GET /debug/pprof/NAME.
 */
#ifndef MW_PROFILES_H
#define MW_PROFILES_H

#include <stddef.h>
#include <stdint.h>
#include "malloc/mledger.h"
#include "modules.h"
#include "pprof.h"

enum mw_prof_kind {
	MW_PROF_HEAP,	/* inuse_objects, inuse_space, alloc_objects, alloc_space */
	MW_PROF_MAPPED, /* mapped_space, committed_space: bytes a call stack mapped, still there */
	MW_PROF_RESIDENT, /* faulted_space, faults: bytes a call stack made resident */
	MW_PROF_NKINDS,
};

/* The sample types of the mapped and resident profiles, in the order of mw_prof_stack.v. */
extern const struct mw_pprof_type mw_prof_mapped_types[2];
extern const struct mw_pprof_type mw_prof_resident_types[2];

/* Adds every stack of a ledger to b (values in the kind's type order). 0 or -ENOMEM. */
typedef int (*mw_prof_source_fn)(void *ctx, struct mw_pprof *b);

struct mw_profiles {
	const struct mw_mledger *heap; /* --malloc's ledger, or NULL */
	struct {
		mw_prof_source_fn fn; /* NULL: not collected in this run */
		void *ctx;
	} src[MW_PROF_NKINDS];
	struct mw_modules *mods; /* live runs: ranges and build-ids; NULL: none (a replay) */
	const char *path;	 /* --pprof FILE, or NULL */
};

/* kind "heap", "mapped" or "resident" -> enum; -1 if none. */
int mw_prof_kind(const char *name);
/* Register the ledger behind the mapped or resident profile. */
void mw_profiles_source(struct mw_profiles *pr, enum mw_prof_kind kind, mw_prof_source_fn fn,
			void *ctx);
/* One profile, gzip'd profile.proto (*out malloc'd). 0; -ENOENT when this run does not collect
 * it (why: the option that would); -ENOMEM. */
int mw_profiles_render(struct mw_profiles *pr, enum mw_prof_kind kind, uint64_t time_ns, void **out,
		       size_t *len, char *why, size_t whysz);
/* --pprof: the heap profile written to pr->path whole (nothing when there is no path). 0, or -1
 * with a one-line reason. */
int mw_profiles_write(struct mw_profiles *pr, uint64_t time_ns, char *err, size_t errsz);

#endif /* MW_PROFILES_H */
