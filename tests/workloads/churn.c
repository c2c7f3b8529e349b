// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * churn: a steady, high rate of memory syscalls from a long-lived process plus a stream of
 * short-lived processes, each with short-lived threads. For the metrics soak under memwatch -f.
 *
 * usage: churn [-w] [-W] [-d SECONDS] [-k WORKERS] [-b BURST] [-c CHILDREN] [-t THREADS]
 *              [-n PAIRS]
 *   -w  print "ready <pid>" on stderr and wait for a byte on stdin first
 *   -W  at the end print "done <pid>" on stderr and wait for a byte again (workers joined),
 *       so that a scrape sees the final counts of a live process
 *   -d  run for SECONDS (default 10)
 *   -k  WORKERS threads named "churn-w" (default 2) for the whole run, each repeating: BURST
 *       (default 500) pairs mmap(NULL, 4096, RW, PRIVATE|ANON) + munmap(that, 4096), then a
 *       1 ms sleep
 *   -c  the main thread forks about CHILDREN processes per second (default 20), one at a time
 *       (each waited for); a child names itself "churn-child", runs THREADS (default 4)
 *       threads named "churn-ct" that each do PAIRS (default 50) pairs, joins them and
 *       _exit(0)s
 * At the end (workers joined) the main thread writes to stdout:
 *     worker_pairs P      mmap/munmap pairs of all workers together (each call succeeded)
 *     children C          children forked, all exited 0
 * Expected for thread name churn-w of the parent: mmap P, munmap P, errors 0, and one
 * madvise(stack, ..., MADV_DONTNEED) per worker (glibc frees the stack at thread exit).
 * Workers and child threads never malloc (no arenas): their only calls are the pairs.
 */
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include "common.h"

#define USAGE \
	"churn [-w] [-W] [-d SECONDS] [-k WORKERS] [-b BURST] [-c CHILDREN] [-t THREADS] [-n PAIRS]"
#define MAX_THREADS 64

static long seconds = 10, workers = 2, burst = 500, children = 20, threads = 4, pairs = 50;
static volatile int stop;
static long counted[MAX_THREADS];

static void pair(void)
{
	void *p = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		wl_die("mmap");
	if (munmap(p, PG))
		wl_die("munmap");
}

static void *worker(void *arg)
{
	long idx = (long)(intptr_t)arg;
	struct timespec ms = { 0, 1000000 };

	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
		for (long i = 0; i < burst; i++)
			pair();
		counted[idx] += burst;
		nanosleep(&ms, NULL);
	}
	return NULL;
}

static void *child_thread(void *arg)
{
	(void)arg;
	for (long i = 0; i < pairs; i++)
		pair();
	return NULL;
}

static void child(void)
{
	pthread_t t[MAX_THREADS];

	if (prctl(PR_SET_NAME, "churn-child"))
		wl_die("prctl");
	for (long i = 0; i < threads; i++) {
		if (pthread_create(&t[i], NULL, child_thread, NULL))
			wl_die("pthread_create");
		pthread_setname_np(t[i], "churn-ct");
	}
	for (long i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	_exit(0);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

int main(int argc, char **argv)
{
	pthread_t w[MAX_THREADS];
	bool wait_first = false, wait_end = false;
	uint64_t end, period, next;
	long nchildren = 0, total = 0;
	int c;

	while ((c = getopt(argc, argv, "wWd:k:b:c:t:n:")) != -1) {
		switch (c) {
		case 'w': wait_first = true; break;
		case 'W': wait_end = true; break;
		case 'd': seconds = wl_num(optarg, USAGE); break;
		case 'k': workers = wl_num(optarg, USAGE); break;
		case 'b': burst = wl_num(optarg, USAGE); break;
		case 'c': children = wl_num(optarg, USAGE); break;
		case 't': threads = wl_num(optarg, USAGE); break;
		case 'n': pairs = wl_num(optarg, USAGE); break;
		default: wl_usage(USAGE);
		}
	}
	if (optind != argc || seconds < 1 || workers > MAX_THREADS || threads > MAX_THREADS ||
	    children < 1 || burst < 1)
		wl_usage(USAGE);
	wl_check_page_size();
	if (wait_first)
		wl_handshake("ready");
	for (long i = 0; i < workers; i++) {
		if (pthread_create(&w[i], NULL, worker, (void *)(intptr_t)i))
			wl_die("pthread_create");
		pthread_setname_np(w[i], "churn-w");
	}
	period = 1000000000ULL / (uint64_t)children;
	end = now_ns() + (uint64_t)seconds * 1000000000ULL;
	for (next = now_ns(); now_ns() < end; next += period) {
		pid_t pid = fork();
		int status;

		if (pid < 0)
			wl_die("fork");
		if (pid == 0)
			child();
		if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status))
			wl_die("child %d: status %#x", (int)pid, status);
		nchildren++;
		while (now_ns() < next + period) {
			struct timespec ms = { 0, 1000000 };

			nanosleep(&ms, NULL);
		}
	}
	__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
	for (long i = 0; i < workers; i++) {
		pthread_join(w[i], NULL);
		total += counted[i];
	}
	printf("worker_pairs %ld\nchildren %ld\n", total, nchildren);
	fflush(stdout);
	if (wait_end)
		wl_handshake("done");
	return 0;
}
