// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * C++ leaks for the allocator probes (built by tests/e2e/test_malloc.py with
 * g++: the Makefile builds only C workloads). operator new calls malloc in
 * libstdc++: each block must be counted once, under operator new.
 *   8 x new Obj (200 bytes), 9 x new char[123], never deleted;
 *   ROUNDS x (new Obj, new char[50]) deleted again.
 */
#include <cstdlib>
#include <unistd.h>

struct Obj {
	char data[200];
};

static void *volatile sink;

static __attribute__((noinline)) void leak_new_obj()
{
	for (int i = 0; i < 8; i++)
		sink = new Obj; /* LEAK(new) */
}

static __attribute__((noinline)) void leak_new_array()
{
	for (int i = 0; i < 9; i++)
		sink = new char[123]; /* LEAK(new_array) */
}

static __attribute__((noinline)) void churn(int rounds)
{
	for (int i = 0; i < rounds; i++) {
		Obj *o = new Obj;
		char *c = new char[50];

		sink = o;
		sink = c;
		delete o;
		delete[] c;
	}
}

int main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 100;

	leak_new_obj();
	leak_new_array();
	churn(rounds);
	return 0;
}
