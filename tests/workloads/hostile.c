// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * hostile: a traced process that tries to hurt its tracer: names, mapping counts and sizes
 * chosen to break memwatch's output or cost it time and memory.
 *
 * usage: hostile [-w] [-W] [-N DIR] [-m N] [-x N] [-M N] [-H] [-t N]
 * Setup (before -w's handshake), in this order:
 *   -H    one 64 TiB MAP_NORESERVE read-write anonymous mapping, kept
 *   -M N  N memfd mappings of one page, each memfd with its own name ("mf-<pid>-<i>-<padding>":
 *         no two processes share one), kept
 *   -m N  N separate anonymous mappings (N pages mapped at once, every other page then made
 *         PROT_READ, so that none merge), kept
 *   -N DIR memfds and files in DIR named with quotes, newlines, ESC, invalid UTF-8, surrogates,
 *         C1 and bidirectional controls (the names below), each mapped (one page), kept
 * -w: "ready <pid>" on stderr and wait for a byte on stdin. Then:
 *   -x N  N mmaps of this executable with PROT_READ|PROT_EXEC (one page each, unmapped again)
 *   -t N  N threads alive together, each doing 3 x (mmap of one page + munmap)
 *   -N    the main thread renames itself and 8 threads name themselves (the thread names
 *         below), each makes one mmap + munmap; then "named <pid>" on stderr and a wait for a
 *         byte on stdin while all of them are alive; then the threads exit
 * -W: "done <pid>" on stderr and a wait for a byte on stdin before exiting 0.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include "common.h"

#define USAGE "hostile [-w] [-W] [-N DIR] [-m N] [-x N] [-M N] [-H] [-t N]"

/* Thread names (at most 15 bytes: the kernel keeps 16 with the NUL). */
static const char *const thread_names[] = {
	"nl\n] +++ x",	      /* forges a line of the text trace */
	"\x1b[2J\x1b[31mred", /* clears the screen, turns it red */
	"q\"}{\\,x=\"1",      /* quotes and a backslash for JSON and Prometheus */
	"s\xed\xa0\x80",      /* a UTF-16 surrogate, UTF-8 encoded */
	"b\xf4\x90\x80\x80",  /* past U+10FFFF */
	"o\xc0\xaf\xff",      /* an overlong '/', a byte UTF-8 never has */
	"c1\xc2\x9b"
	"31m", /* C1 CSI (valid UTF-8) */
	"bidi\xe2\x80\xae"
	"x", /* RIGHT-TO-LEFT OVERRIDE */
};
#define NTHREADS (sizeof(thread_names) / sizeof(thread_names[0]))
static const char main_name[] = "main\n\"\x1b";

/* Mapping names: memfd names (the kernel shows "/memfd:NAME (deleted)") and file names. */
static const char *const map_names[] = {
	"map\n+++ fake +++",
	"esc\x1b]0;title\x07",
	"quote\"back\\slash",
	"sur\xed\xa0\x80gate",
	"big\xf4\x90\x80\x80",
	"over\xc0\xaflong\xff",
	"csi\xc2\x9b"
	"2J",
	"rlo\xe2\x80\xae"
	"txt",
	"tab\tcr\r",
};
#define NMAPS (sizeof(map_names) / sizeof(map_names[0]))

static pthread_barrier_t named, release;

static void *map_page(int prot, int flags, int fd)
{
	void *p = mmap(NULL, PG, prot, flags, fd, 0);

	if (p == MAP_FAILED)
		wl_die("mmap");
	return p;
}

static void pair(void)
{
	void *p = map_page(PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1);

	if (munmap(p, PG))
		wl_die("munmap");
}

static void *named_thread(void *arg)
{
	if (prctl(PR_SET_NAME, (unsigned long)arg, 0, 0, 0))
		wl_die("prctl");
	pair();
	pthread_barrier_wait(&named);
	pthread_barrier_wait(&release);
	return NULL;
}

static pthread_barrier_t all_up;

static void *pairs_thread(void *arg)
{
	(void)arg;
	pthread_barrier_wait(&all_up);
	for (int i = 0; i < 3; i++)
		pair();
	return NULL;
}

static void map_memfd(const char *name)
{
	int fd = memfd_create(name, 0);

	if (fd < 0)
		wl_die("memfd_create");
	if (ftruncate(fd, PG))
		wl_die("ftruncate");
	map_page(PROT_READ | PROT_WRITE, MAP_SHARED, fd);
	close(fd);
}

static void map_file(const char *dir, const char *name)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		wl_die("open");
	if (ftruncate(fd, PG))
		wl_die("ftruncate");
	map_page(PROT_READ, MAP_SHARED, fd);
	close(fd);
}

static void many_mappings(long n)
{
	char *p = mmap(NULL, (size_t)n * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);

	if (p == MAP_FAILED)
		wl_die("mmap");
	for (long i = 1; i < n; i += 2)
		if (mprotect(p + i * PG, PG, PROT_READ))
			wl_die("mprotect");
}

static void exec_mmaps(long n)
{
	int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		wl_die("open");
	for (long i = 0; i < n; i++) {
		void *p = map_page(PROT_READ | PROT_EXEC, MAP_PRIVATE, fd);

		if (munmap(p, PG))
			wl_die("munmap");
	}
	close(fd);
}

static void many_threads(long n)
{
	pthread_attr_t a;
	pthread_t *t = calloc((size_t)n, sizeof(*t));

	if (!t)
		wl_die("calloc");
	pthread_attr_init(&a);
	pthread_attr_setstacksize(&a, 64 << 10);
	pthread_barrier_init(&all_up, NULL, (unsigned)n + 1);
	for (long i = 0; i < n; i++)
		if (pthread_create(&t[i], &a, pairs_thread, NULL))
			wl_die("pthread_create");
	pthread_barrier_wait(&all_up);
	for (long i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	free(t);
}

static void hostile_names(void)
{
	pthread_t t[NTHREADS];

	if (prctl(PR_SET_NAME, (unsigned long)main_name, 0, 0, 0))
		wl_die("prctl");
	pthread_barrier_init(&named, NULL, NTHREADS + 1);
	pthread_barrier_init(&release, NULL, NTHREADS + 1);
	for (size_t i = 0; i < NTHREADS; i++)
		if (pthread_create(&t[i], NULL, named_thread, (void *)thread_names[i]))
			wl_die("pthread_create");
	pthread_barrier_wait(&named);
	wl_handshake("named");
	pthread_barrier_wait(&release);
	for (size_t i = 0; i < NTHREADS; i++)
		pthread_join(t[i], NULL);
}

int main(int argc, char **argv)
{
	bool wait_first = false, wait_done = false, huge = false;
	long nmap = 0, nexec = 0, nmemfd = 0, nthreads = 0;
	const char *dir = NULL;
	int c;

	while ((c = getopt(argc, argv, "wWN:m:x:M:Ht:")) != -1) {
		switch (c) {
		case 'w': wait_first = true; break;
		case 'W': wait_done = true; break;
		case 'N': dir = optarg; break;
		case 'm': nmap = wl_num(optarg, USAGE); break;
		case 'x': nexec = wl_num(optarg, USAGE); break;
		case 'M': nmemfd = wl_num(optarg, USAGE); break;
		case 'H': huge = true; break;
		case 't': nthreads = wl_num(optarg, USAGE); break;
		default: wl_usage(USAGE);
		}
	}
	if (optind != argc)
		wl_usage(USAGE);
	wl_check_page_size();
	if (huge && mmap(NULL, 64ULL << 40, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0) == MAP_FAILED)
		wl_die("mmap 64 TiB");
	for (long i = 0; i < nmemfd; i++) {
		char name[200];

		snprintf(name, sizeof(name), "mf-%d-%ld-%0120d", (int)getpid(), i, 0);
		map_memfd(name);
	}
	if (nmap)
		many_mappings(nmap);
	if (dir) {
		for (size_t i = 0; i < NMAPS; i++) {
			map_memfd(map_names[i]);
			map_file(dir, map_names[i]);
		}
	}
	if (wait_first)
		wl_handshake("ready");
	if (nexec)
		exec_mmaps(nexec);
	if (nthreads)
		many_threads(nthreads);
	if (dir)
		hostile_names();
	if (wait_done)
		wl_handshake("done");
	return 0;
}
