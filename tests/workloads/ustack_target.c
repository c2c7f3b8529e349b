// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * ustack_target: stops itself with raise(SIGSTOP) inside a known call chain
 * main -> outer_fn -> middle_fn -> inner_fn -> raise, so that a test (ptrace
 * GETREGS + process_vm_readv) can unwind and symbolize another process (a PIE
 * with its load bias, through Debian's glibc which has no frame pointers).
 * The "ustack-mark:" comments name the lines a test expects for each frame.
 *
 * usage: ustack_target   (exit status 0 once continued)
 */
#include <signal.h>

__attribute__((noinline)) static int inner_fn(int x)
{
	int r = raise(SIGSTOP);	/* ustack-mark: inner_fn */

	__asm__ volatile("" ::: "memory");
	return r + x;
}

__attribute__((noinline)) static int middle_fn(int x)
{
	int r = inner_fn(x + 1);	/* ustack-mark: middle_fn */

	__asm__ volatile("" ::: "memory");
	return r + 1;
}

__attribute__((noinline)) static int outer_fn(int x)
{
	int r = middle_fn(x * 2);	/* ustack-mark: outer_fn */

	__asm__ volatile("" ::: "memory");
	return r + 2;
}

int main(int argc, char **argv)
{
	int r = outer_fn(argc);	/* ustack-mark: main */

	(void)argv;
	__asm__ volatile("" ::: "memory");
	return r == argc * 2 + 4 ? 0 : 1;
}
