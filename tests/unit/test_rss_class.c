// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Resident bytes by class and arena: smaps' Rss placed on the region map. */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include "ledger/class.h"
#include "ledger/rss_class.h"
#include "unit.h"

#define PG 4096ULL

static void map(struct mw_regions *r, uint64_t start, uint64_t end, uint8_t cls, int16_t arena)
{
	struct mw_region g = { .start = start,
			       .end = end,
			       .prot = PROT_READ | PROT_WRITE,
			       .cls = cls,
			       .arena = arena };

	CHECK_EQ_INT(mw_regions_map(r, &g, NULL), 0);
}

static int calls;

/* As if every other page of the range were present. */
static int half_present(void *ctx, uint64_t start, uint64_t end, uint64_t *bytes)
{
	(void)ctx;
	calls++;
	*bytes = (end - start) / 2;
	return 0;
}

TEST(rss_class_places_mappings_on_classes_and_arenas)
{
	struct mw_regions r;
	struct mw_resident_map m = { 0 };
	/* The heap; an arena's heap (arena 1: label 2) with its PROT_NONE rest; an anonymous
	 * mapping and a glibc chunk the kernel merged into one VMA; a mapping memwatch has no
	 * region for. */
	const struct mw_rss v[] = {
		{ 0x1000000, 0x1100000, 0x80000 },
		{ 0x4000000, 0x4100000, 0x30000 },
		{ 0x4100000, 0x8000000, 0 },
		{ 0x7f0000000000ULL, 0x7f0000400000ULL, 0x300000 },
		{ 0xffffffffff600000ULL, 0xffffffffff601000ULL, PG },
	};

	mw_regions_init(&r);
	map(&r, 0x1000000, 0x1100000, MW_CLASS_MAIN_HEAP, 1);
	map(&r, 0x4000000, 0x4100000, MW_CLASS_ARENA_HEAP, 2);
	map(&r, 0x4100000, 0x8000000, MW_CLASS_ARENA_HEAP, 2);
	map(&r, 0x7f0000000000ULL, 0x7f0000100000ULL, MW_CLASS_ANON, 0);
	map(&r, 0x7f0000100000ULL, 0x7f0000400000ULL, MW_CLASS_MALLOC_CHUNK, 0);
	calls = 0;
	CHECK_EQ_INT(mw_rss_place(&r, v, 5, half_present, NULL, &m), 0);
	CHECK(m.known);
	CHECK_EQ_INT(m.by_class[MW_CLASS_MAIN_HEAP], 0x80000);
	CHECK_EQ_INT(m.by_class[MW_CLASS_ARENA_HEAP], 0x30000);
	/* The merged VMA: by the pages present in each part, not its Rss shared by size. */
	CHECK_EQ_INT(calls, 2);
	CHECK_EQ_INT(m.by_class[MW_CLASS_ANON], 0x80000);
	CHECK_EQ_INT(m.by_class[MW_CLASS_MALLOC_CHUNK], 0x180000);
	CHECK_EQ_INT(m.narenas, 2);
	CHECK_EQ_INT(m.narenas == 2 ? m.by_arena[0] : 0, 0x80000);
	CHECK_EQ_INT(m.narenas == 2 ? m.by_arena[1] : 0, 0x30000);
	/* Without a pages reader a merged VMA cannot be split: unknown, not a guess. */
	CHECK_EQ_INT(mw_rss_place(&r, v, 5, NULL, NULL, &m), -ENOSYS);
	CHECK(!m.known);
	CHECK_EQ_INT(m.by_class[MW_CLASS_MAIN_HEAP], 0);
	mw_resident_map_clear(&m);
	mw_regions_free(&r);
}
