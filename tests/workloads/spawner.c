// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * spawner: a fork+exec storm. Forks N children, PAR at a time; each child execs this program
 * again as "spawner -c", which makes three known calls and exits before a tracer that re-reads
 * /proc after an exec can keep up. For memwatch -f: every child's net must equal its VmSize
 * change from its exec to its exit.
 *
 * usage: spawner [-w] [-j PAR] N      (1 <= N <= 100000, 1 <= PAR <= 64; default PAR 8)
 *   -w  print "ready <pid>" on stderr and wait for a byte on stdin first
 * Child (after exec, in main): mmap(NULL, 65536, PROT_READ|PROT_WRITE,
 *   MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) (vm +64K), munmap of its last 16 KiB (vm -16K),
 *   mmap(NULL, 8192, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) (vm +8K); exit 0.
 * The parent checks every child's status and exits 0, after printing "spawned N".
 */
#include <stdbool.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include "common.h"

#define USAGE "spawner [-w] [-j PAR] N"

static int child_main(void)
{
	char *p = mmap(NULL, 65536, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED || munmap(p + 49152, 16384) ||
	    mmap(NULL, 8192, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == MAP_FAILED)
		wl_die("child");
	return 0;
}

static void reap(long *running)
{
	int status;

	if (wait(&status) < 0)
		wl_die("wait");
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		wl_die("child status 0x%x", status);
	(*running)--;
}

int main(int argc, char **argv)
{
	long n, par = 8, running = 0;
	bool wait_start = false;
	int opt;

	while ((opt = getopt(argc, argv, "wcj:")) != -1) {
		switch (opt) {
		case 'c': return child_main();
		case 'w': wait_start = true; break;
		case 'j': par = wl_num(optarg, USAGE); break;
		default: wl_usage(USAGE);
		}
	}
	if (optind != argc - 1)
		wl_usage(USAGE);
	n = wl_num(argv[optind], USAGE);
	if (n < 1 || n > 100000 || par < 1 || par > 64)
		wl_usage(USAGE);
	if (wait_start)
		wl_handshake("ready");
	for (long i = 0; i < n; i++) {
		pid_t pid;

		if (running == par)
			reap(&running);
		pid = fork();
		if (pid < 0)
			wl_die("fork");
		if (pid == 0) {
			char *args[] = { "spawner", "-c", NULL };

			execv("/proc/self/exe", args);
			wl_die("execv");
		}
		running++;
	}
	while (running)
		reap(&running);
	wl_say("spawned %ld\n", n);
	return 0;
}
