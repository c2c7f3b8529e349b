// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Summary-time diagnoses from the process model and its allocator analysis. */
#include <inttypes.h>
#include <stdio.h>
#include "alloc.h"
#include "diagnose.h"
#include "ledger/format.h"

#define MIB (1ULL << 20)
/* A thread-heavy process with few arenas: threads queue on arena locks. */
#define THREADS_PER_ARENA 4
/* An arena past its first heap, or this committed, keeps growing. */
#define ARENA_BIG (64 * MIB)
/* A main heap this large that never shrank. */
#define MAIN_HEAP_BIG (64 * MIB)

static struct mw_diag *add(struct mw_diag *out, int max, int *n, const char *kind)
{
	if (*n >= max)
		return NULL;
	out[*n] = (struct mw_diag){ .kind = kind };
	return &out[(*n)++];
}

const struct mw_resident_map *mw_diag_resident(const struct mw_process *p, bool *earlier)
{
	*earlier = false;
	if (p->rmap.known)
		return &p->rmap;
	*earlier = true;
	return p->exited && p->rmap_last.known ? &p->rmap_last : NULL;
}

/* The diagnosis is about these bytes; rm: the resident reading (NULL: unknown), res: the
 * memory's resident bytes in it. */
static void set_bytes(struct mw_diag *d, uint64_t mapped, uint64_t committed,
		      const struct mw_resident_map *rm, bool earlier, uint64_t res)
{
	d->has_bytes = true;
	d->mapped = mapped;
	d->committed = committed;
	d->resident_known = rm != NULL;
	d->resident_earlier = rm && earlier;
	d->resident = rm ? res : 0;
	d->resident_ts_ns = rm ? rm->ts_ns : 0;
}

/* Committed but mostly not in memory: address space that grew, not memory kept. */
static bool not_resident(const struct mw_diag *d)
{
	return d->resident_known && d->resident * MW_DIAG_RESIDENT_DIVISOR < d->committed;
}

/* ", 66M resident", ", 66M resident when last read before it ended", ", resident unknown" */
static void resident_words(char *buf, size_t size, const struct mw_diag *d)
{
	char r[32];

	if (!d->resident_known) {
		snprintf(buf, size, "resident unknown");
		return;
	}
	mw_fmt_size(r, sizeof(r), (int64_t)d->resident);
	snprintf(buf, size, "%s resident%s", r,
		 d->resident_earlier ? " when last read before it ended" : "");
}

static uint64_t arena_resident(const struct mw_resident_map *rm, int id)
{
	return rm && id >= 0 && (size_t)id < rm->narenas ? rm->by_arena[id] : 0;
}

static uint64_t main_heap_bytes(const struct mw_process *p)
{
	uint64_t n = 0;

	for (size_t i = 0; i < p->regions.n; i++)
		if (p->regions.v[i].flags & MW_RF_HEAP)
			n += p->regions.v[i].end - p->regions.v[i].start;
	return n;
}

/* An arena past its first heap or ARENA_BIG committed: memory kept, or (most of it not
 * resident) address space only. */
static void diag_arena(struct mw_diag *d, const struct mw_arena *ar,
		       const struct mw_resident_map *rm, bool earlier)
{
	char a[32], b[32], r[80];

	set_bytes(d, ar->reserved, ar->committed, rm, earlier, arena_resident(rm, ar->id));
	mw_fmt_size(a, sizeof(a), (int64_t)ar->committed);
	mw_fmt_size(b, sizeof(b), (int64_t)ar->reserved);
	resident_words(r, sizeof(r), d);
	if (not_resident(d)) {
		d->kind = "arena_grown_not_resident";
		snprintf(d->message, sizeof(d->message),
			 "arena %d (created by thread %" PRIu32
			 ") has %zu heaps, %s committed of %s reserved, but only %s: its "
			 "address space grew, not its memory (never written, or given back)",
			 ar->id, ar->creator_tid, ar->nheaps, a, b, r);
		snprintf(d->remedy, sizeof(d->remedy),
			 "none for memory now: its committed pages count against the commit "
			 "limit (overcommit_memory=2) and become resident when written");
		return;
	}
	snprintf(d->message, sizeof(d->message),
		 "arena %d (created by thread %" PRIu32 ") has %zu heaps, %s committed of %s "
		 "reserved, %s, %s trimmed",
		 ar->id, ar->creator_tid, ar->nheaps, a, b, r, ar->trimmed ? "some" : "nothing");
	snprintf(d->remedy, sizeof(d->remedy),
		 "find what its threads keep allocating; MALLOC_ARENA_MAX bounds the number "
		 "of such arenas, jemalloc/tcmalloc return memory more readily");
}

/* A main heap of MAIN_HEAP_BIG never trimmed: kept, or (most of it not resident) the break
 * raised over memory never touched or given back page by page. */
static void diag_main_heap(struct mw_diag *d, const struct mw_process *p,
			   const struct mw_resident_map *rm, bool earlier)
{
	uint64_t heap = main_heap_bytes(p);
	char a[32], r[80];

	set_bytes(d, heap, heap, rm, earlier, rm ? rm->by_class[MW_CLASS_MAIN_HEAP] : 0);
	mw_fmt_size(a, sizeof(a), (int64_t)heap);
	resident_words(r, sizeof(r), d);
	if (not_resident(d)) {
		d->kind = "main_heap_not_resident";
		snprintf(d->message, sizeof(d->message),
			 "the main heap (brk) is %s and was not trimmed back while traced, but "
			 "only %s: the break grew, not the memory (never written, or given back)",
			 a, r);
		snprintf(d->remedy, sizeof(d->remedy),
			 "none for memory now: its pages count against the commit limit "
			 "(overcommit_memory=2) and become resident when written");
		return;
	}
	snprintf(d->message, sizeof(d->message),
		 "the main heap (brk) is %s and was not trimmed back while traced: its top "
		 "may be pinned by a live block (allocator probes would show which); %s",
		 a, r);
	snprintf(d->remedy, sizeof(d->remedy),
		 "a lower M_TRIM_THRESHOLD_ (MALLOC_TRIM_THRESHOLD_), malloc_trim(0) after "
		 "large frees, or another allocator");
}

int mw_diagnose(const struct mw_process *p, int arena_limit, struct mw_diag *out, int max)
{
	size_t narenas = p->alloc ? mw_alloc_narenas(p->alloc) : 0;
	enum mw_allocator al = p->alloc ? mw_alloc_allocator(p->alloc) : MW_ALLOCATOR_UNKNOWN;
	bool known = mw_alloc_arenas_known(p->alloc), earlier;
	const struct mw_resident_map *rm = mw_diag_resident(p, &earlier);
	uint64_t reserved = 0, committed = 0;
	struct mw_diag *d;
	char a[32], r[80];
	int n = 0;

	if (al != MW_ALLOCATOR_GLIBC)
		return 0;
	for (size_t i = 0; i < narenas; i++) {
		reserved += mw_alloc_arena(p->alloc, i)->reserved;
		committed += mw_alloc_arena(p->alloc, i)->committed;
	}
	/* glibc's limit counts the main arena too. Only with every arena known:
	 * arenas at attach that could not be verified are not counted as none. */
	if (arena_limit > 0 && known && narenas + 1 >= (size_t)arena_limit &&
	    (d = add(out, max, &n, "arenas_at_limit"))) {
		/* What the arenas besides main hold, so many per thread: memory or addresses. */
		set_bytes(d, reserved, committed, rm, earlier,
			  rm ? rm->by_class[MW_CLASS_ARENA_HEAP] : 0);
		mw_fmt_size(a, sizeof(a), (int64_t)committed);
		resident_words(r, sizeof(r), d);
		snprintf(d->message, sizeof(d->message),
			 "%zu arenas besides main: glibc's limit of %d arenas is reached; "
			 "new threads now share existing arenas; their heaps: %s committed, %s",
			 narenas, arena_limit, a, r);
		snprintf(d->remedy, sizeof(d->remedy),
			 "if memory, not lock contention, is the problem: a lower MALLOC_ARENA_MAX "
			 "(or GLIBC_TUNABLES=glibc.malloc.arena_max), or jemalloc/tcmalloc");
	}
	if (known && p->nthreads >= THREADS_PER_ARENA * (narenas + 1) &&
	    (d = add(out, max, &n, "threads_share_arenas"))) {
		snprintf(d->message, sizeof(d->message),
			 "%zu threads share %zu arenas (main included)", p->nthreads, narenas + 1);
		snprintf(
			d->remedy, sizeof(d->remedy),
			"expected at the arena limit; if malloc-heavy threads contend, a higher "
			"MALLOC_ARENA_MAX, or an allocator with per-thread caches (jemalloc, tcmalloc)");
	}
	for (size_t i = 0; i < narenas; i++) {
		const struct mw_arena *ar = mw_alloc_arena(p->alloc, i);

		if (ar->nheaps < 2 && ar->committed < ARENA_BIG)
			continue;
		d = add(out, max, &n, "arena_growing");
		if (!d)
			break;
		diag_arena(d, ar, rm, earlier);
	}
	if (main_heap_bytes(p) >= MAIN_HEAP_BIG && !mw_alloc_main_trimmed(p->alloc) &&
	    (d = add(out, max, &n, "main_heap_not_trimmed")))
		diag_main_heap(d, p, rm, earlier);
	return n;
}
