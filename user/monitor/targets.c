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

/*
 * A cost model of glibc's regcomp(). It copies a repeated subexpression for
 * each count (a+ is aa*, a{1,9} nine copies), so nested repetition multiplies
 * the copies: (ab)++++++++++++++++++++++ took 17 s and 4.1 GB. And every
 * optional copy (under ?, *, or past m in {m,n}) adds epsilon transitions
 * whose closures glibc computes for every node, which grows with copies x
 * optional copies: a?{0,2000} takes 4 s with only 4000 copies. Both are
 * counted here (saturating), and an expression over either limit is refused:
 * measured, what passes compiles in under 0.1 s.
 */
struct re_size {
	uint64_t copies, optional;
};

struct re_cost {
	const char *p;
};

static uint64_t sat(uint64_t v)
{
	return v > MW_COMM_REGEX_COST * MW_COMM_REGEX_COST ? MW_COMM_REGEX_COST * MW_COMM_REGEX_COST
							   : v;
}

static uint64_t mul(uint64_t a, uint64_t b)
{
	return a && b > (UINT64_MAX / 4) / a ? sat(UINT64_MAX) : sat(a * b);
}

static struct re_size add(struct re_size a, struct re_size b)
{
	return (struct re_size){ sat(a.copies + b.copies), sat(a.optional + b.optional) };
}

static struct re_size cost_alt(struct re_cost *c);

/* A bracket expression, after its '[': to its ']' (one atom). */
static void skip_bracket(struct re_cost *c)
{
	if (*c->p == '^')
		c->p++;
	if (*c->p == ']')
		c->p++;
	while (*c->p && *c->p != ']') {
		if (c->p[0] == '[' && (c->p[1] == ':' || c->p[1] == '.' || c->p[1] == '=')) {
			const char *end = strstr(c->p + 2, (char[]){ c->p[1], ']', '\0' });

			c->p = end ? end + 2 : c->p + strlen(c->p);
			continue;
		}
		c->p++;
	}
	if (*c->p)
		c->p++;
}

static struct re_size cost_atom(struct re_cost *c)
{
	struct re_size n = { 1, 0 };

	switch (*c->p) {
	case '(':
		c->p++;
		n = add(cost_alt(c), n);
		if (*c->p == ')')
			c->p++;
		return n;
	case '[':
		c->p++;
		skip_bracket(c);
		return n;
	case '\\': c->p += c->p[1] ? 2 : 1; return n;
	default: c->p++; return n;
	}
}

/* "{m}", "{m,}", "{m,n}", "{,n}" after its '{' (counts as written, at most 0x7fff). */
static void bound(struct re_cost *c, uint64_t *m, uint64_t *n, bool *open)
{
	bool comma = false;

	*m = *n = 0;
	for (; *c->p && *c->p != '}'; c->p++) {
		uint64_t *v = comma ? n : m;

		if (*c->p == ',')
			comma = true;
		else if (*c->p >= '0' && *c->p <= '9' && *v < 0x7fff)
			*v = *v * 10 + (uint64_t)(*c->p - '0');
	}
	if (*c->p)
		c->p++;
	*open = comma && !*n;
	if (!comma || *n < *m)
		*n = *m;
}

static struct re_size cost_piece(struct re_cost *c)
{
	struct re_size s = cost_atom(c), t;
	uint64_t m, n;
	bool open;

	for (;;) {
		switch (*c->p) {
		case '*':
		case '?': /* the whole of it optional, once more */
			s.copies = sat(s.copies + 1);
			s.optional = s.copies;
			c->p++;
			continue;
		case '+': /* s s*: a copy that is optional */
			t.copies = sat(2 * s.copies + 1);
			t.optional = sat(2 * s.optional + s.copies + 1);
			s = t;
			c->p++;
			continue;
		case '{':
			c->p++;
			bound(c, &m, &n, &open);
			if (open) /* {m,}: m copies and a starred one */
				n = m + 1;
			t.copies = mul(s.copies, n ? n : 1);
			t.optional = sat(mul(s.optional, m) + mul(s.copies, n - m));
			s = t;
			continue;
		default: return s;
		}
	}
}

static struct re_size cost_alt(struct re_cost *c)
{
	struct re_size sum = { 0, 0 };

	while (*c->p && *c->p != ')') {
		if (*c->p == '|') {
			c->p++;
			continue;
		}
		sum = add(sum, cost_piece(c));
	}
	return sum;
}

uint64_t mw_comm_regex_cost(const char *s)
{
	struct re_cost c = { .p = s };
	struct re_size n = { 0, 0 };
	uint64_t epsilon;

	while (*c.p) {
		n = add(n, cost_alt(&c));
		if (*c.p == ')')
			c.p++; /* unbalanced: regcomp refuses it */
	}
	/* One number for both limits: the copies, or what the closures cost in the same
	 * unit (copies x optional copies, scaled so that MW_COMM_REGEX_EPSILON maps to
	 * MW_COMM_REGEX_COST). */
	epsilon = mul(n.copies, n.optional) / (MW_COMM_REGEX_EPSILON / MW_COMM_REGEX_COST);
	return n.copies > epsilon ? n.copies : epsilon;
}

int mw_comm_regex_compile(regex_t *re, const char *s, char *err, size_t errsz)
{
	char why[128];
	int rc;

	/* Checked before regcomp(), whose time and memory grow with the copies. */
	if (strlen(s) > MW_COMM_REGEX_MAX)
		return mw_fail(err, errsz, -1,
			       "--comm: the regular expression is %zu characters long; at most %d "
			       "(a process name has 15)",
			       strlen(s), MW_COMM_REGEX_MAX);
	if (mw_comm_regex_cost(s) > MW_COMM_REGEX_COST)
		return mw_fail(err, errsz, -1,
			       "--comm: '%s' repeats too much to compile (nested +, * or {m,n}: "
			       "glibc copies each repetition); simplify it",
			       s);
	rc = regcomp(re, s, REG_EXTENDED | REG_NOSUB);
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
