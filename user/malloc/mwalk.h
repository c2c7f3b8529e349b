/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The heap walk in a live session: after --malloc attached to a running
 * process, walk its glibc heaps once (glibc_layout.h, heapwalk.h), put the
 * blocks in use into the kernel's outstanding table (their frees are then
 * seen) and hand the walk to the ledger, which records it.
 */
#ifndef MW_MWALK_H
#define MW_MWALK_H

#include <stdbool.h>
#include <stdint.h>

struct mw_mprobe;
struct mw_mledger;
struct mw_mwalk;

/* max_blocks: blocks one walk may add to the tables (the rest: not complete). */
struct mw_mwalk *mw_mwalk_new(uint32_t max_blocks);
void mw_mwalk_free(struct mw_mwalk *w);
/* Walk pid's heaps; allocator: the file its probes are on. Says on stderr
 * what it could not walk; verbose: what it found too. */
void mw_mwalk_pid(struct mw_mwalk *w, const struct mw_mprobe *probe, struct mw_mledger *ml,
		  uint32_t pid, const char *allocator, bool verbose);
/* Read the glibc layout of pid's libc into the cache now (the walk made after the
 * attach finds it there); quiet. */
void mw_mwalk_prefetch(struct mw_mwalk *w, uint32_t pid);

/*
 * Before a report of a process whose probes were detached a while: walk its heaps
 * again and tell the ledger which blocks of unknown fate are still in use and
 * which were freed unseen (mw_mledger_confirm). Quiet: a walk that cannot be
 * made leaves their fate unknown.
 */
void mw_mwalk_confirm(struct mw_mwalk *w, struct mw_mledger *ml, uint32_t pid,
		      const char *allocator, bool verbose);

#endif /* MW_MWALK_H */
