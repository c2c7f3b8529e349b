// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* /proc parsers and readers. The parsers are strict about the fields they
 * use (a wrong baseline is worse than none) and take the text as the kernel
 * writes it, so recorded samples exercise them without a live process. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "base/clock.h"
#include "base/grow.h"
#include "base/readfile.h"
#include "procfs.h"

#define PF_KTHREAD 0x00200000 /* include/linux/sched.h; not exported to user space */

/* ---- small strict number parsers ------------------------------------ */

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Unlike strtoull, accept no sign, no "0x" and no leading blanks, and
 * refuse overflow instead of saturating. */
static bool parse_hex(const char **p, uint64_t *v)
{
	const char *s = *p;
	uint64_t x = 0;
	int dig;

	if (hex_digit(*s) < 0)
		return false;
	for (; (dig = hex_digit(*s)) >= 0; s++) {
		if (x >> 60)
			return false;
		x = x << 4 | (uint64_t)dig;
	}
	*p = s;
	*v = x;
	return true;
}

static bool parse_dec(const char **p, uint64_t *v)
{
	const char *s = *p;
	uint64_t x = 0;

	if (*s < '0' || *s > '9')
		return false;
	for (; *s >= '0' && *s <= '9'; s++) {
		uint64_t dig = (uint64_t)(*s - '0');

		if (x > (UINT64_MAX - dig) / 10)
			return false;
		x = x * 10 + dig;
	}
	*p = s;
	*v = x;
	return true;
}

static bool at_eol(char c)
{
	return c == '\0' || c == '\n';
}

/* ---- maps ------------------------------------------------------------ */

static uint32_t name_flags(const char *name, size_t len)
{
	/* [uprobes]: the kernel's page for stepping over uprobes, mapped without a
	 * syscall the first time one fires in the process. */
	static const char *const special[] = { "[vdso]", "[vvar]", "[vvar_vclock]", "[vsyscall]",
					       "[uprobes]" };

#define IS(lit) (len == sizeof(lit) - 1 && memcmp(name, lit, len) == 0)
	/* The kernel names a SysV segment "SYSV<key>" on its internal mount. */
	if (len > 5 && !memcmp(name, "/SYSV", 5))
		return MW_RF_FILE | MW_RF_SHM;
	if (len && name[0] == '/')
		return MW_RF_FILE; /* also /memfd:..., /dev/zero (deleted) */
	if (IS("[heap]"))
		return MW_RF_HEAP;
	if (IS("[stack]"))
		return MW_RF_STACK;
	for (size_t i = 0; i < sizeof(special) / sizeof(special[0]); i++)
		if (len == strlen(special[i]) && memcmp(name, special[i], len) == 0)
			return MW_RF_SPECIAL;
#undef IS
	return 0;
}

/* "start-end perms offset major:minor inode   name" as show_map_vma()
 * prints it; the name is the rest of the line, spaces included. */
int mw_maps_parse_line(const char *line, struct mw_region *r)
{
	const char *p = line, *name;
	uint64_t start, end, off, dev, inode;
	uint32_t prot = 0, flags = MW_RF_BASELINE;
	size_t len;

	if (!parse_hex(&p, &start) || *p++ != '-' || !parse_hex(&p, &end) || *p++ != ' ')
		return -EINVAL;
	if (start >= end)
		return -EINVAL;
	if ((p[0] != 'r' && p[0] != '-') || (p[1] != 'w' && p[1] != '-') ||
	    (p[2] != 'x' && p[2] != '-') || (p[3] != 's' && p[3] != 'p') || p[4] != ' ')
		return -EINVAL;
	prot |= p[0] == 'r' ? PROT_READ : 0;
	prot |= p[1] == 'w' ? PROT_WRITE : 0;
	prot |= p[2] == 'x' ? PROT_EXEC : 0;
	flags |= p[3] == 's' ? MW_RF_SHARED : 0;
	p += 5;
	if (!parse_hex(&p, &off) || *p++ != ' ' || !parse_hex(&p, &dev) || *p++ != ':' ||
	    !parse_hex(&p, &dev) || *p++ != ' ' || !parse_dec(&p, &inode))
		return -EINVAL;
	if (!at_eol(*p) && *p != ' ')
		return -EINVAL;
	while (*p == ' ')
		p++;
	name = p;
	while (!at_eol(*p))
		p++;
	len = (size_t)(p - name);

	*r = (struct mw_region){ .start = start, .end = end, .prot = prot };
	if (len) {
		r->name = mw_intern_len(name, len);
		if (!r->name)
			return -ENOMEM;
		flags |= name_flags(name, len);
	}
	/* A mapping with an inode is backed by a file even when its name does
	 * not look like a path (anon_inode:..., e.g. perf or io_uring rings),
	 * which is how an mmap() of an fd is classified too. */
	if (inode)
		flags |= MW_RF_FILE;
	r->flags = flags;
	return 0;
}

int mw_maps_parse(const char *text, struct mw_regions *out)
{
	const char *p = text;
	int err;

	mw_regions_clear(out);
	while (*p) {
		struct mw_region g;
		const char *nl = strchr(p, '\n');

		if (!at_eol(*p)) {
			err = mw_maps_parse_line(p, &g);
			if (!err)
				err = mw_regions_map(out, &g, NULL);
			if (err) {
				/* Half a baseline would pass for a whole one. */
				mw_regions_clear(out);
				return err;
			}
		}
		if (!nl)
			break;
		p = nl + 1;
	}
	return 0;
}

/* ---- reading files ---------------------------------------------------- */

/* Read a whole /proc file into a malloc'd NUL-terminated buffer. */
static int read_text(const char *path, size_t hint, char **out)
{
	return mw_read_file(path, hint, out, NULL, NULL, NULL);
}

static int read_pid_file(uint32_t pid, const char *file, size_t hint, char **out)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%u/%s", pid, file);
	return read_text(path, hint, out);
}

static bool exec_mapped_name(const char *name, const char *exe)
{
	const char *base;

	if (!name)
		return false;
	if (name[0] == '[')
		return !strcmp(name, "[stack]") || !strcmp(name, "[vdso]") ||
		       !strcmp(name, "[vvar]") || !strcmp(name, "[vvar_vclock]") ||
		       !strcmp(name, "[vsyscall]");
	if (exe && !strcmp(name, exe))
		return true;
	base = mw_path_base(name);
	return !strncmp(base, "ld-", 3) && strstr(base, ".so");
}

const char *mw_path_base(const char *path)
{
	const char *b = strrchr(path, '/');

	return b ? b + 1 : path;
}

bool mw_is_libc_path(const char *path)
{
	const char *base = mw_path_base(path);

	return !strncmp(base, "libc.so", 7) || !strncmp(base, "libc-", 5);
}

int mw_maps_find_file(const char *maps_text, const char *path, uint64_t *start, uint64_t *end,
		      char *path_out, size_t outsz)
{
	bool libc = mw_is_libc_path(path);

	for (const char *line = maps_text; line && *line;) {
		const char *eol = strchr(line, '\n');
		size_t len = eol ? (size_t)(eol - line) : strlen(line);
		uint64_t s, e, off;
		int name = 0;

		if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %*s %" SCNx64 " %*s %*u %n", &s, &e, &off,
			   &name) == 3 &&
		    name > 0 && (size_t)name < len && line[name] == '/' && off == 0) {
			const char *n = line + name;
			size_t nlen = len - (size_t)name;
			char buf[PATH_MAX];

			if (nlen < sizeof(buf)) {
				memcpy(buf, n, nlen);
				buf[nlen] = '\0';
				if (libc ? mw_is_libc_path(buf) : !strcmp(buf, path)) {
					*start = s;
					*end = e;
					snprintf(path_out, outsz, "%s", buf);
					return 0;
				}
			}
		}
		line = eol ? eol + 1 : NULL;
	}
	return -ENOENT;
}

int mw_open_mapped_file(uint32_t pid, uint64_t start, uint64_t end, const char *path)
{
	char p[PATH_MAX + 64];
	int fd;

	snprintf(p, sizeof(p), "/proc/%u/map_files/%" PRIx64 "-%" PRIx64, pid, start, end);
	fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd >= 0)
		return fd;
	snprintf(p, sizeof(p), "/proc/%u/root%s", pid, path);
	fd = open(p, O_RDONLY | O_CLOEXEC);
	return fd >= 0 ? fd : -errno;
}

int mw_maps_exec_baseline(const char *text, const char *exe, char **out, uint64_t *bytes)
{
	size_t len = strlen(text), off = 0;
	uint64_t kept_end = 0, total = 0;
	char *buf = malloc(len + 1);
	const char *p = text;

	if (!buf)
		return -ENOMEM;
	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) + 1 : strlen(p);
		struct mw_region r;
		char line[4096];
		bool keep;

		snprintf(line, sizeof(line), "%.*s",
			 (int)(n > sizeof(line) - 1 ? sizeof(line) - 1 : n), p);
		if (mw_maps_parse_line(line, &r) == 0) {
			keep = exec_mapped_name(r.name, exe) ||
			       /* the bss the kernel maps right after the executable or interpreter */
			       (!r.name && r.start == kept_end &&
				r.prot == (PROT_READ | PROT_WRITE));
			if (keep) {
				memcpy(buf + off, p, n);
				off += n;
				if (!r.name || strcmp(r.name, "[vsyscall]"))
					total += r.end - r.start;
				kept_end = r.name && r.name[0] != '[' ? r.end : 0;
			} else {
				kept_end = 0;
			}
		}
		p += n;
	}
	buf[off] = '\0';
	*out = buf;
	*bytes = total;
	return 0;
}

int mw_read_maps_text(uint32_t pid, char **text)
{
	return read_pid_file(pid, "maps", 256 * 1024, text);
}

struct pieces {
	struct mw_maps_piece *v;
	size_t n, cap;
	uint64_t lo; /* the end of the last mapping shown so far */
};

/* After each read(): the addresses it covered, from the end of the last mapping the
 * previous read showed to the end of the last one this read showed. */
static int on_piece(void *ctx, const char *text, size_t len, size_t prev, uint64_t t0, uint64_t t1)
{
	struct pieces *ps = ctx;
	size_t end = len, line;
	uint64_t start, stop;
	const char *p;

	while (end > prev && text[end - 1] != '\n')
		end--;
	if (end == prev)
		return 0; /* no whole line yet (it never happens with a large buffer) */
	line = end - 1;
	while (line > 0 && text[line - 1] != '\n')
		line--;
	/* Only "start-end" is needed (the line goes on to a newline: no overrun). */
	p = text + line;
	if (!parse_hex(&p, &start) || *p++ != '-' || !parse_hex(&p, &stop))
		return 0;
	if (mw_grow(&ps->v, ps->n, &ps->cap, sizeof(*ps->v), 64))
		return -ENOMEM;
	ps->v[ps->n++] = (struct mw_maps_piece){ .lo = ps->lo, .t_before = t0, .t_after = t1 };
	ps->lo = stop;
	return 0;
}

int mw_read_maps_timed(uint32_t pid, char **text, struct mw_maps_piece **pieces, size_t *n)
{
	struct pieces ps = { 0 };
	char path[64];
	int err;

	snprintf(path, sizeof(path), "/proc/%u/maps", pid);
	err = mw_read_file(path, 256 * 1024, text, NULL, on_piece, &ps);
	if (err) {
		free(ps.v);
		return err;
	}
	*pieces = ps.v;
	*n = ps.n;
	return 0;
}

int mw_read_maps(uint32_t pid, struct mw_regions *out)
{
	char *text;
	int err = read_pid_file(pid, "maps", 256 * 1024, &text);

	if (err)
		return err;
	err = mw_maps_parse(text, out);
	free(text);
	return err;
}

/* ---- status and stat -------------------------------------------------- */

int mw_smaps_parse(const char *text, struct mw_rss **v, size_t *n)
{
	struct mw_rss *out = NULL, *cur = NULL;
	size_t cnt = 0, cap = 0;
	const char *p = text;

	for (; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		uint64_t a, b, kb;
		const char *q = p;

		if (parse_hex(&q, &a) && *q == '-') {
			q++;
			if (!parse_hex(&q, &b) || *q != ' ' || b < a)
				goto bad;
			if (mw_grow(&out, cnt, &cap, sizeof(*out), 64)) {
				free(out);
				return -ENOMEM;
			}
			cur = &out[cnt++];
			*cur = (struct mw_rss){ .start = a, .end = b };
			continue;
		}
		if (strncmp(p, "Rss:", 4) == 0) {
			q = p + 4;
			while (*q == ' ' || *q == '\t')
				q++;
			if (!cur || !parse_dec(&q, &kb) || strncmp(q, " kB", 3) != 0)
				goto bad;
			cur->rss = kb * 1024;
		}
	}
	*v = out;
	*n = cnt;
	return 0;
bad:
	free(out);
	return -EINVAL;
}

int mw_read_smaps(uint32_t pid, struct mw_rss **v, size_t *n)
{
	char *text;
	int err = read_pid_file(pid, "smaps", 1 << 20, &text);

	if (err)
		return err;
	err = mw_smaps_parse(text, v, n);
	free(text);
	return err;
}

int mw_read_present(uint32_t pid, uint64_t start, uint64_t end, uint64_t page_size, uint64_t *bytes)
{
	uint64_t buf[512], pages = 0;
	char path[64];
	int fd, err = 0;

	snprintf(path, sizeof(path), "/proc/%u/pagemap", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	for (uint64_t a = start; a < end && !err;) {
		uint64_t want = (end - a) / page_size < 512 ? (end - a) / page_size : 512;
		ssize_t got = pread(fd, buf, want * sizeof(buf[0]),
				    (off_t)(a / page_size * sizeof(buf[0])));

		if (got <= 0 || got % (ssize_t)sizeof(buf[0])) {
			err = got < 0 ? -errno : -EIO;
			break;
		}
		/* Bit 63: the page is present (a swapped one is not resident). */
		for (size_t i = 0; i < (size_t)got / sizeof(buf[0]); i++)
			pages += buf[i] >> 63;
		a += (uint64_t)got / sizeof(buf[0]) * page_size;
	}
	close(fd);
	*bytes = pages * page_size;
	return err;
}

int mw_status_kb(const char *status_text, const char *field, uint64_t *bytes)
{
	const char *p = status_text;
	size_t flen = strlen(field);
	uint64_t kb;

	for (; p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (strncmp(p, field, flen) != 0 || p[flen] != ':')
			continue;
		p += flen + 1;
		while (*p == ' ' || *p == '\t')
			p++;
		if (!parse_dec(&p, &kb) || strncmp(p, " kB", 3) != 0 || kb > UINT64_MAX / 1024)
			return -EINVAL;
		*bytes = kb * 1024;
		return 0;
	}
	/* Processes without an mm (kernel threads, zombies) have no Vm* lines. */
	return -ENOENT;
}

int mw_status_vmsize(const char *status_text, uint64_t *bytes)
{
	return mw_status_kb(status_text, "VmSize", bytes);
}

int mw_read_vmsize(uint32_t pid, uint64_t *bytes)
{
	char *text;
	int err = read_pid_file(pid, "status", 4096, &text);

	if (err)
		return err;
	err = mw_status_vmsize(text, bytes);
	free(text);
	return err;
}

int mw_statm_size(const char *statm_text, uint64_t page_size, uint64_t *bytes)
{
	const char *p = statm_text;
	uint64_t pages;

	if (!parse_dec(&p, &pages) || (*p != ' ' && !at_eol(*p)) || pages > UINT64_MAX / page_size)
		return -EINVAL;
	*bytes = pages * page_size;
	return 0;
}

int mw_open_statm(uint32_t pid)
{
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/proc/%u/statm", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int mw_read_statm(int fd, uint64_t page_size, uint64_t *bytes, uint64_t *t_before,
		  uint64_t *t_after)
{
	char buf[256];
	ssize_t n;

	*t_before = mw_now_ns(CLOCK_MONOTONIC);
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	*t_after = mw_now_ns(CLOCK_MONOTONIC);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	/* A process that is exiting has no mm: all zeros. */
	return mw_statm_size(buf, page_size, bytes);
}

int mw_status_tgid(const char *status_text, uint32_t *tgid)
{
	const char *p = strstr(status_text, "\nTgid:");
	uint64_t v;

	if (!p)
		return -ENOENT;
	p += 6;
	while (*p == ' ' || *p == '\t')
		p++;
	if (!parse_dec(&p, &v) || v == 0 || v > UINT32_MAX)
		return -EINVAL;
	*tgid = (uint32_t)v;
	return 0;
}

int mw_read_tgid(uint32_t pid, uint32_t *tgid)
{
	char *text;
	int err = read_pid_file(pid, "status", 4096, &text);

	if (err)
		return err;
	err = mw_status_tgid(text, tgid);
	free(text);
	return err;
}

int mw_stat_cpu_ticks(const char *stat_text, uint64_t *utime, uint64_t *stime)
{
	const char *p = strrchr(stat_text, ')');
	uint64_t v[2];

	if (!p)
		return -EINVAL;
	p++;
	/* After the name: field 3 (state) on; utime and stime are fields 14 and 15. */
	for (int field = 3; field <= 15; field++) {
		while (*p == ' ')
			p++;
		if (field >= 14) {
			if (!parse_dec(&p, &v[field - 14]))
				return -EINVAL;
			continue;
		}
		if (!*p)
			return -EINVAL;
		while (*p && *p != ' ')
			p++;
	}
	*utime = v[0];
	*stime = v[1];
	return 0;
}

int mw_read_cpu_ns(uint32_t pid, uint64_t *ns)
{
	static long hz;
	uint64_t ut, st, tick;
	char *text;
	int err;

	if (!hz)
		hz = sysconf(_SC_CLK_TCK);
	if (hz <= 0)
		return -EINVAL;
	err = read_pid_file(pid, "stat", 4096, &text);
	if (err)
		return err;
	err = mw_stat_cpu_ticks(text, &ut, &st);
	free(text);
	tick = 1000000000ULL / (uint64_t)hz;
	if (err)
		return err;
	if (ut > UINT64_MAX / tick - st)
		return -EINVAL;
	*ns = (ut + st) * tick;
	return 0;
}

/* The number after "name: " at the start of a line of text. */
static int field_dec(const char *text, const char *name, uint64_t *v)
{
	size_t len = strlen(name);
	const char *p = text;

	while (p && strncmp(p, name, len))
		p = (p = strchr(p, '\n')) ? p + 1 : NULL;
	if (!p)
		return -ENOENT;
	p += len;
	while (*p == ' ' || *p == '\t')
		p++;
	return parse_dec(&p, v) ? 0 : -EINVAL;
}

int mw_io_calls_parse(const char *io_text, uint64_t *calls, uint64_t *reads)
{
	uint64_t r, w;
	int err = field_dec(io_text, "syscr:", &r);

	if (!err)
		err = field_dec(io_text, "syscw:", &w);
	if (err)
		return err;
	*calls = r + w; /* wraps, defined: a counter's growth is what is used */
	if (reads)
		*reads = r;
	return 0;
}

int mw_read_io_calls(uint32_t pid, uint64_t *calls, uint64_t *reads)
{
	char *text;
	int err = read_pid_file(pid, "io", 512, &text);

	if (err)
		return err;
	err = mw_io_calls_parse(text, calls, reads);
	free(text);
	return err;
}

int mw_read_environ(uint32_t pid, char **buf, size_t *len)
{
	char path[64];
	size_t cap = 4096, n = 0;
	char *b = malloc(cap);
	FILE *f;

	if (!b)
		return -ENOMEM;
	snprintf(path, sizeof(path), "/proc/%u/environ", pid);
	f = fopen(path, "re");
	if (!f) {
		int err = -errno;

		free(b);
		return err;
	}
	for (;;) {
		n += fread(b + n, 1, cap - n - 1, f);
		if (n < cap - 1)
			break;
		if (mw_grow_to(&b, cap + 1, &cap, 1, cap)) {
			free(b);
			fclose(f);
			return -ENOMEM;
		}
	}
	fclose(f);
	b[n] = '\0'; /* so the last entry ends even if the file did not */
	*buf = b;
	*len = n;
	return 0;
}

const char *mw_environ_get(const char *env, size_t len, const char *var)
{
	size_t vlen = strlen(var);

	for (size_t off = 0; off < len;) {
		const char *e = env + off;

		if (!strncmp(e, var, vlen) && e[vlen] == '=')
			return e + vlen + 1;
		off += strnlen(e, len - off) + 1;
	}
	return NULL;
}

int mw_read_vm(uint32_t pid, uint64_t *size, uint64_t *stack)
{
	char *text;
	int err = read_pid_file(pid, "status", 4096, &text);

	if (err)
		return err;
	err = mw_status_kb(text, "VmSize", size);
	if (!err)
		err = mw_status_kb(text, "VmStk", stack);
	free(text);
	return err;
}

int mw_status_resident(const char *status_text, struct mw_resident *r)
{
	struct mw_resident v = { .known = true };
	int err = mw_status_kb(status_text, "RssAnon", &v.anon);

	if (!err)
		err = mw_status_kb(status_text, "RssFile", &v.file);
	if (!err)
		err = mw_status_kb(status_text, "RssShmem", &v.shmem);
	if (err)
		return err;
	v.ts_ns = r->ts_ns;
	*r = v;
	return 0;
}

int mw_read_resident(uint32_t pid, struct mw_resident *r)
{
	char *text;
	int err = read_pid_file(pid, "status", 4096, &text);

	if (err)
		return err;
	r->ts_ns = mw_now_ns(CLOCK_REALTIME);
	err = mw_status_resident(text, r);
	free(text);
	return err;
}

/* Numeric field `field` (1-based, as in proc(5); >= 4) of a stat line. comm
 * (field 2) can hold spaces and parentheses, but nothing after it can hold
 * ')', so fields are counted from the last one. */
static int stat_field(const char *text, int field, uint64_t *v)
{
	const char *p = strrchr(text, ')');

	if (!p || p[1] != ' ')
		return -EINVAL;
	p += 2; /* field 3, the state */
	for (int f = 3; f < field; f++) {
		while (*p && *p != ' ' && *p != '\n')
			p++;
		if (*p != ' ')
			return -EINVAL;
		p++;
	}
	if (!parse_dec(&p, v) || (*p != ' ' && !at_eol(*p)))
		return -EINVAL;
	return 0;
}

int mw_stat_start_brk(const char *stat_text, uint64_t *start_brk)
{
	return stat_field(stat_text, 47, start_brk);
}

int mw_stat_is_kthread(const char *stat_text, bool *kthread)
{
	uint64_t flags;
	int err = stat_field(stat_text, 9, &flags);

	if (err)
		return err;
	*kthread = flags & PF_KTHREAD;
	return 0;
}

int mw_stat_state(const char *stat_text, char *state)
{
	const char *p = strrchr(stat_text, ')');

	if (!p || p[1] != ' ' || !p[2] || p[2] == ' ' || p[2] == '\n')
		return -EINVAL;
	*state = p[2];
	return 0;
}

int mw_read_state(uint32_t pid, uint32_t tid, char *state)
{
	char path[64], *text;
	int err;

	snprintf(path, sizeof(path), "/proc/%u/task/%u/stat", pid, tid);
	err = read_text(path, 1024, &text);
	if (err)
		return err;
	err = mw_stat_state(text, state);
	free(text);
	return err;
}

bool mw_thread_gone(uint32_t pid, uint32_t tid)
{
	char state;
	int err = mw_read_state(pid, tid, &state);

	/* A zombie (or dead) task has done its exit: only its entry is left. */
	return err == -ENOENT || err == -ESRCH || (!err && (state == 'Z' || state == 'X'));
}

int mw_read_start_brk(uint32_t pid, uint64_t *start_brk)
{
	char *text;
	int err = read_pid_file(pid, "stat", 1024, &text);

	if (err)
		return err;
	err = mw_stat_start_brk(text, start_brk);
	free(text);
	return err;
}

int mw_read_is_kthread(uint32_t pid, bool *kthread)
{
	char *text;
	int err = read_pid_file(pid, "stat", 1024, &text);

	if (err)
		return err;
	err = mw_stat_is_kthread(text, kthread);
	free(text);
	return err;
}

/* ---- threads ---------------------------------------------------------- */

int mw_read_comm(uint32_t pid, uint32_t tid, char comm[16])
{
	char path[64], *text;
	size_t len;
	int err;

	snprintf(path, sizeof(path), "/proc/%u/task/%u/comm", pid, tid);
	err = read_text(path, 64, &text);
	if (err)
		return err;
	len = strcspn(text, "\n");
	if (len > 15)
		len = 15;
	memcpy(comm, text, len);
	comm[len] = '\0';
	free(text);
	return 0;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

int mw_list_tids(uint32_t pid, uint32_t **tids, size_t *n)
{
	char path[64];
	uint32_t *v = NULL;
	size_t cnt = 0, cap = 0;
	struct dirent *de;
	DIR *dir;
	int err = 0;

	snprintf(path, sizeof(path), "/proc/%u/task", pid);
	dir = opendir(path);
	if (!dir)
		return -errno;
	for (;;) {
		const char *p;
		uint64_t tid;

		errno = 0;
		de = readdir(dir);
		if (!de) {
			err = -errno; /* 0 at the end */
			break;
		}
		p = de->d_name;
		if (!parse_dec(&p, &tid) || *p || tid > UINT32_MAX)
			continue; /* "." and ".." */
		if (mw_grow(&v, cnt, &cap, sizeof(*v), 16)) {
			err = -ENOMEM;
			break;
		}
		v[cnt++] = (uint32_t)tid;
	}
	closedir(dir);
	if (err) {
		free(v);
		return err;
	}
	if (cnt)
		qsort(v, cnt, sizeof(*v), cmp_u32);
	*tids = v;
	*n = cnt;
	return 0;
}

#define MAX_CPUS (1 << 20)

int mw_parse_cpu_list(const char *s)
{
	int n = 0;

	while (*s && *s != '\n') {
		char *end;
		long a, b;

		errno = 0;
		a = b = strtol(s, &end, 10);
		if (end == s || a < 0 || errno)
			return -EINVAL;
		if (*end == '-') {
			s = end + 1;
			b = strtol(s, &end, 10);
			if (end == s || b < a || errno)
				return -EINVAL;
		}
		/* No host has a million CPUs: a larger list is not a CPU list. */
		if (b - a >= MAX_CPUS || n + (b - a + 1) > MAX_CPUS)
			return -EINVAL;
		n += (int)(b - a + 1);
		s = end;
		if (*s == ',')
			s++;
		else if (*s && *s != '\n')
			return -EINVAL;
	}
	return n;
}

int mw_read_online_cpus(void)
{
	char buf[256] = "";
	FILE *f = fopen("/sys/devices/system/cpu/online", "r");
	int n;

	if (!f)
		return 1;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = '\0';
	fclose(f);
	n = mw_parse_cpu_list(buf);
	return n > 0 ? n : 1;
}
