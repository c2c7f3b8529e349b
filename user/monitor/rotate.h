/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The output of a run: a FILE * whose bytes go to FILE (-o FILE), rotated by
 * size (--rotate SIZE,COUNT: FILE -> FILE.1 -> ... -> FILE.COUNT, the oldest
 * dropped) only between whole lines, so no line is split, and reopened on
 * SIGHUP (after logrotate moved it away); or to standard output or error.
 * Writing never fails the stream: lines that cannot be written (a full disk,
 * a closed pipe) are lost and counted (mw_sink_health), a line cut short in
 * a file of ours is taken back, and the next lines go in once writing works
 * again.
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

/* What writing has cost so far. */
struct mw_sink_health {
	uint64_t errors;     /* writes that failed (their lines are lost), and failed rotations */
	uint64_t lost_bytes; /* bytes of the lost lines */
	uint64_t recoveries; /* writes that worked again after failures */
	int last_err;	     /* errno of the last failure */
	bool failing;	     /* the last write failed */
};

/* Open path (truncated, or appended to when append); *f is the stream to write. NULL and
 * errno set on failure. */
struct mw_sink *mw_sink_open(const char *path, uint64_t rotate_size, uint32_t rotate_count,
			     bool append, FILE **f);
/* Flush, then continue in path (appending), with new rotation settings. 0 or -errno;
 * on failure the old file stays in use. */
int mw_sink_reopen(struct mw_sink *s, const char *path, uint64_t rotate_size,
		   uint32_t rotate_count);
/* The same over an fd memwatch does not own (standard output or error): never
 * rotated, reopened or closed. */
struct mw_sink *mw_sink_fd(int fd, FILE **f);
/* Rotations done so far. */
uint64_t mw_sink_rotations(const struct mw_sink *s);
void mw_sink_health(const struct mw_sink *s, struct mw_sink_health *h);

#endif /* MW_ROTATE_H */
