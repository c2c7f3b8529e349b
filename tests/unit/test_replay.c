// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Replays: a recording of a real traced run (tests/fixtures/ops.rec, made with
 * `memwatch --record` on tests/workloads/ops) and synthetic recordings, run
 * through the same session code as a live trace, without root.
 */
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include <errno.h>
#include "cli.h"
#include "session/session.h"
#include "wire/record.h"
#include "replay.h"
#include "unit.h"

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = calloc(1, 1 << 20);

	if (f && buf)
		fread(buf, 1, (1 << 20) - 1, f);
	if (f)
		fclose(f);
	return buf;
}

/* Replay path to JSON (-c: summary_only) and return the output text (malloc'd). */
static char *replay_json_c(const char *path, bool summary_only, int *rc)
{
	char out[] = "/tmp/mw-unit-replay-XXXXXX";
	struct mw_config cfg = {
		.json = true,
		.replay_path = path,
		.out_path = out,
		.summary_only = summary_only,
	};
	int fd = mkstemp(out);
	char *text;

	int saved = dup(2), null = open("/dev/null", O_WRONLY);

	close(fd);
	/* Its one-line errors are expected here; the return code is checked. */
	dup2(null, 2);
	*rc = mw_replay_run(&cfg);
	dup2(saved, 2);
	close(saved);
	close(null);
	text = slurp(out);
	unlink(out);
	return text;
}

static char *replay_json(const char *path, int *rc)
{
	return replay_json_c(path, false, rc);
}

TEST(replay_fixture_gives_exact_per_thread_ledger)
{
	int rc;
	char *t = replay_json("tests/fixtures/ops.rec", &rc);

	CHECK_EQ_INT(rc, 0);
	CHECK(t != NULL);
	/* mw-mapper: 7 mmaps (3 fail), MAP_FIXED replacements count as mapped and unmapped. */
	CHECK(strstr(t, "\"comm\":\"mw-mapper\",\"calls\":{\"brk\":0,\"mmap\":7,\"munmap\":3,"
			"\"mprotect\":0,\"mremap\":0,\"madvise\":1,\"shmat\":0,\"shmdt\":0,"
			"\"pkey_mprotect\":0},\"errors\":3,\"mapped\":327680,"
			"\"unmapped\":327680,\"net\":0,") != NULL);
	/* mw-unmapper: one 16-page mmap, 8 munmaps of which 2 fail; half-mapped ranges count the mapped half. */
	CHECK(strstr(t, "\"comm\":\"mw-unmapper\",\"calls\":{\"brk\":0,\"mmap\":1,\"munmap\":8,"
			"\"mprotect\":0,\"mremap\":0,\"madvise\":1,\"shmat\":0,\"shmdt\":0,"
			"\"pkey_mprotect\":0},\"errors\":2,\"mapped\":65536,"
			"\"unmapped\":65536,\"net\":0,") != NULL);
	CHECK(strstr(t,
		     "\"comm\":\"mw-protect\",\"calls\":{\"brk\":0,\"mmap\":1,\"munmap\":1,"
		     "\"mprotect\":5,\"mremap\":0,\"madvise\":1,\"shmat\":0,\"shmdt\":0,"
		     "\"pkey_mprotect\":0},\"errors\":2,\"mapped\":65536,"
		     "\"unmapped\":8192,\"net\":57344,\"accessible\":40960,\"reserved\":16384,") !=
	      NULL);
	CHECK(strstr(t, "\"comm\":\"mw-brk\",\"calls\":{\"brk\":5,") != NULL);
	/* The process's net is its VmSize change, stack growth included; mapped is the region
	 * map's size, which is VmSize less the main stack's growth (faults, not calls). */
	CHECK(strstr(t,
		     "\"net\":10817536,\"vm_start\":409600,\"vm_end\":11227136,"
		     "\"mapped\":11087872,\"committed\":11067392,\"dropped\":0,"
		     "\"raced\":0,\"unattributed\":0,\"stack_delta\":139264,\"code\":0}") != NULL);
	free(t);
}

static int count_of(const char *text, const char *needle)
{
	int n = 0;

	for (const char *p = text; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

/*
 * A --malloc run replays to the reports the live run wrote: the fixture is
 *   memwatch --malloc --json -c -o leaks_malloc.ndjson --record leaks_malloc.rec \
 *            -- .output/workloads/leaks -r 20
 * (paths rewritten with tools/rec_scrub.py; made again whenever the output
 * changes: last for the frames' module_addr and build_id, retention's
 * complete and overhead, malloc_summary's found_*). Its stacks were unwound
 * and named live: the replay needs neither the process nor its files.
 */
TEST(replay_malloc_run_gives_the_live_reports)
{
	char *want = slurp("tests/fixtures/leaks_malloc.ndjson");
	int rc;
	char *t = replay_json_c("tests/fixtures/leaks_malloc.rec", true, &rc);
	static const struct {
		const char *func;
		int line, count, bytes;
	} leaks[] = {
		{ "leak_malloc", 30, 10, 10000 },	  { "leak_calloc", 36, 11, 22000 },
		{ "leak_realloc", 44, 12, 36000 },	  { "leak_reallocarray", 51, 13, 91000 },
		{ "leak_posix_memalign", 59, 14, 56000 }, { "leak_aligned_alloc", 68, 15, 76800 },
		{ "leak_memalign", 74, 16, 96000 },	  { "leak_valloc", 80, 17, 119000 },
	};

	CHECK_EQ_INT(rc, 0);
	CHECK(t != NULL && want != NULL && *want);
	CHECK_EQ_STR(t, want);
	/* Each leak, with its function and line, exactly N blocks of S bytes. */
	for (size_t i = 0; i < sizeof(leaks) / sizeof(leaks[0]); i++) {
		char row[128], frame[128];
		const char *at;

		snprintf(row, sizeof(row), "\"bytes\":%d,\"count\":%d,", leaks[i].bytes,
			 leaks[i].count);
		snprintf(frame, sizeof(frame),
			 "\"func\":\"%s\",\"file\":\"tests/workloads/leaks.c\","
			 "\"line\":%d",
			 leaks[i].func, leaks[i].line);
		at = strstr(t, row);
		CHECK(at != NULL);
		CHECK(at && strstr(at, frame) && strstr(at, frame) < strstr(at, "\n"));
	}
	CHECK(strstr(t, "\"outstanding_bytes\":506800,\"outstanding_count\":108,") != NULL);
	CHECK_EQ_INT(count_of(t, "\"type\":\"retention\""), 1);
	free(t);
	free(want);
}

/*
 * A recording made before module offsets, per-process counters and the heap
 * walk (frames of the first layout, the shorter report and config entries):
 * it still replays, as those runs reported, complete since launched.
 */
TEST(replay_malloc_older_recording)
{
	int rc;
	char *t = replay_json_c("tests/fixtures/leaks_malloc_v1.rec", true, &rc);

	CHECK_EQ_INT(rc, 0);
	CHECK(t != NULL);
	CHECK(strstr(t, "\"outstanding_bytes\":506800,\"outstanding_count\":108,") != NULL);
	CHECK(strstr(t, "\"func\":\"leak_valloc\",\"file\":\"tests/workloads/leaks.c\","
			"\"line\":80") != NULL);
	CHECK(strstr(t, "\"module_addr\"") == NULL);
	CHECK(strstr(t, "\"free_kept\":163632,\"ratio_pct\":24,\"blocks\":108,\"estimated\":false,"
			"\"complete\":true}") != NULL);
	free(t);
}

/*
 * -p on a process whose heaps were fragmented before the attach: the heap walk
 * (MW_ENTRY_MHEAP) replays to the same retention. The fixture is
 *   frag -n 2000 -t (a workload), then
 *   memwatch --malloc --json -c -o frag_attach.ndjson --record frag_attach.rec -p PID
 * and SIGINT after 2 s (paths rewritten with tools/rec_scrub.py).
 */
TEST(replay_malloc_heap_walk)
{
	char *want = slurp("tests/fixtures/frag_attach.ndjson");
	int rc;
	char *t = replay_json_c("tests/fixtures/frag_attach.rec", true, &rc);

	CHECK_EQ_INT(rc, 0);
	CHECK(t != NULL && want != NULL && *want);
	CHECK_EQ_STR(t, want);
	/* The 1000 blocks kept in each heap, and glibc's and the workload's own: found. */
	CHECK(strstr(t, "\"found_bytes\":1945592,\"found_count\":2005,") != NULL);
	CHECK_EQ_INT(count_of(t, "\"complete\":true"), 2);
	CHECK(strstr(t, "\"arena\":\"main\",\"live\":980960,\"committed\":1892352,\"overhead\":0,"
			"\"free_kept\":911392,") != NULL);
	CHECK(strstr(t, "\"arena\":1,\"live\":980672,\"committed\":1843200,\"overhead\":2256,"
			"\"free_kept\":860272,") != NULL);
	CHECK_EQ_INT(count_of(t, "\"type\":\"leak\""), 0);
	free(t);
	free(want);
}

/*
 * Recordings of a real glibc with its memory_* USDT probes: Debian's glibc
 * 2.36 source built with --enable-systemtap (Debian's own libc6 has none),
 * the arenas workload run through that libc's loader:
 *   launch: memwatch --record F -c -- /opt/glibc-sdt/lib/ld.so --library-path
 *           /opt/glibc-sdt/lib arenas -w -t 4 -s -b 100000
 *   attach: MALLOC_ARENA_MAX=2 (same loader) arenas -w -t 4 -b 100000, then
 *           memwatch --record F -c -p PID
 * The probes attach when the private libc is mapped (launch) or found in the
 * maps (attach); both sources must tell the same story.
 */
TEST(replay_glibc_usdt_probes_agree_with_syscalls)
{
	int rc;
	char *t = replay_json("tests/fixtures/glibc_usdt_launch.rec", &rc);

	CHECK_EQ_INT(rc, 0);
	CHECK(t != NULL);
	/* 4 threads, 4 arenas: each seen by both sources. */
	CHECK_EQ_INT(count_of(t, "\"probe\":\"memory_arena_new\""), 4);
	CHECK_EQ_INT(count_of(t, "\"probe\":\"memory_heap_new\""), 4);
	CHECK_EQ_INT(count_of(t, "\"type\":\"arena_create\""), 4);
	CHECK_EQ_INT(count_of(t, "\"source\":\"syscalls+usdt\""), 4);
	CHECK_EQ_INT(count_of(t, "\"source\":\"usdt\""), 0);
	/* Every growth mprotect is a heap_more, every shrink (-s) a heap_less. */
	CHECK_EQ_INT(count_of(t, "\"probe\":\"memory_heap_more\""), 40);
	CHECK_EQ_INT(count_of(t, "\"type\":\"arena_grow\""), 40);
	CHECK_EQ_INT(count_of(t, "\"probe\":\"memory_heap_less\""), 40);
	CHECK_EQ_INT(count_of(t, "\"type\":\"arena_shrink\""), 40);
	CHECK_EQ_INT(count_of(t, "\"probe\":\"memory_sbrk_more\""), 1);
	CHECK_EQ_INT(count_of(t, "\"type\":\"main_heap_grow\""), 1);
	/* The probe's heap is the arena the syscalls found; the arena struct follows
	 * the heap header (0x30 bytes into the heap). */
	CHECK(strstr(t, "\"arena\":1,\"base\":\"0x7f351c000000\"") != NULL);
	CHECK(strstr(t,
		     "\"probe\":\"memory_heap_new\",\"arg0\":\"0x7f351c000000\",\"arg1\":135168") !=
	      NULL);
	CHECK(strstr(t, "\"probe\":\"memory_arena_new\",\"arg0\":\"0x7f351c000030\"") != NULL);
	CHECK_EQ_INT(count_of(t, "\"committed\":1130496,\"trimmed\":995328,\"threads\":1,"
				 "\"source\":\"syscalls+usdt\""),
		     4);
	free(t);

	t = replay_json("tests/fixtures/glibc_usdt_attach.rec", &rc);
	CHECK_EQ_INT(rc, 0);
	CHECK(t != NULL);
	/* MALLOC_ARENA_MAX=2: one arena; the other threads reuse it or main_arena,
	 * with no syscall: only the probes see which. */
	CHECK_EQ_INT(count_of(t, "\"type\":\"arena_create\""), 1);
	CHECK_EQ_INT(count_of(t, "\"probe\":\"memory_arena_reuse\""), 3);
	CHECK_EQ_INT(count_of(t, "\"type\":\"arena_reuse\""), 1);
	CHECK(strstr(t, "\"comm\":\"arena-3\",\"arena\":1,\"source\":\"usdt\"") != NULL);
	CHECK_EQ_INT(count_of(t, "\"probe\":\"memory_heap_more\""), 18);
	CHECK_EQ_INT(count_of(t, "\"type\":\"arena_grow\""), 18);
	CHECK(strstr(t, "\"arena\":1,\"creator_tid\":16237,\"heaps\":1,\"reserved\":67108864,"
			"\"committed\":208896,\"trimmed\":0,\"threads\":2,"
			"\"source\":\"syscalls+usdt\"") != NULL);
	free(t);
}

static void put_ring_mmap(FILE *f, uint32_t pid, uint64_t ts, uint64_t addr, uint64_t len)
{
	struct mw_syscall_rec r = {
		.hdr = { .type = MW_REC_SYSCALL, .tgid = pid, .tid = pid, .ts_ns = ts, .comm = "w" },
		.args = { 0, len, 3, 0x22, (uint64_t)-1, 0 },
		.ret = (int64_t)addr,
		.sys = MW_SYS_MMAP,
	};

	CHECK_EQ_INT(mw_record_put(f, MW_ENTRY_RING, &r, sizeof(r), NULL, 0), 0);
}

static void put_task(FILE *f, uint32_t type, uint32_t tid, uint64_t ts, uint32_t child, bool dead)
{
	struct mw_task_rec r = {
		.hdr = { .type = type, .tgid = 70, .tid = tid, .ts_ns = ts, .comm = "xr" },
		.child_tgid = child ? 70 : 0,
		.child_tid = child,
		.exit_code = dead ? 5 << 8 : 0,
		.group_dead = dead,
	};

	CHECK_EQ_INT(mw_record_put(f, MW_ENTRY_RING, &r, sizeof(r), NULL, 0), 0);
}

/*
 * The order a real exit_group with two siblings gave (ops_lifecycle on 6.1): the thread that
 * ended the process (group_dead) came first, a sibling's exit after it. The process ends with
 * the last exit: every thread's exit is an event, one says group_dead, and the summaries come
 * after all of them. lose_last: the last sibling's record is lost; the final report still ends
 * the process with the kernel's code.
 */
static char *replay_sibling_exits(bool lose_last, int *rc)
{
	char path[] = "/tmp/mw-unit-rec-XXXXXX";
	const char *maps = "7f0000000000-7f0000001000 rw-p 00000000 00:00 0\n";
	struct mw_seed_entry seed = { .pid = 70, .vm_size = 4096, .snap_end_ns = 10 };
	int fd = mkstemp(path);
	FILE *f = fdopen(fd, "wb");
	char *t;

	CHECK_EQ_INT(mw_record_begin(f, 4096, 0), 0);
	CHECK_EQ_INT(mw_record_put(f, MW_ENTRY_SEED, &seed, sizeof(seed), maps, strlen(maps)), 0);
	put_task(f, MW_REC_THREAD_NEW, 70, 100, 71, false);
	put_task(f, MW_REC_THREAD_NEW, 70, 110, 72, false);
	put_ring_mmap(f, 70, 120, 0x7f0000100000ULL, 0x10000);
	put_task(f, MW_REC_EXIT, 70, 900, 0, true);
	put_task(f, MW_REC_EXIT, 71, 905, 0, false);
	if (!lose_last)
		put_task(f, MW_REC_EXIT, 72, 910, 0, false);
	fclose(f);
	t = replay_json(path, rc);
	unlink(path);
	return t;
}

TEST(replay_sibling_exit_after_group_dead)
{
	int rc;
	char *t = replay_sibling_exits(false, &rc);
	const char *last_exit, *summary;

	CHECK_EQ_INT(rc, 0);
	CHECK(t != NULL);
	CHECK_EQ_INT(count_of(t, "\"type\":\"exit\""), 3);
	CHECK_EQ_INT(count_of(t, "\"group_dead\":true"), 1);
	CHECK(strstr(t, "\"tid\":70,\"comm\":\"xr\",\"group_dead\":true,\"code\":5}") != NULL);
	CHECK(strstr(t, "\"tid\":71,\"comm\":\"xr\",\"group_dead\":false}") != NULL);
	last_exit = strstr(t, "\"tid\":72,\"comm\":\"xr\",\"group_dead\":false}");
	summary = strstr(t, "\"type\":\"process_summary\"");
	CHECK(last_exit != NULL && summary != NULL && last_exit < summary);
	CHECK_EQ_INT(count_of(t, "\"type\":\"process_summary\""), 1);
	CHECK_EQ_INT(count_of(t, "\"type\":\"thread_summary\""), 3);
	CHECK(strstr(t, "\"code\":5}") != NULL);
	free(t);

	t = replay_sibling_exits(true, &rc);
	CHECK_EQ_INT(rc, 0);
	CHECK(t != NULL);
	CHECK_EQ_INT(count_of(t, "\"type\":\"exit\""), 2);
	CHECK_EQ_INT(count_of(t, "\"type\":\"process_summary\""), 1);
	CHECK(strstr(t, "\"type\":\"process_summary\"") >
	      strstr(t, "\"tid\":71,\"comm\":\"xr\",\"group_dead\":false}"));
	CHECK(strstr(t, "\"stack_delta\":0,\"code\":5}") != NULL);
	free(t);
}

TEST(replay_lost_events_resync_books_unattributed_bytes)
{
	char path[] = "/tmp/mw-unit-rec-XXXXXX";
	const char *maps0 = "7f0000000000-7f0000001000 rw-p 00000000 00:00 0\n";
	const char *maps1 = "7f0000000000-7f0000001000 rw-p 00000000 00:00 0\n"
			    "7f0000100000-7f0000110000 rw-p 00000000 00:00 0\n"
			    "7f0000200000-7f0000220000 rw-p 00000000 00:00 0\n";
	struct mw_seed_entry seed = {
		.pid = 50, .vm_size = 4096, .stack_size = 0, .snap_end_ns = 10
	};
	struct mw_task_rec exit_rec = {
		.hdr = { .type = MW_REC_EXIT, .tgid = 50, .tid = 50, .ts_ns = 900, .comm = "w" },
		.group_dead = 1,
	};
	__u64 lost = 3;
	int fd = mkstemp(path), rc;
	FILE *f = fdopen(fd, "wb");
	char *t;

	CHECK_EQ_INT(mw_record_begin(f, 4096, 0), 0);
	CHECK_EQ_INT(mw_record_put(f, MW_ENTRY_SEED, &seed, sizeof(seed), maps0, strlen(maps0)), 0);
	put_ring_mmap(f, 50, 100, 0x7f0000100000ULL, 0x10000); /* seen: +64K */
	/* ...a +128K mmap was dropped... */
	CHECK_EQ_INT(mw_record_put(f, MW_ENTRY_LOST, &lost, sizeof(lost), NULL, 0), 0);
	seed.resync = 1;
	seed.snap_end_ns = 500;
	CHECK_EQ_INT(mw_record_put(f, MW_ENTRY_SEED, &seed, sizeof(seed), maps1, strlen(maps1)), 0);
	CHECK_EQ_INT(mw_record_put(f, MW_ENTRY_RING, &exit_rec, sizeof(exit_rec), NULL, 0), 0);
	fclose(f);

	t = replay_json(path, &rc);
	unlink(path);
	CHECK_EQ_INT(rc, 0);
	CHECK(strstr(t, "{\"type\":\"lost\",") != NULL);
	CHECK(strstr(t, "\"count\":3}") != NULL);
	CHECK(strstr(t, "\"mapped\":65536,\"unmapped\":0,\"net\":65536,") != NULL);
	CHECK(strstr(t, "\"net\":196608,") != NULL);
	CHECK(strstr(t, "\"unattributed\":131072,") != NULL);
	free(t);
}

/* A -p attach as live.c records it: what reading the process said (glibc's list with one
 * arena of one heap, no chunks, no stacks), the seed, then two 256 KiB mmaps, the first
 * followed by the bytes read at its start (glibc's chunk header), the second by a read of a
 * mapping without one. */
static void put_facts_run(FILE *f, bool peeks)
{
	static const char maps[] =
		"7f0000000000-7f0000001000 r--p 00000000 fe:01 2 /usr/lib/x86_64-linux-gnu/libc.so.6\n"
		"7f1000000000-7f1000021000 rw-p 00000000 00:00 0\n"
		"7f1000021000-7f1004000000 ---p 00000000 00:00 0\n";
	const char why[] = "glibc's main_arena list (libc's symbols)";
	struct mw_facts_entry fe = {
		.pid = 60,
		.how = 2,
		.heap_max = 64 << 20,
		.main_arena = 0x7f0000000c60ULL,
		.narenas = 1,
		.nheaps = 1,
		.why_len = sizeof(why) - 1,
	};
	struct mw_facts_heap h = { .base = 0x7f1000000000ULL, .rw = 0x21000 };
	unsigned char body[sizeof(h) + sizeof(why) - 1];
	struct mw_seed_entry seed = { .pid = 60, .vm_size = 0x4000000 + 0x1000, .snap_end_ns = 10 };
	struct mw_peek_entry pe = { .pid = 60, .addr = 0x7f2000000000ULL, .len = 16 };
	__u64 hdr[2] = { 0, 262144 | 2 }, other[2] = { 0x55aa, 0x1234 };
	struct mw_task_rec exit_rec = {
		.hdr = { .type = MW_REC_EXIT, .tgid = 60, .tid = 60, .ts_ns = 900, .comm = "w" },
		.group_dead = 1,
	};

	memcpy(body, &h, sizeof(h));
	memcpy(body + sizeof(h), why, sizeof(why) - 1);
	CHECK_EQ_INT(mw_record_put(f, MW_ENTRY_ALLOC_FACTS, &fe, sizeof(fe), body, sizeof(body)),
		     0);
	CHECK_EQ_INT(mw_record_put(f, MW_ENTRY_SEED, &seed, sizeof(seed), maps, strlen(maps)), 0);
	put_ring_mmap(f, 60, 100, 0x7f2000000000ULL, 262144);
	if (peeks)
		CHECK_EQ_INT(mw_record_put(f, MW_ENTRY_PEEK, &pe, sizeof(pe), hdr, sizeof(hdr)), 0);
	put_ring_mmap(f, 60, 200, 0x7f3000000000ULL, 262144);
	pe.addr = 0x7f3000000000ULL;
	if (peeks)
		CHECK_EQ_INT(mw_record_put(f, MW_ENTRY_PEEK, &pe, sizeof(pe), other, sizeof(other)),
			     0);
	CHECK_EQ_INT(mw_record_put(f, MW_ENTRY_RING, &exit_rec, sizeof(exit_rec), NULL, 0), 0);
}

TEST(replay_alloc_facts_and_peeks)
{
	struct mw_config cfg = { .json = true, .maps_at_exit = true };
	char *t;

	for (int peeks = 1; peeks >= 0; peeks--) {
		char path[] = "/tmp/mw-unit-rec-XXXXXX", out[] = "/tmp/mw-unit-replay-XXXXXX";
		int fd = mkstemp(path), ofd = mkstemp(out), rc;
		FILE *f = fdopen(fd, "wb");

		close(ofd);
		CHECK_EQ_INT(mw_record_begin(f, 4096, 0), 0);
		put_facts_run(f, peeks);
		fclose(f);
		cfg.replay_path = path;
		cfg.out_path = out;
		rc = mw_replay_run(&cfg);
		t = slurp(out);
		unlink(path);
		unlink(out);
		CHECK_EQ_INT(rc, 0);
		/* glibc's list at attach, as read then. */
		CHECK(strstr(t, "\"type\":\"glibc_arenas\"") != NULL);
		CHECK(strstr(t, "\"arenas\":1,\"heaps\":1,\"how\":\"main_arena\"") != NULL);
		CHECK(strstr(t, "\"type\":\"arena_summary\"") != NULL);
		CHECK(strstr(t,
			     "\"start\":\"0x7f1000000000\",\"end\":\"0x7f1000021000\",\"prot\":\"PROT_READ|PROT_WRITE\",\"class\":\"arena_heap\",\"arena\":1") !=
		      NULL);
		/* The bytes read then decide as they did live; without them, the shape. */
		CHECK(strstr(t, "\"start\":\"0x7f2000000000\",\"end\":\"0x7f2000040000\",\"prot\":"
				"\"PROT_READ|PROT_WRITE\",\"class\":\"malloc_chunk\"") != NULL);
		CHECK(strstr(t, "\"start\":\"0x7f3000000000\",\"end\":\"0x7f3000040000\",\"prot\":"
				"\"PROT_READ|PROT_WRITE\",\"class\":\"") != NULL);
		CHECK((strstr(t, "\"start\":\"0x7f3000000000\",\"end\":\"0x7f3000040000\",\"prot\":"
				 "\"PROT_READ|PROT_WRITE\",\"class\":\"anon\"") != NULL) == peeks);
		free(t);
	}
}

/* What reading a process said at attach is recorded whole and read back the same. */
TEST(replay_alloc_facts_round_trip)
{
	struct mw_glibc_heap heaps[] = { { 0x7f1000000000ULL, 0x21000, 0 },
					 { 0x7f1004000000ULL, 0x400000, 0 },
					 { 0x7f2000000000ULL, 0x22000, 1 } };
	struct mw_range chunks[] = { { 0x7f3000000000ULL, 0x40000 } };
	struct mw_stack_range stacks[] = { { 0x7f4000000000ULL, 0x7f4000001000ULL,
					     0x7f4000801000ULL } };
	struct mw_range nr[] = { { 0x7f5000000000ULL, 0x200000 }, { 0x7f5100000000ULL, 0x800000 } };
	struct mw_range foreign[] = { { 0x7f6000000000ULL, 0x1000 } };
	struct mw_config cfg = { .json = true };
	struct mw_alloc_facts f = {}, *g;
	struct mw_session s, t;
	struct mw_replay in;
	struct mw_entry e;
	char *buf = NULL;
	size_t len = 0;
	FILE *rec = open_memstream(&buf, &len);

	f.arenas = (struct mw_glibc_arenas){ .how = MW_ARENAS_LAYOUT,
					     .heap_max = 8 << 20,
					     .main_arena = 0x7f0000001c60ULL,
					     .narenas = 2,
					     .why = "glibc's arena list (checked)" };
	f.arenas.heaps = malloc(sizeof(heaps));
	f.chunks = malloc(sizeof(chunks));
	f.stacks = malloc(sizeof(stacks));
	f.noreserve = malloc(sizeof(nr));
	f.foreign = malloc(sizeof(foreign));
	memcpy(f.arenas.heaps, heaps, sizeof(heaps));
	memcpy(f.chunks, chunks, sizeof(chunks));
	memcpy(f.stacks, stacks, sizeof(stacks));
	memcpy(f.noreserve, nr, sizeof(nr));
	memcpy(f.foreign, foreign, sizeof(foreign));
	f.arenas.nheaps = 3;
	f.nchunks = f.nstacks = f.nforeign = 1;
	f.nnoreserve = 2;
	f.vmflags = true;
	f.overcommit_never = true;
	mw_session_init(&s, &cfg, stdout, 4096, 0);
	s.rec = rec;
	CHECK_EQ_INT(mw_record_begin(rec, 4096, 0), 0);
	mw_session_facts(&s, 70, &f);
	fflush(rec);
	CHECK_EQ_INT(mw_replay_init(&in, buf, len), 0);
	CHECK_EQ_INT(mw_replay_next(&in, &e), 1);
	CHECK_EQ_INT(e.kind, MW_ENTRY_ALLOC_FACTS);
	mw_session_init(&t, &cfg, stdout, 4096, 0);
	CHECK_EQ_INT(mw_session_facts_entry(&t, e.data, e.len), 0);
	CHECK_EQ_INT(mw_session_facts_entry(&t, e.data, e.len - 1), -EINVAL);
	g = &t.facts;
	CHECK_EQ_INT(t.facts_pid, 70);
	CHECK_EQ_INT(g->arenas.how, MW_ARENAS_LAYOUT);
	CHECK_EQ_INT(g->arenas.heap_max, 8 << 20);
	CHECK_EQ_HEX(g->arenas.main_arena, 0x7f0000001c60ULL);
	CHECK_EQ_INT(g->arenas.narenas, 2);
	CHECK_EQ_STR(g->arenas.why, "glibc's arena list (checked)");
	CHECK_EQ_INT(g->arenas.nheaps, 3);
	for (int i = 0; i < 3; i++) {
		CHECK_EQ_HEX(g->arenas.heaps[i].base, heaps[i].base);
		CHECK_EQ_INT(g->arenas.heaps[i].rw, heaps[i].rw);
		CHECK_EQ_INT(g->arenas.heaps[i].arena, heaps[i].arena);
	}
	CHECK_EQ_INT(g->nchunks, 1);
	CHECK(!memcmp(g->chunks, chunks, sizeof(chunks)));
	CHECK_EQ_INT(g->nstacks, 1);
	CHECK(!memcmp(g->stacks, stacks, sizeof(stacks)));
	CHECK_EQ_INT(g->nnoreserve, 2);
	CHECK(!memcmp(g->noreserve, nr, sizeof(nr)));
	CHECK_EQ_INT(g->nforeign, 1);
	CHECK(!memcmp(g->foreign, foreign, sizeof(foreign)));
	CHECK(g->vmflags);
	CHECK(g->overcommit_never);
	mw_session_free(&t);
	s.rec = NULL;
	mw_session_free(&s);
	fclose(rec);
	free(buf);
}

TEST(replay_rejects_garbage_and_truncation)
{
	char path[] = "/tmp/mw-unit-rec-XXXXXX";
	int fd = mkstemp(path), rc;
	FILE *f = fdopen(fd, "wb");
	char *t;

	fputs("this is not a recording, but it is long enough for a header", f);
	fclose(f);
	t = replay_json(path, &rc);
	CHECK_EQ_INT(rc, 1);
	free(t);

	f = fopen(path, "wb");
	CHECK_EQ_INT(mw_record_begin(f, 4096, 0), 0);
	{
		__u32 head[2] = { MW_ENTRY_RING, 1000 }; /* claims more than follows */

		fwrite(head, sizeof(head), 1, f);
	}
	fclose(f);
	t = replay_json(path, &rc);
	CHECK_EQ_INT(rc, 1);
	free(t);
	unlink(path);
}

/* A recording of the six-call format (MWREC002): its counters entries are 160 bytes and are
 * converted when read, the calls added since counting zero. */
TEST(replay_reads_mwrec002_counters)
{
	char path[] = "/tmp/mw-unit-rec-XXXXXX";
	const char *maps0 = "7f0000000000-7f0000001000 rw-p 00000000 00:00 0\n";
	struct mw_seed_entry seed = { .pid = 60, .vm_size = 4096, .snap_end_ns = 10 };
	struct mw_counters_entry_v2 old = { .tid = 60, .tgid = 60 };
	struct mw_task_rec exit_rec = {
		.hdr = { .type = MW_REC_EXIT, .tgid = 60, .tid = 60, .ts_ns = 900, .comm = "w" },
		.group_dead = 1,
	};
	int fd = mkstemp(path), rc;
	FILE *f = fdopen(fd, "wb");
	char *t;

	old.calls[MW_SYS_MMAP] = 7; /* the kernel's count: more than the one record seen */
	old.errors[MW_SYS_MMAP] = 2;
	old.calls[MW_SYS_MADVISE] = 5;
	CHECK_EQ_INT(mw_record_begin(f, 4096, 0), 0);
	CHECK_EQ_INT(mw_record_put(f, MW_ENTRY_SEED, &seed, sizeof(seed), maps0, strlen(maps0)), 0);
	put_ring_mmap(f, 60, 100, 0x7f0000100000ULL, 0x10000);
	CHECK_EQ_INT(mw_record_put(f, MW_ENTRY_RING, &exit_rec, sizeof(exit_rec), NULL, 0), 0);
	CHECK_EQ_INT(mw_record_put(f, MW_ENTRY_COUNTERS, &old, sizeof(old), NULL, 0), 0);
	fclose(f);
	/* The header as the six-call format wrote it. */
	f = fopen(path, "r+b");
	fwrite(MW_RECORD_MAGIC_V2, 8, 1, f);
	fclose(f);

	t = replay_json(path, &rc);
	unlink(path);
	CHECK_EQ_INT(rc, 0);
	CHECK(t &&
	      strstr(t, "\"calls\":{\"brk\":0,\"mmap\":7,\"munmap\":0,\"mprotect\":0,\"mremap\":0,"
			"\"madvise\":5,\"shmat\":0,\"shmdt\":0,\"pkey_mprotect\":0},"
			"\"errors\":2,") != NULL);
	free(t);
}

/* A recording with the resident counters: the baseline's reading from /proc (rss_start), the
 * kernel's at the end (rss_end, its parts and slack), and a thread's fault counts. */
static char *replay_resident(size_t counters_len, int *rc)
{
	char path[] = "/tmp/mw-unit-rec-XXXXXX";
	const char *maps0 = "7f0000000000-7f0000001000 rw-p 00000000 00:00 0\n";
	struct mw_seed_entry seed = { .pid = 61, .vm_size = 4096, .snap_end_ns = 10 };
	struct mw_resident_entry res = { .pid = 61, .start = 1, .anon = 8192, .file = 4096 };
	struct mw_counters_entry c = { .tid = 61, .c = { .tgid = 61, .flags = MW_TC_FAULTS } };
	struct mw_rss_rec rss = {
		.hdr = { .type = MW_REC_RSS, .tgid = 61, .tid = 61, .ts_ns = 890, .comm = "w" },
		.file = 3,
		.anon = 20,
		.shmem = 1,
		.swap = 5,
		.slack = 2,
	};
	struct mw_task_rec exit_rec = {
		.hdr = { .type = MW_REC_EXIT, .tgid = 61, .tid = 61, .ts_ns = 900, .comm = "w" },
		.group_dead = 1,
	};
	int fd = mkstemp(path);
	FILE *f = fdopen(fd, "wb");
	char *t;

	c.c.calls[MW_SYS_MMAP] = 1;
	c.c.faults = 19;
	c.c.faulted_pages = 16;
	CHECK_EQ_INT(mw_record_begin(f, 4096, 0), 0);
	CHECK_EQ_INT(mw_record_put(f, MW_ENTRY_SEED, &seed, sizeof(seed), maps0, strlen(maps0)), 0);
	CHECK_EQ_INT(mw_record_put(f, MW_ENTRY_RESIDENT, &res, sizeof(res), NULL, 0), 0);
	put_ring_mmap(f, 61, 100, 0x7f0000100000ULL, 0x10000);
	CHECK_EQ_INT(mw_record_put(f, MW_ENTRY_RING, &rss, sizeof(rss), NULL, 0), 0);
	CHECK_EQ_INT(mw_record_put(f, MW_ENTRY_RING, &exit_rec, sizeof(exit_rec), NULL, 0), 0);
	/* Before the fault counters an entry stopped at the thread's tgid and flags. */
	CHECK_EQ_INT(mw_record_put(f, MW_ENTRY_COUNTERS, &c,
				   counters_len ? counters_len : sizeof(c), NULL, 0),
		     0);
	fclose(f);
	t = replay_json(path, rc);
	unlink(path);
	return t;
}

TEST(replay_resident_and_faults)
{
	int rc;
	char *t = replay_resident(0, &rc);

	CHECK_EQ_INT(rc, 0);
	CHECK(t && strstr(t, "\"dropped\":0,\"faults\":19,\"faulted\":65536,") != NULL);
	CHECK(t && strstr(t, "\"rss_start\":12288,\"rss_end\":98304,\"rss_anon\":81920,"
			     "\"rss_file\":12288,\"rss_shmem\":4096,\"rss_slack\":8192") != NULL);
	free(t);
	/* An older entry: the calls as they were, the faults unknown (absent, not 0). */
	t = replay_resident(MW_COUNTERS_ENTRY_V3_LEN, &rc);
	CHECK_EQ_INT(rc, 0);
	CHECK(t && strstr(t, "\"mmap\":1,") != NULL);
	CHECK(t && strstr(t, "\"faults\"") == NULL && strstr(t, "\"faulted\"") == NULL);
	free(t);
	/* One from before the lost fault samples: read, its fault counts as they were. */
	t = replay_resident(MW_COUNTERS_ENTRY_V4_LEN, &rc);
	CHECK_EQ_INT(rc, 0);
	CHECK(t && strstr(t, "\"dropped\":0,\"faults\":19,\"faulted\":65536,") != NULL);
	free(t);
}

/* --stacks: a syscall record with its stack, and the frames the live run named for it (the
 * next entry), replay as the syscall's and its main_heap_grow's "stack"; without the names
 * entry the call has none. */
static char *replay_stack_rec(bool named, int *rc)
{
	char path[] = "/tmp/mw-unit-rec-XXXXXX";
	const char *maps0 = "555555554000-555555556000 r--p 00000000 fe:01 1 /usr/bin/w\n";
	struct mw_seed_entry seed = {
		.pid = 62, .vm_size = 8192, .snap_end_ns = 10, .start_brk = 0x555555560000ULL
	};
	struct {
		struct mw_syscall_stack_rec r;
		uint8_t stack[16];
	} b = { .r = { .sc = { .hdr = { .type = MW_REC_SYSCALL_STACK,
					.tgid = 62,
					.tid = 62,
					.ts_ns = 100 },
			       .args = { 0x555555581000ULL },
			       .ret = 0x555555581000LL,
			       .sys = MW_SYS_BRK },
		       .stack_len = 16 } };
	struct mw_sstack_entry se = { .tid = 62, .n = 2 };
	struct mw_sframe_entry fe[2] = { { 0x7f0000001007ULL, 7 }, { 0x555555554123ULL, 0x23 } };
	const char names[] = "/lib/libc.so.6\0brk\0/usr/bin/w\0grow\0";
	unsigned char buf[sizeof(fe) + sizeof(names)];
	int fd = mkstemp(path);
	FILE *f = fdopen(fd, "wb");
	char *t;

	memcpy(buf, fe, sizeof(fe));
	memcpy(buf + sizeof(fe), names, sizeof(names));
	CHECK_EQ_INT(mw_record_begin(f, 4096, 0), 0);
	CHECK_EQ_INT(mw_record_put(f, MW_ENTRY_SEED, &seed, sizeof(seed), maps0, strlen(maps0)), 0);
	CHECK_EQ_INT(mw_record_put(f, MW_ENTRY_RING, &b, sizeof(b), NULL, 0), 0);
	if (named)
		CHECK_EQ_INT(mw_record_put(f, MW_ENTRY_SSTACK, &se, sizeof(se), buf, sizeof(buf)),
			     0);
	fclose(f);
	t = replay_json(path, rc);
	unlink(path);
	return t;
}

TEST(replay_syscall_stacks)
{
	const char *want = "\"stack\":[{\"addr\":\"0x7f0000001007\",\"func\":\"brk\",\"offset\":7,"
			   "\"module\":\"/lib/libc.so.6\"},{\"addr\":\"0x555555554123\",\"func\":"
			   "\"grow\",\"offset\":35,\"module\":\"/usr/bin/w\"}]";
	int rc;
	char *t = replay_stack_rec(true, &rc);
	const char *sc, *mhg;

	CHECK_EQ_INT(rc, 0);
	sc = t ? strstr(t, "\"type\":\"syscall\"") : NULL;
	CHECK(sc && strstr(sc, want) != NULL);
	mhg = t ? strstr(t, "\"type\":\"main_heap_grow\"") : NULL;
	CHECK(mhg && strstr(mhg, want) != NULL);
	free(t);
	t = replay_stack_rec(false, &rc);
	CHECK_EQ_INT(rc, 0);
	sc = t ? strstr(t, "\"type\":\"syscall\"") : NULL;
	CHECK(sc && strchr(sc, '\n') &&
	      (!strstr(sc, "\"stack\"") || strstr(sc, "\"stack\"") > strchr(sc, '\n')));
	/* The heap's growth is the unknown stack's in the per-stack ledger. */
	CHECK(t && strstr(t, "\"type\":\"mapped_by_stack\",\"ts_ns\":100,\"pid\":62,"
			     "\"mapped\":135168,\"committed\":135168,\"count\":1,"
			     "\"stack\":[]}") != NULL);
	free(t);
}

/* --stacks' per-stack ledger from a recording: a 64 KiB mmap made by map_a (its stack record
 * and the names the live run gave it), half of it unmapped by a call without a stack: one
 * mapped_by_stack of 32 KiB, and --folded writes it outermost frame first. */
TEST(replay_mapped_by_stack_and_folded)
{
	char path[] = "/tmp/mw-unit-rec-XXXXXX", folded[] = "/tmp/mw-unit-fold-XXXXXX";
	char out[] = "/tmp/mw-unit-replay-XXXXXX";
	const char *maps0 = "555555554000-555555556000 r--p 00000000 fe:01 1 /usr/bin/w\n";
	struct mw_seed_entry seed = { .pid = 63, .vm_size = 8192, .snap_end_ns = 10 };
	struct {
		struct mw_syscall_stack_rec r;
		uint8_t stack[16];
	} b = { .r = { .sc = { .hdr = { .type = MW_REC_SYSCALL_STACK,
					.tgid = 63,
					.tid = 63,
					.ts_ns = 100,
					.comm = "w" },
			       .args = { 0, 0x10000, 3, 0x22, (uint64_t)-1, 0 },
			       .ret = 0x7f0000100000LL,
			       .sys = MW_SYS_MMAP },
		       .stack_len = 16 } };
	struct mw_syscall_rec unmap = {
		.hdr = { .type = MW_REC_SYSCALL, .tgid = 63, .tid = 63, .ts_ns = 200, .comm = "w" },
		.args = { 0x7f0000108000ULL, 0x8000 },
		.sys = MW_SYS_MUNMAP,
	};
	struct mw_sstack_entry se = { .tid = 63, .n = 2 };
	struct mw_sframe_entry fe[2] = { { 0x7f0000001007ULL, 7 }, { 0x555555554123ULL, 0x23 } };
	const char names[] = "/lib/libc.so.6\0mmap64\0/usr/bin/w\0map_a\0";
	unsigned char buf[sizeof(fe) + sizeof(names)];
	struct mw_config cfg = { .json = true, .out_path = out };
	int fd = mkstemp(path), ffd = mkstemp(folded), ofd = mkstemp(out), rc;
	FILE *f = fdopen(fd, "wb");
	char *t, *fo;

	close(ffd);
	close(ofd);
	memcpy(buf, fe, sizeof(fe));
	memcpy(buf + sizeof(fe), names, sizeof(names));
	CHECK_EQ_INT(mw_record_begin(f, 4096, 0), 0);
	CHECK_EQ_INT(mw_record_put(f, MW_ENTRY_SEED, &seed, sizeof(seed), maps0, strlen(maps0)), 0);
	CHECK_EQ_INT(mw_record_put(f, MW_ENTRY_RING, &b, sizeof(b), NULL, 0), 0);
	CHECK_EQ_INT(mw_record_put(f, MW_ENTRY_SSTACK, &se, sizeof(se), buf, sizeof(buf)), 0);
	CHECK_EQ_INT(mw_record_put(f, MW_ENTRY_RING, &unmap, sizeof(unmap), NULL, 0), 0);
	fclose(f);
	cfg.replay_path = path;
	cfg.mal.folded_path = folded;
	rc = mw_replay_run(&cfg);
	CHECK_EQ_INT(rc, 0);
	t = slurp(out);
	fo = slurp(folded);
	unlink(path);
	unlink(out);
	unlink(folded);
	CHECK(t &&
	      strstr(t, "{\"type\":\"mapped_by_stack\",\"ts_ns\":200,\"pid\":63,\"mapped\":32768,"
			"\"committed\":32768,\"count\":1,\"stack\":[{\"addr\":\"0x7f0000001007\","
			"\"func\":\"mmap64\",\"offset\":7,\"module\":\"/lib/libc.so.6\"},"
			"{\"addr\":\"0x555555554123\",\"func\":\"map_a\",\"offset\":35,"
			"\"module\":\"/usr/bin/w\"}]}") != NULL);
	CHECK(fo && !strcmp(fo, "map_a;mmap64 32768\n"));
	free(t);
	free(fo);
}

/* --fault-stacks: sampled fault records, each followed by the frames the live run named,
 * replay as the same fault_profile and faulted_by_class (no process needed). */
TEST(replay_fault_profile)
{
	char path[] = "/tmp/mw-unit-rec-XXXXXX";
	const char *maps0 = "555555554000-555555556000 r--p 00000000 fe:01 1 /usr/bin/w\n";
	struct mw_seed_entry seed = {
		.pid = 63, .vm_size = 8192, .snap_end_ns = 10, .start_brk = 0x555555560000ULL
	};
	struct {
		struct mw_fault_stack_rec r;
		uint8_t stack[16];
	} b = { .r = { .hdr = { .type = MW_REC_FAULT_STACK, .tgid = 63, .tid = 63, .ts_ns = 200 },
		       .stack_len = 16,
		       .sample_n = 4 } };
	struct mw_sstack_entry se = { .tid = 63, .n = 2 };
	struct mw_sframe_entry fe[2] = { { 0x555555554100ULL, 0x10 }, { 0x555555554123ULL, 0x23 } };
	const char names[] = "/usr/bin/w\0touch\0/usr/bin/w\0main\0";
	unsigned char buf[sizeof(fe) + sizeof(names)];
	int fd = mkstemp(path), rc;
	FILE *f = fdopen(fd, "wb");
	char *t;

	memcpy(buf, fe, sizeof(fe));
	memcpy(buf + sizeof(fe), names, sizeof(names));
	CHECK_EQ_INT(mw_record_begin(f, 4096, 0), 0);
	CHECK_EQ_INT(mw_record_put(f, MW_ENTRY_SEED, &seed, sizeof(seed), maps0, strlen(maps0)), 0);
	put_ring_mmap(f, 63, 100, 0x7f0000100000ULL, 0x10000);
	for (int i = 0; i < 3; i++) {
		b.r.addr = 0x7f0000100000ULL + (uint64_t)i * 4096;
		b.r.hdr.ts_ns = 200 + (uint64_t)i;
		CHECK_EQ_INT(mw_record_put(f, MW_ENTRY_RING, &b, sizeof(b), NULL, 0), 0);
		CHECK_EQ_INT(mw_record_put(f, MW_ENTRY_SSTACK, &se, sizeof(se), buf, sizeof(buf)),
			     0);
	}
	/* One outside every region the model knows. */
	b.r.addr = 0x10000;
	CHECK_EQ_INT(mw_record_put(f, MW_ENTRY_RING, &b, sizeof(b), NULL, 0), 0);
	CHECK_EQ_INT(mw_record_put(f, MW_ENTRY_SSTACK, &se, sizeof(se), buf, sizeof(buf)), 0);
	fclose(f);
	t = replay_json(path, &rc);
	unlink(path);
	CHECK_EQ_INT(rc, 0);
	CHECK(t && strstr(t, "\"faulted_by_class\":{\"anon\":49152,\"unknown\":16384},"
			     "\"faulted_estimated\":true") != NULL);
	/* The thread that took them, by class too. */
	CHECK(t && strstr(t, "\"type\":\"thread_summary\"") &&
	      strstr(strstr(t, "\"type\":\"thread_summary\""),
		     "\"faulted_by_class\":{\"anon\":49152,\"unknown\":16384},"
		     "\"faulted_estimated\":true,\"exited\"") != NULL);
	CHECK(t && strstr(t, "\"type\":\"fault_profile\"") &&
	      strstr(t, "\"pid\":63,\"bytes\":65536,"
			"\"count\":16,\"samples\":4,\"sampling\":4,\"estimated\":true,"
			"\"stack\":[{\"addr\":\"0x555555554100\",\"func\":\"touch\","
			"\"offset\":16,\"module\":\"/usr/bin/w\"},{\"addr\":\"0x555555554123\","
			"\"func\":\"main\",\"offset\":35,\"module\":\"/usr/bin/w\"}]}") != NULL);
	free(t);
}
