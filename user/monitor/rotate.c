// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Size-rotated output between whole lines. See rotate.h. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "base/grow.h"
#include "base/outfile.h"
#include "rotate.h"

/* A line longer than this is written as it comes (ours are far shorter). */
#define MW_SINK_MAX_LINE (1 << 20)
#define MW_SINK_BUF (64 << 10)

struct mw_sink {
	FILE *f;
	int fd;
	char *path;	/* NULL: an fd given (standard output or error), never rotated */
	uint64_t limit; /* 0: never rotate */
	uint32_t count;
	uint64_t size; /* bytes in the current file */
	uint64_t rotations;
	char *carry; /* the start of a line whose end has not come yet */
	size_t ncarry, capcarry;
	struct mw_sink_health h;
};

size_t mw_rotate_take(const char *buf, size_t n, uint64_t cur, uint64_t limit)
{
	size_t take = 0;

	while (take < n) {
		const char *nl = memchr(buf + take, '\n', n - take);
		size_t end = nl ? (size_t)(nl - buf) + 1 : n;

		if (limit && cur + end > limit) {
			/* An oversized line goes alone into an empty file. */
			if (!take && !cur)
				return end;
			break;
		}
		take = end;
	}
	return take;
}

int mw_rotate_name(char *out, size_t outsz, const char *path, uint32_t i)
{
	int n = i ? snprintf(out, outsz, "%s.%u", path, i) : snprintf(out, outsz, "%s", path);

	return n < 0 || (size_t)n >= outsz ? -1 : 0;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/*
 * Whole lines, or nothing: n bytes of them could not be written (a full disk,
 * a closed pipe). They are lost and counted; in a file of our own, the part of
 * them that did go in is taken back, so the next line starts a line. Writing
 * goes on with the next lines: when the disk has room again, they go in.
 */
static void lose(struct mw_sink *s, int err, size_t n, off_t size_before)
{
	struct stat st;

	s->h.errors++;
	s->h.lost_bytes += n;
	s->h.last_err = -err;
	s->h.failing = true;
	if (s->path && size_before >= 0 && !fstat(s->fd, &st) && st.st_size > size_before &&
	    ftruncate(s->fd, size_before) == 0 && lseek(s->fd, 0, SEEK_END) < 0)
		s->h.last_err = errno;
}

/* Write n bytes of whole lines, counting a failure instead of returning it. */
static void put_counted(struct mw_sink *s, const char *p, size_t n)
{
	struct stat st;
	off_t before = s->path && !fstat(s->fd, &st) && S_ISREG(st.st_mode) ? st.st_size : -1;
	int err = write_all(s->fd, p, n);

	if (err) {
		lose(s, err, n, before);
		return;
	}
	s->size += n;
	if (s->h.failing) {
		s->h.failing = false;
		s->h.recoveries++;
	}
}

/* base/outfile.h: no symbolic link followed, no file with other links written. */
static int open_file(const char *path, enum mw_out_mode mode, uint64_t *size)
{
	struct stat st;
	int fd = mw_out_open(path, mode);

	if (fd < 0)
		return fd;
	*size = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0;
	return fd;
}

/*
 * FILE -> FILE.1 -> ... -> FILE.COUNT; a new FILE. rename() moves links
 * themselves, and the new FILE is created (O_EXCL), never reopened: whatever
 * someone put at FILE after the move (a link to another file) is removed, not
 * written through.
 */
static int rotate(struct mw_sink *s)
{
	char from[PATH_MAX], to[PATH_MAX];
	int fd;

	for (uint32_t i = s->count; i >= 1; i--) {
		if (mw_rotate_name(from, sizeof(from), s->path, i - 1) ||
		    mw_rotate_name(to, sizeof(to), s->path, i))
			return -ENAMETOOLONG;
		if (rename(from, to) && errno != ENOENT)
			return -errno;
	}
	if (!s->count && unlink(s->path) && errno != ENOENT)
		return -errno; /* no old files kept: the full one goes */
	fd = open_file(s->path, MW_OUT_NEW, &s->size);
	if (fd == -EEXIST && !unlink(s->path))
		fd = open_file(s->path, MW_OUT_NEW, &s->size);
	if (fd < 0)
		return fd;
	close(s->fd);
	s->fd = fd;
	s->rotations++;
	return 0;
}

/* Whole lines: rotate wherever the next line would not fit. */
static void put_lines(struct mw_sink *s, const char *p, size_t n)
{
	while (n) {
		size_t take = mw_rotate_take(p, n, s->size, s->limit);
		int err;

		if (!take) {
			err = rotate(s);
			if (!err)
				continue;
			/* Cannot rotate: the lines go on into the file we have. */
			s->h.errors++;
			s->h.last_err = -err;
			take = mw_rotate_take(p, n, 0, s->limit);
		}
		put_counted(s, p, take);
		p += take;
		n -= take;
	}
}

static int carry_add(struct mw_sink *s, const char *p, size_t n)
{
	if (mw_grow_to(&s->carry, s->ncarry + n, &s->capcarry, 1, 4096))
		return -ENOMEM;
	if (n)
		memcpy(s->carry + s->ncarry, p, n);
	s->ncarry += n;
	return 0;
}

static ssize_t sink_write(void *cookie, const char *buf, size_t n)
{
	struct mw_sink *s = cookie;
	const char *last = n ? memrchr(buf, '\n', n) : NULL;
	size_t whole = last ? (size_t)(last - buf) + 1 : 0, total = n;
	int err = 0;

	if (!whole) {
		/* No line ends here: keep it for the next call (a giant line goes as it is). */
		err = carry_add(s, buf, n);
		if (!err && s->ncarry > MW_SINK_MAX_LINE) {
			put_counted(s, s->carry, s->ncarry);
			s->ncarry = 0;
		}
	} else {
		if (s->ncarry) {
			/* Complete the pending line, then write it as one. */
			const char *nl = memchr(buf, '\n', n);
			size_t head = (size_t)(nl - buf) + 1;

			err = carry_add(s, buf, head);
			if (!err)
				put_lines(s, s->carry, s->ncarry);
			s->ncarry = 0;
			buf += head;
			n -= head;
			whole -= head;
		}
		if (!err)
			put_lines(s, buf, whole);
		if (!err)
			err = carry_add(s, buf + whole, n - whole);
	}
	/* Only running out of memory is stdio's business: write errors are counted here,
	 * and the stream stays usable for when writing works again. */
	if (err) {
		errno = -err;
		return -1;
	}
	return (ssize_t)total;
}

static int sink_close(void *cookie)
{
	struct mw_sink *s = cookie;
	int err = 0;

	if (s->ncarry)
		put_counted(s, s->carry, s->ncarry);
	/* The last lines did not go out: the caller is told, once. */
	if (s->path && close(s->fd))
		err = -errno;
	else if (s->h.failing)
		err = -s->h.last_err;
	free(s->carry);
	free(s->path);
	free(s);
	if (err) {
		errno = -err;
		return -1;
	}
	return 0;
}

static FILE *sink_stream(struct mw_sink *s)
{
	cookie_io_functions_t io = { .write = sink_write, .close = sink_close };

	s->f = fopencookie(s, "w", io);
	if (s->f)
		setvbuf(s->f, NULL, _IOFBF, MW_SINK_BUF);
	return s->f;
}

struct mw_sink *mw_sink_fd(int fd, FILE **f)
{
	struct mw_sink *s = calloc(1, sizeof(*s));

	if (!s) {
		errno = ENOMEM;
		return NULL;
	}
	s->fd = fd;
	if (!sink_stream(s)) {
		free(s);
		return NULL;
	}
	*f = s->f;
	return s;
}

struct mw_sink *mw_sink_open(const char *path, uint64_t rotate_size, uint32_t rotate_count,
			     bool append, FILE **f)
{
	struct mw_sink *s = calloc(1, sizeof(*s));
	int err;

	if (!s || !(s->path = strdup(path))) {
		free(s);
		errno = ENOMEM;
		return NULL;
	}
	s->limit = rotate_size;
	s->count = rotate_count;
	s->fd = open_file(path, append ? MW_OUT_APPEND : MW_OUT_TRUNC, &s->size);
	if (s->fd < 0) {
		err = -s->fd;
		free(s->path);
		free(s);
		errno = err;
		return NULL;
	}
	if (!sink_stream(s)) {
		err = errno;
		close(s->fd);
		free(s->path);
		free(s);
		errno = err;
		return NULL;
	}
	*f = s->f;
	return s;
}

int mw_sink_reopen(struct mw_sink *s, const char *path, uint64_t rotate_size, uint32_t rotate_count)
{
	char *p = strdup(path);
	uint64_t size;
	int fd;

	if (!p)
		return -ENOMEM;
	if (!s->path) {
		free(p);
		return -EINVAL; /* standard output or error: nothing to reopen */
	}
	fflush(s->f);
	fd = open_file(path, MW_OUT_APPEND, &size);
	if (fd < 0) {
		free(p);
		return fd;
	}
	close(s->fd);
	free(s->path);
	s->fd = fd;
	s->path = p;
	s->size = size;
	s->limit = rotate_size;
	s->count = rotate_count;
	return 0;
}

uint64_t mw_sink_rotations(const struct mw_sink *s)
{
	return s->rotations;
}

void mw_sink_health(const struct mw_sink *s, struct mw_sink_health *h)
{
	*h = s->h;
}
