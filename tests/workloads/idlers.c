// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * idlers: a process with many threads that make no memory calls (a pool of idle workers), for
 * the folded rows of the text tables.
 *
 * usage: idlers [-n N]      (1 <= N <= 4000, default 1000)
 * Creates N threads with 64 KiB stacks, each blocked on a pipe, then prints "ready <pid>" on
 * stderr and waits for a byte on stdin. Then the main thread (only) makes two calls:
 *   mmap(NULL, 65536, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = A  (vm +64K)
 *   munmap(A, 65536) = 0                                                         (vm -64K)
 * prints "done <pid>" and waits for another byte; then it exits 0 (the threads with it).
 */
#include <pthread.h>
#include <sys/mman.h>
#include "common.h"

#define USAGE "idlers [-n N]"

static int block[2];

static void *idle(void *arg)
{
	char c;

	(void)arg;
	while (read(block[0], &c, 1) < 0 && errno == EINTR)
		;
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_attr_t attr;
	long n = 1000;
	void *a;
	int opt;

	while ((opt = getopt(argc, argv, "n:")) != -1) {
		switch (opt) {
		case 'n': n = wl_num(optarg, USAGE); break;
		default: wl_usage(USAGE);
		}
	}
	if (optind != argc || n < 1 || n > 4000)
		wl_usage(USAGE);
	if (pipe(block))
		wl_die("pipe");
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 65536);
	for (long i = 0; i < n; i++) {
		pthread_t t;

		if (pthread_create(&t, &attr, idle, NULL))
			wl_die("pthread_create");
	}
	wl_handshake("ready");
	a = mmap(NULL, 65536, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (a == MAP_FAILED || munmap(a, 65536))
		wl_die("mmap");
	wl_handshake("done");
	return 0;
}
