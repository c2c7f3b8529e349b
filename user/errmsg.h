/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The one way library code reports an error: a one-line reason written into
 * the caller's buffer (main prints it after "memwatch: "), and a return code. */
#ifndef MW_ERRMSG_H
#define MW_ERRMSG_H

#include <stddef.h>

/* Formats the reason into err and returns ret. */
int mw_fail(char *err, size_t errsz, int ret, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif /* MW_ERRMSG_H */
