/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Command line -> struct mw_config. Pure: no exit(), no output. */
#ifndef MW_CLI_H
#define MW_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include "base/options.h"

/* 0 on success; -1 on a usage error with a one-line reason in err (no "memwatch: " prefix). */
int mw_cli_parse(int argc, char **argv, struct mw_config *cfg, char *err, size_t errsz);
/*
 * The same in steps, for options from several sources (a config file, then
 * the command line): defaults, then each source's options added (argv[0] is
 * skipped; no command allowed when allow_cmd is false), then the checks that
 * need them all.
 */
void mw_cli_defaults(struct mw_config *cfg);
int mw_cli_add(int argc, char **argv, struct mw_config *cfg, bool allow_cmd, char *err,
	       size_t errsz);
int mw_cli_finish(struct mw_config *cfg, char *err, size_t errsz);
/* Does long option `name` exist, and does it take a value? -1 if unknown. */
int mw_cli_option_has_arg(const char *name);
void mw_cli_usage(FILE *f);

#endif /* MW_CLI_H */
