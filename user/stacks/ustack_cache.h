/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* A bounded cache of completed unwinds, checked against each new capture.
 * An entry is keyed by (pid, pc) and keeps the return addresses it found and
 * the offset in the stack copy where each was read. A capture reuses it only
 * when every one of those words is equal in its own copy, so a hit gives the
 * frames a full unwind of that copy would give; anything else is a miss. Pure:
 * no libdw, no /proc, unit-tested on hand-made copies. */
#ifndef MW_USTACK_CACHE_H
#define MW_USTACK_CACHE_H

#include <stddef.h>
#include <stdint.h>

#define MW_UCACHE_MAXF 64 /* longer unwinds are not cached */

enum mw_ucache_stop {
	MW_UCACHE_END,	/* the unwinder reached the outermost frame */
	MW_UCACHE_MAX,	/* stopped at the caller's max frames */
	MW_UCACHE_COPY, /* stopped where the stack copy (or CFI) ran out */
};

struct mw_ucache_entry {
	uint64_t pc;
	uint64_t tick; /* last use; 0 = free */
	uint32_t pid;
	uint32_t copy_len; /* stack_len of the capture that made it */
	uint16_t n;	   /* frames in ips */
	uint16_t stop;	   /* enum mw_ucache_stop */
	uint32_t read_end; /* END with every read in the copy: just past the highest byte read,
			    * from rsp (the same for every capture it verifies); else 0 */
	uint64_t ips[MW_UCACHE_MAXF];
	uint32_t offs[MW_UCACHE_MAXF]; /* offs[i], i >= 1: where ips[i] lies in the copy */
};

struct mw_ucache_stats {
	uint64_t hits, misses, inserts, evictions, entries, bytes;
};

struct mw_ucache {
	struct mw_ucache_entry *e; /* nsets * MW_UCACHE_WAYS, allocated on first insert */
	uint32_t nsets;
	uint64_t tick;
	uint32_t hit_read_end; /* the last hit's entry's read_end */
	struct mw_ucache_stats st;
};

#define MW_UCACHE_WAYS 4

/* nsets is rounded up to a power of two; capacity = nsets * MW_UCACHE_WAYS. */
void mw_ucache_init(struct mw_ucache *c, uint32_t nsets);
void mw_ucache_free(struct mw_ucache *c);
/* Frames for a capture (pid, pc, copy of stack_len bytes at rsp), up to max:
 * the number copied to ips, or 0 on a miss. A hit leaves its entry's read_end in
 * c->hit_read_end. */
size_t mw_ucache_lookup(struct mw_ucache *c, uint32_t pid, uint64_t pc, const uint8_t *stack,
			uint32_t stack_len, uint64_t *ips, size_t max);
/* Remember an unwind: ips[0] = pc, offs[i] for i >= 1. n must be 1..MW_UCACHE_MAXF
 * (others are ignored). Replaces the least recently used way of the set. */
void mw_ucache_insert(struct mw_ucache *c, uint32_t pid, const uint64_t *ips, const uint32_t *offs,
		      size_t n, enum mw_ucache_stop stop, uint32_t copy_len, uint32_t read_end);
/* Forget every entry of pid (its mappings changed). */
void mw_ucache_drop_pid(struct mw_ucache *c, uint32_t pid);

#endif /* MW_USTACK_CACHE_H */
