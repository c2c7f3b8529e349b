// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The heap profile from the --malloc ledger. See heap.h. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "heap.h"

const struct mw_pprof_type mw_prof_heap_types[MW_PROF_HEAP_NTYPES] = {
	{ "inuse_objects", "count" },
	{ "inuse_space", "bytes" },
	{ "alloc_objects", "count" },
	{ "alloc_space", "bytes" },
};

static int64_t rounded(double v)
{
	return v > 0 ? (int64_t)llround(v) : 0;
}

/* One process: its stacks with what they hold and what they allocated. */
static int heap_proc(const struct mw_mledger *ml, const struct mw_mproc *mp, struct mw_pprof *b)
{
	const struct mw_leak *l = &ml->leak;
	const struct mw_process *p = mw_model_find(&ml->s->model, mp->pid);
	struct mw_leak_row *rows = NULL;
	double *inuse = calloc(l->nstacks * 2 + 2, sizeof(double));
	double known_bytes = 0, known_count = 0;
	long n;
	int ret = 0;

	if (!inuse)
		return -ENOMEM;
	if (mp->sampler_mean || ml->mc.sample_bytes || ml->mc.sample_every > 1 || mp->scaled) {
		/* Sampled, or seen part of the time: every value of this process is an
		 * estimate, and says why. */
		char c[256];
		int k = snprintf(c, sizeof(c), "pid %u: estimates:", mp->pid);

		if (mp->sampler_mean)
			k += snprintf(c + k, sizeof(c) - (size_t)k,
				      " in-process sampler, one sample per %llu bytes",
				      (unsigned long long)mp->sampler_mean);
		else if (ml->mc.sample_bytes)
			k += snprintf(c + k, sizeof(c) - (size_t)k, " --sample-bytes %llu",
				      (unsigned long long)ml->mc.sample_bytes);
		else if (ml->mc.sample_every > 1)
			k += snprintf(c + k, sizeof(c) - (size_t)k, " --sample %u",
				      ml->mc.sample_every);
		if (mp->scaled)
			snprintf(c + k, sizeof(c) - (size_t)k,
				 "%s the probes were attached part of "
				 "the time, scaled to all of it",
				 mp->sampler_mean || ml->mc.sample_bytes || ml->mc.sample_every > 1
					 ? ";"
					 : "");
		if (mw_pprof_comment(b, c)) {
			free(inuse);
			return -ENOMEM;
		}
	}
	/* In use: the blocks of known fate (none freed while the probes were away). */
	n = mw_mledger_known_rows(ml, mp->pid, UINT64_MAX, false, &rows);
	if (n < 0) {
		free(inuse);
		return -ENOMEM;
	}
	for (long i = 0; i < n; i++) {
		inuse[2 * rows[i].stack] = rows[i].bytes;
		inuse[2 * rows[i].stack + 1] = rows[i].count;
	}
	for (size_t id = 0; id < l->nstacks && !ret; id++) {
		const struct mw_stack_ent *st = &l->stacks[id];
		struct mw_prof_stack s = {
			.pid = mp->pid,
			.comm = p ? p->comm : mp->comm,
		};
		double ab = st->alloc_bytes, ac = st->alloc_count;

		/* The unknown stack (0) is every process's: its sample comes after. */
		if (id == 0 || st->pid != mp->pid)
			continue;
		known_bytes += ab;
		known_count += ac;
		s.ips = st->ips;
		s.frames = st->frames;
		s.n = st->n;
		s.v[0] = rounded(inuse[2 * id + 1]);
		s.v[1] = rounded(inuse[2 * id]);
		s.v[2] = rounded(ac);
		s.v[3] = rounded(ab);
		ret = mw_pprof_add(b, &s);
	}
	if (!ret) {
		/* This process's share of the unknown stack: what it allocated that no known
		 * stack of it did. */
		struct mw_prof_stack s = { .pid = mp->pid, .comm = p ? p->comm : mp->comm };

		s.v[0] = rounded(inuse[1]);
		s.v[1] = rounded(inuse[0]);
		s.v[2] = rounded(mp->est_count - known_count);
		s.v[3] = rounded(mp->est_bytes - known_bytes);
		ret = mw_pprof_add(b, &s);
	}
	free(rows);
	free(inuse);
	return ret;
}

int mw_prof_heap(const struct mw_mledger *ml, struct mw_pprof *b)
{
	for (size_t i = 0; i < ml->nprocs; i++)
		if (heap_proc(ml, &ml->procs[i], b))
			return -ENOMEM;
	return 0;
}

int mw_prof_heap_encode(const struct mw_mledger *ml, uint64_t time_ns, mw_prof_module_fn module,
			void *ctx, void **out, size_t *len)
{
	struct mw_pprof *b = mw_pprof_new(mw_prof_heap_types, MW_PROF_HEAP_NTYPES,
					  MW_PROF_HEAP_DEFAULT, module, ctx);
	int ret;

	if (!b)
		return -ENOMEM;
	ret = mw_prof_heap(ml, b);
	if (!ret)
		ret = mw_pprof_encode(b, time_ns, out, len);
	mw_pprof_free(b);
	return ret;
}
