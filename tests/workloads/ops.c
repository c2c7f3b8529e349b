// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * ops: every interesting case of the six memory syscalls, each in a named thread, with exactly
 * known results. Threads run one after another (each is joined before the next starts), so the
 * order of all calls is deterministic. Nothing is printed during the measured phase.
 *
 * usage: ops [-w] [-W] [-P]
 *   -w  print "ready <pid>" on stderr and wait for a byte on stdin before the measured phase
 *   -W  after the measured phase print "done <pid>" on stderr and wait for a byte again
 *   -P  create (and name) all threads before the -w handshake; each then waits for its turn,
 *       so a tracer attached with -p finds them already running
 *
 * Expected per thread (p = 4096; verified with strace -f on Debian 12, glibc 2.36, kernel 6.18;
 * tests/e2e/expect.py holds the same numbers). "vm" is the change of the process's mapped bytes.
 * A thread's "mapped" counts the bytes of the mappings it created (a MAP_FIXED mmap maps its
 * whole length), "unmapped" the bytes of existing mappings it destroyed (including those a
 * MAP_FIXED mmap or an MREMAP_FIXED target replaced); bytes that mremap moves count as neither.
 * Every thread also does one madvise(stack, ~8M, MADV_DONTNEED) = 0 when it exits (glibc
 * releasing its stack), counted below.
 *
 * mw-mapper   a=mmap(NULL,16p,RW,PRIVATE|ANON)          vm +65536
 *             r=mmap(NULL,32p,NONE,PRIVATE|ANON|NORESERVE) vm +131072
 *             munmap(r+16p,16p)                         vm -65536   (tail of r)
 *             mmap(r+8p,16p,RW,PRIVATE|ANON|FIXED)      vm +32768   (8p over r, 8p new)
 *             mmap(a,16p,READ,PRIVATE|ANON|FIXED)       vm 0        (entirely over a)
 *             mmap(NULL,0,...)                          EINVAL
 *             mmap(NULL,1<<50,RW,PRIVATE|ANON|NORESERVE) ENOMEM     (larger than the user VA)
 *             mmap(NULL,p,READ,PRIVATE,1000,0)          EBADF
 *             munmap(a,16p)                             vm -65536
 *             munmap(r,24p)                             vm -98304
 *   calls mmap 7, munmap 3, madvise 1; errors 3; mapped 327680, unmapped 327680, net 0
 * mw-unmapper b=mmap(NULL,16p,RW)                       vm +65536
 *             munmap(b,2p) head, munmap(b+14p,2p) tail, munmap(b+6p,2p) middle: vm -8192 each
 *             munmap(b+6p,4p)                           vm -8192    (half of it was unmapped)
 *             munmap(b+2p+1,p)                          EINVAL      (unaligned)
 *             munmap(b+2p,0)                            EINVAL
 *             munmap(b,16p)                             vm -32768   (only 8p still mapped)
 *             munmap(b,16p)                             vm 0        (nothing mapped, returns 0)
 *   calls mmap 1, munmap 8, madvise 1; errors 2; mapped 65536, unmapped 65536, net 0
 * mw-protect  c=mmap(NULL,16p,NONE,PRIVATE|ANON)        vm +65536
 *             mprotect(c+4p,8p,RW)  mprotect(c+6p,2p,READ)              (splits, vm 0)
 *             mprotect(c+1,p,READ)                      EINVAL
 *             munmap(c+14p,2p)                          vm -8192
 *             mprotect(c+14p,2p,READ)                   ENOMEM      (unmapped range)
 *             mprotect(c,2p,RW)
 *             kept: [RW 2p][NONE 2p][RW 2p][R 2p][RW 4p][NONE 2p]
 *   calls mmap 1, munmap 1, mprotect 5, madvise 1; errors 2; mapped 65536, unmapped 8192,
 *   net 57344
 * mw-remap    d=mmap(NULL,16p,RW)                       vm +65536
 *             munmap(d+8p,8p)                           vm -32768
 *             mremap(d,8p,16p,0) = d                    vm +32768   (grow in place)
 *             mremap(d,16p,4p,0) = d                    vm -49152   (shrink)
 *             f=mmap(NULL,8p,RW)                        vm +32768
 *             mprotect(f+4p,4p,READ)                                (f's first vma: 4p)
 *             mremap(f,4p,8p,0)                         ENOMEM      (cannot grow in place)
 *             g=mremap(f,4p,8p,MAYMOVE) != f            vm +16384   (moved)
 *             t=mmap(NULL,8p,NONE)                      vm +32768
 *             mremap(g,8p,8p,MAYMOVE|FIXED,t) = t       vm -32768   (replaces t's mapping)
 *             mremap(d,4p,4p,MAYMOVE|FIXED,g) = g       vm 0        (g is free again)
 *             mremap(t,8p,0,0)                          EINVAL
 *             kept: t (8p RW), g (4p RW), f+4p (4p READ)
 *   calls mmap 3, munmap 1, mprotect 1, mremap 7, madvise 1; errors 2; mapped 180224,
 *   unmapped 114688, net 65536
 * mw-advise   h=mmap(NULL,16p,RW), all pages touched    vm +65536
 *             madvise(h,16p,DONTNEED)  madvise(h+4p,4p,FREE)            (vm 0)
 *             madvise(h+1,p,DONTNEED)                   EINVAL
 *             munmap(h+8p,8p)                           vm -32768
 *             madvise(h+8p,8p,DONTNEED)                 ENOMEM
 *             kept: h (8p RW)
 *   calls mmap 1, munmap 1, madvise 5 (4 + stack); errors 2; mapped 65536, unmapped 32768,
 *   net 32768
 * mw-brk      S = current break (page aligned; the main arena was set up before the phase)
 *             sbrk(65536)   brk(S+65536)      vm +65536
 *             sbrk(1000)    brk(S+66536)      vm +4096   (the heap ends on a page boundary)
 *             sbrk(-33768)  brk(S+32768)      vm -36864
 *             brk(S)                          vm -32768
 *             brk(S+(1<<50)) = S              vm 0      (refused: the kernel returns the old
 *                                                        break, which strace shows as no error)
 *   calls brk 5, madvise 1; errors 0; mapped 69632, unmapped 69632, net 0
 * main        (without -P) first pthread_create: mmap(NULL,8392704,NONE,...|MAP_STACK) vm
 *             +8392704 and mprotect(guard); later threads reuse the cached stack: no syscall.
 *             calls mmap 1, mprotect 1; net 8392704.
 *             (with -P) the six threads get 1 MiB stacks (mmap(NULL,1052672,...)) before the
 *             phase; joined, they all fit glibc's 40 MiB stack cache: main makes no call at all.
 *             (With default 8 MiB stacks the cache overflows and main unmaps one or two of them
 *             depending on timing: not deterministic.)
 */
#include <pthread.h>
#include <semaphore.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include "common.h"

#define USAGE "ops [-w] [-W] [-P]"
#define RW (PROT_READ | PROT_WRITE)
#define PA (MAP_PRIVATE | MAP_ANONYMOUS)

static void expect_ok(long ret, const char *what)
{
	if (ret != 0)
		wl_die("%s failed", what);
}

static void expect_err(long ret, int err, const char *what)
{
	if (ret != -1 || errno != err)
		wl_die("%s: expected errno %d, got ret %ld", what, err, ret);
}

static char *map(void *addr, size_t len, int prot, int flags)
{
	char *p = mmap(addr, len, prot, flags, -1, 0);

	if (p == MAP_FAILED)
		wl_die("mmap(%p, %zu)", addr, len);
	return p;
}

static void *mapper(void *arg)
{
	char *a, *r;

	(void)arg;
	a = map(NULL, 16 * PG, RW, PA);
	r = map(NULL, 32 * PG, PROT_NONE, PA | MAP_NORESERVE);
	expect_ok(munmap(r + 16 * PG, 16 * PG), "munmap tail");
	if (map(r + 8 * PG, 16 * PG, RW, PA | MAP_FIXED) != r + 8 * PG)
		wl_die("MAP_FIXED half over");
	if (map(a, 16 * PG, PROT_READ, PA | MAP_FIXED) != a)
		wl_die("MAP_FIXED over");
	if (mmap(NULL, 0, RW, PA, -1, 0) != MAP_FAILED || errno != EINVAL)
		wl_die("mmap len 0");
	if (mmap(NULL, 1UL << 50, RW, PA | MAP_NORESERVE, -1, 0) != MAP_FAILED || errno != ENOMEM)
		wl_die("mmap huge");
	if (mmap(NULL, PG, PROT_READ, MAP_PRIVATE, 1000, 0) != MAP_FAILED || errno != EBADF)
		wl_die("mmap bad fd");
	expect_ok(munmap(a, 16 * PG), "munmap a");
	expect_ok(munmap(r, 24 * PG), "munmap r");
	return NULL;
}

static void *unmapper(void *arg)
{
	char *b;

	(void)arg;
	b = map(NULL, 16 * PG, RW, PA);
	expect_ok(munmap(b, 2 * PG), "munmap head");
	expect_ok(munmap(b + 14 * PG, 2 * PG), "munmap tail");
	expect_ok(munmap(b + 6 * PG, 2 * PG), "munmap middle");
	expect_ok(munmap(b + 6 * PG, 4 * PG), "munmap half-mapped");
	expect_err(munmap(b + 2 * PG + 1, PG), EINVAL, "munmap unaligned");
	expect_err(munmap(b + 2 * PG, 0), EINVAL, "munmap len 0");
	expect_ok(munmap(b, 16 * PG), "munmap rest");
	expect_ok(munmap(b, 16 * PG), "munmap nothing");
	return NULL;
}

static void *protect(void *arg)
{
	char *c;

	(void)arg;
	c = map(NULL, 16 * PG, PROT_NONE, PA);
	expect_ok(mprotect(c + 4 * PG, 8 * PG, RW), "mprotect split");
	expect_ok(mprotect(c + 6 * PG, 2 * PG, PROT_READ), "mprotect split 2");
	expect_err(mprotect(c + 1, PG, PROT_READ), EINVAL, "mprotect unaligned");
	expect_ok(munmap(c + 14 * PG, 2 * PG), "munmap tail");
	expect_err(mprotect(c + 14 * PG, 2 * PG, PROT_READ), ENOMEM, "mprotect unmapped");
	expect_ok(mprotect(c, 2 * PG, RW), "mprotect head");
	return NULL;
}

static void *remap(void *arg)
{
	char *d, *f, *g, *t;

	(void)arg;
	d = map(NULL, 16 * PG, RW, PA);
	expect_ok(munmap(d + 8 * PG, 8 * PG), "munmap d tail");
	if (mremap(d, 8 * PG, 16 * PG, 0) != d)
		wl_die("mremap grow in place");
	if (mremap(d, 16 * PG, 4 * PG, 0) != d)
		wl_die("mremap shrink");
	f = map(NULL, 8 * PG, RW, PA);
	expect_ok(mprotect(f + 4 * PG, 4 * PG, PROT_READ), "mprotect f");
	if (mremap(f, 4 * PG, 8 * PG, 0) != MAP_FAILED || errno != ENOMEM)
		wl_die("mremap cannot grow");
	g = mremap(f, 4 * PG, 8 * PG, MREMAP_MAYMOVE);
	if (g == MAP_FAILED || g == f)
		wl_die("mremap move");
	t = map(NULL, 8 * PG, PROT_NONE, PA);
	if (mremap(g, 8 * PG, 8 * PG, MREMAP_MAYMOVE | MREMAP_FIXED, t) != t)
		wl_die("mremap fixed over t");
	if (mremap(d, 4 * PG, 4 * PG, MREMAP_MAYMOVE | MREMAP_FIXED, g) != g)
		wl_die("mremap fixed to g");
	if (mremap(t, 8 * PG, 0, 0) != MAP_FAILED || errno != EINVAL)
		wl_die("mremap new_len 0");
	return NULL;
}

static void *advise(void *arg)
{
	char *h;

	(void)arg;
	h = map(NULL, 16 * PG, RW, PA);
	for (size_t i = 0; i < 16; i++)
		h[i * PG] = 1;
	expect_ok(madvise(h, 16 * PG, MADV_DONTNEED), "madvise dontneed");
	expect_ok(madvise(h + 4 * PG, 4 * PG, MADV_FREE), "madvise free");
	expect_err(madvise(h + 1, PG, MADV_DONTNEED), EINVAL, "madvise unaligned");
	expect_ok(munmap(h + 8 * PG, 8 * PG), "munmap h tail");
	expect_err(madvise(h + 8 * PG, 8 * PG, MADV_DONTNEED), ENOMEM, "madvise unmapped");
	return NULL;
}

static void *brker(void *arg)
{
	char *s;

	(void)arg;
	s = sbrk(0); /* no syscall: glibc caches the break */
	if (((uintptr_t)s & (PG - 1)) != 0)
		wl_die("break %p not page aligned", (void *)s);
	if (sbrk(65536) != s)
		wl_die("sbrk +65536");
	if (sbrk(1000) != s + 65536)
		wl_die("sbrk +1000");
	if (sbrk(-33768) != s + 66536)
		wl_die("sbrk -33768");
	expect_ok(brk(s), "brk back");
	/* Refused (beyond the user address space): the syscall returns the unchanged break,
	 * glibc turns that into ENOMEM; strace shows no error. */
	expect_err(brk(s + (1UL << 50)), ENOMEM, "brk too high");
	if (sbrk(0) != s)
		wl_die("break moved");
	return NULL;
}

static const struct step {
	const char *name;
	void *(*fn)(void *);
} steps[] = {
	{ "mw-mapper", mapper }, { "mw-unmapper", unmapper }, { "mw-protect", protect },
	{ "mw-remap", remap },	 { "mw-advise", advise },     { "mw-brk", brker },
};
#define N_STEPS (sizeof(steps) / sizeof(steps[0]))

static sem_t turn[N_STEPS];
static bool prespawn;

static void *thread_main(void *arg)
{
	const struct step *st = arg;

	/* Named by the thread itself, before any of its operations. */
	if (pthread_setname_np(pthread_self(), st->name))
		wl_die("setname");
	if (prespawn) {
		while (sem_wait(&turn[st - steps]) && errno == EINTR)
			;
	}
	return st->fn(NULL);
}

int main(int argc, char **argv)
{
	bool wait_start = false, wait_end = false;
	pthread_t th[N_STEPS];
	int opt;

	while ((opt = getopt(argc, argv, "wWP")) != -1) {
		switch (opt) {
		case 'w': wait_start = true; break;
		case 'W': wait_end = true; break;
		case 'P': prespawn = true; break;
		default: wl_usage(USAGE);
		}
	}
	if (optind != argc)
		wl_usage(USAGE);
	wl_check_page_size();
	wl_prefault_stack();
	/* Set up the main arena now: pthread_create callocs the DTV, which must not brk later. */
	{
		void *volatile p = malloc(1); /* volatile: keep gcc from eliding the pair */

		free(p);
	}

	if (prespawn) {
		pthread_attr_t attr;

		/* Small stacks: all six fit glibc's stack cache when joined, so main makes no
		 * munmap whose count would depend on timing. */
		if (pthread_attr_init(&attr) || pthread_attr_setstacksize(&attr, 1 << 20))
			wl_die("pthread_attr");
		for (size_t i = 0; i < N_STEPS; i++) {
			if (sem_init(&turn[i], 0, 0))
				wl_die("sem_init");
			if (pthread_create(&th[i], &attr, thread_main, (void *)&steps[i]))
				wl_die("pthread_create");
		}
		pthread_attr_destroy(&attr);
	}
	if (wait_start)
		wl_handshake("ready");

	/* Measured phase. */
	for (size_t i = 0; i < N_STEPS; i++) {
		if (prespawn) {
			sem_post(&turn[i]);
		} else if (pthread_create(&th[i], NULL, thread_main, (void *)&steps[i])) {
			wl_die("pthread_create");
		}
		if (pthread_join(th[i], NULL))
			wl_die("pthread_join");
	}

	if (wait_end)
		wl_handshake("done");
	return 0;
}
