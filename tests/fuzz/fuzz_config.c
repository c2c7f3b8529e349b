// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The daemon's configuration file (config.c) and, through it, every option parser of the
 * command line (cli.c, cli_malloc.c, cli_monitor.c: sizes, counts, addresses, regexes).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mw_confbuf keep = { 0 };
	struct mw_config cfg;
	char err[256], *text;

	if (size > MW_CONFIG_MAX_BYTES)
		return 0;
	text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	mw_cli_defaults(&cfg);
	if (mw_config_parse_text("fuzz.conf", text, &cfg, &keep, err, sizeof(err)) == 0)
		mw_cli_finish(&cfg, err, sizeof(err));
	/* What the parser refused is said in one line naming the file. */
	else if (strncmp(err, "fuzz.conf:", 10) && strncmp(err, "--", 2))
		abort();
	mw_confbuf_free(&keep);
	free(text);
	return 0;
}
