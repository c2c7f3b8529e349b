// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The allocator analysis driven by the syscall streams of user/alloc/SIGNATURES.md,
 * through the process model exactly as a session feeds it. */
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>
#include "alloc/alloc.h"
#include "ledger/model.h"
#include "ledger/procfs.h"
#include "events.h"
#include "unit.h"

#define PG 4096ULL
#define KB 1024ULL
#define MB (1024ULL * 1024)
#define PID 500
#define RW (PROT_READ | PROT_WRITE)
#define NONE PROT_NONE
#define ANON (MAP_PRIVATE | MAP_ANONYMOUS)
#define RESV (MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE)
#define STK (MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK)
#define HEAP_END 0x55555557b000ULL

static const char *glibc_maps =
	"555555554000-555555556000 r--p 00000000 fe:01 1 /usr/bin/w\n"
	"555555556000-555555558000 r-xp 00002000 fe:01 1 /usr/bin/w\n"
	"55555555a000-55555557b000 rw-p 00000000 00:00 0 [heap]\n"
	"7ffff7d80000-7ffff7da6000 r--p 00000000 fe:01 2 /usr/lib/x86_64-linux-gnu/libc.so.6\n"
	"7ffff7da6000-7ffff7efb000 r-xp 00026000 fe:01 2 /usr/lib/x86_64-linux-gnu/libc.so.6\n"
	"7ffff7fc0000-7ffff7fc2000 r-xp 00000000 00:00 0 [vdso]\n"
	"7ffffffde000-7ffffffff000 rw-p 00000000 00:00 0 [stack]\n";

/* A static binary: nothing names the allocator. */
static const char *static_maps = "400000-401000 r--p 00000000 fe:01 1 /usr/bin/s\n"
				 "4c0000-4e1000 rw-p 00000000 00:00 0 [heap]\n"
				 "7ffffffde000-7ffffffff000 rw-p 00000000 00:00 0 [stack]\n";

static struct mw_model m;
static struct mw_process *p;
static struct mw_alloc *al;
static struct mw_alloc_ev evs[64];
static int nev;
static uint64_t ts;

static void start(const char *maps)
{
	struct mw_regions r;

	mw_model_init(&m, PG);
	mw_regions_init(&r);
	CHECK_EQ_INT(mw_maps_parse(maps, &r), 0);
	p = mw_model_process(&m, PID);
	CHECK(p != NULL);
	ts = 5000;
	CHECK_EQ_INT(mw_model_seed(p, &r, 0, mw_regions_bytes(&r), 0x21000, ts), 0);
	mw_regions_free(&r);
	al = mw_alloc_new();
	CHECK(al != NULL);
	nev = mw_alloc_seed(al, &p->regions, p->start_brk, evs, 64);
}

static void finish(void)
{
	mw_alloc_free(al);
	al = NULL;
	mw_model_free(&m);
}

static int step(struct mw_event ev)
{
	struct mw_apply a;

	CHECK_EQ_INT(mw_model_apply(&m, &ev, &a), 0);
	nev = mw_alloc_apply(al, p, &ev, &a, evs, 64);
	return nev;
}

static struct mw_event sc(uint32_t tid, enum mw_sys sys, int64_t ret, uint64_t a0, uint64_t a1,
			  uint64_t a2, uint64_t a3)
{
	return ut_syscall(PID, tid, ts += 1000, sys, ret, a0, a1, a2, a3, (uint64_t)-1);
}

static int mmap_(uint32_t tid, uint64_t ret, uint64_t hint, uint64_t len, uint32_t prot,
		 uint32_t fl)
{
	return step(sc(tid, MW_SYS_MMAP, (int64_t)ret, hint, len, prot, fl));
}

static int munmap_(uint32_t tid, uint64_t addr, uint64_t len)
{
	return step(sc(tid, MW_SYS_MUNMAP, 0, addr, len, 0, 0));
}

static int mprotect_(uint32_t tid, uint64_t addr, uint64_t len, uint32_t prot)
{
	return step(sc(tid, MW_SYS_MPROTECT, 0, addr, len, prot, 0));
}

static int madvise_(uint32_t tid, uint64_t addr, uint64_t len, int advice)
{
	return step(sc(tid, MW_SYS_MADVISE, 0, addr, len, (uint64_t)advice, 0));
}

static int brk_(uint32_t tid, uint64_t ret, uint64_t arg)
{
	return step(sc(tid, MW_SYS_BRK, (int64_t)ret, arg, 0, 0, 0));
}

static void exit_(uint32_t tid)
{
	struct mw_event ev = { .kind = MW_EV_EXIT, .mono_ns = ts += 1000, .pid = PID, .tid = tid };

	step(ev);
}

static const struct mw_region *at(uint64_t addr)
{
	const struct mw_region *g = mw_regions_find(&p->regions, addr);

	CHECK(g != NULL);
	return g ? g : &(const struct mw_region){ .cls = 255, .arena = -99 };
}

/* The one event of the last step, checked for kind, arena, tid and base. */
#define CHECK_ONE(kind_, arena_, tid_, base_)            \
	do {                                             \
		CHECK_EQ_INT(nev, 1);                    \
		CHECK_EQ_INT(evs[0].kind, (kind_));      \
		CHECK_EQ_INT(evs[0].arena, (arena_));    \
		CHECK_EQ_INT(evs[0].tid, (tid_));        \
		CHECK_EQ_HEX(evs[0].base, (base_));      \
		CHECK_EQ_INT(evs[0].pid, PID);           \
		CHECK_EQ_STR(evs[0].source, "syscalls"); \
	} while (0)

#define CHECK_ARENA_STATE(e, res, com, trim, nheaps) \
	do {                                         \
		CHECK_EQ_INT((e).reserved, (res));   \
		CHECK_EQ_INT((e).committed, (com));  \
		CHECK_EQ_INT((e).trimmed, (trim));   \
		CHECK_EQ_INT((e).heaps, (nheaps));   \
	} while (0)

/* Sequence (b): an aligned 128 MiB reservation, tail trimmed, first commit. */
static void create_aligned(uint32_t tid, uint64_t base)
{
	CHECK_EQ_INT(mmap_(tid, base, 0, 128 * MB, NONE, RESV), 0);
	CHECK_EQ_INT(munmap_(tid, base + 64 * MB, 64 * MB), 0);
	CHECK_EQ_INT(mprotect_(tid, base, 135168, RW), 1);
	CHECK_EQ_INT(evs[0].kind, MW_AEV_ARENA_CREATE);
}

/* ---- creation ------------------------------------------------------- */

TEST(alloc_seed_glibc_allocator)
{
	start(glibc_maps);
	CHECK_EQ_INT(nev, 1);
	CHECK_EQ_INT(evs[0].kind, MW_AEV_ALLOCATOR);
	CHECK_EQ_INT(evs[0].allocator, MW_ALLOCATOR_GLIBC);
	CHECK_EQ_STR(evs[0].evidence, "libc.so.6 mapped");
	CHECK_EQ_INT(mw_alloc_allocator(al), MW_ALLOCATOR_GLIBC);
	CHECK_EQ_STR(mw_allocator_name(mw_alloc_allocator(al)), "glibc");
	CHECK_EQ_INT(mw_alloc_narenas(al), 0);
	CHECK_EQ_INT(at(0x55555555a000ULL)->cls, MW_CLASS_MAIN_HEAP);
	CHECK_EQ_INT(mw_region_arena(at(0x55555555a000ULL)), 0);
	CHECK_EQ_INT(at(0x7ffffffde000ULL)->cls, MW_CLASS_STACK);
	CHECK_EQ_INT(at(0x7ffff7d80000ULL)->cls, MW_CLASS_FILE);
	CHECK_EQ_INT(at(0x7ffff7fc0000ULL)->cls, MW_CLASS_ANON);
	CHECK_EQ_STR(mw_class_name(MW_CLASS_ARENA_HEAP), "arena_heap");
	CHECK_EQ_STR(mw_class_name(MW_CLASS_STACK_GUARD), "stack_guard");
	finish();
}

TEST(alloc_arena_create_unaligned_a)
{
	const uint64_t r = 0x7f09d0e00000ULL, base = 0x7f09d4000000ULL;
	const struct mw_arena *ar;

	start(glibc_maps);
	CHECK_EQ_INT(mmap_(201, r, 0, 134217728, NONE, RESV), 0);
	CHECK_EQ_INT(munmap_(201, r, 52428800), 0);
	CHECK_EQ_INT(munmap_(201, 0x7f09d8000000ULL, 14680064), 0);
	CHECK_EQ_INT(mprotect_(201, base, 135168, RW), 1);
	CHECK_ONE(MW_AEV_ARENA_CREATE, 1, 201, base);
	CHECK_EQ_INT(evs[0].bytes, 135168);
	CHECK_ARENA_STATE(evs[0], 64 * MB, 135168, 0, 1);
	CHECK_EQ_INT(evs[0].ts_ns, ts);
	CHECK_EQ_INT(mw_alloc_narenas(al), 1);
	ar = mw_alloc_arena(al, 0);
	CHECK_EQ_INT(ar->id, 1);
	CHECK_EQ_INT(ar->creator_tid, 201);
	CHECK_EQ_INT(ar->nthreads, 1);
	CHECK_EQ_INT(ar->threads[0], 201);
	CHECK_EQ_HEX(ar->heaps[0].base, base);
	CHECK_EQ_HEX(ar->heaps[0].rw_end, base + 135168);
	CHECK_EQ_INT(ar->heaps[0].size, 64 * MB);
	/* Both parts of the heap are labelled; nothing is left of the rest. */
	CHECK_EQ_INT(at(base)->cls, MW_CLASS_ARENA_HEAP);
	CHECK_EQ_INT(mw_region_arena(at(base)), 1);
	CHECK_EQ_HEX(at(base)->end, base + 135168);
	CHECK_EQ_INT(at(base + 135168)->cls, MW_CLASS_ARENA_HEAP);
	CHECK_EQ_INT(at(base + 135168)->prot, NONE);
	CHECK_EQ_HEX(at(base + 135168)->end, base + 64 * MB);
	CHECK(mw_regions_find(&p->regions, r) == NULL);
	CHECK(mw_regions_find(&p->regions, base + 64 * MB) == NULL);
	mw_alloc_free(mw_alloc_fork(al));
	finish();
}

TEST(alloc_arena_aligned_b_next_heap_c_and_delete)
{
	const uint64_t base = 0x7f9fcc000000ULL, next = 0x7f9fd0000000ULL;
	const struct mw_arena *ar;

	start(glibc_maps);
	CHECK_EQ_INT(mmap_(301, base, 0, 128 * MB, NONE, RESV), 0);
	CHECK_EQ_INT(munmap_(301, next, 67108864), 0);
	CHECK_EQ_INT(mprotect_(301, base, 135168, RW), 1);
	CHECK_ONE(MW_AEV_ARENA_CREATE, 1, 301, base);
	CHECK_ARENA_STATE(evs[0], 64 * MB, 135168, 0, 1);
	/* (c): the next heap at glibc's remembered aligned_heap_area. */
	CHECK_EQ_INT(mmap_(301, next, next, 67108864, NONE, RESV), 0);
	CHECK_EQ_INT(mprotect_(301, next, 135168, RW), 1);
	CHECK_ONE(MW_AEV_ARENA_HEAP_NEW, 1, 301, next);
	CHECK_EQ_INT(evs[0].bytes, 135168);
	CHECK_ARENA_STATE(evs[0], 128 * MB, 2 * 135168, 0, 2);
	CHECK_EQ_INT(mw_alloc_narenas(al), 1);
	CHECK_EQ_INT(at(next)->cls, MW_CLASS_ARENA_HEAP);
	CHECK_EQ_INT(mw_region_arena(at(next)), 1);
	/* Growth goes to the heap it touches. */
	CHECK_EQ_INT(mprotect_(301, next + 135168, 4 * PG, RW), 1);
	CHECK_ONE(MW_AEV_ARENA_GROW, 1, 301, next);
	CHECK_ARENA_STATE(evs[0], 128 * MB, 2 * 135168 + 4 * PG, 0, 2);
	/* The emptied non-first heap is unmapped whole. */
	CHECK_EQ_INT(munmap_(301, next, 67108864), 1);
	CHECK_ONE(MW_AEV_ARENA_HEAP_DELETE, 1, 301, next);
	CHECK_EQ_INT(evs[0].bytes, 64 * MB);
	CHECK_ARENA_STATE(evs[0], 64 * MB, 135168, 0, 1);
	ar = mw_alloc_arena(al, 0);
	CHECK_EQ_INT(ar->nheaps, 1);
	CHECK_EQ_HEX(ar->heaps[0].base, base);
	CHECK(mw_regions_find(&p->regions, next) == NULL);
	finish();
}

TEST(alloc_arena_hint_lost)
{
	const uint64_t first = 0x7f9488000000ULL, kept = 0x7f9484000000ULL;
	const uint64_t odd = 0x7f947e200000ULL, a128 = 0x7f9470000000ULL;

	start(glibc_maps);
	/* (d)-like first heap: a 64 MiB reservation that came back aligned. */
	CHECK_EQ_INT(mmap_(401, first, 0, 64 * MB, NONE, RESV), 0);
	CHECK_EQ_INT(mprotect_(401, first, 135168, RW), 1);
	CHECK_ONE(MW_AEV_ARENA_CREATE, 1, 401, first);
	/* Hint lost but the result is aligned: kept, the next heap. */
	CHECK_EQ_INT(mmap_(401, kept, 0x7f948c000000ULL, 64 * MB, NONE, RESV), 0);
	CHECK_EQ_INT(mprotect_(401, kept, 135168, RW), 1);
	CHECK_ONE(MW_AEV_ARENA_HEAP_NEW, 1, 401, kept);
	CHECK_ARENA_STATE(evs[0], 128 * MB, 2 * 135168, 0, 2);
	/* Hint lost, unaligned: unmapped at once (no event), then (a) from scratch. */
	CHECK_EQ_INT(mmap_(401, odd, 0x7f9480000000ULL, 64 * MB, NONE, RESV), 0);
	CHECK_EQ_INT(munmap_(401, odd, 64 * MB), 0);
	CHECK_EQ_INT(mmap_(401, a128 + 0x200000, 0, 128 * MB, NONE, RESV), 0);
	CHECK_EQ_INT(munmap_(401, a128 + 0x200000, 0x3e00000), 0);
	CHECK_EQ_INT(munmap_(401, a128 + 0x8000000, 0x200000), 0);
	CHECK_EQ_INT(mprotect_(401, a128 + 0x4000000, 135168, RW), 1);
	CHECK_ONE(MW_AEV_ARENA_HEAP_NEW, 1, 401, a128 + 0x4000000);
	CHECK_ARENA_STATE(evs[0], 192 * MB, 3 * 135168, 0, 3);
	CHECK_EQ_INT(mw_alloc_narenas(al), 1);
	finish();
}

TEST(alloc_arena_128m_fails_d_and_rlimit_storm)
{
	const uint64_t x = 0x7f5551200000ULL, aligned = 0x7f5558000000ULL;

	start(glibc_maps);
	/* RLIMIT_AS: 128 MiB refused, 64 MiB unaligned and given back, a page instead. */
	for (int i = 0; i < 5; i++) {
		uint64_t chunk = 0x7f5560000000ULL + (uint64_t)i * PG;

		CHECK_EQ_INT(mmap_(501, (uint64_t)-ENOMEM, 0, 128 * MB, NONE, RESV), 0);
		CHECK_EQ_INT(mmap_(501, x, 0, 64 * MB, NONE, RESV), 0);
		CHECK_EQ_INT(munmap_(501, x, 64 * MB), 0);
		CHECK_EQ_INT(mmap_(501, chunk, 0, PG, RW, ANON), 0);
		CHECK_EQ_INT(at(chunk)->cls, MW_CLASS_ANON);
	}
	/* A reservation refused outright. */
	CHECK_EQ_INT(mmap_(501, (uint64_t)-ENOMEM, 0, 64 * MB, NONE, RESV), 0);
	CHECK_EQ_INT(mprotect_(501, x, 135168, RW), 0);
	CHECK_EQ_INT(mw_alloc_narenas(al), 0);
	/* (d) with an aligned result: the arena is real. */
	CHECK_EQ_INT(mmap_(501, (uint64_t)-ENOMEM, 0, 128 * MB, NONE, RESV), 0);
	CHECK_EQ_INT(mmap_(501, aligned, 0, 64 * MB, NONE, RESV), 0);
	CHECK_EQ_INT(mprotect_(501, aligned, 135168, RW), 1);
	CHECK_ONE(MW_AEV_ARENA_CREATE, 1, 501, aligned);
	CHECK_ARENA_STATE(evs[0], 64 * MB, 135168, 0, 1);
	finish();
}

/* ---- growth and shrink ---------------------------------------------- */

TEST(alloc_arena_growth_222_mprotects)
{
	const uint64_t base = 0x7f9fcc000000ULL;
	uint64_t end = base + 135168;
	const struct mw_arena *ar;

	start(glibc_maps);
	create_aligned(601, base);
	for (int i = 0; i < 222; i++) {
		CHECK_EQ_INT(mprotect_(601, end, PG, RW), 1);
		CHECK_EQ_INT(evs[0].kind, MW_AEV_ARENA_GROW);
		CHECK_EQ_INT(evs[0].bytes, PG);
		end += PG;
	}
	CHECK_EQ_INT(evs[0].committed, 135168 + 222 * PG);
	CHECK_EQ_INT(evs[0].reserved, 64 * MB);
	ar = mw_alloc_arena(al, 0);
	CHECK_EQ_INT(ar->committed, 135168 + 222 * PG);
	CHECK_EQ_HEX(ar->heaps[0].rw_end, end);
	CHECK_EQ_HEX(ar->heaps[0].rw_high, end);
	/* The creator growing is no reuse. */
	CHECK_EQ_INT(ar->nthreads, 1);
	/* The heap stays two regions: its RW part and its PROT_NONE rest. */
	CHECK_EQ_HEX(at(base)->end, end);
	CHECK_EQ_HEX(at(end)->end, base + 64 * MB);
	/* A multi-page growth (a 16 MiB malloc after the threshold rose). */
	CHECK_EQ_INT(mprotect_(601, end, 16 * MB, RW), 1);
	CHECK_EQ_INT(evs[0].committed, 135168 + 222 * PG + 16 * MB);
	/* Not at the RW end, or not RW: no growth. */
	CHECK_EQ_INT(mprotect_(601, base + 32 * MB, PG, RW), 0);
	CHECK_EQ_INT(mprotect_(601, end + 16 * MB, PG, PROT_READ), 0);
	/* Beyond the heap's end: no growth. */
	CHECK_EQ_INT(mprotect_(601, end + 16 * MB, 64 * MB, RW), 0);
	finish();
}

TEST(alloc_arena_shrink_dontneed)
{
	const uint64_t base = 0x7f9fcc000000ULL;
	uint64_t end = base + 135168 + 1 * MB;
	const struct mw_arena *ar;

	start(glibc_maps);
	create_aligned(701, base);
	CHECK_EQ_INT(mprotect_(701, base + 135168, 1 * MB, RW), 1);
	/* Freeing 100 KiB chunks top-down: one DONTNEED each, at the top. */
	for (int i = 1; i <= 3; i++) {
		uint64_t x = end - (uint64_t)i * 100 * KB;

		CHECK_EQ_INT(madvise_(701, x, 100 * KB, MADV_DONTNEED), 1);
		CHECK_ONE(MW_AEV_ARENA_SHRINK, 1, 701, base);
		CHECK_EQ_INT(evs[0].bytes, 100 * KB);
		CHECK(!evs[0].shrink_fixed);
		/* RW stays a high-water mark. */
		CHECK_ARENA_STATE(evs[0], 64 * MB, 135168 + 1 * MB, (uint64_t)i * 100 * KB, 1);
	}
	/* Below the top (a hole in the used part): not a shrink. */
	CHECK_EQ_INT(madvise_(701, base + 64 * KB, 8 * KB, MADV_DONTNEED), 0);
	/* Regrowth up to the old RW end makes no syscalls; the next shrink may end
	 * anywhere up to it. */
	CHECK_EQ_INT(madvise_(701, end - 200 * KB, 148 * KB, MADV_DONTNEED), 1);
	CHECK_ARENA_STATE(evs[0], 64 * MB, 135168 + 1 * MB, 448 * KB, 1);
	/* Other advice: nothing. */
	CHECK_EQ_INT(madvise_(701, end - 400 * KB, 100 * KB, MADV_FREE), 0);
	/* Another thread's free shrinks it too (free goes to the chunk's arena),
	 * without attaching that thread. */
	CHECK_EQ_INT(madvise_(702, end - 300 * KB, 100 * KB, MADV_DONTNEED), 1);
	CHECK_ONE(MW_AEV_ARENA_SHRINK, 1, 702, base);
	ar = mw_alloc_arena(al, 0);
	CHECK_EQ_INT(ar->committed, 135168 + 1 * MB);
	CHECK_EQ_INT(ar->trimmed, 548 * KB);
	CHECK_EQ_INT(ar->nthreads, 1);
	CHECK_EQ_HEX(ar->heaps[0].rw_end, end);
	CHECK_EQ_INT(at(end - PG)->prot, RW);
	finish();
}

TEST(alloc_arena_shrink_map_fixed)
{
	const uint64_t base = 0x7f9fcc000000ULL;
	const uint64_t end = base + 135168 + 1 * MB, x = end - 256 * KB;
	const struct mw_arena *ar;

	start(glibc_maps);
	create_aligned(801, base);
	CHECK_EQ_INT(mprotect_(801, base + 135168, 1 * MB, RW), 1);
	/* overcommit_memory=2: fresh PROT_NONE over the top. */
	CHECK_EQ_INT(mmap_(801, x, x, 256 * KB, NONE, ANON | MAP_FIXED), 1);
	CHECK_ONE(MW_AEV_ARENA_SHRINK, 1, 801, base);
	CHECK(evs[0].shrink_fixed);
	CHECK_EQ_INT(evs[0].bytes, 256 * KB);
	CHECK_ARENA_STATE(evs[0], 64 * MB, 135168 + 1 * MB - 256 * KB, 256 * KB, 1);
	ar = mw_alloc_arena(al, 0);
	CHECK_EQ_HEX(ar->heaps[0].rw_end, x);
	CHECK_EQ_HEX(ar->heaps[0].rw_high, end);
	/* The new PROT_NONE part is the heap's and merges with its rest. */
	CHECK_EQ_INT(at(x)->cls, MW_CLASS_ARENA_HEAP);
	CHECK_EQ_INT(mw_region_arena(at(x)), 1);
	CHECK_EQ_HEX(at(x)->start, x);
	CHECK_EQ_HEX(at(x)->end, base + 64 * MB);
	/* Later growth mprotects again, from the new RW end. */
	CHECK_EQ_INT(mprotect_(801, x, 8 * PG, RW), 1);
	CHECK_ONE(MW_AEV_ARENA_GROW, 1, 801, base);
	CHECK_ARENA_STATE(evs[0], 64 * MB, 135168 + 1 * MB - 256 * KB + 8 * PG, 256 * KB, 1);
	finish();
}

/* ---- threads and arenas --------------------------------------------- */

TEST(alloc_arena_reuse_by_another_thread)
{
	const uint64_t base = 0x7f9fcc000000ULL, next = 0x7f9fd0000000ULL;
	uint64_t end = base + 135168;
	const struct mw_arena *ar;

	start(glibc_maps);
	create_aligned(901, base);
	/* 902 attached with no syscall; visible when it grows the arena. */
	CHECK_EQ_INT(mprotect_(902, end, PG, RW), 2);
	CHECK_EQ_INT(evs[0].kind, MW_AEV_ARENA_GROW);
	CHECK_EQ_INT(evs[1].kind, MW_AEV_ARENA_REUSE);
	CHECK_EQ_INT(evs[1].arena, 1);
	CHECK_EQ_INT(evs[1].tid, 902);
	CHECK_EQ_HEX(evs[1].base, base);
	end += PG;
	/* Once only. */
	CHECK_EQ_INT(mprotect_(902, end, PG, RW), 1);
	CHECK_EQ_INT(evs[0].kind, MW_AEV_ARENA_GROW);
	ar = mw_alloc_arena(al, 0);
	CHECK_EQ_INT(ar->nthreads, 2);
	CHECK_EQ_INT(ar->threads[0], 901);
	CHECK_EQ_INT(ar->threads[1], 902);
	CHECK_EQ_INT(ar->creator_tid, 901);
	/* 902 is attached now: its new heap belongs to arena 1. */
	CHECK_EQ_INT(mmap_(902, next, next, 64 * MB, NONE, RESV), 0);
	CHECK_EQ_INT(mprotect_(902, next, 135168, RW), 1);
	CHECK_ONE(MW_AEV_ARENA_HEAP_NEW, 1, 902, next);
	/* The creator exits; its arena goes to the free list and a new thread
	 * takes it silently: seen as reuse when it grows it. */
	exit_(901);
	CHECK_EQ_INT(mprotect_(903, end + PG, PG, RW), 2);
	CHECK_EQ_INT(evs[1].kind, MW_AEV_ARENA_REUSE);
	CHECK_EQ_INT(evs[1].tid, 903);
	CHECK_EQ_INT(mw_alloc_narenas(al), 1);
	finish();
}

TEST(alloc_arena_max_1_no_reservations)
{
	start(glibc_maps);
	/* MALLOC_ARENA_MAX=1: workers use the main arena: brk and mmapped chunks. */
	for (uint32_t t = 1; t <= 8; t++) {
		uint64_t old = HEAP_END + (t - 1) * 0x21000ULL;

		CHECK_EQ_INT(brk_(1000 + t, old + 0x21000, old + 0x21000), 1);
		CHECK_EQ_INT(evs[0].kind, MW_AEV_MAIN_HEAP_GROW);
		CHECK_EQ_INT(evs[0].tid, 1000 + t);
		CHECK_EQ_INT(mmap_(1000 + t, 0x7f7000000000ULL + t * MB, 0, 208896, RW, ANON), 0);
	}
	CHECK_EQ_INT(mw_alloc_narenas(al), 0);
	finish();
}

TEST(alloc_twenty_threads_fifteen_arenas)
{
	const uint64_t top = 0x7f8000000000ULL;

	start(glibc_maps);
	/* 20 threads on 2 CPUs: 15 reservations (16 arenas with main). */
	for (uint32_t i = 0; i < 15; i++) {
		uint64_t base = top - (uint64_t)(i + 1) * 128 * MB;

		create_aligned(2000 + i, base);
		CHECK_EQ_INT(evs[0].arena, (int)i + 1);
		CHECK_EQ_INT(evs[0].tid, 2000 + i);
		CHECK_EQ_HEX(evs[0].base, base);
	}
	/* The other 5 reuse arenas silently, seen when they grow them. */
	for (uint32_t i = 15; i < 20; i++) {
		uint64_t base = top - (uint64_t)(i - 14) * 128 * MB;

		CHECK_EQ_INT(mprotect_(2000 + i, base + 135168, PG, RW), 2);
		CHECK_EQ_INT(evs[1].kind, MW_AEV_ARENA_REUSE);
		CHECK_EQ_INT(evs[1].arena, (int)i - 14);
	}
	CHECK_EQ_INT(mw_alloc_narenas(al), 15);
	for (size_t i = 0; i < 15; i++) {
		const struct mw_arena *ar = mw_alloc_arena(al, i);

		CHECK_EQ_INT(ar->id, (int)i + 1);
		CHECK_EQ_INT(ar->creator_tid, 2000 + i);
		CHECK_EQ_INT(ar->reserved, 64 * MB);
		CHECK_EQ_INT(ar->committed, 135168 + (i < 5 ? PG : 0));
		CHECK_EQ_INT(ar->nthreads, i < 5 ? 2 : 1);
	}
	CHECK(mw_alloc_arena(al, 15) == NULL);
	finish();
}

/* ---- thread stacks -------------------------------------------------- */

TEST(alloc_thread_stack_guard_4096)
{
	const uint64_t b = 0x7f3000000000ULL;

	start(glibc_maps);
	CHECK_EQ_INT(mmap_(100, b, 0, 8392704, NONE, STK), 0);
	CHECK_EQ_INT(mprotect_(100, b + PG, 8388608, RW), 1);
	CHECK_ONE(MW_AEV_THREAD_STACK, -1, 100, b);
	CHECK_EQ_INT(evs[0].bytes, 8392704);
	CHECK_EQ_INT(evs[0].guard, PG);
	CHECK_EQ_INT(evs[0].reserved, 8392704);
	CHECK_EQ_INT(evs[0].committed, 8388608);
	CHECK_EQ_INT(at(b)->cls, MW_CLASS_STACK_GUARD);
	CHECK_EQ_HEX(at(b)->end, b + PG);
	CHECK_EQ_INT(at(b + PG)->cls, MW_CLASS_THREAD_STACK);
	CHECK_EQ_HEX(at(b + PG)->end, b + 8392704);
	CHECK_EQ_INT(mw_region_arena(at(b + PG)), -1);
	/* The child's exit madvise is no arena shrink. */
	CHECK_EQ_INT(madvise_(101, b, 8368128, MADV_DONTNEED), 0);
	/* Reused from the cache with a bigger guard, then a smaller one. */
	CHECK_EQ_INT(mprotect_(100, b, 65536, NONE), 0);
	CHECK_EQ_INT(at(b + PG)->cls, MW_CLASS_STACK_GUARD);
	CHECK_EQ_HEX(at(b)->end, b + 65536);
	CHECK_EQ_INT(mprotect_(100, b + PG, 61440, RW), 0);
	CHECK_EQ_HEX(at(b)->end, b + PG);
	CHECK_EQ_INT(at(b + PG)->cls, MW_CLASS_THREAD_STACK);
	CHECK_EQ_HEX(at(b + PG)->end, b + 8392704);
	/* Evicted from the cache by the joiner. */
	CHECK_EQ_INT(munmap_(100, b, 8392704), 0);
	CHECK_EQ_INT(mw_alloc_narenas(al), 0);
	finish();
}

TEST(alloc_thread_stack_guard_0_and_cached)
{
	const uint64_t b = 0x7f3000000000ULL;

	start(glibc_maps);
	CHECK_EQ_INT(mmap_(100, b, 0, 8388608, RW, STK), 1);
	CHECK_ONE(MW_AEV_THREAD_STACK, -1, 100, b);
	CHECK_EQ_INT(evs[0].bytes, 8388608);
	CHECK_EQ_INT(evs[0].guard, 0);
	CHECK_EQ_INT(at(b)->cls, MW_CLASS_THREAD_STACK);
	CHECK_EQ_HEX(at(b)->end, b + 8388608);
	/* A PROT_NONE stack whose guard mprotect comes from another thread is
	 * labelled but not reported. */
	CHECK_EQ_INT(mmap_(100, b - 16 * MB, 0, 8392704, NONE, STK), 0);
	CHECK_EQ_INT(mprotect_(200, b - 16 * MB + PG, 8388608, RW), 0);
	CHECK_EQ_INT(at(b - 16 * MB)->cls, MW_CLASS_THREAD_STACK);
	CHECK_EQ_INT(at(b - 16 * MB + PG)->cls, MW_CLASS_THREAD_STACK);
	/* Cached stack reuse makes no syscalls: nothing to see, nothing emitted. */
	CHECK_EQ_INT(mw_alloc_narenas(al), 0);
	finish();
}

/* ---- main heap ------------------------------------------------------ */

TEST(alloc_main_heap_grow_and_trim)
{
	const uint64_t s = 0x55555555a000ULL;
	uint64_t end = HEAP_END;

	start(glibc_maps);
	/* brk(NULL): no change. */
	CHECK_EQ_INT(brk_(PID, end, 0), 0);
	for (int i = 0; i < 30; i++) {
		CHECK_EQ_INT(brk_(PID, end + 0x21000, end + 0x21000), 1);
		CHECK_ONE(MW_AEV_MAIN_HEAP_GROW, 0, PID, s);
		CHECK_EQ_INT(evs[0].bytes, 0x21000);
		end += 0x21000;
		CHECK_EQ_INT(evs[0].reserved, end - s);
		CHECK_EQ_INT(evs[0].committed, end - s);
	}
	/* The heap stays one region, labelled. */
	CHECK_EQ_HEX(at(s)->end, end);
	CHECK_EQ_INT(at(end - PG)->cls, MW_CLASS_MAIN_HEAP);
	CHECK_EQ_INT(mw_region_arena(at(s)), 0);
	/* Free all: one negative brk keeping the pad. */
	CHECK_EQ_INT(brk_(PID, s + 0x22000, s + 0x22000), 1);
	CHECK_ONE(MW_AEV_MAIN_HEAP_TRIM, 0, PID, s);
	CHECK_EQ_INT(evs[0].bytes, end - (s + 0x22000));
	CHECK_EQ_INT(evs[0].committed, 0x22000);
	CHECK_EQ_INT(evs[0].trimmed, end - (s + 0x22000));
	/* A failed brk returns the old break: nothing. */
	CHECK_EQ_INT(brk_(PID, s + 0x22000, s + (1ULL << 40)), 0);
	/* malloc_trim's DONTNEED inside the main heap is no arena event. */
	CHECK_EQ_INT(madvise_(PID, s + 0x2000, 0x10000, MADV_DONTNEED), 0);
	finish();
}

/* ---- look-alikes (user/alloc/SIGNATURES.md section 7) --------------------------- */

TEST(alloc_lookalike_v8)
{
	const uint64_t r = 0x3a1c00000000ULL + 0x11000;

	start(glibc_maps);
	/* Over-reserve 512 KiB, trim to a 256 KiB aligned block, commit at its base. */
	CHECK_EQ_INT(mmap_(10, r, 0, 512 * KB, NONE, RESV), 0);
	CHECK_EQ_INT(munmap_(10, r, 0x40000 - 0x11000), 0);
	CHECK_EQ_INT(munmap_(10, 0x3a1c00080000ULL, 0x11000), 0);
	CHECK_EQ_INT(mprotect_(10, 0x3a1c00040000ULL, 256 * KB, RW), 0);
	CHECK_EQ_INT(madvise_(10, 0x3a1c00040000ULL, 256 * KB, MADV_DONTFORK), 0);
	/* The 512 MiB code region. */
	CHECK_EQ_INT(mmap_(10, 0x3a2000000000ULL, 0, 512 * MB, NONE, RESV), 0);
	CHECK_EQ_INT(mprotect_(10, 0x3a2000000000ULL, 256 * KB, RW), 0);
	CHECK_EQ_INT(mw_alloc_narenas(al), 0);
	finish();
}

TEST(alloc_lookalike_jvm)
{
	const uint64_t meta = 0x7f6000000000ULL;

	start(glibc_maps);
	/* Metaspace: exactly 64 MiB, aligned, PROT_NONE, NORESERVE... */
	CHECK_EQ_INT(mmap_(20, meta, 0, 64 * MB, NONE, RESV), 0);
	/* ...committed with MAP_FIXED RW mmaps, not mprotect. */
	CHECK_EQ_INT(mmap_(20, meta, meta, 2 * MB, RW, ANON | MAP_FIXED), 0);
	CHECK_EQ_INT(mmap_(20, meta + 2 * MB, meta + 2 * MB, 2 * MB, RW, ANON | MAP_FIXED), 0);
	/* Even an mprotect after that is no confirmation any more. */
	CHECK_EQ_INT(mprotect_(20, meta + 4 * MB, 2 * MB, RW), 0);
	/* 1 GiB and 240 MiB reservations. */
	CHECK_EQ_INT(mmap_(20, 0x7f4000000000ULL, 0, 1024 * MB, NONE, RESV), 0);
	CHECK_EQ_INT(mprotect_(20, 0x7f4000000000ULL, 135168, RW), 0);
	CHECK_EQ_INT(mmap_(20, 0x7f5000000000ULL, 0, 240 * MB, NONE, RESV), 0);
	CHECK_EQ_INT(mmap_(20, 0x7f5000000000ULL, 0x7f5000000000ULL, 8 * MB, RW, ANON | MAP_FIXED),
		     0);
	/* HotSpot's guard zones in a thread stack. */
	CHECK_EQ_INT(mmap_(21, 0x7f3000000000ULL, 0, 1 * MB, RW, STK), 1);
	CHECK_EQ_INT(mprotect_(21, 0x7f3000000000ULL, 16384, NONE), 0);
	CHECK_EQ_INT(at(0x7f3000000000ULL)->cls, MW_CLASS_STACK_GUARD);
	CHECK_EQ_INT(at(0x7f3000000000ULL + 16384)->cls, MW_CLASS_THREAD_STACK);
	CHECK_EQ_INT(mw_alloc_narenas(al), 0);
	finish();
}

TEST(alloc_lookalike_go_asan_and_others)
{
	const uint64_t go = 0xc000000000ULL;

	start(glibc_maps);
	/* Go: 64 MiB PROT_NONE without NORESERVE, committed with MAP_FIXED. */
	CHECK_EQ_INT(mmap_(30, go, go, 64 * MB, NONE, ANON), 0);
	CHECK_EQ_INT(mmap_(30, go, go, 4 * MB, RW, ANON | MAP_FIXED), 0);
	CHECK_EQ_INT(mmap_(31, go + 64 * MB, go + 64 * MB, 64 * MB, NONE, ANON), 0);
	CHECK_EQ_INT(mprotect_(31, go + 64 * MB, 135168, RW), 0);
	/* ASan: huge fixed NORESERVE shadow maps. */
	CHECK_EQ_INT(mmap_(32, 0x7fff8000ULL, 0x7fff8000ULL, 0x8fff7000ULL, RW, RESV | MAP_FIXED),
		     0);
	CHECK_EQ_INT(mmap_(32, 0x10007fff8000ULL, 0x10007fff8000ULL, 64 * MB, NONE,
			   RESV | MAP_FIXED),
		     0);
	CHECK_EQ_INT(mprotect_(32, 0x10007fff8000ULL, 135168, RW), 0);
	/* Reservation by one thread, mprotect by another. */
	CHECK_EQ_INT(mmap_(33, 0x7f2000000000ULL, 0, 64 * MB, NONE, RESV), 0);
	CHECK_EQ_INT(mprotect_(34, 0x7f2000000000ULL, 135168, RW), 0);
	/* Reservation, an unrelated call, then the mprotect. */
	CHECK_EQ_INT(mmap_(35, 0x7f2100000000ULL, 0, 64 * MB, NONE, RESV), 0);
	CHECK_EQ_INT(madvise_(35, 0x7f2100000000ULL, PG, MADV_DONTNEED), 0);
	CHECK_EQ_INT(mprotect_(35, 0x7f2100000000ULL, 135168, RW), 0);
	/* Three munmaps trimming one reservation is not glibc's. */
	CHECK_EQ_INT(mmap_(36, 0x7f2200000000ULL - 4 * MB, 0, 128 * MB, NONE, RESV), 0);
	CHECK_EQ_INT(munmap_(36, 0x7f2200000000ULL - 4 * MB, 2 * MB), 0);
	CHECK_EQ_INT(munmap_(36, 0x7f2200000000ULL - 2 * MB, 2 * MB), 0);
	CHECK_EQ_INT(munmap_(36, 0x7f2204000000ULL, 60 * MB), 0);
	CHECK_EQ_INT(mprotect_(36, 0x7f2200000000ULL, 135168, RW), 0);
	/* A reservation unmapped by another thread before its mprotect. */
	CHECK_EQ_INT(mmap_(37, 0x7f2300000000ULL, 0, 64 * MB, NONE, RESV), 0);
	CHECK_EQ_INT(munmap_(38, 0x7f2300000000ULL, 64 * MB), 0);
	CHECK_EQ_INT(mmap_(38, 0x7f2300000000ULL, 0, 64 * MB, RW, ANON), 0);
	CHECK_EQ_INT(mprotect_(37, 0x7f2300000000ULL, 135168, RW), 0);
	/* A failed confirmation. */
	CHECK_EQ_INT(mmap_(39, 0x7f2400000000ULL, 0, 64 * MB, NONE, RESV), 0);
	CHECK_EQ_INT(step(sc(39, MW_SYS_MPROTECT, -ENOMEM, 0x7f2400000000ULL, 135168, RW, 0)), 0);
	CHECK_EQ_INT(mprotect_(39, 0x7f2400000000ULL, 135168, RW), 0);
	CHECK_EQ_INT(mw_alloc_narenas(al), 0);
	finish();
}

/* ---- classification of new mappings --------------------------------- */

TEST(alloc_classify_new_mappings)
{
	const uint64_t c = 0x7f7000000000ULL;

	start(glibc_maps);
	CHECK_EQ_INT(mmap_(40, c, 0, 208896, RW, ANON), 0);
	CHECK_EQ_INT(at(c)->cls, MW_CLASS_MALLOC_CHUNK);
	CHECK_EQ_INT(mw_region_arena(at(c)), -1);
	/* realloc moves it: the label travels. */
	CHECK_EQ_INT(step(sc(40, MW_SYS_MREMAP, (int64_t)(c + 64 * MB), c, 208896, 8392704,
			     MREMAP_MAYMOVE)),
		     0);
	CHECK_EQ_INT(at(c + 64 * MB)->cls, MW_CLASS_MALLOC_CHUNK);
	CHECK_EQ_HEX(at(c + 64 * MB)->end, c + 64 * MB + 8392704);
	/* Small anonymous, file, shared anonymous, NORESERVE. */
	CHECK_EQ_INT(mmap_(40, c + PG * 100, 0, 64 * KB, RW, ANON), 0);
	CHECK_EQ_INT(at(c + PG * 100)->cls, MW_CLASS_ANON);
	CHECK_EQ_INT(
		step(sc(40, MW_SYS_MMAP, (int64_t)(c + 8 * MB), 0, 1 * MB, PROT_READ, MAP_PRIVATE)),
		0);
	CHECK_EQ_INT(at(c + 8 * MB)->cls, MW_CLASS_FILE);
	CHECK_EQ_INT(mmap_(40, c + 16 * MB, 0, 1 * MB, RW, MAP_SHARED | MAP_ANONYMOUS), 0);
	CHECK_EQ_INT(at(c + 16 * MB)->cls, MW_CLASS_SHM);
	CHECK_EQ_INT(mmap_(40, c + 24 * MB, 0, 1 * MB, RW, RESV), 0);
	CHECK_EQ_INT(at(c + 24 * MB)->cls, MW_CLASS_ANON);
	/* Two equal chunks side by side merge into one region. */
	CHECK_EQ_INT(mmap_(40, c + 32 * MB, 0, 256 * KB, RW, ANON), 0);
	CHECK_EQ_INT(mmap_(40, c + 32 * MB + 256 * KB, 0, 256 * KB, RW, ANON), 0);
	CHECK_EQ_HEX(at(c + 32 * MB)->end, c + 32 * MB + 512 * KB);
	finish();
}

TEST(alloc_unknown_becomes_glibc_on_signature)
{
	const uint64_t base = 0x7f9fcc000000ULL;

	start(static_maps);
	CHECK_EQ_INT(nev, 0);
	CHECK_EQ_INT(mw_alloc_allocator(al), MW_ALLOCATOR_UNKNOWN);
	CHECK_EQ_INT(at(0x4c0000)->cls, MW_CLASS_MAIN_HEAP);
	/* Unknown allocator: a large mapping is not called a malloc chunk. */
	CHECK_EQ_INT(mmap_(50, 0x7f7000000000ULL, 0, 208896, RW, ANON), 0);
	CHECK_EQ_INT(at(0x7f7000000000ULL)->cls, MW_CLASS_ANON);
	CHECK_EQ_INT(mmap_(50, base, 0, 128 * MB, NONE, RESV), 0);
	CHECK_EQ_INT(munmap_(50, base + 64 * MB, 64 * MB), 0);
	CHECK_EQ_INT(mprotect_(50, base, 135168, RW), 2);
	CHECK_EQ_INT(evs[0].kind, MW_AEV_ALLOCATOR);
	CHECK_EQ_INT(evs[0].allocator, MW_ALLOCATOR_GLIBC);
	CHECK_EQ_STR(evs[0].evidence, "glibc arena heap signature");
	CHECK_EQ_INT(evs[0].tid, 50);
	CHECK_EQ_INT(evs[1].kind, MW_AEV_ARENA_CREATE);
	CHECK_EQ_INT(mw_alloc_allocator(al), MW_ALLOCATOR_GLIBC);
	/* Once. */
	CHECK_EQ_INT(mmap_(50, base + 64 * MB, base + 64 * MB, 64 * MB, NONE, RESV), 0);
	CHECK_EQ_INT(mprotect_(50, base + 64 * MB, 135168, RW), 1);
	CHECK_EQ_INT(evs[0].kind, MW_AEV_ARENA_HEAP_NEW);
	finish();
}

/* ---- baseline ------------------------------------------------------- */

static const char *rich_maps =
	"555555554000-555555556000 r--p 00000000 fe:01 1 /usr/sbin/server\n"
	"555555556000-555555558000 r-xp 00002000 fe:01 1 /usr/sbin/server\n"
	"555555558000-55555555a000 rw-p 00004000 fe:01 1 /usr/sbin/server\n"
	"55555555a000-5555555bb000 rw-p 00000000 00:00 0 [heap]\n"
	/* Arena heap 1: rw-p at the 64 MiB aligned base, then ---p. */
	"7f0000000000-7f0000021000 rw-p 00000000 00:00 0 \n"
	"7f0000021000-7f0004000000 ---p 00000000 00:00 0 \n"
	/* Arena heap 2, right above (one arena per heap: /proc can't tell). */
	"7f0004000000-7f0004100000 rw-p 00000000 00:00 0 \n"
	"7f0004100000-7f0008000000 ---p 00000000 00:00 0 \n"
	/* A full heap (rw-p throughout). */
	"7f0010000000-7f0014000000 rw-p 00000000 00:00 0 \n"
	/* Not heaps: unaligned shape, aligned but followed by something else, a
	 * thread stack (guard then rw-p). */
	"7f0020200000-7f0020221000 rw-p 00000000 00:00 0 \n"
	"7f0020221000-7f0024200000 ---p 00000000 00:00 0 \n"
	"7f0028000000-7f0028021000 rw-p 00000000 00:00 0 \n"
	"7f0028021000-7f0029000000 ---p 00000000 00:00 0 \n"
	"7f0030000000-7f0030001000 ---p 00000000 00:00 0 \n"
	"7f0030001000-7f0030801000 rw-p 00000000 00:00 0 \n"
	"7f0040000000-7f0040100000 rw-s 00000000 00:01 7 /dev/shm/ring\n"
	"7f0040100000-7f0040200000 rw-s 00000000 00:01 8 /SYSV00000000 (deleted)\n"
	"7f0040200000-7f0040300000 rw-s 00000000 00:01 9 /var/lib/db/data\n"
	"7ffff7a00000-7ffff7a0a000 r--p 00000000 fe:01 3 /usr/lib/libjemalloc.so.2\n"
	"7ffff7a0a000-7ffff7a80000 r-xp 0000a000 fe:01 3 /usr/lib/libjemalloc.so.2\n"
	"7ffff7d80000-7ffff7da6000 r--p 00000000 fe:01 2 /usr/lib/x86_64-linux-gnu/libc.so.6\n"
	"7ffff7da6000-7ffff7efb000 r-xp 00026000 fe:01 2 /usr/lib/x86_64-linux-gnu/libc.so.6\n"
	"7ffff7fc0000-7ffff7fc2000 r-xp 00000000 00:00 0 [vdso]\n"
	"7ffffffde000-7ffffffff000 rw-p 00000000 00:00 0 [stack]\n";

TEST(alloc_seed_baseline_classification)
{
	const struct mw_arena *ar;

	start(rich_maps);
	/* jemalloc wins over the libc that is always there. */
	CHECK_EQ_INT(nev, 1);
	CHECK_EQ_INT(evs[0].kind, MW_AEV_ALLOCATOR);
	CHECK_EQ_INT(evs[0].allocator, MW_ALLOCATOR_JEMALLOC);
	CHECK_EQ_STR(evs[0].evidence, "libjemalloc.so.2 mapped");
	CHECK_EQ_STR(mw_allocator_name(MW_ALLOCATOR_JEMALLOC), "jemalloc");
	/* Three heaps by shape, one arena each, creator unknown. */
	CHECK_EQ_INT(mw_alloc_narenas(al), 3);
	ar = mw_alloc_arena(al, 0);
	CHECK_EQ_INT(ar->id, 1);
	CHECK_EQ_INT(ar->creator_tid, 0);
	CHECK_EQ_INT(ar->nheaps, 1);
	CHECK_EQ_HEX(ar->heaps[0].base, 0x7f0000000000ULL);
	CHECK_EQ_HEX(ar->heaps[0].rw_end, 0x7f0000021000ULL);
	CHECK_EQ_INT(ar->reserved, 64 * MB);
	CHECK_EQ_INT(ar->committed, 0x21000);
	ar = mw_alloc_arena(al, 1);
	CHECK_EQ_HEX(ar->heaps[0].base, 0x7f0004000000ULL);
	CHECK_EQ_INT(ar->committed, 1 * MB);
	ar = mw_alloc_arena(al, 2);
	CHECK_EQ_HEX(ar->heaps[0].base, 0x7f0010000000ULL);
	CHECK_EQ_INT(ar->committed, 64 * MB);
	CHECK_EQ_INT(at(0x7f0000000000ULL)->cls, MW_CLASS_ARENA_HEAP);
	CHECK_EQ_INT(mw_region_arena(at(0x7f0000000000ULL)), 1);
	CHECK_EQ_INT(at(0x7f0000021000ULL)->cls, MW_CLASS_ARENA_HEAP);
	CHECK_EQ_INT(mw_region_arena(at(0x7f0007fff000ULL)), 2);
	CHECK_EQ_INT(mw_region_arena(at(0x7f0010000000ULL)), 3);
	/* The look-alike shapes are the allocator's anonymous memory. */
	CHECK_EQ_INT(at(0x7f0020200000ULL)->cls, MW_CLASS_JEMALLOC);
	CHECK_EQ_INT(at(0x7f0028000000ULL)->cls, MW_CLASS_JEMALLOC);
	CHECK_EQ_INT(mw_region_arena(at(0x7f0028000000ULL)), -1);
	CHECK_EQ_INT(at(0x7f0030000000ULL)->cls, MW_CLASS_JEMALLOC);
	CHECK_EQ_INT(at(0x55555555a000ULL)->cls, MW_CLASS_MAIN_HEAP);
	CHECK_EQ_INT(mw_region_arena(at(0x55555555a000ULL)), -1);
	CHECK_EQ_INT(at(0x7ffffffde000ULL)->cls, MW_CLASS_STACK);
	CHECK_EQ_INT(at(0x555555554000ULL)->cls, MW_CLASS_FILE);
	CHECK_EQ_INT(at(0x7ffff7a00000ULL)->cls, MW_CLASS_FILE);
	CHECK_EQ_INT(at(0x7f0040000000ULL)->cls, MW_CLASS_SHM);
	CHECK_EQ_INT(at(0x7f0040100000ULL)->cls, MW_CLASS_SHM);
	CHECK_EQ_INT(at(0x7f0040200000ULL)->cls, MW_CLASS_FILE);
	CHECK_EQ_INT(at(0x7ffff7fc0000ULL)->cls, MW_CLASS_ANON);
	/* New anonymous memory is jemalloc's extents. */
	CHECK_EQ_INT(mmap_(60, 0x7f5000000000ULL, 0, 2 * MB, RW, RESV), 0);
	CHECK_EQ_INT(at(0x7f5000000000ULL)->cls, MW_CLASS_JEMALLOC);
	/* A baseline arena's first grower is taken as its owner: no reuse event. */
	CHECK_EQ_INT(mprotect_(61, 0x7f0000021000ULL, PG, RW), 1);
	CHECK_ONE(MW_AEV_ARENA_GROW, 1, 61, 0x7f0000000000ULL);
	CHECK_EQ_INT(evs[0].committed, 0x22000);
	CHECK_EQ_INT(mprotect_(62, 0x7f0000022000ULL, PG, RW), 2);
	CHECK_EQ_INT(evs[1].kind, MW_AEV_ARENA_REUSE);
	/* Arena 2's used top is unknown: a DONTNEED ending below its RW end shrinks. */
	CHECK_EQ_INT(madvise_(63, 0x7f00040c0000ULL, 0x20000, MADV_DONTNEED), 1);
	CHECK_ONE(MW_AEV_ARENA_SHRINK, 2, 63, 0x7f0004000000ULL);
	CHECK_ARENA_STATE(evs[0], 64 * MB, 1 * MB, 0x20000, 1);
	/* Then the top is known: a DONTNEED up to the RW end shrinks (regrowth is
	 * silent), one ending below the top does not. */
	CHECK_EQ_INT(madvise_(63, 0x7f00040f0000ULL, 0x10000, MADV_DONTNEED), 1);
	CHECK_EQ_INT(madvise_(63, 0x7f0004010000ULL, 0x10000, MADV_DONTNEED), 0);
	/* exec: a new image, nothing carries over until the caller seeds again. */
	{
		struct mw_event ev = {
			.kind = MW_EV_EXEC, .mono_ns = ts += 1000, .pid = PID, .tid = PID
		};
		struct mw_apply a;

		CHECK_EQ_INT(mw_model_apply(&m, &ev, &a), 0);
		CHECK_EQ_INT(mw_alloc_apply(al, p, &ev, &a, evs, 64), 0);
		CHECK_EQ_INT(mw_alloc_narenas(al), 0);
		CHECK_EQ_INT(mw_alloc_allocator(al), MW_ALLOCATOR_UNKNOWN);
	}
	finish();
}

TEST(alloc_seed_glibc_heaps_and_tcmalloc)
{
	static const char *tc = "555555554000-555555556000 r--p 00000000 fe:01 1 /usr/bin/t\n"
				"55555555a000-55555655a000 rw-p 00000000 00:00 0 [heap]\n"
				"7ffff7a00000-7ffff7a0a000 r--p 00000000 fe:01 3 "
				"/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4.5.9\n"
				"7ffff7d80000-7ffff7da6000 r--p 00000000 fe:01 2 "
				"/usr/lib/x86_64-linux-gnu/libc.so.6\n";

	start(tc);
	CHECK_EQ_INT(nev, 1);
	CHECK_EQ_INT(evs[0].allocator, MW_ALLOCATOR_TCMALLOC);
	CHECK_EQ_STR(evs[0].evidence, "libtcmalloc_minimal.so.4.5.9 mapped");
	CHECK_EQ_INT(mmap_(70, 0x7f5000000000ULL, 0, 2 * MB + PG, RW, ANON), 0);
	CHECK_EQ_INT(at(0x7f5000000000ULL)->cls, MW_CLASS_TCMALLOC);
	/* tcmalloc grows brk; it stays the main heap. */
	CHECK_EQ_INT(brk_(70, 0x55555675a000ULL, 0x55555675a000ULL), 1);
	CHECK_EQ_INT(evs[0].kind, MW_AEV_MAIN_HEAP_GROW);
	CHECK_EQ_INT(at(0x55555665a000ULL)->cls, MW_CLASS_MAIN_HEAP);
	finish();
}

/* ---- state ---------------------------------------------------------- */

TEST(alloc_fork_is_a_deep_copy)
{
	const uint64_t base = 0x7f9fcc000000ULL;
	struct mw_alloc *c;
	const struct mw_arena *ar;

	start(glibc_maps);
	create_aligned(80, base);
	CHECK_EQ_INT(mprotect_(81, base + 135168, PG, RW), 2);
	c = mw_alloc_fork(al);
	CHECK(c != NULL);
	/* Change the parent: the copy keeps its own state. */
	CHECK_EQ_INT(mprotect_(80, base + 135168 + PG, PG, RW), 1);
	CHECK_EQ_INT(mw_alloc_narenas(c), 1);
	ar = mw_alloc_arena(c, 0);
	CHECK(ar != mw_alloc_arena(al, 0));
	CHECK(ar->heaps != mw_alloc_arena(al, 0)->heaps);
	CHECK_EQ_INT(ar->committed, 135168 + PG);
	CHECK_EQ_INT(ar->nthreads, 2);
	CHECK_EQ_INT(ar->threads[1], 81);
	CHECK_EQ_INT(mw_alloc_allocator(c), MW_ALLOCATOR_GLIBC);
	mw_alloc_free(c);
	CHECK_EQ_INT(mw_alloc_arena(al, 0)->committed, 135168 + 2 * PG);
	finish();
}

TEST(alloc_event_buffer_too_small_counts)
{
	const uint64_t base = 0x7f9fcc000000ULL;
	struct mw_event ev;
	struct mw_apply a;

	start(static_maps);
	CHECK_EQ_INT(mmap_(90, base, 0, 64 * MB, NONE, RESV), 0);
	ev = sc(90, MW_SYS_MPROTECT, 0, base, 135168, RW, 0);
	CHECK_EQ_INT(mw_model_apply(&m, &ev, &a), 0);
	/* Room for one of two: the second is counted, the state still changes. */
	CHECK_EQ_INT(mw_alloc_apply(al, p, &ev, &a, evs, 1), 1);
	CHECK_EQ_INT(evs[0].kind, MW_AEV_ALLOCATOR);
	CHECK_EQ_INT(mw_alloc_dropped(al), 1);
	CHECK_EQ_INT(mw_alloc_narenas(al), 1);
	/* NULL-safe accessors. */
	CHECK_EQ_INT(mw_alloc_narenas(NULL), 0);
	CHECK(mw_alloc_arena(al, 7) == NULL);
	mw_alloc_free(NULL);
	finish();
}

TEST(alloc_seed_full_heaps_vs_big_aligned_chunk)
{
	static const char *maps = "7ffff7d80000-7ffff7da6000 r--p 00000000 fe:01 2 /lib/libc.so.6\n"
				  /* Two full heaps side by side: one rw-p line in maps. */
				  "7f0010000000-7f0018000000 rw-p 00000000 00:00 0 \n"
				  /* A 100 MiB chunk that happens to start 64 MiB aligned. */
				  "7f0020000000-7f0026400000 rw-p 00000000 00:00 0 \n"
				  /* A full heap, then one with a ---p tail. */
				  "7f0030000000-7f0034021000 rw-p 00000000 00:00 0 \n"
				  "7f0034021000-7f0038000000 ---p 00000000 00:00 0 \n";

	start(maps);
	CHECK_EQ_INT(mw_alloc_narenas(al), 4);
	CHECK_EQ_HEX(mw_alloc_arena(al, 0)->heaps[0].base, 0x7f0010000000ULL);
	CHECK_EQ_HEX(mw_alloc_arena(al, 1)->heaps[0].base, 0x7f0014000000ULL);
	CHECK_EQ_HEX(mw_alloc_arena(al, 2)->heaps[0].base, 0x7f0030000000ULL);
	CHECK_EQ_INT(mw_alloc_arena(al, 2)->committed, 64 * MB);
	CHECK_EQ_HEX(mw_alloc_arena(al, 3)->heaps[0].base, 0x7f0034000000ULL);
	CHECK_EQ_INT(mw_alloc_arena(al, 3)->committed, 0x21000);
	CHECK_EQ_INT(at(0x7f0020000000ULL)->cls, MW_CLASS_ANON);
	CHECK_EQ_INT(mw_region_arena(at(0x7f0014000000ULL)), 2);
	/* A creation that raced the snapshot adds no arena, but names the one the
	 * snapshot showed: its creator and its arena_create. */
	CHECK_EQ_INT(mmap_(95, 0x7f0034000000ULL, 0x7f0034000000ULL, 64 * MB, NONE, RESV), 0);
	CHECK_EQ_INT(mprotect_(95, 0x7f0034000000ULL, 135168, RW), 1);
	CHECK_EQ_INT(evs[0].kind, MW_AEV_ARENA_CREATE);
	CHECK_EQ_INT(evs[0].arena, 4);
	CHECK_EQ_INT(mw_alloc_arena(al, 3)->creator_tid, 95);
	CHECK_EQ_INT(mw_alloc_narenas(al), 4);
	CHECK_EQ_INT(at(0x7f0034000000ULL)->cls, MW_CLASS_ARENA_HEAP);
	CHECK_EQ_INT(mw_region_arena(at(0x7f0034000000ULL)), 4);
	CHECK_EQ_INT(at(0x7f0037fff000ULL)->cls, MW_CLASS_ARENA_HEAP);
	finish();
}

TEST(alloc_jemalloc_stream_names_it)
{
	static const char *exec_maps =
		"555555554000-555555556000 r--p 00000000 fe:01 1 /usr/bin/j\n"
		"7ffff7fc3000-7ffff7fc5000 r--p 00000000 fe:01 9 /lib64/ld-linux-x86-64.so.2\n"
		"7ffffffde000-7ffffffff000 rw-p 00000000 00:00 0 [stack]\n";
	const uint64_t x = 0x7f6000000000ULL;
	uint64_t sizes[] = { 2 * MB + MB / 2, 3 * MB, 3 * MB + MB / 2, 4 * MB, 5 * MB, 24 * MB };

	/* Seeded at exec: only the loader names glibc, provisionally. */
	start(exec_maps);
	CHECK_EQ_INT(nev, 1);
	CHECK_EQ_STR(evs[0].evidence, "glibc's dynamic loader mapped");
	/* Start-up probes. */
	CHECK_EQ_INT(mmap_(10, x, 0, PG, RW, ANON), 0);
	CHECK_EQ_INT(madvise_(10, x, PG, MADV_DONTNEED), 0);
	CHECK_EQ_INT(munmap_(10, x, PG), 0);
	CHECK_EQ_INT(mmap_(10, x, 0, PG, RW, RESV), 0);
	CHECK_EQ_INT(madvise_(10, x, PG, MADV_FREE), 0);
	CHECK_EQ_INT(munmap_(10, x, PG), 0);
	CHECK_EQ_INT(brk_(10, 0x555555560000ULL, 0), 0);
	/* Only glibc's loader is mapped yet: glibc, provisionally. */
	CHECK_EQ_INT(mw_alloc_allocator(al), MW_ALLOCATOR_GLIBC);
	/* Two 2 MiB extents for the first arena: the second names jemalloc. */
	CHECK_EQ_INT(mmap_(10, x + 2 * MB, 0, 2 * MB, RW, RESV), 0);
	CHECK_EQ_INT(at(x + 2 * MB)->cls, MW_CLASS_ANON);
	CHECK_EQ_INT(mmap_(10, x + 4 * MB, 0, 2 * MB, RW, RESV), 1);
	CHECK_EQ_INT(evs[0].kind, MW_AEV_ALLOCATOR);
	CHECK_EQ_INT(evs[0].allocator, MW_ALLOCATOR_JEMALLOC);
	CHECK_EQ_STR(evs[0].evidence, "jemalloc extent signature");
	CHECK_EQ_INT(at(x + 2 * MB)->cls, MW_CLASS_JEMALLOC);
	CHECK_EQ_INT(at(x + 4 * MB)->cls, MW_CLASS_JEMALLOC);
	/* The two touching extents are one region. */
	CHECK_EQ_HEX(at(x + 2 * MB)->end, x + 6 * MB);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint64_t a = x + (uint64_t)(i + 1) * 64 * MB;

		CHECK_EQ_INT(mmap_(11, a, 0, sizes[i], RW, RESV), 0);
		CHECK_EQ_INT(at(a)->cls, MW_CLASS_JEMALLOC);
	}
	/* Objects > 8 MiB released with DONTNEED. */
	CHECK_EQ_INT(madvise_(11, x + 6 * 64 * MB, 24 * MB, MADV_DONTNEED), 0);
	CHECK_EQ_INT(mw_alloc_narenas(al), 0);
	/* The libraries seen later agree; glibc does not take over. */
	{
		struct mw_regions r;

		mw_regions_init(&r);
		CHECK_EQ_INT(mw_maps_parse("7ffff7d80000-7ffff7da6000 r--p 00000000 fe:01 2 "
					   "/usr/lib/x86_64-linux-gnu/libc.so.6\n",
					   &r),
			     0);
		CHECK_EQ_INT(mw_alloc_detect(al, &r, evs, 64), 0);
		CHECK_EQ_INT(mw_alloc_allocator(al), MW_ALLOCATOR_JEMALLOC);
		mw_regions_free(&r);
	}
	finish();
}

TEST(alloc_detect_after_exec_baseline)
{
	struct mw_regions r;

	start(static_maps);
	mw_regions_init(&r);
	CHECK_EQ_INT(mw_maps_parse("7ffff7d80000-7ffff7da6000 r--p 00000000 fe:01 2 "
				   "/usr/lib/x86_64-linux-gnu/libc.so.6\n",
				   &r),
		     0);
	CHECK_EQ_INT(mw_alloc_detect(al, &r, evs, 64), 1);
	CHECK_EQ_INT(evs[0].allocator, MW_ALLOCATOR_GLIBC);
	/* Once. */
	CHECK_EQ_INT(mw_alloc_detect(al, &r, evs, 64), 0);
	/* LD_PRELOADed tcmalloc seen later replaces glibc. */
	CHECK_EQ_INT(mw_maps_parse("7ffff7a00000-7ffff7a0a000 r--p 00000000 fe:01 3 "
				   "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4\n"
				   "7ffff7d80000-7ffff7da6000 r--p 00000000 fe:01 2 "
				   "/usr/lib/x86_64-linux-gnu/libc.so.6\n",
				   &r),
		     0);
	CHECK_EQ_INT(mw_alloc_detect(al, &r, evs, 64), 1);
	CHECK_EQ_INT(evs[0].allocator, MW_ALLOCATOR_TCMALLOC);
	CHECK_EQ_STR(evs[0].evidence, "libtcmalloc_minimal.so.4 mapped");
	mw_regions_free(&r);
	finish();
}

TEST(alloc_tcmalloc_stream)
{
	static const char *tc =
		"555555554000-555555556000 r--p 00000000 fe:01 1 /usr/bin/t\n"
		"55555555a000-55555555b000 rw-p 00000000 00:00 0 [heap]\n"
		"7ffff7a00000-7ffff7a0a000 r--p 00000000 fe:01 3 /lib/libtcmalloc_minimal.so.4\n";
	uint64_t b = 0x55555555b000ULL;

	start(tc);
	/* brk only: +8 MiB first, then 1 MiB multiples. */
	CHECK_EQ_INT(brk_(5, b + 8 * MB, b + 8 * MB), 1);
	CHECK_EQ_INT(evs[0].kind, MW_AEV_MAIN_HEAP_GROW);
	CHECK_EQ_INT(evs[0].bytes, 8 * MB);
	CHECK_EQ_INT(evs[0].arena, 0);
	CHECK_EQ_INT(brk_(5, b + 10 * MB, b + 10 * MB), 1);
	CHECK_EQ_INT(evs[0].bytes, 2 * MB);
	CHECK_EQ_INT(evs[0].committed, 10 * MB + PG);
	/* Releases inside the brk heap: no arena event. */
	CHECK_EQ_INT(madvise_(5, b + MB, 3 * 8 * KB, MADV_DONTNEED), 0);
	CHECK_EQ_INT(at(b)->cls, MW_CLASS_MAIN_HEAP);
	CHECK_EQ_INT(mw_region_arena(at(b)), -1);
	/* Without sbrk: mmap(N + 4096) then munmap(4096) to align. */
	CHECK_EQ_INT(mmap_(5, 0x7f6000001000ULL, 0, 1 * MB + PG, RW, ANON), 0);
	CHECK_EQ_INT(munmap_(5, 0x7f6000001000ULL, PG), 0);
	CHECK_EQ_INT(at(0x7f6000002000ULL)->cls, MW_CLASS_TCMALLOC);
	CHECK_EQ_INT(mw_alloc_narenas(al), 0);
	finish();
}

TEST(alloc_arena_create_page_multiple_head)
{
	/* Older kernels: a head trim of any page multiple. */
	const uint64_t r = 0x7f09d3ff3000ULL, base = 0x7f09d4000000ULL;

	start(glibc_maps);
	CHECK_EQ_INT(mmap_(210, r, 0, 128 * MB, NONE, RESV), 0);
	CHECK_EQ_INT(munmap_(210, r, base - r), 0);
	CHECK_EQ_INT(munmap_(210, base + 64 * MB, 64 * MB - (base - r)), 0);
	CHECK_EQ_INT(mprotect_(210, base, 135168, RW), 1);
	CHECK_ONE(MW_AEV_ARENA_CREATE, 1, 210, base);
	CHECK_ARENA_STATE(evs[0], 64 * MB, 135168, 0, 1);
	finish();
}

/* memcached, as /proc showed it: its slab memory ends exactly where an arena
 * heap begins, so maps shows one rw-p run across the heap's base. */
static const char *memcached_maps =
	"55555555a000-55555557b000 rw-p 00000000 00:00 0 [heap]\n"
	"7f03329ea000-7f0334000000 rw-p 00000000 00:00 0 \n"
	"7f0334000000-7f0334021000 rw-p 00000000 00:00 0 \n"
	"7f0334021000-7f0338000000 ---p 00000000 00:00 0 \n"
	"7f0338000000-7f0338022000 rw-p 00000000 00:00 0 \n"
	"7f0338022000-7f033c000000 ---p 00000000 00:00 0 \n"
	"7f034a195000-7f034c000000 rw-p 00000000 00:00 0 \n"
	"7ffff7d80000-7ffff7da6000 r--p 00000000 fe:01 2 /usr/lib/x86_64-linux-gnu/libc.so.6\n";

TEST(alloc_seed_heap_below_merged_neighbour)
{
	start(memcached_maps);
	CHECK_EQ_INT(mw_alloc_narenas(al), 2);
	CHECK_EQ_HEX(mw_alloc_arena(al, 0)->heaps[0].base, 0x7f0334000000ULL);
	CHECK_EQ_INT(mw_alloc_arena(al, 0)->committed, 0x21000);
	CHECK_EQ_HEX(mw_alloc_arena(al, 1)->heaps[0].base, 0x7f0338000000ULL);
	/* The slab memory below keeps its own class; a lone aligned rw run is no heap. */
	CHECK_EQ_INT(at(0x7f03329ea000ULL)->cls, MW_CLASS_ANON);
	CHECK_EQ_INT(at(0x7f034a195000ULL)->cls, MW_CLASS_ANON);
	finish();
}

static int usdt_(uint32_t tid, enum mw_usdt_probe probe, uint64_t a0, uint64_t a1)
{
	struct mw_event ev = { .kind = MW_EV_USDT, .mono_ns = ts += 1000, .pid = PID, .tid = tid };

	ev.usdt.probe = probe;
	ev.usdt.args[0] = a0;
	ev.usdt.args[1] = a1;
	nev = mw_alloc_usdt(al, p, &ev, evs, 64);
	return nev;
}

TEST(alloc_usdt_confirms_syscall_arena)
{
	const uint64_t base = 0x7f9fcc000000ULL;

	start(glibc_maps);
	CHECK_EQ_INT(mmap_(201, base, 0, 134217728, NONE, RESV), 0);
	CHECK_EQ_INT(munmap_(201, base + 67108864, 67108864), 0);
	CHECK_EQ_INT(mprotect_(201, base, 135168, RW), 1);
	CHECK_EQ_INT(usdt_(201, MW_USDT_HEAP_NEW, base, 135168), 0);
	CHECK_EQ_INT(usdt_(201, MW_USDT_ARENA_NEW, base + 32, 135168), 0);
	CHECK_EQ_INT(mw_alloc_narenas(al), 1);
	CHECK(mw_alloc_arena(al, 0)->by_syscalls && mw_alloc_arena(al, 0)->by_usdt);
	/* Another thread attaching through glibc's free list: reuse, from the probe. */
	CHECK_EQ_INT(usdt_(202, MW_USDT_ARENA_REUSE_FREE_LIST, base + 32, 0), 1);
	CHECK_EQ_INT(evs[0].kind, MW_AEV_ARENA_REUSE);
	CHECK_EQ_STR(evs[0].source, "usdt");
	finish();
}

TEST(alloc_usdt_names_an_arena_the_syscalls_missed)
{
	const uint64_t base = 0x7f0004000000ULL, heap2 = 0x7f0008000000ULL;
	const struct mw_arena *ar;

	start(glibc_maps);
	/* new_heap() fires first, before the thread has an arena: nothing yet. */
	CHECK_EQ_INT(usdt_(301, MW_USDT_HEAP_NEW, base, 135168), 0);
	CHECK_EQ_INT(usdt_(301, MW_USDT_ARENA_NEW, base + 32, 135168), 1);
	CHECK_EQ_INT(evs[0].kind, MW_AEV_ARENA_CREATE);
	CHECK_EQ_STR(evs[0].source, "usdt");
	CHECK_EQ_INT(evs[0].arena, 1);
	CHECK_EQ_HEX(evs[0].base, base);
	/* A second heap for the thread's arena, then glibc frees it. */
	CHECK_EQ_INT(usdt_(301, MW_USDT_HEAP_NEW, heap2, 4096), 1);
	CHECK_EQ_INT(evs[0].kind, MW_AEV_ARENA_HEAP_NEW);
	CHECK_EQ_INT(evs[0].heaps, 2);
	CHECK_EQ_INT(usdt_(301, MW_USDT_HEAP_FREE, heap2, 4096), 1);
	CHECK_EQ_INT(evs[0].kind, MW_AEV_ARENA_HEAP_DELETE);
	ar = mw_alloc_arena(al, 0);
	CHECK(!ar->by_syscalls && ar->by_usdt);
	CHECK_EQ_INT(ar->nheaps, 1);
	CHECK_EQ_INT(ar->reserved, 67108864);
	CHECK_EQ_INT(mw_alloc_allocator(al), MW_ALLOCATOR_GLIBC);
	finish();
}
