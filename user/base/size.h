/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Sizes and counts written by people: "64K", "16M", "1G". */
#ifndef MW_SIZE_H
#define MW_SIZE_H

#include <stdint.h>

/*
 * A count or byte size: decimal digits with an optional suffix, one of the
 * letters in suffixes (any of "KMG", either case: powers of 1024). 0, or -1
 * when s is not one (also when it does not fit in 64 bits).
 */
int mw_parse_size(const char *s, const char *suffixes, uint64_t *out);

#endif /* MW_SIZE_H */
