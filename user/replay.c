// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* --replay: feed a recording through the same session code as a live run. */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include "base/grow.h"
#include "malloc/mledger.h"
#include "profile/profiles.h"
#include "trace/perfetto.h"
#include "wire/decode.h"
#include "wire/record.h"
#include "session/session.h"
#include "base/errmsg.h"
#include "base/outfile.h"
#include "replay.h"

struct recorded_counters {
	struct mw_counters_entry *v;
	size_t n, cap;
};

/* The kernel's counters were recorded when they were read (after each exit):
 * collect them first so a process's summary finds them when its exit replays. */
static int collect(const struct mw_replay *in, struct recorded_counters *rc)
{
	struct mw_replay r = *in;
	struct mw_entry e;
	int ret;

	while ((ret = mw_replay_next(&r, &e)) == 1) {
		if (e.kind != MW_ENTRY_COUNTERS || e.len != sizeof(struct mw_counters_entry))
			continue;
		if (mw_grow(&rc->v, rc->n, &rc->cap, sizeof(*rc->v), 64))
			return -ENOMEM;
		memcpy(&rc->v[rc->n++], e.data, sizeof(*rc->v));
	}
	return ret;
}

static int recorded_lookup(void *ctx, uint32_t tid, struct mw_thread_counters *c, bool forget)
{
	struct recorded_counters *rc = ctx;

	(void)forget;
	for (size_t i = rc->n; i-- > 0;) {
		if (rc->v[i].tid == tid) {
			*c = rc->v[i].c;
			return 0;
		}
	}
	return -ENOENT;
}

struct replay {
	const struct mw_config *cfg;
	struct mw_session s;
	struct mw_replay *in; /* the recording, for what the live run read as it went */
	struct mw_mledger ml; /* the allocation probes' ledger, once the recording has one */
	bool have_ml;
	bool reported; /* the recording holds the live run's final summaries */
	uint64_t last_ts;
};

/* The live run's --malloc settings: weights and reports as they were. */
static int start_mledger(struct replay *r, const struct mw_entry *e)
{
	struct mw_malloc_config mc = r->cfg->mal;
	struct mw_mconfig_entry ce;
	char err[256];

	if ((e->len != sizeof(ce) && e->len != MW_MCONFIG_V1_LEN) || r->have_ml)
		return -EINVAL;
	memset(&ce, 0, sizeof(ce));
	memcpy(&ce, e->data, e->len);
	/* What --min-age accepts, no more: a crafted age must not reach the arithmetic. */
	if (!isfinite(ce.min_age_s) || ce.min_age_s < 0 || ce.min_age_s > 1e9)
		return -EINVAL;
	mc.sample_bytes = ce.sample_bytes;
	mc.sample_every = ce.sample_every;
	/* Whether the probes came and went, not this replay's options. */
	mc.duty_period_s = ce.flags & MW_MCONFIG_DUTY ? 1 : 0;
	if (!r->cfg->mal.min_age_s)
		mc.min_age_s = ce.min_age_s;
	/* --folded is the allocations' in a run that traced them (as live). */
	if (r->s.stack_folded) {
		fclose(r->s.stack_folded);
		r->s.stack_folded = NULL;
	}
	if (mw_mledger_init(&r->ml, &r->s, &mc, ce.max_outstanding ? ce.max_outstanding : 1, err,
			    sizeof(err))) {
		mw_p_err("%s", err);
		return -ENOMEM;
	}
	r->have_ml = true;
	return 0;
}

static int ring_entry(struct replay *r, const struct mw_entry *e)
{
	struct mw_event ev;

	if (mw_decode(&r->s.dctx, e->data, e->len, &ev))
		return mw_session_bad_record(&r->s, e->data, e->len);
	if (ev.kind == MW_EV_MFREE) {
		if (r->have_ml)
			mw_mledger_free(&r->ml, &ev, e->data, e->len);
		return 0;
	}
	if (ev.kind == MW_EV_MALLOC || ev.kind == MW_EV_MEXIT || ev.kind == MW_EV_MWAKE)
		return 0; /* live-only: allocations are recorded unwound (MW_ENTRY_MALLOC) */
	r->last_ts = ev.ts_ns;
	return mw_session_event(&r->s, &ev, e->data, e->len);
}

static int malloc_entry(struct replay *r, const struct mw_entry *e)
{
	if (e->kind == MW_ENTRY_MCONFIG)
		return start_mledger(r, e);
	if (!r->have_ml)
		return -EINVAL;
	switch (e->kind) {
	case MW_ENTRY_MPROC: {
		const struct mw_mproc_entry *pe = e->data;
		char comm[MW_COMM_LEN], *alloc;

		if (e->len < sizeof(*pe))
			return -EINVAL;
		memcpy(comm, pe->comm, sizeof(comm));
		comm[sizeof(comm) - 1] = '\0';
		alloc = strndup((const char *)(pe + 1), e->len - sizeof(*pe));
		if (!alloc)
			return -ENOMEM;
		mw_mledger_proc(&r->ml, pe->pid, comm, alloc, pe->flags);
		free(alloc);
		return 0;
	}
	case MW_ENTRY_MSTACK: return mw_mledger_stack_entry(&r->ml, e->data, e->len);
	case MW_ENTRY_MALLOC: return mw_mledger_alloc_entry(&r->ml, e->data, e->len);
	case MW_ENTRY_MEXEC:
		if (e->len != 8)
			return -EINVAL;
		mw_mledger_exec(&r->ml, *(const __u32 *)e->data);
		return 0;
	case MW_ENTRY_MSYNC: {
		const struct mw_msync_entry *se = e->data;

		if (e->len < sizeof(*se) ||
		    (e->len - sizeof(*se)) / sizeof(struct mw_msync_block) < se->n)
			return -EINVAL;
		mw_mledger_sync(&r->ml, se->pid, (const struct mw_msync_block *)(se + 1), se->n);
		return 0;
	}
	case MW_ENTRY_MFREED: return mw_mledger_freed_entry(&r->ml, e->data, e->len);
	case MW_ENTRY_MREPORT: return mw_mledger_report_entry(&r->ml, e->data, e->len);
	case MW_ENTRY_MHEAP: return mw_mledger_heapwalk_entry(&r->ml, e->data, e->len);
	case MW_ENTRY_MSAMPLER: {
		struct mw_msampler_entry se;

		if (e->len != sizeof(se))
			return -EINVAL;
		memcpy(&se, e->data, sizeof(se));
		mw_mledger_sampler(&r->ml, se.pid, se.mean, se.flags);
		return 0;
	}
	case MW_ENTRY_MGUARD: {
		struct mw_mguard_entry ge;

		if (e->len != sizeof(ge))
			return -EINVAL;
		memcpy(&ge, e->data, sizeof(ge));
		mw_mledger_guard(&r->ml, &ge);
		return 0;
	}
	case MW_ENTRY_MBUDGET: {
		struct mw_mbudget_entry be = {};

		/* Older recordings' entries end before the system-call counts, or the reads. */
		if (e->len != sizeof(be) && e->len != MW_MBUDGET_V1_LEN &&
		    e->len != MW_MBUDGET_V2_LEN)
			return -EINVAL;
		memcpy(&be, e->data, e->len);
		mw_mledger_budget(&r->ml, &be);
		return 0;
	}
	}
	return 0;
}

/* --stacks: the frames the live run named for this syscall are the next entry; a
 * recording without them (made without --stacks' names) has none to give. */
static int replay_stack(void *ctx, const struct mw_event *ev, struct mw_sframe *f, size_t max)
{
	struct replay *r = ctx;
	struct mw_replay ahead = *r->in;
	const struct mw_sframe_entry *fe;
	struct mw_sstack_entry se;
	const char *names, *end;
	struct mw_entry e;

	if (mw_replay_next(&ahead, &e) != 1 || e.kind != MW_ENTRY_SSTACK || e.len < sizeof(se))
		return -ENODATA;
	memcpy(&se, e.data, sizeof(se));
	if (se.tid != ev->tid || se.n > max || e.len < sizeof(se) + se.n * sizeof(*fe))
		return -ENODATA;
	*r->in = ahead;
	fe = (const void *)((const char *)e.data + sizeof(se));
	names = (const char *)(fe + se.n);
	end = (const char *)e.data + e.len;
	for (__u32 i = 0; i < se.n; i++) {
		const char *v[2];

		for (int k = 0; k < 2; k++) {
			const char *nul = memchr(names, '\0', (size_t)(end - names));

			if (!nul)
				return -EINVAL;
			v[k] = *names ? names : NULL;
			names = nul + 1;
		}
		f[i] = (struct mw_sframe){
			.addr = fe[i].addr, .offset = fe[i].offset, .module = v[0], .func = v[1]
		};
	}
	return (int)se.n;
}

/* The live run read the process's resident bytes by class at this report: the next entry. A
 * recording without it (older, or the read failed) has none: unknown. */
static int replay_rmap(void *ctx, const struct mw_process *p, struct mw_resident_map *out)
{
	struct replay *r = ctx;
	struct mw_replay ahead = *r->in;
	struct mw_rmap_entry re;
	struct mw_entry e;

	if (mw_replay_next(&ahead, &e) != 1 || e.kind != MW_ENTRY_RMAP || e.len < sizeof(re))
		return -ENODATA;
	memcpy(&re, e.data, sizeof(re));
	if (re.pid != p->pid || e.len != sizeof(re) + (size_t)re.narenas * sizeof(__u64))
		return -ENODATA;
	*r->in = ahead;
	memset(out, 0, sizeof(*out));
	memcpy(out->by_class, re.by_class, sizeof(out->by_class));
	if (re.narenas) {
		out->by_arena = malloc(re.narenas * sizeof(*out->by_arena));
		if (!out->by_arena)
			return -ENOMEM;
		memcpy(out->by_arena, (const char *)e.data + sizeof(re),
		       re.narenas * sizeof(*out->by_arena));
	}
	out->narenas = re.narenas;
	out->known = true;
	return 0;
}

/* The live run read the process's memory here: its bytes are the next entry. A
 * recording without it (older, or another read) has nothing to give. */
static int replay_peek(void *ctx, uint32_t pid, uint64_t addr, void *buf, size_t len)
{
	struct replay *r = ctx;
	struct mw_replay ahead = *r->in;
	struct mw_peek_entry pe;
	struct mw_entry e;

	if (mw_replay_next(&ahead, &e) != 1 || e.kind != MW_ENTRY_PEEK || e.len < sizeof(pe))
		return -ENODATA;
	memcpy(&pe, e.data, sizeof(pe));
	if (pe.pid != pid || pe.addr != addr || pe.len != len ||
	    e.len != sizeof(pe) + (pe.err ? 0 : len))
		return -ENODATA;
	*r->in = ahead;
	if (!pe.err)
		memcpy(buf, (const unsigned char *)e.data + sizeof(pe), len);
	return pe.err;
}

static int replay_entry(struct replay *r, const struct mw_entry *e)
{
	struct mw_session *s = &r->s;

	switch (e->kind) {
	case MW_ENTRY_RING: return ring_entry(r, e);
	case MW_ENTRY_REPORT: {
		struct mw_report_entry re;

		if (e->len != sizeof(re))
			return -EINVAL;
		memcpy(&re, e->data, sizeof(re));
		mw_session_report_all(s, re.ts_ns, re.final);
		r->reported |= re.final;
		return 0;
	}
	case MW_ENTRY_MCONFIG:
	case MW_ENTRY_MPROC:
	case MW_ENTRY_MSTACK:
	case MW_ENTRY_MALLOC:
	case MW_ENTRY_MEXEC:
	case MW_ENTRY_MSYNC:
	case MW_ENTRY_MFREED:
	case MW_ENTRY_MREPORT:
	case MW_ENTRY_MHEAP:
	case MW_ENTRY_MSAMPLER:
	case MW_ENTRY_MGUARD:
	case MW_ENTRY_MBUDGET: return malloc_entry(r, e);
	case MW_ENTRY_SEED: {
		const struct mw_seed_entry *se = e->data;
		char *text;
		int err;

		if (e->len < sizeof(*se))
			return -EINVAL;
		text = strndup((const char *)(se + 1), e->len - sizeof(*se));
		if (!text)
			return -ENOMEM;
		err = mw_session_seed(s, se->pid, text, se->start_brk, se->vm_size, se->stack_size,
				      se->snap_end_ns, se->resync);
		free(text);
		return err;
	}
	case MW_ENTRY_THREAD: {
		struct mw_thread_entry te;

		if (e->len != sizeof(te))
			return -EINVAL;
		memcpy(&te, e->data, sizeof(te));
		te.comm[MW_COMM_LEN - 1] = '\0';
		mw_session_thread_name(s, te.pid, te.tid, te.comm);
		return 0;
	}
	case MW_ENTRY_LOST:
		if (e->len != sizeof(__u64))
			return -EINVAL;
		mw_session_lost(s, r->last_ts, *(const __u64 *)e->data);
		return 0;
	case MW_ENTRY_GONE: {
		struct mw_gone_entry ge = { .ts_ns = r->last_ts };

		/* Recordings before MWREC002's gone entries had a time: 8 bytes. */
		if (e->len != sizeof(ge) && e->len != offsetof(struct mw_gone_entry, ts_ns))
			return -EINVAL;
		memcpy(&ge, e->data, e->len);
		mw_session_gone(s, ge.pid, ge.status, ge.ts_ns);
		return 0;
	}
	case MW_ENTRY_VMSIZE: {
		const struct mw_vmsize_entry *ve = e->data;

		if (e->len != sizeof(*ve))
			return -EINVAL;
		mw_session_vmsize(s, ve->pid, ve->vm_size, ve->stack_size);
		return 0;
	}
	case MW_ENTRY_RESIDENT: {
		struct mw_resident_entry re;

		if (e->len != sizeof(re))
			return -EINVAL;
		memcpy(&re, e->data, sizeof(re));
		mw_session_resident(s, re.pid,
				    &(struct mw_resident){ .known = true,
							   .anon = re.anon,
							   .file = re.file,
							   .shmem = re.shmem,
							   .ts_ns = re.ts_ns },
				    re.start);
		return 0;
	}
	case MW_ENTRY_LIBS:
	case MW_ENTRY_PRELOAD: {
		char *text;

		if (e->len < 8)
			return -EINVAL;
		text = strndup((const char *)e->data + 8, e->len - 8);
		if (!text)
			return -ENOMEM;
		if (e->kind == MW_ENTRY_LIBS)
			mw_session_libs(s, *(const __u32 *)e->data, text);
		else
			mw_session_preload(s, *(const __u32 *)e->data, text);
		free(text);
		return 0;
	}
	case MW_ENTRY_ARENA_LIMIT:
		if (e->len != 8)
			return -EINVAL;
		mw_session_arena_limit(s, ((const __u32 *)e->data)[0],
				       (int)((const __u32 *)e->data)[1]);
		return 0;
	case MW_ENTRY_COUNTERS: return 0; /* collected up front */
	case MW_ENTRY_ALLOC_FACTS: return mw_session_facts_entry(s, e->data, e->len);
	case MW_ENTRY_PEEK: return 0;	/* one nothing asked for again: skipped */
	case MW_ENTRY_SSTACK: return 0; /* likewise */
	case MW_ENTRY_RMAP: return 0;
	case MW_ENTRY_PIECES: {
		const struct mw_pieces_entry *pe = e->data;

		if (e->len < sizeof(*pe) ||
		    (e->len - sizeof(*pe)) / sizeof(struct mw_piece_entry) != pe->n)
			return -EINVAL;
		return mw_session_pieces(s, pe->pid, (const struct mw_maps_piece *)(pe + 1), pe->n);
	}
	}
	return 0; /* kinds from newer versions are skipped */
}

/* --pprof: the heap profile at the recording's end. No build-ids or ranges: the files may
 * have changed since, and a made-up mapping is worse than none. */
static int write_pprof(struct replay *r)
{
	struct mw_profiles pr = { .heap = r->have_ml ? &r->ml : NULL, .path = r->cfg->pprof_path };
	char err[300];

	if (mw_profiles_write(&pr, r->last_ts, err, sizeof(err))) {
		mw_p_err("%s", err);
		return 1;
	}
	return 0;
}

int mw_replay_run(const struct mw_config *cfg)
{
	return mw_replay_to(cfg, NULL);
}

int mw_replay_to(const struct mw_config *cfg, FILE *to)
{
	struct recorded_counters rc = {};
	struct mw_perfetto *trace = NULL;
	struct replay r = { .cfg = cfg };
	struct mw_replay in;
	struct mw_entry e;
	void *buf = MAP_FAILED;
	struct stat st;
	FILE *out = stderr;
	int fd, ret = 1, err;

	fd = open(cfg->replay_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st)) {
		mw_p_err("cannot open %s: %s", cfg->replay_path, strerror(errno));
		goto out_fd;
	}
	if (st.st_size > 0)
		buf = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (buf == MAP_FAILED || mw_replay_init(&in, buf, (size_t)st.st_size)) {
		mw_p_err("%s is not a memwatch recording", cfg->replay_path);
		goto out_map;
	}
	err = collect(&in, &rc);
	if (err) {
		mw_p_err("%s: %s", cfg->replay_path,
			 err == -ENOMEM ? "out of memory" : "truncated or corrupt recording");
		goto out_map;
	}
	if (to)
		out = to;
	else if (cfg->out_path && !strcmp(cfg->out_path, "-"))
		out = stdout; /* as in a live session */
	else if (cfg->out_path && !(out = mw_out_fopen(cfg->out_path, MW_OUT_TRUNC))) {
		mw_p_err("cannot open %s: %s", cfg->out_path, mw_out_strerror(errno));
		out = stderr;
		goto out_map;
	}
	mw_session_init(&r.s, cfg, out, in.hdr.page_size, in.hdr.mono_to_epoch_ns);
	r.s.counters = recorded_lookup;
	r.s.src_ctx = &rc;
	r.s.peek = replay_peek;
	r.s.stack = replay_stack;
	r.s.stack_ctx = &r;
	r.s.rmap = replay_rmap;
	r.s.rmap_ctx = &r;
	r.s.peek_ctx = &r;
	r.in = &in;
	/* A recording made with --stacks: --folded gets the bytes each stack mapped, unless
	 * the recording traced allocations too (start_mledger). */
	if (cfg->mal.folded_path &&
	    !(r.s.stack_folded = mw_out_fopen(cfg->mal.folded_path, MW_OUT_TRUNC))) {
		mw_p_err("cannot open %s: %s", cfg->mal.folded_path, mw_out_strerror(errno));
		goto out_session;
	}
	if (cfg->perfetto_path) {
		char why[300];

		trace = mw_perfetto_open(cfg->perfetto_path, why, sizeof(why));
		if (!trace) {
			mw_p_err("%s", why);
			goto out_session;
		}
		r.s.hooks = &mw_perfetto_hooks;
		r.s.hooks_ctx = trace;
	}
	while ((err = mw_replay_next(&in, &e)) == 1) {
		err = replay_entry(&r, &e);
		if (!err)
			err = r.s.err;
		if (err)
			break;
	}
	if (err) {
		mw_p_err("%s: %s", cfg->replay_path,
			 err == -ENOMEM ? "out of memory" : "truncated or corrupt recording");
	} else {
		/* Recordings without report entries: the summaries at their end. */
		if (!r.reported)
			mw_session_report_all(&r.s, r.last_ts, true);
		ret = write_pprof(&r);
	}
	if (trace && !ret) {
		char why[300];

		if (mw_perfetto_close(trace, why, sizeof(why))) {
			mw_p_err("%s", why);
			ret = 1;
		}
	} else if (trace) {
		mw_perfetto_abort(trace);
	}
out_session:
	if (r.s.stack_folded)
		fclose(r.s.stack_folded);
	if (r.have_ml)
		mw_mledger_destroy(&r.ml);
	mw_session_free(&r.s);
	fflush(out);
	if (out != stderr && out != stdout && out != to)
		fclose(out);
out_map:
	if (buf != MAP_FAILED)
		munmap(buf, (size_t)st.st_size);
	free(rc.v);
out_fd:
	if (fd >= 0)
		close(fd);
	return ret;
}
