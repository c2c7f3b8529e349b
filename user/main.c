// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* memwatch: an always-on strace for memory. */
#include <stdio.h>
#include <string.h>
#include "cli.h"
#include "maps_cmd.h"
#include "trace.h"

#ifndef MW_VERSION
#define MW_VERSION "0.1.0"
#endif

int main(int argc, char **argv)
{
	struct mw_config cfg;
	char err[256];

	if (argc > 1 && !strcmp(argv[1], "maps"))
		return mw_maps_main(argc - 1, argv + 1);
	if (mw_cli_parse(argc, argv, &cfg, err, sizeof(err))) {
		fprintf(stderr, "memwatch: %s (see memwatch --help)\n", err);
		return 2;
	}
	if (cfg.help) {
		mw_cli_usage(stdout);
		return 0;
	}
	if (cfg.version) {
		printf("memwatch %s\n", MW_VERSION);
		return 0;
	}
	if (cfg.replay_path)
		return mw_replay_run(&cfg);
	return mw_trace_run(&cfg);
}
