// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * forker: forks K children that each do known mmaps/munmaps and exit with their index as the
 * status; the parent waits for all of them (checking each status), then does its own known
 * operations and exits 0. For memwatch -f.
 *
 * usage: forker [-w] K        (1 <= K <= 50)
 *   -w  print "ready <pid>" on stderr and wait for a byte on stdin before forking
 *
 * Child i (1..K), one after another (the parent waits for child i before forking child i+1):
 *   prctl(PR_SET_NAME, "mw-child-<i>"), then i times mmap(NULL, 16384, PROT_READ|PROT_WRITE,
 *   MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) (vm +16384 each), then munmap(first, 16384) (vm -16384),
 *   then _exit(i).
 *   -> calls mmap i, munmap 1, errors 0, mapped i*16384, unmapped 16384, net (i-1)*16384;
 *      exit status i.
 * Parent after the last wait ("forker"):
 *   mmap(NULL, 65536, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = P   vm +65536
 *   mprotect(P, 16384, PROT_READ) = 0                                             vm 0
 *   munmap(P + 16384, 16384) = 0                                                  vm -16384
 *   -> calls mmap 1, mprotect 1, munmap 1, errors 0, mapped 65536, unmapped 16384, net 49152
 *   (plus, in launch mode, everything the dynamic loader does before main).
 * fork() itself makes no memory syscall in parent or child (glibc 2.36, verified with strace -f).
 */
#include <stdbool.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include "common.h"

#define USAGE "forker [-w] K"
#define CLEN 16384UL

static void child(long idx)
{
	char name[16];
	void *first = NULL;

	snprintf(name, sizeof(name), "mw-child-%ld", idx);
	if (prctl(PR_SET_NAME, name))
		wl_die("prctl");
	for (long i = 0; i < idx; i++) {
		void *p = mmap(NULL, CLEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
			       0);

		if (p == MAP_FAILED)
			wl_die("mmap");
		if (!first)
			first = p;
	}
	if (munmap(first, CLEN))
		wl_die("munmap");
	_exit(idx);
}

int main(int argc, char **argv)
{
	bool wait_start = false;
	long k;
	char *p;
	int opt;

	while ((opt = getopt(argc, argv, "w")) != -1) {
		switch (opt) {
		case 'w': wait_start = true; break;
		default: wl_usage(USAGE);
		}
	}
	if (optind != argc - 1)
		wl_usage(USAGE);
	k = wl_num(argv[optind], USAGE);
	if (k < 1 || k > 50)
		wl_usage(USAGE);
	wl_prefault_stack();
	if (wait_start)
		wl_handshake("ready");

	for (long i = 1; i <= k; i++) {
		int status;
		pid_t pid = fork();

		if (pid < 0)
			wl_die("fork");
		if (pid == 0)
			child(i);
		if (waitpid(pid, &status, 0) != pid)
			wl_die("waitpid");
		if (!WIFEXITED(status) || WEXITSTATUS(status) != i)
			wl_die("child %ld: status 0x%x", i, status);
	}

	p = mmap(NULL, 65536, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		wl_die("mmap");
	if (mprotect(p, 16384, PROT_READ))
		wl_die("mprotect");
	if (munmap(p + 16384, 16384))
		wl_die("munmap");
	return 0;
}
