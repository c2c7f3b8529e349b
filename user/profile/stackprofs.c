// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The mapped and resident profiles. See stackprofs.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include "session/bystack.h"
#include "session/faults.h"
#include "session/session.h"
#include "stackprofs.h"

/* Frames of a stack as the builder takes them: return addresses and names, innermost first. */
struct prof_frames {
	uint64_t *ips;
	struct mw_frame *f;
};

static int frames_alloc(struct prof_frames *pf, uint32_t n)
{
	pf->ips = calloc(n ? n : 1, sizeof(*pf->ips));
	pf->f = calloc(n ? n : 1, sizeof(*pf->f));
	return pf->ips && pf->f ? 0 : -ENOMEM;
}

static void frames_free(struct prof_frames *pf)
{
	free(pf->ips);
	free(pf->f);
}

/* One sample: ps's values on the n frames frame(v, k, &f) gives, innermost first. */
static int add_stack(struct mw_pprof *b, struct mw_prof_stack *ps, uint32_t n,
		     void (*frame)(const void *v, uint32_t k, struct mw_frame *f), const void *v)
{
	struct prof_frames pf;
	int ret = frames_alloc(&pf, n);

	for (uint32_t k = 0; k < n && !ret; k++) {
		frame(v, k, &pf.f[k]);
		pf.ips[k] = pf.f[k].addr;
	}
	ps->n = n;
	ps->ips = pf.ips;
	ps->frames = pf.f;
	if (!ret)
		ret = mw_pprof_add(b, ps);
	frames_free(&pf);
	return ret;
}

static void sframe_at(const void *v, uint32_t k, struct mw_frame *f)
{
	const struct mw_sframe *s = (const struct mw_sframe *)v + k;

	*f = (struct mw_frame){
		.addr = s->addr, .module = s->module, .func = s->func, .offset = s->offset
	};
}

static void fprof_frame_at(const void *v, uint32_t k, struct mw_frame *f)
{
	const struct mw_fprof_frame *s = (const struct mw_fprof_frame *)v + k;

	*f = (struct mw_frame){
		.addr = s->addr, .module = s->module, .func = s->func, .offset = s->offset
	};
}

static const char *comm_of(const struct mw_session *s, uint32_t pid)
{
	const struct mw_process *p = mw_model_find(&s->model, pid);

	return p ? p->comm : "";
}

static int mapped_proc(const struct mw_session *s, const struct mw_process *p, struct mw_pprof *b)
{
	const struct mw_bystack *bs = s->bystack;
	struct mw_bystack_row *rows = NULL;
	long n = mw_bystack_rows(bs, p, &rows);
	int ret = 0;

	if (n < 0)
		return -ENOMEM;
	for (long i = 0; i < n && !ret; i++) {
		const struct mw_bystack_stack *st = &bs->stacks[rows[i].stack];
		struct mw_prof_stack ps = { .pid = p->pid, .comm = p->comm };

		ps.v[0] = (int64_t)rows[i].mapped;
		ps.v[1] = (int64_t)rows[i].committed;
		ret = add_stack(b, &ps, st->n, sframe_at, st->f);
	}
	free(rows);
	return ret;
}

int mw_prof_mapped(void *ctx, struct mw_pprof *b)
{
	const struct mw_session *s = ctx;

	/* No call with a stack yet: an empty profile, not an error. */
	if (!s->bystack)
		return 0;
	for (size_t i = 0; i < s->model.nprocs; i++)
		if (mapped_proc(s, s->model.procs[i], b))
			return -ENOMEM;
	return 0;
}

static int resident_proc(const struct mw_session *s, const struct mw_fprof *fp, struct mw_pprof *b)
{
	uint64_t page = s->model.page_size;
	const char *comm = comm_of(s, fp->pid);
	int ret = 0;

	if (mw_fprof_estimated(fp)) {
		char c[128];

		snprintf(c, sizeof(c), "pid %u: estimates: 1 in %u page faults sampled", fp->pid,
			 fp->sample_n);
		if (mw_pprof_comment(b, c))
			return -ENOMEM;
	}
	for (size_t i = 0; i < fp->n && !ret; i++) {
		const struct mw_fprof_stack *st = &fp->v[i];
		struct mw_prof_stack ps = { .pid = fp->pid, .comm = comm };

		ps.v[0] = (int64_t)mw_fprof_bytes(fp, st->samples, page);
		ps.v[1] = (int64_t)(st->samples * fp->sample_n);
		ret = add_stack(b, &ps, st->n, fprof_frame_at, st->f);
	}
	if (!ret && fp->other) {
		/* Paths past the table's room: one sample that says their stacks are not kept. */
		struct mw_prof_stack ps = { .pid = fp->pid, .comm = comm };

		ps.v[0] = (int64_t)mw_fprof_bytes(fp, fp->other, page);
		ps.v[1] = (int64_t)(fp->other * fp->sample_n);
		ret = mw_pprof_add(b, &ps);
	}
	if (!ret && fp->lost) {
		/* Samples the ring had no room for: their bytes under one frame that says so. */
		static const uint64_t no_ip;
		static const struct mw_frame lost = { .func = "(stacks lost: ring full)" };
		struct mw_prof_stack ps = {
			.pid = fp->pid, .comm = comm, .ips = &no_ip, .frames = &lost, .n = 1
		};

		ps.v[0] = (int64_t)mw_fprof_bytes(fp, fp->lost, page);
		ps.v[1] = (int64_t)(fp->lost * fp->sample_n);
		ret = mw_pprof_add(b, &ps);
	}
	return ret;
}

int mw_prof_resident(void *ctx, struct mw_pprof *b)
{
	const struct mw_session *s = ctx;

	for (size_t i = 0; i < s->nfprofs; i++)
		if (resident_proc(s, &s->fprofs[i], b))
			return -ENOMEM;
	return 0;
}
