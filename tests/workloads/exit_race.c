// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * exit_race: threads that end while their process does. The kernel counts a process's live
 * threads down before each one reaches the sched_process_exit tracepoint, and the order of the
 * two need not agree: the thread that takes the count to zero (the process's end) can be traced
 * before a sibling that counted down first. A tracer must still see every thread's exit, and end
 * the process after the last of them.
 *
 * usage: exit_race [-n THREADS] [-r ROUNDS] [-z]
 *
 * Each of THREADS threads (default 16), named "xr-<i>", maps and unmaps 64 KiB once
 * (mmap 1, munmap 1) and waits at a barrier with main, which releases them all at once:
 * the even ones return (pthread_exit), the odd ones spin without a syscall until the group exit
 * kills them; main joins xr-0 (a thread joined just before exit_group still has its exit ahead
 * of it on kernels that trace it after the mm is released) and calls exit_group(5).
 * With -r ROUNDS, a child process does that ROUNDS times one after another (default 1: the
 * process itself), round r with 1 + r % THREADS threads (a single joined thread is the likeliest
 * to be traced late where the tracepoint comes after the mm is released: it drops the last
 * reference and unmaps everything first); the parent exits 5 when every child did.
 * With -z the main thread leaves first instead (pthread_exit: a zombie leader while the process
 * lives on): once every thread has mapped it prints "leader-exits <pid>" on stderr and exits;
 * xr-0 then waits for a byte on stdin and calls exit_group(5), the others wait.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include "common.h"

#define USAGE "exit_race [-n THREADS] [-r ROUNDS] [-z]"
#define LEN 65536UL
#define MAX_THREADS 256

static pthread_barrier_t start;
static bool leader_first;

static void *worker(void *arg)
{
	long i = (long)arg;
	char name[16];
	void *p;

	snprintf(name, sizeof(name), "xr-%ld", i);
	prctl(PR_SET_NAME, name);
	p = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		wl_die("mmap");
	if (munmap(p, LEN))
		wl_die("munmap");
	pthread_barrier_wait(&start);
	if (leader_first) {
		if (i == 0) {
			wl_wait_stdin();
			_exit(5);
		}
		for (;;)
			pause();
	}
	if (i % 2 == 0)
		return NULL;
	for (;;) /* until the group exit kills it */
		atomic_signal_fence(memory_order_seq_cst);
}

static void one_round(long n)
{
	pthread_t t[MAX_THREADS];

	if (pthread_barrier_init(&start, NULL, n + 1))
		wl_die("pthread_barrier_init");
	for (long i = 0; i < n; i++)
		if (pthread_create(&t[i], NULL, worker, (void *)i))
			wl_die("pthread_create");
	pthread_barrier_wait(&start);
	if (leader_first) {
		wl_say("leader-exits %d\n", (int)getpid());
		pthread_exit(NULL);
	}
	pthread_join(t[0], NULL);
	_exit(5);
}

int main(int argc, char **argv)
{
	long n = 16, rounds = 1;
	int opt;

	while ((opt = getopt(argc, argv, "n:r:z")) != -1) {
		switch (opt) {
		case 'z': leader_first = true; break;
		case 'n': n = wl_num(optarg, USAGE); break;
		case 'r': rounds = wl_num(optarg, USAGE); break;
		default: wl_usage(USAGE);
		}
	}
	if (optind != argc || n < 1 || n > MAX_THREADS || rounds < 1)
		wl_usage(USAGE);
	if (rounds == 1)
		one_round(n);
	for (long r = 0; r < rounds; r++) {
		pid_t c = fork();
		int st;

		if (c < 0)
			wl_die("fork");
		if (c == 0)
			one_round(1 + r % n);
		if (waitpid(c, &st, 0) != c || !WIFEXITED(st) || WEXITSTATUS(st) != 5)
			wl_die("round %ld", r);
	}
	return 5;
}
