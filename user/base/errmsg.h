/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The two ways memwatch reports an error. Library code writes a one-line
 * reason into its caller's buffer and returns a code (mw_fail); the caller
 * that owns the terminal prints it with mw_p_err ("memwatch: <reason>").
 */
#ifndef MW_ERRMSG_H
#define MW_ERRMSG_H

#include <stddef.h>
#include "ratelimit.h"

/* Formats the reason into err and returns ret. */
int mw_fail(char *err, size_t errsz, int ret, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* "memwatch: <message>" on stderr: the one place messages reach the operator. */
void mw_p_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * A message that can repeat (a full disk, a log of attached processes): at
 * most one a second per limiter, "memwatch: <message> (N more)" saying how
 * many like it were held back since the last one; mw_p_flush says the last
 * one held back, with the count, when the run ends.
 */
struct mw_p_limiter {
	struct mw_ratelimit rl;
	char last[256]; /* the last message held back */
};
void mw_p_limited(struct mw_p_limiter *l, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void mw_p_flush(struct mw_p_limiter *l);

#endif /* MW_ERRMSG_H */
