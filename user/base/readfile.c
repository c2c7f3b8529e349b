// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The /proc file reader. See readfile.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>
#include "clock.h"
#include "grow.h"
#include "readfile.h"

int mw_read_file(const char *path, size_t hint, char **out, size_t *lenp, mw_piece_fn fn, void *ctx)
{
	size_t cap = hint ? hint : 4096, len = 0;
	char *buf = malloc(cap);
	int fd, err = 0;

	if (!buf)
		return -ENOMEM;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		free(buf);
		return err;
	}
	for (;;) {
		uint64_t t0, t1;
		ssize_t n;

		/* Always more than a page of room: a seq file never returns more per read. */
		if (mw_grow_to(&buf, len + 8192, &cap, 1, cap)) {
			err = -ENOMEM;
			break;
		}
		t0 = fn ? mw_now_ns(CLOCK_MONOTONIC) : 0;
		n = read(fd, buf + len, cap - len - 1);
		t1 = fn ? mw_now_ns(CLOCK_MONOTONIC) : 0;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = -errno;
			break;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (fn) {
			err = fn(ctx, buf, len, len - (size_t)n, t0, t1);
			if (err)
				break;
		}
	}
	close(fd);
	if (err) {
		free(buf);
		return err;
	}
	buf[len] = '\0';
	*out = buf;
	if (lenp)
		*lenp = len;
	return 0;
}
