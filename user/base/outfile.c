// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Output files that cannot be turned against memwatch. See outfile.h. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "outfile.h"

int mw_out_open(const char *path, enum mw_out_mode mode)
{
	int flags = O_WRONLY | O_CREAT | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC;
	struct stat st;
	int fd, err;

	if (mode == MW_OUT_APPEND)
		flags |= O_APPEND;
	else if (mode == MW_OUT_NEW)
		flags |= O_EXCL;
	/* Not O_TRUNC: nothing is emptied before the checks below. */
	fd = open(path, flags, 0644);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st)) {
		err = -errno;
		close(fd);
		return err;
	}
	if (S_ISREG(st.st_mode) && st.st_nlink > 1) {
		close(fd);
		return -EMLINK;
	}
	if (mode == MW_OUT_TRUNC && S_ISREG(st.st_mode) && st.st_size && ftruncate(fd, 0)) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

FILE *mw_out_fopen(const char *path, enum mw_out_mode mode)
{
	int fd = mw_out_open(path, mode);
	FILE *f;

	if (fd < 0) {
		errno = -fd;
		return NULL;
	}
	f = fdopen(fd, mode == MW_OUT_APPEND ? "a" : "w");
	if (!f) {
		int err = errno;

		close(fd);
		errno = err;
	}
	return f;
}

const char *mw_out_strerror(int err)
{
	if (err < 0)
		err = -err;
	if (err == ELOOP)
		return "it is a symbolic link (memwatch does not write through one: name the file "
		       "itself)";
	if (err == EMLINK)
		return "it has other hard links (memwatch does not write to a file that may be "
		       "someone else's)";
	return strerror(err);
}
