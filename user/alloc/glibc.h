/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * glibc's malloc structures as they lie in a traced process's memory (glibc
 * 2.26 and later, x86-64; user/alloc/SIGNATURES.md section 3, "Arenas already
 * there"): its own list of arenas, walked from main_arena, and the header of a
 * chunk it mapped on its own. Pure: memory comes through a read function, so
 * the walk is tested on a made-up image and run on a live process alike.
 */
#ifndef MW_GLIBC_H
#define MW_GLIBC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "ledger/regions.h"

/* Copy len bytes at addr of process pid; 0, or a negative errno. */
typedef int (*mw_mem_read_fn)(void *ctx, uint32_t pid, uint64_t addr, void *buf, size_t len);

struct mw_mem {
	mw_mem_read_fn read;
	void *ctx;
};

#define MW_GLIBC_HEAP_MAX (64ULL << 20) /* HEAP_MAX_SIZE: a heap's size and alignment */
#define MW_GLIBC_STATE_SIZE 2200	/* sizeof(struct malloc_state), 2.26 and later */
#define MW_GLIBC_MP_SIZE 136		/* sizeof(struct malloc_par), 2.35 and later */
#define MW_GLIBC_MP_HP_PAGESIZE 48	/* offsetof(struct malloc_par, hp_pagesize) */
#define MW_GLIBC_MAX_ARENAS 4096
#define MW_GLIBC_MAX_HEAPS 65536 /* in all */

/* How the arenas present at attach are known. */
enum mw_arenas_how {
	MW_ARENAS_UNKNOWN = 0, /* not verified: the count is unknown */
	MW_ARENAS_NONE,	       /* no mapping has a glibc heap's shape: there are none */
	MW_ARENAS_MAIN_ARENA,  /* glibc's list, from main_arena found in libc's symbols */
	MW_ARENAS_LAYOUT,      /* glibc's list, found through heap_info/malloc_state checked
				* field by field */
	MW_ARENAS_SHAPE,       /* by shape alone: only in replays of recordings made before
				* the list was read, as those runs reported */
};

struct mw_glibc_heap {
	uint64_t base;
	uint64_t rw;	/* heap_info.mprotect_size: its read-write part */
	uint32_t arena; /* 0, 1, ...: oldest arena first */
};

struct mw_glibc_arenas {
	enum mw_arenas_how how;
	uint64_t heap_max;	     /* the heaps' size: 64 MiB, or 4 huge pages (hugetlb=2) */
	uint64_t main_arena;	     /* its address; 0 when not found */
	uint32_t narenas;	     /* besides main_arena */
	struct mw_glibc_heap *heaps; /* each arena's heaps, first heap first; malloc'd */
	size_t nheaps;
	const char *why; /* static: where the list came from, or why it is unknown */
};

/*
 * glibc's arena list of process pid. main_arena: its address from libc's symbols,
 * or 0: then the heaps are found among maps (heap_max-aligned anonymous memory)
 * and each is checked field by field (heap_info.ar_ptr at the arena that opens the
 * arena's first heap, prev links back to it, mprotect_size equal to the read-write
 * part maps shows, the arena's top inside its heaps and system_mem their sum), and
 * main_arena is where the arenas' next pointers lead into libc's data. Fills out
 * (out->heaps malloc'd; mw_glibc_arenas_free). Never fails: out->how says what is
 * known. heap_max: 0 for the default.
 */
void mw_glibc_arenas_read(const struct mw_mem *mem, uint32_t pid, const struct mw_regions *maps,
			  uint64_t main_arena, uint64_t heap_max, struct mw_glibc_arenas *out);
void mw_glibc_arenas_free(struct mw_glibc_arenas *g);

/* Whether [start, start + len) may hold a glibc heap, by shape: heap_max-aligned
 * anonymous private read-write memory. Necessary, never sufficient. */
bool mw_glibc_heap_candidate(const struct mw_regions *maps, uint64_t base, uint64_t heap_max);
/* Whether maps shows any heap candidate at all. */
bool mw_glibc_any_candidate(const struct mw_regions *maps, uint64_t heap_max);

/*
 * A chunk glibc mapped on its own starts with prev_size 0 and its size with
 * IS_MMAPPED (2) set and no other flag: the first 16 bytes of a mapping of len
 * bytes it made for malloc. Only glibc writes that header.
 */
bool mw_glibc_is_chunk_header(const uint64_t words[2], uint64_t len);

/* A heap_info's arena: the malloc_state a first heap holds right after it
 * (ar_ptr == base + 48, or base + 32 before glibc 2.35). */
bool mw_glibc_first_heap(uint64_t base, uint64_t ar_ptr, uint64_t prev);
/* The first heap's base that holds the arena at ar_ptr, or 0. */
uint64_t mw_glibc_heap_of_arena(uint64_t ar_ptr, uint64_t heap_max);

/* Chunks glibc mapped on its own among the anonymous read-write mappings of maps,
 * read off their headers: appends [start, len) pairs to *v (malloc'd, *n of them,
 * at most max). Returns 0 or -ENOMEM. */
struct mw_range {
	uint64_t start, len;
};
int mw_glibc_find_chunks(const struct mw_mem *mem, uint32_t pid, const struct mw_regions *maps,
			 struct mw_range **v, size_t *n, size_t max);

#endif /* MW_GLIBC_H */
