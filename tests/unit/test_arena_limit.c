// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The arena limit in force, read the way glibc reads it. */
#include "alloc/arena_limit.h"
#include "ledger/procfs.h"
#include "unit.h"

#define ENV(s) s, sizeof(s) - 1

TEST(arena_limit_default_is_8_per_online_cpu)
{
	const char *src;

	CHECK_EQ_INT(mw_arena_limit(ENV("HOME=/root\0PATH=/bin\0"), 2, &src), 16);
	CHECK_EQ_STR(src, "8 x online CPUs");
}

TEST(arena_limit_from_environment_and_tunables)
{
	const char *src;

	CHECK_EQ_INT(mw_arena_limit(ENV("A=1\0MALLOC_ARENA_MAX=2\0"), 2, &src), 2);
	CHECK_EQ_STR(src, "MALLOC_ARENA_MAX");
	CHECK_EQ_INT(mw_arena_limit(ENV("GLIBC_TUNABLES=glibc.malloc.trim_threshold=1:"
					"glibc.malloc.arena_max=3\0MALLOC_ARENA_MAX=2\0"),
				    2, &src),
		     3);
	CHECK_EQ_STR(src, "GLIBC_TUNABLES glibc.malloc.arena_max");
	/* Nonsense values are ignored, as glibc ignores them. */
	CHECK_EQ_INT(mw_arena_limit(ENV("MALLOC_ARENA_MAX=zero\0"), 4, &src), 32);
	CHECK_EQ_INT(mw_arena_limit(ENV("MALLOC_ARENA_MAX=0\0"), 4, &src), 32);
}

TEST(cpu_list_parsing)
{
	CHECK_EQ_INT(mw_parse_cpu_list("0-1\n"), 2);
	CHECK_EQ_INT(mw_parse_cpu_list("0-3,5,7-8"), 7);
	CHECK_EQ_INT(mw_parse_cpu_list("0"), 1);
	CHECK(mw_parse_cpu_list("3-1") < 0);
	CHECK(mw_parse_cpu_list("x") < 0);
}

TEST(glibc_hugetlb_tunable)
{
	CHECK_EQ_INT(mw_glibc_hugetlb(ENV("HOME=/root\0")), 0);
	CHECK_EQ_INT(mw_glibc_hugetlb(ENV("GLIBC_TUNABLES=glibc.malloc.hugetlb=1\0")), 1);
	CHECK_EQ_INT(mw_glibc_hugetlb(ENV("A=1\0GLIBC_TUNABLES=glibc.malloc.arena_max=2:"
					  "glibc.malloc.hugetlb=2\0")),
		     2);
	CHECK_EQ_INT(mw_glibc_hugetlb(ENV("GLIBC_TUNABLES=glibc.malloc.hugetlb=1073741824\0")),
		     1073741824);
	CHECK_EQ_INT(mw_glibc_hugetlb(ENV("GLIBC_TUNABLES=glibc.malloc.hugetlb=x\0")), 0);
}
