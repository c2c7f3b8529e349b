// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * brk_ops: moves the program break up and down with sbrk()/brk() in known steps, from the main
 * thread, without ever calling malloc (so no allocator touches the heap).
 *
 * usage: brk_ops [-w] [-W]
 *   -w  print "ready <pid>" on stderr, wait for a byte on stdin, then run
 *   -W  at the end print "done <pid>" on stderr and wait for a byte before exiting
 *
 * Measured phase (S = the initial break, page aligned; verified with strace -f):
 *   brk(S+65536)          = S+65536          vm +65536
 *   brk(S+69632)          = S+69632          vm +4096    sbrk(4096)
 *   brk(S+70632)          = S+70632          vm +4096    sbrk(1000): the heap ends on a page boundary
 *   brk(S+73728)          = S+73728          vm 0        sbrk(3096): within the same page
 *   brk(S+40960)          = S+40960          vm -32768   sbrk(-32768): shrink
 *   brk(S+172032)         = S+172032         vm +131072  sbrk(131072)
 *   brk(S)                = S                vm -172032  brk(S): back to empty
 *   brk(S+(1<<50))        = S                vm 0        refused: old break returned, no error
 *   brk(NULL)             = S                vm 0        raw syscall(SYS_brk, 0)
 * main thread: calls brk 9, errors 0, mapped 204800, unmapped 204800, net 0.
 */
#include <stdint.h>
#include <sys/syscall.h>
#include "common.h"

#define USAGE "brk_ops [-w] [-W]"

static void step(char *s, long incr, long want_off)
{
	char *old = sbrk(incr);

	if (old == (void *)-1 || (char *)sbrk(0) != s + want_off)
		wl_die("sbrk(%ld)", incr);
}

int main(int argc, char **argv)
{
	struct wl_handshakes wait = wl_parse_handshakes(argc, argv, USAGE);
	char *s;

	s = sbrk(0); /* glibc caches the break: no syscall */
	if (((uintptr_t)s & (PG - 1)) != 0)
		wl_die("initial break %p not page aligned", (void *)s);
	if (wait.start)
		wl_handshake("ready");

	step(s, 65536, 65536);
	step(s, 4096, 69632);
	step(s, 1000, 70632);
	step(s, 3096, 73728);
	step(s, -32768, 40960);
	step(s, 131072, 172032);
	if (brk(s))
		wl_die("brk(S)");
	if (brk(s + (1UL << 50)) != -1 || errno != ENOMEM)
		wl_die("brk too high");
	if ((char *)syscall(SYS_brk, 0) != s)
		wl_die("brk(NULL)");

	if (wait.end)
		wl_handshake("done");
	return 0;
}
