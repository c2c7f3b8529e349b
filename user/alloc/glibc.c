// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * glibc's own arena list and chunk headers, read from a process's memory (see
 * glibc.h). The layouts, x86-64, glibc 2.26 and later (checked with gdb and
 * libc6-dbg on glibc 2.36, `ptype /o`):
 *
 *   heap_info      ar_ptr 0, prev 8, size 16, mprotect_size 24, pagesize 32 (2.35+);
 *                  48 bytes (32 before 2.35), then, in an arena's first heap, the
 *                  arena's malloc_state itself.
 *   malloc_state   top 96, next 2160, system_mem 2184; 2200 bytes.
 *
 * Every arena but main_arena lives at the start of its first heap, so an arena
 * names its first heap, the first heap's heap_info points back at it, and the
 * arena's top chunk lies in its last heap, whose prev links lead back to the
 * first. main_arena (in libc's data) heads the circular list of arenas linked
 * by next. The process runs on while it is read: a walk that does not hold
 * together is taken again, and after a few tries the answer is "unknown".
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "base/grow.h"
#include "glibc.h"

#define HI_SIZE 48     /* sizeof(heap_info), 2.35 and later */
#define HI_SIZE_OLD 32 /* before 2.35: no pagesize field */
#define ST_TOP 96
#define ST_NEXT 2160
#define ST_SYSTEM_MEM 2184
#define PAGE 4096ULL
#define TRIES 4
#define MAX_CANDIDATES 65536

struct heap_info {
	uint64_t ar_ptr, prev, size, mprotect_size, pagesize;
};

struct walk {
	const struct mw_mem *mem;
	uint32_t pid;
	uint64_t heap_max;
	const struct mw_regions *maps; /* NULL: do not check heaps against maps */
	struct mw_glibc_heap *heaps;
	size_t n, cap;
	uint32_t narenas;
	const char *why; /* why the walk failed */
};

static int rd(const struct walk *w, uint64_t addr, void *buf, size_t len)
{
	if (!w->mem || !w->mem->read)
		return -ENOSYS;
	return w->mem->read(w->mem->ctx, w->pid, addr, buf, len);
}

static uint64_t word(const unsigned char *b, size_t off)
{
	uint64_t v;

	memcpy(&v, b + off, sizeof(v));
	return v;
}

static bool is_anon_rw(const struct mw_region *g)
{
	return g && !g->name &&
	       !(g->flags &
		 (MW_RF_FILE | MW_RF_SHARED | MW_RF_HEAP | MW_RF_STACK | MW_RF_SPECIAL)) &&
	       g->prot == (PROT_READ | PROT_WRITE);
}

bool mw_glibc_first_heap(uint64_t base, uint64_t ar_ptr, uint64_t prev)
{
	return !prev && (ar_ptr == base + HI_SIZE || ar_ptr == base + HI_SIZE_OLD);
}

uint64_t mw_glibc_heap_of_arena(uint64_t ar_ptr, uint64_t heap_max)
{
	if (!heap_max)
		heap_max = MW_GLIBC_HEAP_MAX;
	if (ar_ptr > HI_SIZE && !((ar_ptr - HI_SIZE) & (heap_max - 1)))
		return ar_ptr - HI_SIZE;
	if (ar_ptr > HI_SIZE_OLD && !((ar_ptr - HI_SIZE_OLD) & (heap_max - 1)))
		return ar_ptr - HI_SIZE_OLD;
	return 0;
}

bool mw_glibc_heap_candidate(const struct mw_regions *maps, uint64_t base, uint64_t heap_max)
{
	const struct mw_region *g = mw_regions_find(maps, base);

	if (!heap_max)
		heap_max = MW_GLIBC_HEAP_MAX;
	return !(base & (heap_max - 1)) && is_anon_rw(g);
}

/* The candidates' bases in address order, at most max of them; returns the count. */
static size_t candidates(const struct mw_regions *maps, uint64_t heap_max, uint64_t *out,
			 size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < maps->n && n < max; i++) {
		const struct mw_region *g = &maps->v[i];
		uint64_t b;

		if (!is_anon_rw(g))
			continue;
		for (b = (g->start + heap_max - 1) & ~(heap_max - 1); b < g->end && n < max;
		     b += heap_max) {
			if (out)
				out[n] = b;
			n++;
		}
	}
	return n;
}

bool mw_glibc_any_candidate(const struct mw_regions *maps, uint64_t heap_max)
{
	return candidates(maps, heap_max ? heap_max : MW_GLIBC_HEAP_MAX, NULL, 1) > 0;
}

static int read_heap_info(const struct walk *w, uint64_t base, struct heap_info *h)
{
	unsigned char b[40];
	int err = rd(w, base, b, sizeof(b));

	if (err)
		return err;
	h->ar_ptr = word(b, 0);
	h->prev = word(b, 8);
	h->size = word(b, 16);
	h->mprotect_size = word(b, 24);
	h->pagesize = word(b, 32);
	return 0;
}

/* The read-write part maps shows at base, up to heap_max; 0 when base is unmapped
 * or not anonymous read-write memory. */
static uint64_t maps_rw(const struct mw_regions *maps, uint64_t base, uint64_t heap_max)
{
	uint64_t cur = base, lim = base + heap_max;
	const struct mw_region *g;

	while (cur < lim && (g = mw_regions_find(maps, cur)) && is_anon_rw(g))
		cur = g->end < lim ? g->end : lim;
	return cur - base;
}

static bool push_heap(struct walk *w, uint64_t base, uint64_t rw)
{
	if (w->n >= MW_GLIBC_MAX_HEAPS ||
	    mw_grow(&w->heaps, w->n, &w->cap, sizeof(*w->heaps), 16)) {
		w->why = "too many heaps to read";
		return false;
	}
	w->heaps[w->n++] = (struct mw_glibc_heap){ .base = base, .rw = rw, .arena = w->narenas };
	return true;
}

/* One heap of arena a, checked field by field; its size through *size. */
static bool check_heap(struct walk *w, uint64_t base, uint64_t a, struct heap_info *h)
{
	if (read_heap_info(w, base, h)) {
		w->why = "a heap of glibc's list could not be read";
		return false;
	}
	if (h->ar_ptr != a || !h->size || h->size > h->mprotect_size ||
	    h->mprotect_size > w->heap_max || (h->mprotect_size & (PAGE - 1))) {
		w->why = "a heap of glibc's list does not hold together";
		return false;
	}
	if (w->maps) {
		uint64_t rw = maps_rw(w->maps, base, w->heap_max);

		/* Only the snapshot's own heaps: a heap made since is not in it yet. */
		if (rw && rw != h->mprotect_size) {
			w->why = "a heap's mprotect_size differs from its read-write part in maps";
			return false;
		}
	}
	return true;
}

/* Arena a: its heaps from the one holding top back to its first; appended first
 * heap first. */
static bool walk_arena(struct walk *w, uint64_t a, const unsigned char *st)
{
	uint64_t first = mw_glibc_heap_of_arena(a, w->heap_max);
	uint64_t top = word(st, ST_TOP), sys = word(st, ST_SYSTEM_MEM), sum = 0;
	uint64_t h = top & ~(w->heap_max - 1), top_heap = h;
	size_t start = w->n, k = 0;
	struct heap_info hi;

	if (!first) {
		w->why = "an arena of glibc's list is not at the start of a heap";
		return false;
	}
	for (;;) {
		if (!h || (h & (w->heap_max - 1)) || ++k > MW_GLIBC_MAX_HEAPS ||
		    !check_heap(w, h, a, &hi)) {
			if (!w->why)
				w->why = "an arena's heaps do not link back to its first heap";
			return false;
		}
		if (h == top_heap && (top < h || top >= h + hi.size)) {
			w->why = "an arena's top chunk is not inside its last heap";
			return false;
		}
		sum += hi.size;
		if (!push_heap(w, h, hi.mprotect_size))
			return false;
		if (h == first)
			break;
		h = hi.prev;
	}
	if (hi.prev || sum != sys) {
		w->why = "an arena's system_mem is not the sum of its heaps";
		return false;
	}
	/* Collected last heap first: the first heap goes first. */
	for (size_t i = start, j = w->n - 1; i < j; i++, j--) {
		struct mw_glibc_heap t = w->heaps[i];

		w->heaps[i] = w->heaps[j];
		w->heaps[j] = t;
	}
	return true;
}

/* Every arena on main_arena's list, newest first as glibc links them. */
static bool walk_list(struct walk *w, uint64_t main_arena)
{
	unsigned char *st = malloc(MW_GLIBC_STATE_SIZE);
	uint64_t cur;
	bool ok = false;

	w->n = 0;
	w->narenas = 0;
	w->why = NULL;
	if (!st) {
		w->why = "out of memory";
		return false;
	}
	if (rd(w, main_arena, st, MW_GLIBC_STATE_SIZE)) {
		w->why = "main_arena could not be read";
		goto out;
	}
	for (cur = word(st, ST_NEXT); cur != main_arena; cur = word(st, ST_NEXT)) {
		if (w->narenas >= MW_GLIBC_MAX_ARENAS || !cur) {
			w->why = "glibc's arena list does not lead back to main_arena";
			goto out;
		}
		if (rd(w, cur, st, MW_GLIBC_STATE_SIZE)) {
			w->why = "an arena of glibc's list could not be read";
			goto out;
		}
		if (!walk_arena(w, cur, st))
			goto out;
		w->narenas++;
	}
	ok = true;
out:
	free(st);
	return ok;
}

/* Where libc's data lies (its writable file mapping and the .bss after it). */
static bool in_libc_data(const struct mw_regions *maps, uint64_t addr)
{
	for (size_t i = 0; i < maps->n; i++) {
		const struct mw_region *g = &maps->v[i];
		const char *base;
		uint64_t end;

		if (!g->name || !(g->flags & MW_RF_FILE) || !(g->prot & PROT_WRITE))
			continue;
		base = strrchr(g->name, '/');
		base = base ? base + 1 : g->name;
		if (strncmp(base, "libc.so", 7) && strncmp(base, "libc-", 5))
			continue;
		end = g->end;
		if (i + 1 < maps->n && maps->v[i + 1].start == end && !maps->v[i + 1].name)
			end = maps->v[i + 1].end;
		if (addr >= g->start && addr + MW_GLIBC_STATE_SIZE <= end)
			return true;
	}
	return false;
}

/* Without libc's symbols: from a heap that opens an arena, follow the arenas'
 * next pointers to the one in libc's data. Returns main_arena's address or 0. */
static uint64_t find_main_arena(struct walk *w, const uint64_t *cand, size_t ncand)
{
	unsigned char st[ST_NEXT + 8];

	for (size_t i = 0; i < ncand; i++) {
		struct heap_info h;
		uint64_t cur;

		if (read_heap_info(w, cand[i], &h) ||
		    !mw_glibc_first_heap(cand[i], h.ar_ptr, h.prev))
			continue;
		cur = h.ar_ptr;
		for (uint32_t k = 0; k <= MW_GLIBC_MAX_ARENAS && cur; k++) {
			uint64_t first;

			if (in_libc_data(w->maps, cur))
				return cur;
			first = mw_glibc_heap_of_arena(cur, w->heap_max);
			/* An arena opens a heap maps shows, whose heap_info names it. */
			if (!first || !mw_glibc_heap_candidate(w->maps, first, w->heap_max) ||
			    read_heap_info(w, first, &h) || h.ar_ptr != cur || h.prev)
				break;
			if (rd(w, cur, st, sizeof(st)))
				break;
			cur = word(st, ST_NEXT);
		}
	}
	return 0;
}

static void finish(struct walk *w, struct mw_glibc_arenas *out)
{
	/* glibc links new arenas at the head: number them oldest first. */
	for (size_t i = 0; i < w->n; i++)
		w->heaps[i].arena = w->narenas - 1 - w->heaps[i].arena;
	/* Keep each arena's heaps together, oldest arena first. */
	for (size_t i = 1; i < w->n; i++) {
		struct mw_glibc_heap t = w->heaps[i];
		size_t j = i;

		while (j > 0 && w->heaps[j - 1].arena > t.arena) {
			w->heaps[j] = w->heaps[j - 1];
			j--;
		}
		w->heaps[j] = t;
	}
	out->heaps = w->heaps;
	out->nheaps = w->n;
	out->narenas = w->narenas;
	w->heaps = NULL;
}

void mw_glibc_arenas_read(const struct mw_mem *mem, uint32_t pid, const struct mw_regions *maps,
			  uint64_t main_arena, uint64_t heap_max, struct mw_glibc_arenas *out)
{
	struct walk w = { .mem = mem,
			  .pid = pid,
			  .heap_max = heap_max ? heap_max : MW_GLIBC_HEAP_MAX };
	uint64_t *cand = NULL;
	size_t ncand = 0;

	memset(out, 0, sizeof(*out));
	out->heap_max = w.heap_max;
	if (!main_arena) {
		ncand = candidates(maps, w.heap_max, NULL, MAX_CANDIDATES);
		if (!ncand) {
			out->how = MW_ARENAS_NONE;
			out->why = "no mapping has a glibc heap's shape";
			return;
		}
		cand = malloc(ncand * sizeof(*cand));
		if (!cand) {
			out->why = "out of memory";
			return;
		}
		candidates(maps, w.heap_max, cand, ncand);
		w.maps = maps;
	}
	for (int t = 0; t < TRIES; t++) {
		uint64_t m = main_arena ? main_arena : find_main_arena(&w, cand, ncand);

		if (!m) {
			w.why = "no heap-shaped mapping verified as glibc's (heap_info, malloc_state), "
				"and libc's symbols are not at hand";
			continue;
		}
		if (walk_list(&w, m)) {
			out->how = main_arena ? MW_ARENAS_MAIN_ARENA : MW_ARENAS_LAYOUT;
			out->why = main_arena ? "glibc's main_arena list (libc's symbols)"
					      : "glibc's arena list (heap_info and malloc_state "
						"checked field by field)";
			out->main_arena = m;
			finish(&w, out);
			break;
		}
	}
	if (out->how == MW_ARENAS_UNKNOWN)
		out->why = w.why ? w.why : "glibc's arena list could not be read";
	free(w.heaps);
	free(cand);
}

void mw_glibc_arenas_free(struct mw_glibc_arenas *g)
{
	if (!g)
		return;
	free(g->heaps);
	g->heaps = NULL;
	g->nheaps = 0;
}

bool mw_glibc_is_chunk_header(const uint64_t words[2], uint64_t len)
{
	return words[0] == 0 && words[1] == (len | 2);
}

int mw_glibc_find_chunks(const struct mw_mem *mem, uint32_t pid, const struct mw_regions *maps,
			 struct mw_range **v, size_t *n, size_t max)
{
	struct walk w = { .mem = mem, .pid = pid };
	size_t cap = *n;

	for (size_t i = 0; i < maps->n; i++) {
		const struct mw_region *g = &maps->v[i];
		uint64_t a = g->start;

		if (!is_anon_rw(g))
			continue;
		/* Chunks side by side are one mapping in maps: read header after header. */
		while (a < g->end && *n < max) {
			uint64_t words[2], len;

			if (rd(&w, a, words, sizeof(words)))
				break;
			len = words[1] & ~7ULL;
			if (!len || (len & (PAGE - 1)) || a + len > g->end ||
			    !mw_glibc_is_chunk_header(words, len))
				break;
			if (mw_grow(v, *n, &cap, sizeof(**v), 16))
				return -ENOMEM;
			(*v)[(*n)++] = (struct mw_range){ a, len };
			a += len;
		}
	}
	return 0;
}
