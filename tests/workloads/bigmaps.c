// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * bigmaps: a process with a large /proc/PID/maps that keeps mapping and unmapping, for the
 * baseline of -p on a busy process: the kernel renders maps a page per read(), so reading it
 * takes hundreds of reads while the threads change it.
 *
 * usage: bigmaps [-n MAPS] [-t THREADS]
 *   -n MAPS     standing 4 KiB mappings, alternately PROT_READ and PROT_READ|PROT_WRITE so that
 *               none merge (default 20000: about 1.5 MB of maps text)
 *   -t THREADS  churning threads (default 2)
 *
 * After the standing mappings it starts the threads and prints "ready <pid>" on stderr (without
 * waiting). Each thread keeps a ring of 8 mappings of 16 to 128 KiB (the size cycles): mmap a new
 * one, munmap the oldest, as fast as it can. On a byte on stdin the threads stop (their rings
 * unmapped), the main thread prints "done <calls>" (the churn's mmap + munmap calls) and waits
 * for another byte; then it exits 0.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/mman.h>
#include "common.h"

#define USAGE "bigmaps [-n MAPS] [-t THREADS]"
#define RING 8
#define MAX_THREADS 16

static atomic_bool stop;
static atomic_long calls;

static void *churn(void *arg)
{
	void *ring[RING] = { 0 };
	size_t len[RING] = { 0 };
	long n = 0;
	unsigned int i = (unsigned int)(long)arg;

	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		unsigned int k = i++ % RING;

		if (ring[k]) {
			if (munmap(ring[k], len[k]))
				wl_die("munmap");
			n++;
		}
		len[k] = (16 + 16 * (i % 8)) * 1024;
		ring[k] = mmap(NULL, len[k], PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			       -1, 0);
		if (ring[k] == MAP_FAILED)
			wl_die("mmap");
		n++;
	}
	for (int k = 0; k < RING; k++) {
		if (ring[k]) {
			if (munmap(ring[k], len[k]))
				wl_die("munmap");
			n++;
		}
	}
	atomic_fetch_add(&calls, n);
	return NULL;
}

int main(int argc, char **argv)
{
	long maps = 20000, nthreads = 2;
	pthread_t th[MAX_THREADS];
	int opt;

	while ((opt = getopt(argc, argv, "n:t:")) != -1) {
		switch (opt) {
		case 'n': maps = wl_num(optarg, USAGE); break;
		case 't': nthreads = wl_num(optarg, USAGE); break;
		default: wl_usage(USAGE);
		}
	}
	if (optind != argc || nthreads < 1 || nthreads > MAX_THREADS)
		wl_usage(USAGE);
	wl_check_page_size();
	wl_prefault_stack();
	for (long i = 0; i < maps; i++) {
		int prot = i % 2 ? PROT_READ : PROT_READ | PROT_WRITE;

		if (mmap(NULL, PG, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == MAP_FAILED)
			wl_die("mmap");
	}
	for (long t = 0; t < nthreads; t++)
		if (pthread_create(&th[t], NULL, churn, (void *)(t * 3)))
			wl_die("pthread_create");
	wl_say("ready %d\n", (int)getpid());
	wl_wait_stdin();
	atomic_store(&stop, true);
	for (long t = 0; t < nthreads; t++)
		pthread_join(th[t], NULL);
	wl_say("done %ld\n", atomic_load(&calls));
	wl_wait_stdin();
	return 0;
}
