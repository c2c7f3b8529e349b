// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * renamer: a thread that changes its name between two phases of known calls, for the metrics'
 * thread label (counts made under a name stay with it).
 *
 * usage: renamer [-w] [-n PAIRS]     (PAIRS default 100)
 *   -w  print "ready <pid>" on stderr and wait for a byte on stdin first
 * One thread, which first names itself "rn-before": PAIRS x (mmap(NULL, 4096, RW, PRIVATE|ANON) + munmap),
 * then "phase1 <pid>" on stderr and a wait for a byte on stdin; then it renames itself
 * "rn-after" (pthread_setname_np), does 2 x PAIRS pairs, prints "phase2 <pid>", waits for a byte
 * again and exits; main joins it and exits 0.
 *   -> under rn-before: mmap PAIRS, munmap PAIRS; under rn-after: mmap 2 PAIRS, munmap 2 PAIRS,
 *      madvise 1 (glibc frees the stack at thread exit); errors 0.
 */
#include <pthread.h>
#include <stdbool.h>
#include <sys/mman.h>
#include "common.h"

#define USAGE "renamer [-w] [-n PAIRS]"

static long pairs = 100;

static void do_pairs(long n)
{
	for (long i = 0; i < n; i++) {
		void *p =
			mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED)
			wl_die("mmap");
		if (munmap(p, PG))
			wl_die("munmap");
	}
}

static void *thread(void *arg)
{
	(void)arg;
	/* Named by itself before any memory call (prctl on itself: no mmap). */
	if (pthread_setname_np(pthread_self(), "rn-before"))
		wl_die("setname");
	do_pairs(pairs);
	wl_handshake("phase1");
	if (pthread_setname_np(pthread_self(), "rn-after"))
		wl_die("setname");
	do_pairs(2 * pairs);
	wl_handshake("phase2");
	return NULL;
}

int main(int argc, char **argv)
{
	bool wait_first = false;
	pthread_t t;
	int c;

	while ((c = getopt(argc, argv, "wn:")) != -1) {
		switch (c) {
		case 'w': wait_first = true; break;
		case 'n': pairs = wl_num(optarg, USAGE); break;
		default: wl_usage(USAGE);
		}
	}
	if (optind != argc || pairs < 1)
		wl_usage(USAGE);
	wl_check_page_size();
	if (wait_first)
		wl_handshake("ready");
	if (pthread_create(&t, NULL, thread, NULL))
		wl_die("pthread_create");
	pthread_join(t, NULL);
	return 0;
}
