// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The interval map: every operation on small hand-checked layouts, the
 * glibc arena sequence, and a randomized run against a page-by-page model. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <sys/mman.h>
#include "ledger/regions.h"
#include "unit.h"

#define PG 4096ULL
#define MB (1024ULL * 1024)
#define RW (PROT_READ | PROT_WRITE)
#define RO PROT_READ
#define RX (PROT_READ | PROT_EXEC)
#define NONE PROT_NONE
#define B 0x7f0000000000ULL /* a base address for hand-made layouts */

struct want {
	uint64_t start, end;
	uint32_t prot;
};

/* Check the layout is exactly want[] and the invariants hold; failures are
 * reported at the caller's line. */
static void expect_at(const struct mw_regions *r, const struct want *w, size_t n, int line)
{
	for (size_t i = 0; i < r->n; i++) {
		const struct mw_region *g = &r->v[i];

		if (g->start >= g->end)
			unit_fail(__FILE__, line, "region %zu is empty", i);
		if (i && r->v[i - 1].end > g->start)
			unit_fail(__FILE__, line, "regions %zu and %zu overlap", i - 1, i);
		if (i && r->v[i - 1].end == g->start && r->v[i - 1].prot == g->prot &&
		    r->v[i - 1].flags == g->flags && r->v[i - 1].tid == g->tid &&
		    r->v[i - 1].name == g->name && r->v[i - 1].cls == g->cls &&
		    r->v[i - 1].arena == g->arena)
			unit_fail(__FILE__, line, "regions %zu and %zu not merged", i - 1, i);
	}
	if (r->n != n) {
		unit_fail(__FILE__, line, "%zu regions, want %zu", r->n, n);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		const struct mw_region *g = &r->v[i];

		if (g->start != w[i].start || g->end != w[i].end || g->prot != w[i].prot)
			unit_fail(__FILE__, line,
				  "region %zu is %#" PRIx64 "-%#" PRIx64 " prot %u, want %#" PRIx64
				  "-%#" PRIx64 " prot %u",
				  i, g->start, g->end, g->prot, w[i].start, w[i].end, w[i].prot);
	}
}

#define EXPECT(r, ...)                                                    \
	do {                                                              \
		const struct want _w[] = { __VA_ARGS__ };                 \
		expect_at((r), _w, sizeof(_w) / sizeof(_w[0]), __LINE__); \
	} while (0)
#define EXPECT_EMPTY(r) expect_at((r), NULL, 0, __LINE__)

#define CHECK_DELTA(d, m, u, a, res)               \
	do {                                       \
		CHECK_EQ_INT((d).mapped, (m));     \
		CHECK_EQ_INT((d).unmapped, (u));   \
		CHECK_EQ_INT((d).accessible, (a)); \
		CHECK_EQ_INT((d).reserved, (res)); \
	} while (0)

static struct mw_region reg(uint64_t start, uint64_t end, uint32_t prot)
{
	return (struct mw_region){
		.start = start, .end = end, .prot = prot, .tid = 7, .ts_ns = 100
	};
}

static void map(struct mw_regions *r, uint64_t start, uint64_t end, uint32_t prot,
		struct mw_vm_delta *d)
{
	struct mw_region g = reg(start, end, prot);

	CHECK_EQ_INT(mw_regions_map(r, &g, d), 0);
}

/* A, hole, B, C: three regions with different prot, used by several tests. */
static void three(struct mw_regions *r)
{
	mw_regions_init(r);
	map(r, B, B + 4 * PG, RW, NULL);
	map(r, B + 6 * PG, B + 8 * PG, RO, NULL);
	map(r, B + 8 * PG, B + 10 * PG, RX, NULL);
}

/* ---- string pool ---- */

TEST(regions_intern)
{
	char buf[32] = "/usr/lib/libc.so.6";
	const char *a = mw_intern(buf), *b;

	CHECK(a && a != buf);
	CHECK_EQ_STR(a, "/usr/lib/libc.so.6");
	buf[0] = 'X'; /* the pool owns its copy */
	CHECK_EQ_STR(a, "/usr/lib/libc.so.6");
	b = mw_intern("/usr/lib/libc.so.6");
	CHECK(a == b);
	CHECK(mw_intern(NULL) == NULL);
	CHECK(mw_intern("[heap]") != a);
	CHECK(mw_intern_len("/usr/lib/libc.so.6 trailing", 18) == a);
	CHECK(mw_intern_len("ab\0cd", 5) == mw_intern("ab"));
	CHECK_EQ_STR(mw_intern(""), "");
}

TEST(regions_intern_many_stay_stable)
{
	const char *first[600];
	char buf[32];

	/* Enough strings to grow the table several times. */
	for (int i = 0; i < 600; i++) {
		snprintf(buf, sizeof(buf), "/lib/n%d.so", i);
		first[i] = mw_intern(buf);
		CHECK(first[i] != NULL);
	}
	for (int i = 0; i < 600; i++) {
		snprintf(buf, sizeof(buf), "/lib/n%d.so", i);
		CHECK(mw_intern(buf) == first[i]);
		CHECK_EQ_STR(first[i], buf);
	}
}

/* A process with 60k mapping names exits: a sweep frees its names (the pool does not grow with
 * every process memwatch ever saw); marked and pinned names stay, at the same address. */
TEST(regions_intern_sweep_reclaims)
{
	struct mw_regions r;
	const char *kept, *pinned;
	size_t before, after, bytes_before, bytes_after;
	char buf[160];

	mw_intern_sweep(); /* nothing held across tests: start from the pinned names */
	kept = mw_intern("/usr/lib/x86_64-linux-gnu/libc.so.6");
	pinned = mw_intern_pin("/proc/1/map_files/1000-2000");
	mw_regions_init(&r);
	for (uint64_t i = 0; i < 60000; i++) {
		struct mw_region g = { .start = B + 2 * i * PG, .end = B + (2 * i + 1) * PG };

		snprintf(buf, sizeof(buf), "/memfd:mf-%" PRIu64 "-%0100d (deleted)", i, 0);
		g.name = mw_intern(buf);
		CHECK(g.name != NULL);
		CHECK_EQ_INT(mw_regions_map(&r, &g, NULL), 0);
	}
	mw_intern_stats(&before, &bytes_before);
	CHECK(before >= 60002);
	/* While the regions hold them, marking keeps every one. */
	for (size_t i = 0; i < r.n; i++)
		mw_intern_mark(r.v[i].name);
	mw_intern_mark(kept);
	CHECK(mw_intern_sweep() >= 60002);
	CHECK_EQ_STR(r.v[59999].name, "/memfd:mf-59999-0000000000000000000000000000000000000000000"
				      "000000000000000000000000000000000000000000000000000000000 "
				      "(deleted)");
	/* The process is gone: its names go, the others stay where they were. */
	mw_regions_free(&r);
	mw_intern_mark(kept);
	after = mw_intern_sweep();
	mw_intern_stats(&after, &bytes_after);
	CHECK(after < 100);
	CHECK(bytes_after < bytes_before / 50);
	CHECK(mw_intern("/usr/lib/x86_64-linux-gnu/libc.so.6") == kept);
	CHECK(mw_intern_pin("/proc/1/map_files/1000-2000") == pinned);
	CHECK_EQ_STR(kept, "/usr/lib/x86_64-linux-gnu/libc.so.6");
	/* Unmarked now: the next sweep frees it, the pinned one stays. */
	mw_intern_sweep();
	mw_intern_stats(&after, &bytes_after);
	CHECK(mw_intern_pin("/proc/1/map_files/1000-2000") == pinned);
	CHECK_EQ_STR(mw_intern("/usr/lib/x86_64-linux-gnu/libc.so.6"),
		     "/usr/lib/x86_64-linux-gnu/libc.so.6");
}

/* ---- map ---- */

TEST(regions_map_into_empty)
{
	struct mw_regions r;
	struct mw_vm_delta d = {};
	const struct mw_region *g;

	mw_regions_init(&r);
	map(&r, B, B + 3 * PG, RW, &d);
	EXPECT(&r, { B, B + 3 * PG, RW });
	CHECK_DELTA(d, 3 * PG, 0, 3 * PG, 0);
	g = mw_regions_find(&r, B + PG);
	CHECK(g && g->tid == 7 && g->ts_ns == 100);
	CHECK(mw_regions_find(&r, B - 1) == NULL);
	CHECK(mw_regions_find(&r, B + 3 * PG) == NULL);
	CHECK(mw_regions_find(&r, B + 3 * PG - 1) == g);
	mw_regions_free(&r);
	CHECK(r.v == NULL && r.n == 0);
}

TEST(regions_map_delta_accumulates)
{
	struct mw_regions r;
	struct mw_vm_delta d = { .mapped = 1, .unmapped = 2, .accessible = 3, .reserved = 4 };

	mw_regions_init(&r);
	map(&r, B, B + PG, NONE, &d);
	CHECK_DELTA(d, 1 + PG, 2, 3, 4 + PG);
	map(&r, B, B + PG, RW, &d);
	CHECK_DELTA(d, 1 + 2 * PG, 2 + PG, 3 + PG, 4);
	mw_regions_free(&r);
}

TEST(regions_map_empty_range_is_noop)
{
	struct mw_regions r;
	struct mw_vm_delta d = {};

	mw_regions_init(&r);
	map(&r, B, B, RW, &d);
	map(&r, B + PG, B, RW, &d);
	EXPECT_EMPTY(&r);
	CHECK_DELTA(d, 0, 0, 0, 0);
	mw_regions_free(&r);
}

TEST(regions_map_fixed_exact_overlap)
{
	struct mw_regions r;
	struct mw_vm_delta d = {};

	three(&r);
	map(&r, B + 6 * PG, B + 8 * PG, NONE, &d);
	EXPECT(&r, { B, B + 4 * PG, RW }, { B + 6 * PG, B + 8 * PG, NONE },
	       { B + 8 * PG, B + 10 * PG, RX });
	CHECK_DELTA(d, 2 * PG, 2 * PG, -2 * (int64_t)PG, 2 * PG);
	mw_regions_free(&r);
}

TEST(regions_map_fixed_partial_both_ends)
{
	struct mw_regions r;
	struct mw_vm_delta d = {};

	three(&r);
	/* Covers the tail of B and the head of C. */
	map(&r, B + 7 * PG, B + 9 * PG, NONE, &d);
	EXPECT(&r, { B, B + 4 * PG, RW }, { B + 6 * PG, B + 7 * PG, RO },
	       { B + 7 * PG, B + 9 * PG, NONE }, { B + 9 * PG, B + 10 * PG, RX });
	CHECK_DELTA(d, 2 * PG, 2 * PG, -2 * (int64_t)PG, 2 * PG);
	mw_regions_free(&r);
}

TEST(regions_map_fixed_over_several_with_hole)
{
	struct mw_regions r;
	struct mw_vm_delta d = {};

	three(&r);
	/* From inside A over the hole, all of B, into C. */
	map(&r, B + 2 * PG, B + 9 * PG, RW, &d);
	EXPECT(&r, { B, B + 9 * PG, RW }, { B + 9 * PG, B + 10 * PG, RX });
	/* 2 of A, 2 of B and 1 of C existed; the 2-page hole did not. */
	CHECK_DELTA(d, 7 * PG, 5 * PG, 2 * PG, 0);
	CHECK_EQ_INT(mw_regions_bytes(&r), 10 * PG);
	mw_regions_free(&r);
}

TEST(regions_map_fixed_inside_one_splits)
{
	struct mw_regions r;
	struct mw_vm_delta d = {};

	three(&r);
	map(&r, B + PG, B + 2 * PG, RX, &d);
	EXPECT(&r, { B, B + PG, RW }, { B + PG, B + 2 * PG, RX }, { B + 2 * PG, B + 4 * PG, RW },
	       { B + 6 * PG, B + 8 * PG, RO }, { B + 8 * PG, B + 10 * PG, RX });
	CHECK_DELTA(d, PG, PG, 0, 0);
	mw_regions_free(&r);
}

TEST(regions_map_merge_policy)
{
	struct mw_regions r;
	struct mw_region g;

	mw_regions_init(&r);
	g = reg(B + PG, B + 2 * PG, RW);
	g.ts_ns = 50;
	CHECK_EQ_INT(mw_regions_map(&r, &g, NULL), 0);
	g = reg(B, B + PG, RW);
	g.ts_ns = 70;
	CHECK_EQ_INT(mw_regions_map(&r, &g, NULL), 0);
	EXPECT(&r, { B, B + 2 * PG, RW });
	CHECK_EQ_INT(r.v[0].ts_ns, 50); /* the older mapping's time wins */

	/* Another thread, another name or other flags: no merge. */
	g = reg(B + 2 * PG, B + 3 * PG, RW);
	g.tid = 8;
	CHECK_EQ_INT(mw_regions_map(&r, &g, NULL), 0);
	g = reg(B + 3 * PG, B + 4 * PG, RW);
	g.tid = 8;
	g.name = mw_intern("/tmp/x");
	CHECK_EQ_INT(mw_regions_map(&r, &g, NULL), 0);
	g = reg(B + 4 * PG, B + 5 * PG, RW);
	g.tid = 8;
	g.name = mw_intern("/tmp/x");
	g.flags = MW_RF_SHARED;
	CHECK_EQ_INT(mw_regions_map(&r, &g, NULL), 0);
	CHECK_EQ_INT(r.n, 4);
	/* Not touching: no merge either. */
	g = reg(B + 6 * PG, B + 7 * PG, RW);
	g.tid = 8;
	g.name = mw_intern("/tmp/x");
	g.flags = MW_RF_SHARED;
	CHECK_EQ_INT(mw_regions_map(&r, &g, NULL), 0);
	CHECK_EQ_INT(r.n, 5);
	/* Filling the gap joins both sides. */
	g.start = B + 5 * PG;
	g.end = B + 6 * PG;
	CHECK_EQ_INT(mw_regions_map(&r, &g, NULL), 0);
	CHECK_EQ_INT(r.n, 4);
	CHECK_EQ_HEX(r.v[3].start, B + 4 * PG);
	CHECK_EQ_HEX(r.v[3].end, B + 7 * PG);
	mw_regions_free(&r);
}

/* ---- unmap ---- */

TEST(regions_unmap_exact)
{
	struct mw_regions r;
	struct mw_vm_delta d = {};

	three(&r);
	CHECK_EQ_INT(mw_regions_unmap(&r, B + 6 * PG, B + 8 * PG, &d), 0);
	EXPECT(&r, { B, B + 4 * PG, RW }, { B + 8 * PG, B + 10 * PG, RX });
	CHECK_DELTA(d, 0, 2 * PG, -2 * (int64_t)PG, 0);
	mw_regions_free(&r);
}

TEST(regions_unmap_head_tail_middle)
{
	struct mw_regions r;
	struct mw_vm_delta d = {};

	mw_regions_init(&r);
	map(&r, B, B + 10 * PG, RW, NULL);
	CHECK_EQ_INT(mw_regions_unmap(&r, B, B + PG, &d), 0);
	EXPECT(&r, { B + PG, B + 10 * PG, RW });
	CHECK_EQ_INT(mw_regions_unmap(&r, B + 9 * PG, B + 10 * PG, &d), 0);
	EXPECT(&r, { B + PG, B + 9 * PG, RW });
	CHECK_EQ_INT(mw_regions_unmap(&r, B + 4 * PG, B + 6 * PG, &d), 0);
	EXPECT(&r, { B + PG, B + 4 * PG, RW }, { B + 6 * PG, B + 9 * PG, RW });
	CHECK_DELTA(d, 0, 4 * PG, -4 * (int64_t)PG, 0);
	/* The halves keep the attributes of the whole. */
	CHECK_EQ_INT(r.v[1].tid, 7);
	CHECK_EQ_INT(r.v[1].ts_ns, 100);
	mw_regions_free(&r);
}

TEST(regions_unmap_across_several)
{
	struct mw_regions r;
	struct mw_vm_delta d = {};

	three(&r);
	CHECK_EQ_INT(mw_regions_unmap(&r, B + 3 * PG, B + 9 * PG, &d), 0);
	EXPECT(&r, { B, B + 3 * PG, RW }, { B + 9 * PG, B + 10 * PG, RX });
	CHECK_DELTA(d, 0, 4 * PG, -4 * (int64_t)PG, 0);
	mw_regions_free(&r);
}

TEST(regions_unmap_half_mapped_counts_mapped_half)
{
	struct mw_regions r;
	struct mw_vm_delta d = {};

	mw_regions_init(&r);
	map(&r, B, B + 4 * PG, NONE, NULL);
	CHECK_EQ_INT(mw_regions_unmap(&r, B + 2 * PG, B + 6 * PG, &d), 0);
	EXPECT(&r, { B, B + 2 * PG, NONE });
	CHECK_DELTA(d, 0, 2 * PG, 0, -2 * (int64_t)PG);
	mw_regions_free(&r);
}

TEST(regions_unmap_nothing)
{
	struct mw_regions r;
	struct mw_vm_delta d = {};

	three(&r);
	CHECK_EQ_INT(mw_regions_unmap(&r, B + 4 * PG, B + 6 * PG, &d), 0);
	CHECK_EQ_INT(mw_regions_unmap(&r, B + 100 * PG, B + 200 * PG, &d), 0);
	CHECK_EQ_INT(mw_regions_unmap(&r, 0, PG, &d), 0);
	CHECK_EQ_INT(r.n, 3);
	CHECK_DELTA(d, 0, 0, 0, 0);
	mw_regions_free(&r);
	mw_regions_init(&r);
	CHECK_EQ_INT(mw_regions_unmap(&r, B, B + PG, &d), 0);
	CHECK_DELTA(d, 0, 0, 0, 0);
	mw_regions_free(&r);
}

TEST(regions_unmap_prot_none_64m)
{
	struct mw_regions r;
	struct mw_vm_delta d = {};

	mw_regions_init(&r);
	map(&r, B, B + 64 * MB, NONE, NULL);
	CHECK_EQ_INT(mw_regions_unmap(&r, B, B + 64 * MB, &d), 0);
	CHECK_DELTA(d, 0, 64 * MB, 0, -(int64_t)(64 * MB));
	EXPECT_EMPTY(&r);
	mw_regions_free(&r);
}

/* ---- protect ---- */

TEST(regions_protect_head_middle_tail)
{
	struct mw_regions r;
	struct mw_vm_delta d = {};

	mw_regions_init(&r);
	map(&r, B, B + 10 * PG, NONE, NULL);
	CHECK_EQ_INT(mw_regions_protect(&r, B, B + 2 * PG, RW, &d), 0);
	EXPECT(&r, { B, B + 2 * PG, RW }, { B + 2 * PG, B + 10 * PG, NONE });
	CHECK_DELTA(d, 0, 0, 2 * PG, -2 * (int64_t)PG);
	CHECK_EQ_INT(mw_regions_protect(&r, B + 4 * PG, B + 5 * PG, RO, &d), 0);
	EXPECT(&r, { B, B + 2 * PG, RW }, { B + 2 * PG, B + 4 * PG, NONE },
	       { B + 4 * PG, B + 5 * PG, RO }, { B + 5 * PG, B + 10 * PG, NONE });
	CHECK_EQ_INT(mw_regions_protect(&r, B + 8 * PG, B + 10 * PG, RX, &d), 0);
	EXPECT(&r, { B, B + 2 * PG, RW }, { B + 2 * PG, B + 4 * PG, NONE },
	       { B + 4 * PG, B + 5 * PG, RO }, { B + 5 * PG, B + 8 * PG, NONE },
	       { B + 8 * PG, B + 10 * PG, RX });
	CHECK_DELTA(d, 0, 0, 5 * PG, -5 * (int64_t)PG);
	CHECK_EQ_INT(mw_regions_accessible_bytes(&r), 5 * PG);
	CHECK_EQ_INT(mw_regions_bytes(&r), 10 * PG);
	/* Restoring prot merges everything back into one region. */
	CHECK_EQ_INT(mw_regions_protect(&r, B, B + 10 * PG, NONE, &d), 0);
	EXPECT(&r, { B, B + 10 * PG, NONE });
	CHECK_DELTA(d, 0, 0, 0, 0);
	CHECK_EQ_INT(r.v[0].ts_ns, 100);
	mw_regions_free(&r);
}

TEST(regions_protect_across_prot_and_holes)
{
	struct mw_regions r;
	struct mw_vm_delta d = {};

	three(&r);
	/* Accessible to accessible moves nothing between the two counters. */
	CHECK_EQ_INT(mw_regions_protect(&r, B + 2 * PG, B + 9 * PG, RW, &d), 0);
	EXPECT(&r, { B, B + 4 * PG, RW }, { B + 6 * PG, B + 9 * PG, RW },
	       { B + 9 * PG, B + 10 * PG, RX });
	CHECK_DELTA(d, 0, 0, 0, 0);
	CHECK_EQ_INT(mw_regions_protect(&r, B - 4 * PG, B + 20 * PG, NONE, &d), 0);
	EXPECT(&r, { B, B + 4 * PG, NONE }, { B + 6 * PG, B + 10 * PG, NONE });
	CHECK_DELTA(d, 0, 0, -8 * (int64_t)PG, 8 * PG);
	/* Over a hole only: nothing appears. */
	CHECK_EQ_INT(mw_regions_protect(&r, B + 4 * PG, B + 6 * PG, RW, &d), 0);
	CHECK_EQ_INT(r.n, 2);
	CHECK_EQ_INT(mw_regions_bytes(&r), 8 * PG);
	mw_regions_free(&r);
}

TEST(regions_protect_same_prot_does_not_split)
{
	struct mw_regions r;

	mw_regions_init(&r);
	map(&r, B, B + 10 * PG, RW, NULL);
	CHECK_EQ_INT(mw_regions_protect(&r, B + 3 * PG, B + 4 * PG, RW, NULL), 0);
	EXPECT(&r, { B, B + 10 * PG, RW });
	mw_regions_free(&r);
}

/* user/alloc/SIGNATURES.md 3 (a): an unaligned arena reservation, trimmed to 64 MiB,
 * then grown by contiguous mprotects. */
TEST(regions_glibc_arena_sequence)
{
	const uint64_t base = 0x7f09d0e00000ULL, heap = 0x7f09d4000000ULL;
	struct mw_regions r;
	struct mw_vm_delta d = {};
	struct mw_region g = reg(base, base + 134217728, NONE);
	uint64_t rw_end = heap + 135168, acc = 135168;

	mw_regions_init(&r);
	CHECK_EQ_INT(mw_regions_map(&r, &g, &d), 0);
	CHECK_DELTA(d, 128 * MB, 0, 0, 128 * MB);
	d = (struct mw_vm_delta){};
	CHECK_EQ_INT(mw_regions_unmap(&r, base, base + 52428800, &d), 0);
	CHECK_DELTA(d, 0, 50 * MB, 0, -(int64_t)(50 * MB));
	d = (struct mw_vm_delta){};
	CHECK_EQ_INT(mw_regions_unmap(&r, 0x7f09d8000000ULL, 0x7f09d8000000ULL + 14680064, &d), 0);
	CHECK_DELTA(d, 0, 14 * MB, 0, -(int64_t)(14 * MB));
	EXPECT(&r, { heap, heap + 64 * MB, NONE });
	d = (struct mw_vm_delta){};
	CHECK_EQ_INT(mw_regions_protect(&r, heap, heap + 135168, RW, &d), 0);
	CHECK_DELTA(d, 0, 0, 135168, -135168);
	for (uint64_t k = 1; k <= 5; k++) {
		d = (struct mw_vm_delta){};
		CHECK_EQ_INT(mw_regions_protect(&r, rw_end, rw_end + k * PG, RW, &d), 0);
		CHECK_DELTA(d, 0, 0, k * PG, -(int64_t)(k * PG));
		rw_end += k * PG;
		acc += k * PG;
	}
	CHECK_EQ_INT(mw_regions_bytes(&r), 64 * MB);
	CHECK_EQ_INT(mw_regions_accessible_bytes(&r), acc);
	CHECK(r.n <= 2);
	EXPECT(&r, { heap, rw_end, RW }, { rw_end, heap + 64 * MB, NONE });
	CHECK_EQ_INT(r.v[0].tid, 7);
	mw_regions_free(&r);
}

/* 222 one-page growth steps (1 MiB of 1000-byte mallocs) still make two. */
TEST(regions_arena_many_growth_steps)
{
	struct mw_regions r;
	uint64_t rw_end = B + 135168;

	mw_regions_init(&r);
	map(&r, B, B + 64 * MB, NONE, NULL);
	CHECK_EQ_INT(mw_regions_protect(&r, B, rw_end, RW, NULL), 0);
	for (int i = 0; i < 222; i++, rw_end += PG)
		CHECK_EQ_INT(mw_regions_protect(&r, rw_end, rw_end + PG, RW, NULL), 0);
	EXPECT(&r, { B, rw_end, RW }, { rw_end, B + 64 * MB, NONE });
	mw_regions_free(&r);
}

/* ---- brk ---- */

TEST(regions_brk_grow_and_shrink)
{
	const uint64_t start_brk = 0x558a99a11000ULL;
	struct mw_regions r;
	struct mw_vm_delta d = {};
	struct mw_region g = reg(start_brk, start_brk + 33 * PG, RW);

	/* The process model turns brk into map/unmap of the delta range. */
	mw_regions_init(&r);
	g.flags = MW_RF_HEAP;
	CHECK_EQ_INT(mw_regions_map(&r, &g, &d), 0);
	g.start = g.end;
	g.end += 32 * PG;
	g.ts_ns = 200;
	CHECK_EQ_INT(mw_regions_map(&r, &g, &d), 0);
	CHECK_EQ_INT(r.n, 1);
	CHECK_EQ_INT(r.v[0].ts_ns, 100);
	CHECK_EQ_INT(r.v[0].flags, MW_RF_HEAP);
	CHECK_EQ_INT(mw_regions_unmap(&r, start_brk + 40 * PG, start_brk + 65 * PG, &d), 0);
	EXPECT(&r, { start_brk, start_brk + 40 * PG, RW });
	CHECK_DELTA(d, 65 * PG, 25 * PG, 40 * PG, 0);
	mw_regions_free(&r);
}

/* ---- mremap ---- */

TEST(regions_remap_grow_in_place)
{
	struct mw_regions r;
	struct mw_vm_delta d = {};

	mw_regions_init(&r);
	map(&r, B, B + 2 * PG, RO, NULL);
	map(&r, B + 2 * PG, B + 4 * PG, RW, NULL);
	CHECK_EQ_INT(mw_regions_remap(&r, B, 4 * PG, B, 8 * PG, false, 9, 999, &d), 0);
	/* The last region's attributes, but the growth is the caller's (thread 9, now), as a
	 * brk's growth is: a region of its own. */
	EXPECT(&r, { B, B + 2 * PG, RO }, { B + 2 * PG, B + 4 * PG, RW },
	       { B + 4 * PG, B + 8 * PG, RW });
	CHECK_EQ_INT(r.v[1].tid, 7);
	CHECK_EQ_INT(r.v[2].tid, 9);
	CHECK_EQ_INT(r.v[2].ts_ns, 999);
	CHECK_DELTA(d, 4 * PG, 0, 4 * PG, 0);
	mw_regions_free(&r);
}

TEST(regions_remap_shrink_in_place)
{
	struct mw_regions r;
	struct mw_vm_delta d = {};

	mw_regions_init(&r);
	map(&r, B, B + 8 * PG, NONE, NULL);
	CHECK_EQ_INT(mw_regions_remap(&r, B, 8 * PG, B, 3 * PG, false, 9, 999, &d), 0);
	EXPECT(&r, { B, B + 3 * PG, NONE });
	CHECK_DELTA(d, 0, 5 * PG, 0, -5 * (int64_t)PG);
	/* Same size: nothing. */
	CHECK_EQ_INT(mw_regions_remap(&r, B, 3 * PG, B, 3 * PG, false, 9, 999, &d), 0);
	EXPECT(&r, { B, B + 3 * PG, NONE });
	CHECK_DELTA(d, 0, 5 * PG, 0, -5 * (int64_t)PG);
	mw_regions_free(&r);
}

TEST(regions_remap_move_grow)
{
	const uint64_t dst = B + 100 * PG;
	struct mw_regions r;
	struct mw_vm_delta d = {};
	struct mw_region g = reg(B, B + 4 * PG, RW);

	mw_regions_init(&r);
	g.name = mw_intern("/dev/shm/x");
	g.flags = MW_RF_SHARED | MW_RF_FILE;
	CHECK_EQ_INT(mw_regions_map(&r, &g, NULL), 0);
	/* realloc() of a large chunk: moved and grown. */
	CHECK_EQ_INT(mw_regions_remap(&r, B, 4 * PG, dst, 6 * PG, false, 9, 999, &d), 0);
	EXPECT(&r, { dst, dst + 4 * PG, RW }, { dst + 4 * PG, dst + 6 * PG, RW });
	CHECK(r.v[0].name == g.name && r.v[1].name == g.name);
	CHECK_EQ_INT(r.v[0].flags, MW_RF_SHARED | MW_RF_FILE);
	CHECK_EQ_INT(r.v[1].flags, MW_RF_SHARED | MW_RF_FILE);
	CHECK_EQ_INT(r.v[0].tid, 7); /* moved: still the creator's */
	CHECK_EQ_INT(r.v[0].ts_ns, 100);
	CHECK_EQ_INT(r.v[1].tid, 9); /* the growth: the caller's */
	/* Only the growth is new mapping; the move itself creates nothing. */
	CHECK_DELTA(d, 2 * PG, 0, 2 * PG, 0);
	mw_regions_free(&r);
}

TEST(regions_remap_move_shrink_several_pieces)
{
	const uint64_t dst = B + 100 * PG;
	struct mw_regions r;
	struct mw_vm_delta d = {};

	mw_regions_init(&r);
	map(&r, B, B + 2 * PG, RO, NULL);
	map(&r, B + 2 * PG, B + 4 * PG, NONE, NULL);
	map(&r, B + 4 * PG, B + 6 * PG, RW, NULL);
	CHECK_EQ_INT(mw_regions_remap(&r, B, 6 * PG, dst, 3 * PG, false, 9, 999, &d), 0);
	EXPECT(&r, { dst, dst + 2 * PG, RO }, { dst + 2 * PG, dst + 3 * PG, NONE });
	CHECK_DELTA(d, 0, 3 * PG, -2 * (int64_t)PG, -(int64_t)PG);
	mw_regions_free(&r);
}

TEST(regions_remap_move_over_destination)
{
	const uint64_t dst = B + 100 * PG;
	struct mw_regions r;
	struct mw_vm_delta d = {};

	mw_regions_init(&r);
	map(&r, B, B + 4 * PG, RW, NULL);
	map(&r, dst - PG, dst + 2 * PG, NONE, NULL);   /* overlaps the destination head */
	map(&r, dst + 5 * PG, dst + 6 * PG, RX, NULL); /* just past it */
	CHECK_EQ_INT(mw_regions_remap(&r, B, 4 * PG, dst, 4 * PG, false, 9, 999, &d), 0);
	EXPECT(&r, { dst - PG, dst, NONE }, { dst, dst + 4 * PG, RW },
	       { dst + 5 * PG, dst + 6 * PG, RX });
	CHECK_DELTA(d, 0, 2 * PG, 0, -2 * (int64_t)PG);
	mw_regions_free(&r);
}

TEST(regions_remap_dontunmap)
{
	const uint64_t dst = B + 100 * PG;
	struct mw_regions r;
	struct mw_vm_delta d = {};

	mw_regions_init(&r);
	map(&r, B, B + 4 * PG, RW, NULL);
	CHECK_EQ_INT(mw_regions_remap(&r, B, 4 * PG, dst, 4 * PG, true, 9, 999, &d), 0);
	EXPECT(&r, { B, B + 4 * PG, RW }, { dst, dst + 4 * PG, RW });
	CHECK_DELTA(d, 4 * PG, 0, 4 * PG, 0);
	CHECK_EQ_INT(r.v[1].tid, 7);
	mw_regions_free(&r);
}

TEST(regions_remap_old_len_zero_duplicates)
{
	const uint64_t dst = B + 100 * PG;
	struct mw_regions r;
	struct mw_vm_delta d = {};
	struct mw_region g = reg(B, B + 4 * PG, RW);

	mw_regions_init(&r);
	g.flags = MW_RF_SHARED | MW_RF_FILE;
	g.name = mw_intern("/memfd:ring (deleted)");
	CHECK_EQ_INT(mw_regions_map(&r, &g, NULL), 0);
	CHECK_EQ_INT(mw_regions_remap(&r, B + PG, 0, dst, 8 * PG, false, 9, 999, &d), 0);
	EXPECT(&r, { B, B + 4 * PG, RW }, { dst, dst + 8 * PG, RW });
	CHECK(r.v[1].name == g.name);
	CHECK_EQ_INT(r.v[1].flags, MW_RF_SHARED | MW_RF_FILE);
	CHECK_DELTA(d, 8 * PG, 0, 8 * PG, 0);
	mw_regions_free(&r);
}

TEST(regions_remap_unknown_source)
{
	const uint64_t dst = B + 100 * PG;
	struct mw_regions r;
	struct mw_vm_delta d = {};

	/* The model missed the mapping: the result is still fully mapped, and
	 * labelled with the caller's thread and time. */
	mw_regions_init(&r);
	CHECK_EQ_INT(mw_regions_remap(&r, B, 4 * PG, dst, 6 * PG, false, 9, 999, &d), 0);
	EXPECT(&r, { dst, dst + 6 * PG, RW });
	CHECK_EQ_INT(r.v[0].tid, 9);
	CHECK_EQ_INT(r.v[0].ts_ns, 999);
	CHECK_DELTA(d, 6 * PG, 0, 6 * PG, 0);
	d = (struct mw_vm_delta){};
	CHECK_EQ_INT(mw_regions_remap(&r, B, 2 * PG, B, 4 * PG, false, 9, 999, &d), 0);
	EXPECT(&r, { B + 2 * PG, B + 4 * PG, RW }, { dst, dst + 6 * PG, RW });
	CHECK_DELTA(d, 2 * PG, 0, 2 * PG, 0);
	mw_regions_free(&r);
}

TEST(regions_remap_source_hole_filled)
{
	const uint64_t dst = B + 100 * PG;
	struct mw_regions r;
	struct mw_vm_delta d = {};

	mw_regions_init(&r);
	map(&r, B + PG, B + 2 * PG, RO, NULL);
	map(&r, B + 3 * PG, B + 4 * PG, RW, NULL);
	CHECK_EQ_INT(mw_regions_remap(&r, B, 4 * PG, dst, 4 * PG, false, 9, 999, &d), 0);
	/* Leading hole from the first piece, inner hole from the one before it. */
	EXPECT(&r, { dst, dst + 3 * PG, RO }, { dst + 3 * PG, dst + 4 * PG, RW });
	CHECK_DELTA(d, 2 * PG, 0, 2 * PG, 0);
	mw_regions_free(&r);
}

/* ---- flags, copy, coalesce ---- */

TEST(regions_set_flags_and_fork_copy)
{
	struct mw_regions r, c;

	three(&r);
	mw_regions_init(&c);
	CHECK_EQ_INT(mw_regions_set_flags(&r, B + 2 * PG, B + 7 * PG, MW_RF_DONTFORK, 0), 0);
	CHECK_EQ_INT(r.n, 5);
	CHECK_EQ_INT(r.v[0].flags, 0);
	CHECK_EQ_INT(r.v[1].flags, MW_RF_DONTFORK);
	CHECK_EQ_INT(r.v[2].flags, MW_RF_DONTFORK);
	CHECK_EQ_INT(r.v[3].flags, 0);
	CHECK_EQ_INT(mw_regions_copy(&c, &r, true), 0);
	EXPECT(&c, { B, B + 2 * PG, RW }, { B + 7 * PG, B + 8 * PG, RO },
	       { B + 8 * PG, B + 10 * PG, RX });
	CHECK_EQ_INT(mw_regions_copy(&c, &r, false), 0);
	CHECK_EQ_INT(c.n, 5);
	CHECK(memcmp(c.v, r.v, r.n * sizeof(r.v[0])) == 0);
	/* MADV_DOFORK undoes it and the splits merge away. */
	CHECK_EQ_INT(mw_regions_set_flags(&r, B, B + 10 * PG, 0, MW_RF_DONTFORK), 0);
	EXPECT(&r, { B, B + 4 * PG, RW }, { B + 6 * PG, B + 8 * PG, RO },
	       { B + 8 * PG, B + 10 * PG, RX });
	mw_regions_free(&r);
	mw_regions_free(&c);
}

TEST(regions_copy_empty_and_clear)
{
	struct mw_regions r, c;

	mw_regions_init(&r);
	three(&c);
	CHECK_EQ_INT(mw_regions_copy(&c, &r, false), 0);
	EXPECT_EMPTY(&c);
	three(&r);
	mw_regions_clear(&r);
	EXPECT_EMPTY(&r);
	CHECK(r.cap > 0);
	CHECK_EQ_INT(mw_regions_bytes(&r), 0);
	mw_regions_free(&r);
	mw_regions_free(&c);
}

TEST(regions_coalesced)
{
	struct mw_regions r, c;
	struct mw_region g;

	mw_regions_init(&r);
	mw_regions_init(&c);
	map(&r, B, B + PG, RW, NULL);
	g = reg(B + PG, B + 2 * PG, RW);
	g.tid = 8;
	CHECK_EQ_INT(mw_regions_map(&r, &g, NULL), 0);
	map(&r, B + 2 * PG, B + 3 * PG, RO, NULL);
	map(&r, B + 4 * PG, B + 5 * PG, RO, NULL);
	CHECK_EQ_INT(r.n, 4);
	map(&c, 0, PG, RX, NULL); /* cleared first */
	CHECK_EQ_INT(mw_regions_coalesced(&r, &c), 0);
	EXPECT(&c, { B, B + 2 * PG, RW }, { B + 2 * PG, B + 3 * PG, RO },
	       { B + 4 * PG, B + 5 * PG, RO });
	CHECK_EQ_INT(r.n, 4);
	mw_regions_free(&r);
	mw_regions_free(&c);
}

/* ---- randomized, against a page-by-page reference ---- */

#define NPG 256
#define WIN 0x100000000ULL

struct page {
	bool m;
	uint32_t prot, flags, tid;
	const char *name;
};

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint32_t rnd(uint32_t n)
{
	/* xorshift64*: deterministic, so a failure replays. */
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return (uint32_t)((rng * 0x2545f4914f6cdd1dULL) >> 32) % n;
}

static bool same_attr(const struct page *a, const struct page *b)
{
	return a->prot == b->prot && a->flags == b->flags && a->tid == b->tid && a->name == b->name;
}

static void ref_set(struct page *pg, uint32_t i, const struct page *v, struct mw_vm_delta *d)
{
	if (pg[i].m) {
		d->unmapped += PG;
		if (pg[i].prot)
			d->accessible -= (int64_t)PG;
		else
			d->reserved -= (int64_t)PG;
	}
	if (v->m) {
		d->mapped += PG;
		if (v->prot)
			d->accessible += (int64_t)PG;
		else
			d->reserved += (int64_t)PG;
	}
	pg[i] = *v;
}

static void ref_remap(struct page *pg, uint32_t o, uint32_t ol, uint32_t na, uint32_t nl, bool keep,
		      uint32_t tid, struct mw_vm_delta *d)
{
	struct page dst[NPG], hole = {}, def = { .m = true, .prot = RW, .tid = tid };
	uint32_t n = ol < nl ? ol : nl, moved = 0;
	int last = -1;

	if (!ol) {
		struct page v = pg[o].m ? pg[o] : def;

		for (uint32_t i = 0; i < nl; i++)
			ref_set(pg, na + i, &v, d);
		return;
	}
	if (na == o) {
		struct page v = pg[o + ol - 1].m ? pg[o + ol - 1] : def;

		/* Growth: the calling thread's bytes, made now. */
		v.tid = tid;
		v.flags &= ~MW_RF_BASELINE;
		for (uint32_t i = nl; i < ol; i++)
			ref_set(pg, o + i, &hole, d);
		for (uint32_t i = ol; i < nl; i++)
			ref_set(pg, o + i, &v, d);
		return;
	}
	for (uint32_t i = 0; i < nl; i++) {
		dst[i] = i < n ? pg[o + i] : hole;
		if (dst[i].m)
			moved++;
	}
	/* Holes take the nearest piece before them, else after them. */
	for (uint32_t i = 0; i < nl; i++) {
		if (dst[i].m)
			last = (int)i;
		else if (last >= 0)
			dst[i] = dst[last];
	}
	last = -1;
	for (int i = (int)nl - 1; i >= 0; i--) {
		if (dst[i].m)
			last = i;
		else
			dst[i] = last >= 0 ? dst[last] : def;
	}
	for (uint32_t i = n; i < nl; i++) {
		dst[i].tid = tid; /* growth, as in place */
		dst[i].flags &= ~MW_RF_BASELINE;
	}
	for (uint32_t i = 0; i < nl; i++)
		ref_set(pg, na + i, &hole, d);
	if (!keep)
		for (uint32_t i = 0; i < ol; i++)
			ref_set(pg, o + i, &hole, d);
	for (uint32_t i = 0; i < nl; i++)
		ref_set(pg, na + i, &dst[i], d);
	if (!keep) {
		d->mapped -= moved * PG;
		d->unmapped -= moved * PG;
	}
}

/* Compare the map page by page, and its region count with the number of
 * maximal runs (which checks that every possible merge happened). */
static bool ref_matches(const struct mw_regions *r, const struct page *pg, int step)
{
	size_t runs = 0;
	bool ok = true;

	for (uint32_t i = 0; i < NPG; i++) {
		const struct mw_region *g = mw_regions_find(r, WIN + i * PG);

		if (pg[i].m && (!i || !pg[i - 1].m || !same_attr(&pg[i - 1], &pg[i])))
			runs++;
		if (!pg[i].m != !g || (g && (g->prot != pg[i].prot || g->flags != pg[i].flags ||
					     g->tid != pg[i].tid || g->name != pg[i].name))) {
			unit_fail(__FILE__, __LINE__, "step %d: page %u differs", step, i);
			ok = false;
			break;
		}
	}
	if (r->n != runs) {
		unit_fail(__FILE__, __LINE__, "step %d: %zu regions, %zu runs", step, r->n, runs);
		ok = false;
	}
	for (size_t i = 0; i < r->n; i++) {
		if (r->v[i].start >= r->v[i].end || (i && r->v[i - 1].end > r->v[i].start) ||
		    r->v[i].start < WIN || r->v[i].end > WIN + NPG * PG) {
			unit_fail(__FILE__, __LINE__, "step %d: region %zu malformed", step, i);
			ok = false;
		}
	}
	return ok;
}

/* ---- labels (cls, arena) ---- */

TEST(regions_label_splits_and_merges)
{
	struct mw_regions r;

	mw_regions_init(&r);
	map(&r, B, B + 16 * PG, NONE, NULL);
	/* Zero-initialised regions have no arena. */
	CHECK_EQ_INT(mw_region_arena(&r.v[0]), -1);
	CHECK_EQ_INT(mw_regions_label(&r, B + 4 * PG, B + 8 * PG, 2, 3), 0);
	EXPECT(&r, { B, B + 4 * PG, NONE }, { B + 4 * PG, B + 8 * PG, NONE },
	       { B + 8 * PG, B + 16 * PG, NONE });
	CHECK_EQ_INT(r.v[1].cls, 2);
	CHECK_EQ_INT(mw_region_arena(&r.v[1]), 3);
	CHECK_EQ_INT(r.v[0].cls, 0);
	CHECK_EQ_INT(r.v[2].cls, 0);
	/* Labelling the rest the same merges everything back into one region. */
	CHECK_EQ_INT(mw_regions_label(&r, B, B + 16 * PG, 2, 3), 0);
	EXPECT(&r, { B, B + 16 * PG, NONE });
	/* Same cls, other arena: no merge. The main arena is id 0, stored as 1. */
	CHECK_EQ_INT(mw_regions_label(&r, B + 8 * PG, B + 16 * PG, 2, 0), 0);
	EXPECT(&r, { B, B + 8 * PG, NONE }, { B + 8 * PG, B + 16 * PG, NONE });
	CHECK_EQ_INT(r.v[1].arena, 1);
	CHECK_EQ_INT(mw_region_arena(&r.v[1]), 0);
	/* Label over a hole: only mapped parts change, nothing appears. */
	CHECK_EQ_INT(mw_regions_label(&r, B + 12 * PG, B + 40 * PG, 5, -1), 0);
	EXPECT(&r, { B, B + 8 * PG, NONE }, { B + 8 * PG, B + 12 * PG, NONE },
	       { B + 12 * PG, B + 16 * PG, NONE });
	CHECK_EQ_INT(r.v[2].cls, 5);
	CHECK_EQ_INT(r.v[2].arena, 0);
	/* Empty range: no-op. */
	CHECK_EQ_INT(mw_regions_label(&r, B + 4 * PG, B + 4 * PG, 9, 9), 0);
	CHECK_EQ_INT(r.n, 3);
	mw_regions_free(&r);
}

TEST(regions_label_takes_part_in_merging)
{
	struct mw_regions r;
	struct mw_region g = reg(B + 4 * PG, B + 8 * PG, RW);

	mw_regions_init(&r);
	map(&r, B, B + 4 * PG, RW, NULL);
	CHECK_EQ_INT(mw_regions_label(&r, B, B + 4 * PG, 1, 0), 0);
	/* A touching mapping equal in all but cls stays apart... */
	CHECK_EQ_INT(mw_regions_map(&r, &g, NULL), 0);
	EXPECT(&r, { B, B + 4 * PG, RW }, { B + 4 * PG, B + 8 * PG, RW });
	/* ...and one equal in all but arena too. */
	g = reg(B + 8 * PG, B + 12 * PG, RW);
	g.cls = 1;
	g.arena = 3;
	CHECK_EQ_INT(mw_regions_map(&r, &g, NULL), 0);
	EXPECT(&r, { B, B + 4 * PG, RW }, { B + 4 * PG, B + 8 * PG, RW },
	       { B + 8 * PG, B + 12 * PG, RW });
	/* Fully equal: merges (the brk heap growing with its labels). */
	g = reg(B + 12 * PG, B + 16 * PG, RW);
	g.cls = 1;
	g.arena = 3;
	CHECK_EQ_INT(mw_regions_map(&r, &g, NULL), 0);
	EXPECT(&r, { B, B + 4 * PG, RW }, { B + 4 * PG, B + 8 * PG, RW },
	       { B + 8 * PG, B + 16 * PG, RW });
	mw_regions_free(&r);
}

TEST(regions_labels_carried_by_split_protect_and_remap)
{
	const uint64_t dst = B + 100 * PG;
	struct mw_regions r;

	mw_regions_init(&r);
	map(&r, B, B + 16 * PG, NONE, NULL);
	CHECK_EQ_INT(mw_regions_label(&r, B, B + 16 * PG, 2, 4), 0);
	/* An arena heap's first commit: both halves keep the labels. */
	CHECK_EQ_INT(mw_regions_protect(&r, B, B + 4 * PG, RW, NULL), 0);
	EXPECT(&r, { B, B + 4 * PG, RW }, { B + 4 * PG, B + 16 * PG, NONE });
	for (size_t i = 0; i < r.n; i++) {
		CHECK_EQ_INT(r.v[i].cls, 2);
		CHECK_EQ_INT(mw_region_arena(&r.v[i]), 4);
	}
	/* Middle unmap splits; both pieces keep them. */
	CHECK_EQ_INT(mw_regions_unmap(&r, B + 8 * PG, B + 10 * PG, NULL), 0);
	EXPECT(&r, { B, B + 4 * PG, RW }, { B + 4 * PG, B + 8 * PG, NONE },
	       { B + 10 * PG, B + 16 * PG, NONE });
	CHECK_EQ_INT(r.v[2].cls, 2);
	CHECK_EQ_INT(mw_region_arena(&r.v[2]), 4);
	/* Moved and grown by mremap (by the thread that mapped it, so one region): labels
	 * travel and the growth takes them. */
	CHECK_EQ_INT(mw_regions_remap(&r, B, 4 * PG, dst, 8 * PG, false, 7, 999, NULL), 0);
	CHECK_EQ_INT(mw_regions_find(&r, dst + 7 * PG)->cls, 2);
	CHECK_EQ_INT(mw_region_arena(mw_regions_find(&r, dst + 7 * PG)), 4);
	/* In-place growth too. */
	CHECK_EQ_INT(mw_regions_remap(&r, dst, 8 * PG, dst, 12 * PG, false, 7, 999, NULL), 0);
	EXPECT(&r, { B + 4 * PG, B + 8 * PG, NONE }, { B + 10 * PG, B + 16 * PG, NONE },
	       { dst, dst + 12 * PG, RW });
	CHECK_EQ_INT(r.v[2].cls, 2);
	/* A different prot on a labelled piece and back: splits and re-merges. */
	CHECK_EQ_INT(mw_regions_protect(&r, dst + 4 * PG, dst + 8 * PG, NONE, NULL), 0);
	CHECK_EQ_INT(r.n, 5);
	CHECK_EQ_INT(mw_regions_protect(&r, dst + 4 * PG, dst + 8 * PG, RW, NULL), 0);
	CHECK_EQ_INT(r.n, 3);
	/* The fork copy keeps them. */
	{
		struct mw_regions c;

		mw_regions_init(&c);
		CHECK_EQ_INT(mw_regions_copy(&c, &r, true), 0);
		CHECK_EQ_INT(c.v[2].cls, 2);
		CHECK_EQ_INT(c.v[2].arena, 5);
		mw_regions_free(&c);
	}
	mw_regions_free(&r);
}

TEST(regions_random_vs_page_model)
{
	static const uint32_t prots[] = { NONE, RO, RW, RX };
	const char *names[] = { NULL, mw_intern("/a"), mw_intern("/b") };
	static const uint32_t flagset[] = { 0, MW_RF_FILE, MW_RF_SHARED | MW_RF_FILE };
	struct page pg[NPG] = {};
	struct mw_regions r, c;
	int step;

	mw_regions_init(&r);
	mw_regions_init(&c);
	for (step = 0; step < 5000; step++) {
		struct mw_vm_delta d = { 11, 22, 33, 44, 55 }, e = { 11, 22, 33, 44, 55 };
		uint32_t s = rnd(NPG), len = 1 + rnd(s + 40 < NPG ? 40 : NPG - s);
		uint32_t op = rnd(10), tid = 1 + rnd(2);
		uint64_t a = WIN + s * PG, b = a + len * PG;
		int ret = 0;

		if (op < 3) {
			uint32_t fi = rnd(3);
			struct page v = { .m = true,
					  .prot = prots[rnd(4)],
					  .flags = flagset[fi],
					  .tid = tid,
					  .name = names[fi] };
			struct mw_region g = { .start = a,
					       .end = b,
					       .prot = v.prot,
					       .flags = v.flags,
					       .tid = v.tid,
					       .ts_ns = step,
					       .name = v.name };

			ret = mw_regions_map(&r, &g, &d);
			for (uint32_t i = s; i < s + len; i++)
				ref_set(pg, i, &v, &e);
		} else if (op < 5) {
			struct page hole = {};

			ret = mw_regions_unmap(&r, a, b, &d);
			for (uint32_t i = s; i < s + len; i++)
				ref_set(pg, i, &hole, &e);
		} else if (op < 7) {
			uint32_t p = prots[rnd(4)];
			struct mw_vm_delta e0 = e;

			ret = mw_regions_protect(&r, a, b, p, &d);
			for (uint32_t i = s; i < s + len; i++) {
				if (!pg[i].m)
					continue;
				struct page v = pg[i];

				v.prot = p;
				ref_set(pg, i, &v, &e);
			}
			/* ref_set counted an unmap and a map; protect is neither. */
			e.mapped = e0.mapped;
			e.unmapped = e0.unmapped;
		} else if (op == 7) {
			bool set = rnd(2);

			ret = mw_regions_set_flags(&r, a, b, set ? MW_RF_DONTFORK : 0,
						   set ? 0 : MW_RF_DONTFORK);
			for (uint32_t i = s; i < s + len; i++)
				if (pg[i].m)
					pg[i].flags = set ? pg[i].flags | MW_RF_DONTFORK
							  : pg[i].flags & ~MW_RF_DONTFORK;
		} else {
			/* mremap: in place, moved (maybe over the source), kept, or duplicated. */
			uint32_t kind = rnd(4), ol = len, nl = 1 + rnd(40), na;
			bool keep = kind == 2;

			if (kind == 3)
				ol = 0;
			if (kind == 0) {
				na = s;
				if (s + nl > NPG)
					nl = NPG - s;
			} else {
				if (nl > NPG)
					nl = NPG;
				if (keep)
					nl = ol;
				na = rnd(NPG - nl + 1);
			}
			ret = mw_regions_remap(&r, a, ol * PG, WIN + na * PG, nl * PG, keep, tid,
					       step, &d);
			ref_remap(pg, s, ol, na, nl, keep, tid, &e);
		}
		CHECK_EQ_INT(ret, 0);
		if (d.mapped != e.mapped || d.unmapped != e.unmapped ||
		    d.accessible != e.accessible || d.reserved != e.reserved) {
			unit_fail(__FILE__, __LINE__,
				  "step %d op %u: delta %" PRIu64 "/%" PRIu64 "/%" PRId64
				  "/%" PRId64 " want %" PRIu64 "/%" PRIu64 "/%" PRId64 "/%" PRId64,
				  step, op, d.mapped, d.unmapped, d.accessible, d.reserved,
				  e.mapped, e.unmapped, e.accessible, e.reserved);
			break;
		}
		if (!ref_matches(&r, pg, step))
			break;
		if (step % 500 == 0) {
			uint64_t fork_bytes = 0, acc = 0, all = 0;

			for (uint32_t i = 0; i < NPG; i++) {
				if (pg[i].m && !(pg[i].flags & MW_RF_DONTFORK))
					fork_bytes += PG;
				all += pg[i].m ? PG : 0;
				acc += pg[i].m && pg[i].prot ? PG : 0;
			}
			CHECK_EQ_INT(mw_regions_bytes(&r), all);
			CHECK_EQ_INT(mw_regions_accessible_bytes(&r), acc);
			CHECK_EQ_INT(mw_regions_copy(&c, &r, true), 0);
			CHECK_EQ_INT(mw_regions_bytes(&c), fork_bytes);
			CHECK_EQ_INT(mw_regions_coalesced(&r, &c), 0);
			CHECK_EQ_INT(mw_regions_bytes(&c), all);
			for (size_t i = 1; i < c.n; i++)
				CHECK(c.v[i - 1].end != c.v[i].start ||
				      c.v[i - 1].prot != c.v[i].prot);
		}
	}
	CHECK_EQ_INT(step, 5000);
	mw_regions_free(&r);
	mw_regions_free(&c);
}
