// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Whole files replaced at once. See atomic.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "atomic.h"
#include "errmsg.h"

int mw_atomic_open(struct mw_atomic *a, const char *path, char *err, size_t errsz)
{
	mode_t mask;
	int fd;

	memset(a, 0, sizeof(*a));
	a->path = strdup(path);
	if (!a->path || asprintf(&a->tmp, "%s.tmpXXXXXX", path) < 0) {
		free(a->path);
		a->path = NULL;
		a->tmp = NULL;
		return mw_fail(err, errsz, -1, "out of memory");
	}
	fd = mkstemp(a->tmp);
	if (fd < 0) {
		int e = errno;

		free(a->tmp);
		free(a->path);
		a->tmp = NULL;
		a->path = NULL;
		return mw_fail(err, errsz, -1, "cannot write %s: %s", path, strerror(e));
	}
	/* mkstemp makes it 0600: a report or a profile is for other readers too. */
	mask = umask(0);
	umask(mask);
	fchmod(fd, 0666 & ~mask);
	a->f = fdopen(fd, "w");
	if (!a->f) {
		close(fd);
		mw_atomic_abort(a);
		return mw_fail(err, errsz, -1, "out of memory");
	}
	return 0;
}

int mw_atomic_commit(struct mw_atomic *a, char *err, size_t errsz)
{
	int e = 0;

	if (fflush(a->f) || ferror(a->f))
		e = errno ? errno : EIO;
	if (fclose(a->f) && !e)
		e = errno;
	a->f = NULL;
	if (!e && rename(a->tmp, a->path))
		e = errno;
	if (e) {
		mw_fail(err, errsz, -1, "cannot write %s: %s", a->path, strerror(e));
		mw_atomic_abort(a);
		return -1;
	}
	free(a->tmp);
	free(a->path);
	memset(a, 0, sizeof(*a));
	return 0;
}

void mw_atomic_abort(struct mw_atomic *a)
{
	if (a->f)
		fclose(a->f);
	if (a->tmp)
		unlink(a->tmp);
	free(a->tmp);
	free(a->path);
	memset(a, 0, sizeof(*a));
}

int mw_atomic_write(const char *path, const void *buf, size_t len, char *err, size_t errsz)
{
	struct mw_atomic a;

	if (mw_atomic_open(&a, path, err, errsz))
		return -1;
	if (len && fwrite(buf, 1, len, a.f) != len) {
		mw_fail(err, errsz, -1, "cannot write %s: %s", path, strerror(errno));
		mw_atomic_abort(&a);
		return -1;
	}
	return mw_atomic_commit(&a, err, errsz);
}
