// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* glibc's arena limit for a process. See arena_limit.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "arena_limit.h"

static int positive(const char *s)
{
	char *end;
	long v = strtol(s, &end, 10);

	return end != s && (*end == '\0' || *end == ':') && v > 0 && v < 1 << 20 ? (int)v : 0;
}

int mw_arena_limit(const char *env, size_t len, int online_cpus, const char **source)
{
	int from_env = 0, from_tunable = 0;

	for (size_t off = 0; off < len;) {
		const char *var = env + off;
		size_t vlen = strnlen(var, len - off);

		if (vlen > 17 && !strncmp(var, "MALLOC_ARENA_MAX=", 17))
			from_env = positive(var + 17);
		else if (vlen > 15 && !strncmp(var, "GLIBC_TUNABLES=", 15)) {
			const char *t = strstr(var, "glibc.malloc.arena_max=");

			if (t && t < var + vlen)
				from_tunable = positive(t + 23);
		}
		off += vlen + 1;
	}
	/* glibc reads the tunable after the environment variable: it wins. */
	if (from_tunable) {
		*source = "GLIBC_TUNABLES glibc.malloc.arena_max";
		return from_tunable;
	}
	if (from_env) {
		*source = "MALLOC_ARENA_MAX";
		return from_env;
	}
	*source = "8 x online CPUs";
	return 8 * online_cpus;
}

unsigned long mw_glibc_hugetlb(const char *env, size_t len)
{
	unsigned long v = 0;

	for (size_t off = 0; off < len;) {
		const char *var = env + off;
		size_t vlen = strnlen(var, len - off);

		if (vlen > 15 && !strncmp(var, "GLIBC_TUNABLES=", 15)) {
			const char *t = strstr(var, "glibc.malloc.hugetlb=");
			char *end;

			if (t && t < var + vlen) {
				v = strtoul(t + 21, &end, 0);
				if (end == t + 21 || (*end && *end != ':'))
					v = 0;
			}
		}
		off += vlen + 1;
	}
	return v;
}
