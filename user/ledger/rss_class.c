// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Resident bytes by class and arena. See rss_class.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "rss_class.h"

void mw_resident_map_clear(struct mw_resident_map *m)
{
	free(m->by_arena);
	memset(m, 0, sizeof(*m));
}

static int add(struct mw_resident_map *m, const struct mw_region *g, uint64_t bytes)
{
	int arena = mw_region_arena(g);

	m->by_class[g->cls < MW_CLASS_COUNT ? g->cls : MW_CLASS_ANON] += bytes;
	if (arena < 0)
		return 0;
	if ((size_t)arena >= m->narenas) {
		uint64_t *v = realloc(m->by_arena, ((size_t)arena + 1) * sizeof(*v));

		if (!v)
			return -ENOMEM;
		memset(v + m->narenas, 0, ((size_t)arena + 1 - m->narenas) * sizeof(*v));
		m->by_arena = v;
		m->narenas = (size_t)arena + 1;
	}
	m->by_arena[arena] += bytes;
	return 0;
}

/* Whether the regions over [start, end) from index k on are all of one class and arena. */
static bool one_kind(const struct mw_regions *r, size_t k, uint64_t end)
{
	for (size_t i = k + 1; i < r->n && r->v[i].start < end; i++)
		if (r->v[i].cls != r->v[k].cls || r->v[i].arena != r->v[k].arena)
			return false;
	return true;
}

int mw_rss_place(const struct mw_regions *r, const struct mw_rss *v, size_t n,
		 mw_present_fn present, void *ctx, struct mw_resident_map *out)
{
	int err = 0;

	mw_resident_map_clear(out);
	for (size_t i = 0; i < n && !err; i++) {
		size_t k = mw_regions_index(r, v[i].start);

		/* No region there (the [vsyscall] page the map leaves out): nowhere to put it. */
		if (!v[i].rss || k == r->n || r->v[k].start >= v[i].end)
			continue;
		if (one_kind(r, k, v[i].end)) {
			err = add(out, &r->v[k], v[i].rss);
			continue;
		}
		for (; k < r->n && r->v[k].start < v[i].end && !err; k++) {
			uint64_t lo = r->v[k].start > v[i].start ? r->v[k].start : v[i].start;
			uint64_t hi = r->v[k].end < v[i].end ? r->v[k].end : v[i].end, bytes = 0;

			err = present ? present(ctx, lo, hi, &bytes) : -ENOSYS;
			if (!err)
				err = add(out, &r->v[k], bytes);
		}
	}
	if (err)
		mw_resident_map_clear(out);
	else
		out->known = true;
	return err;
}

int mw_resident_map_copy(struct mw_resident_map *dst, const struct mw_resident_map *src)
{
	uint64_t *v = NULL;

	if (src->narenas) {
		v = malloc(src->narenas * sizeof(*v));
		if (!v)
			return -ENOMEM;
		memcpy(v, src->by_arena, src->narenas * sizeof(*v));
	}
	free(dst->by_arena);
	*dst = *src;
	dst->by_arena = v;
	return 0;
}
