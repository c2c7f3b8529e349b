// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * bench_mix: a server-like mix for `make bench`, where memory syscalls are a minority of the
 * work. THREADS worker threads (default 4) each handle ITERS "requests" (default 4000):
 *   - 6 small allocations of 16..2048 bytes (1 in 8 requests also one of 8..64 KiB), filled and
 *     hashed, kept in a per-thread ring of 64 live objects (the oldest is freed): heap churn in
 *     the thread's glibc arena, which grows with mprotect and trims with madvise;
 *   - every 4th request: pread of 8 KiB from FILE (page cache) and a hash over it;
 *   - every 32nd: one 160 KiB..1 MiB buffer, above the mmap threshold so glibc mmaps it,
 *     touched once per page and freed (munmap);
 *   - every 128th: a buffer grown by realloc from 64 KiB to 2 MiB (mremap once mmapped).
 * The mmap threshold is pinned at 128 KiB (M_MMAP_THRESHOLD) so that glibc's dynamic threshold
 * does not move the large buffers into the arenas after the first free.
 *
 * Prints "bench_mix: loop_ns N threads T iters I checksum C" on stderr: N is the wall time of
 * the measured loop only (threads created and waiting on a barrier before the clock starts,
 * joined before it stops). Exits 0.
 *
 * Paced mode (-r RATE -d SEC): the main thread alone does mmap+munmap pairs of one page at RATE
 * syscalls per second for SEC seconds, in 1 ms slices (sleeping between them): a steady event
 * rate for ring-buffer drop checks. Prints "bench_mix: paced calls N elapsed_ns T".
 *
 * usage: bench_mix [-t THREADS] [-n ITERS] [-f FILE] | bench_mix -r RATE -d SEC
 */
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/mman.h>
#include <time.h>
#include "common.h"

#define USAGE "bench_mix [-t THREADS] [-n ITERS] [-f FILE] | bench_mix -r RATE -d SEC"
#define MAX_THREADS 64
#define RING 64
#define SMALL_PER_REQ 6
#define FILE_CHUNK 8192

static long iters = 4000;
static int file_fd = -1;
static off_t file_size;
static pthread_barrier_t start;

struct worker {
	pthread_t th;
	long id;
	uint64_t sum;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static uint64_t hash(const unsigned char *p, size_t n, uint64_t h)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ULL;
	return h;
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n);

	if (!p)
		wl_die("malloc %zu", n);
	return p;
}

/* One small or medium object: allocated, filled, hashed, then kept in the ring. */
static uint64_t small_object(void **ring, long *slot, size_t size, uint64_t h)
{
	unsigned char *p = xmalloc(size);

	memset(p, (int)(h & 0xff), size);
	p[size / 2] ^= (unsigned char)size;
	h = hash(p, size < 256 ? size : 256, h);
	free(ring[*slot]);
	ring[*slot] = p;
	*slot = (*slot + 1) % RING;
	return h;
}

static uint64_t read_file(long i, unsigned char *buf, uint64_t h)
{
	off_t off = ((off_t)i * FILE_CHUNK) % (file_size > FILE_CHUNK ? file_size - FILE_CHUNK : 1);
	ssize_t n = pread(file_fd, buf, FILE_CHUNK, off);

	if (n < 0)
		wl_die("pread");
	return hash(buf, (size_t)n, h);
}

static uint64_t large_buffer(size_t size, uint64_t h)
{
	unsigned char *p = xmalloc(size);

	for (size_t off = 0; off < size; off += PG)
		p[off] = (unsigned char)h;
	h = hash(p, 64, h);
	free(p);
	return h;
}

static uint64_t growing_buffer(uint64_t h)
{
	size_t size = 64 * 1024, old = 0;
	unsigned char *p = NULL;

	for (; size <= 2 * 1024 * 1024; old = size, size *= 2) {
		unsigned char *q = realloc(p, size);

		if (!q)
			wl_die("realloc %zu", size);
		p = q;
		for (size_t off = old; off < size; off += PG)
			p[off] = (unsigned char)h;
	}
	h = hash(p, 64, h);
	free(p);
	return h;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	void *ring[RING] = { NULL };
	uint64_t rng = 0x9e3779b97f4a7c15ULL * (uint64_t)(w->id + 1), h = 0xcbf29ce484222325ULL;
	unsigned char *buf = xmalloc(FILE_CHUNK);
	long slot = 0;
	char name[16];

	snprintf(name, sizeof(name), "mix-%ld", w->id);
	if (pthread_setname_np(pthread_self(), name))
		wl_die("setname");
	pthread_barrier_wait(&start);
	for (long i = 0; i < iters; i++) {
		for (int k = 0; k < SMALL_PER_REQ; k++)
			h = small_object(ring, &slot, 16 + xorshift(&rng) % 2033, h);
		if (xorshift(&rng) % 8 == 0)
			h = small_object(ring, &slot, 8192 + xorshift(&rng) % (56 * 1024), h);
		if (i % 4 == 0)
			h = read_file(i + w->id * 7, buf, h);
		if (i % 32 == 0)
			h = large_buffer(160 * 1024 + xorshift(&rng) % (864 * 1024), h);
		if (i % 128 == 64)
			h = growing_buffer(h);
	}
	for (int k = 0; k < RING; k++)
		free(ring[k]);
	free(buf);
	w->sum = h;
	return NULL;
}

static int run_mix(long threads, const char *path)
{
	struct worker w[MAX_THREADS];
	uint64_t t0, t1, sum = 0;

	file_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (file_fd < 0)
		wl_die("open %s", path);
	file_size = lseek(file_fd, 0, SEEK_END);
	if (file_size < 0)
		wl_die("lseek");
	if (!mallopt(M_MMAP_THRESHOLD, 128 * 1024))
		wl_die("mallopt");
	pthread_barrier_init(&start, NULL, threads + 1);
	for (long i = 0; i < threads; i++) {
		w[i].id = i + 1;
		if (pthread_create(&w[i].th, NULL, worker_main, &w[i]))
			wl_die("pthread_create");
	}
	pthread_barrier_wait(&start);
	t0 = now_ns();
	for (long i = 0; i < threads; i++) {
		pthread_join(w[i].th, NULL);
		sum ^= w[i].sum;
	}
	t1 = now_ns();
	wl_say("bench_mix: loop_ns %llu threads %ld iters %ld checksum %llx\n",
	       (unsigned long long)(t1 - t0), threads, iters, (unsigned long long)sum);
	return 0;
}

static int run_paced(long rate, long seconds)
{
	uint64_t t0 = now_ns(), end = t0 + (uint64_t)seconds * 1000000000ULL, done = 0, now;
	struct timespec next;

	clock_gettime(CLOCK_MONOTONIC, &next);
	while ((now = now_ns()) < end) {
		/* Catch up to the calls due by now (two per pair), then sleep to the next slice. */
		uint64_t due = (now - t0) * (uint64_t)rate / 1000000000ULL;

		for (; done + 2 <= due; done += 2) {
			void *p = mmap(NULL, PG, PROT_READ | PROT_WRITE,
				       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

			if (p == MAP_FAILED)
				wl_die("mmap");
			if (munmap(p, PG))
				wl_die("munmap");
		}
		next.tv_nsec += 1000000;
		if (next.tv_nsec >= 1000000000L) {
			next.tv_nsec -= 1000000000L;
			next.tv_sec++;
		}
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
	}
	wl_say("bench_mix: paced calls %llu elapsed_ns %llu\n", (unsigned long long)done,
	       (unsigned long long)(now_ns() - t0));
	return 0;
}

int main(int argc, char **argv)
{
	const char *path = "/proc/self/exe";
	long threads = 4, rate = 0, seconds = 0;
	int opt;

	while ((opt = getopt(argc, argv, "t:n:f:r:d:")) != -1) {
		switch (opt) {
		case 't': threads = wl_num(optarg, USAGE); break;
		case 'n': iters = wl_num(optarg, USAGE); break;
		case 'f': path = optarg; break;
		case 'r': rate = wl_num(optarg, USAGE); break;
		case 'd': seconds = wl_num(optarg, USAGE); break;
		default: wl_usage(USAGE);
		}
	}
	if (optind != argc || threads < 1 || threads > MAX_THREADS || !rate != !seconds)
		wl_usage(USAGE);
	wl_check_page_size();
	if (rate)
		return run_paced(rate, seconds);
	return run_mix(threads, path);
}
