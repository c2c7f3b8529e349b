/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The configuration file: `key = value` lines, where each key is a long
 * option name, fed through the command-line parser (cli.c), so every option
 * works in a file without code here. Lines whose first non-blank character is
 * '#' and blank lines are ignored; a key without a value, or with the value
 * true/yes/on/1, is a flag (false/no/off/0: left out).
 */
#ifndef MW_CONFIG_H
#define MW_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include "cli.h"

#define MW_CONFIG_MAX_BYTES (1 << 20)

/* The strings a configuration points into; they live as long as it does. */
struct mw_confbuf {
	char **strs;
	size_t n, cap;
};

void mw_confbuf_free(struct mw_confbuf *b);
/* A copy of s that lives as long as b; NULL when out of memory. */
const char *mw_confbuf_dup(struct mw_confbuf *b, const char *s);

/* Where a configuration came from, so that SIGHUP can build it again. */
struct mw_config_source {
	int argc;
	char **argv;
	bool daemon_cmd;
	struct mw_confbuf keep; /* strings of the config file in force */
};

/* Add the options of a file's text to cfg. 0, or -1 with "NAME:LINE: reason" in err. */
int mw_config_parse_text(const char *name, const char *text, struct mw_config *cfg,
			 struct mw_confbuf *keep, char *err, size_t errsz);
/* The same for a file (at most MW_CONFIG_MAX_BYTES). */
int mw_config_load(const char *path, struct mw_config *cfg, struct mw_confbuf *keep, char *err,
		   size_t errsz);

/*
 * The whole configuration: defaults, then the --config file named on the
 * command line (if any), then the command line itself (its values win, its
 * lists add), then the checks. daemon_cmd: started as `memwatch daemon ...`.
 * Run again on SIGHUP. 0, or -1 with a reason in err (a usage error).
 */
int mw_config_build(int argc, char **argv, bool daemon_cmd, struct mw_config *cfg,
		    struct mw_confbuf *keep, char *err, size_t errsz);

#endif /* MW_CONFIG_H */
