/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Values of the continuous-monitoring options (--comm, --cgroup, --rotate, --max-*), parsed
 * into struct mw_config for cli.c. Pure; 0, or -1 with a one-line reason in err. */
#ifndef MW_CLI_MONITOR_H
#define MW_CLI_MONITOR_H

#include <stddef.h>
#include <stdint.h>
#include "base/options.h"

#define MW_MAX_MAX_PROCS (1U << 20)
#define MW_MAX_MAX_THREADS (1U << 22)

/* A POSIX extended regex, checked here, kept as given. */
int mw_opt_comm(const char *s, struct mw_config *cfg, char *err, size_t errsz);
/* An absolute path, not given twice (that it is a cgroup v2 directory is checked at start). */
int mw_opt_cgroup(const char *s, struct mw_config *cfg, char *err, size_t errsz);
/* A trigger specification (trigger/trigger.h), at most MW_MAX_TRIGGERS. */
int mw_opt_trigger(const char *s, struct mw_config *cfg, char *err, size_t errsz);
/* SIZE,COUNT: SIZE >= 4K with a K/M/G suffix, COUNT 1..1000. */
int mw_opt_rotate(const char *s, struct mw_config *cfg, char *err, size_t errsz);
/* A number 1..max. */
int mw_opt_count(const char *opt, const char *s, uint32_t max, uint32_t *out, char *err,
		 size_t errsz);

#endif /* MW_CLI_MONITOR_H */
