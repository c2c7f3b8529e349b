// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * sig_malloc: malloc and free from a signal handler that interrupts the main thread's own
 * malloc+free loop at any instruction, for the in-process sampler's re-entrancy
 * (tests/e2e/test_sampler.py). glibc's malloc is not async-signal-safe, so the test runs this
 * on a lock-free allocator preloaded after the sampler (tests/workloads/lib/bump_alloc.c):
 * whatever breaks is then the sampler's.
 *
 * usage: sig_malloc [-t MS]
 *   -t  MS milliseconds of the loop (default 1000)
 * A helper thread sends SIGUSR1 to the main thread every ~20 us. The handler allocates 1500
 * bytes in handler_alloc(); it keeps every 10th block (at most 1000) and frees the others.
 * The main thread loops main_pair() (malloc 16..2048, free), then leak_main() keeps 100
 * blocks of 3000 bytes. Prints on stderr: "sig_malloc: signals S kept K pairs P" and exits 0.
 */
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <time.h>
#include "common.h"

#define USAGE "sig_malloc [-t MS]"
#define MAX_KEPT 1000

static void *kept[MAX_KEPT];
static volatile sig_atomic_t nkept, nsig;
static volatile int stop;
static pthread_t main_thread;
static void *volatile sink;

static __attribute__((noinline)) void *handler_alloc(void)
{
	return malloc(1500); /* LEAK(handler) */
}

static void on_usr1(int sig)
{
	void *p = handler_alloc();

	(void)sig;
	if (!p)
		_exit(3);
	memset(p, 0x5a, 1500);
	if (nsig++ % 10 == 0 && nkept < MAX_KEPT)
		kept[nkept++] = p;
	else
		free(p);
}

static void *kicker(void *arg)
{
	struct timespec ts = { 0, 20000 };

	(void)arg;
	while (!stop) {
		pthread_kill(main_thread, SIGUSR1);
		nanosleep(&ts, NULL);
	}
	return NULL;
}

static __attribute__((noinline)) void main_pair(uint64_t *rng)
{
	void *p;

	*rng = *rng * 6364136223846793005ULL + 1442695040888963407ULL;
	p = malloc(16 + (*rng >> 33) % 2033);
	if (!p)
		_exit(3);
	sink = p;
	free(p);
}

static __attribute__((noinline)) void leak_main(void)
{
	for (int i = 0; i < 100; i++)
		sink = malloc(3000); /* LEAK(main) */
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_usr1, .sa_flags = SA_RESTART };
	long ms = 1000, end, pairs = 0;
	uint64_t rng = 7;
	sigset_t set;
	pthread_t th;
	int c;

	while ((c = getopt(argc, argv, "t:")) != -1) {
		if (c != 't')
			wl_usage(USAGE);
		ms = wl_num(optarg, USAGE);
	}
	main_thread = pthread_self();
	sigaction(SIGUSR1, &sa, NULL);
	/* The kicker never takes the signal itself. */
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	if (pthread_create(&th, NULL, kicker, NULL))
		wl_die("pthread_create");
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	end = now_ms() + ms;
	while (now_ms() < end) {
		for (int i = 0; i < 1000; i++)
			main_pair(&rng);
		pairs += 1000;
	}
	stop = 1;
	pthread_join(th, NULL);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	leak_main();
	wl_say("sig_malloc: signals %ld kept %ld pairs %ld\n", (long)nsig, (long)nkept, pairs);
	return 0;
}
