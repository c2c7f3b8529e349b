// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * remapper: a mapping one thread makes and another grows, for the thread each region is
 * charged to. main maps 4 pages (16 reserved, the upper 12 unmapped again so the growth has
 * room); a thread named "grower" grows them in place to 12 pages with mremap (no MAYMOVE: in
 * place or it fails); main then grows them to 16 (in place too).
 *
 * usage: remapper [-W]
 *   -W  then print "done <pid> <addr> <grower tid>" on stderr and wait for a byte on stdin
 * Calls: main mmap 1, munmap 1, mremap 1; grower mremap 1. Regions at the end: [addr, +4P)
 * main's, [+4P, +12P) grower's, [+12P, +16P) main's.
 */
#include <pthread.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include "common.h"

#define USAGE "remapper [-W]"

static char *base;
static size_t pg;
static pid_t grower_tid;

static void grow(size_t from, size_t to)
{
	if (mremap(base, from * pg, to * pg, 0) != base)
		wl_die("mremap %zu -> %zu pages in place", from, to);
}

static void *grower(void *arg)
{
	(void)arg;
	if (pthread_setname_np(pthread_self(), "grower"))
		wl_die("setname");
	grower_tid = (pid_t)syscall(SYS_gettid);
	grow(4, 12);
	return NULL;
}

int main(int argc, char **argv)
{
	int wait_end = 0, opt;
	pthread_t t;

	while ((opt = getopt(argc, argv, "W")) != -1) {
		switch (opt) {
		case 'W': wait_end = 1; break;
		default: wl_usage(USAGE);
		}
	}
	pg = (size_t)sysconf(_SC_PAGESIZE);
	base = mmap(NULL, 16 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED || munmap(base + 4 * pg, 12 * pg))
		wl_die("mmap");
	if (pthread_create(&t, NULL, grower, NULL) || pthread_join(t, NULL))
		wl_die("thread");
	grow(12, 16);
	if (wait_end) {
		wl_say("done %d %p %d\n", (int)getpid(), (void *)base, (int)grower_tid);
		wl_wait_stdin();
	}
	return 0;
}
