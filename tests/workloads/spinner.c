// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * spinner: a tight mmap+munmap loop, as fast as the machine goes. For overhead and ring-buffer
 * drop tests and for the benchmark. Prints nothing; exits 0.
 *
 * usage: spinner [-w] [-a] [-C] [-n ITERS] [-s BYTES] [-t THREADS] [-u USEC]
 *   -w          print "ready <pid>" on stderr and wait for a byte on stdin first
 *   -n ITERS    iterations per looping thread (default 100000)
 *   -s BYTES    mapping size (default 4096)
 *   -t THREADS  0 (default): the main thread loops; T > 0: T threads named "spin-1".."spin-T"
 *               loop concurrently and main only creates and joins them
 *   -u USEC     sleep USEC microseconds after each iteration (default 0: none), so a tracer
 *               reads the first calls' records while the loop goes on
 *   -C          at exit print "cpu_us USER SYS" on stderr: the process's own CPU time (a
 *               tracer's probes run in it: the bench's measure that waiting for a CPU, on a
 *               busy host, does not change)
 *   -a          alternate callers: even iterations mmap+munmap from map_even(), odd ones from
 *               map_odd(), two functions alike (same frame, same stack pointer at the call),
 *               so only the return address tells the calls' stacks apart (--stacks' hints)
 *
 * One iteration: mmap(NULL, BYTES, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = A ;
 * munmap(A, BYTES) = 0. Per looping thread: mmap ITERS, munmap ITERS, errors 0, mapped and
 * unmapped ITERS * round_up(BYTES, 4096), net 0 (spin-N threads also madvise their stack once at
 * exit; with -t, main does the stack mmap+mprotect per thread, before -w's handshake is over).
 */
#include <pthread.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include "common.h"

#define USAGE "spinner [-w] [-a] [-C] [-n ITERS] [-s BYTES] [-t THREADS] [-u USEC]"
#define MAX_THREADS 64

static long iters = 100000;
static size_t size = 4096;
static long pause_us;
static pthread_barrier_t start;

static int alternate, say_cpu;

static void map_unmap(void)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		wl_die("mmap");
	if (munmap(p, size))
		wl_die("munmap");
}

static __attribute__((noinline)) void map_even(void)
{
	map_unmap();
	__asm__ volatile("" ::: "memory"); /* not a tail call: map_even stays on the stack */
}

static __attribute__((noinline)) void map_odd(void)
{
	map_unmap();
	__asm__ volatile("" ::: "memory");
}

static void spin(void)
{
	for (long i = 0; i < iters; i++) {
		if (!alternate)
			map_unmap();
		else if (i % 2)
			map_odd();
		else
			map_even();
		if (pause_us)
			usleep((useconds_t)pause_us);
	}
}

static void *thread_main(void *arg)
{
	char name[16];

	snprintf(name, sizeof(name), "spin-%ld", (long)arg);
	if (pthread_setname_np(pthread_self(), name))
		wl_die("setname");
	pthread_barrier_wait(&start);
	spin();
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t th[MAX_THREADS];
	long threads = 0;
	int wait_start = 0;
	int opt;

	while ((opt = getopt(argc, argv, "waCn:s:t:u:")) != -1) {
		switch (opt) {
		case 'w': wait_start = 1; break;
		case 'a': alternate = 1; break;
		case 'C': say_cpu = 1; break;
		case 'n': iters = wl_num(optarg, USAGE); break;
		case 's': size = wl_num(optarg, USAGE); break;
		case 't': threads = wl_num(optarg, USAGE); break;
		case 'u': pause_us = wl_num(optarg, USAGE); break;
		default: wl_usage(USAGE);
		}
	}
	if (optind != argc || size == 0 || threads > MAX_THREADS)
		wl_usage(USAGE);
	wl_prefault_stack();
	if (threads) {
		/* Threads are created (stacks mapped) before the handshake; they start together. */
		pthread_barrier_init(&start, NULL, threads + 1);
		for (long i = 0; i < threads; i++)
			if (pthread_create(&th[i], NULL, thread_main, (void *)(i + 1)))
				wl_die("pthread_create");
	}
	if (wait_start)
		wl_handshake("ready");
	if (!threads) {
		spin();
	} else {
		pthread_barrier_wait(&start);
		for (long i = 0; i < threads; i++)
			pthread_join(th[i], NULL);
	}
	if (say_cpu) {
		struct rusage ru;

		if (getrusage(RUSAGE_SELF, &ru))
			wl_die("getrusage");
		wl_say("cpu_us %lld %lld\n",
		       (long long)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec,
		       (long long)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec);
	}
	return 0;
}
