/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Reading a whole /proc file: the one reader of memwatch. /proc's seq files
 * render at most a page per read() whatever the buffer, so a large file (the
 * maps of a process with 20000 mappings: 500 reads) is a sequence of pieces
 * taken at different moments; the caller may watch each piece go by.
 */
#ifndef MW_READFILE_H
#define MW_READFILE_H

#include <stddef.h>
#include <stdint.h>

/* Called after each read() with the whole text so far (len bytes, not NUL-terminated), the
 * length before this read, and the CLOCK_MONOTONIC times just before and after it. */
typedef int (*mw_piece_fn)(void *ctx, const char *text, size_t len, size_t prev_len,
			   uint64_t t_before, uint64_t t_after);

/* The whole file into a malloc'd, NUL-terminated *out (*len bytes, len may be NULL);
 * the first buffer holds hint bytes. A callback's non-zero return stops the read with
 * that error. 0 or a negative errno. */
int mw_read_file(const char *path, size_t hint, char **out, size_t *len, mw_piece_fn fn, void *ctx);

#endif /* MW_READFILE_H */
