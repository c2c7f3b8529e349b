// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The command line (cli.c and its option parsers) and the size parser: the input is argv,
 * its words separated by NUL bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "base/size.h"
#include "cli.h"

#define MAX_ARGS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1), *argv[MAX_ARGS + 2];
	struct mw_config cfg;
	char err[256];
	int argc = 0;
	uint64_t v;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	argv[argc++] = "memwatch";
	for (char *p = buf; p < buf + size && argc <= MAX_ARGS; p += strlen(p) + 1) {
		argv[argc++] = p;
		mw_parse_size(p, "KMG", &v);
	}
	argv[argc] = NULL;
	if (mw_cli_parse(argc, argv, &cfg, err, sizeof(err)) && !err[0])
		abort(); /* a refusal always says why */
	free(buf);
	return 0;
}
