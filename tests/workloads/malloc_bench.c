// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * malloc_bench: malloc+free pairs for the allocator part of `make bench` (tools/bench_malloc.sh)
 * and for the floor's correctness test (tests/e2e/test_malloc_floor.py).
 *
 * usage: malloc_bench [-w] [-n PAIRS] [-d SEC] [-t THREADS] [-k PASSES]
 *   -w          print "ready <pid>" on stderr and wait for a byte on stdin first
 *   -n PAIRS    pairs per looping thread (default 200000)
 *   -d SEC      run each loop for SEC seconds instead of a fixed number of pairs
 *   -t THREADS  0 (default): the main thread loops; T > 0: T threads named "mb-1".."mb-T" loop
 *               concurrently (created before -w's handshake, started together on a barrier)
 *   -k PASSES   work between the calls, "a request that builds and checksums a buffer": the
 *               block is filled (memset) and FNV-1a hashed PASSES times over all its bytes.
 *               0 (default): a tight loop that only writes the block's first byte.
 *
 * One pair: p = malloc(S); <work>; free(p), S deterministic pseudo-random in 16..4096 bytes
 * (xorshift64, seeded per thread; the same sequence every run). No other malloc or free is made
 * by the loops, and none between the handshake and the end of the loops: each looping thread's
 * counts are exactly its pairs. (A thread's exit frees glibc's per-thread cache afterwards.)
 *
 * Prints on stderr (write(2), no stdio buffers):
 *   malloc_bench: pairs N mallocs N frees N threads T loop_ns L ns_per_pair X checksum C
 * N: pairs of all looping threads; L: wall time from the barrier (or the go byte) until every
 * loop has ended, from CLOCK_MONOTONIC; X = L / (N / max(T, 1)), the wall time of one pair of
 * one thread (with T > CPUs, threads also wait for a CPU). Under libmemwatch-sampler.so also
 *   malloc_bench: sampler probes fired alloc A free F
 * its count of the probes it fired with a tracer on them (each a probe hit: a trap), and
 *   malloc_bench: sampler ring samples S fired F
 * the samples it wrote to its ring (memwatch reading it) and its ring probe's hits. Always
 *   malloc_bench: cpu_ns C
 * the process's CPU time (CLOCK_PROCESS_CPUTIME_ID, user and system: the kernel's work at its
 * probe hits included) over the same span as loop_ns. Exits 0.
 */
#include <pthread.h>
#include <stdint.h>
#include <time.h>
#include "common.h"
#include "../../user/sampler/sampler.h"

#define USAGE "malloc_bench [-w] [-n PAIRS] [-d SEC] [-t THREADS] [-k PASSES]"
#define MAX_THREADS 64
#define MIN_SIZE 16
#define MAX_SIZE 4096
/* In -d mode the clock is read once per this many pairs (a power of two). */
#define CLOCK_EVERY 64

/* The head of libmemwatch-sampler.so's struct mws_info (user/sampler/sampler.h). */
struct sampler_info {
	uint32_t magic, interposes;
	uint64_t mean;
	uint64_t alloc_fired, free_fired;
};

/* Weak: resolved to the sampler's when it is loaded, NULL otherwise (no dlsym: no malloc). */
extern struct sampler_info mwsampler_info __attribute__((weak));
extern struct mws_ring mwsampler_ring __attribute__((weak));

struct looper {
	pthread_t th;
	long id;
	long pairs;
	uint64_t sum;
};

static long pairs = 200000;
static long seconds;
static long passes;
static pthread_barrier_t start;

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint64_t now_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

static inline uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* The realistic variant's request body: fill the block, checksum it PASSES times. */
static uint64_t work(unsigned char *p, size_t n, uint64_t h)
{
	memset(p, (int)(h & 0xff), n);
	for (long k = 0; k < passes; k++)
		for (size_t i = 0; i < n; i++)
			h = (h ^ p[i]) * 0x100000001b3ULL;
	return h;
}

/* The measured loop of one thread: returns the number of pairs made. */
static long loop(long id, uint64_t *sum)
{
	uint64_t rng = 0x9e3779b97f4a7c15ULL * (uint64_t)(id + 1), h = 0xcbf29ce484222325ULL;
	uint64_t end = seconds ? now_ns() + (uint64_t)seconds * 1000000000ULL : 0;
	long i;

	for (i = 0; seconds || i < pairs; i++) {
		size_t n = MIN_SIZE + xorshift(&rng) % (MAX_SIZE - MIN_SIZE + 1);
		unsigned char *p = malloc(n);

		if (!p)
			wl_die("malloc %zu", n);
		/* The pointer escapes: the compiler may not drop the pair. */
		__asm__ volatile("" : : "r"(p) : "memory");
		if (passes)
			h = work(p, n, h);
		else
			p[0] = (unsigned char)i;
		free(p);
		if (seconds && (i & (CLOCK_EVERY - 1)) == CLOCK_EVERY - 1 && now_ns() >= end) {
			i++;
			break;
		}
	}
	*sum = h;
	return i;
}

static void *thread_main(void *arg)
{
	struct looper *l = arg;
	char name[16];

	snprintf(name, sizeof(name), "mb-%ld", l->id);
	if (pthread_setname_np(pthread_self(), name))
		wl_die("setname");
	pthread_barrier_wait(&start);
	l->pairs = loop(l->id, &l->sum);
	return NULL;
}

int main(int argc, char **argv)
{
	struct looper l[MAX_THREADS];
	long threads = 0, total = 0;
	uint64_t t0, t1, c0, c1, per10, sum = 0;
	int wait_start = 0, opt;

	while ((opt = getopt(argc, argv, "wn:d:t:k:")) != -1) {
		switch (opt) {
		case 'w': wait_start = 1; break;
		case 'n': pairs = wl_num(optarg, USAGE); break;
		case 'd': seconds = wl_num(optarg, USAGE); break;
		case 't': threads = wl_num(optarg, USAGE); break;
		case 'k': passes = wl_num(optarg, USAGE); break;
		default: wl_usage(USAGE);
		}
	}
	if (optind != argc || threads > MAX_THREADS || (!pairs && !seconds))
		wl_usage(USAGE);
	if (threads) {
		pthread_barrier_init(&start, NULL, threads + 1);
		for (long i = 0; i < threads; i++) {
			l[i].id = i + 1;
			if (pthread_create(&l[i].th, NULL, thread_main, &l[i]))
				wl_die("pthread_create");
		}
	}
	if (wait_start)
		wl_handshake("ready");
	if (threads) {
		pthread_barrier_wait(&start);
		c0 = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
		t0 = now_ns();
		for (long i = 0; i < threads; i++) {
			pthread_join(l[i].th, NULL);
			total += l[i].pairs;
			sum ^= l[i].sum;
		}
	} else {
		c0 = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
		t0 = now_ns();
		total = loop(0, &sum);
	}
	t1 = now_ns();
	c1 = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
	/* Tenths in integers: printf's floating point may call malloc, which would be counted. */
	per10 = (t1 - t0) * 10 * (uint64_t)(threads ? threads : 1) / (uint64_t)(total ? total : 1);
	wl_say("malloc_bench: pairs %ld mallocs %ld frees %ld threads %ld loop_ns %llu "
	       "ns_per_pair %llu.%llu checksum %llx\n",
	       total, total, total, threads, (unsigned long long)(t1 - t0),
	       (unsigned long long)(per10 / 10), (unsigned long long)(per10 % 10),
	       (unsigned long long)sum);
	if (&mwsampler_info)
		wl_say("malloc_bench: sampler probes fired alloc %llu free %llu\n",
		       (unsigned long long)__atomic_load_n(&mwsampler_info.alloc_fired,
							   __ATOMIC_RELAXED),
		       (unsigned long long)__atomic_load_n(&mwsampler_info.free_fired,
							   __ATOMIC_RELAXED));
	if (&mwsampler_ring)
		wl_say("malloc_bench: sampler ring samples %llu fired %llu\n",
		       (unsigned long long)atomic_load(&mwsampler_ring.samples),
		       (unsigned long long)atomic_load(&mwsampler_ring.fired));
	wl_say("malloc_bench: cpu_ns %llu\n", (unsigned long long)(c1 - c0));
	return 0;
}
