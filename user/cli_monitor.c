// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Values of the continuous-monitoring options. See cli_monitor.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "cli_monitor.h"
#include "base/errmsg.h"
#include "base/size.h"
#include "monitor/targets.h"
#include "trigger/trigger.h"

int mw_opt_rotate(const char *s, struct mw_config *cfg, char *err, size_t errsz)
{
	const char *comma = strchr(s, ',');
	char size[32], *end;
	unsigned long n;

	if (!comma || (size_t)(comma - s) >= sizeof(size))
		return mw_fail(err, errsz, -1, "--rotate: '%s' is not SIZE,COUNT", s);
	memcpy(size, s, comma - s);
	size[comma - s] = '\0';
	if (mw_parse_size(size, "KMG", &cfg->rotate_size) || cfg->rotate_size < 4096)
		return mw_fail(err, errsz, -1, "--rotate: size '%s' is not a size of 4K or more",
			       size);
	errno = 0;
	n = strtoul(comma + 1, &end, 10);
	if (comma[1] < '0' || comma[1] > '9' || errno || *end || n < 1 || n > 1000)
		return mw_fail(err, errsz, -1, "--rotate: count '%s' is not between 1 and 1000",
			       comma + 1);
	cfg->rotate_count = (uint32_t)n;
	return 0;
}

int mw_opt_count(const char *opt, const char *s, uint32_t max, uint32_t *out, char *err,
		 size_t errsz)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (*s < '0' || *s > '9' || errno || *end || v < 1 || v > max)
		return mw_fail(err, errsz, -1, "%s: '%s' is not a number between 1 and %u", opt, s,
			       max);
	*out = (uint32_t)v;
	return 0;
}

int mw_opt_comm(const char *s, struct mw_config *cfg, char *err, size_t errsz)
{
	regex_t re;

	if (!*s)
		return mw_fail(err, errsz, -1, "--comm: empty regular expression");
	if (cfg->ncomms == MW_MAX_WATCH)
		return mw_fail(err, errsz, -1, "--comm: more than %d expressions", MW_MAX_WATCH);
	if (mw_comm_regex_compile(&re, s, err, errsz))
		return -1;
	regfree(&re);
	cfg->comms[cfg->ncomms++] = s;
	return 0;
}

int mw_opt_cgroup(const char *s, struct mw_config *cfg, char *err, size_t errsz)
{
	if (*s != '/')
		return mw_fail(err, errsz, -1, "--cgroup: '%s' is not an absolute path", s);
	for (size_t i = 0; i < cfg->ncgroups; i++)
		if (!strcmp(cfg->cgroups[i], s))
			return mw_fail(err, errsz, -1, "--cgroup: %s given twice", s);
	if (cfg->ncgroups == MW_MAX_WATCH)
		return mw_fail(err, errsz, -1, "--cgroup: more than %d cgroups", MW_MAX_WATCH);
	cfg->cgroups[cfg->ncgroups++] = s;
	return 0;
}

int mw_opt_trigger(const char *s, struct mw_config *cfg, char *err, size_t errsz)
{
	struct mw_trigger t;

	_Static_assert(MW_MAX_TRIGGERS == MW_TRIG_MAX, "one limit");
	if (cfg->ntriggers == MW_MAX_TRIGGERS)
		return mw_fail(err, errsz, -1, "--trigger: more than %d triggers", MW_MAX_TRIGGERS);
	if (mw_trigger_parse(s, &t, err, errsz))
		return -1;
	cfg->triggers[cfg->ntriggers++] = s;
	return 0;
}
