/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Where glibc keeps its malloc state in a process: the layout of struct
 * malloc_state, struct _heap_info and struct malloc_par, and the addresses
 * of main_arena, mp_ and tcache_key, from the libc's debuginfo (found by
 * build-id: Debian's libc6-dbg) through libdw. A libc is read once per
 * build-id; each process adds its load address.
 */
#ifndef MW_GLIBC_LAYOUT_H
#define MW_GLIBC_LAYOUT_H

#include <stdint.h>
#include "heapwalk.h"

struct mw_glibc_cache;

struct mw_glibc_cache *mw_glibc_cache_new(void);
void mw_glibc_cache_free(struct mw_glibc_cache *c);
/*
 * The layout of the libc at path as pid maps it (path as in its maps; for
 * glibc's libc.so.6 any libc.so.6 mapped: the loader's path and the kernel's
 * may differ by a symlink). -ENOENT when pid maps no such file (yet), else an
 * enum mw_heapwalk_status: OK, NO_LIBC (unreadable, not an ELF) or
 * NO_DEBUGINFO (no debuginfo, or it lacks what the walk needs).
 */
int mw_glibc_layout_of(struct mw_glibc_cache *c, uint32_t pid, const char *path,
		       struct mw_glibc_layout *out);

#endif /* MW_GLIBC_LAYOUT_H */
