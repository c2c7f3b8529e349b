// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Target selection by name and cgroup, without BPF. See targets.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <linux/magic.h>
#include "base/errmsg.h"
#include "base/grow.h"
#include "targets.h"

#define MW_CGROUP_MAX_DEPTH 16

int mw_comm_regex_compile(regex_t *re, const char *s, char *err, size_t errsz)
{
	int rc = regcomp(re, s, REG_EXTENDED | REG_NOSUB);
	char why[128];

	if (!rc)
		return 0;
	regerror(rc, re, why, sizeof(why));
	return mw_fail(err, errsz, -1, "--comm: '%s' is not a regular expression: %s", s, why);
}

int mw_comm_set_init(struct mw_comm_set *s, const char *const *res, size_t n, char *err,
		     size_t errsz)
{
	memset(s, 0, sizeof(*s));
	if (n > MW_MAX_WATCH)
		return mw_fail(err, errsz, -1, "more than %d --comm expressions", MW_MAX_WATCH);
	for (size_t i = 0; i < n; i++) {
		if (mw_comm_regex_compile(&s->re[i], res[i], err, errsz)) {
			mw_comm_set_free(s);
			return -1;
		}
		s->n++;
	}
	return 0;
}

bool mw_comm_set_match(const struct mw_comm_set *s, const char *comm)
{
	for (size_t i = 0; i < s->n; i++)
		if (regexec(&s->re[i], comm, 0, NULL, 0) == 0)
			return true;
	return false;
}

void mw_comm_set_free(struct mw_comm_set *s)
{
	for (size_t i = 0; i < s->n; i++)
		regfree(&s->re[i]);
	s->n = 0;
}

bool mw_regex_literal(const char *re, char *out, size_t outsz)
{
	static const char meta[] = ".[]()*+?{}|^$\\";
	size_t len = strlen(re), o = 0;

	if (len < 3 || re[0] != '^' || re[len - 1] != '$' || (len >= 2 && re[len - 2] == '\\'))
		return false;
	for (size_t i = 1; i < len - 1; i++) {
		char c = re[i];

		if (c == '\\') {
			c = re[++i];
			if (!c || !strchr(meta, c))
				return false; /* \w, \b ...: not a plain character */
		} else if (strchr(meta, c)) {
			return false;
		}
		if (o + 1 >= outsz)
			return false;
		out[o++] = c;
	}
	out[o] = '\0';
	return o > 0;
}

int mw_stat_starttime(const char *stat_text, uint64_t *start)
{
	const char *p = strrchr(stat_text, ')');
	unsigned long long v;
	char *end;

	if (!p)
		return -EINVAL;
	p++;
	/* Fields after "(comm)" start at 3 (state); 22 is the 20th of them. */
	for (int field = 3; field < 22; field++) {
		while (*p == ' ')
			p++;
		while (*p && *p != ' ')
			p++;
		if (!*p)
			return -EINVAL;
	}
	while (*p == ' ')
		p++;
	errno = 0;
	v = strtoull(p, &end, 10);
	if (errno || end == p || (*end && *end != ' ' && *end != '\n'))
		return -EINVAL;
	*start = v;
	return 0;
}

static int read_small(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, size - 1);
	if (n < 0) {
		n = -errno;
		close(fd);
		return (int)n;
	}
	close(fd);
	buf[n] = '\0';
	return 0;
}

int mw_read_starttime(uint32_t pid, uint64_t *start)
{
	char path[64], text[1024];
	int err;

	snprintf(path, sizeof(path), "/proc/%u/stat", pid);
	err = read_small(path, text, sizeof(text));
	return err ? err : mw_stat_starttime(text, start);
}

int mw_cgroup_open(const char *path, int *fd, char *err, size_t errsz)
{
	struct statfs sfs;
	int f = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (f < 0)
		return mw_fail(err, errsz, -errno, "--cgroup: cannot open %s: %s", path,
			       strerror(errno));
	if (fstatfs(f, &sfs) || sfs.f_type != CGROUP2_SUPER_MAGIC) {
		close(f);
		return mw_fail(err, errsz, -ENOTDIR,
			       "--cgroup: %s is not a cgroup v2 directory (see `mount -t cgroup2`)",
			       path);
	}
	*fd = f;
	return 0;
}

static int push_pid(uint32_t pid, size_t max, uint32_t **pids, size_t *n, size_t *cap)
{
	if (*n >= max)
		return -ENOSPC;
	if (mw_grow(pids, *n, cap, sizeof(**pids), 64))
		return -ENOMEM;
	(*pids)[(*n)++] = pid;
	return 0;
}

static int cgroup_walk(const char *dir, int depth, size_t max, uint32_t **pids, size_t *n,
		       size_t *cap)
{
	char path[4096], line[32];
	struct dirent *de;
	FILE *f;
	DIR *d;
	int err = 0;

	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	f = fopen(path, "re");
	if (!f)
		return errno == ENOENT && depth ? 0 : -errno; /* removed meanwhile */
	while (!err && fgets(line, sizeof(line), f)) {
		unsigned long v = strtoul(line, NULL, 10);

		if (v)
			err = push_pid((uint32_t)v, max, pids, n, cap);
	}
	fclose(f);
	if (err || depth >= MW_CGROUP_MAX_DEPTH)
		return err;
	d = opendir(dir);
	if (!d)
		return 0;
	while (!err && (de = readdir(d))) {
		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= sizeof(path))
			continue;
		err = cgroup_walk(path, depth + 1, max, pids, n, cap);
	}
	closedir(d);
	return err;
}

int mw_cgroup_pids(const char *path, size_t max, uint32_t **pids, size_t *n)
{
	size_t cap = *n;

	return cgroup_walk(path, 0, max, pids, n, &cap);
}

int mw_proc_pids(uint32_t **pids, size_t *n)
{
	size_t cap = 0;
	struct dirent *de;
	DIR *d = opendir("/proc");
	int err = 0;

	*pids = NULL;
	*n = 0;
	if (!d)
		return -errno;
	while (!err && (de = readdir(d))) {
		char *end;
		unsigned long v = strtoul(de->d_name, &end, 10);

		if (v && !*end)
			err = push_pid((uint32_t)v, (size_t)-1, pids, n, &cap);
	}
	closedir(d);
	return err;
}
