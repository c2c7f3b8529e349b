/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Resident memory of a traced process, as the kernel counts it (VmRSS =
 * anon + file + shmem). The syscall ledger cannot know it: whatever reads the
 * kernel's resident counters fills struct mw_process.resident (known, the
 * parts, when), and every view (memwatch top, --perfetto) shows it from then
 * on; until then they say "unknown", never a number.
 */
#ifndef MW_RESIDENT_H
#define MW_RESIDENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "class.h"

struct mw_resident {
	bool known;		    /* set by the reader of the kernel's counters */
	uint64_t anon, file, shmem; /* bytes */
	uint64_t ts_ns;		    /* when they were read (Unix epoch) */
	uint64_t slack;		    /* bytes their sum can be off by; 0 = exact, as /proc shows */
};

/*
 * Resident bytes by region class and by glibc arena (rss_class.h): each mapping's Rss in
 * /proc/PID/smaps placed on the region map at a report. Unknown (known false) where it
 * was not read: a process gone, more mappings than memwatch reads at a report, a recording
 * without it.
 */
struct mw_resident_map {
	bool known;
	uint64_t by_class[MW_CLASS_COUNT];
	uint64_t *by_arena; /* index: arena id as mw_region_arena() gives it (0: main) */
	size_t narenas;
	uint64_t ts_ns; /* the report it was read at */
};

static inline uint64_t mw_resident_bytes(const struct mw_resident *r)
{
	return r->anon + r->file + r->shmem;
}

#endif /* MW_RESIDENT_H */
