// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * ustack_target: stops itself with raise(SIGSTOP) inside a known call chain
 * main -> outer_fn -> middle_fn -> inner_fn -> raise, so that a test (ptrace
 * GETREGS + process_vm_readv) can unwind and symbolize another process (a PIE
 * with its load bias, through Debian's glibc which has no frame pointers).
 * The "ustack-mark:" comments name the lines a test expects for each frame.
 *
 * usage: ustack_target [-f]   (exit status 0 once continued)
 *   -f  call through fp_tramp instead of middle_fn: a function with a frame
 *       pointer and no CFI at all (hand-written assembly without .cfi_*
 *       directives), which only the frame-pointer fallback can get through.
 */
#include <signal.h>
#include <string.h>

__attribute__((noinline)) int inner_fn(int x)
{
	int r = raise(SIGSTOP); /* ustack-mark: inner_fn */

	__asm__ volatile("" ::: "memory");
	return r + x;
}

__attribute__((noinline)) static int middle_fn(int x)
{
	int r = inner_fn(x + 1); /* ustack-mark: middle_fn */

	__asm__ volatile("" ::: "memory");
	return r + 1;
}

/* int fp_tramp(int x) { return inner_fn(x + 1) + 1; } with a frame pointer, no CFI. */
int fp_tramp(int x);
__asm__(".text\n"
	".globl fp_tramp\n"
	".type fp_tramp, @function\n"
	"fp_tramp:\n"
	"	push %rbp\n"
	"	mov %rsp, %rbp\n"
	"	add $1, %edi\n"
	"	call inner_fn\n"
	"	add $1, %eax\n"
	"	pop %rbp\n"
	"	ret\n"
	".size fp_tramp, .-fp_tramp\n");

__attribute__((noinline)) static int outer_fn(int x, int fp)
{
	int r = fp ? fp_tramp(x * 2) : middle_fn(x * 2); /* ustack-mark: outer_fn */

	__asm__ volatile("" ::: "memory");
	return r + 2;
}

int main(int argc, char **argv)
{
	int fp = argc > 1 && !strcmp(argv[1], "-f");
	int r = outer_fn(argc, fp); /* ustack-mark: main */

	__asm__ volatile("" ::: "memory");
	return r == argc * 2 + 4 ? 0 : 1;
}
