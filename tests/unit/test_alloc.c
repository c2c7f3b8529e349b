// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The allocator analysis driven by the syscall streams of user/alloc/SIGNATURES.md,
 * through the process model exactly as a session feeds it. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
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

/* A made-up memory image: words at addresses, for what the analysis reads. */
#define MAX_WORDS 4096
static struct {
	uint64_t addr, val;
} words[MAX_WORDS];
static size_t nwords;
static bool mem_off; /* reads fail: nothing to read the process with */

static void poke(uint64_t addr, uint64_t val)
{
	for (size_t i = 0; i < nwords; i++)
		if (words[i].addr == addr) {
			words[i].val = val;
			return;
		}
	CHECK(nwords < MAX_WORDS);
	if (nwords < MAX_WORDS)
		words[nwords++].addr = addr, words[nwords - 1].val = val;
}

/* Unwritten words read as 0, like untouched anonymous memory. */
static int fake_read(void *ctx, uint32_t pid, uint64_t addr, void *buf, size_t len)
{
	(void)ctx, (void)pid;
	if (mem_off)
		return -EFAULT;
	memset(buf, 0, len);
	for (size_t i = 0; i < nwords; i++)
		if (words[i].addr >= addr && words[i].addr + 8 <= addr + len)
			memcpy((char *)buf + (words[i].addr - addr), &words[i].val, 8);
	return 0;
}

static const struct mw_mem fake_mem = { .read = fake_read };

/* What glibc writes at the start of a chunk it mapped for one malloc. */
static void chunk_hdr(uint64_t addr, uint64_t len)
{
	poke(addr, 0);
	poke(addr + 8, len | 2);
}

/* glibc 2.36's heap_info and malloc_state fields (alloc/glibc.c). */
static void fake_heap(uint64_t base, uint64_t ar, uint64_t prev, uint64_t size, uint64_t rw)
{
	poke(base, ar);
	poke(base + 8, prev);
	poke(base + 16, size);
	poke(base + 24, rw);
	poke(base + 32, 4096);
}

static void fake_state(uint64_t a, uint64_t top, uint64_t next, uint64_t system_mem)
{
	poke(a + 96, top);
	poke(a + 2160, next);
	poke(a + 2184, system_mem);
}

static struct mw_model m;
static struct mw_process *p;
static struct mw_alloc *al;
static struct mw_alloc_ev evs[64];
static int nev;
static uint64_t ts;

/* Seed from maps and what reading the process told (facts, or NULL). */
static void start_facts(const char *maps, const struct mw_alloc_facts *facts)
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
	mw_alloc_set_mem(al, &fake_mem);
	nev = mw_alloc_seed(al, &p->regions, p->start_brk, facts, evs, 64);
}

static void start(const char *maps)
{
	start_facts(maps, NULL);
}

static void finish(void)
{
	nwords = 0;
	mem_off = false;
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
	/* Static: a compound literal here would die with the call (the sanitized build saw it). */
	static const struct mw_region none = { .cls = 255, .arena = -99 };
	const struct mw_region *g = mw_regions_find(&p->regions, addr);

	CHECK(g != NULL);
	return g ? g : &none;
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

TEST(alloc_arena_growth_226_mprotects)
{
	const uint64_t base = 0x7f9fcc000000ULL;
	uint64_t end = base + 135168;
	const struct mw_arena *ar;

	start(glibc_maps);
	create_aligned(601, base);
	/* arenas -b 1048576: 1 MiB of 1000-byte blocks, 226 growths (arenas.c). */
	for (int i = 0; i < 226; i++) {
		CHECK_EQ_INT(mprotect_(601, end, PG, RW), 1);
		CHECK_EQ_INT(evs[0].kind, MW_AEV_ARENA_GROW);
		CHECK_EQ_INT(evs[0].bytes, PG);
		end += PG;
	}
	CHECK_EQ_INT(evs[0].committed, 135168 + 226 * PG);
	CHECK_EQ_INT(evs[0].reserved, 64 * MB);
	ar = mw_alloc_arena(al, 0);
	CHECK_EQ_INT(ar->committed, 135168 + 226 * PG);
	CHECK_EQ_HEX(ar->heaps[0].rw_end, end);
	CHECK_EQ_HEX(ar->heaps[0].rw_high, end);
	/* The creator growing is no reuse. */
	CHECK_EQ_INT(ar->nthreads, 1);
	/* The heap stays two regions: its RW part and its PROT_NONE rest. */
	CHECK_EQ_HEX(at(base)->end, end);
	CHECK_EQ_HEX(at(end)->end, base + 64 * MB);
	/* A multi-page growth (a 16 MiB malloc after the threshold rose). */
	CHECK_EQ_INT(mprotect_(601, end, 16 * MB, RW), 1);
	CHECK_EQ_INT(evs[0].committed, 135168 + 226 * PG + 16 * MB);
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
	/* Below the top: a hole malloc_trim gave back. Trimmed, the top stays. */
	CHECK_EQ_INT(madvise_(701, base + 64 * KB, 8 * KB, MADV_DONTNEED), 1);
	CHECK_ONE(MW_AEV_ARENA_SHRINK, 1, 701, base);
	CHECK(evs[0].hole);
	CHECK_ARENA_STATE(evs[0], 64 * MB, 135168 + 1 * MB, 308 * KB, 1);
	/* Regrowth up to the old RW end makes no syscalls; the next shrink may end
	 * anywhere up to it. */
	CHECK_EQ_INT(madvise_(701, end - 200 * KB, 148 * KB, MADV_DONTNEED), 1);
	CHECK(!evs[0].hole);
	CHECK_ARENA_STATE(evs[0], 64 * MB, 135168 + 1 * MB, 456 * KB, 1);
	/* Other advice: nothing. */
	CHECK_EQ_INT(madvise_(701, end - 400 * KB, 100 * KB, MADV_FREE), 0);
	/* Another thread's free shrinks it too (free goes to the chunk's arena),
	 * without attaching that thread. */
	CHECK_EQ_INT(madvise_(702, end - 300 * KB, 100 * KB, MADV_DONTNEED), 1);
	CHECK_ONE(MW_AEV_ARENA_SHRINK, 1, 702, base);
	ar = mw_alloc_arena(al, 0);
	CHECK_EQ_INT(ar->committed, 135168 + 1 * MB);
	CHECK_EQ_INT(ar->trimmed, 556 * KB);
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

TEST(alloc_arena_grown_by_another_thread_is_no_reuse)
{
	const uint64_t base = 0x7f9fcc000000ULL, next = 0x7f9fd0000000ULL;
	const uint64_t base2 = 0x7f8fcc000000ULL;
	uint64_t end = base + 135168;
	const struct mw_arena *ar;

	start(glibc_maps);
	create_aligned(901, base);
	/* 902 grows arena 1: it may allocate from it (glibc attached it silently),
	 * or realloc a block of it (glibc grows the chunk's arena, whoever calls):
	 * the syscalls cannot tell, so no reuse is reported and 902 is not attached. */
	CHECK_EQ_INT(mprotect_(902, end, PG, RW), 1);
	CHECK_ONE(MW_AEV_ARENA_GROW, 1, 902, base);
	end += PG;
	/* The main thread's realloc of a block from arena 1, measured:
	 * mprotect(B+0x21000+..., 69632) by the main thread. */
	CHECK_EQ_INT(mprotect_(PID, end, 69632, RW), 1);
	CHECK_ONE(MW_AEV_ARENA_GROW, 1, PID, base);
	end += 69632;
	ar = mw_alloc_arena(al, 0);
	CHECK_EQ_INT(ar->creator_tid, 901);
	/* Seen growing it, creator first. */
	CHECK_EQ_INT(ar->nthreads, 3);
	CHECK_EQ_INT(ar->threads[0], 901);
	CHECK_EQ_INT(ar->threads[1], 902);
	CHECK_EQ_INT(ar->threads[2], PID);
	/* 903 owns arena 2 and reallocs a block of arena 1 (it grows arena 1); its
	 * next heap is still arena 2's: growth attaches no one. */
	create_aligned(903, base2);
	CHECK_EQ_INT(mprotect_(903, end, PG, RW), 1);
	CHECK_ONE(MW_AEV_ARENA_GROW, 1, 903, base);
	CHECK_EQ_INT(mmap_(903, base2 + 64 * MB, base2 + 64 * MB, 64 * MB, NONE, RESV), 0);
	CHECK_EQ_INT(mprotect_(903, base2 + 64 * MB, 135168, RW), 1);
	CHECK_ONE(MW_AEV_ARENA_HEAP_NEW, 2, 903, base2 + 64 * MB);
	/* The heap's own heap_info decides where it can be read: 902 (never
	 * attached) makes a heap whose ar_ptr is arena 1: arena 1's second heap. */
	fake_heap(next, base + 48, base, 135168, 135168);
	CHECK_EQ_INT(mmap_(902, next, next, 64 * MB, NONE, RESV), 0);
	CHECK_EQ_INT(mprotect_(902, next, 135168, RW), 1);
	CHECK_ONE(MW_AEV_ARENA_HEAP_NEW, 1, 902, next);
	/* ...and a heap whose heap_info opens an arena is a new arena, whoever
	 * makes it (903 already owns arena 2). */
	fake_heap(0x7f7000000000ULL, 0x7f7000000000ULL + 48, 0, 135168, 135168);
	CHECK_EQ_INT(mmap_(903, 0x7f7000000000ULL, 0x7f7000000000ULL, 64 * MB, NONE, RESV), 0);
	CHECK_EQ_INT(mprotect_(903, 0x7f7000000000ULL, 135168, RW), 1);
	CHECK_ONE(MW_AEV_ARENA_CREATE, 3, 903, 0x7f7000000000ULL);
	/* The creator exits; a thread that grows its arena later is seen growing it. */
	exit_(901);
	CHECK_EQ_INT(mprotect_(904, end + PG, PG, RW), 1);
	CHECK_EQ_INT(evs[0].kind, MW_AEV_ARENA_GROW);
	CHECK_EQ_INT(mw_alloc_narenas(al), 3);
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
	/* The other 5 reuse arenas silently, seen growing them (no reuse: the
	 * syscalls cannot tell that from a realloc). */
	for (uint32_t i = 15; i < 20; i++) {
		uint64_t base = top - (uint64_t)(i - 14) * 128 * MB;

		CHECK_EQ_INT(mprotect_(2000 + i, base + 135168, PG, RW), 1);
		CHECK_EQ_INT(evs[0].kind, MW_AEV_ARENA_GROW);
		CHECK_EQ_INT(evs[0].arena, (int)i - 14);
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
	/* The heap at attach, then what this thread grew (its bytes: by_class), labelled. */
	CHECK_EQ_HEX(at(s)->end, HEAP_END);
	CHECK_EQ_INT(at(s)->tid, 0);
	CHECK_EQ_HEX(at(HEAP_END)->end, end);
	CHECK_EQ_INT(at(HEAP_END)->tid, PID);
	CHECK_EQ_INT(at(end - PG)->cls, MW_CLASS_MAIN_HEAP);
	CHECK_EQ_INT(mw_region_arena(at(s)), 0);
	/* Free all: one negative brk keeping the pad. */
	CHECK_EQ_INT(brk_(PID, s + 0x22000, s + 0x22000), 1);
	CHECK_ONE(MW_AEV_MAIN_HEAP_TRIM, 0, PID, s);
	CHECK_EQ_INT(evs[0].bytes, end - (s + 0x22000));
	CHECK_EQ_INT(evs[0].committed, 0x22000);
	CHECK_EQ_INT(evs[0].trimmed, end - (s + 0x22000));
	/* malloc_trim's DONTNEED inside the main heap: trimmed, the break stays. */
	CHECK_EQ_INT(madvise_(PID, s + 0x2000, 0x10000, MADV_DONTNEED), 1);
	CHECK_ONE(MW_AEV_MAIN_HEAP_TRIM, 0, PID, s);
	CHECK(evs[0].hole);
	CHECK_EQ_INT(evs[0].bytes, 0x10000);
	CHECK_EQ_INT(evs[0].committed, 0x22000);
	CHECK_EQ_INT(evs[0].trimmed, end - (s + 0x22000) + 0x10000);
	CHECK_EQ_INT(mw_alloc_main_trimmed(al), end - (s + 0x22000) + 0x10000);
	/* Outside the heap, or past its end: not the heap's. */
	CHECK_EQ_INT(madvise_(PID, s + 0x20000, 0x10000, MADV_DONTNEED), 0);
	/* A failed brk returns the old break: nothing... */
	CHECK_EQ_INT(brk_(PID, s + 0x22000, s + (1ULL << 40)), 0);
	/* ...but the main arena maps a 1 MiB segment instead (MMAP_AS_MORECORE_SIZE):
	 * main arena memory, no chunk. */
	CHECK_EQ_INT(mmap_(PID, 0x7f7000000000ULL, 0, 1 * MB, RW, ANON), 0);
	CHECK_EQ_INT(at(0x7f7000000000ULL)->cls, MW_CLASS_MAIN_HEAP);
	CHECK_EQ_INT(mw_region_arena(at(0x7f7000000000ULL)), 0);
	/* Only right after the refusal. */
	CHECK_EQ_INT(mmap_(PID, 0x7f7100000000ULL, 0, 1 * MB, RW, ANON), 0);
	CHECK_EQ_INT(at(0x7f7100000000ULL)->cls, MW_CLASS_ANON);
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
	/* HotSpot's guard zones in a thread stack, as measured: the thread maps
	 * fresh pages over the low end of its stack (MAP_FIXED, no MAP_STACK), then
	 * makes them PROT_NONE. A guard-0 stack (the primordial Java thread)... */
	CHECK_EQ_INT(mmap_(21, 0x7f3000000000ULL, 0, 1 * MB, RW, STK), 1);
	CHECK_EQ_INT(mmap_(22, 0x7f3000000000ULL, 0x7f3000000000ULL, 16384, RW, ANON | MAP_FIXED),
		     0);
	CHECK_EQ_INT(at(0x7f3000000000ULL)->cls, MW_CLASS_THREAD_STACK);
	CHECK_EQ_INT(mprotect_(22, 0x7f3000000000ULL, 16384, NONE), 0);
	CHECK_EQ_INT(at(0x7f3000000000ULL)->cls, MW_CLASS_STACK_GUARD);
	CHECK_EQ_INT(at(0x7f3000000000ULL + 16384)->cls, MW_CLASS_THREAD_STACK);
	/* ...and an nptl stack with its 4 KiB guard, the zone right above it. */
	CHECK_EQ_INT(mmap_(21, 0x7f3100000000ULL, 0, 1 * MB + PG, NONE, STK), 0);
	CHECK_EQ_INT(mprotect_(21, 0x7f3100000000ULL + PG, 1 * MB, RW), 1);
	CHECK_EQ_INT(mmap_(23, 0x7f3100001000ULL, 0x7f3100001000ULL, 16384, RW, ANON | MAP_FIXED),
		     0);
	CHECK_EQ_INT(mprotect_(23, 0x7f3100001000ULL, 16384, NONE), 0);
	CHECK_EQ_INT(at(0x7f3100000000ULL)->cls, MW_CLASS_STACK_GUARD);
	CHECK_EQ_INT(at(0x7f3100001000ULL)->cls, MW_CLASS_STACK_GUARD);
	CHECK_EQ_HEX(at(0x7f3100001000ULL)->end, 0x7f3100005000ULL);
	CHECK_EQ_INT(at(0x7f3100005000ULL)->cls, MW_CLASS_THREAD_STACK);
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
	chunk_hdr(c, 208896);
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
	chunk_hdr(c + 32 * MB, 256 * KB);
	chunk_hdr(c + 32 * MB + 256 * KB, 256 * KB);
	CHECK_EQ_INT(mmap_(40, c + 32 * MB, 0, 256 * KB, RW, ANON), 0);
	CHECK_EQ_INT(mmap_(40, c + 32 * MB + 256 * KB, 0, 256 * KB, RW, ANON), 0);
	CHECK_EQ_HEX(at(c + 32 * MB)->end, c + 32 * MB + 512 * KB);
	CHECK_EQ_INT(at(c + 32 * MB)->cls, MW_CLASS_MALLOC_CHUNK);
	finish();
}

TEST(alloc_chunk_only_with_glibcs_header)
{
	const uint64_t c = 0x7f7000000000ULL;

	start(glibc_maps);
	/* Python's object arenas: mmap(NULL, 1 MiB, RW) by Python itself, no header. */
	CHECK_EQ_INT(mmap_(41, c, 0, 1 * MB, RW, ANON), 0);
	CHECK_EQ_INT(at(c)->cls, MW_CLASS_ANON);
	/* Another writer's words where glibc's header would be. */
	poke(c + 4 * MB, 0x55aa00001000ULL);
	poke(c + 4 * MB + 8, 0x7f7000400010ULL);
	CHECK_EQ_INT(mmap_(41, c + 4 * MB, 0, 1 * MB, RW, ANON), 0);
	CHECK_EQ_INT(at(c + 4 * MB)->cls, MW_CLASS_ANON);
	/* A chunk of 1 MiB by glibc: its header. */
	chunk_hdr(c + 8 * MB, 1 * MB);
	CHECK_EQ_INT(mmap_(41, c + 8 * MB, 0, 1 * MB, RW, ANON), 0);
	CHECK_EQ_INT(at(c + 8 * MB)->cls, MW_CLASS_MALLOC_CHUNK);
	/* Go's own mappings: lengths glibc never asks for (not whole pages), even
	 * where nothing can be read. */
	mem_off = true;
	CHECK_EQ_INT(mmap_(42, c + 16 * MB, 0, 262144 + 8, RW, ANON), 0);
	CHECK_EQ_INT(at(c + 16 * MB)->cls, MW_CLASS_ANON);
	/* Nothing to read (a replay of an older recording): the shape decides. */
	CHECK_EQ_INT(mmap_(42, c + 24 * MB, 0, 1 * MB, RW, ANON), 0);
	CHECK_EQ_INT(at(c + 24 * MB)->cls, MW_CLASS_MALLOC_CHUNK);
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
	"7ffff7a80000-7ffff7a84000 rw-p 00080000 fe:01 3 /usr/lib/libjemalloc.so.2\n"
	/* The library's .bss, right after its data. */
	"7ffff7a84000-7ffff7ca0000 rw-p 00000000 00:00 0 \n"
	"7ffff7d80000-7ffff7da6000 r--p 00000000 fe:01 2 /usr/lib/x86_64-linux-gnu/libc.so.6\n"
	"7ffff7da6000-7ffff7efb000 r-xp 00026000 fe:01 2 /usr/lib/x86_64-linux-gnu/libc.so.6\n"
	"7ffff7fc0000-7ffff7fc2000 r-xp 00000000 00:00 0 [vdso]\n"
	"7ffff7ff0000-7ffff7ff1000 r-xp 00000000 00:00 0 [uprobes]\n"
	"7ffffffde000-7ffffffff000 rw-p 00000000 00:00 0 [stack]\n";

TEST(alloc_seed_baseline_classification)
{
	/* A thread blocked at attach: its stack pointer is in 7f0030001000-7f0030801000. */
	struct mw_stack_range stk = { 0x7f0030000000ULL, 0x7f0030001000ULL, 0x7f0030801000ULL };
	/* glibc's list is empty; by the kernel's mappings, these are no allocator's: right
	 * above PROT_NONE (two), right after the library's data (its .bss). */
	struct mw_range foreign[] = {
		{ 0x7f0004000000ULL, 0x100000 },
		{ 0x7f0030001000ULL, 0x800000 },
		{ 0x7ffff7a84000ULL, 0x21c000 },
	};
	struct mw_alloc_facts f = { .arenas = { .how = MW_ARENAS_MAIN_ARENA },
				    .foreign = foreign,
				    .nforeign = 3 };

	start_facts(rich_maps, &f);
	/* jemalloc wins over the libc that is always there; glibc's arenas are not
	 * its business (no glibc_arenas event). */
	CHECK_EQ_INT(nev, 1);
	CHECK_EQ_INT(evs[0].kind, MW_AEV_ALLOCATOR);
	CHECK_EQ_INT(evs[0].allocator, MW_ALLOCATOR_JEMALLOC);
	CHECK_EQ_STR(evs[0].evidence, "libjemalloc.so.2 mapped");
	CHECK_EQ_STR(mw_allocator_name(MW_ALLOCATOR_JEMALLOC), "jemalloc");
	CHECK_EQ_INT(mw_alloc_narenas(al), 0);
	/* Its memory: read-write anonymous mappings where the kernel put them. */
	CHECK_EQ_INT(at(0x7f0000000000ULL)->cls, MW_CLASS_JEMALLOC);
	CHECK_EQ_INT(at(0x7f0010000000ULL)->cls, MW_CLASS_JEMALLOC);
	CHECK_EQ_INT(at(0x7f0020200000ULL)->cls, MW_CLASS_JEMALLOC);
	CHECK_EQ_INT(mw_region_arena(at(0x7f0028000000ULL)), -1);
	/* Not its memory: PROT_NONE (jemalloc never maps any), read-write right above
	 * PROT_NONE (a stack over its guard), a library's .bss, special mappings. */
	CHECK_EQ_INT(at(0x7f0000021000ULL)->cls, MW_CLASS_ANON);
	CHECK_EQ_INT(at(0x7f0004000000ULL)->cls, MW_CLASS_ANON);
	CHECK_EQ_INT(at(0x7f0030000000ULL)->cls, MW_CLASS_ANON);
	CHECK_EQ_INT(at(0x7f0030001000ULL)->cls, MW_CLASS_ANON);
	CHECK_EQ_INT(at(0x7ffff7a84000ULL)->cls, MW_CLASS_ANON);
	CHECK_EQ_INT(at(0x7ffff7ff0000ULL)->cls, MW_CLASS_ANON);
	CHECK_EQ_INT(at(0x7ffff7fc0000ULL)->cls, MW_CLASS_ANON);
	CHECK_EQ_INT(at(0x55555555a000ULL)->cls, MW_CLASS_MAIN_HEAP);
	CHECK_EQ_INT(mw_region_arena(at(0x55555555a000ULL)), -1);
	CHECK_EQ_INT(at(0x7ffffffde000ULL)->cls, MW_CLASS_STACK);
	CHECK_EQ_INT(at(0x555555554000ULL)->cls, MW_CLASS_FILE);
	CHECK_EQ_INT(at(0x7ffff7a00000ULL)->cls, MW_CLASS_FILE);
	CHECK_EQ_INT(at(0x7f0040000000ULL)->cls, MW_CLASS_SHM);
	CHECK_EQ_INT(at(0x7f0040100000ULL)->cls, MW_CLASS_SHM);
	CHECK_EQ_INT(at(0x7f0040200000ULL)->cls, MW_CLASS_FILE);
	/* New memory: read-write where the kernel chose is jemalloc's extents; the
	 * loader's MAP_FIXED .bss, PROT_NONE and MAP_STACK are not. */
	CHECK_EQ_INT(mmap_(60, 0x7f5000000000ULL, 0, 2 * MB, RW, RESV), 0);
	CHECK_EQ_INT(at(0x7f5000000000ULL)->cls, MW_CLASS_JEMALLOC);
	CHECK_EQ_INT(mmap_(60, 0x7f5100000000ULL, 0x7f5100000000ULL, 2 * MB, RW, ANON | MAP_FIXED),
		     0);
	CHECK_EQ_INT(at(0x7f5100000000ULL)->cls, MW_CLASS_ANON);
	CHECK_EQ_INT(mmap_(60, 0x7f5200000000ULL, 0, 2 * MB, NONE, ANON), 0);
	CHECK_EQ_INT(at(0x7f5200000000ULL)->cls, MW_CLASS_ANON);
	CHECK_EQ_INT(mmap_(60, 0x7f5300000000ULL, 0, 8 * MB + PG, NONE, STK), 0);
	CHECK_EQ_INT(mprotect_(60, 0x7f5300000000ULL + PG, 8 * MB, RW), 1);
	CHECK_EQ_INT(at(0x7f5300001000ULL)->cls, MW_CLASS_THREAD_STACK);
	CHECK_EQ_INT(at(0x7f5300000000ULL)->cls, MW_CLASS_STACK_GUARD);
	finish();
	/* Without what the process says (nothing read), the same by maps' own neighbours. */
	start_facts(rich_maps, &(struct mw_alloc_facts){ .arenas = { .how = MW_ARENAS_UNKNOWN } });
	CHECK_EQ_INT(at(0x7f0000000000ULL)->cls, MW_CLASS_JEMALLOC);
	CHECK_EQ_INT(at(0x7f0004000000ULL)->cls, MW_CLASS_JEMALLOC);
	finish();
	/* With the blocked thread's stack: thread_stack over its stack_guard. */
	f.stacks = &stk;
	f.nstacks = 1;
	start_facts(rich_maps, &f);
	CHECK_EQ_INT(at(0x7f0030000000ULL)->cls, MW_CLASS_STACK_GUARD);
	CHECK_EQ_INT(at(0x7f0030001000ULL)->cls, MW_CLASS_THREAD_STACK);
	CHECK_EQ_HEX(at(0x7f0030001000ULL)->end, 0x7f0030801000ULL);
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

/* glibc's structures behind list_maps: main_arena in libc's data; arena A (the
 * older) with two heaps, arena B with one full heap; Go's heap, aligned too. */
#define MAIN_ARENA 0x7ffff7f03c60ULL
#define HEAP_A1 0x7f0000000000ULL
#define HEAP_A2 0x7f0004000000ULL
#define HEAP_B 0x7f0010000000ULL
#define GO_HEAP 0xc000000000ULL

static const char *list_maps =
	"555555554000-555555556000 r--p 00000000 fe:01 1 /usr/sbin/server\n"
	"55555555a000-5555555bb000 rw-p 00000000 00:00 0 [heap]\n"
	"c000000000-c000400000 rw-p 00000000 00:00 0 \n"
	"c000400000-c004000000 ---p 00000000 00:00 0 \n"
	"7f0000000000-7f0000021000 rw-p 00000000 00:00 0 \n"
	"7f0000021000-7f0004000000 ---p 00000000 00:00 0 \n"
	"7f0004000000-7f0004100000 rw-p 00000000 00:00 0 \n"
	"7f0004100000-7f0008000000 ---p 00000000 00:00 0 \n"
	"7f0010000000-7f0014000000 rw-p 00000000 00:00 0 \n"
	/* A glibc chunk of 1 MiB, then a Python object arena right above it. */
	"7f0020000000-7f0020100000 rw-p 00000000 00:00 0 \n"
	"7f0020100000-7f0020200000 rw-p 00000000 00:00 0 \n"
	/* A thread stack over its guard. */
	"7f0030000000-7f0030001000 ---p 00000000 00:00 0 \n"
	"7f0030001000-7f0030801000 rw-p 00000000 00:00 0 \n"
	"7ffff7d80000-7ffff7da6000 r--p 00000000 fe:01 2 /usr/lib/x86_64-linux-gnu/libc.so.6\n"
	"7ffff7da6000-7ffff7efb000 r-xp 00026000 fe:01 2 /usr/lib/x86_64-linux-gnu/libc.so.6\n"
	"7ffff7f00000-7ffff7f04000 rw-p 001cf000 fe:01 2 /usr/lib/x86_64-linux-gnu/libc.so.6\n"
	"7ffff7f04000-7ffff7f10000 rw-p 00000000 00:00 0 \n"
	"7ffffffde000-7ffffffff000 rw-p 00000000 00:00 0 [stack]\n";

static void fake_glibc(void)
{
	const uint64_t a = HEAP_A1 + 48, b = HEAP_B + 48;

	/* glibc links the newest arena first: main -> B -> A -> main. */
	fake_state(MAIN_ARENA, 0x55555557a000ULL, b, 0x61000);
	fake_state(b, HEAP_B + 64 * MB - 0x100, a, 64 * MB);
	fake_heap(HEAP_B, b, 0, 64 * MB, 64 * MB);
	fake_state(a, HEAP_A2 + 0x80000, MAIN_ARENA, 0x21000 + 0x100000);
	fake_heap(HEAP_A1, a, 0, 0x21000, 0x21000);
	fake_heap(HEAP_A2, a, HEAP_A1, 0x100000, 0x100000);
	/* Go's heap starts with Go's own words. */
	poke(GO_HEAP, 0xc000001000ULL);
	poke(GO_HEAP + 8, 0x2a);
	chunk_hdr(0x7f0020000000ULL, 1 * MB);
}

static void read_list(uint64_t main_arena, struct mw_glibc_arenas *g)
{
	struct mw_regions r;

	mw_regions_init(&r);
	CHECK_EQ_INT(mw_maps_parse(list_maps, &r), 0);
	mw_glibc_arenas_read(&fake_mem, PID, &r, main_arena, 0, g);
	mw_regions_free(&r);
}

TEST(alloc_glibc_arena_list_walk)
{
	struct mw_glibc_arenas g;

	fake_glibc();
	/* From main_arena (libc's symbols): glibc's word, oldest arena first. */
	read_list(MAIN_ARENA, &g);
	CHECK_EQ_INT(g.how, MW_ARENAS_MAIN_ARENA);
	CHECK_EQ_INT(g.narenas, 2);
	CHECK_EQ_INT(g.nheaps, 3);
	CHECK_EQ_HEX(g.heaps[0].base, HEAP_A1);
	CHECK_EQ_INT(g.heaps[0].arena, 0);
	CHECK_EQ_HEX(g.heaps[1].base, HEAP_A2);
	CHECK_EQ_INT(g.heaps[1].arena, 0);
	CHECK_EQ_INT(g.heaps[1].rw, 0x100000);
	CHECK_EQ_HEX(g.heaps[2].base, HEAP_B);
	CHECK_EQ_INT(g.heaps[2].arena, 1);
	CHECK_EQ_INT(g.heap_max, 64 * MB);
	mw_glibc_arenas_free(&g);
	/* Without symbols: from a heap that opens an arena, the next pointers lead into
	 * libc's data; every field checked, the same list. */
	read_list(0, &g);
	CHECK_EQ_INT(g.how, MW_ARENAS_LAYOUT);
	CHECK_EQ_HEX(g.main_arena, MAIN_ARENA);
	CHECK_EQ_INT(g.narenas, 2);
	CHECK_EQ_INT(g.nheaps, 3);
	mw_glibc_arenas_free(&g);
	/* A heap whose mprotect_size is not its read-write part in maps: not
	 * verified, so the count is unknown (glibc's own list still says). */
	poke(HEAP_A1 + 24, 0x22000);
	read_list(0, &g);
	CHECK_EQ_INT(g.how, MW_ARENAS_UNKNOWN);
	CHECK_EQ_INT(g.nheaps, 0);
	mw_glibc_arenas_free(&g);
	read_list(MAIN_ARENA, &g);
	CHECK_EQ_INT(g.how, MW_ARENAS_MAIN_ARENA);
	mw_glibc_arenas_free(&g);
	poke(HEAP_A1 + 24, 0x21000);
	/* system_mem must be the sum of the heaps' sizes (a torn read is not). */
	poke(HEAP_A1 + 48 + 2184, 0x21000);
	read_list(MAIN_ARENA, &g);
	CHECK_EQ_INT(g.how, MW_ARENAS_UNKNOWN);
	CHECK(g.why != NULL);
	mw_glibc_arenas_free(&g);
	poke(HEAP_A1 + 48 + 2184, 0x121000);
	/* A list that does not lead back to main_arena. */
	poke(HEAP_A1 + 48 + 2160, HEAP_B + 48);
	read_list(MAIN_ARENA, &g);
	CHECK_EQ_INT(g.how, MW_ARENAS_UNKNOWN);
	mw_glibc_arenas_free(&g);
	/* No arena at all: main_arena's next is itself. Without symbols, Go's heap
	 * verifies as nothing: unknown, not zero. */
	poke(MAIN_ARENA + 2160, MAIN_ARENA);
	read_list(MAIN_ARENA, &g);
	CHECK_EQ_INT(g.how, MW_ARENAS_MAIN_ARENA);
	CHECK_EQ_INT(g.narenas, 0);
	mw_glibc_arenas_free(&g);
	nwords = 0;
	read_list(0, &g);
	CHECK_EQ_INT(g.how, MW_ARENAS_UNKNOWN);
	mw_glibc_arenas_free(&g);
	/* Nothing to read it with. */
	mem_off = true;
	fake_glibc();
	read_list(MAIN_ARENA, &g);
	CHECK_EQ_INT(g.how, MW_ARENAS_UNKNOWN);
	mw_glibc_arenas_free(&g);
	mem_off = false;
	/* No heap-shaped mapping: none, whatever memory says. */
	{
		struct mw_regions r;

		mw_regions_init(&r);
		CHECK_EQ_INT(mw_maps_parse(glibc_maps, &r), 0);
		mw_glibc_arenas_read(&fake_mem, PID, &r, 0, 0, &g);
		CHECK_EQ_INT(g.how, MW_ARENAS_NONE);
		mw_regions_free(&r);
	}
	/* A chunk header: prev_size 0, size with IS_MMAPPED only. */
	CHECK(mw_glibc_is_chunk_header((const uint64_t[]){ 0, 208896 | 2 }, 208896));
	CHECK(!mw_glibc_is_chunk_header((const uint64_t[]){ 0, 208896 | 3 }, 208896));
	CHECK(!mw_glibc_is_chunk_header((const uint64_t[]){ 16, 208896 | 2 }, 208896));
	CHECK(!mw_glibc_is_chunk_header((const uint64_t[]){ 0, 204800 | 2 }, 208896));
	finish();
}

TEST(alloc_seed_glibc_list)
{
	struct mw_stack_range stk = { 0x7f0030000000ULL, 0x7f0030001000ULL, 0x7f0030801000ULL };
	struct mw_alloc_facts f = { .stacks = &stk, .nstacks = 1 };
	struct mw_regions r;
	const struct mw_arena *ar;

	fake_glibc();
	read_list(MAIN_ARENA, &f.arenas);
	start_facts(list_maps, &f);
	mw_glibc_arenas_free(&f.arenas);
	CHECK_EQ_INT(nev, 2);
	CHECK_EQ_INT(evs[0].kind, MW_AEV_ALLOCATOR);
	CHECK_EQ_INT(evs[1].kind, MW_AEV_ARENAS);
	CHECK_EQ_INT(evs[1].arena, 2);
	CHECK_EQ_INT(evs[1].heaps, 3);
	CHECK_EQ_INT(evs[1].how, MW_ARENAS_MAIN_ARENA);
	CHECK(mw_alloc_arenas_known(al));
	/* glibc's own list: arena 1 has two heaps, the oldest arena first. */
	CHECK_EQ_INT(mw_alloc_narenas(al), 2);
	ar = mw_alloc_arena(al, 0);
	CHECK_EQ_INT(ar->creator_tid, 0);
	CHECK_EQ_INT(ar->nheaps, 2);
	CHECK_EQ_HEX(ar->heaps[1].base, HEAP_A2);
	CHECK_EQ_INT(ar->reserved, 128 * MB);
	CHECK_EQ_INT(ar->committed, 0x21000 + 0x100000);
	CHECK_EQ_INT(mw_alloc_arena(al, 1)->committed, 64 * MB);
	CHECK_EQ_INT(at(HEAP_A2)->cls, MW_CLASS_ARENA_HEAP);
	CHECK_EQ_INT(mw_region_arena(at(HEAP_A2 + 0x100000)), 1);
	CHECK_EQ_INT(mw_region_arena(at(HEAP_B)), 2);
	/* Go's heap has a glibc heap's shape and is no arena. */
	CHECK_EQ_INT(at(GO_HEAP)->cls, MW_CLASS_ANON);
	/* The blocked thread's stack. */
	CHECK_EQ_INT(at(0x7f0030001000ULL)->cls, MW_CLASS_THREAD_STACK);
	CHECK_EQ_INT(at(0x7f0030000000ULL)->cls, MW_CLASS_STACK_GUARD);
	/* Growth by any thread: no reuse, only a thread seen growing it. */
	CHECK_EQ_INT(mprotect_(61, HEAP_A2 + 0x100000, PG, RW), 1);
	CHECK_ONE(MW_AEV_ARENA_GROW, 1, 61, HEAP_A2);
	CHECK_EQ_INT(evs[0].committed, 0x21000 + 0x101000);
	CHECK_EQ_INT(mprotect_(62, HEAP_A2 + 0x101000, PG, RW), 1);
	CHECK_EQ_INT(mw_alloc_arena(al, 0)->nthreads, 2);
	/* Arena 2's used top is unknown: a DONTNEED ending below its RW end shrinks. */
	CHECK_EQ_INT(madvise_(63, HEAP_B + 32 * MB, 0x20000, MADV_DONTNEED), 1);
	CHECK_ONE(MW_AEV_ARENA_SHRINK, 2, 63, HEAP_B);
	CHECK(!evs[0].hole);
	CHECK_ARENA_STATE(evs[0], 64 * MB, 64 * MB, 0x20000, 1);
	/* Then the top is known: one ending below it is a hole malloc_trim gave back,
	 * trimmed too, the top stays. */
	CHECK_EQ_INT(madvise_(63, HEAP_B + 0x10000, 0x10000, MADV_DONTNEED), 1);
	CHECK(evs[0].hole);
	CHECK_EQ_INT(evs[0].trimmed, 0x30000);
	CHECK_EQ_INT(madvise_(63, HEAP_B + 32 * MB + 0x10000, 0x10000, MADV_DONTNEED), 1);
	CHECK(!evs[0].hole);
	finish();
	/* Chunks glibc mapped, read off their headers at attach: header after header
	 * in each anonymous read-write mapping, up to the first that is none. */
	fake_glibc();
	mw_regions_init(&r);
	CHECK_EQ_INT(mw_maps_parse(list_maps, &r), 0);
	CHECK_EQ_INT(mw_glibc_find_chunks(&fake_mem, PID, &r, &f.chunks, &f.nchunks, 100), 0);
	mw_regions_free(&r);
	CHECK_EQ_INT(f.nchunks, 1);
	CHECK_EQ_HEX(f.chunks[0].start, 0x7f0020000000ULL);
	CHECK_EQ_INT(f.chunks[0].len, 1 * MB);
	read_list(MAIN_ARENA, &f.arenas);
	start_facts(list_maps, &f);
	mw_glibc_arenas_free(&f.arenas);
	free(f.chunks);
	CHECK_EQ_INT(at(0x7f0020000000ULL)->cls, MW_CLASS_MALLOC_CHUNK);
	CHECK_EQ_HEX(at(0x7f0020000000ULL)->end, 0x7f0020100000ULL);
	CHECK_EQ_INT(at(0x7f0020100000ULL)->cls, MW_CLASS_ANON);
	finish();
}

TEST(alloc_seed_unknown_arenas)
{
	const uint64_t base = 0x7f9fcc000000ULL;
	struct mw_alloc_facts unread = { .arenas = { .how = MW_ARENAS_UNKNOWN,
						     .why = "no symbols, nothing verified" } };

	/* No list (it would not verify), heap-shaped memory: the count is unknown,
	 * never taken from shape. */
	start_facts(list_maps, &unread);
	CHECK_EQ_INT(nev, 2);
	CHECK_EQ_INT(evs[1].kind, MW_AEV_ARENAS);
	CHECK_EQ_INT(evs[1].arena, -1);
	CHECK_EQ_INT(evs[1].how, MW_ARENAS_UNKNOWN);
	CHECK_EQ_STR(evs[1].evidence, "no symbols, nothing verified");
	CHECK(!mw_alloc_arenas_known(al));
	CHECK_EQ_INT(mw_alloc_narenas(al), 0);
	CHECK_EQ_INT(at(HEAP_A1)->cls, MW_CLASS_ANON);
	CHECK_EQ_INT(at(GO_HEAP)->cls, MW_CLASS_ANON);
	/* Arenas created since are still seen. */
	create_aligned(70, base);
	CHECK_EQ_INT(mw_alloc_narenas(al), 1);
	CHECK(!mw_alloc_arenas_known(al));
	finish();
	/* Nothing heap-shaped: none, and nothing to say. */
	start_facts(glibc_maps, &unread);
	CHECK_EQ_INT(nev, 1);
	CHECK(mw_alloc_arenas_known(al));
	finish();
	/* No glibc mapped (Go without cgo): unknown, but no glibc_arenas event. */
	start_facts("c000000000-c000400000 rw-p 00000000 00:00 0 \n"
		    "c000400000-c004000000 ---p 00000000 00:00 0 \n",
		    &unread);
	CHECK_EQ_INT(nev, 0);
	CHECK(!mw_alloc_arenas_known(al));
	finish();
	/* A recording made before glibc's list was read (no facts at all) replays as it
	 * was made: by shape (Go's heap included), no glibc_arenas event. */
	start(list_maps);
	CHECK_EQ_INT(nev, 1);
	CHECK_EQ_INT(mw_alloc_narenas(al), 4);
	CHECK(mw_alloc_arenas_known(al));
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
	CHECK_EQ_INT(mprotect_(81, base + 135168, PG, RW), 1);
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
	/* glibc's list names the heaps; the aligned chunk is not among them. */
	struct mw_glibc_heap heaps[] = {
		{ 0x7f0010000000ULL, 64 * MB, 0 },
		{ 0x7f0014000000ULL, 64 * MB, 1 },
		{ 0x7f0030000000ULL, 64 * MB, 2 },
		{ 0x7f0034000000ULL, 0x21000, 3 },
	};
	struct mw_alloc_facts f = { .arenas = { .how = MW_ARENAS_MAIN_ARENA,
						.heap_max = 64 * MB,
						.narenas = 4,
						.heaps = heaps,
						.nheaps = 4 } };

	start_facts(maps, &f);
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

/*
 * A 64 TiB MAP_NORESERVE mapping (issue: 0.5 s of CPU per seed, walked in 64 MiB steps with
 * heap_shape 64 deep at each): the seed is O(regions). The heaps around it are found as they
 * always were: a heap after it, 10 full heaps and a partial one in one rw-p line (11 arenas),
 * and 70 full heaps and a partial one, where only the partial one is a heap (the chain from
 * the line's start is deeper than 64).
 */
TEST(alloc_seed_huge_mapping_is_cheap)
{
	static const char *maps = "7ffff7d80000-7ffff7da6000 r--p 00000000 fe:01 2 /lib/libc.so.6\n"
				  /* 64 TiB rw-p, 64 MiB aligned. */
				  "100000000000-500000000000 rw-p 00000000 00:00 0 \n"
				  /* A heap with a ---p tail two heaps above it. */
				  "500008000000-500008021000 rw-p 00000000 00:00 0 \n"
				  "500008021000-50000c000000 ---p 00000000 00:00 0 \n"
				  /* 10 full heaps and a partial one. */
				  "580000000000-580028100000 rw-p 00000000 00:00 0 \n"
				  "580028100000-58002c000000 ---p 00000000 00:00 0 \n"
				  /* 70 full heaps and a partial one. */
				  "600000000000-600119100000 rw-p 00000000 00:00 0 \n"
				  "600119100000-60011c000000 ---p 00000000 00:00 0 \n";
	struct timespec a, b;
	double s;

	clock_gettime(CLOCK_MONOTONIC, &a);
	start(maps);
	clock_gettime(CLOCK_MONOTONIC, &b);
	s = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
	printf("  alloc: seed with a 64 TiB mapping: %.4f s\n", s);
	CHECK(s < 0.05);
	CHECK_EQ_INT(mw_alloc_narenas(al), 1 + 11 + 1);
	if (mw_alloc_narenas(al) != 13) {
		finish();
		return;
	}
	CHECK_EQ_HEX(mw_alloc_arena(al, 0)->heaps[0].base, 0x500008000000ULL);
	for (size_t i = 0; i < 11; i++)
		CHECK_EQ_HEX(mw_alloc_arena(al, 1 + i)->heaps[0].base,
			     0x580000000000ULL + i * 64 * MB);
	CHECK_EQ_INT(mw_alloc_arena(al, 11)->committed, 0x100000);
	CHECK_EQ_HEX(mw_alloc_arena(al, 12)->heaps[0].base, 0x600000000000ULL + 70 * 64 * MB);
	CHECK_EQ_INT(mw_alloc_arena(al, 12)->committed, 0x1100000);
	CHECK_EQ_INT(at(0x100000000000ULL)->cls, MW_CLASS_ANON);
	CHECK_EQ_INT(at(0x600000000000ULL)->cls, MW_CLASS_ANON);
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
	/* Releases inside the brk heap: trimmed from the main heap, no arena event. */
	CHECK_EQ_INT(madvise_(5, b + MB, 3 * 8 * KB, MADV_DONTNEED), 1);
	CHECK_EQ_INT(evs[0].kind, MW_AEV_MAIN_HEAP_TRIM);
	CHECK(evs[0].hole);
	CHECK_EQ_INT(mw_alloc_main_trimmed(al), 3 * 8 * KB);
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
	struct mw_glibc_heap heaps[] = {
		{ 0x7f0334000000ULL, 0x21000, 0 },
		{ 0x7f0338000000ULL, 0x22000, 1 },
	};
	struct mw_alloc_facts f = {
		.arenas = { .how = MW_ARENAS_LAYOUT, .narenas = 2, .heaps = heaps, .nheaps = 2 }
	};

	start_facts(memcached_maps, &f);
	CHECK_EQ_INT(mw_alloc_narenas(al), 2);
	CHECK_EQ_HEX(mw_alloc_arena(al, 0)->heaps[0].base, 0x7f0334000000ULL);
	/* The read-write part from the base, though maps merged it with the slabs. */
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

/* ---- allocator evidence, glibc.malloc.hugetlb=2 --------------------------------- */

TEST(alloc_libc_evidence_not_overwritten_by_loader)
{
	/* maps lists glibc's loader after libc.so.6. */
	static const char *maps =
		"555555554000-555555556000 r--p 00000000 fe:01 1 /usr/bin/w\n"
		"7ffff7d80000-7ffff7da6000 r--p 00000000 fe:01 2 /usr/lib/x86_64-linux-gnu/libc.so.6\n"
		"7ffff7fc3000-7ffff7fc5000 r--p 00000000 fe:01 9 "
		"/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2\n"
		"7ffffffde000-7ffffffff000 rw-p 00000000 00:00 0 [stack]\n";

	start(maps);
	CHECK_EQ_INT(nev, 1);
	CHECK_EQ_STR(evs[0].evidence, "libc.so.6 mapped");
	/* So the jemalloc extent rule is not armed in a glibc process. */
	CHECK_EQ_INT(mmap_(10, 0x7f6000000000ULL, 0, 2 * MB, RW, RESV), 0);
	CHECK_EQ_INT(mmap_(10, 0x7f6000200000ULL, 0, 2 * MB, RW, RESV), 0);
	CHECK_EQ_INT(mw_alloc_allocator(al), MW_ALLOCATOR_GLIBC);
	finish();
	/* Seeded at exec, the loader's word first; libc mapped later firms it up. */
	start("7ffff7fc3000-7ffff7fc5000 r--p 00000000 fe:01 9 /lib64/ld-linux-x86-64.so.2\n");
	CHECK_EQ_STR(evs[0].evidence, "glibc's dynamic loader mapped");
	{
		struct mw_regions r;

		mw_regions_init(&r);
		CHECK_EQ_INT(mw_maps_parse(maps, &r), 0);
		CHECK_EQ_INT(mw_alloc_detect(al, &r, evs, 64), 0);
		mw_regions_free(&r);
	}
	CHECK_EQ_INT(mmap_(10, 0x7f6000000000ULL, 0, 2 * MB, RW, RESV), 0);
	CHECK_EQ_INT(mmap_(10, 0x7f6000200000ULL, 0, 2 * MB, RW, RESV), 0);
	CHECK_EQ_INT(mw_alloc_allocator(al), MW_ALLOCATOR_GLIBC);
	finish();
}

TEST(alloc_hugetlb_2_heaps_and_main_segments)
{
	/* glibc.malloc.hugetlb=2, no huge pages reserved (measured): heaps of 4 x
	 * 2 MiB, from a 16 MiB reservation, first commit 2 MiB. */
	struct mw_alloc_facts f = { .arenas = { .how = MW_ARENAS_NONE, .heap_max = 8 * MB } };
	const uint64_t r = 0x7f0000300000ULL, base = 0x7f0000800000ULL, c = 0x7f7000000000ULL;

	start_facts(glibc_maps, &f);
	CHECK_EQ_INT(mmap_(11, r, 0, 16 * MB, NONE, RESV), 0);
	CHECK_EQ_INT(munmap_(11, r, base - r), 0);
	CHECK_EQ_INT(munmap_(11, base + 8 * MB, r + 16 * MB - base - 8 * MB), 0);
	CHECK_EQ_INT(mprotect_(11, base, 2 * MB, RW), 1);
	CHECK_ONE(MW_AEV_ARENA_CREATE, 1, 11, base);
	CHECK_ARENA_STATE(evs[0], 8 * MB, 2 * MB, 0, 1);
	CHECK_EQ_INT(at(base + 4 * MB)->cls, MW_CLASS_ARENA_HEAP);
	/* The main arena: a MAP_HUGETLB try fails, then a 1 MiB segment (no chunk
	 * header: the top chunk's) is main arena memory... */
	CHECK_EQ_INT(step(sc(PID, MW_SYS_MMAP, -ENOMEM, 0, 2 * MB, RW, ANON | MAP_HUGETLB)), 0);
	CHECK_EQ_INT(mmap_(PID, c, 0, 1 * MB, RW, ANON), 0);
	CHECK_EQ_INT(at(c)->cls, MW_CLASS_MAIN_HEAP);
	CHECK_EQ_INT(mw_region_arena(at(c)), 0);
	/* ...and a chunk after the same failed try carries glibc's chunk header. */
	chunk_hdr(c + 4 * MB, 1 * MB);
	CHECK_EQ_INT(step(sc(PID, MW_SYS_MMAP, -ENOMEM, 0, 2 * MB, RW, ANON | MAP_HUGETLB)), 0);
	CHECK_EQ_INT(mmap_(PID, c + 4 * MB, 0, 1 * MB, RW, ANON), 0);
	CHECK_EQ_INT(at(c + 4 * MB)->cls, MW_CLASS_MALLOC_CHUNK);
	/* 64 MiB reservations are not heaps here. */
	CHECK_EQ_INT(mmap_(12, 0x7f1000000000ULL, 0, 64 * MB, NONE, RESV), 0);
	CHECK_EQ_INT(mprotect_(12, 0x7f1000000000ULL, 135168, RW), 0);
	finish();
}
