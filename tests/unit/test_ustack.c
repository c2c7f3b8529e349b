// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The unwinder and symbolizer on real stacks: this process's own (registers
 * read with inline asm at the end of a chain of noinline functions, and from
 * inside a qsort comparator so the unwind crosses Debian's libc, which has no
 * frame pointers), truncated copies, the verified cache, and another process
 * (tests/workloads/ustack_target, stopped in a known chain, read with ptrace
 * and process_vm_readv). Plus the pure parts: maps -> modules, the cache. */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "stacks/ustack.h"
#include "stacks/ustack_cache.h"
#include "stacks/ustack_maps.h"
#include "stacks/ustack_perfmap.h"
#include "unit.h"

/* Built with ASan (make check-asan), qsort and malloc are its interceptors: their frames are
 * in its runtime, the library the unwind has to cross then. */
#if defined(__SANITIZE_ADDRESS__)
#define LIBC_MODULE "libasan.so"
#define SANITIZED 1
#else
#define LIBC_MODULE "libc.so"
#define SANITIZED 0
#endif

#define COPY_LEN 65536
#define MAXF 32

struct capture {
	struct mw_ustack_capture c;
	uint8_t stack[COPY_LEN];
};

static int line_capture, line_l1, line_l2, line_l3, line_test, line_cmp, line_qsort;

static int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	if (!d)
		return -1;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/* The registers at one instruction of this function, then the stack above them. */
__attribute__((noinline)) static void capture_here(struct capture *k)
{
	uint64_t *r = k->c.regs;

	/* r is pinned to rdi (not captured) so every captured register is the real one. */
	line_capture = __LINE__ + 1;
	__asm__ volatile("lea 0(%%rip), %%rcx\n\t"
			 "mov %%rcx, 128(%0)\n\t" /* regs[16] = rip (of this mov) */
			 "mov %%rsp, 56(%0)\n\t"  /* regs[7] */
			 "mov %%rbp, 48(%0)\n\t"  /* regs[6] */
			 "mov %%rbx, 24(%0)\n\t"  /* regs[3] */
			 "mov %%r12, 96(%0)\n\t"
			 "mov %%r13, 104(%0)\n\t"
			 "mov %%r14, 112(%0)\n\t"
			 "mov %%r15, 120(%0)\n\t"
			 :
			 : "D"(r)
			 : "rcx", "memory");
	k->c.pid = (uint32_t)getpid();
	k->c.tid = (uint32_t)gettid();
	k->c.stack = k->stack;
	k->c.stack_len = mw_ustack_read(getpid(), r[7], k->stack, COPY_LEN);
}

__attribute__((noinline)) static void level3(struct capture *k)
{
	line_l3 = __LINE__ + 1;
	capture_here(k);
	__asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) static void level2(struct capture *k)
{
	line_l2 = __LINE__ + 1;
	level3(k);
	__asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) static void level1(struct capture *k)
{
	line_l1 = __LINE__ + 1;
	level2(k);
	__asm__ volatile("" ::: "memory");
}

static struct capture *cmp_target;

__attribute__((noinline)) static int by_value(const void *a, const void *b)
{
	if (cmp_target) {
		line_cmp = __LINE__ + 1;
		capture_here(cmp_target);
		cmp_target = NULL;
	}
	__asm__ volatile("" ::: "memory");
	return *(const int *)a - *(const int *)b;
}

__attribute__((noinline)) static void through_qsort(struct capture *k)
{
	int v[4] = { 3, 1, 2, 0 };

	cmp_target = k;
	line_qsort = __LINE__ + 1;
	qsort(v, 4, sizeof(v[0]), by_value);
	__asm__ volatile("" ::: "memory");
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = s ? strlen(s) : 0, b = strlen(suffix);

	return s && a >= b && !strcmp(s + a - b, suffix);
}

/* Index of the first frame from `from` whose function is name, or -1. */
static int find_func(struct mw_symbolizer *s, uint32_t pid, const uint64_t *ips, int n, int from,
		     const char *name, struct mw_frame *f)
{
	for (int i = from; i < n; i++) {
		if (mw_sym_resolve_ip(s, pid, ips[i], i > 0, f) == 0 && f->func &&
		    !strcmp(f->func, name))
			return i;
	}
	return -1;
}

static void expect_frame(struct mw_symbolizer *s, uint32_t pid, const uint64_t *ips, int n, int *at,
			 const char *func, const char *file, int line)
{
	struct mw_frame f;
	int i = find_func(s, pid, ips, n, *at, func, &f);

	if (i < 0) {
		unit_fail(__FILE__, __LINE__, "no frame %s after frame %d of %d", func, *at, n);
		return;
	}
	if (!ends_with(f.file, file) || f.line != line)
		unit_fail(__FILE__, __LINE__, "frame %d %s at %s:%d, want %s:%d", i, func,
			  f.file ? f.file : "?", f.line, file, line);
	CHECK(f.module != NULL);
	*at = i + 1;
}

TEST(ustack_own_chain)
{
	int fds0 = open_fds();
	struct capture *k = calloc(1, sizeof(*k));
	struct mw_symbolizer *s = mw_sym_new();
	struct mw_sym_stats st;
	uint64_t ips[MAXF];
	struct mw_frame f;
	int n, at = 0;

	CHECK(k && s);
	if (!k || !s)
		goto out;
	line_test = __LINE__ + 1;
	level1(k);
	CHECK(k->c.stack_len > 512);
	n = mw_sym_unwind(s, &k->c, ips, MAXF);
	CHECK(n >= 6);
	CHECK_EQ_HEX(ips[0], k->c.regs[16]);
	CHECK_EQ_INT(mw_sym_resolve_ip(s, k->c.pid, ips[0], 0, &f), 0);
	CHECK_EQ_STR(f.func, "capture_here");
	CHECK(f.offset > 0);
	CHECK(ends_with(f.module, "/unit_tests"));
	expect_frame(s, k->c.pid, ips, n, &at, "capture_here", "test_ustack.c", line_capture);
	expect_frame(s, k->c.pid, ips, n, &at, "level3", "test_ustack.c", line_l3);
	expect_frame(s, k->c.pid, ips, n, &at, "level2", "test_ustack.c", line_l2);
	expect_frame(s, k->c.pid, ips, n, &at, "level1", "test_ustack.c", line_l1);
	expect_frame(s, k->c.pid, ips, n, &at, "ustack_own_chain", "test_ustack.c", line_test);
	CHECK_EQ_INT(at, 5); /* consecutive: nothing missing, nothing in between */
	/* ...and on through the runner's main into libc's start code. */
	CHECK(find_func(s, k->c.pid, ips, n, at, "main", &f) >= at);
	CHECK(find_func(s, k->c.pid, ips, n, at, "__libc_start_main", &f) > at);
	/* One descriptor per module file (and one per debuginfo file found):
	 * process sessions hold none. */
	mw_sym_stats(s, &st);
	CHECK(st.modules >= 2);
	CHECK(open_fds() - fds0 <= 2 * (int)st.modules);
out:
	mw_sym_free(s);
	free(k);
	CHECK_EQ_INT(open_fds(), fds0);
}

TEST(ustack_through_libc_qsort)
{
	struct capture *k = calloc(1, sizeof(*k));
	struct mw_symbolizer *s = mw_sym_new();
	uint64_t ips[MAXF];
	struct mw_frame f;
	int n, at = 0, i_cmp, i_qsort;
	bool local_sort = false;

	CHECK(k && s);
	if (!k || !s)
		goto out;
	line_test = __LINE__ + 1;
	through_qsort(k);
	n = mw_sym_unwind(s, &k->c, ips, MAXF);
	expect_frame(s, k->c.pid, ips, n, &at, "capture_here", "test_ustack.c", line_capture);
	expect_frame(s, k->c.pid, ips, n, &at, "by_value", "test_ustack.c", line_cmp);
	i_cmp = at - 1;
	/* Between the comparator and its caller: glibc's sort, no frame pointers. */
	i_qsort = find_func(s, k->c.pid, ips, n, at, "through_qsort", &f);
	CHECK(i_qsort > i_cmp + 1);
	for (int i = i_cmp + 1; i_qsort > 0 && i < i_qsort; i++) {
		CHECK_EQ_INT(mw_sym_resolve_ip(s, k->c.pid, ips[i], 1, &f), 0);
		CHECK(f.module && strstr(f.module, LIBC_MODULE));
		CHECK(f.func != NULL);
		/* libc: its symbol table only, no DWARF (ASan's own sort is in libasan) */
		CHECK(SANITIZED || (f.file == NULL && f.line == 0));
		/* glibc's local sort function: only libc6-dbg's symbol table names it. */
		local_sort |= f.func && !strncmp(f.func, "msort_with_tmp", 14);
	}
	CHECK(SANITIZED || local_sort);
	expect_frame(s, k->c.pid, ips, n, &at, "through_qsort", "test_ustack.c", line_qsort);
	expect_frame(s, k->c.pid, ips, n, &at, "ustack_through_libc_qsort", "test_ustack.c",
		     line_test);
	/* libc's frames are named from its symbol table without its DWARF (which would
	 * cost 10 MB of heap): a function, no file:line. ASan's qsort is its interceptor. */
	CHECK_EQ_INT(mw_sym_resolve_ip(s, k->c.pid, (uint64_t)(uintptr_t)&qsort, 0, &f), 0);
	CHECK(f.func && strstr(f.func, "qsort"));
	CHECK_EQ_INT(f.offset, 0);
	CHECK(SANITIZED || (f.file == NULL && f.line == 0));
out:
	mw_sym_free(s);
	free(k);
}

TEST(ustack_truncated_copy_gives_prefix)
{
	struct capture *k = calloc(1, sizeof(*k));
	struct mw_symbolizer *s = mw_sym_new();
	uint64_t full[MAXF], part[MAXF];
	int n, shorter = 0;

	CHECK(k && s);
	if (!k || !s)
		goto out;
	level1(k);
	n = mw_sym_unwind(s, &k->c, full, MAXF);
	CHECK(n >= 6);
	/* A small max gives a prefix, a max larger than a cache entry the same frames. */
	CHECK_EQ_INT(mw_sym_unwind(s, &k->c, part, 3), 3);
	CHECK(!memcmp(part, full, 3 * sizeof(part[0])));
	{
		uint64_t *big = calloc(200, sizeof(*big));

		CHECK(big != NULL);
		if (big) {
			mw_sym_cache_enable(s, 0);
			CHECK_EQ_INT(mw_sym_unwind(s, &k->c, big, 200), n);
			CHECK(!memcmp(big, full, (size_t)n * sizeof(full[0])));
			mw_sym_cache_enable(s, 1);
			CHECK_EQ_INT(mw_sym_unwind(s, &k->c, big, 200), n);
			CHECK(!memcmp(big, full, (size_t)n * sizeof(full[0])));
			free(big);
		}
	}
	for (uint32_t len = 0; len <= 2048 && len <= k->c.stack_len; len += 24) {
		struct mw_ustack_capture t = k->c;
		int m;

		t.stack_len = len;
		m = mw_sym_unwind(s, &t, part, MAXF);
		CHECK(m >= 1 && m <= n);
		for (int i = 0; i < m && i < n; i++)
			if (part[i] != full[i])
				unit_fail(__FILE__, __LINE__, "len %u frame %d: %#lx != %#lx", len,
					  i, (unsigned long)part[i], (unsigned long)full[i]);
		shorter += m < n;
	}
	CHECK(shorter > 0);
	/* No copy at all: the probed pc only. */
	{
		struct mw_ustack_capture t = k->c;

		t.stack_len = 0;
		CHECK_EQ_INT(mw_sym_unwind(s, &t, part, MAXF), 1);
		CHECK_EQ_HEX(part[0], k->c.regs[16]);
	}
out:
	mw_sym_free(s);
	free(k);
}

TEST(ustack_cache_verified_on_real_stack)
{
	struct capture *k = calloc(1, sizeof(*k));
	struct capture *k2 = calloc(1, sizeof(*k2));
	struct mw_symbolizer *s = mw_sym_new();
	uint64_t a[MAXF], b[MAXF], c[MAXF];
	struct mw_sym_stats st0, st1, st2;
	int n, m, victim = -1;
	struct timespec t0, t1;
	const int rounds = 2000;

	CHECK(k && k2 && s);
	if (!k || !k2 || !s)
		goto out;
	level1(k);
	/* Uncached, twice in one session and once in a new one (after
	 * invalidate): the same frames each time. */
	mw_sym_cache_enable(s, 0);
	n = mw_sym_unwind(s, &k->c, a, MAXF);
	CHECK(n >= 6);
	CHECK_EQ_INT(mw_sym_unwind(s, &k->c, b, MAXF), n);
	CHECK(!memcmp(a, b, (size_t)n * sizeof(a[0])));
	mw_sym_invalidate(s, k->c.pid);
	CHECK_EQ_INT(mw_sym_unwind(s, &k->c, b, MAXF), n);
	CHECK(!memcmp(a, b, (size_t)n * sizeof(a[0])));
	mw_sym_cache_enable(s, 1);
	n = mw_sym_unwind(s, &k->c, a, MAXF);
	mw_sym_stats(s, &st0);
	m = mw_sym_unwind(s, &k->c, b, MAXF);
	mw_sym_stats(s, &st1);
	CHECK_EQ_INT(m, n);
	CHECK(!memcmp(a, b, (size_t)n * sizeof(a[0])));
	CHECK_EQ_INT(st1.full_unwinds, st0.full_unwinds);
	CHECK_EQ_INT(st1.cache_hits, st0.cache_hits + 1);
	/* Change the word holding level2's return address (frame 3): a miss,
	 * and a full unwind of the changed copy that no longer finds level1. */
	*k2 = *k;
	k2->c.stack = k2->stack;
	for (uint32_t off = 0; off + 8 <= k2->c.stack_len; off += 8) {
		uint64_t w;

		memcpy(&w, k2->stack + off, 8);
		if (w == a[3]) {
			victim = (int)off;
			break;
		}
	}
	CHECK(victim >= 0);
	if (victim >= 0) {
		uint64_t w = a[3] + 1;

		memcpy(k2->stack + victim, &w, 8);
	}
	m = mw_sym_unwind(s, &k2->c, c, MAXF);
	mw_sym_stats(s, &st2);
	CHECK_EQ_INT(st2.full_unwinds, st1.full_unwinds + 1);
	CHECK(m >= 4);
	CHECK_EQ_HEX(c[3], a[3] + 1);
	CHECK_EQ_HEX(c[2], a[2]);

	/* Cost, printed only: cached vs uncached (a fresh cache each time). */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < rounds; i++)
		mw_sym_unwind(s, &k->c, b, MAXF);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	{
		double cached =
			((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / rounds;
		double full;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (int i = 0; i < rounds / 10; i++) {
			mw_sym_invalidate(s, k->c.pid); /* drops the cache entry too */
			mw_sym_unwind(s, &k->c, b, MAXF);
		}
		clock_gettime(CLOCK_MONOTONIC, &t1);
		full = ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / (rounds / 10);
		double warm;

		/* The same capture with the cache off: a full libdwfl unwind each time. */
		mw_sym_cache_enable(s, 0);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (int i = 0; i < rounds / 10; i++)
			CHECK_EQ_INT(mw_sym_unwind(s, &k->c, c, MAXF), n);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		warm = ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / (rounds / 10);
		mw_sym_cache_enable(s, 1);
		double first_res, again_res;
		struct mw_frame fr;

		/* Symbolizing the frames: first time (loads DWARF and debuginfo), again. */
		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (int i = 0; i < n; i++)
			mw_sym_resolve_ip(s, k->c.pid, a[i], i > 0, &fr);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		first_res = ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / n;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (int r = 0; r < rounds / 10; r++)
			for (int i = 0; i < n; i++)
				mw_sym_resolve_ip(s, k->c.pid, a[i], i > 0, &fr);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		again_res = ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) /
			    ((rounds / 10) * n);
		printf("  ustack: %d frames: cached unwind %.0f ns, full libdwfl unwind %.0f ns, "
		       "full with a new process session %.0f ns\n",
		       n, cached, warm, full);
		printf("  ustack: resolve per frame: first %.0f ns (DWARF, debuginfo loaded), "
		       "cached %.0f ns\n",
		       first_res, again_res);
	}
out:
	mw_sym_free(s);
	free(k);
	free(k2);
}

/* Line of the "ustack-mark: NAME" comment in the workload's source. */
static int mark_line(const char *src, const char *name)
{
	char want[64], buf[512];
	FILE *f = fopen(src, "r");
	int line = 0, found = 0;

	if (!f)
		return 0;
	snprintf(want, sizeof(want), "ustack-mark: %s */", name);
	while (fgets(buf, sizeof(buf), f)) {
		line++;
		if (strstr(buf, want)) {
			found = line;
			break;
		}
	}
	fclose(f);
	return found;
}

static const char target_wl[] = ".output/workloads/ustack_target";
static const char target_src[] = "tests/workloads/ustack_target.c";

/* Start ustack_target (with arg, or none) traced, wait for its own SIGSTOP and
 * capture it as a probe would: registers, then 8 KiB of stack at rsp. The pid,
 * or -1 (after a failed check). */
static pid_t capture_target_at(const char *wl, const char *arg, struct capture *k)
{
	struct user_regs_struct ur;
	int status;
	pid_t pid;

	if (access(wl, X_OK)) {
		unit_fail(__FILE__, __LINE__, "%s is not built (make workloads)", wl);
		return -1;
	}
	pid = fork();
	if (pid == 0) {
		ptrace(PTRACE_TRACEME, 0, NULL, NULL);
		execl(wl, wl, arg, (char *)NULL);
		_exit(127);
	}
	CHECK(pid > 0);
	if (pid < 0)
		return -1;
	/* The exec stop, then the workload's own SIGSTOP. */
	CHECK(waitpid(pid, &status, 0) == pid && WIFSTOPPED(status) && WSTOPSIG(status) == SIGTRAP);
	ptrace(PTRACE_CONT, pid, NULL, NULL);
	CHECK(waitpid(pid, &status, 0) == pid && WIFSTOPPED(status) && WSTOPSIG(status) == SIGSTOP);
	CHECK_EQ_INT(ptrace(PTRACE_GETREGS, pid, NULL, &ur), 0);
	k->c.pid = k->c.tid = (uint32_t)pid;
	k->c.regs[0] = ur.rax, k->c.regs[1] = ur.rdx, k->c.regs[2] = ur.rcx;
	k->c.regs[3] = ur.rbx, k->c.regs[4] = ur.rsi, k->c.regs[5] = ur.rdi;
	k->c.regs[6] = ur.rbp, k->c.regs[7] = ur.rsp;
	k->c.regs[8] = ur.r8, k->c.regs[9] = ur.r9, k->c.regs[10] = ur.r10;
	k->c.regs[11] = ur.r11, k->c.regs[12] = ur.r12, k->c.regs[13] = ur.r13;
	k->c.regs[14] = ur.r14, k->c.regs[15] = ur.r15, k->c.regs[16] = ur.rip;
	k->c.stack = k->stack;
	k->c.stack_len = mw_ustack_read(pid, ur.rsp, k->stack, 8192);
	CHECK(k->c.stack_len > 0);
	return pid;
}

static pid_t capture_target(const char *arg, struct capture *k)
{
	return capture_target_at(target_wl, arg, k);
}

static void end_target(pid_t pid)
{
	int status;

	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
}

static int line_inl, line_inl_outer;

static inline __attribute__((always_inline)) void inlined_step(struct capture *k)
{
	line_inl = __LINE__ + 1;
	capture_here(k);
	__asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) static void has_inlined(struct capture *k)
{
	line_inl_outer = __LINE__ + 1;
	inlined_step(k);
	__asm__ volatile("" ::: "memory");
}

/* A return address in code inlined into has_inlined: the line table gives
 * inlined_step's line, and the frame is named inlined_step to match. */
TEST(ustack_inlined_function_named)
{
	struct capture *k = calloc(1, sizeof(*k));
	struct mw_symbolizer *s = mw_sym_new();
	uint64_t ips[MAXF];
	int n, at = 0;

	CHECK(k && s);
	if (!k || !s)
		goto out;
	has_inlined(k);
	n = mw_sym_unwind(s, &k->c, ips, MAXF);
	expect_frame(s, k->c.pid, ips, n, &at, "capture_here", "test_ustack.c", line_capture);
	expect_frame(s, k->c.pid, ips, n, &at, "inlined_step", "test_ustack.c", line_inl);
	CHECK_EQ_INT(at, 2);
	CHECK(line_inl_outer > 0);
out:
	mw_sym_free(s);
	free(k);
}

static int line_thread;

static void *thread_body(void *arg)
{
	line_thread = __LINE__ + 1;
	level1(arg);
	__asm__ volatile("" ::: "memory");
	return NULL;
}

/* A capture on another thread (tid != pid, a glibc thread stack): the chain,
 * the thread's start routine, then glibc's start_thread. */
TEST(ustack_other_thread)
{
	struct capture *k = calloc(1, sizeof(*k));
	struct mw_symbolizer *s = mw_sym_new();
	uint64_t ips[MAXF];
	struct mw_frame f;
	pthread_t t;
	int n, at = 0;

	CHECK(k && s);
	if (!k || !s || pthread_create(&t, NULL, thread_body, k)) {
		CHECK(0);
		goto out;
	}
	pthread_join(t, NULL);
	CHECK(k->c.tid != k->c.pid);
	n = mw_sym_unwind(s, &k->c, ips, MAXF);
	expect_frame(s, k->c.pid, ips, n, &at, "level1", "test_ustack.c", line_l1);
	expect_frame(s, k->c.pid, ips, n, &at, "thread_body", "test_ustack.c", line_thread);
	CHECK_EQ_INT(find_func(s, k->c.pid, ips, n, at, "start_thread", &f), at);
out:
	mw_sym_free(s);
	free(k);
}

/* The end of the mapping that holds addr in this process, 0 if none. */
static uint64_t mapping_end(uint64_t addr)
{
	FILE *f = fopen("/proc/self/maps", "r");
	unsigned long lo, hi;
	uint64_t end = 0;
	char line[512];

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "%lx-%lx", &lo, &hi) == 2 && addr >= lo && addr < hi)
			end = hi;
	if (f)
		fclose(f);
	return end;
}

/* A thread's stack top: a copy cut there unwinds to the same frames as the whole copy, it
 * leaves out glibc's thread descriptor and TLS at the top of the thread's stack mapping, and
 * a copy cut 8 bytes shorter no longer reaches the outermost frame. */
TEST(ustack_stack_top_of_a_thread)
{
	struct capture *k = calloc(1, sizeof(*k));
	struct mw_symbolizer *s = mw_sym_new();
	uint64_t ips[MAXF], cut_ips[MAXF], top, rsp, end;
	struct mw_ustack_capture cut;
	pthread_t t;
	int n, m;

	CHECK(k && s);
	if (!k || !s || pthread_create(&t, NULL, thread_body, k)) {
		CHECK(0);
		goto out;
	}
	pthread_join(t, NULL);
	rsp = k->c.regs[7];
	end = mapping_end(rsp);
	n = mw_sym_unwind(s, &k->c, ips, MAXF);
	top = mw_sym_last_top(s);
	CHECK(top > rsp && top <= rsp + k->c.stack_len);
	CHECK(end && top + 1024 < end); /* the descriptor and TLS above stay out */
	/* The cached unwind gives the same top. */
	CHECK_EQ_INT(mw_sym_unwind(s, &k->c, ips, MAXF), n);
	CHECK_EQ_HEX(mw_sym_last_top(s), top);
	mw_sym_cache_enable(s, 0);
	cut = k->c;
	cut.stack_len = (uint32_t)(top - rsp);
	m = mw_sym_unwind(s, &cut, cut_ips, MAXF);
	CHECK_EQ_INT(m, n);
	CHECK(n > 0 && m == n && !memcmp(ips, cut_ips, (size_t)n * sizeof(ips[0])));
	CHECK_EQ_HEX(mw_sym_last_top(s), top);
	cut.stack_len -= 8;
	mw_sym_unwind(s, &cut, cut_ips, MAXF);
	CHECK_EQ_HEX(mw_sym_last_top(s), 0);
out:
	mw_sym_free(s);
	free(k);
}

static int line_entry, line_entry_caller, line_test_entry;

/* What a uprobe at a function's entry sees: pc = the function's first byte,
 * [rsp] = the return address into its caller. Built here by pushing a return
 * address, copying the stack while it is there, and never making the call.
 * len must not run past the stack's end (the caller measures it). */
__attribute__((noinline, noipa)) static void capture_entry_of(struct capture *k, const void *fn,
							      uint32_t len)
{
	register uint64_t *r __asm__("r8") = k->c.regs;
	uint8_t *dst = k->stack;
	uint32_t n = len;

	line_entry = __LINE__ + 1;
	__asm__ volatile("lea 2f(%%rip), %%rax\n\t"
			 "push %%rax\n\t" /* the return address a call would push */
			 "mov %%rsp, 56(%2)\n\t"
			 "mov %%rbp, 48(%2)\n\t"
			 "mov %%rbx, 24(%2)\n\t"
			 "mov %%r12, 96(%2)\n\t"
			 "mov %%r13, 104(%2)\n\t"
			 "mov %%r14, 112(%2)\n\t"
			 "mov %%r15, 120(%2)\n\t"
			 "mov %3, 128(%2)\n\t" /* pc = fn */
			 "mov %%rsp, %%rsi\n\t"
			 "rep movsb\n\t" /* rcx bytes from rsp to rdi */
			 "pop %%rax\n"
			 "2:\n\t"
			 : "+D"(dst), "+c"(n)
			 : "r"(r), "r"(fn)
			 : "rax", "rsi", "memory");
	k->c.pid = (uint32_t)getpid();
	k->c.tid = (uint32_t)gettid();
	k->c.stack = k->stack;
	k->c.stack_len = len;
}

__attribute__((noinline)) static void entry_caller(struct capture *k, uint32_t len)
{
	line_entry_caller = __LINE__ + 1;
	capture_entry_of(k, (const void *)&malloc, len);
	__asm__ volatile("" ::: "memory");
}

/* The capture of a uprobe on libc's malloc: frame 0 is malloc itself, then
 * the caller's line, then on up; mw_sym_resolve tells the entry pc from the
 * return addresses by itself. */
TEST(ustack_probe_at_libc_entry)
{
	struct capture *k = calloc(1, sizeof(*k));
	struct mw_symbolizer *s = mw_sym_new();
	uint64_t ips[MAXF], sp;
	struct mw_frame f;
	uint32_t avail;
	int n, at = 1;

	CHECK(k && s);
	if (!k || !s)
		goto out;
	/* The copy starts lower, in capture_entry_of: what is mapped above this
	 * rsp (the main stack may end 3 KiB above it) is safe to copy from there. */
	__asm__ volatile("mov %%rsp, %0" : "=r"(sp));
	avail = mw_ustack_read(getpid(), sp, k->stack, 4096);
	CHECK(avail >= 512);
	if (avail < 512)
		goto out;
	line_test_entry = __LINE__ + 1;
	entry_caller(k, avail);
	n = mw_sym_unwind(s, &k->c, ips, MAXF);
	CHECK(n >= 4);
	CHECK_EQ_HEX(ips[0], (uint64_t)(uintptr_t)&malloc);
	CHECK_EQ_INT(mw_sym_resolve(s, k->c.pid, ips[0], &f), 0);
	CHECK(f.func && strstr(f.func, "malloc"));
	CHECK_EQ_INT(f.offset, 0);
	CHECK(f.module && strstr(f.module, LIBC_MODULE));
	/* mw_sym_resolve (no hint) and mw_sym_resolve_ip agree on the callers. */
	CHECK_EQ_INT(mw_sym_resolve(s, k->c.pid, ips[1], &f), 0);
	CHECK_EQ_STR(f.func, "capture_entry_of");
	CHECK(ends_with(f.file, "test_ustack.c"));
	CHECK_EQ_INT(f.line, line_entry);
	expect_frame(s, k->c.pid, ips, n, &at, "entry_caller", "test_ustack.c", line_entry_caller);
	expect_frame(s, k->c.pid, ips, n, &at, "ustack_probe_at_libc_entry", "test_ustack.c",
		     line_test_entry);
out:
	mw_sym_free(s);
	free(k);
}

/* Another process, a PIE: stopped by its own raise(SIGSTOP) in
 * main -> outer_fn -> middle_fn -> inner_fn; unwound and symbolized through
 * /proc/PID, the load bias applied. */
TEST(ustack_other_process_pie)
{
	static const char *chain[] = { "inner_fn", "middle_fn", "outer_fn", "main" };
	struct capture *k = calloc(1, sizeof(*k));
	struct mw_symbolizer *s = mw_sym_new();
	uint64_t ips[MAXF];
	struct mw_frame f;
	int n, at = 0;
	pid_t pid = -1;

	CHECK(k && s);
	if (!k || !s || (pid = capture_target(NULL, k)) < 0)
		goto out;
	n = mw_sym_unwind(s, &k->c, ips, MAXF);
	CHECK(n >= 5);
	/* The stop is inside libc (raise's syscall), below the workload's chain. */
	CHECK_EQ_INT(mw_sym_resolve_ip(s, (uint32_t)pid, ips[0], 0, &f), 0);
	CHECK(f.module && strstr(f.module, "libc.so"));
	for (size_t i = 0; i < sizeof(chain) / sizeof(chain[0]); i++) {
		int want = mark_line(target_src, chain[i]);

		CHECK(want > 0);
		expect_frame(s, (uint32_t)pid, ips, n, &at, chain[i], "ustack_target.c", want);
	}
	/* A PIE: the frames are far above the file's vaddrs, the load bias applied. */
	CHECK_EQ_INT(mw_sym_resolve_ip(s, (uint32_t)pid, ips[at - 1], 1, &f), 0);
	CHECK(ends_with(f.module, "/ustack_target"));
	CHECK(ips[at - 1] > 0x100000000ull);
	end_target(pid);
	pid = -1;
	/* The process is gone: its state can be dropped, and new work fails cleanly. */
	mw_sym_invalidate(s, k->c.pid);
	CHECK_EQ_INT(mw_sym_unwind(s, &k->c, ips, MAXF), -ESRCH);
	CHECK_EQ_INT(mw_sym_resolve_ip(s, k->c.pid, k->c.regs[16], 0, &f), -ESRCH);
out:
	if (pid > 0)
		end_target(pid);
	mw_sym_free(s);
	free(k);
}

/* The same chain through fp_tramp, assembly with a frame pointer and no CFI:
 * libdwfl finds no FDE for its pc and must use the frame pointer. */
TEST(ustack_frame_pointer_fallback)
{
	struct capture *k = calloc(1, sizeof(*k));
	struct mw_symbolizer *s = mw_sym_new();
	uint64_t ips[MAXF];
	struct mw_frame f;
	int n, at = 0, i_tramp;
	pid_t pid = -1;

	CHECK(k && s);
	if (!k || !s || (pid = capture_target("-f", k)) < 0)
		goto out;
	n = mw_sym_unwind(s, &k->c, ips, MAXF);
	expect_frame(s, (uint32_t)pid, ips, n, &at, "inner_fn", "ustack_target.c",
		     mark_line(target_src, "inner_fn"));
	/* No line table for hand-written assembly: the name comes from .symtab. */
	i_tramp = find_func(s, (uint32_t)pid, ips, n, at, "fp_tramp", &f);
	CHECK_EQ_INT(i_tramp, at);
	CHECK(f.file == NULL && f.line == 0);
	at = i_tramp + 1;
	expect_frame(s, (uint32_t)pid, ips, n, &at, "outer_fn", "ustack_target.c",
		     mark_line(target_src, "outer_fn"));
	expect_frame(s, (uint32_t)pid, ips, n, &at, "main", "ustack_target.c",
		     mark_line(target_src, "main"));
	CHECK_EQ_INT(at, i_tramp + 3); /* nothing lost or invented around the trampoline */
	/* The symbols, without the unwind: fp_tramp from .symtab with its offset. */
	CHECK_EQ_INT(mw_sym_resolve(s, (uint32_t)pid, ips[i_tramp], &f), 0);
	CHECK_EQ_STR(f.func, "fp_tramp");
	CHECK(f.offset > 0 && f.offset < 0x20);
out:
	if (pid > 0)
		end_target(pid);
	mw_sym_free(s);
	free(k);
}

/* A file deleted after it was mapped: no path reaches it any more (as with a
 * target in another mount namespace), only /proc/PID/map_files, which needs
 * root (CAP_SYS_ADMIN). */
TEST(ustack_deleted_file_via_map_files)
{
	struct capture *k = calloc(1, sizeof(*k));
	struct mw_symbolizer *s = mw_sym_new();
	char dir[] = "/tmp/mw-ustack-XXXXXX", copy[64], cmd[256];
	uint64_t ips[MAXF];
	struct mw_frame f;
	int n, at = 0;
	pid_t pid = -1;

	CHECK(k && s);
	if (!k || !s)
		goto out;
	if (geteuid() != 0) {
		printf("  ustack: map_files needs root; deleted-file case not run\n");
		goto out;
	}
	CHECK(mkdtemp(dir) != NULL);
	snprintf(copy, sizeof(copy), "%s/ustack_target", dir);
	snprintf(cmd, sizeof(cmd), "cp %s %s", target_wl, copy);
	CHECK_EQ_INT(system(cmd), 0);
	pid = capture_target_at(copy, NULL, k);
	unlink(copy);
	rmdir(dir);
	if (pid < 0)
		goto out;
	n = mw_sym_unwind(s, &k->c, ips, MAXF);
	expect_frame(s, (uint32_t)pid, ips, n, &at, "inner_fn", "ustack_target.c",
		     mark_line(target_src, "inner_fn"));
	expect_frame(s, (uint32_t)pid, ips, n, &at, "middle_fn", "ustack_target.c",
		     mark_line(target_src, "middle_fn"));
	CHECK_EQ_INT(mw_sym_resolve_ip(s, (uint32_t)pid, ips[at - 1], 1, &f), 0);
	CHECK(f.module && strstr(f.module, "(deleted)"));
out:
	if (pid > 0)
		end_target(pid);
	mw_sym_free(s);
	free(k);
}

/* Code mapped after the process state was built (dlopen) is unknown until
 * mw_sym_invalidate; then it resolves. */
TEST(ustack_dlopen_then_invalidate)
{
	struct mw_symbolizer *s = mw_sym_new();
	uint32_t me = (uint32_t)getpid();
	bool was_loaded = dlopen("libz.so.1", RTLD_NOW | RTLD_NOLOAD) != NULL;
	struct mw_frame f;
	void *h = NULL, *fn;

	CHECK(s != NULL);
	if (!s)
		return;
	CHECK_EQ_INT(mw_sym_resolve_ip(s, me, (uint64_t)(uintptr_t)&level1, 0, &f), 0);
	CHECK_EQ_STR(f.func, "level1");
	h = dlopen("libz.so.1", RTLD_NOW | RTLD_LOCAL);
	CHECK(h != NULL);
	fn = h ? dlsym(h, "zlibVersion") : NULL;
	CHECK(fn != NULL);
	if (!fn)
		goto out;
	CHECK_EQ_INT(mw_sym_resolve_ip(s, me, (uint64_t)(uintptr_t)fn, 0, &f), 0);
	if (!was_loaded)
		CHECK(f.module == NULL && f.func == NULL);
	mw_sym_invalidate(s, me);
	CHECK_EQ_INT(mw_sym_resolve_ip(s, me, (uint64_t)(uintptr_t)fn, 0, &f), 0);
	CHECK(f.module && strstr(f.module, "libz.so"));
	CHECK_EQ_STR(f.func, "zlibVersion");
	CHECK_EQ_INT(f.offset, 0);
out:
	if (h)
		dlclose(h);
	mw_sym_free(s);
}

/* A C function under a C++ mangled name: what the symtab of C++ code holds. */
__attribute__((noinline)) int mangled_fn(int x) __asm__("_ZN2mw6leaker5allocEi");
__attribute__((noinline)) int mangled_fn(int x)
{
	__asm__ volatile("" ::: "memory");
	return x + 1;
}

TEST(ustack_demangles_cxx_names)
{
	struct mw_symbolizer *s = mw_sym_new();
	struct mw_frame f;

	CHECK(s != NULL);
	if (!s)
		return;
	CHECK_EQ_INT(mw_sym_resolve(s, (uint32_t)getpid(), (uint64_t)(uintptr_t)&mangled_fn, &f),
		     0);
	CHECK_EQ_STR(f.func, "mw::leaker::alloc(int)");
	CHECK_EQ_INT(f.offset, 0);
	CHECK(ends_with(f.file, "test_ustack.c") && f.line > 0);
	mw_sym_free(s);
}

/* ---- pure parts ------------------------------------------------------- */

TEST(ustack_maps_modules)
{
	static const char text[] =
		"55d0a1a00000-55d0a1a01000 r--p 00000000 fe:00 100 /usr/bin/app\n"
		"55d0a1a01000-55d0a1a02000 r-xp 00001000 fe:00 100 /usr/bin/app\n"
		"55d0a1a02000-55d0a1a03000 r--p 00002000 fe:00 100 /usr/bin/app\n"
		"55d0a1a03000-55d0a1a04000 rw-p 00003000 fe:00 100 /usr/bin/app\n"
		"55d0a2000000-55d0a2021000 rw-p 00000000 00:00 0 [heap]\n"
		"7f0000000000-7f0000100000 r--p 00000000 fe:00 7 /usr/lib/locale/locale-archive\n"
		"7f00001f0000-7f0000200000 r--p 00000000 fe:00 200 /usr/lib/libc.so.6\n"
		"7f0000200000-7f0000228000 r--p 00000000 fe:00 200 /usr/lib/libc.so.6\n"
		"7f0000228000-7f00003bd000 r-xp 00028000 fe:00 200 /usr/lib/libc.so.6\n"
		"7f00003bd000-7f0000415000 r--p 001bd000 fe:00 200 /usr/lib/libc.so.6\n"
		"7f0000500000-7f0000600000 r--p 00000000 fe:00 200 /usr/lib/libc.so.6\n"
		"7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0 [stack]\n"
		"7ffd000fe000-7ffd00100000 r-xp 00000000 00:00 0 [vdso]\n";
	struct mw_umods m = { 0 };

	CHECK_EQ_INT(mw_umaps_parse(text, &m), 0);
	/* app and libc; data-only files and the other libc runs (the file mapped
	 * whole right below and elsewhere, as libelf does) dropped */
	CHECK_EQ_INT(m.n, 2);
	if (m.n == 2) {
		CHECK_EQ_STR(m.m[0].path, "/usr/bin/app");
		CHECK_EQ_HEX(m.m[0].low, 0x55d0a1a00000ull);
		CHECK_EQ_HEX(m.m[0].high, 0x55d0a1a04000ull);
		CHECK_EQ_HEX(m.m[0].first_off, 0);
		CHECK_EQ_INT(m.m[0].inode, 100);
		/* The executable mapping: a frame's file offset when the file cannot be read. */
		CHECK_EQ_HEX(m.m[0].exec_start, 0x55d0a1a01000ull);
		CHECK_EQ_HEX(m.m[0].exec_off, 0x1000);
		CHECK_EQ_STR(m.m[1].path, "/usr/lib/libc.so.6");
		CHECK_EQ_HEX(m.m[1].low, 0x7f0000200000ull);
		CHECK_EQ_HEX(m.m[1].high, 0x7f0000415000ull);
		CHECK_EQ_HEX(m.m[1].exec_start, 0x7f0000228000ull);
		CHECK_EQ_HEX(m.m[1].exec_end, 0x7f00003bd000ull);
		CHECK_EQ_HEX(m.m[1].exec_off, 0x28000);
	}
	CHECK_EQ_INT(mw_umaps_parse("not a maps line\n", &m), -EINVAL);
	CHECK_EQ_INT(m.n, 0);
	CHECK_EQ_INT(mw_umaps_parse("", &m), 0);
	CHECK_EQ_INT(m.n, 0);
	mw_umaps_clear(&m);
}

/* The perf map convention: "START SIZE NAME", hex with or without 0x, later lines win. */
TEST(ustack_perfmap_parse_and_lookup)
{
	static const char text[] = "7f0000001000 100 JS:*hot /app/x.js:3:1\n"
				   "0x7f0000002000 0x40 LazyCompile:~cold x.js:9\n"
				   "not a line\n"
				   "7f0000003000 0 empty\n"
				   "7f0000003000 zz bad size\n"
				   "7f0000001000 80 JS:*hot (recompiled)\n"
				   "7f0000004000 10 half-written";
	struct mw_perfmap m;

	CHECK_EQ_INT(mw_perfmap_parse(text, sizeof(text) - 1, &m), 0);
	CHECK_EQ_INT(m.n, 3);
	CHECK(mw_perfmap_lookup(&m, 0x7f0000000fffull) == NULL);
	/* Both lines cover it: the later one names it. */
	CHECK_EQ_STR(mw_perfmap_lookup(&m, 0x7f0000001000ull), "JS:*hot (recompiled)");
	CHECK_EQ_STR(mw_perfmap_lookup(&m, 0x7f000000107full), "JS:*hot (recompiled)");
	/* Past the later one's end, within the first one's. */
	CHECK_EQ_STR(mw_perfmap_lookup(&m, 0x7f0000001080ull), "JS:*hot /app/x.js:3:1");
	CHECK(mw_perfmap_lookup(&m, 0x7f0000001100ull) == NULL);
	CHECK_EQ_STR(mw_perfmap_lookup(&m, 0x7f000000203full), "LazyCompile:~cold x.js:9");
	CHECK(mw_perfmap_lookup(&m, 0x7f0000002040ull) == NULL);
	/* A last line without its newline is still being written. */
	CHECK(mw_perfmap_lookup(&m, 0x7f0000004000ull) == NULL);
	mw_perfmap_clear(&m);
	CHECK_EQ_INT(mw_perfmap_parse("", 0, &m), 0);
	CHECK(mw_perfmap_lookup(&m, 0x1000) == NULL);
	mw_perfmap_clear(&m);
}

/* A fake copy: return addresses at offsets 8 and 40. */
static void fake_copy(uint8_t *buf, size_t len, uint64_t r1, uint64_t r2)
{
	memset(buf, 0xab, len);
	memcpy(buf + 8, &r1, 8);
	memcpy(buf + 40, &r2, 8);
}

TEST(ustack_cache_pure)
{
	struct mw_ucache c;
	uint8_t buf[64];
	uint64_t ips[3] = { 0x1000, 0x2000, 0x3000 }, out[8];
	uint32_t offs[3] = { 0, 8, 40 };

	mw_ucache_init(&c, 1); /* one set of MW_UCACHE_WAYS */
	fake_copy(buf, sizeof(buf), 0x2000, 0x3000);
	CHECK_EQ_INT(mw_ucache_lookup(&c, 7, 0x1000, buf, sizeof(buf), out, 8), 0);
	mw_ucache_insert(&c, 7, ips, offs, 3, MW_UCACHE_END, sizeof(buf), 48);
	CHECK_EQ_INT(mw_ucache_lookup(&c, 7, 0x1000, buf, sizeof(buf), out, 8), 3);
	CHECK_EQ_HEX(out[2], 0x3000);
	CHECK_EQ_INT(c.hit_read_end, 48); /* where that unwind's reads ended: its stack top */
	CHECK_EQ_INT(mw_ucache_lookup(&c, 7, 0x1000, buf, sizeof(buf), out, 2), 2);
	CHECK_EQ_INT(mw_ucache_lookup(&c, 8, 0x1000, buf, sizeof(buf), out, 8), 0); /* pid */
	CHECK_EQ_INT(mw_ucache_lookup(&c, 7, 0x1001, buf, sizeof(buf), out, 8), 0); /* pc */
	CHECK_EQ_INT(mw_ucache_lookup(&c, 7, 0x1000, buf, 44, out, 8), 0);	    /* too short */
	fake_copy(buf, sizeof(buf), 0x2000, 0x3008);
	CHECK_EQ_INT(mw_ucache_lookup(&c, 7, 0x1000, buf, sizeof(buf), out, 8), 0);
	fake_copy(buf, sizeof(buf), 0x2000, 0x3000);
	buf[0] = 0; /* other words do not matter */
	CHECK_EQ_INT(mw_ucache_lookup(&c, 7, 0x1000, buf, sizeof(buf), out, 8), 3);
	/* Stopped at max 3: no answer for a caller wanting more. */
	mw_ucache_insert(&c, 9, ips, offs, 3, MW_UCACHE_MAX, sizeof(buf), 0);
	CHECK_EQ_INT(mw_ucache_lookup(&c, 9, 0x1000, buf, sizeof(buf), out, 8), 0);
	CHECK_EQ_INT(mw_ucache_lookup(&c, 9, 0x1000, buf, sizeof(buf), out, 3), 3);
	/* Stopped at the end of a 48-byte copy: fine for copies no longer. */
	mw_ucache_insert(&c, 10, ips, offs, 3, MW_UCACHE_COPY, 48, 48); /* not the end: no top */
	CHECK_EQ_INT(mw_ucache_lookup(&c, 10, 0x1000, buf, 48, out, 8), 3);
	CHECK_EQ_INT(c.hit_read_end, 0);
	CHECK_EQ_INT(mw_ucache_lookup(&c, 10, 0x1000, buf, 64, out, 8), 0);
	/* Bounded: a fifth key in a full set evicts the least recently used. */
	CHECK_EQ_INT(c.st.entries, 3);
	mw_ucache_insert(&c, 11, ips, offs, 3, MW_UCACHE_END, sizeof(buf), 0);
	mw_ucache_insert(&c, 12, ips, offs, 3, MW_UCACHE_END, sizeof(buf), 0);
	CHECK_EQ_INT(c.st.entries, MW_UCACHE_WAYS);
	CHECK_EQ_INT(c.st.evictions, 1);
	CHECK_EQ_INT(mw_ucache_lookup(&c, 7, 0x1000, buf, sizeof(buf), out, 8), 0); /* LRU gone */
	mw_ucache_drop_pid(&c, 12);
	CHECK_EQ_INT(mw_ucache_lookup(&c, 12, 0x1000, buf, sizeof(buf), out, 8), 0);
	CHECK_EQ_INT(c.st.entries, MW_UCACHE_WAYS - 1);
	mw_ucache_free(&c);
}
