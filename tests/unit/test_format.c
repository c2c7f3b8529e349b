// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The expected strings are lines that strace 6.1 printed on this platform
 * (Debian 12, x86_64, Linux 6.18) for `strace -e trace=memory` of a program
 * making each call with the raw arguments given here, and for
 * `strace -e inject=madvise:error=N` for the error codes. Where memwatch
 * deliberately differs from 6.1 (constants 6.1 predates, new_address with
 * MREMAP_DONTUNMAP) the 6.1 line is quoted in a comment and the expected value
 * is what current strace prints.
 */
#include <stdlib.h>
#include <time.h>
#include "ledger/format.h"
#include "unit.h"

#define NEG(x) ((uint64_t)(int64_t)(x))

/* A whole strace line: "name(args)", padded with spaces to column 40, "= ret". */
static const char *line(enum mw_sys sys, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3,
			uint64_t a4, uint64_t a5, int64_t ret)
{
	static char out[512];
	struct mw_syscall_ev sc = {
		.sys = sys,
		.args = { a0, a1, a2, a3, a4, a5 },
		.ret = ret,
	};
	char args[320], rets[128];
	int n;

	mw_fmt_syscall_args(args, sizeof(args), &sc);
	mw_fmt_syscall_ret(rets, sizeof(rets), &sc);
	n = snprintf(out, sizeof(out), "%s(%s)", mw_sys_name(sys), args);
	snprintf(out + n, sizeof(out) - n, "%*s= %s", n < 40 ? 40 - n : 1, "", rets);
	return out;
}

#define MMAP MW_SYS_MMAP
#define EINVAL_RET (-22)

TEST(format_sys_names)
{
	CHECK_EQ_STR(mw_sys_name(MW_SYS_BRK), "brk");
	CHECK_EQ_STR(mw_sys_name(MW_SYS_MMAP), "mmap");
	CHECK_EQ_STR(mw_sys_name(MW_SYS_MUNMAP), "munmap");
	CHECK_EQ_STR(mw_sys_name(MW_SYS_MPROTECT), "mprotect");
	CHECK_EQ_STR(mw_sys_name(MW_SYS_MREMAP), "mremap");
	CHECK_EQ_STR(mw_sys_name(MW_SYS_MADVISE), "madvise");
	CHECK_EQ_STR(mw_sys_name(MW_SYS_SHMAT), "shmat");
	CHECK_EQ_STR(mw_sys_name(MW_SYS_SHMDT), "shmdt");
	CHECK_EQ_STR(mw_sys_name(MW_SYS_PKEY_MPROTECT), "pkey_mprotect");
	CHECK_EQ_STR(mw_sys_name(MW_SYS_COUNT), "?");
	CHECK_EQ_STR(mw_sys_name((enum mw_sys) - 1), "?");
	for (int i = 0; i < MW_SYS_COUNT; i++)
		CHECK_EQ_INT(mw_sys_from_name(mw_sys_name(i)), i);
	CHECK_EQ_INT(mw_sys_from_name("mmap2"), -1);
	CHECK_EQ_INT(mw_sys_from_name(""), -1);
	CHECK_EQ_INT(mw_sys_from_name("?"), -1);
	CHECK_EQ_INT(mw_sys_from_name(NULL), -1);
}

TEST(format_errno_names)
{
	CHECK_EQ_STR(mw_errno_name(1), "EPERM");
	CHECK_EQ_STR(mw_errno_name(11), "EAGAIN");
	CHECK_EQ_STR(mw_errno_name(12), "ENOMEM");
	CHECK_EQ_STR(mw_errno_name(22), "EINVAL");
	CHECK_EQ_STR(mw_errno_name(35), "EDEADLK");
	CHECK_EQ_STR(mw_errno_name(95), "EOPNOTSUPP");
	CHECK_EQ_STR(mw_errno_name(133), "EHWPOISON");
	CHECK_EQ_STR(mw_errno_name(512), "ERESTARTSYS");
	CHECK_EQ_STR(mw_errno_name(516), "ERESTART_RESTARTBLOCK");
	CHECK_EQ_STR(mw_errno_name(524), "ENOTSUPP");
	CHECK_EQ_STR(mw_errno_name(530), "ERECALLCONFLICT");
	/* Holes in strace's table: aliases and codes it does not name. */
	CHECK(mw_errno_name(41) == NULL);
	CHECK(mw_errno_name(58) == NULL);
	CHECK(mw_errno_name(519) == NULL);
	CHECK(mw_errno_name(531) == NULL);
	CHECK(mw_errno_name(134) == NULL);
	CHECK(mw_errno_name(511) == NULL);
	CHECK(mw_errno_name(0) == NULL);
	CHECK(mw_errno_name(-12) == NULL);
	CHECK(mw_errno_name(4095) == NULL);
	/* Every name in 1..133 except the two alias holes. */
	for (int e = 1; e <= 133; e++)
		CHECK(e == 41 || e == 58 || mw_errno_name(e) != NULL);
}

TEST(format_prot)
{
	static const struct {
		uint64_t prot;
		const char *want;
	} cases[] = {
		{ 0, "PROT_NONE" },
		{ 0x1, "PROT_READ" },
		{ 0x2, "PROT_WRITE" },
		{ 0x4, "PROT_EXEC" },
		{ 0x3, "PROT_READ|PROT_WRITE" },
		{ 0x5, "PROT_READ|PROT_EXEC" },
		{ 0x7, "PROT_READ|PROT_WRITE|PROT_EXEC" },
		{ 0x8, "PROT_SEM" },
		{ 0x9, "PROT_READ|PROT_SEM" },
		{ 0x01000000, "PROT_GROWSDOWN" },
		{ 0x02000001, "PROT_READ|PROT_GROWSUP" },
		{ 0x03000001, "PROT_READ|PROT_GROWSDOWN|PROT_GROWSUP" },
		{ 0x10, "0x10 /* PROT_??? */" },
		{ 0x11, "PROT_READ|0x10" },
		{ 0x100000000ull, "0x100000000 /* PROT_??? */" },
		{ 0x80000002, "PROT_WRITE|0x80000000" },
		{ 0x02000010, "PROT_GROWSUP|0x10" },
	};
	char buf[128];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int n = mw_fmt_prot(buf, sizeof(buf), cases[i].prot);

		CHECK_EQ_STR(buf, cases[i].want);
		CHECK_EQ_INT(n, strlen(cases[i].want));
	}
}

TEST(format_mmap_flags)
{
	static const struct {
		uint64_t flags;
		const char *want;
	} cases[] = {
		{ 0x21, "MAP_SHARED|MAP_ANONYMOUS" },
		{ 0x23, "MAP_SHARED_VALIDATE|MAP_ANONYMOUS" },
		{ 0x22, "MAP_PRIVATE|MAP_ANONYMOUS" },
		{ 0x4022, "MAP_PRIVATE|MAP_ANONYMOUS|MAP_NORESERVE" },
		{ 0x20022, "MAP_PRIVATE|MAP_ANONYMOUS|MAP_STACK" },
		{ 0x32, "MAP_PRIVATE|MAP_FIXED|MAP_ANONYMOUS" },
		{ 0x812, "MAP_PRIVATE|MAP_FIXED|MAP_DENYWRITE" },
		{ 0x802, "MAP_PRIVATE|MAP_DENYWRITE" },
		{ 0x2, "MAP_PRIVATE" },
		{ 0x100022, "MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED_NOREPLACE" },
		{ 0x40022 | (21u << 26),
		  "MAP_PRIVATE|MAP_ANONYMOUS|MAP_HUGETLB|21<<MAP_HUGE_SHIFT" },
		{ 0x40022 | (30u << 26),
		  "MAP_PRIVATE|MAP_ANONYMOUS|MAP_HUGETLB|30<<MAP_HUGE_SHIFT" },
		{ 0x40022, "MAP_PRIVATE|MAP_ANONYMOUS|MAP_HUGETLB" },
		{ 0x62, "MAP_PRIVATE|MAP_ANONYMOUS|MAP_32BIT" },
		{ 0x122, "MAP_PRIVATE|MAP_ANONYMOUS|MAP_GROWSDOWN" },
		{ 0xa022, "MAP_PRIVATE|MAP_ANONYMOUS|MAP_POPULATE|MAP_LOCKED" },
		{ 0x10022, "MAP_PRIVATE|MAP_ANONYMOUS|MAP_NONBLOCK" },
		{ 0x80023, "MAP_SHARED_VALIDATE|MAP_ANONYMOUS|MAP_SYNC" },
		/* MAP_UNINITIALIZED lies in the huge page size field. */
		{ 0x4000022, "MAP_PRIVATE|MAP_ANONYMOUS|1<<MAP_HUGE_SHIFT" },
		{ 0x1822, "MAP_PRIVATE|MAP_ANONYMOUS|MAP_DENYWRITE|MAP_EXECUTABLE" },
		{ 0x20, "MAP_FILE|MAP_ANONYMOUS" },
		{ 0, "MAP_FILE" },
		{ 0x24, "0x4 /* MAP_??? */|MAP_ANONYMOUS" },
		{ 0xf, "0xf /* MAP_??? */" },
		{ 0x4, "0x4 /* MAP_??? */" },
		{ 0x602, "MAP_PRIVATE|0x600" },
		{ 0x200022, "MAP_PRIVATE|MAP_ANONYMOUS|0x200000" },
		{ 0x100000002ull, "MAP_PRIVATE" },
		{ 0xfc000022, "MAP_PRIVATE|MAP_ANONYMOUS|63<<MAP_HUGE_SHIFT" },
		{ 0x1ff972, "MAP_PRIVATE|MAP_FIXED|MAP_ANONYMOUS|MAP_32BIT|MAP_NORESERVE|"
			    "MAP_POPULATE|MAP_NONBLOCK|MAP_GROWSDOWN|MAP_DENYWRITE|"
			    "MAP_EXECUTABLE|MAP_LOCKED|MAP_STACK|MAP_HUGETLB|MAP_SYNC|"
			    "MAP_FIXED_NOREPLACE" },
		/* 6.1 prints the type as 0x8 with a MAP_??? comment. */
		{ 0x28, "MAP_DROPPABLE|MAP_ANONYMOUS" },
		/* 6.1: "MAP_PRIVATE|MAP_ANONYMOUS|0x80" */
		{ 0xa2, "MAP_PRIVATE|MAP_ANONYMOUS|MAP_ABOVE4G" },
		/* 6.1: "MAP_FILE|0x80" */
		{ 0x80, "MAP_FILE|MAP_ABOVE4G" },
		/* 6.1: "MAP_FILE|MAP_FIXED|...|MAP_32BIT|MAP_NORESERVE|...|0x3e00680|63<<..." */
		{ 0xfffffffffffffff0ull,
		  "MAP_FILE|MAP_FIXED|MAP_ANONYMOUS|MAP_32BIT|MAP_ABOVE4G|MAP_NORESERVE|"
		  "MAP_POPULATE|MAP_NONBLOCK|MAP_GROWSDOWN|MAP_DENYWRITE|MAP_EXECUTABLE|"
		  "MAP_LOCKED|MAP_STACK|MAP_HUGETLB|MAP_SYNC|MAP_FIXED_NOREPLACE|0x3e00600|"
		  "63<<MAP_HUGE_SHIFT" },
		{ ~0ull, "0xf /* MAP_??? */|MAP_FIXED|MAP_ANONYMOUS|MAP_32BIT|MAP_ABOVE4G|"
			 "MAP_NORESERVE|MAP_POPULATE|MAP_NONBLOCK|MAP_GROWSDOWN|MAP_DENYWRITE|"
			 "MAP_EXECUTABLE|MAP_LOCKED|MAP_STACK|MAP_HUGETLB|MAP_SYNC|"
			 "MAP_FIXED_NOREPLACE|0x3e00600|63<<MAP_HUGE_SHIFT" },
	};
	char buf[512];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int n = mw_fmt_mmap_flags(buf, sizeof(buf), cases[i].flags);

		CHECK_EQ_STR(buf, cases[i].want);
		CHECK_EQ_INT(n, strlen(cases[i].want));
	}
}

TEST(format_mremap_flags)
{
	char buf[64];

	mw_fmt_mremap_flags(buf, sizeof(buf), 0);
	CHECK_EQ_STR(buf, "0");
	mw_fmt_mremap_flags(buf, sizeof(buf), 1);
	CHECK_EQ_STR(buf, "MREMAP_MAYMOVE");
	mw_fmt_mremap_flags(buf, sizeof(buf), 3);
	CHECK_EQ_STR(buf, "MREMAP_MAYMOVE|MREMAP_FIXED");
	mw_fmt_mremap_flags(buf, sizeof(buf), 7);
	CHECK_EQ_STR(buf, "MREMAP_MAYMOVE|MREMAP_FIXED|MREMAP_DONTUNMAP");
	mw_fmt_mremap_flags(buf, sizeof(buf), 8);
	CHECK_EQ_STR(buf, "0x8 /* MREMAP_??? */");
	mw_fmt_mremap_flags(buf, sizeof(buf), 0x11);
	CHECK_EQ_STR(buf, "MREMAP_MAYMOVE|0x10");
}

TEST(format_madvise)
{
	/* strace 6.1 for advice 0..30, in order. */
	static const char *const want[] = {
		"MADV_NORMAL",		"MADV_RANDOM",	       "MADV_SEQUENTIAL",
		"MADV_WILLNEED",	"MADV_DONTNEED",       "0x5 /* MADV_??? */",
		"0x6 /* MADV_??? */",	"0x7 /* MADV_??? */",  "MADV_FREE",
		"MADV_REMOVE",		"MADV_DONTFORK",       "MADV_DOFORK",
		"MADV_MERGEABLE",	"MADV_UNMERGEABLE",    "MADV_HUGEPAGE",
		"MADV_NOHUGEPAGE",	"MADV_DONTDUMP",       "MADV_DODUMP",
		"MADV_WIPEONFORK",	"MADV_KEEPONFORK",     "MADV_COLD",
		"MADV_PAGEOUT",		"MADV_POPULATE_READ",  "MADV_POPULATE_WRITE",
		"MADV_DONTNEED_LOCKED", "MADV_COLLAPSE",       "0x1a /* MADV_??? */",
		"0x1b /* MADV_??? */",	"0x1c /* MADV_??? */", "0x1d /* MADV_??? */",
		"0x1e /* MADV_??? */",
	};
	char buf[64];

	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		mw_fmt_madvise(buf, sizeof(buf), i);
		CHECK_EQ_STR(buf, want[i]);
	}
	mw_fmt_madvise(buf, sizeof(buf), 100);
	CHECK_EQ_STR(buf, "MADV_HWPOISON");
	mw_fmt_madvise(buf, sizeof(buf), 101);
	CHECK_EQ_STR(buf, "MADV_SOFT_OFFLINE");
	/* 6.1 prints 0x66 and 0x67 with a MADV_??? comment; current strace names them. */
	mw_fmt_madvise(buf, sizeof(buf), 102);
	CHECK_EQ_STR(buf, "MADV_GUARD_INSTALL");
	mw_fmt_madvise(buf, sizeof(buf), 103);
	CHECK_EQ_STR(buf, "MADV_GUARD_REMOVE");
	mw_fmt_madvise(buf, sizeof(buf), 104);
	CHECK_EQ_STR(buf, "0x68 /* MADV_??? */");
	mw_fmt_madvise(buf, sizeof(buf), 999);
	CHECK_EQ_STR(buf, "0x3e7 /* MADV_??? */");
	/* The kernel and strace read an int. */
	mw_fmt_madvise(buf, sizeof(buf), NEG(-1));
	CHECK_EQ_STR(buf, "0xffffffff /* MADV_??? */");
	mw_fmt_madvise(buf, sizeof(buf), 0x100000004ull);
	CHECK_EQ_STR(buf, "MADV_DONTNEED");
}

TEST(format_addr)
{
	char buf[32];

	CHECK_EQ_INT(mw_fmt_addr(buf, sizeof(buf), 0), 4);
	CHECK_EQ_STR(buf, "NULL");
	CHECK_EQ_INT(mw_fmt_addr(buf, sizeof(buf), 0x7f09d0e00000), 14);
	CHECK_EQ_STR(buf, "0x7f09d0e00000");
	mw_fmt_addr(buf, sizeof(buf), 0xdead000);
	CHECK_EQ_STR(buf, "0xdead000");
	mw_fmt_addr(buf, sizeof(buf), ~0ull);
	CHECK_EQ_STR(buf, "0xffffffffffffffff");
}

TEST(format_strace_lines_brk_mmap)
{
	CHECK_EQ_STR(line(MW_SYS_BRK, 0, 0, 0, 0, 0, 0, 0x5615b03a3000),
		     "brk(NULL)                               = 0x5615b03a3000");
	CHECK_EQ_STR(line(MW_SYS_BRK, 0x5615b03c4000, 0, 0, 0, 0, 0, 0x5615b03c4000),
		     "brk(0x5615b03c4000)                     = 0x5615b03c4000");
	CHECK_EQ_STR(line(MMAP, 0, 134217728, 0, 0x4022, NEG(-1), 0, 0x7f5127200000),
		     "mmap(NULL, 134217728, PROT_NONE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_NORESERVE, "
		     "-1, 0) = 0x7f5127200000");
	CHECK_EQ_STR(line(MMAP, 0x7f512f3d7000, 1400832, 5, 0x812, 3, 0x26000, 0x7f512f3d7000),
		     "mmap(0x7f512f3d7000, 1400832, PROT_READ|PROT_EXEC, "
		     "MAP_PRIVATE|MAP_FIXED|MAP_DENYWRITE, 3, 0x26000) = 0x7f512f3d7000");
	CHECK_EQ_STR(line(MMAP, 0, 8192, 1, 0x802, 3, 0x26000, 0x7f512f3a4000),
		     "mmap(NULL, 8192, PROT_READ, MAP_PRIVATE|MAP_DENYWRITE, 3, 0x26000) = "
		     "0x7f512f3a4000");
	CHECK_EQ_STR(line(MMAP, 0xdead000, 4096, 1, 0x100022, NEG(-1), 0, -17),
		     "mmap(0xdead000, 4096, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS|"
		     "MAP_FIXED_NOREPLACE, -1, 0) = -1 EEXIST (File exists)");
	CHECK_EQ_STR(line(MMAP, 0xdead000, 4096, 1, 0x40022 | (21u << 26), NEG(-1), 0, -12),
		     "mmap(0xdead000, 4096, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS|MAP_HUGETLB|"
		     "21<<MAP_HUGE_SHIFT, -1, 0) = -1 ENOMEM (Cannot allocate memory)");
	CHECK_EQ_STR(line(MMAP, 0xdead000, 4096, 1, 0x62, NEG(-1), 0, 0x409d1000),
		     "mmap(0xdead000, 4096, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS|MAP_32BIT, -1, 0) "
		     "= 0x409d1000");
	CHECK_EQ_STR(line(MMAP, 0xdead000, 4096, 1, 0, NEG(-1), 0, -9),
		     "mmap(0xdead000, 4096, PROT_READ, MAP_FILE, -1, 0) = -1 EBADF "
		     "(Bad file descriptor)");
	CHECK_EQ_STR(line(MMAP, 0, 8192, 1, 2, 12345, 0x1000, -9),
		     "mmap(NULL, 8192, PROT_READ, MAP_PRIVATE, 12345, 0x1000) = -1 EBADF "
		     "(Bad file descriptor)");
	CHECK_EQ_STR(line(MMAP, 0, 0, 1, 0x22, NEG(-1), 0, EINVAL_RET),
		     "mmap(NULL, 0, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = -1 EINVAL "
		     "(Invalid argument)");
	CHECK_EQ_STR(line(MMAP, 0, 1ull << 46, 1, 0x22, NEG(-1), 0, 0x161578200000),
		     "mmap(NULL, 70368744177664, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = "
		     "0x161578200000");
	CHECK_EQ_STR(line(MMAP, 0, 4096, 1, 0x22, NEG(-1), 0x123, EINVAL_RET),
		     "mmap(NULL, 4096, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0x123) = -1 "
		     "EINVAL (Invalid argument)");
	/* The fd is an int: the upper half of the register is not part of it. */
	CHECK_EQ_STR(line(MMAP, 0, 4096, 1, 0x22, 0x100000003ull, 0, 0x7f512f3a1000),
		     "mmap(NULL, 4096, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS, 3, 0) = "
		     "0x7f512f3a1000");
	CHECK_EQ_STR(line(MMAP, 0, 4096, 1, 0x22, NEG(-100), 0xffffffffffff0000ull, 0x7f512f3a0000),
		     "mmap(NULL, 4096, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS, -100, "
		     "0xffffffffffff0000) = 0x7f512f3a0000");
	/* strace -e inject=mmap:retval=0 */
	CHECK_EQ_STR(line(MMAP, 0x7f9874549000, 53072, 3, 0x32, NEG(-1), 0, 0),
		     "mmap(0x7f9874549000, 53072, PROT_READ|PROT_WRITE, "
		     "MAP_PRIVATE|MAP_FIXED|MAP_ANONYMOUS, -1, 0) = 0");
}

TEST(format_strace_lines_munmap_mprotect)
{
	CHECK_EQ_STR(line(MW_SYS_MUNMAP, 0x7f5126a05000, 8368128, 0, 0, 0, 0, 0),
		     "munmap(0x7f5126a05000, 8368128)         = 0");
	CHECK_EQ_STR(line(MW_SYS_MUNMAP, 0, 4096, 0, 0, 0, 0, 0),
		     "munmap(NULL, 4096)                      = 0");
	CHECK_EQ_STR(line(MW_SYS_MUNMAP, 0x7f5126a05001, 4096, 0, 0, 0, 0, EINVAL_RET),
		     "munmap(0x7f5126a05001, 4096)            = -1 EINVAL (Invalid argument)");
	CHECK_EQ_STR(line(MW_SYS_MPROTECT, 0x7f5127200000, 135168, 3, 0, 0, 0, 0),
		     "mprotect(0x7f5127200000, 135168, PROT_READ|PROT_WRITE) = 0");
	CHECK_EQ_STR(line(MW_SYS_MPROTECT, 0x56157835c000, 4096, 1, 0, 0, 0, 0),
		     "mprotect(0x56157835c000, 4096, PROT_READ) = 0");
	CHECK_EQ_STR(line(MW_SYS_MPROTECT, 0x7f5127200000, 4096, 0x01000000, 0, 0, 0, EINVAL_RET),
		     "mprotect(0x7f5127200000, 4096, PROT_GROWSDOWN) = -1 EINVAL "
		     "(Invalid argument)");
	CHECK_EQ_STR(line(MW_SYS_MPROTECT, 0x7f5127200000, 4096, 0x10, 0, 0, 0, EINVAL_RET),
		     "mprotect(0x7f5127200000, 4096, 0x10 /* PROT_??? */) = -1 EINVAL "
		     "(Invalid argument)");
}

/* Lines strace 6.1 printed for tests/workloads/sysv and calls with odd flags. */
TEST(format_strace_lines_shm_pkey)
{
	CHECK_EQ_STR(line(MW_SYS_SHMAT, 4, 0, 0, 0, 0, 0, 0x7fd1ad8b2000),
		     "shmat(4, NULL, 0)                       = 0x7fd1ad8b2000");
	CHECK_EQ_STR(line(MW_SYS_SHMAT, 4, 0, 010000, 0, 0, 0, 0x7fd1ad8ae000),
		     "shmat(4, NULL, SHM_RDONLY)              = 0x7fd1ad8ae000");
	CHECK_EQ_STR(line(MW_SYS_SHMAT, 9, 0x7fa6fea99000, 040000, 0, 0, 0, 0x7fa6fea99000),
		     "shmat(9, 0x7fa6fea99000, SHM_REMAP)     = 0x7fa6fea99000");
	CHECK_EQ_STR(line(MW_SYS_SHMAT, 99999, 0, 020000 | 0100000 | 1, 0, 0, 0, EINVAL_RET),
		     "shmat(99999, NULL, SHM_RND|SHM_EXEC|0x1) = -1 EINVAL (Invalid argument)");
	/* The id is an int: the upper half of the register is not the kernel's. */
	CHECK_EQ_STR(line(MW_SYS_SHMAT, 0xffffffffffffffffULL, 0, 0, 0, 0, 0, EINVAL_RET),
		     "shmat(-1, NULL, 0)                      = -1 EINVAL (Invalid argument)");
	CHECK_EQ_STR(line(MW_SYS_SHMDT, 0x7fd1ad8b2000, 0, 0, 0, 0, 0, 0),
		     "shmdt(0x7fd1ad8b2000)                   = 0");
	CHECK_EQ_STR(line(MW_SYS_SHMDT, 0x1000, 0, 0, 0, 0, 0, EINVAL_RET),
		     "shmdt(0x1000)                           = -1 EINVAL (Invalid argument)");
	CHECK_EQ_STR(line(MW_SYS_PKEY_MPROTECT, 0x7fe6ca500000, 4096, 1, 0xffffffff, 0, 0, 0),
		     "pkey_mprotect(0x7fe6ca500000, 4096, PROT_READ, -1) = 0");
	CHECK_EQ_STR(line(MW_SYS_PKEY_MPROTECT, 0x7fd1ad8b4000, 4096, 1, 5, 0, 0, EINVAL_RET),
		     "pkey_mprotect(0x7fd1ad8b4000, 4096, PROT_READ, 5) = -1 EINVAL "
		     "(Invalid argument)");
}

TEST(format_strace_lines_mremap)
{
	CHECK_EQ_STR(line(MW_SYS_MREMAP, 0x7f512f29f000, 1052672, 8392704, 1, 0, 0, 0x7f51269ff000),
		     "mremap(0x7f512f29f000, 1052672, 8392704, MREMAP_MAYMOVE) = 0x7f51269ff000");
	CHECK_EQ_STR(line(MW_SYS_MREMAP, 0x7f51269ff000, 8392704, 8392704, 3, 0x7f51259fd000, 0,
			  0x7f51259fd000),
		     "mremap(0x7f51269ff000, 8392704, 8392704, MREMAP_MAYMOVE|MREMAP_FIXED, "
		     "0x7f51259fd000) = 0x7f51259fd000");
	CHECK_EQ_STR(line(MW_SYS_MREMAP, 0x7f51259fd000, 8392704, 4096, 0, 0x1234000, 0,
			  0x7f51259fd000),
		     "mremap(0x7f51259fd000, 8392704, 4096, 0) = 0x7f51259fd000");
	/* 6.1: "mremap(0x7f51259fd000, 4096, 4096, MREMAP_MAYMOVE|MREMAP_DONTUNMAP) =
	 * 0x4321000"; current strace shows the hint the kernel used. */
	CHECK_EQ_STR(line(MW_SYS_MREMAP, 0x7f51259fd000, 4096, 4096, 5, 0x4321000, 0, 0x4321000),
		     "mremap(0x7f51259fd000, 4096, 4096, MREMAP_MAYMOVE|MREMAP_DONTUNMAP, "
		     "0x4321000) = 0x4321000");
	CHECK_EQ_STR(line(MW_SYS_MREMAP, 0x7f51259fd000, 4096, 4096, 7, 0x7f51261fe000, 0,
			  0x7f51261fe000),
		     "mremap(0x7f51259fd000, 4096, 4096, MREMAP_MAYMOVE|MREMAP_FIXED|"
		     "MREMAP_DONTUNMAP, 0x7f51261fe000) = 0x7f51261fe000");
	/* Without MREMAP_MAYMOVE the kernel ignores new_address: not shown. */
	CHECK_EQ_STR(line(MW_SYS_MREMAP, 0x7f51259fd000, 4096, 8192, 2, 0x7f51259fd000, 0,
			  EINVAL_RET),
		     "mremap(0x7f51259fd000, 4096, 8192, MREMAP_FIXED) = -1 EINVAL "
		     "(Invalid argument)");
	CHECK_EQ_STR(line(MW_SYS_MREMAP, 0x7f51259fd000, 4096, 8192, 4, 0x7f51259fd000, 0,
			  EINVAL_RET),
		     "mremap(0x7f51259fd000, 4096, 8192, MREMAP_DONTUNMAP) = -1 EINVAL "
		     "(Invalid argument)");
	CHECK_EQ_STR(line(MW_SYS_MREMAP, 0x7f51259fd000, 4096, 8192, 8, 0x7f51259fd000, 0,
			  EINVAL_RET),
		     "mremap(0x7f51259fd000, 4096, 8192, 0x8 /* MREMAP_??? */) = -1 EINVAL "
		     "(Invalid argument)");
	CHECK_EQ_STR(line(MW_SYS_MREMAP, 0x7f51259fd000, 4096, 8192, 0x11, 0x7f51259fd000, 0,
			  EINVAL_RET),
		     "mremap(0x7f51259fd000, 4096, 8192, MREMAP_MAYMOVE|0x10) = -1 EINVAL "
		     "(Invalid argument)");
	CHECK_EQ_STR(line(MW_SYS_MREMAP, 0, 4096, 8192, 1, 0, 0, -14),
		     "mremap(NULL, 4096, 8192, MREMAP_MAYMOVE) = -1 EFAULT (Bad address)");
}

TEST(format_strace_lines_madvise)
{
	CHECK_EQ_STR(line(MW_SYS_MADVISE, 0x7f5126a05000, 8368128, 4, 0, 0, 0, 0),
		     "madvise(0x7f5126a05000, 8368128, MADV_DONTNEED) = 0");
	CHECK_EQ_STR(line(MW_SYS_MADVISE, 0x7f5126a05000, 8368128, 5, 0, 0, 0, EINVAL_RET),
		     "madvise(0x7f5126a05000, 8368128, 0x5 /* MADV_??? */) = -1 EINVAL "
		     "(Invalid argument)");
	CHECK_EQ_STR(line(MW_SYS_MADVISE, 0x7f5126a05000, 8368128, 25, 0, 0, 0, EINVAL_RET),
		     "madvise(0x7f5126a05000, 8368128, MADV_COLLAPSE) = -1 EINVAL "
		     "(Invalid argument)");
	CHECK_EQ_STR(line(MW_SYS_MADVISE, 0x7f5126a05001, 4096, 100, 0, 0, 0, EINVAL_RET),
		     "madvise(0x7f5126a05001, 4096, MADV_HWPOISON) = -1 EINVAL "
		     "(Invalid argument)");
	CHECK_EQ_STR(line(MW_SYS_MADVISE, 0x7f5126a05000, 4096, 999, 0, 0, 0, EINVAL_RET),
		     "madvise(0x7f5126a05000, 4096, 0x3e7 /* MADV_??? */) = -1 EINVAL "
		     "(Invalid argument)");
	CHECK_EQ_STR(line(MW_SYS_MADVISE, 0x7f5126a05000, 4096, 0, 0, 0, 0, -12),
		     "madvise(0x7f5126a05000, 4096, MADV_NORMAL) = -1 ENOMEM "
		     "(Cannot allocate memory)");
}

/* strace -e inject=madvise:error=N of madvise(0x1000, 4096, MADV_NORMAL). */
TEST(format_strace_error_returns)
{
	static const struct {
		int err;
		const char *want;
	} cases[] = {
		{ 999, "-1 (errno 999)" },
		{ 524, "-1 ENOTSUPP (Unknown error 524)" },
		{ 512, "? ERESTARTSYS (To be restarted if SA_RESTART is set)" },
		{ 513, "? ERESTARTNOINTR (To be restarted)" },
		{ 514, "? ERESTARTNOHAND (To be restarted if no handler)" },
		{ 516, "? ERESTART_RESTARTBLOCK (Interrupted by signal)" },
		{ 133, "-1 EHWPOISON (Memory page has hardware error)" },
		{ 41, "-1 (errno 41)" },
		{ 58, "-1 (errno 58)" },
		{ 519, "-1 (errno 519)" },
		{ 531, "-1 (errno 531)" },
		{ 4095, "-1 (errno 4095)" },
		{ 1, "-1 EPERM (Operation not permitted)" },
		{ 11, "-1 EAGAIN (Resource temporarily unavailable)" },
		{ 95, "-1 EOPNOTSUPP (Operation not supported)" },
		{ 35, "-1 EDEADLK (Resource deadlock avoided)" },
	};
	char buf[128], want[192];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct mw_syscall_ev sc = { .sys = MW_SYS_MADVISE, .ret = -cases[i].err };
		int n = mw_fmt_syscall_ret(buf, sizeof(buf), &sc);

		CHECK_EQ_STR(buf, cases[i].want);
		CHECK_EQ_INT(n, strlen(cases[i].want));
		snprintf(want, sizeof(want), "madvise(0x1000, 4096, MADV_NORMAL)      = %s",
			 cases[i].want);
		CHECK_EQ_STR(line(MW_SYS_MADVISE, 0x1000, 4096, 0, 0, 0, 0, -cases[i].err), want);
	}
}

TEST(format_ret_values)
{
	struct mw_syscall_ev sc = { .sys = MW_SYS_MMAP, .ret = 0x7f09d0e00000 };
	char buf[64];

	mw_fmt_syscall_ret(buf, sizeof(buf), &sc);
	CHECK_EQ_STR(buf, "0x7f09d0e00000");
	/* Just outside the error range: an address, not an errno. */
	sc.ret = -4096;
	mw_fmt_syscall_ret(buf, sizeof(buf), &sc);
	CHECK_EQ_STR(buf, "0xfffffffffffff000");
	sc.sys = MW_SYS_MPROTECT;
	sc.ret = 0;
	mw_fmt_syscall_ret(buf, sizeof(buf), &sc);
	CHECK_EQ_STR(buf, "0");
	sc.sys = MW_SYS_BRK;
	sc.ret = 0;
	mw_fmt_syscall_ret(buf, sizeof(buf), &sc);
	CHECK_EQ_STR(buf, "0");
	sc.sys = MW_SYS_COUNT;
	sc.ret = 5;
	mw_fmt_syscall_ret(buf, sizeof(buf), &sc);
	CHECK_EQ_STR(buf, "5");
	CHECK_EQ_INT(mw_fmt_syscall_args(buf, sizeof(buf), &sc), 0);
	CHECK_EQ_STR(buf, "");
}

TEST(format_truncation)
{
	struct mw_syscall_ev sc = {
		.sys = MW_SYS_MMAP,
		.args = { 0, 134217728, 0, 0x4022, NEG(-1), 0 },
		.ret = -12,
	};
	const char *full =
		"NULL, 134217728, PROT_NONE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_NORESERVE, -1, 0";
	char buf[16];
	char tiny[1] = { 'x' };
	char canary[4] = { 'a', 'b', 'c', 'd' };

	CHECK_EQ_INT(mw_fmt_syscall_args(buf, sizeof(buf), &sc), strlen(full));
	CHECK_EQ_STR(buf, "NULL, 134217728");
	CHECK_EQ_INT(mw_fmt_syscall_ret(buf, sizeof(buf), &sc), 34);
	CHECK_EQ_STR(buf, "-1 ENOMEM (Cann");
	/* Cut in the middle of every kind of piece: always NUL-terminated. */
	for (size_t sz = 1; sz <= strlen(full) + 1; sz++) {
		char b[128];

		memset(b, 'z', sizeof(b));
		CHECK_EQ_INT(mw_fmt_syscall_args(b, sz, &sc), strlen(full));
		CHECK_EQ_INT(strlen(b), sz - 1);
		CHECK(strncmp(b, full, sz - 1) == 0);
		CHECK(b[sz] == 'z');
	}
	CHECK_EQ_INT(mw_fmt_prot(tiny, sizeof(tiny), 3), 20);
	CHECK_EQ_INT(tiny[0], 0);
	/* Size 0: nothing is written, the length is still returned. */
	CHECK_EQ_INT(mw_fmt_mmap_flags(canary, 0, 0x22), 25);
	CHECK_EQ_INT(mw_fmt_size(canary, 0, 4096), 4);
	CHECK_EQ_INT(mw_fmt_clock(canary, 0, 0), 15);
	CHECK(memcmp(canary, "abcd", 4) == 0);
	CHECK_EQ_INT(mw_fmt_madvise(canary, 4, 4), 13);
	CHECK_EQ_STR(canary, "MAD");
}

TEST(format_size)
{
	static const struct {
		int64_t bytes;
		const char *size, *delta;
	} cases[] = {
		{ 0, "0", "0" },
		{ 1, "1", "+1" },
		{ 512, "512", "+512" },
		{ 1023, "1023", "+1023" },
		{ 1024, "1.0K", "+1.0K" },
		{ 1536, "1.5K", "+1.5K" },
		{ 4096, "4.0K", "+4.0K" },
		{ 10188, "9.9K", "+9.9K" },
		{ 10189, "10K", "+10K" }, /* 9.95K rounds to 10, no decimal */
		{ 10240, "10K", "+10K" },
		{ 135168, "132K", "+132K" },
		{ 1048063, "1023K", "+1023K" },
		{ 1048064, "1.0M", "+1.0M" }, /* 1023.5K would be "1024K" */
		{ 8368128, "8.0M", "+8.0M" },
		{ 52428800, "50M", "+50M" },
		{ 134217728, "128M", "+128M" },
		{ 1610612736, "1.5G", "+1.5G" },
		{ 1099511627776, "1.0T", "+1.0T" },
		{ INT64_MAX, "8.0E", "+8.0E" },
		{ -512, "-512", "-512" },
		{ -4096, "-4.0K", "-4.0K" },
		{ -52428800, "-50M", "-50M" },
		{ INT64_MIN, "-8.0E", "-8.0E" },
	};
	char buf[32];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int n = mw_fmt_size(buf, sizeof(buf), cases[i].bytes);

		CHECK_EQ_STR(buf, cases[i].size);
		CHECK_EQ_INT(n, strlen(cases[i].size));
		n = mw_fmt_delta(buf, sizeof(buf), cases[i].bytes);
		CHECK_EQ_STR(buf, cases[i].delta);
		CHECK_EQ_INT(n, strlen(cases[i].delta));
	}
}

TEST(format_clock)
{
	const char *old = getenv("TZ");
	char *saved = old ? strdup(old) : NULL;
	char buf[32];

	setenv("TZ", "UTC", 1);
	tzset();
	CHECK_EQ_INT(mw_fmt_clock(buf, sizeof(buf), 1700000463123456789ull), 15);
	CHECK_EQ_STR(buf, "22:21:03.123456");
	mw_fmt_clock(buf, sizeof(buf), 0);
	CHECK_EQ_STR(buf, "00:00:00.000000");
	mw_fmt_clock(buf, sizeof(buf), 86399999999999ull);
	CHECK_EQ_STR(buf, "23:59:59.999999");
	/* Local time, as strace -t prints it. */
	setenv("TZ", "CET-1", 1);
	tzset();
	mw_fmt_clock(buf, sizeof(buf), 1700000463123456789ull);
	CHECK_EQ_STR(buf, "23:21:03.123456");
	if (saved)
		setenv("TZ", saved, 1);
	else
		unsetenv("TZ");
	tzset();
	free(saved);
}
