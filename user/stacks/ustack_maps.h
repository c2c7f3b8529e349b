/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The code modules of a process from its /proc/PID/maps text: every mapped
 * file with at least one executable mapping, with the span of all its
 * mappings (what libdwfl calls the module's address range). Pure parser plus
 * a reader. */
#ifndef MW_USTACK_MAPS_H
#define MW_USTACK_MAPS_H

#include <stddef.h>
#include <stdint.h>

#define MW_UMAPS_MAX 4096 /* modules kept per process */

struct mw_umod {
	uint64_t low, high;		 /* span of the file's mappings */
	uint64_t first_start, first_end; /* the mapping at low: opened via map_files */
	uint64_t first_off;		 /* its file offset */
	uint64_t exec_start, exec_end;	 /* its first executable mapping */
	uint64_t exec_off;		 /* and that mapping's file offset */
	uint64_t inode;
	uint32_t dev_major, dev_minor;
	char *path; /* as in maps, owned */
};

struct mw_umods {
	struct mw_umod *m;
	size_t n;
};

/* Parse maps text into out (cleared first). 0, -EINVAL for a malformed line,
 * -ENOMEM. Modules beyond MW_UMAPS_MAX are dropped. */
int mw_umaps_parse(const char *text, struct mw_umods *out);
/* Read and parse /proc/PID/maps. 0 or negative errno (-ESRCH: no such process). */
int mw_umaps_read(uint32_t pid, struct mw_umods *out);
void mw_umaps_clear(struct mw_umods *m);

#endif /* MW_USTACK_MAPS_H */
