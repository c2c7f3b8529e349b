// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Per-process state: the code modules of /proc/PID/maps, each tied to its
 * shared module and load bias, and the names of its JIT-compiled code (its
 * perf map). Bounded: the least recently used process goes when US_MAX_PROCS
 * are held. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include "ustack_int.h"

#define US_JIT_RECHECK_NS 200000000ULL /* a miss looks at the file again after this */

void us_proc_free(struct us_proc *p)
{
	if (!p)
		return;
	if (p->dwfl)
		dwfl_end(p->dwfl);
	mw_perfmap_clear(&p->jit.map);
	free(p->mods);
	free(p);
}

static struct us_proc *proc_new(struct mw_symbolizer *s, uint32_t pid, int *err)
{
	struct mw_umods um = { 0 };
	struct us_proc *p;

	*err = mw_umaps_read(pid, &um);
	if (*err)
		return NULL;
	p = calloc(1, sizeof(*p));
	if (!p || (um.n && !(p->mods = calloc(um.n, sizeof(*p->mods))))) {
		free(p);
		mw_umaps_clear(&um);
		*err = -ENOMEM;
		return NULL;
	}
	p->pid = pid;
	for (size_t i = 0; i < um.n; i++) {
		struct us_pmod *pm = &p->mods[p->nmods];

		pm->low = um.m[i].low;
		pm->high = um.m[i].high;
		pm->exec_start = um.m[i].exec_start;
		pm->exec_end = um.m[i].exec_end;
		pm->exec_off = um.m[i].exec_off;
		pm->path = us_intern(s, um.m[i].path, strlen(um.m[i].path));
		pm->mod = us_mod_get(s, pid, &um.m[i]);
		pm->bias = pm->mod ? us_mod_bias(pm->mod, um.m[i].first_start, um.m[i].first_off)
				   : 0;
		p->nmods++;
	}
	mw_umaps_clear(&um);
	return p;
}

struct us_proc *us_proc_get(struct mw_symbolizer *s, uint32_t pid, int *err)
{
	struct us_proc **pp, *p, **lru = NULL;

	*err = 0;
	for (pp = &s->procs; (p = *pp); pp = &p->next) {
		if (p->pid == pid) {
			p->tick = ++s->tick;
			if (pp != &s->procs) { /* to the front: the next call finds it first */
				*pp = p->next;
				p->next = s->procs;
				s->procs = p;
			}
			return p;
		}
		if (!lru || p->tick < (*lru)->tick)
			lru = pp;
	}
	if (s->nprocs >= US_MAX_PROCS && lru) {
		p = *lru;
		*lru = p->next;
		us_proc_free(p);
		s->nprocs--;
		s->st.proc_evictions++;
	}
	p = proc_new(s, pid, err);
	if (!p)
		return NULL;
	p->tick = ++s->tick;
	p->serial = ++s->serial;
	p->next = s->procs;
	s->procs = p;
	s->nprocs++;
	return p;
}

const struct us_pmod *us_proc_module(const struct us_proc *p, uint64_t addr)
{
	for (size_t i = 0; i < p->nmods; i++)
		if (addr >= p->mods[i].low && addr < p->mods[i].high)
			return &p->mods[i];
	return NULL;
}

/* The pid the process has in its own pid namespace (the perf map's name uses it). */
static uint32_t ns_pid(uint32_t pid)
{
	char path[64], line[256];
	uint32_t last = pid;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%u/status", pid);
	f = fopen(path, "re");
	if (!f)
		return pid;
	while (fgets(line, sizeof(line), f)) {
		char *s = line + 6, *end;

		if (strncmp(line, "NSpid:", 6))
			continue;
		for (;;) {
			unsigned long v = strtoul(s, &end, 10);

			if (end == s)
				break;
			last = (uint32_t)v;
			s = end;
		}
		break;
	}
	fclose(f);
	return last;
}

/* Read the perf map again if it changed since it was read (through the
 * process's root: a container's /tmp is its own). */
static void jit_refresh(struct us_proc *p)
{
	struct us_jit *j = &p->jit;
	char path[96];
	struct stat st;
	uint64_t mtime;
	char *buf;
	ssize_t got;
	size_t len = 0;
	int fd;

	snprintf(path, sizeof(path), "/proc/%u/root/tmp/perf-%u.map", p->pid, ns_pid(p->pid));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	mtime = fstat(fd, &st) ? 0
			       : (uint64_t)st.st_mtim.tv_sec * 1000000000ULL +
					 (uint64_t)st.st_mtim.tv_nsec;
	if (!mtime || ((uint64_t)st.st_size == j->size && mtime == j->mtime_ns) ||
	    !S_ISREG(st.st_mode)) {
		close(fd);
		return;
	}
	len = (uint64_t)st.st_size < MW_PERFMAP_MAX_BYTES ? (size_t)st.st_size
							  : MW_PERFMAP_MAX_BYTES;
	buf = malloc(len + 1);
	for (size_t off = 0; buf && off < len; off += (size_t)got) {
		got = read(fd, buf + off, len - off);
		if (got <= 0) {
			len = off;
			break;
		}
	}
	close(fd);
	if (!buf)
		return;
	mw_perfmap_clear(&j->map);
	if (mw_perfmap_parse(buf, len, &j->map) == 0) {
		j->size = (uint64_t)st.st_size;
		j->mtime_ns = mtime;
	}
	free(buf);
}

const char *us_proc_jit_name(struct mw_symbolizer *s, struct us_proc *p, uint64_t addr)
{
	struct us_jit *j = &p->jit;
	const char *name = mw_perfmap_lookup(&j->map, addr);
	struct timespec ts;
	uint64_t now;

	if (!name) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		now = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
		if (j->tried && now - j->checked_ns < US_JIT_RECHECK_NS)
			return NULL;
		j->tried = true;
		j->checked_ns = now;
		jit_refresh(p);
		name = mw_perfmap_lookup(&j->map, addr);
	}
	return name ? us_intern(s, name, strlen(name)) : NULL;
}
