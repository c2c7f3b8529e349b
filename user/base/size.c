// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Sizes written by people. See size.h. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "size.h"

int mw_parse_size(const char *s, const char *suffixes, uint64_t *out)
{
	static const char units[] = "KMG";
	unsigned long long v;
	char *end;
	int shift = 0;

	errno = 0;
	if (*s < '0' || *s > '9')
		return -1;
	v = strtoull(s, &end, 10);
	if (errno)
		return -1;
	if (*end) {
		char c = (char)toupper((unsigned char)*end);
		const char *u = strchr(units, c);

		if (!u || !strchr(suffixes, c) || end[1])
			return -1;
		shift = 10 * (int)(u - units + 1);
	}
	if (v > (UINT64_MAX >> shift))
		return -1;
	*out = (uint64_t)v << shift;
	return 0;
}
