// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "clock.h"
#include "errmsg.h"

int mw_fail(char *err, size_t errsz, int ret, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errsz, fmt, ap);
	va_end(ap);
	return ret;
}

void mw_p_err(const char *fmt, ...)
{
	va_list ap;

	fputs("memwatch: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void say(const char *msg, uint64_t more)
{
	if (more)
		fprintf(stderr, "memwatch: %s (%llu more)\n", msg, (unsigned long long)more);
	else
		fprintf(stderr, "memwatch: %s\n", msg);
}

void mw_p_limited(struct mw_p_limiter *l, const char *fmt, ...)
{
	uint64_t held;
	char msg[sizeof(l->last)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!mw_ratelimit_pass(&l->rl, mw_now_ns(CLOCK_MONOTONIC), &held)) {
		memcpy(l->last, msg, sizeof(msg));
		return;
	}
	say(msg, held);
}

void mw_p_flush(struct mw_p_limiter *l)
{
	if (!l->rl.held)
		return;
	say(l->last, l->rl.held - 1);
	l->rl.held = 0;
}
