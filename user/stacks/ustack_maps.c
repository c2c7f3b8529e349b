// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* /proc/PID/maps -> code modules. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "base/grow.h"
#include "base/readfile.h"
#include "ustack_maps.h"

void mw_umaps_clear(struct mw_umods *m)
{
	for (size_t i = 0; i < m->n; i++)
		free(m->m[i].path);
	free(m->m);
	m->m = NULL;
	m->n = 0;
}

struct line {
	uint64_t start, end, off, inode;
	unsigned int maj, min;
	bool exec;
	const char *path;
	size_t path_len;
};

static int parse_line(const char *s, const char *eol, struct line *l)
{
	char perms[5];
	int used = 0;

	if (sscanf(s, "%" SCNx64 "-%" SCNx64 " %4s %" SCNx64 " %x:%x %" SCNu64 "%n", &l->start,
		   &l->end, perms, &l->off, &l->maj, &l->min, &l->inode, &used) != 7 ||
	    s + used > eol || l->end <= l->start || strlen(perms) != 4)
		return -EINVAL;
	l->exec = perms[2] == 'x';
	s += used;
	while (s < eol && *s == ' ')
		s++;
	l->path = s;
	l->path_len = (size_t)(eol - s);
	return 0;
}

static bool same_file(const struct mw_umod *m, const struct line *l)
{
	return m->inode == l->inode && m->dev_major == l->maj && m->dev_minor == l->min &&
	       strlen(m->path) == l->path_len && !memcmp(m->path, l->path, l->path_len);
}

int mw_umaps_parse(const char *text, struct mw_umods *out)
{
	struct mw_umods all = { 0 };
	size_t cap = 0, capx = 0;
	bool *exec = NULL;
	uint64_t last_off = 0;
	int err = 0;

	mw_umaps_clear(out);
	for (const char *s = text; *s;) {
		const char *eol = strchr(s, '\n');
		struct mw_umod *m = NULL;
		struct line l;

		if (!eol)
			eol = s + strlen(s);
		if (eol == s) {
			s = *eol ? eol + 1 : eol;
			continue;
		}
		err = parse_line(s, eol, &l);
		if (err)
			goto out;
		s = *eol ? eol + 1 : eol;
		if (l.inode == 0 || l.path_len == 0 || l.path[0] != '/')
			continue; /* anonymous, [heap], [vdso]...: no file to read */
		/* A module is a run of adjacent mappings of one file at rising file
		 * offsets; the same file mapped again (libelf reading it, say, which
		 * maps it whole from offset 0) is another run, even right beside it. */
		if (all.n && same_file(&all.m[all.n - 1], &l) && all.m[all.n - 1].high == l.start &&
		    l.off > last_off)
			m = &all.m[all.n - 1];
		last_off = l.off;
		if (m) {
			m->high = l.end;
			if (l.exec && !exec[m - all.m]) {
				m->exec_start = l.start;
				m->exec_end = l.end;
				m->exec_off = l.off;
			}
			exec[m - all.m] |= l.exec;
			continue;
		}
		if (all.n == MW_UMAPS_MAX * 2)
			continue;
		if (mw_grow(&all.m, all.n, &cap, sizeof(*all.m), 64) ||
		    mw_grow(&exec, all.n, &capx, sizeof(*exec), 64)) {
			err = -ENOMEM;
			goto out;
		}
		m = &all.m[all.n];
		memset(m, 0, sizeof(*m));
		m->path = strndup(l.path, l.path_len);
		if (!m->path) {
			err = -ENOMEM;
			goto out;
		}
		all.n++;
		m->low = m->first_start = l.start;
		m->high = m->first_end = l.end;
		m->first_off = l.off;
		m->inode = l.inode;
		m->dev_major = l.maj;
		m->dev_minor = l.min;
		if (l.exec) {
			m->exec_start = l.start;
			m->exec_end = l.end;
			m->exec_off = l.off;
		}
		exec[all.n - 1] = l.exec;
	}
	/* Keep the code modules only, in place. */
	for (size_t i = 0; i < all.n; i++) {
		if (exec[i] && out->n < MW_UMAPS_MAX) {
			all.m[out->n++] = all.m[i];
		} else {
			free(all.m[i].path);
		}
	}
	out->m = all.m;
	all.m = NULL;
	all.n = 0;
out:
	free(exec);
	mw_umaps_clear(&all);
	return err;
}

int mw_umaps_read(uint32_t pid, struct mw_umods *out)
{
	char path[64], *buf;
	size_t len;
	int err;

	snprintf(path, sizeof(path), "/proc/%u/maps", pid);
	err = mw_read_file(path, 65536, &buf, &len, NULL, NULL);
	if (err)
		return err == -ENOENT ? -ESRCH : err;
	err = len ? mw_umaps_parse(buf, out) : -ESRCH; /* a zombie has empty maps */
	free(buf);
	return err;
}
