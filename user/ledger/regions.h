/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The per-process interval map: an exact model of a traced process's address
 * space, updated by replaying its memory-mapping syscalls. Pure: no I/O, no
 * globals except the string pool.
 *
 * Representation: a sorted dynamic array of non-overlapping regions, searched
 * by binary search. A tree would make inserts O(log n) instead of O(n), but
 * the array is simpler, is scanned in address order without pointer chasing
 * (cache friendly), and n is small and bounded: the kernel caps a process at
 * vm.max_map_count mappings (65530 by default), and the merging below keeps
 * our count at or under the kernel's own VMA count.
 *
 * Invariants after every operation (also after a failed one: an operation
 * that returns -ENOMEM has changed nothing):
 *   - v[i].start < v[i].end, and v[i].end <= v[i + 1].start;
 *   - two touching neighbours never have equal prot, flags, tid, name, cls
 *     and arena (they are merged, keeping the smaller ts_ns), so a glibc
 *     arena grown by hundreds of contiguous mprotects stays one or two
 *     entries.
 */
#ifndef MW_REGIONS_H
#define MW_REGIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>

enum mw_region_flag {
	MW_RF_SHARED = 1 << 0,	  /* MAP_SHARED / 's' in maps */
	MW_RF_FILE = 1 << 1,	  /* file-backed */
	MW_RF_DONTFORK = 1 << 2,  /* MADV_DONTFORK: not copied into a forked child */
	MW_RF_HEAP = 1 << 3,	  /* the brk heap */
	MW_RF_STACK = 1 << 4,	  /* [stack] of the main thread */
	MW_RF_SPECIAL = 1 << 5,	  /* [vdso] [vvar] [vvar_vclock] [vsyscall] [uprobes] */
	MW_RF_BASELINE = 1 << 6,  /* seeded from /proc, creator unknown */
	MW_RF_SHM = 1 << 7,	  /* a SysV shared memory segment (shmat, /SYSV... in maps) */
	MW_RF_GROWSDOWN = 1 << 8, /* MAP_GROWSDOWN: the kernel counts it as stack (VmStk) */
};

/* Regions whose bytes the kernel counts in VmStk too (mm->stack_vm). */
#define MW_RF_STACKLIKE (MW_RF_STACK | MW_RF_GROWSDOWN)

struct mw_region {
	uint64_t start, end; /* [start, end), page aligned */
	uint32_t prot;	     /* PROT_READ|PROT_WRITE|PROT_EXEC (sys/mman.h); 0 = PROT_NONE */
	uint32_t flags;	     /* enum mw_region_flag */
	uint32_t tid;	     /* thread that mapped it; 0 = unknown */
	uint64_t ts_ns;	     /* when it was mapped; 0 = unknown */
	const char *name;    /* interned (mw_intern), NULL for anonymous */
	/* What the region is, set by the allocator analysis (alloc/); both are
	 * carried by split and remap like the attributes above, and take part in
	 * merging. Last, so positional initializers of the fields above still work. */
	uint8_t cls;   /* enum mw_class (class.h); 0 = MW_CLASS_ANON */
	int16_t arena; /* glibc arena id + 1, so that zero means none: 0 = none,
				 * 1 = the main arena, 2 = arena 1, ...; read it with
				 * mw_region_arena() */
};

struct mw_regions {
	struct mw_region *v;
	size_t n, cap;
};

/* What an operation did, in bytes. Accumulated (+=) into, never reset by the
 * operation, so one delta can sum a whole syscall or a whole interval. Always
 * mapped - unmapped == change of mw_regions_bytes(). A pointer to a delta may
 * be NULL when the caller does not want it. */
struct mw_vm_delta {
	uint64_t mapped;    /* bytes of new mapping created */
	uint64_t unmapped;  /* bytes of existing mapping destroyed */
	int64_t accessible; /* change in bytes whose prot != PROT_NONE */
	int64_t reserved;   /* change in bytes whose prot == PROT_NONE */
	int64_t stack;	    /* change in bytes of MW_RF_STACKLIKE regions */
};

/*
 * Signed byte counts summed over a session (deltas, net, unattributed). A real
 * address space is below 2^57 bytes and never gets near 2^63, but a crafted
 * recording can say anything: these wrap (defined) where += would overflow
 * (undefined behaviour).
 */
static inline int64_t mw_i64_add(int64_t a, int64_t b)
{
	return (int64_t)((uint64_t)a + (uint64_t)b);
}

static inline int64_t mw_i64_sub(int64_t a, int64_t b)
{
	return (int64_t)((uint64_t)a - (uint64_t)b);
}

/* The arena of a region in the ids of alloc.h: -1 none, 0 the main arena,
 * 1, 2, ... the other arenas in creation order. */
static inline int mw_region_arena(const struct mw_region *g)
{
	return g->arena - 1;
}

/* Process-wide string pool: equal strings get the same stable pointer, so
 * regions compare names by pointer and never own them. NULL in -> NULL out;
 * also NULL when out of memory (callers that must tell the two apart check
 * their input). Thread safe.
 *
 * Names come from traced processes, which can make any number of them, so
 * they do not live for ever: a long session sweeps now and then. Whoever
 * keeps a name across a sweep marks it (mw_intern_mark) before it; the
 * regions of the process models are the only keepers but for pinned names. */
const char *mw_intern(const char *s);
/* The same for the first len bytes of s (which need not be NUL-terminated). */
const char *mw_intern_len(const char *s, size_t len);
/* A name never swept (a path a probe link keeps for re-attaching). */
const char *mw_intern_pin(const char *s);
/* Keep s (interned, or NULL) through the next sweep. From the sweeping thread. */
void mw_intern_mark(const char *s);
/* Free every name neither marked since the last sweep nor pinned; clear the marks. Returns
 * how many names stay. No pointer to a freed name may be used afterwards. */
size_t mw_intern_sweep(void);
/* Names in the pool and the bytes they and the table take. */
void mw_intern_stats(size_t *count, size_t *bytes);

void mw_regions_init(struct mw_regions *r);
void mw_regions_free(struct mw_regions *r);
void mw_regions_clear(struct mw_regions *r); /* empty, keeps the memory */
/* Replace dst's content with a copy of src; for_fork skips MW_RF_DONTFORK
 * regions, as fork() does. dst must be initialized; 0 or -ENOMEM (then dst
 * is unchanged). */
int mw_regions_copy(struct mw_regions *dst, const struct mw_regions *src, bool for_fork);

/* All ranges below are [start, end) and page aligned (the caller rounds); an
 * empty or inverted range does nothing. Each returns 0 or -ENOMEM. */

/* Map nr, replacing any overlap (MAP_FIXED semantics). */
int mw_regions_map(struct mw_regions *r, const struct mw_region *nr, struct mw_vm_delta *d);
/* Unmap; holes are allowed and only mapped bytes count. */
int mw_regions_unmap(struct mw_regions *r, uint64_t start, uint64_t end, struct mw_vm_delta *d);
/* Change prot of the mapped parts of the range, splitting regions at its ends. */
int mw_regions_protect(struct mw_regions *r, uint64_t start, uint64_t end, uint32_t prot,
		       struct mw_vm_delta *d);
/* flags = (flags & ~clear) | set on the mapped parts (MADV_DONTFORK/DOFORK). */
int mw_regions_set_flags(struct mw_regions *r, uint64_t start, uint64_t end, uint32_t set,
			 uint32_t clear);
/* mremap after it succeeded: old range [old, old+old_len) now lives at
 * [new_addr, new_addr+new_len).
 * In place (new_addr == old): shrink unmaps the tail, growth extends the last
 * region (same attributes).
 * Moved: any destination overlap is unmapped first (MREMAP_FIXED), the source
 * pieces move keeping their attributes (offsets kept), truncated to new_len
 * or with the last piece extended to new_len; the source is unmapped unless
 * keep_old (MREMAP_DONTUNMAP). Bytes that move are neither mapped nor unmapped
 * in the delta: only growth, truncation, the destination overlap and (with
 * keep_old) the whole new mapping count.
 * old_len == 0 (duplicate a shared mapping): the source stays, a new mapping
 * of new_len with the attributes of the region at old appears.
 * Bytes with no source region to copy from (the model missed it, or a hole in
 * the source) take the attributes of the nearest source piece before them,
 * else after them; with no source piece at all they are anonymous private
 * PROT_READ|PROT_WRITE (what mremap is used on) labelled tid and ts_ns. */
int mw_regions_remap(struct mw_regions *r, uint64_t old, uint64_t old_len, uint64_t new_addr,
		     uint64_t new_len, bool keep_old, uint32_t tid, uint64_t ts_ns,
		     struct mw_vm_delta *d);

/* "rw-p" as /proc/PID/maps writes it. */
static inline void mw_region_perm(const struct mw_region *r, char out[5])
{
	out[0] = r->prot & PROT_READ ? 'r' : '-';
	out[1] = r->prot & PROT_WRITE ? 'w' : '-';
	out[2] = r->prot & PROT_EXEC ? 'x' : '-';
	out[3] = r->flags & MW_RF_SHARED ? 's' : 'p';
	out[4] = '\0';
}

/* Set cls and arena (an id as mw_region_arena() returns it: -1 none, 0
 * main, ids from 1) on the mapped parts of the range, splitting regions at
 * its ends and merging what became equal. */
int mw_regions_label(struct mw_regions *r, uint64_t start, uint64_t end, uint8_t cls, int arena_id);

/* Index of the first region that ends after addr (n when none): the region
 * containing addr if any, else the first one above it. */
size_t mw_regions_index(const struct mw_regions *r, uint64_t addr);
/* The region containing addr, or NULL. Valid until the next change. */
const struct mw_region *mw_regions_find(const struct mw_regions *r, uint64_t addr);
uint64_t mw_regions_bytes(const struct mw_regions *r);		  /* VmSize view */
uint64_t mw_regions_accessible_bytes(const struct mw_regions *r); /* prot != PROT_NONE */
/* Coalesce touching regions with equal prot (ignoring other attributes; the
 * first one's are kept) into out (initialized, cleared first, not r): the
 * shape used to compare with /proc/PID/maps. 0 or -ENOMEM. */
int mw_regions_coalesced(const struct mw_regions *r, struct mw_regions *out);

#endif /* MW_REGIONS_H */
