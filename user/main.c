// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* memwatch: an always-on strace for memory. */
#include <stdio.h>
#include <string.h>
#include "cli.h"
#include "cli_monitor.h"
#include "config.h"
#include "maps_cmd.h"
#include "live.h"
#include "replay.h"
#include "report_cmd.h"

/* glibc's <malloc.h>, which bpf/malloc.h shadows on the include path. */
extern int mallopt(int param, int value);
#define MW_M_MMAP_THRESHOLD (-3)

#ifndef MW_VERSION
#define MW_VERSION "0.1.0"
#endif

/*
 * `memwatch top [options]`: a live session whose view is the full screen. With no target it
 * watches every process (as --comm '.' would), up to --max-procs.
 */
static int top_main(int argc, char **argv)
{
	struct mw_config cfg;
	char err[256];

	mw_cli_defaults(&cfg);
	cfg.top = true;
	if (mw_cli_add(argc, argv, &cfg, true, err, sizeof(err)) ||
	    (!cfg.npids && !cfg.cmd && !cfg.ncomms && !cfg.ncgroups && !cfg.help &&
	     mw_opt_comm(".", &cfg, err, sizeof(err))) ||
	    mw_cli_finish(&cfg, err, sizeof(err))) {
		fprintf(stderr, "memwatch: %s (see memwatch --help)\n", err);
		return 2;
	}
	if (cfg.help) {
		mw_cli_usage(stdout);
		return 0;
	}
	return mw_live_run(&cfg);
}

int main(int argc, char **argv)
{
	struct mw_config cfg;
	struct mw_config_source src = { .argc = argc, .argv = argv };
	char err[256];
	int ret;

	/*
	 * glibc raises its mmap threshold to the size of each mmapped block freed (up to
	 * 32 MiB): after libbpf's and libdw's large temporary buffers, memwatch's large
	 * tables (the unwind cache, the thread arrays) would come from the brk heap, where
	 * calloc touches every page and a freed block seldom goes back. A fixed threshold
	 * (glibc's initial one) keeps them in their own mappings: pages only where used,
	 * returned when freed (10,000 threads: memwatch's RSS at the end 27 -> 21 MB, with
	 * --malloc 52 -> 42.5 MB).
	 */
	mallopt(MW_M_MMAP_THRESHOLD, 128 * 1024);
	if (argc > 1 && !strcmp(argv[1], "maps"))
		return mw_maps_main(argc - 1, argv + 1);
	if (argc > 1 && !strcmp(argv[1], "report"))
		return mw_report_main(argc - 1, argv + 1);
	if (argc > 1 && !strcmp(argv[1], "top"))
		return top_main(argc - 1, argv + 1);
	if (argc > 1 && !strcmp(argv[1], "daemon")) {
		/* `memwatch daemon [options]`: the options after the word, as --daemon. */
		src.argc = argc - 1;
		src.argv = argv + 1;
		src.daemon_cmd = true;
	}
	if (mw_config_build(src.argc, src.argv, src.daemon_cmd, &cfg, &src.keep, err,
			    sizeof(err))) {
		fprintf(stderr, "memwatch: %s (see memwatch --help)\n", err);
		mw_confbuf_free(&src.keep);
		return 2;
	}
	cfg.source = &src;
	if (cfg.help) {
		mw_cli_usage(stdout);
		return 0;
	}
	if (cfg.version) {
		printf("memwatch %s\n", MW_VERSION);
		return 0;
	}
	if (cfg.replay_path)
		ret = mw_replay_run(&cfg);
	else
		ret = mw_live_run(&cfg);
	mw_confbuf_free(&src.keep);
	return ret;
}
