/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Whole files replaced at once: written to a temporary file in the same
 * directory and renamed over the destination only when complete, so a reader
 * (a profiler scraping --pprof, a browser opening a report) never sees half a
 * file and a failed write leaves the old one as it was.
 */
#ifndef MW_ATOMIC_H
#define MW_ATOMIC_H

#include <stddef.h>
#include <stdio.h>

struct mw_atomic {
	FILE *f; /* write here between open and commit */
	char *path, *tmp;
};

/* Create the temporary file. 0, or -1 with a one-line reason in err. */
int mw_atomic_open(struct mw_atomic *a, const char *path, char *err, size_t errsz);
/* Flush, close and rename into place. 0, or -1 with a reason (the temporary file is removed). */
int mw_atomic_commit(struct mw_atomic *a, char *err, size_t errsz);
/* Give up: close and remove the temporary file. Safe after a failed open or a commit. */
void mw_atomic_abort(struct mw_atomic *a);
/* The three above for a buffer. */
int mw_atomic_write(const char *path, const void *buf, size_t len, char *err, size_t errsz);

#endif /* MW_ATOMIC_H */
