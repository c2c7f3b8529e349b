/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Growing arrays: room for one more element, doubling, in one place. */
#ifndef MW_GROW_H
#define MW_GROW_H

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/*
 * Make room for need elements in the array *v (capacity *cap elements of
 * elem bytes): doubles it (first allocation: first elements, > 0) until they
 * fit. 0, or -ENOMEM with *v and *cap unchanged. mw_grow: room for element n.
 */
static inline int mw_grow_to(void *v, size_t need, size_t *cap, size_t elem, size_t first)
{
	void **pv = v;
	size_t ncap;
	void *nv;

	if (need <= *cap)
		return 0;
	ncap = *cap ? *cap : first;
	while (ncap < need) {
		if (ncap > SIZE_MAX / 2 / elem)
			return -ENOMEM;
		ncap *= 2;
	}
	nv = realloc(*pv, ncap * elem);
	if (!nv)
		return -ENOMEM;
	*pv = nv;
	*cap = ncap;
	return 0;
}

/* memcpy of an array that may be empty: an empty growing array is NULL, and memcpy must not be
 * given NULL even for 0 bytes (undefined; UBSan stops there). */
static inline void mw_copy(void *dst, const void *src, size_t bytes)
{
	if (bytes)
		memcpy(dst, src, bytes);
}

static inline int mw_grow(void *v, size_t n, size_t *cap, size_t elem, size_t first)
{
	return mw_grow_to(v, n + 1, cap, elem, first);
}

#endif /* MW_GROW_H */
