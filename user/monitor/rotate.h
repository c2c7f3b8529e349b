/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The output file of a long run (-o FILE, daemon mode): a FILE * whose bytes
 * go to FILE, rotated by size (--rotate SIZE,COUNT: FILE -> FILE.1 -> ... ->
 * FILE.COUNT, the oldest dropped) only between whole lines, so no line is
 * lost or split, and reopened on SIGHUP (after logrotate moved it away).
 */
#ifndef MW_ROTATE_H
#define MW_ROTATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct mw_sink;

/*
 * Pure: how many bytes of buf (n bytes of whole lines) to write to a file
 * holding cur bytes, at most limit (0 = no limit): the longest prefix of whole
 * lines that fits. 0 when the first line does not fit: the caller rotates if
 * cur > 0; into an empty file the first line goes whole even when larger.
 */
size_t mw_rotate_take(const char *buf, size_t n, uint64_t cur, uint64_t limit);
/* "path.i" (i >= 1), or path itself for i == 0. -1 if it does not fit. */
int mw_rotate_name(char *out, size_t outsz, const char *path, uint32_t i);

/* Open path (truncated, or appended to when append); *f is the stream to write. NULL and
 * errno set on failure. */
struct mw_sink *mw_sink_open(const char *path, uint64_t rotate_size, uint32_t rotate_count,
			     bool append, FILE **f);
/* Flush, then continue in path (appending), with new rotation settings. 0 or -errno;
 * on failure the old file stays in use. */
int mw_sink_reopen(struct mw_sink *s, const char *path, uint64_t rotate_size,
		   uint32_t rotate_count);
/* Rotations done so far. */
uint64_t mw_sink_rotations(const struct mw_sink *s);

#endif /* MW_ROTATE_H */
