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
	out[*n].kind = kind;
	out[*n].message[0] = out[*n].remedy[0] = '\0';
	return &out[(*n)++];
}

static uint64_t main_heap_bytes(const struct mw_process *p)
{
	uint64_t n = 0;

	for (size_t i = 0; i < p->regions.n; i++)
		if (p->regions.v[i].flags & MW_RF_HEAP)
			n += p->regions.v[i].end - p->regions.v[i].start;
	return n;
}

int mw_diagnose(const struct mw_process *p, int arena_limit, struct mw_diag *out, int max)
{
	size_t narenas = p->alloc ? mw_alloc_narenas(p->alloc) : 0;
	enum mw_allocator al = p->alloc ? mw_alloc_allocator(p->alloc) : MW_ALLOCATOR_UNKNOWN;
	bool known = mw_alloc_arenas_known(p->alloc);
	struct mw_diag *d;
	char a[32], b[32];
	int n = 0;

	if (al != MW_ALLOCATOR_GLIBC)
		return 0;
	/* glibc's limit counts the main arena too. Only with every arena known:
	 * arenas at attach that could not be verified are not counted as none. */
	if (arena_limit > 0 && known && narenas + 1 >= (size_t)arena_limit &&
	    (d = add(out, max, &n, "arenas_at_limit"))) {
		snprintf(d->message, sizeof(d->message),
			 "%zu arenas besides main: glibc's limit of %d arenas is reached; "
			 "new threads now share existing arenas",
			 narenas, arena_limit);
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
		mw_fmt_size(a, sizeof(a), (int64_t)ar->committed);
		mw_fmt_size(b, sizeof(b), (int64_t)ar->reserved);
		snprintf(d->message, sizeof(d->message),
			 "arena %d (created by thread %" PRIu32
			 ") has %zu heaps, %s committed of %s "
			 "reserved, %s trimmed",
			 ar->id, ar->creator_tid, ar->nheaps, a, b,
			 ar->trimmed ? "some" : "nothing");
		snprintf(
			d->remedy, sizeof(d->remedy),
			"find what its threads keep allocating; MALLOC_ARENA_MAX bounds the number "
			"of such arenas, jemalloc/tcmalloc return memory more readily");
	}
	if (main_heap_bytes(p) >= MAIN_HEAP_BIG && !mw_alloc_main_trimmed(p->alloc) &&
	    (d = add(out, max, &n, "main_heap_not_trimmed"))) {
		mw_fmt_size(a, sizeof(a), (int64_t)main_heap_bytes(p));
		snprintf(d->message, sizeof(d->message),
			 "the main heap (brk) is %s and was not trimmed back while traced: its top "
			 "may be pinned by a live block (allocator probes would show which)",
			 a);
		snprintf(d->remedy, sizeof(d->remedy),
			 "a lower M_TRIM_THRESHOLD_ (MALLOC_TRIM_THRESHOLD_), malloc_trim(0) after "
			 "large frees, or another allocator");
	}
	return n;
}
