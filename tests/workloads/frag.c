// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Fragmented glibc heaps, made before memwatch attaches: N blocks of mixed
 * sizes (tcache, fastbin, small and large bin sizes), every other one freed,
 * in the main heap and (-t) in a thread's own arena. Then glibc's own view:
 *   malloc_info's XML on stderr (one <heap nr="0"> for the main arena, one
 *   per other arena: free bytes are its fast and rest totals, its size
 *   <system type="current">), and
 *   mallinfo arena=N uordblks=N fordblks=N (all arenas together)
 * then "ready <pid>", and it keeps its blocks until a byte (or EOF) on stdin.
 *
 * usage: frag [-n N] [-b BYTES] [-t]
 *   -b  every block BYTES long (below the mmap threshold: a heap as large as wanted)
 */
#include <malloc.h>
#include <pthread.h>
#include "common.h"

#define USAGE "frag [-n N] [-b BYTES] [-t]"

static const size_t sizes[] = { 24, 100, 300, 1000, 3000, 700, 60, 2000 };
static long nblocks = 20000, block_bytes;
static void **keep_main, **keep_thread;

static void fragment(void ***keep)
{
	void **v = malloc(nblocks * sizeof(*v));

	if (!v)
		wl_die("malloc");
	for (long i = 0; i < nblocks; i++)
		v[i] = malloc(block_bytes ? (size_t)block_bytes
					  : sizes[i % (sizeof(sizes) / sizeof(sizes[0]))]);
	for (long i = 0; i < nblocks; i += 2) {
		free(v[i]);
		v[i] = NULL;
	}
	*keep = v;
}

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int stage; /* 1: the thread fragmented its arena; 2: it may exit */

static void *worker(void *arg)
{
	(void)arg;
	fragment(&keep_thread);
	pthread_mutex_lock(&mu);
	stage = 1;
	pthread_cond_broadcast(&cv);
	while (stage < 2)
		pthread_cond_wait(&cv, &mu);
	pthread_mutex_unlock(&mu);
	return NULL;
}

int main(int argc, char **argv)
{
	struct mallinfo2 mi;
	pthread_t t;
	int thread = 0, c;

	while ((c = getopt(argc, argv, "n:b:t")) != -1) {
		switch (c) {
		case 'n': nblocks = wl_num(optarg, USAGE); break;
		case 'b': block_bytes = wl_num(optarg, USAGE); break;
		case 't': thread = 1; break;
		default: wl_usage(USAGE);
		}
	}
	fragment(&keep_main);
	if (thread) {
		if (pthread_create(&t, NULL, worker, NULL))
			wl_die("pthread_create");
		pthread_mutex_lock(&mu);
		while (stage < 1)
			pthread_cond_wait(&cv, &mu);
		pthread_mutex_unlock(&mu);
	}
	malloc_info(0, stderr);
	mi = mallinfo2();
	wl_say("mallinfo arena=%zu uordblks=%zu fordblks=%zu\n", mi.arena, mi.uordblks,
	       mi.fordblks);
	wl_handshake("ready");
	if (thread) {
		pthread_mutex_lock(&mu);
		stage = 2;
		pthread_cond_broadcast(&cv);
		pthread_mutex_unlock(&mu);
		pthread_join(t, NULL);
	}
	return keep_main && (!thread || keep_thread) ? 0 : 1;
}
