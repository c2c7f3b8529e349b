/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Growing arrays: room for one more element, doubling, in one place. */
#ifndef MW_GROW_H
#define MW_GROW_H

#include <errno.h>
#include <stdlib.h>

/*
 * Make room for element n of the array *v (capacity *cap elements of elem
 * bytes): doubles it (first allocation: first elements) when full. 0, or
 * -ENOMEM with *v and *cap unchanged.
 */
static inline int mw_grow(void *v, size_t n, size_t *cap, size_t elem, size_t first)
{
	void **pv = v;
	size_t ncap;
	void *nv;

	if (n < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : first;
	nv = realloc(*pv, ncap * elem);
	if (!nv)
		return -ENOMEM;
	*pv = nv;
	*cap = ncap;
	return 0;
}

#endif /* MW_GROW_H */
