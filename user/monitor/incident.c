// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Triggers in a live session. See incident.h. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "base/clock.h"
#include "base/errmsg.h"
#include "base/grow.h"
#include "base/json.h"
#include "base/readfile.h"
#include "base/text.h"
#include "alloc/alloc.h"
#include "alloc/diagnose.h"
#include "ledger/totals.h"
#include "trigger/trigger.h"
#include "incident.h"

#define TICK_NS 1000000000ULL
#define MAX_DIAGS 8

struct tproc {
	uint32_t pid;
	bool seen; /* in the model at this tick */
	struct mw_trig_proc st;
};

struct mw_incident {
	struct mw_trigger trig[MW_TRIG_MAX];
	size_t ntrig;
	bool need_resident, need_cgroup, need_diag;
	struct tproc **procs;
	size_t nprocs, cap;
	uint64_t next_ns;
	char v1_memory[256], v2[256]; /* where the memory cgroup hierarchies are mounted */
	mw_incident_fn fire_fn;
	void *fire_ctx;
};

/* The cgroup mounts, once: cgroup v2 (memory.current, memory.max) and v1's memory
 * hierarchy (memory.usage_in_bytes, memory.limit_in_bytes). */
static void find_mounts(struct mw_incident *in)
{
	char *text, *line, *save = NULL;

	if (mw_read_file("/proc/self/mounts", 8192, &text, NULL, NULL, NULL))
		return;
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char dev[256], dir[256], type[32], opts[512];

		if (sscanf(line, "%255s %255s %31s %511s", dev, dir, type, opts) != 4)
			continue;
		if (!strcmp(type, "cgroup2") && !in->v2[0])
			snprintf(in->v2, sizeof(in->v2), "%s", dir);
		else if (!strcmp(type, "cgroup") && !in->v1_memory[0] &&
			 (strstr(opts, ",memory") || !strncmp(opts, "memory", 6)))
			snprintf(in->v1_memory, sizeof(in->v1_memory), "%s", dir);
	}
	free(text);
}

int mw_incident_config(struct mw_incident *in, const struct mw_config *cfg, char *err, size_t errsz)
{
	struct mw_trigger t[MW_TRIG_MAX];

	for (size_t i = 0; i < cfg->ntriggers && i < MW_TRIG_MAX; i++)
		if (mw_trigger_parse(cfg->triggers[i], &t[i], err, errsz))
			return -1;
	memcpy(in->trig, t, sizeof(t));
	in->ntrig = cfg->ntriggers < MW_TRIG_MAX ? cfg->ntriggers : MW_TRIG_MAX;
	in->need_resident = in->need_cgroup = in->need_diag = false;
	for (size_t i = 0; i < in->ntrig; i++) {
		in->need_resident |=
			in->trig[i].metric == MW_TM_RESIDENT &&
			(in->trig[i].kind == MW_TRIG_GROWTH || in->trig[i].kind == MW_TRIG_LEVEL);
		in->need_cgroup |= in->trig[i].kind == MW_TRIG_CGROUP;
		in->need_diag |= in->trig[i].kind == MW_TRIG_DIAGNOSIS;
	}
	for (size_t i = 0; i < in->nprocs; i++)
		mw_trig_reset(&in->procs[i]->st);
	return 0;
}

struct mw_incident *mw_incident_new(const struct mw_config *cfg, char *err, size_t errsz)
{
	struct mw_incident *in;

	err[0] = '\0';
	if (!cfg->ntriggers)
		return NULL;
	in = calloc(1, sizeof(*in));
	if (!in) {
		mw_fail(err, errsz, -ENOMEM, "out of memory");
		return NULL;
	}
	if (mw_incident_config(in, cfg, err, errsz)) {
		free(in);
		return NULL;
	}
	find_mounts(in);
	return in;
}

void mw_incident_on_fire(struct mw_incident *in, mw_incident_fn fn, void *ctx)
{
	in->fire_fn = fn;
	in->fire_ctx = ctx;
}

void mw_incident_free(struct mw_incident *in)
{
	if (!in)
		return;
	for (size_t i = 0; i < in->nprocs; i++)
		free(in->procs[i]);
	free(in->procs);
	free(in);
}

static struct tproc *tproc_of(struct mw_incident *in, uint32_t pid)
{
	struct tproc *t;

	for (size_t i = 0; i < in->nprocs; i++)
		if (in->procs[i]->pid == pid)
			return in->procs[i];
	if (mw_grow(&in->procs, in->nprocs, &in->cap, sizeof(*in->procs), 16))
		return NULL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->pid = pid;
	in->procs[in->nprocs++] = t;
	return t;
}

/* Processes no longer in the model: their state goes. */
static void sweep(struct mw_incident *in)
{
	size_t k = 0;

	for (size_t i = 0; i < in->nprocs; i++) {
		if (in->procs[i]->seen) {
			in->procs[i]->seen = false;
			in->procs[k++] = in->procs[i];
		} else {
			free(in->procs[i]);
		}
	}
	in->nprocs = k;
}

static int read_u64_file(const char *path, uint64_t *v)
{
	char *text;
	int err = mw_read_file(path, 64, &text, NULL, NULL, NULL);

	if (err)
		return err;
	if (!strncmp(text, "max", 3))
		*v = 0; /* no limit */
	else if (sscanf(text, "%" SCNu64, v) != 1)
		err = -EINVAL;
	free(text);
	return err;
}

/* The process's memory cgroup: its use and its limit (0 when none or unknown). */
static void read_cgroup(const struct mw_incident *in, uint32_t pid, uint64_t *usage,
			uint64_t *limit)
{
	char path[64], file[1024], *text, *line, *save = NULL;

	*usage = *limit = 0;
	snprintf(path, sizeof(path), "/proc/%u/cgroup", pid);
	if (mw_read_file(path, 1024, &text, NULL, NULL, NULL))
		return;
	for (line = strtok_r(text, "\n", &save); line && !*limit;
	     line = strtok_r(NULL, "\n", &save)) {
		const char *rel;

		if (!strncmp(line, "0::", 3) && in->v2[0]) {
			rel = line + 3;
			snprintf(file, sizeof(file), "%s%s/memory.max", in->v2, rel);
			if (read_u64_file(file, limit))
				continue;
			snprintf(file, sizeof(file), "%s%s/memory.current", in->v2, rel);
		} else if ((rel = strstr(line, ":memory:")) && in->v1_memory[0]) {
			rel += 8;
			snprintf(file, sizeof(file), "%s%s/memory.limit_in_bytes", in->v1_memory,
				 rel);
			if (read_u64_file(file, limit))
				continue;
			/* v1 says "no limit" with a huge number (a page-rounded LONG_MAX). */
			if (*limit >= (1ULL << 62))
				*limit = 0;
			snprintf(file, sizeof(file), "%s%s/memory.usage_in_bytes", in->v1_memory,
				 rel);
		} else {
			continue;
		}
		if (*limit && read_u64_file(file, usage))
			*limit = 0;
	}
	free(text);
}

static bool read_resident(uint32_t pid, uint64_t page_size, uint64_t *bytes)
{
	char path[64], *text;
	uint64_t size, res;
	bool ok;

	snprintf(path, sizeof(path), "/proc/%u/statm", pid);
	if (mw_read_file(path, 128, &text, NULL, NULL, NULL))
		return false;
	ok = sscanf(text, "%" SCNu64 " %" SCNu64, &size, &res) == 2;
	free(text);
	*bytes = res * page_size;
	return ok;
}

static const char *kind_name(const struct mw_trigger *t)
{
	switch (t->kind) {
	case MW_TRIG_GROWTH: return "growth";
	case MW_TRIG_LEVEL: return "level";
	case MW_TRIG_ARENAS: return "arenas";
	case MW_TRIG_CGROUP: return "cgroup";
	case MW_TRIG_DIAGNOSIS: return "diagnosis";
	}
	return "?";
}

static void write_fire(struct mw_session *s, const struct mw_process *p, const struct mw_trigger *t,
		       const struct mw_trig_fire *f, uint64_t now_mono)
{
	uint64_t ts = now_mono + s->dctx.mono_to_epoch_ns;
	struct mw_json j;

	if (!s->out.json) {
		char q[MW_TEXT_ROOM(MW_COMM_LEN)];

		fprintf(s->out.f,
			"!!! pid %u (%s): trigger %s fired (%" PRIu64 " from %" PRIu64 ")\n",
			p->pid, mw_text_quote(q, sizeof(q), p->comm, MW_COMM_LEN), t->spec,
			f->value, f->from);
		return;
	}
	mw_json_begin(&j, s->out.f);
	mw_json_str(&j, "type", "trigger");
	mw_json_uint(&j, "ts_ns", ts);
	mw_json_uint(&j, "pid", p->pid);
	mw_json_str(&j, "comm", p->comm);
	mw_json_str(&j, "trigger", t->spec);
	mw_json_str(&j, "kind", kind_name(t));
	if (t->kind == MW_TRIG_GROWTH || t->kind == MW_TRIG_LEVEL)
		mw_json_str(&j, "metric", mw_trig_metric_name(t->metric));
	mw_json_uint(&j, "value", f->value);
	switch (t->kind) {
	case MW_TRIG_GROWTH:
		mw_json_uint(&j, "from", f->from);
		mw_json_uint(&j, "since_ns", f->from_ts_ns + s->dctx.mono_to_epoch_ns);
		break;
	case MW_TRIG_LEVEL:
	case MW_TRIG_ARENAS: mw_json_uint(&j, "level", f->from); break;
	case MW_TRIG_CGROUP: mw_json_uint(&j, "limit", f->from); break;
	case MW_TRIG_DIAGNOSIS: break;
	}
	mw_json_end(&j);
}

static void eval_process(struct mw_incident *in, struct mw_session *s, struct mw_process *p,
			 uint64_t now)
{
	const char *kinds[MAX_DIAGS];
	struct mw_diag d[MAX_DIAGS];
	struct mw_trig_sample smp = { .ts_ns = now, .diags = kinds };
	struct mw_trig_fire f[MW_TRIG_MAX];
	struct mw_totals tot;
	struct tproc *tp = tproc_of(in, p->pid);
	size_t n;

	if (!tp)
		return;
	tp->seen = true;
	mw_process_totals(p, &tot);
	smp.v[MW_TM_MAPPED] = tot.mapped;
	smp.v[MW_TM_COMMITTED] = tot.committed;
	smp.have[MW_TM_MAPPED] = smp.have[MW_TM_COMMITTED] = true;
	if (in->need_resident)
		smp.have[MW_TM_RESIDENT] =
			read_resident(p->pid, s->model.page_size, &smp.v[MW_TM_RESIDENT]);
	smp.narenas = p->alloc && mw_alloc_arenas_known(p->alloc) ? (int)mw_alloc_narenas(p->alloc)
								  : -1;
	smp.arena_limit = p->arena_limit;
	if (in->need_cgroup)
		read_cgroup(in, p->pid, &smp.cg_usage, &smp.cg_limit);
	if (in->need_diag) {
		int nd = mw_diagnose(p, p->arena_limit, d, MAX_DIAGS);

		for (int i = 0; i < nd; i++)
			kinds[smp.ndiags++] = d[i].kind;
	}
	n = mw_trig_eval(in->trig, in->ntrig, &tp->st, &smp, f, MW_TRIG_MAX);
	for (size_t i = 0; i < n; i++) {
		s->triggers_fired++;
		write_fire(s, p, &in->trig[f[i].trigger], &f[i], now);
		if (in->fire_fn)
			in->fire_fn(in->fire_ctx, p->pid, in->trig[f[i].trigger].spec, now);
	}
}

void mw_incident_tick(struct mw_incident *in, struct mw_session *s, uint64_t now_mono)
{
	if (!in || now_mono < in->next_ns)
		return;
	in->next_ns = now_mono + TICK_NS;
	for (size_t i = 0; i < s->model.nprocs; i++) {
		struct mw_process *p = s->model.procs[i];

		if (!p->exited && !p->needs_seed)
			eval_process(in, s, p, now_mono);
	}
	sweep(in);
}
