// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* /proc parsers on text recorded on Debian 12 / Linux 6.18 (a process with a
 * thread, a memfd, SysV shm, shared anonymous memory, a deleted file and a
 * comm of "a) b (c"), plus live reads of this very process. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include "ledger/procfs.h"
#include "unit.h"

/* cat /proc/PID/maps; VmSize below is this minus [vsyscall], which is not a VMA. */
static const char maps_sample[] =
	"55b7a6d98000-55b7a6d99000 r--p 00000000 fe:00 10952910                   /tmp/mw/sample\n"
	"55b7a6d99000-55b7a6d9a000 r-xp 00001000 fe:00 10952910                   /tmp/mw/sample\n"
	"55b7a6d9a000-55b7a6d9b000 r--p 00002000 fe:00 10952910                   /tmp/mw/sample\n"
	"55b7a6d9b000-55b7a6d9c000 r--p 00002000 fe:00 10952910                   /tmp/mw/sample\n"
	"55b7a6d9c000-55b7a6d9d000 rw-p 00003000 fe:00 10952910                   /tmp/mw/sample\n"
	"55b7d736d000-55b7d738e000 rw-p 00000000 00:00 0                          [heap]\n"
	"7fbd6af76000-7fbd6af77000 ---p 00000000 00:00 0 \n"
	"7fbd6af77000-7fbd6b777000 rw-p 00000000 00:00 0 \n"
	"7fbd6b777000-7fbd6b877000 ---p 00000000 00:00 0 \n"
	"7fbd6b877000-7fbd6b87a000 rw-p 00000000 00:00 0 \n"
	"7fbd6b87a000-7fbd6b8a0000 r--p 00000000 fe:00 332835                     /usr/lib/x86_64-linux-gnu/libc.so.6\n"
	"7fbd6b8a0000-7fbd6b9f6000 r-xp 00026000 fe:00 332835                     /usr/lib/x86_64-linux-gnu/libc.so.6\n"
	"7fbd6b9f6000-7fbd6ba49000 r--p 0017c000 fe:00 332835                     /usr/lib/x86_64-linux-gnu/libc.so.6\n"
	"7fbd6ba49000-7fbd6ba4d000 r--p 001cf000 fe:00 332835                     /usr/lib/x86_64-linux-gnu/libc.so.6\n"
	"7fbd6ba4d000-7fbd6ba4f000 rw-p 001d3000 fe:00 332835                     /usr/lib/x86_64-linux-gnu/libc.so.6\n"
	"7fbd6ba4f000-7fbd6ba5c000 rw-p 00000000 00:00 0 \n"
	"7fbd6ba5d000-7fbd6ba5f000 rw-p 00000000 00:00 0 \n"
	"7fbd6ba5f000-7fbd6ba63000 rw-s 00000000 00:01 27                         /dev/zero (deleted)\n"
	"7fbd6ba63000-7fbd6ba64000 r--p 00000000 fe:00 10952863                   /tmp/mw/del me (x) (deleted)\n"
	"7fbd6ba64000-7fbd6ba65000 rw-s 00000000 00:01 0                          /SYSV00000000 (deleted)\n"
	"7fbd6ba65000-7fbd6ba67000 rw-s 00000000 00:01 25                         /memfd:ring buf (deleted)\n"
	"7fbd6ba67000-7fbd6ba69000 rw-p 00000000 00:00 0 \n"
	"7fbd6ba69000-7fbd6ba6d000 r--p 00000000 00:00 0                          [vvar]\n"
	"7fbd6ba6d000-7fbd6ba6f000 r--p 00000000 00:00 0                          [vvar_vclock]\n"
	"7fbd6ba6f000-7fbd6ba71000 r-xp 00000000 00:00 0                          [vdso]\n"
	"7fbd6ba71000-7fbd6ba72000 r--p 00000000 fe:00 332383                     /usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2\n"
	"7fbd6ba72000-7fbd6ba98000 r-xp 00001000 fe:00 332383                     /usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2\n"
	"7fbd6ba98000-7fbd6baa2000 r--p 00027000 fe:00 332383                     /usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2\n"
	"7fbd6baa2000-7fbd6baa4000 r--p 00031000 fe:00 332383                     /usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2\n"
	"7fbd6baa4000-7fbd6baa6000 rw-p 00033000 fe:00 332383                     /usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2\n"
	"7fff44316000-7fff44337000 rw-p 00000000 00:00 0                          [stack]\n"
	"ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]\n";

/* The same process's status, cut after the Vm lines. */
static const char status_sample[] = "Name:\ta) b (c\n"
				    "Umask:\t0022\n"
				    "State:\tS (sleeping)\n"
				    "Tgid:\t5536\n"
				    "Ngid:\t0\n"
				    "Pid:\t5536\n"
				    "PPid:\t5527\n"
				    "TracerPid:\t0\n"
				    "Uid:\t0\t0\t0\t0\n"
				    "Gid:\t0\t0\t0\t0\n"
				    "FDSize:\t256\n"
				    "Groups:\t \n"
				    "NStgid:\t5536\n"
				    "NSpid:\t5536\n"
				    "NSpgid:\t5527\n"
				    "NSsid:\t2522\n"
				    "Kthread:\t0\n"
				    "VmPeak:\t   11772 kB\n"
				    "VmSize:\t   11736 kB\n"
				    "VmLck:\t       0 kB\n"
				    "VmPin:\t       0 kB\n"
				    "VmHWM:\t    1428 kB\n"
				    "VmRSS:\t    1428 kB\n"
				    "Threads:\t2\n";

/* kthreadd: no Vm lines at all. */
static const char status_kthread[] = "Name:\tkthreadd\n"
				     "Umask:\t0022\n"
				     "State:\tS (sleeping)\n"
				     "Tgid:\t2\n"
				     "Ngid:\t0\n"
				     "Pid:\t2\n"
				     "PPid:\t0\n"
				     "TracerPid:\t0\n"
				     "Kthread:\t1\n"
				     "Threads:\t1\n";

static const char stat_sample[] =
	"5536 (a) b (c) S 5527 5527 2522 0 -1 4194304 82 0 0 0 0 0 0 0 20 0 2 0 77516 "
	"12017664 331 18446744073709551615 94247266652160 94247266653237 140734337605664 0 0 0 "
	"65536 6 0 0 0 0 17 0 0 0 0 0 0 94247266663888 94247266664584 94248078069760 "
	"140734337608344 140734337608353 140734337608353 140734337609711 0\n";

static const char stat_cat[] =
	"3040 (cat) R 3033 3033 2522 0 -1 4194304 99 0 0 0 0 0 0 0 20 0 1 0 36379 3133440 379 "
	"18446744073709551615 94511524282368 94511524302249 140725165210768 0 0 0 0 0 0 0 0 0 17 0 "
	"0 0 0 0 0 94511524318256 94511524319872 94512204738560 140725165214338 140725165214358 "
	"140725165214358 140725165215723 0\n";

static const char stat_kthread[] =
	"2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 25 0 0 18446744073709551615 0 "
	"0 0 0 0 0 0 2147483647 0 1 0 0 0 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n";

static const char *line_of(const char *text, int n)
{
	while (n-- > 0)
		text = strchr(text, '\n') + 1;
	return text;
}

/* ---- one maps line ---- */

TEST(procfs_line_file_text)
{
	struct mw_region r;

	CHECK_EQ_INT(mw_maps_parse_line(line_of(maps_sample, 11), &r), 0);
	CHECK_EQ_HEX(r.start, 0x7fbd6b8a0000ULL);
	CHECK_EQ_HEX(r.end, 0x7fbd6b9f6000ULL);
	CHECK_EQ_INT(r.prot, PROT_READ | PROT_EXEC);
	CHECK_EQ_INT(r.flags, MW_RF_BASELINE | MW_RF_FILE);
	CHECK(r.name == mw_intern("/usr/lib/x86_64-linux-gnu/libc.so.6"));
	CHECK_EQ_INT(r.tid, 0);
	CHECK_EQ_INT(r.ts_ns, 0);
}

/* The file's lowest offset-0 mapping (libc's by any libc name), not a later piece of it, not a
 * name that only starts the same, and nothing for a file not mapped. */
TEST(procfs_maps_find_file)
{
	uint64_t start = 0, end = 0;
	char path[64] = "";

	CHECK_EQ_INT(mw_maps_find_file(maps_sample, "libc.so.6", &start, &end, path, sizeof(path)),
		     0);
	CHECK_EQ_HEX(start, 0x7fbd6b87a000ULL);
	CHECK_EQ_HEX(end, 0x7fbd6b8a0000ULL);
	CHECK(!strcmp(path, "/usr/lib/x86_64-linux-gnu/libc.so.6"));
	CHECK_EQ_INT(mw_maps_find_file(maps_sample, "/tmp/mw/sample", &start, &end, path,
				       sizeof(path)),
		     0);
	CHECK_EQ_HEX(start, 0x55b7a6d98000ULL);
	CHECK_EQ_INT(mw_maps_find_file(maps_sample, "/tmp/mw/samp", &start, &end, path,
				       sizeof(path)),
		     -ENOENT);
	CHECK_EQ_INT(mw_maps_find_file("7f00-7f01 r--p 00001000 fe:00 1 /lib/libc.so.6\n"
				       "7f02-7f03 rw-p 00000000 00:00 0 \n",
				       "libc.so.6", &start, &end, path, sizeof(path)),
		     -ENOENT);
	CHECK_EQ_INT(mw_maps_find_file("", "libc.so.6", &start, &end, path, sizeof(path)), -ENOENT);
}

TEST(procfs_line_anonymous)
{
	struct mw_region r;

	/* The kernel pads with a trailing space when there is no name. */
	CHECK_EQ_INT(mw_maps_parse_line(line_of(maps_sample, 6), &r), 0);
	CHECK_EQ_HEX(r.start, 0x7fbd6af76000ULL);
	CHECK_EQ_HEX(r.end, 0x7fbd6af77000ULL);
	CHECK_EQ_INT(r.prot, PROT_NONE);
	CHECK_EQ_INT(r.flags, MW_RF_BASELINE);
	CHECK(r.name == NULL);
	CHECK_EQ_INT(mw_maps_parse_line("7f0000000000-7f0000001000 rw-p 00000000 00:00 0", &r), 0);
	CHECK(r.name == NULL);
	CHECK_EQ_INT(r.prot, PROT_READ | PROT_WRITE);
	CHECK_EQ_INT(mw_maps_parse_line("7f0000000000-7f0000001000 rw-p 00000000 00:00 0\n", &r),
		     0);
	CHECK(r.name == NULL);
}

TEST(procfs_line_pseudo_names)
{
	struct mw_region r;

	CHECK_EQ_INT(mw_maps_parse_line(line_of(maps_sample, 5), &r), 0);
	CHECK_EQ_INT(r.flags, MW_RF_BASELINE | MW_RF_HEAP);
	CHECK_EQ_STR(r.name, "[heap]");
	CHECK_EQ_INT(mw_maps_parse_line(line_of(maps_sample, 30), &r), 0);
	CHECK_EQ_INT(r.flags, MW_RF_BASELINE | MW_RF_STACK);
	CHECK_EQ_INT(mw_maps_parse_line(line_of(maps_sample, 22), &r), 0);
	CHECK_EQ_STR(r.name, "[vvar]");
	CHECK_EQ_INT(r.flags, MW_RF_BASELINE | MW_RF_SPECIAL);
	CHECK_EQ_INT(mw_maps_parse_line(line_of(maps_sample, 23), &r), 0);
	CHECK_EQ_STR(r.name, "[vvar_vclock]");
	CHECK_EQ_INT(r.flags, MW_RF_BASELINE | MW_RF_SPECIAL);
	CHECK_EQ_INT(mw_maps_parse_line(line_of(maps_sample, 24), &r), 0);
	CHECK_EQ_STR(r.name, "[vdso]");
	CHECK_EQ_INT(r.prot, PROT_READ | PROT_EXEC);
	CHECK_EQ_INT(r.flags, MW_RF_BASELINE | MW_RF_SPECIAL);
	/* The top of the address space: end must not overflow. */
	CHECK_EQ_INT(mw_maps_parse_line(line_of(maps_sample, 31), &r), 0);
	CHECK_EQ_HEX(r.start, 0xffffffffff600000ULL);
	CHECK_EQ_HEX(r.end, 0xffffffffff601000ULL);
	CHECK_EQ_INT(r.prot, PROT_EXEC);
	CHECK_EQ_INT(r.flags, MW_RF_BASELINE | MW_RF_SPECIAL);
	/* The kernel's uprobes page: special, no one's memory. */
	CHECK_EQ_INT(mw_maps_parse_line("7fffff7fe000-7fffff7ff000 r-xp 00000000 00:00 0 "
					"     [uprobes]",
					&r),
		     0);
	CHECK_EQ_INT(r.flags, MW_RF_BASELINE | MW_RF_SPECIAL);
	/* Lookalikes are plain names. */
	CHECK_EQ_INT(mw_maps_parse_line("7f0000000000-7f0000001000 rw-p 00000000 00:00 0 "
					"     [heapx]",
					&r),
		     0);
	CHECK_EQ_INT(r.flags, MW_RF_BASELINE);
	/* PR_SET_VMA_ANON_NAME (this kernel lacks CONFIG_ANON_VMA_NAME). */
	CHECK_EQ_INT(mw_maps_parse_line("7f0000000000-7f0000002000 rw-p 00000000 00:00 0 "
					"     [anon:my pool]",
					&r),
		     0);
	CHECK_EQ_STR(r.name, "[anon:my pool]");
	CHECK_EQ_INT(r.flags, MW_RF_BASELINE);
}

TEST(procfs_line_shared_and_deleted)
{
	struct mw_region r;

	CHECK_EQ_INT(mw_maps_parse_line(line_of(maps_sample, 17), &r), 0);
	CHECK_EQ_STR(r.name, "/dev/zero (deleted)");
	CHECK_EQ_INT(r.flags, MW_RF_BASELINE | MW_RF_SHARED | MW_RF_FILE);
	CHECK_EQ_INT(mw_maps_parse_line(line_of(maps_sample, 18), &r), 0);
	CHECK_EQ_STR(r.name, "/tmp/mw/del me (x) (deleted)");
	CHECK_EQ_INT(r.flags, MW_RF_BASELINE | MW_RF_FILE);
	CHECK_EQ_INT(r.prot, PROT_READ);
	/* SysV shm shows inode 0 but is a file, and a segment shmdt can remove. */
	CHECK_EQ_INT(mw_maps_parse_line(line_of(maps_sample, 19), &r), 0);
	CHECK_EQ_STR(r.name, "/SYSV00000000 (deleted)");
	CHECK_EQ_INT(r.flags, MW_RF_BASELINE | MW_RF_SHARED | MW_RF_FILE | MW_RF_SHM);
	CHECK_EQ_INT(mw_maps_parse_line(line_of(maps_sample, 20), &r), 0);
	CHECK_EQ_STR(r.name, "/memfd:ring buf (deleted)");
	CHECK_EQ_INT(r.flags, MW_RF_BASELINE | MW_RF_SHARED | MW_RF_FILE);
	CHECK_EQ_INT(r.prot, PROT_READ | PROT_WRITE);
	/* An fd mapping whose name is not a path still has an inode. */
	CHECK_EQ_INT(mw_maps_parse_line("7f0000000000-7f0000009000 rw-s 00000000 00:0f 1059 "
					"                      anon_inode:[perf_event]",
					&r),
		     0);
	CHECK_EQ_STR(r.name, "anon_inode:[perf_event]");
	CHECK_EQ_INT(r.flags, MW_RF_BASELINE | MW_RF_SHARED | MW_RF_FILE);
}

TEST(procfs_line_malformed)
{
	static const char *const bad[] = {
		"",
		"\n",
		"hello",
		"7f0000000000 7f0000001000 rw-p 00000000 00:00 0",
		"7f0000001000-7f0000001000 rw-p 00000000 00:00 0", /* empty */
		"7f0000002000-7f0000001000 rw-p 00000000 00:00 0", /* inverted */
		"7f0000000000-7f0000001000 rwzp 00000000 00:00 0",
		"7f0000000000-7f0000001000 rw-q 00000000 00:00 0",
		"7f0000000000-7f0000001000 rw- 00000000 00:00 0",
		"7f0000000000-7f0000001000 rw-p 00000000 00:00",
		"7f0000000000-7f0000001000 rw-p 00000000 0000 0",
		"7f0000000000-7f0000001000 rw-p 00000000 00:00 x",
		"7f0000000000-7f0000001000 rw-p 00000000 00:00 12x /a",
		"7f0000000000-10000000000000000 rw-p 00000000 00:00 0", /* 65 bits */
		"-7f0000001000 rw-p 00000000 00:00 0",
		" 7f0000000000-7f0000001000 rw-p 00000000 00:00 0",
		"0x7f0000000000-7f0000001000 rw-p 00000000 00:00 0",
	};
	struct mw_region r;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (mw_maps_parse_line(bad[i], &r) != -EINVAL)
			unit_fail(__FILE__, __LINE__, "accepted \"%s\"", bad[i]);
}

/* ---- whole maps ---- */

TEST(procfs_maps_parse_sample)
{
	struct mw_regions r;
	const struct mw_region *g;

	mw_regions_init(&r);
	CHECK_EQ_INT(mw_maps_parse(maps_sample, &r), 0);
	/* 32 lines; three pairs of touching r--p pieces of one file (.rodata
	 * and RELRO) are one region each in the model. */
	CHECK_EQ_INT(r.n, 29);
	CHECK_EQ_INT(mw_regions_bytes(&r), 11740 * 1024);
	CHECK_EQ_INT(mw_regions_bytes(&r) - 4096, 11736 * 1024); /* VmSize + [vsyscall] */
	g = mw_regions_find(&r, 0x7fbd6b777000ULL + 100);
	CHECK(g && g->prot == PROT_NONE && g->end == 0x7fbd6b877000ULL);
	g = mw_regions_find(&r, 0x7fbd6ba4a000ULL);
	CHECK(g && g->start == 0x7fbd6b9f6000ULL && g->end == 0x7fbd6ba4d000ULL);
	CHECK(mw_regions_find(&r, 0x7fbd6ba5c000ULL) == NULL); /* a real one-page hole */
	for (size_t i = 0; i < r.n; i++)
		CHECK(r.v[i].flags & MW_RF_BASELINE);
	mw_regions_free(&r);
}

TEST(procfs_maps_parse_clears_and_fails_whole)
{
	struct mw_regions r;
	struct mw_region g = { .start = 0x1000, .end = 0x2000, .prot = PROT_READ };

	mw_regions_init(&r);
	CHECK_EQ_INT(mw_regions_map(&r, &g, NULL), 0);
	CHECK_EQ_INT(mw_maps_parse("", &r), 0);
	CHECK_EQ_INT(r.n, 0);
	CHECK_EQ_INT(mw_maps_parse("7f0000000000-7f0000001000 rw-p 00000000 00:00 0 \n\n", &r), 0);
	CHECK_EQ_INT(r.n, 1);
	/* No trailing newline on the last line. */
	CHECK_EQ_INT(mw_maps_parse("7f0000000000-7f0000001000 rw-p 00000000 00:00 0 \n"
				   "7f0000001000-7f0000002000 r--p 00000000 00:00 0",
				   &r),
		     0);
	CHECK_EQ_INT(r.n, 2);
	CHECK_EQ_INT(mw_maps_parse("7f0000000000-7f0000001000 rw-p 00000000 00:00 0 \n"
				   "garbage\n"
				   "7f0000001000-7f0000002000 r--p 00000000 00:00 0\n",
				   &r),
		     -EINVAL);
	CHECK_EQ_INT(r.n, 0);
	mw_regions_free(&r);
}

/* ---- status and stat ---- */

TEST(procfs_status_resident)
{
	struct mw_resident r = { .ts_ns = 5 };
	const char *st = "VmRSS:\t    1428 kB\n"
			 "RssAnon:\t     100 kB\n"
			 "RssFile:\t    1320 kB\n"
			 "RssShmem:\t       8 kB\n";

	CHECK_EQ_INT(mw_status_resident(st, &r), 0);
	CHECK(r.known);
	CHECK_EQ_INT(r.anon, 100 * 1024);
	CHECK_EQ_INT(r.file, 1320 * 1024);
	CHECK_EQ_INT(r.shmem, 8 * 1024);
	CHECK_EQ_INT(mw_resident_bytes(&r), 1428 * 1024);
	CHECK_EQ_INT(r.ts_ns, 5);
	/* No mm (a kernel thread, a zombie): unknown, r untouched. */
	r.known = false;
	CHECK_EQ_INT(mw_status_resident(status_kthread, &r), -ENOENT);
	CHECK(!r.known);
	CHECK_EQ_INT(mw_status_resident("RssAnon:\t1 kB\nRssFile:\tx kB\nRssShmem:\t0 kB\n", &r),
		     -EINVAL);
}

TEST(procfs_status_vmsize)
{
	uint64_t b = 1;

	CHECK_EQ_INT(mw_status_vmsize(status_sample, &b), 0);
	CHECK_EQ_INT(b, 11736ULL * 1024);
	CHECK_EQ_INT(mw_status_vmsize(status_kthread, &b), -ENOENT);
	CHECK_EQ_INT(mw_status_vmsize("", &b), -ENOENT);
	CHECK_EQ_INT(mw_status_vmsize("VmSize:\t   0 kB\n", &b), 0);
	CHECK_EQ_INT(b, 0);
	CHECK_EQ_INT(mw_status_vmsize("Name:\tx\nVmSize:\t  abc kB\n", &b), -EINVAL);
	CHECK_EQ_INT(mw_status_vmsize("VmSize:\t  12 MB\n", &b), -EINVAL);
	/* Only at the start of a line. */
	CHECK_EQ_INT(mw_status_vmsize("Name:\tVmSize: 5 kB\n", &b), -ENOENT);
}

TEST(procfs_stat_start_brk)
{
	uint64_t v = 1;

	/* comm "a) b (c" prints as "(a) b (c)": only the last ')' ends it. */
	CHECK_EQ_INT(mw_stat_start_brk(stat_sample, &v), 0);
	CHECK_EQ_HEX(v, 0x55b7d736d000ULL); /* the [heap] start in maps_sample */
	CHECK_EQ_INT(mw_stat_start_brk(stat_cat, &v), 0);
	CHECK_EQ_INT(v, 94512204738560ULL);
	CHECK_EQ_INT(mw_stat_start_brk(stat_kthread, &v), 0);
	CHECK_EQ_INT(v, 0);
	CHECK_EQ_INT(mw_stat_start_brk("1 (x) S 0 0 0\n", &v), -EINVAL);
	CHECK_EQ_INT(mw_stat_start_brk("no parens at all", &v), -EINVAL);
	CHECK_EQ_INT(mw_stat_start_brk("", &v), -EINVAL);
}

TEST(procfs_stat_is_kthread)
{
	bool k = true;

	CHECK_EQ_INT(mw_stat_is_kthread(stat_sample, &k), 0);
	CHECK(!k);
	CHECK_EQ_INT(mw_stat_is_kthread(stat_kthread, &k), 0);
	CHECK(k);
	CHECK_EQ_INT(mw_stat_is_kthread("1 (x) S 0 0 0 0 -1\n", &k), -EINVAL);
	CHECK_EQ_INT(mw_stat_is_kthread("1 (x) S 0 0 0 0 -1 -5 0\n", &k), -EINVAL);
}

TEST(procfs_stat_state)
{
	char st = '?';

	CHECK_EQ_INT(mw_stat_state(stat_sample, &st), 0);
	CHECK(st == 'S');
	CHECK_EQ_INT(mw_stat_state("7 (a) b) Z 1 7 7\n", &st), 0);
	CHECK(st == 'Z');
	CHECK_EQ_INT(mw_stat_state("7 (x)\n", &st), -EINVAL);
	CHECK_EQ_INT(mw_stat_state("7 (x) ", &st), -EINVAL);
	CHECK_EQ_INT(mw_stat_state("no parens", &st), -EINVAL);
	/* This thread, reading its own state, runs. */
	CHECK_EQ_INT(mw_read_state((uint32_t)getpid(), (uint32_t)getpid(), &st), 0);
	CHECK(st == 'R');
	CHECK(!mw_thread_gone((uint32_t)getpid(), (uint32_t)getpid()));
	CHECK(mw_thread_gone(0x7fffffff, 0x7fffffff));
}

/* ---- live, on this process ---- */

static int cmp_tid(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

static pthread_barrier_t live_bar;

static void *live_thread(void *arg)
{
	(void)arg;
	pthread_setname_np(pthread_self(), "mw live (x)");
	pthread_barrier_wait(&live_bar); /* named */
	pthread_barrier_wait(&live_bar); /* checked */
	return NULL;
}

TEST(procfs_live_self)
{
	struct mw_regions r;
	const struct mw_region *g;
	uint64_t vm = 0, brk0 = 1;
	uint32_t *tids = NULL;
	size_t n = 0;
	int on_stack = 0;
	bool k = true;
	char comm[16], want[16] = "";

	mw_regions_init(&r);
	CHECK_EQ_INT(mw_read_maps((uint32_t)getpid(), &r), 0);
	CHECK(r.n > 5);
	g = mw_regions_find(&r, (uint64_t)(uintptr_t)&on_stack);
	CHECK(g && (g->flags & MW_RF_STACK) && (g->prot & PROT_WRITE));
	g = mw_regions_find(&r, (uint64_t)(uintptr_t)&mw_maps_parse);
	CHECK(g && (g->flags & MW_RF_FILE) && (g->prot & PROT_EXEC));
	CHECK_EQ_INT(mw_read_start_brk((uint32_t)getpid(), &brk0), 0);
	for (size_t i = 0; i < r.n; i++)
		if (r.v[i].flags & MW_RF_HEAP)
			CHECK_EQ_HEX(r.v[i].start, brk0);
	/* VmSize moves as this process allocates; a loose bound is enough. */
	CHECK_EQ_INT(mw_read_vmsize((uint32_t)getpid(), &vm), 0);
	CHECK(vm > mw_regions_bytes(&r) / 2 && vm < mw_regions_bytes(&r) * 2);
	CHECK_EQ_INT(mw_read_is_kthread((uint32_t)getpid(), &k), 0);
	CHECK(!k);

	prctl(PR_GET_NAME, want);
	CHECK_EQ_INT(mw_read_comm((uint32_t)getpid(), (uint32_t)gettid(), comm), 0);
	CHECK_EQ_STR(comm, want);

	pthread_t t;

	CHECK_EQ_INT(pthread_barrier_init(&live_bar, NULL, 2), 0);
	CHECK_EQ_INT(pthread_create(&t, NULL, live_thread, NULL), 0);
	pthread_barrier_wait(&live_bar);
	CHECK_EQ_INT(mw_list_tids((uint32_t)getpid(), &tids, &n), 0);
	CHECK(n >= 2);
	/* Ascending, the leader among them (not always first: tids wrap at pid_max, and a
	 * thread made after a wrap has a number below its leader's). */
	CHECK(tids && bsearch(&(uint32_t){ (uint32_t)getpid() }, tids, n, sizeof(*tids), cmp_tid));
	for (size_t i = 1; i < n; i++) {
		CHECK(tids[i - 1] < tids[i]);
		if (tids[i] != (uint32_t)gettid() &&
		    mw_read_comm((uint32_t)getpid(), tids[i], comm) == 0 &&
		    strcmp(comm, "mw live (x)") == 0)
			want[0] = '!';
	}
	CHECK(want[0] == '!'); /* the thread was found by its name */
	pthread_barrier_wait(&live_bar);
	pthread_join(t, NULL);
	pthread_barrier_destroy(&live_bar);
	free(tids);
	mw_regions_free(&r);
}

TEST(procfs_live_gone_and_zombie)
{
	const uint32_t nopid = 0x7fffffff; /* above any pid_max */
	struct mw_regions r;
	uint64_t v;
	uint32_t *tids;
	size_t n;
	char comm[16];
	pid_t child;
	bool k;

	mw_regions_init(&r);
	CHECK_EQ_INT(mw_read_maps(nopid, &r), -ENOENT);
	CHECK_EQ_INT(mw_read_vmsize(nopid, &v), -ENOENT);
	CHECK_EQ_INT(mw_read_start_brk(nopid, &v), -ENOENT);
	CHECK_EQ_INT(mw_read_is_kthread(nopid, &k), -ENOENT);
	CHECK_EQ_INT(mw_read_comm(nopid, nopid, comm), -ENOENT);
	CHECK_EQ_INT(mw_list_tids(nopid, &tids, &n), -ENOENT);

	/* A zombie keeps its /proc entry but has no mm. */
	child = fork();
	if (child == 0)
		_exit(0);
	CHECK(child > 0);
	if (child > 0) {
		siginfo_t si;

		CHECK_EQ_INT(waitid(P_PID, (id_t)child, &si, WEXITED | WNOWAIT), 0);
		CHECK_EQ_INT(mw_read_vmsize((uint32_t)child, &v), -ENOENT);
		CHECK_EQ_INT(mw_read_maps((uint32_t)child, &r), 0);
		CHECK_EQ_INT(r.n, 0);
		CHECK(mw_thread_gone((uint32_t)child, (uint32_t)child));
		waitpid(child, NULL, 0);
		CHECK(mw_thread_gone((uint32_t)child, (uint32_t)child));
	}
	mw_regions_free(&r);
}

TEST(procfs_status_tgid_of_a_thread)
{
	uint32_t tgid = 0;

	CHECK_EQ_INT(
		mw_status_tgid(
			"Name:\tw\nUmask:\t0022\nState:\tS\nTgid:\t4242\nNgid:\t0\nPid:\t4250\n",
			&tgid),
		0);
	CHECK_EQ_INT(tgid, 4242);
	CHECK_EQ_INT(mw_status_tgid("Name:\tw\n", &tgid), -ENOENT);
}

TEST(procfs_smaps_rss_per_mapping)
{
	const char *text =
		"55d0c8a4e000-55d0c8a50000 r--p 00000000 fe:01 1234 /usr/bin/cat\n"
		"Size:                  8 kB\n"
		"KernelPageSize:        4 kB\n"
		"Rss:                   8 kB\n"
		"Pss:                   8 kB\n"
		"7f0000000000-7f0004000000 ---p 00000000 00:00 0 \n"
		"Size:              65536 kB\n"
		"Rss:                   0 kB\n"
		"7ffd1e2f0000-7ffd1e311000 rw-p 00000000 00:00 0                          [stack]\n"
		"Size:                132 kB\n"
		"Rss:                  20 kB\n"
		"VmFlags: rd wr mr mw me gd ac\n";
	struct mw_rss *v = NULL;
	size_t n = 0;

	CHECK_EQ_INT(mw_smaps_parse(text, &v, &n), 0);
	CHECK_EQ_INT(n, 3);
	CHECK_EQ_HEX(v[1].start, 0x7f0000000000ULL);
	CHECK_EQ_INT(v[0].rss, 8192);
	CHECK_EQ_INT(v[1].rss, 0);
	CHECK_EQ_INT(v[2].rss, 20480);
	free(v);
	CHECK_EQ_INT(mw_smaps_parse("Rss: 4 kB\n", &v, &n), -EINVAL);
	CHECK_EQ_INT(mw_read_smaps(1u << 30, &v, &n) < 0, 1);
}

TEST(procfs_exec_baseline_keeps_what_exec_mapped)
{
	const char *text =
		"55555555a000-55555555b000 r--p 00000000 fe:01 7 /usr/bin/w\n"
		"55555555b000-55555555c000 r-xp 00001000 fe:01 7 /usr/bin/w\n"
		"55555555c000-55555555d000 rw-p 00002000 fe:01 7 /usr/bin/w\n"
		"55555555d000-55555555f000 rw-p 00000000 00:00 0 \n"
		"555555560000-555555581000 rw-p 00000000 00:00 0 [heap]\n"
		"7ffff7d80000-7ffff7da6000 r--p 00000000 fe:01 2 /usr/lib/x86_64-linux-gnu/libc.so.6\n"
		"7ffff7da6000-7ffff7da8000 rw-p 00000000 00:00 0 \n"
		"7ffff7fc0000-7ffff7fc4000 r--p 00000000 00:00 0 [vvar]\n"
		"7ffff7fc4000-7ffff7fc6000 r-xp 00000000 00:00 0 [vdso]\n"
		"7ffff7fc6000-7ffff7fc7000 r--p 00000000 fe:01 9 /usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2\n"
		"7ffff7fc7000-7ffff7fc9000 rw-p 00000000 00:00 0 \n"
		"7ffff7ff0000-7ffff7ff8000 rw-p 00000000 00:00 0 \n"
		"7ffffffde000-7ffffffff000 rw-p 00000000 00:00 0 [stack]\n"
		"ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0 [vsyscall]\n";
	uint64_t bytes = 0;
	char *out = NULL;

	CHECK_EQ_INT(mw_maps_exec_baseline(text, "/usr/bin/w", &out, &bytes), 0);
	/* exe (3 pages) + its bss (2) + vvar (4) + vdso (2) + ld.so (1) + its bss (2) + stack (33) */
	CHECK_EQ_INT(bytes, (3 + 2 + 4 + 2 + 1 + 2 + 33) * 4096);
	CHECK(strstr(out, "[heap]") == NULL);
	CHECK(strstr(out, "libc.so.6") == NULL);
	CHECK(strstr(out, "7ffff7da6000") == NULL); /* libc's bss: made by ld.so */
	CHECK(strstr(out, "7ffff7ff0000") == NULL); /* a later anonymous mmap */
	CHECK(strstr(out, "[vsyscall]") != NULL);
	free(out);
}

TEST(procfs_environ_lookup)
{
	static const char env[] = "HOME=/root\0LD_PRELOAD=/lib/libjemalloc.so.2\0LD=x\0";
	char *buf = NULL;
	size_t len = 0;

	CHECK_EQ_STR(mw_environ_get(env, sizeof(env) - 1, "LD_PRELOAD"), "/lib/libjemalloc.so.2");
	CHECK_EQ_STR(mw_environ_get(env, sizeof(env) - 1, "LD"), "x");
	CHECK(mw_environ_get(env, sizeof(env) - 1, "PATH") == NULL);
	/* Our own environment (as exec gave it), from /proc. */
	CHECK_EQ_INT(mw_read_environ((uint32_t)getpid(), &buf, &len), 0);
	CHECK(len > 0);
	CHECK(mw_environ_get(buf, len, "PATH") != NULL || mw_environ_get(buf, len, "HOME") != NULL);
	free(buf);
	CHECK(mw_read_environ(1u << 30, &buf, &len) < 0);
}

TEST(procfs_stat_cpu_ticks)
{
	uint64_t ut = 0, st = 0;

	CHECK_EQ_INT(mw_stat_cpu_ticks("1234 (redis-server) S 1 1234 1234 0 -1 4194560 1508 0 0 0 "
				       "731 402 0 0 20 0 5 0 1000 0 0\n",
				       &ut, &st),
		     0);
	CHECK_EQ_INT(ut, 731);
	CHECK_EQ_INT(st, 402);
	/* A name may hold ") " and spaces: the last ")" ends it. */
	CHECK_EQ_INT(mw_stat_cpu_ticks("9 (a) b ) 7 8) R 1 9 9 0 -1 0 0 0 0 0 12 34 0 0\n", &ut,
				       &st),
		     0);
	CHECK_EQ_INT(ut, 12);
	CHECK_EQ_INT(st, 34);
	CHECK_EQ_INT(mw_stat_cpu_ticks("9 (x) R 1 9 9 0 -1 0 0 0", &ut, &st), -EINVAL);
	CHECK_EQ_INT(mw_stat_cpu_ticks("9 x R 1 9 9 0 -1 0 0 0 0 0 12 34", &ut, &st), -EINVAL);
	CHECK_EQ_INT(mw_stat_cpu_ticks("9 (x) R 1 9 9 0 -1 0 0 0 0 0 -12 34", &ut, &st), -EINVAL);
}

TEST(procfs_statm_is_vmsize)
{
	uint64_t b = 0, vm = 0, stack, t0, t1;
	int fd;

	CHECK_EQ_INT(mw_statm_size("1234 56 7 8 0 9 0\n", 4096, &b), 0);
	CHECK_EQ_INT(b, 1234 * 4096);
	CHECK_EQ_INT(mw_statm_size("x 1\n", 4096, &b), -EINVAL);
	/* Our own, against status's VmSize, read between two statm reads through the same fd that
	 * agree: a sanitizer's allocator may map memory of its own in between (tried again then). */
	fd = mw_open_statm((uint32_t)getpid());
	CHECK(fd >= 0);
	for (int i = 0; i < 20; i++) {
		uint64_t again = 0;

		CHECK_EQ_INT(mw_read_statm(fd, 4096, &b, &t0, &t1), 0);
		CHECK(t0 <= t1 && t0 > 0);
		CHECK_EQ_INT(mw_read_vm((uint32_t)getpid(), &vm, &stack), 0);
		CHECK_EQ_INT(mw_read_statm(fd, 4096, &again, &t0, &t1), 0);
		if (again == b)
			break;
	}
	CHECK_EQ_INT(b, vm);
	close(fd);
}

/* Our own maps made long enough for several reads: the pieces tile the address space in
 * order, each read's time after the last one's, and the text is the plain reader's. */
TEST(procfs_maps_pieces_tile_the_text)
{
	enum {
		N = 300
	};
	void *v[N];
	struct mw_maps_piece *pc = NULL;
	char *text = NULL;
	size_t n = 0, lines = 0;

	for (int i = 0; i < N; i++)
		v[i] = mmap(NULL, 4096, i % 2 ? PROT_READ : PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK_EQ_INT(mw_read_maps_timed((uint32_t)getpid(), &text, &pc, &n), 0);
	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		lines++;
	CHECK(lines > N);
	CHECK(n >= 2); /* 300 lines of ~70 bytes: more than a page */
	CHECK_EQ_INT(pc[0].lo, 0);
	for (size_t i = 1; i < n; i++) {
		CHECK(pc[i].lo > pc[i - 1].lo);
		CHECK(pc[i].t_before >= pc[i - 1].t_after);
		CHECK(pc[i].t_after >= pc[i].t_before);
	}
	free(pc);
	free(text);
	for (int i = 0; i < N; i++)
		munmap(v[i], 4096);
}

/* /sys/devices/system/cpu/online: a range up to LONG_MAX once overflowed the count (UBSan);
 * every such list is refused, the real ones are counted. */
TEST(procfs_cpu_list_bounds)
{
	CHECK_EQ_INT(mw_parse_cpu_list("0-3\n"), 4);
	CHECK_EQ_INT(mw_parse_cpu_list("0-3,8,10-11"), 7);
	CHECK_EQ_INT(mw_parse_cpu_list("0"), 1);
	CHECK_EQ_INT(mw_parse_cpu_list(""), 0);
	CHECK_EQ_INT(mw_parse_cpu_list("0-9223372036854775807"), -EINVAL);
	CHECK_EQ_INT(mw_parse_cpu_list("9223372036854775807-9223372036854775807"), 1);
	CHECK_EQ_INT(mw_parse_cpu_list("99999999999999999999"), -EINVAL); /* past LONG_MAX */
	CHECK_EQ_INT(mw_parse_cpu_list("0-1048575,1048576"), -EINVAL);
	CHECK_EQ_INT(mw_parse_cpu_list("0-1048575"), 1 << 20);
	CHECK_EQ_INT(mw_parse_cpu_list("3-1"), -EINVAL);
	CHECK_EQ_INT(mw_parse_cpu_list("-1"), -EINVAL);
	CHECK_EQ_INT(mw_parse_cpu_list("1,,2"), -EINVAL);
	CHECK_EQ_INT(mw_parse_cpu_list("1-"), -EINVAL);
}

/* /proc/PID/io: syscr + syscw, the read and write system calls; a missing line is -ENOENT. */
TEST(procfs_io_calls)
{
	uint64_t n = 0, r = 0;

	CHECK_EQ_INT(mw_io_calls_parse("rchar: 4096\nwchar: 100\nsyscr: 120\nsyscw: 7\n"
				       "read_bytes: 0\nwrite_bytes: 0\ncancelled_write_bytes: 0\n",
				       &n, &r),
		     0);
	CHECK(n == 127);
	CHECK(r == 120);
	CHECK_EQ_INT(mw_io_calls_parse("syscr: 4\nsyscw: 1\n", &n, NULL), 0);
	CHECK(n == 5);
	CHECK_EQ_INT(mw_io_calls_parse("rchar: 1\nsyscr: 5\n", &n, &r), -ENOENT);
	CHECK_EQ_INT(mw_io_calls_parse("syscr: x\nsyscw: 1\n", &n, &r), -EINVAL);
	/* A name inside another line is not the field. */
	CHECK_EQ_INT(mw_io_calls_parse("xsyscr: 3\nsyscw: 1\n", &n, &r), -ENOENT);
}
