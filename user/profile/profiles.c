// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The profiles of a session. See profiles.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "base/atomic.h"
#include "base/errmsg.h"
#include "heap.h"
#include "profiles.h"

const struct mw_pprof_type mw_prof_mapped_types[2] = {
	{ "mapped_space", "bytes" },
	{ "committed_space", "bytes" },
};

const struct mw_pprof_type mw_prof_resident_types[2] = {
	{ "faulted_space", "bytes" },
	{ "faults", "count" },
};

int mw_prof_kind(const char *name)
{
	static const char *const names[MW_PROF_NKINDS] = { "heap", "mapped", "resident" };

	for (int i = 0; i < MW_PROF_NKINDS; i++)
		if (!strcmp(name, names[i]))
			return i;
	return -1;
}

void mw_profiles_source(struct mw_profiles *pr, enum mw_prof_kind kind, mw_prof_source_fn fn,
			void *ctx)
{
	pr->src[kind].fn = fn;
	pr->src[kind].ctx = ctx;
}

int mw_profiles_render(struct mw_profiles *pr, enum mw_prof_kind kind, uint64_t time_ns, void **out,
		       size_t *len, char *why, size_t whysz)
{
	const struct mw_pprof_type *types = kind == MW_PROF_MAPPED ? mw_prof_mapped_types
								   : mw_prof_resident_types;
	mw_prof_module_fn mod = pr->mods ? mw_modules_lookup : NULL;
	struct mw_pprof *b;
	int ret;

	if (kind == MW_PROF_HEAP) {
		if (!pr->heap)
			return mw_fail(why, whysz, -ENOENT,
				       "no heap profile: memwatch runs without --malloc");
		return mw_prof_heap_encode(pr->heap, time_ns, mod, pr->mods, out, len);
	}
	if (!pr->src[kind].fn)
		return mw_fail(why, whysz, -ENOENT,
			       "no %s profile: this memwatch does not collect %s stacks",
			       kind == MW_PROF_MAPPED ? "mapped" : "resident",
			       kind == MW_PROF_MAPPED ? "memory syscall" : "page fault");
	b = mw_pprof_new(types, 2, 0, mod, pr->mods);
	if (!b)
		return -ENOMEM;
	ret = pr->src[kind].fn(pr->src[kind].ctx, b);
	if (!ret)
		ret = mw_pprof_encode(b, time_ns, out, len);
	mw_pprof_free(b);
	return ret;
}

int mw_profiles_write(struct mw_profiles *pr, uint64_t time_ns, char *err, size_t errsz)
{
	char why[128];
	void *buf;
	size_t len;
	int ret;

	if (!pr->path)
		return 0;
	ret = mw_profiles_render(pr, MW_PROF_HEAP, time_ns, &buf, &len, why, sizeof(why));
	if (ret)
		return mw_fail(err, errsz, -1, "--pprof %s: %s", pr->path,
			       ret == -ENOENT ? why : "out of memory");
	ret = mw_atomic_write(pr->path, buf, len, err, errsz);
	free(buf);
	return ret;
}
