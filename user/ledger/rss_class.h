/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Resident bytes by class and arena: each mapping's Rss from /proc/PID/smaps placed on the
 * region map (struct mw_resident_map, resident.h). A mapping all of whose regions are of one
 * class and arena puts its Rss there whole. The kernel merges adjacent mappings that differ
 * only in what memwatch knows of them (an anonymous mmap next to a glibc chunk is one VMA):
 * such a mapping's Rss is split by the pages present in each region's part, read through a
 * callback (/proc/PID/pagemap); where that cannot be read the whole placement fails: never a
 * share by size. Pure but for the callback.
 */
#ifndef MW_RSS_CLASS_H
#define MW_RSS_CLASS_H

#include "procfs.h"
#include "regions.h"
#include "resident.h"

/* Above this many mappings a report does not read smaps: resident by class is unknown. */
#define MW_RSS_CLASS_MAX_MAPS 20000

/* Bytes of [start, end) present in memory now. 0 or a negative errno. */
typedef int (*mw_present_fn)(void *ctx, uint64_t start, uint64_t end, uint64_t *bytes);

/* Fill out (emptied first; known on success) from smaps' v[n] (address order) and r. 0,
 * -ENOMEM, or the callback's error. */
int mw_rss_place(const struct mw_regions *r, const struct mw_rss *v, size_t n,
		 mw_present_fn present, void *ctx, struct mw_resident_map *out);
/* Replace dst's content with src's (dst's array reused or freed). 0 or -ENOMEM. */
int mw_resident_map_copy(struct mw_resident_map *dst, const struct mw_resident_map *src);
void mw_resident_map_clear(struct mw_resident_map *m);

#endif /* MW_RSS_CLASS_H */
