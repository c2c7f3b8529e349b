// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Summary-time diagnoses (alloc/diagnose.c) on processes built from syscall streams through
 * the model and the allocator analysis, as a session feeds them. */
#include <stdbool.h>
#include <stdlib.h>
#include <sys/mman.h>
#include "alloc/alloc.h"
#include "alloc/diagnose.h"
#include "ledger/model.h"
#include "ledger/procfs.h"
#include "ledger/rss_class.h"
#include "events.h"
#include "unit.h"

#define PG 4096ULL
#define MB (1024ULL * 1024)
#define PID 600
#define RW (PROT_READ | PROT_WRITE)
#define HEAP_START 0x55555555a000ULL
#define HEAP_END 0x55555557b000ULL

static const char *glibc_maps =
	"555555554000-555555556000 r--p 00000000 fe:01 1 /usr/bin/w\n"
	"55555555a000-55555557b000 rw-p 00000000 00:00 0 [heap]\n"
	"7ffff7d80000-7ffff7da6000 r--p 00000000 fe:01 2 /usr/lib/x86_64-linux-gnu/libc.so.6\n"
	"7ffffffde000-7ffffffff000 rw-p 00000000 00:00 0 [stack]\n";

static struct mw_model m;
static struct mw_process *p;
static uint64_t ts;

static void start(void)
{
	struct mw_alloc_ev evs[8];
	struct mw_regions r;

	mw_model_init(&m, PG);
	m.alloc_ops = mw_alloc_model_ops;
	mw_regions_init(&r);
	CHECK_EQ_INT(mw_maps_parse(glibc_maps, &r), 0);
	p = mw_model_process(&m, PID);
	CHECK(p != NULL);
	ts = 5000;
	CHECK_EQ_INT(mw_model_seed(p, &r, 0, mw_regions_bytes(&r), 0x21000, ts), 0);
	mw_regions_free(&r);
	p->alloc = mw_alloc_new(); /* freed with the model */
	CHECK(p->alloc != NULL);
	mw_alloc_seed(p->alloc, &p->regions, p->start_brk, NULL, evs, 8);
	mw_process_thread(p, PID);
}

static void step(uint32_t tid, enum mw_sys sys, int64_t ret, uint64_t a0, uint64_t a1, uint64_t a2,
		 uint64_t a3)
{
	struct mw_event ev = ut_syscall(PID, tid, ts += 1000, sys, ret, a0, a1, a2, a3, 0);
	struct mw_alloc_ev evs[8];
	struct mw_apply a;

	CHECK_EQ_INT(mw_model_apply(&m, &ev, &a), 0);
	mw_alloc_apply(p->alloc, p, &ev, &a, evs, 8);
}

static void brk_to(uint64_t end)
{
	step(PID, MW_SYS_BRK, (int64_t)end, end, 0, 0, 0);
}

/* glibc's first arena of a thread: an aligned reservation, its tail trimmed, the first commit. */
static void new_arena(uint32_t tid, uint64_t base)
{
	step(tid, MW_SYS_MMAP, (int64_t)base, 0, 128 * MB, PROT_NONE,
	     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE);
	step(tid, MW_SYS_MUNMAP, 0, base + 64 * MB, 64 * MB, 0, 0);
	step(tid, MW_SYS_MPROTECT, 0, base, 135168, RW, 0);
}

/* The diagnoses of p: how many, and the one of this kind (NULL when absent). */
static const struct mw_diag *find(const char *kind, int limit, int *n)
{
	static struct mw_diag d[8];

	*n = mw_diagnose(p, limit, d, 8);
	for (int i = 0; i < *n; i++)
		if (!strcmp(d[i].kind, kind))
			return &d[i];
	return NULL;
}

TEST(diagnose_main_heap_not_trimmed_from_64_mib)
{
	uint64_t end = HEAP_END;
	const struct mw_diag *d;
	int n;

	start();
	brk_to(end); /* brk(NULL) */
	/* Grow in glibc's steps to one page short of 64 MiB: not yet. */
	while (end + 0x21000 < HEAP_START + 64 * MB) {
		end += 0x21000;
		brk_to(end);
	}
	end = HEAP_START + 64 * MB - PG;
	brk_to(end);
	CHECK(find("main_heap_not_trimmed", 16, &n) == NULL);
	CHECK_EQ_INT(n, 0);
	/* 64 MiB, never trimmed: diagnosed, with its size. */
	end += PG;
	brk_to(end);
	d = find("main_heap_not_trimmed", 16, &n);
	CHECK_EQ_INT(n, 1);
	CHECK(d != NULL);
	if (d) {
		CHECK(strstr(d->message, "the main heap (brk) is 64M and was not trimmed") != NULL);
		CHECK(strstr(d->remedy, "M_TRIM_THRESHOLD_") != NULL);
	}
	/* Grown on to 70 MiB, then trimmed by a page: glibc does trim it, no diagnosis. */
	end = HEAP_START + 70 * MB;
	brk_to(end);
	CHECK(find("main_heap_not_trimmed", 16, &n) != NULL);
	brk_to(end - PG);
	CHECK(find("main_heap_not_trimmed", 16, &n) == NULL);
	CHECK_EQ_INT(n, 0);
	mw_model_free(&m);
}

TEST(diagnose_small_main_heap_is_not_diagnosed)
{
	int n;

	start();
	brk_to(HEAP_END);
	brk_to(HEAP_END + 8 * MB);
	CHECK(find("main_heap_not_trimmed", 16, &n) == NULL);
	CHECK_EQ_INT(n, 0);
	mw_model_free(&m);
}

TEST(diagnose_arenas_at_limit_counts_main)
{
	const struct mw_diag *d;
	int n;

	start();
	for (uint32_t i = 0; i < 3; i++)
		new_arena(700 + i, 0x7f0000000000ULL + i * 128 * MB);
	CHECK_EQ_INT(mw_alloc_narenas(p->alloc), 3);
	/* 3 arenas and main: a limit of 5 is not reached, 4 is. */
	CHECK(find("arenas_at_limit", 5, &n) == NULL);
	d = find("arenas_at_limit", 4, &n);
	CHECK(d != NULL);
	if (d)
		CHECK(strstr(d->message, "3 arenas besides main: glibc's limit of 4 arenas") !=
		      NULL);
	/* Unknown limit: no such diagnosis. */
	CHECK(find("arenas_at_limit", 0, &n) == NULL);
	mw_model_free(&m);
}

TEST(diagnose_only_for_glibc)
{
	int n;

	start();
	brk_to(HEAP_END);
	brk_to(HEAP_START + 80 * MB);
	CHECK(find("main_heap_not_trimmed", 16, &n) != NULL);
	/* Not known to be glibc's malloc (no allocator analysis): glibc's diagnoses do not apply. */
	mw_alloc_free(p->alloc);
	p->alloc = NULL;
	CHECK_EQ_INT(mw_diagnose(p, 16, (struct mw_diag[8]){}, 8), 0);
	mw_model_free(&m);
}

/* An arena of thread 700 whose first heap is all committed (64 MiB): arena_growing by size. */
static const struct mw_arena *full_arena(void)
{
	uint64_t base = 0x7f0000000000ULL;

	new_arena(700, base);
	step(700, MW_SYS_MPROTECT, 0, base + 135168, 64 * MB - 135168, RW, 0);
	CHECK_EQ_INT(mw_alloc_narenas(p->alloc), 1);
	return mw_alloc_narenas(p->alloc) ? mw_alloc_arena(p->alloc, 0) : NULL;
}

/* A reading of smaps placed on the classes, as a report makes it: the arena and main heap. */
static void set_rmap(struct mw_resident_map *rm, int arena, uint64_t arena_bytes,
		     uint64_t heap_bytes, uint64_t at)
{
	mw_resident_map_clear(rm);
	rm->by_arena = calloc((size_t)arena + 1, sizeof(*rm->by_arena));
	CHECK(rm->by_arena != NULL);
	if (!rm->by_arena)
		return;
	rm->narenas = (size_t)arena + 1;
	rm->by_arena[arena] = arena_bytes;
	rm->by_class[MW_CLASS_ARENA_HEAP] = arena_bytes;
	rm->by_class[MW_CLASS_MAIN_HEAP] = heap_bytes;
	rm->ts_ns = at;
	rm->known = true;
}

TEST(diagnose_arena_growing_by_resident_bytes)
{
	const struct mw_arena *ar;
	const struct mw_diag *d;
	int n;

	start();
	ar = full_arena();
	if (!ar)
		goto out;
	/* No reading: judged by committed bytes as before, and it says resident is unknown. */
	d = find("arena_growing", 16, &n);
	CHECK(d != NULL);
	if (d) {
		CHECK(strstr(d->message, "64M committed of 64M reserved, resident unknown") !=
		      NULL);
		CHECK(d->has_bytes && !d->resident_known);
		CHECK_EQ_INT(d->mapped, 64 * MB);
		CHECK_EQ_INT(d->committed, 64 * MB);
	}
	/* 60 MiB of it resident: memory kept. */
	set_rmap(&p->rmap, ar->id, 60 * MB, 0, 7777);
	d = find("arena_growing", 16, &n);
	CHECK(d != NULL);
	if (d) {
		CHECK(strstr(d->message, "64M committed of 64M reserved, 60M resident, nothing") !=
		      NULL);
		CHECK(d->resident_known && !d->resident_earlier);
		CHECK_EQ_INT(d->resident, 60 * MB);
		CHECK_EQ_INT(d->resident_ts_ns, 7777);
	}
	CHECK(find("arena_grown_not_resident", 16, &n) == NULL);
	/* 16 MiB, a quarter, is still memory; a page less is not: address space only. */
	set_rmap(&p->rmap, ar->id, 16 * MB, 0, 7777);
	CHECK(find("arena_growing", 16, &n) != NULL);
	set_rmap(&p->rmap, ar->id, 16 * MB - PG, 0, 7777);
	/* Other arenas' resident bytes are theirs, not this one's. */
	p->rmap.by_class[MW_CLASS_ARENA_HEAP] += 100 * MB;
	CHECK(find("arena_growing", 16, &n) == NULL);
	d = find("arena_grown_not_resident", 16, &n);
	CHECK_EQ_INT(n, 1);
	CHECK(d != NULL);
	if (d) {
		CHECK(strstr(d->message, "but only 16M resident: its address space grew") != NULL);
		CHECK(strstr(d->remedy, "none for memory now") != NULL);
		CHECK_EQ_INT(d->resident, 16 * MB - PG);
	}
out:
	mw_model_free(&m);
}

TEST(diagnose_resident_after_the_end_is_the_last_reading)
{
	const struct mw_arena *ar;
	const struct mw_diag *d;
	int n;

	start();
	ar = full_arena();
	if (!ar)
		goto out;
	/* A reading kept from an earlier report counts only once the process has ended: while it
	 * lives, this report's reading is the only one (unknown here). */
	set_rmap(&p->rmap_last, ar->id, 2 * MB, 0, 6000);
	d = find("arena_growing", 16, &n);
	CHECK(d != NULL && !d->resident_known);
	p->exited = true;
	d = find("arena_grown_not_resident", 16, &n);
	CHECK(d != NULL);
	if (d) {
		CHECK(strstr(d->message, "only 2.0M resident when last read before it ended") !=
		      NULL);
		CHECK(d->resident_known && d->resident_earlier);
		CHECK_EQ_INT(d->resident_ts_ns, 6000);
	}
	/* A reading of this report wins. */
	set_rmap(&p->rmap, ar->id, 50 * MB, 0, 9000);
	d = find("arena_growing", 16, &n);
	CHECK(d != NULL && d->resident_known && !d->resident_earlier);
	if (d)
		CHECK_EQ_INT(d->resident_ts_ns, 9000);
out:
	mw_model_free(&m);
}

TEST(diagnose_main_heap_by_resident_bytes)
{
	const struct mw_diag *d;
	int n;

	start();
	brk_to(HEAP_END);
	brk_to(HEAP_START + 80 * MB);
	d = find("main_heap_not_trimmed", 16, &n);
	CHECK(d != NULL);
	if (d)
		CHECK(strstr(d->message, "(allocator probes would show which); resident unknown") !=
		      NULL);
	set_rmap(&p->rmap, 0, 0, 70 * MB, 8000);
	d = find("main_heap_not_trimmed", 16, &n);
	CHECK(d != NULL);
	if (d) {
		CHECK(strstr(d->message, "the main heap (brk) is 80M and was not trimmed") != NULL);
		CHECK(strstr(d->message, "; 70M resident") != NULL);
		CHECK_EQ_INT(d->mapped, 80 * MB);
		CHECK_EQ_INT(d->resident, 70 * MB);
	}
	/* The arena heaps' bytes are not the main heap's. */
	set_rmap(&p->rmap, 0, 70 * MB, 1 * MB, 8000);
	CHECK(find("main_heap_not_trimmed", 16, &n) == NULL);
	d = find("main_heap_not_resident", 16, &n);
	CHECK(d != NULL);
	if (d)
		CHECK(strstr(d->message, "but only 1.0M resident: the break grew") != NULL);
	mw_model_free(&m);
}

TEST(diagnose_arenas_at_limit_says_what_they_hold)
{
	const struct mw_diag *d;
	int n;

	start();
	for (uint32_t i = 0; i < 3; i++)
		new_arena(700 + i, 0x7f0000000000ULL + i * 128 * MB);
	d = find("arenas_at_limit", 4, &n);
	CHECK(d != NULL);
	if (d)
		CHECK(strstr(d->message, "their heaps: 396K committed, resident unknown") != NULL);
	set_rmap(&p->rmap, 1, 300 * 1024, 0, 8000);
	d = find("arenas_at_limit", 4, &n);
	CHECK(d != NULL);
	if (d) {
		CHECK(strstr(d->message, "396K committed, 300K resident") != NULL);
		CHECK_EQ_INT(d->mapped, 3 * 64 * MB);
		CHECK_EQ_INT(d->resident, 300 * 1024);
	}
	mw_model_free(&m);
}
