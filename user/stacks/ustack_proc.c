// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Per-process state: the code modules of /proc/PID/maps, each tied to its
 * shared module and load bias. Bounded: the least recently used process goes
 * when US_MAX_PROCS are held. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "ustack_int.h"

void us_proc_free(struct us_proc *p)
{
	if (!p)
		return;
	if (p->dwfl)
		dwfl_end(p->dwfl);
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
