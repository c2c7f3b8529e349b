// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * stacks: glibc thread stacks (user/alloc/SIGNATURES.md section 4). Creates N threads named
 * "stack-1".."stack-N" with an explicit guard size (pthread_attr_setguardsize) and the default
 * stack size (RLIMIT_STACK, 8 MiB here), all alive at once (a barrier), then joins them. With
 * -c it then creates and joins N more threads ("again-1".."again-N") with the same attributes:
 * they get the joined stacks from glibc's stack cache. The threads never malloc.
 *
 * usage: stacks [-w] [-g GUARD] [-n N] [-c]   (GUARD 0..1 MiB, default 4096; N 1..32, default 4)
 *   -w  print "ready <pid>" on stderr, wait for a byte on stdin before creating the threads
 *
 * Expected, measured with strace -f -e trace=memory (Debian 12, glibc 2.36, kernel 6.18,
 * ulimit -s 8192; stack size S = 8388608 + guard, guard rounded up to pages):
 *   -g 4096: per thread, by the main thread: mmap(NULL, 8392704, PROT_NONE,
 *     MAP_PRIVATE|MAP_ANONYMOUS|MAP_STACK) = B; mprotect(B+4096, 8388608, PROT_READ|PROT_WRITE);
 *     by the thread at exit: madvise(B, 8368128, MADV_DONTNEED).
 *   -g 0: mmap(NULL, 8388608, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_STACK) = B
 *     and no mprotect; exit: madvise(B, 8364032, MADV_DONTNEED).
 *   -g 65536: mmap(NULL, 8454144, PROT_NONE, ...|MAP_STACK) = B;
 *     mprotect(B+65536, 8388608, RW); exit: madvise(B, 8429568, MADV_DONTNEED).
 *   -c (N <= 4 with 8 MiB stacks: the cache holds 40 MiB): the second round makes no
 *     mmap/mprotect/munmap at all, only the exiting threads' madvise(DONTNEED) of the reused
 *     stacks (the same N bases as round one). With N = 5 (5 x 8392704 > 40 MiB) the joiner
 *     evicts one stack when the cache overflows: munmap(B, 8392704) by the main thread after
 *     round one's joins; round two maps one new stack (mmap + mprotect, often at the same B)
 *     and its joins evict one again (a second munmap).
 *   The main thread's own malloc (the TLS dtv of the first thread) grows brk once.
 */
#include <pthread.h>
#include <stdio.h>
#include "common.h"

#define USAGE "stacks [-w] [-g GUARD] [-n N] [-c]"
#define MAX_THREADS 32

static pthread_barrier_t alive;

static void *thread_fn(void *arg)
{
	(void)arg;
	pthread_barrier_wait(&alive);
	return NULL;
}

static void round_of(long n, long guard, const char *prefix)
{
	pthread_t th[MAX_THREADS];
	pthread_attr_t attr;
	char name[16];

	if (pthread_attr_init(&attr) || pthread_attr_setguardsize(&attr, guard))
		wl_die("pthread_attr");
	pthread_barrier_init(&alive, NULL, n + 1);
	for (long i = 0; i < n; i++) {
		if (pthread_create(&th[i], &attr, thread_fn, NULL))
			wl_die("pthread_create");
		snprintf(name, sizeof(name), "%s-%ld", prefix, i + 1);
		if (pthread_setname_np(th[i], name))
			wl_die("setname");
	}
	pthread_barrier_wait(&alive);
	for (long i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&alive);
	pthread_attr_destroy(&attr);
}

int main(int argc, char **argv)
{
	long guard = 4096, n = 4;
	int wait_start = 0, cache = 0;
	int opt;

	while ((opt = getopt(argc, argv, "wg:n:c")) != -1) {
		switch (opt) {
		case 'w': wait_start = 1; break;
		case 'g': guard = wl_num(optarg, USAGE); break;
		case 'n': n = wl_num(optarg, USAGE); break;
		case 'c': cache = 1; break;
		default: wl_usage(USAGE);
		}
	}
	if (optind != argc || n < 1 || n > MAX_THREADS || guard > (1L << 20))
		wl_usage(USAGE);
	wl_check_page_size();
	if (wait_start)
		wl_handshake("ready");
	round_of(n, guard, "stack");
	if (cache)
		round_of(n, guard, "again");
	return 0;
}
