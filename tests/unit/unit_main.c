// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Runs every registered unit test; prints one line per case and a total. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include "unit.h"

#define MAX_TESTS 1024

static struct {
	const char *name;
	unit_fn fn;
} tests[MAX_TESTS];
static int n_tests;
static int cur_failed;

void unit_register(const char *name, unit_fn fn)
{
	if (n_tests == MAX_TESTS) {
		fprintf(stderr, "unit: too many tests\n");
		exit(2);
	}
	tests[n_tests].name = name;
	tests[n_tests].fn = fn;
	n_tests++;
}

void unit_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	cur_failed++;
	printf("  ! %s:%d: ", file, line);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

int main(int argc, char **argv)
{
	int passed = 0, failed = 0;
	bool verbose = getenv("UNIT_VERBOSE") != NULL;
	/* The sanitized build runs as its own suite (tests/run.sh sets UNIT_SUITE=unit-asan). */
	const char *suite = getenv("UNIT_SUITE") ? getenv("UNIT_SUITE") : "unit";

	for (int i = 0; i < n_tests; i++) {
		if (argc > 1 && !strstr(tests[i].name, argv[1]))
			continue;
		cur_failed = 0;
		if (verbose) {
			printf("--- %s\n", tests[i].name); /* names the test a crash happened in */
			fflush(stdout);
		}
		tests[i].fn();
		if (cur_failed) {
			printf("FAIL %s/%s\n", suite, tests[i].name);
			failed++;
		} else {
			printf("PASS %s/%s\n", suite, tests[i].name);
			passed++;
		}
	}
	printf("%s: %d passed, %d failed\n", suite, passed, failed);
	return failed ? 1 : 0;
}
