/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What the benchmark floors (floor.c, malloc_floor.c) share: signal handling,
 * libbpf's log and one-line errors. Each defines FLOOR_NAME before including.
 */
#ifndef MW_FLOOR_COMMON_H
#define MW_FLOOR_COMMON_H

#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <bpf/libbpf.h>

static volatile sig_atomic_t exiting;
static bool verbose;

static void on_signal(int sig)
{
	exiting = sig;
	signal(sig, SIG_DFL); /* a second Ctrl-C kills */
}

static int libbpf_print_fn(enum libbpf_print_level level, const char *fmt, va_list args)
{
	if (level == LIBBPF_DEBUG && !verbose)
		return 0;
	return vfprintf(stderr, fmt, args);
}

static void __attribute__((format(printf, 1, 2))) p_err(const char *fmt, ...)
{
	va_list ap;

	fputs(FLOOR_NAME ": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

#endif /* MW_FLOOR_COMMON_H */
