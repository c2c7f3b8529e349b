/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Command lines for unit tests: ut_parse(&cfg, err, "-p", "5", NULL). */
#ifndef MW_TEST_CLI_ARGS_H
#define MW_TEST_CLI_ARGS_H

#include <stdarg.h>
#include "cli.h"

/* Parse "memwatch A0 ..." (NULL-terminated, at most 30 words); err holds 256 bytes. */
static inline int ut_parse(struct mw_config *c, char *err, const char *a0, ...)
{
	char *argv[32];
	int argc = 0;
	va_list ap;
	const char *s;

	argv[argc++] = "memwatch";
	va_start(ap, a0);
	for (s = a0; s && argc < 31; s = va_arg(ap, const char *))
		argv[argc++] = (char *)s;
	va_end(ap);
	argv[argc] = NULL;
	return mw_cli_parse(argc, argv, c, err, 256);
}

#endif /* MW_TEST_CLI_ARGS_H */
