// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The allocation probes' ledger. See mledger.h. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "alloc/alloc.h"
#include "base/errmsg.h"
#include "base/grow.h"
#include "heapwalk.h"
#include "base/outfile.h"
#include "ledger/class.h"
#include "ledger/regions.h"
#include "leak_output.h"
#include "mledger.h"
#include "retention.h"
#include "sampler/sampler.h"

#define MAX_STACKS 65536
/* Read and write system calls an interval's attached time must hold for its weight to
 * be counted in them rather than in time. */
#define MIN_IO_CALLS 16
/*
 * Attached time an interval weighed by time must hold at a detach, or it is merged into the
 * next: a window of a few ms sees a block or two of a slow allocator (grower: one a few ms),
 * and a dark time ten times as long weighed on them alone came out anywhere from none to
 * several times what it held (an OOM report 19% high). Merged, the windows' blocks stand for
 * their dark times together.
 */
#define MIN_ATT_NS (40 * 1000000ULL)

_Static_assert(sizeof(struct mw_mreport_entry) ==
		       24 + sizeof(struct mw_malloc_counters) + sizeof(struct mw_malloc_stats),
	       "report entry is a file format");
_Static_assert(sizeof(struct mw_malloc_entry) == 48, "malloc entry is a file format");
_Static_assert(offsetof(struct mw_mbudget_entry, io_calls) == MW_MBUDGET_V1_LEN,
	       "older recordings' budget entries are a prefix");
_Static_assert(offsetof(struct mw_mbudget_entry, reads) == MW_MBUDGET_V2_LEN,
	       "older recordings' budget entries are a prefix");
_Static_assert(offsetof(struct mw_malloc_counters, unknown_frees) == MW_MREPORT_V1_COUNTERS,
	       "older recordings' counters are a prefix");

static void record(struct mw_mledger *ml, uint32_t kind, const void *a, size_t alen, const void *b,
		   size_t blen)
{
	struct mw_session *s = ml->s;

	if (s->rec && mw_record_put(s->rec, kind, a, alen, b, blen))
		s->err = s->err ? s->err : -EIO;
}

int mw_mledger_init(struct mw_mledger *ml, struct mw_session *s, const struct mw_malloc_config *mc,
		    uint32_t max_outstanding, char *err, size_t errsz)
{
	struct mw_mconfig_entry e = {
		.sample_bytes = mc->sample_bytes,
		.sample_every = mc->sample_every,
		.max_outstanding = max_outstanding,
		.min_age_s = mc->min_age_s,
		.flags = mc->duty_period_s ? MW_MCONFIG_DUTY : 0,
	};

	memset(ml, 0, sizeof(*ml));
	ml->s = s;
	ml->mc = *mc;
	ml->probes_off = mc->duty_period_s > 0;
	ml->min_att_ns = MIN_ATT_NS;
	if (mw_leak_init(&ml->leak, max_outstanding, MAX_STACKS))
		return mw_fail(err, errsz, -1, "out of memory for %u outstanding allocations",
			       max_outstanding);
	if (mc->folded_path) {
		ml->folded = mw_out_fopen(mc->folded_path, MW_OUT_TRUNC);
		if (!ml->folded) {
			mw_fail(err, errsz, -1, "cannot open %s: %s", mc->folded_path,
				mw_out_strerror(errno));
			mw_leak_destroy(&ml->leak);
			return -1;
		}
	}
	record(ml, MW_ENTRY_MCONFIG, &e, sizeof(e), NULL, 0);
	return 0;
}

void mw_mledger_destroy(struct mw_mledger *ml)
{
	if (ml->folded)
		fclose(ml->folded);
	mw_leak_destroy(&ml->leak); /* frees the stacks' frames too */
	for (size_t i = 0; i < ml->nnames; i++)
		free(ml->names[i]);
	free(ml->names);
	for (size_t i = 0; i < ml->nprocs; i++)
		free(ml->procs[i].wspans);
	free(ml->procs);
	memset(ml, 0, sizeof(*ml));
}

struct mw_mproc *mw_mledger_find(struct mw_mledger *ml, uint32_t pid)
{
	for (size_t i = 0; i < ml->nprocs; i++)
		if (ml->procs[i].pid == pid)
			return &ml->procs[i];
	return NULL;
}

static struct mw_mproc *proc_of(struct mw_mledger *ml, uint32_t pid)
{
	struct mw_mproc *p = mw_mledger_find(ml, pid);

	if (p)
		return p;
	if (mw_grow(&ml->procs, ml->nprocs, &ml->cap, sizeof(*ml->procs), 8))
		return NULL;
	p = &ml->procs[ml->nprocs++];
	memset(p, 0, sizeof(*p));
	p->pid = pid;
	return p;
}

void mw_mledger_proc(struct mw_mledger *ml, uint32_t pid, const char *comm, const char *allocator,
		     uint32_t flags)
{
	struct mw_mproc_entry e = { .pid = pid, .flags = flags };
	struct mw_mproc *p = proc_of(ml, pid);

	if (!p)
		return;
	/* A new image (exec) or a new attach: what was known of its heaps is not. */
	p->midlife = flags & MW_MPROC_MIDLIFE;
	p->walked = false;
	p->walk_status = MW_HEAPWALK_OK;
	free(p->wspans);
	p->wspans = NULL;
	p->nwspans = 0;
	snprintf(p->comm, sizeof(p->comm), "%s", comm ? comm : "");
	snprintf(p->allocator, sizeof(p->allocator), "%s", allocator ? allocator : "");
	memcpy(e.comm, p->comm, sizeof(e.comm));
	record(ml, MW_ENTRY_MPROC, &e, sizeof(e), p->allocator, strlen(p->allocator));
}

/* 1 / the probability that an allocation of this size was traced (p: its process, or NULL). */
static double weight_of(const struct mw_malloc_config *m, const struct mw_mproc *p, uint64_t size)
{
	if (p && p->sampler_mean)
		return size ? mws_weight(size, p->sampler_mean) / (double)size : 1.0;
	if (m->sample_every > 1)
		return m->sample_every;
	if (m->sample_bytes) {
		double p = -expm1(-(double)size / (double)m->sample_bytes);

		return p > 0 ? 1.0 / p : 1.0;
	}
	return 1.0;
}

static const char *or_empty(const char *s)
{
	return s ? s : "";
}

/*
 * A block's free was seen. When a detached window began between its allocation
 * and this free, it is a late free: its block had an unknown fate, and the late
 * frees of a stack say how often such blocks turn out freed. The last two windows
 * are known: a free read after the next window began still finds its own.
 */
static void release(struct mw_mledger *ml, uint32_t pid, uint64_t addr, uint64_t ts)
{
	struct mw_mproc *p = mw_mledger_find(ml, pid);
	struct mw_block b;
	bool late;

	if (!mw_leak_release(&ml->leak, addr, &b) || !p || b.stack >= ml->leak.nstacks)
		return;
	late = (p->dark_ns && b.ts_ns < p->dark_ns && ts > p->dark_ns) ||
	       (p->dark_prev_ns && b.ts_ns < p->dark_prev_ns && ts > p->dark_prev_ns);
	if (late) {
		ml->leak.stacks[b.stack].late_bytes += (double)b.size * b.weight;
		ml->leak.stacks[b.stack].late_count += b.weight;
	}
}

/* Frames as a recording keeps them: fixed part, then four names ("" = unknown). */
static size_t frames_size(const struct mw_frame *f, uint32_t n)
{
	size_t len = 0;

	for (uint32_t k = 0; k < n; k++)
		len += sizeof(struct mw_mframe2_entry) + strlen(or_empty(f[k].module)) +
		       strlen(or_empty(f[k].func)) + strlen(or_empty(f[k].file)) +
		       strlen(or_empty(f[k].build_id)) + 4;
	return len;
}

/*
 * The intervals a stack was seen allocating in, each known by where it began: a record
 * read after its interval closed belongs to the one before. Counted as they rise, so
 * that a late record after an open one is not another interval (at worst one is missed).
 */
static void count_interval(struct mw_stack_ent *st, const struct mw_mproc *p, uint64_t ts)
{
	uint64_t at = (p->seg_on && ts <= p->seg_ns ? p->prev_seg_ns : p->seg_ns) + 1;

	if (at > st->interval_at) {
		st->interval_at = at;
		st->intervals++;
	}
}

static void record_stack(struct mw_mledger *ml, const struct mw_stack_ent *st)
{
	struct mw_mstack_entry e = { .pid = st->pid, .n = st->n | MW_MSTACK_FRAMES2 };
	size_t ilen = st->n * sizeof(uint64_t),
	       flen = st->frames ? frames_size(st->frames, st->n) : 0;
	char *buf;

	if (!ml->s->rec)
		return;
	buf = malloc(ilen + flen + 1);
	if (!buf) {
		ml->s->err = ml->s->err ? ml->s->err : -ENOMEM;
		return;
	}
	memcpy(buf, st->ips, ilen);
	if (!st->frames)
		e.n = MW_MSTACK_IPS_ONLY | st->n;
	for (uint32_t k = 0, off = (uint32_t)ilen; st->frames && k < st->n; k++) {
		const struct mw_frame *f = &st->frames[k];
		struct mw_mframe2_entry fe = {
			.addr = f->addr,
			.offset = f->offset,
			.rel = f->rel,
			.line = f->line,
			.rel_kind = (__u8)f->rel_kind,
			.jit = (__u8) !!f->jit,
		};
		const char *names[4] = { f->module, f->func, f->file, f->build_id };

		memcpy(buf + off, &fe, sizeof(fe));
		off += sizeof(fe);
		for (int i = 0; i < 4; i++) {
			size_t len = strlen(or_empty(names[i])) + 1;

			memcpy(buf + off, or_empty(names[i]), len);
			off += (uint32_t)len;
		}
	}
	record(ml, MW_ENTRY_MSTACK, &e, sizeof(e), buf, ilen + flen);
	free(buf);
}

void mw_mledger_alloc(struct mw_mledger *ml, const struct mw_event *ev, const uint64_t *ips,
		      uint32_t n, mw_name_stack_fn name_stack, void *ctx)
{
	struct mw_malloc_entry e = {
		.mono_ns = ev->mono_ns,
		.addr = ev->mal.addr,
		.size = ev->mal.size,
		.old_addr = ev->mal.old_addr,
		.pid = ev->pid,
		.tid = ev->tid,
		.fn = ev->mal.fn,
		.nips = n,
	};
	struct mw_block b = {
		.addr = ev->mal.addr,
		.size = ev->mal.size,
		.ts_ns = ev->mono_ns,
		.pid = ev->pid,
		.tid = ev->tid,
	};
	struct mw_mproc *p = proc_of(ml, ev->pid);
	uint64_t full = ml->leak.stacks_full;
	bool fresh;

	b.stack = mw_leak_stack(&ml->leak, ev->pid, ips, n, &fresh);
	if (p && ml->leak.stacks_full != full)
		p->stacks_full++;
	if (fresh) {
		struct mw_stack_ent *st = &ml->leak.stacks[b.stack];

		st->frames = name_stack ? calloc(st->n, sizeof(*st->frames)) : NULL;
		if (st->frames && name_stack(ctx, ev->pid, st->ips, st->n, st->frames))
			memset(st->frames, 0, st->n * sizeof(*st->frames));
		record_stack(ml, st);
	}
	if (ev->mal.weight) {
		/* The sampler's sample: its weight (bytes it stands for) follows the ips. */
		uint64_t buf[MW_LEAK_MAX_FRAMES + 1];
		uint32_t k = n < MW_LEAK_MAX_FRAMES ? n : MW_LEAK_MAX_FRAMES;

		memcpy(buf, ips, k * sizeof(*ips));
		buf[k] = ev->mal.weight;
		e.nips = k;
		record(ml, MW_ENTRY_MALLOC, &e, sizeof(e), buf, (k + 1) * sizeof(*buf));
		b.weight = ev->mal.size ? (float)((double)ev->mal.weight / (double)ev->mal.size)
					: 1.0f;
	} else {
		record(ml, MW_ENTRY_MALLOC, &e, sizeof(e), ips, n * sizeof(*ips));
		b.weight = (float)weight_of(&ml->mc, p, ev->mal.size);
	}
	/* A record read after its interval was closed takes that interval's weight now. */
	if (p && p->seg_on && ev->mono_ns <= p->seg_ns) {
		b.weight = (float)(b.weight * p->last_w);
		if (ev->mono_ns > p->prev_seg_ns) {
			ml->leak.stacks[b.stack].last_bytes += (double)ev->mal.size * b.weight;
			ml->leak.stacks[b.stack].last_count += b.weight;
			p->last_bytes += (double)ev->mal.size * b.weight;
			p->last_count += b.weight;
		}
	}
	/* Per stack, all it allocated: pprof's alloc_space (the unknown stack's is shared). */
	ml->leak.stacks[b.stack].alloc_bytes += (double)ev->mal.size * b.weight;
	ml->leak.stacks[b.stack].alloc_count += b.weight;
	if (p) {
		p->est_bytes += (double)ev->mal.size * b.weight;
		p->est_count += b.weight;
	}
	if (p && !(p->seg_on && ev->mono_ns <= p->seg_ns)) {
		/* In the open interval: scaled when it closes. */
		if (b.stack != MW_STACK_NONE) {
			ml->leak.stacks[b.stack].pend_bytes += (double)ev->mal.size * b.weight;
			ml->leak.stacks[b.stack].pend_count += b.weight;
		}
		p->pend_bytes += (double)ev->mal.size * b.weight;
		p->pend_count += b.weight;
	}
	if (p && b.stack != MW_STACK_NONE)
		count_interval(&ml->leak.stacks[b.stack], p, ev->mono_ns);
	if (ev->mal.old_addr)
		release(ml, ev->pid, ev->mal.old_addr, ev->mono_ns);
	mw_leak_alloc(&ml->leak, &b);
}

static bool unnamed_code(const struct mw_frame *f)
{
	return !f->module && !f->func;
}

void mw_mledger_rename(struct mw_mledger *ml, uint32_t pid, mw_name_stack_fn name_stack, void *ctx)
{
	for (size_t i = 1; i < ml->leak.nstacks; i++) {
		struct mw_stack_ent *st = &ml->leak.stacks[i];
		struct mw_frame *f;
		bool gained = false;

		if (st->pid != pid || !st->frames)
			continue;
		for (uint32_t k = 0; k < st->n && !gained; k++)
			gained = unnamed_code(&st->frames[k]);
		if (!gained)
			continue;
		f = calloc(st->n, sizeof(*f));
		if (!f || name_stack(ctx, pid, st->ips, st->n, f)) {
			free(f);
			continue;
		}
		gained = false;
		for (uint32_t k = 0; k < st->n; k++)
			gained |= unnamed_code(&st->frames[k]) && !unnamed_code(&f[k]);
		if (!gained) {
			free(f);
			continue;
		}
		free(st->frames);
		st->frames = f;
		record_stack(ml, st);
	}
}

/* A name read from a recording, kept as long as the ledger ("" stays unknown). */
static const char *keep_name(struct mw_mledger *ml, const char *s)
{
	char *copy;

	if (!*s || mw_grow(&ml->names, ml->nnames, &ml->capnames, sizeof(*ml->names), 64))
		return NULL;
	copy = strdup(s);
	if (copy)
		ml->names[ml->nnames++] = copy;
	return copy;
}

/* One recorded frame at *q (either layout); advances *q. 0 or -EINVAL. */
static int read_frame(struct mw_mledger *ml, const char **q, const char *end, bool v2,
		      struct mw_frame *f)
{
	const char **names[4] = { &f->module, &f->func, &f->file, &f->build_id };

	if (v2) {
		struct mw_mframe2_entry fe;

		if ((size_t)(end - *q) < sizeof(fe))
			return -EINVAL;
		memcpy(&fe, *q, sizeof(fe));
		*q += sizeof(fe);
		*f = (struct mw_frame){ .addr = fe.addr,
					.offset = fe.offset,
					.line = fe.line,
					.rel = fe.rel,
					.rel_kind = fe.rel_kind,
					.jit = fe.jit };
	} else {
		struct mw_mframe_entry fe;

		if ((size_t)(end - *q) < sizeof(fe))
			return -EINVAL;
		memcpy(&fe, *q, sizeof(fe));
		*q += sizeof(fe);
		*f = (struct mw_frame){ .addr = fe.addr, .offset = fe.offset, .line = fe.line };
	}
	for (int i = 0; i < (v2 ? 4 : 3); i++) {
		const char *nul = memchr(*q, '\0', (size_t)(end - *q));

		if (!nul)
			return -EINVAL;
		*names[i] = keep_name(ml, *q);
		*q = nul + 1;
	}
	return 0;
}

int mw_mledger_stack_entry(struct mw_mledger *ml, const void *data, size_t len)
{
	const struct mw_mstack_entry *e = data;
	const char *end = (const char *)data + len, *q;
	struct mw_stack_ent *st;
	struct mw_frame *frames;
	bool named, v2, fresh;
	uint32_t n, id;
	uint64_t *ips;

	if (len < sizeof(*e))
		return -EINVAL;
	named = !(e->n & MW_MSTACK_IPS_ONLY);
	v2 = e->n & MW_MSTACK_FRAMES2;
	n = e->n & MW_MSTACK_COUNT;
	if (n > MW_LEAK_MAX_FRAMES || len - sizeof(*e) < n * sizeof(uint64_t))
		return -EINVAL;
	ips = malloc((n ? n : 1) * sizeof(*ips));
	if (!ips)
		return -ENOMEM;
	memcpy(ips, e + 1, n * sizeof(*ips));
	id = mw_leak_stack(&ml->leak, e->pid, ips, n, &fresh);
	free(ips);
	if (!named || id == MW_STACK_NONE)
		return 0;
	frames = calloc(n, sizeof(*frames));
	if (!frames)
		return -ENOMEM;
	q = (const char *)(e + 1) + n * sizeof(uint64_t);
	for (uint32_t k = 0; k < n; k++) {
		if (read_frame(ml, &q, end, v2, &frames[k])) {
			free(frames);
			return -EINVAL;
		}
	}
	/* Known already: named again (JIT code the perf map named later). */
	st = &ml->leak.stacks[id];
	free(st->frames);
	st->frames = frames;
	return 0;
}

int mw_mledger_alloc_entry(struct mw_mledger *ml, const void *data, size_t len)
{
	const struct mw_malloc_entry *e = data;
	struct mw_event ev = { .kind = MW_EV_MALLOC };
	uint64_t ips[MW_LEAK_MAX_FRAMES];

	if (len < sizeof(*e) || e->nips > MW_LEAK_MAX_FRAMES || e->fn >= MW_MFN_COUNT ||
	    len - sizeof(*e) < e->nips * sizeof(uint64_t))
		return -EINVAL;
	memcpy(ips, e + 1, e->nips * sizeof(uint64_t));
	ev.mono_ns = e->mono_ns;
	ev.ts_ns = e->mono_ns + ml->s->dctx.mono_to_epoch_ns;
	ev.pid = e->pid;
	ev.tid = e->tid;
	ev.mal.fn = e->fn;
	ev.mal.addr = e->addr;
	ev.mal.size = e->size;
	ev.mal.old_addr = e->old_addr;
	if (len - sizeof(*e) >= (e->nips + 1) * sizeof(uint64_t))
		memcpy(&ev.mal.weight, (const uint64_t *)(e + 1) + e->nips, sizeof(uint64_t));
	mw_mledger_alloc(ml, &ev, ips, e->nips, NULL, NULL);
	return 0;
}

void mw_mledger_free(struct mw_mledger *ml, const struct mw_event *ev, const void *raw,
		     size_t rawlen)
{
	record(ml, MW_ENTRY_RING, raw, rawlen, NULL, 0);
	release(ml, ev->pid, ev->mal.addr, ev->mono_ns);
}

void mw_mledger_exec(struct mw_mledger *ml, uint32_t pid)
{
	__u32 e[2] = { pid, 0 };
	struct mw_mproc *p = mw_mledger_find(ml, pid);

	record(ml, MW_ENTRY_MEXEC, e, sizeof(e), NULL, 0);
	if (p)
		p->done = false;
	mw_leak_forget_pid(&ml->leak, pid);
}

void mw_mledger_heapwalk(struct mw_mledger *ml, const struct mw_mheap_entry *e,
			 const struct mw_mheap_span *spans, const struct mw_mheap_block *blocks)
{
	struct mw_mproc *p = proc_of(ml, e->pid);
	size_t slen = e->nspans * sizeof(*spans), blen = e->nblocks * sizeof(*blocks);
	char *both = malloc(slen + blen + 1);

	if (both) {
		mw_copy(both, spans, slen); /* a walk that found nothing passes NULL arrays */
		mw_copy(both + slen, blocks, blen);
		record(ml, MW_ENTRY_MHEAP, e, sizeof(*e), both, slen + blen);
		free(both);
	}
	if (!p)
		return;
	p->walked = true;
	p->walk_status = e->status;
	free(p->wspans);
	p->nwspans = 0;
	p->wspans = malloc((e->nspans ? e->nspans : 1) * sizeof(*spans));
	if (p->wspans) {
		mw_copy(p->wspans, spans, slen);
		p->nwspans = e->nspans;
	} else {
		p->walk_status = MW_HEAPWALK_TABLE_FULL;
	}
	for (uint32_t i = 0; i < e->nblocks; i++) {
		/* Blocks the probes reported meanwhile are known better (their stack). */
		struct mw_block b = {
			.addr = blocks[i].addr,
			.size = blocks[i].size -
				8, /* usable: mw_glibc_chunk() gives the chunk back */
			.ts_ns = e->now_mono_ns,
			.pid = e->pid,
			.stack = MW_STACK_NONE,
			.weight = 1,
			.found = 1,
		};

		if (blocks[i].size >= 32 && !mw_leak_find(&ml->leak, b.addr))
			mw_leak_alloc(&ml->leak, &b);
	}
}

int mw_mledger_heapwalk_entry(struct mw_mledger *ml, const void *data, size_t len)
{
	const struct mw_mheap_entry *e = data;
	const struct mw_mheap_span *spans;
	const struct mw_mheap_block *blocks;
	struct mw_mheap_entry h;
	void *copy;

	if (len < sizeof(*e))
		return -EINVAL;
	memcpy(&h, e, sizeof(h));
	if ((len - sizeof(h)) / sizeof(*spans) < h.nspans ||
	    (len - sizeof(h) - h.nspans * sizeof(*spans)) / sizeof(*blocks) < h.nblocks)
		return -EINVAL;
	/* Aligned copies: the entry's payload is only 8-byte aligned by luck. */
	copy = malloc(len - sizeof(h) + 1);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, e + 1, len - sizeof(h));
	spans = copy;
	blocks = (const struct mw_mheap_block *)(spans + h.nspans);
	mw_mledger_heapwalk(ml, &h, spans, blocks);
	free(copy);
	return 0;
}

void mw_mledger_sync(struct mw_mledger *ml, uint32_t pid, const struct mw_msync_block *v, size_t n)
{
	struct mw_msync_entry e = { .pid = pid, .n = (uint32_t)n };

	record(ml, MW_ENTRY_MSYNC, &e, sizeof(e), v, n * sizeof(*v));
	for (size_t i = 0; i < n; i++) {
		struct mw_block b = {
			.addr = v[i].addr,
			.size = v[i].v.size,
			.ts_ns = v[i].v.ts_ns,
			.pid = v[i].v.tgid,
			.tid = v[i].v.tid,
			.weight = (float)weight_of(&ml->mc, mw_mledger_find(ml, pid), v[i].v.size),
			.found = v[i].v.tid == 0, /* the heap walk put it there */
		};

		if (b.found)
			b.weight = 1;
		mw_leak_confirm(&ml->leak, &b);
	}
	mw_leak_sweep(&ml->leak, pid);
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* A detached window began: what a heap walk found in use may be freed unseen from now on. */
static void forget_known(struct mw_mledger *ml, uint32_t pid)
{
	for (size_t i = 0; i <= ml->leak.bmask; i++)
		if (ml->leak.blocks[i].addr && ml->leak.blocks[i].pid == pid)
			ml->leak.blocks[i].known = 0;
}

/*
 * all / attached of a counter since the interval began, when attached holds at least
 * min_att; 0 when the process made fewer than MIN_IO_CALLS in all the interval (the
 * counter says nothing of it); -1 when it made them but too few while attached.
 */
static double calls_ratio(uint64_t all, uint64_t seg, uint64_t att, uint64_t seg_att,
			  uint64_t min_att)
{
	if (all < seg || att < seg_att || all - seg < att - seg_att || all - seg < MIN_IO_CALLS)
		return 0;
	if (att - seg_att < min_att || att == seg_att)
		return -1;
	return (double)(all - seg) / (double)(att - seg_att);
}

/*
 * An interval's weight: its read system calls over those made while the probes were
 * attached, when it made enough of them (a server's requests: the probes slow each
 * one, so a server whose clients wait for it serves fewer while attached, and time
 * would weigh too little). Reads, not writes: a request's work follows its read, but
 * its reply's write may wait for the end of a batch (redis writes its replies at the
 * end of an event-loop iteration, which the probes stretch to a window's length: a
 * window saw twice the reads of its writes). A process that reads little (a writer):
 * reads and writes together; one that makes few of either: its length over the time
 * attached. -1: it made them, but fewer than min_att while attached: the interval is
 * better merged into the next than weighed by time, which the probes' slowdown biases;
 * or weighed by time, it was attached less than min_att_ns.
 */
static double interval_weight(const struct mw_mseg *from, uint64_t t,
			      const struct mw_mbudget_entry *e, uint64_t min_att,
			      uint64_t min_att_ns)
{
	double w = calls_ratio(e->reads, from->rd, e->reads_attached, from->rd_att, min_att);

	if (!w)
		w = calls_ratio(e->io_calls, from->io, e->io_calls_attached, from->io_att, min_att);
	if (w)
		return w;
	if (e->attached_ns - from->att_ns < min_att_ns)
		return -1;
	return (double)(t - from->ns) / (double)(e->attached_ns - from->att_ns);
}

/* The open interval's start as a boundary. */
static struct mw_mseg seg_of(const struct mw_mproc *p)
{
	return (struct mw_mseg){ .ns = p->seg_ns,
				 .att_ns = p->seg_att_ns,
				 .io = p->seg_io,
				 .io_att = p->seg_io_att,
				 .rd = p->seg_rd,
				 .rd_att = p->seg_rd_att };
}

/* The open interval starts at t, with the budget's counters e then. */
static void seg_start(struct mw_mproc *p, uint64_t t, const struct mw_mbudget_entry *e)
{
	p->seg_ns = t;
	p->seg_att_ns = e->attached_ns;
	p->seg_io = e->io_calls;
	p->seg_io_att = e->io_calls_attached;
	p->seg_rd = e->reads;
	p->seg_rd_att = e->reads_attached;
}

/* The blocks of p allocated in (from, to] (not found by a heap walk) weigh f times as much. */
static void blocks_scale(struct mw_mledger *ml, const struct mw_mproc *p, uint64_t from,
			 uint64_t to, double f)
{
	for (size_t i = 0; f != 1 && i <= ml->leak.bmask; i++) {
		struct mw_block *b = &ml->leak.blocks[i];

		if (b->addr && b->pid == p->pid && !b->found && b->ts_ns > from && b->ts_ns <= to)
			b->weight = (float)(b->weight * f);
	}
}

/* The stacks' and the process's sums of what they allocated, a factor for the last closed
 * interval (f) and one for the open one (w), which joins it. */
static void sums_rescale(struct mw_mledger *ml, struct mw_mproc *p, double f, double w)
{
	for (size_t i = 1; i < ml->leak.nstacks; i++) {
		struct mw_stack_ent *st = &ml->leak.stacks[i];

		if (st->pid != p->pid)
			continue;
		st->alloc_bytes += st->last_bytes * (f - 1) + st->pend_bytes * (w - 1);
		st->alloc_count += st->last_count * (f - 1) + st->pend_count * (w - 1);
		st->last_bytes = st->last_bytes * f + st->pend_bytes * w;
		st->last_count = st->last_count * f + st->pend_count * w;
		st->pend_bytes = st->pend_count = 0;
	}
	p->est_bytes += p->last_bytes * (f - 1) + p->pend_bytes * (w - 1);
	p->est_count += p->last_count * (f - 1) + p->pend_count * (w - 1);
	p->last_bytes = p->last_bytes * f + p->pend_bytes * w;
	p->last_count = p->last_count * f + p->pend_count * w;
	p->pend_bytes = p->pend_count = 0;
}

/*
 * A report at t that finds too little attached time since the last boundary to weigh on:
 * none (the probes detached since: the dark tail), or, weighed by time, a window shorter
 * than min_att_ns begun since. The open interval joins the last closed one, as if that had
 * closed at t: its weight is taken again over both (by the system calls since its start,
 * or its length over the time attached), its blocks rescaled by the ratio of the two
 * weights, the open one's weighing the same. The next interval starts at t. A process that
 * exited is counted until its last sample; a state that says attached but holds no attached
 * time since the boundary is one's last (the time it stopped is not known): nothing to add.
 * Returns false when there is no closed interval to join.
 */
static bool tail_close(struct mw_mledger *ml, struct mw_mproc *p, uint64_t t,
		       const struct mw_mbudget_entry *e)
{
	double w, f;

	t = t < p->trace_ns + e->wall_ns ? t : p->trace_ns + e->wall_ns;
	if (p->last_w <= 0 || e->attached_ns <= p->base.att_ns)
		return false;
	if (t <= p->seg_ns || (e->attached && e->attached_ns <= p->seg_att_ns))
		return true;
	w = interval_weight(&p->base, t, e, 1, 0);
	if (w < 0)
		w = (double)(t - p->base.ns) / (double)(e->attached_ns - p->base.att_ns);
	w = fmin(fmax(w, 1), 1e6);
	f = w / p->last_w;
	blocks_scale(ml, p, p->prev_seg_ns, p->seg_ns, f);
	blocks_scale(ml, p, p->seg_ns, t, w);
	sums_rescale(ml, p, f, w);
	p->last_w = w;
	p->scaled |= w > 1;
	seg_start(p, t, e);
	return true;
}

/*
 * An interval boundary at t, e the budget's state then: the interval since the
 * previous boundary closes, and what was seen in it stands for all of it. The first
 * boundary only opens the account (the probes were attached from the start: weight
 * 1); at a detach (may_merge), an interval with no attached time is merged into the
 * next, and so is one whose windows saw fewer than MIN_IO_CALLS of its system calls, or
 * weighed by time, were attached less than min_att_ns. A report closes it whatever its
 * windows saw (a ratio of few calls is noisy, not biased), but for one with no attached
 * time or too little to weigh by time: that joins the last closed interval (tail_close).
 */
static void interval_close(struct mw_mledger *ml, struct mw_mproc *p, uint64_t t,
			   const struct mw_mbudget_entry *e, bool may_merge)
{
	double w = 1;

	if (p->seg_on) {
		struct mw_mseg from = seg_of(p);

		if (t <= p->seg_ns)
			return;
		if (e->attached_ns <= p->seg_att_ns) {
			if (!may_merge)
				tail_close(ml, p, t, e);
			return;
		}
		w = interval_weight(&from, t, e, may_merge ? MIN_IO_CALLS : 1, ml->min_att_ns);
		if (w < 0 && (may_merge || tail_close(ml, p, t, e)))
			return;
		if (w < 0)
			w = (double)(t - p->seg_ns) / (double)(e->attached_ns - p->seg_att_ns);
		/* At most a millionth of an interval attached: beyond, a recording is crafted (and
		 * a weight must keep the conversions of what it multiplies defined). */
		w = fmin(fmax(w, 1), 1e6);
		blocks_scale(ml, p, p->seg_ns, t, w);
		p->base = from;
	} else {
		/* The first boundary: the interval it closes began with the trace. */
		p->base = (struct mw_mseg){ .ns = p->trace_ns };
	}
	for (size_t i = 1; i < ml->leak.nstacks; i++) {
		struct mw_stack_ent *st = &ml->leak.stacks[i];

		if (st->pid != p->pid)
			continue;
		st->alloc_bytes += st->pend_bytes * (w - 1);
		st->alloc_count += st->pend_count * (w - 1);
		st->last_bytes = st->pend_bytes * w;
		st->last_count = st->pend_count * w;
		st->pend_bytes = st->pend_count = 0;
	}
	p->est_bytes += p->pend_bytes * (w - 1);
	p->est_count += p->pend_count * (w - 1);
	p->last_bytes = p->pend_bytes * w;
	p->last_count = p->pend_count * w;
	p->pend_bytes = p->pend_count = 0;
	p->scaled |= w > 1;
	p->prev_seg_ns = p->seg_on ? p->seg_ns : 0;
	p->seg_on = true;
	seg_start(p, t, e);
	p->last_w = w;
}

/* The blocks of e->pid at addrs were freed, at e's time; or every block's fate is unknown. */
static void freed_apply(struct mw_mledger *ml, const struct mw_mfreed_entry *e,
			const uint64_t *addrs, const uint64_t *live, size_t nlive)
{
	struct mw_mproc *p = proc_of(ml, e->pid);

	for (uint32_t i = 0; i < e->n; i++)
		release(ml, e->pid, addrs[i], e->now_mono_ns);
	/* A heap walk: the addresses after the freed ones are in use, of known fate again. */
	for (uint32_t i = 0; (e->flags & MW_MFREED_CONFIRM) && i < nlive; i++) {
		struct mw_block *b = mw_leak_get(&ml->leak, live[i]);

		if (b && b->pid == e->pid)
			b->known = 1;
	}
	/* As after a detached window that began now: nothing allocated before is a leak. */
	if (p && (e->flags & MW_MFREED_UNKNOWN) && e->now_mono_ns != p->dark_ns) {
		p->dark_prev_ns = p->dark_ns;
		p->dark_ns = e->now_mono_ns;
		forget_known(ml, e->pid);
	}
}

size_t mw_mledger_sampler_sync(struct mw_mledger *ml, uint32_t pid, uint64_t now,
			       const uint64_t *live, size_t n, bool read_ok)
{
	struct mw_mfreed_entry e = {
		.pid = pid,
		.now_mono_ns = now,
		.flags = read_ok ? 0 : MW_MFREED_UNKNOWN,
	};
	uint64_t *gone = NULL;
	size_t k = 0, cap = 0, blocks = 0;

	for (size_t i = 0; i <= ml->leak.bmask; i++) {
		const struct mw_block *b = &ml->leak.blocks[i];

		if (!b->addr || b->pid != pid || b->found)
			continue;
		blocks++;
		if (!read_ok || (n && bsearch(&b->addr, live, n, sizeof(*live), u64_cmp)))
			continue;
		if (mw_grow(&gone, k, &cap, sizeof(*gone), 256)) {
			free(gone); /* the next read says it again */
			return 0;
		}
		gone[k++] = b->addr;
	}
	/* Nothing changed: nothing to record. */
	if (!blocks || (read_ok && !k)) {
		free(gone);
		return 0;
	}
	e.n = (uint32_t)k;
	record(ml, MW_ENTRY_MFREED, &e, sizeof(e), gone, k * sizeof(*gone));
	freed_apply(ml, &e, gone, NULL, 0);
	free(gone);
	return read_ok ? k : blocks;
}

int mw_mledger_freed_entry(struct mw_mledger *ml, const void *data, size_t len)
{
	struct mw_mfreed_entry e;
	uint64_t *addrs;
	size_t total;

	if (len < sizeof(e))
		return -EINVAL;
	memcpy(&e, data, sizeof(e));
	if ((len - sizeof(e)) / sizeof(*addrs) < e.n)
		return -EINVAL;
	/* A walk's: the addresses in use follow (older entries end at the n freed). */
	total = (e.flags & MW_MFREED_CONFIRM) ? (len - sizeof(e)) / sizeof(*addrs) : e.n;
	/* An aligned copy: the entry's payload is only 8-byte aligned by luck. */
	addrs = malloc((total ? total : 1) * sizeof(*addrs));
	if (!addrs)
		return -ENOMEM;
	memcpy(addrs, (const char *)data + sizeof(e), total * sizeof(*addrs));
	record(ml, MW_ENTRY_MFREED, &e, sizeof(e), addrs, total * sizeof(*addrs));
	freed_apply(ml, &e, addrs, addrs + e.n, total - e.n);
	free(addrs);
	return 0;
}

static int heap_block_cmp(const void *a, const void *b)
{
	const struct mw_mheap_block *x = a, *y = b;

	return (x->addr > y->addr) - (x->addr < y->addr);
}

/* The span of a walk that holds the chunk of the block at addr, read whole; or NULL. */
static const struct mw_mheap_span *span_of(const struct mw_mheap_span *spans, size_t n,
					   uint64_t addr)
{
	for (size_t i = 0; i < n; i++)
		if (!spans[i].status && spans[i].end > spans[i].start &&
		    addr - 16 >= spans[i].start && addr < spans[i].end)
			return &spans[i];
	return NULL;
}

/*
 * Whether the walk's chunk at b's address is b: in use, of the size glibc gives b's request
 * (up to 31 bytes more: a chunk taken whole from a bin when the rest would be too small to
 * split).
 */
static bool still_there(const struct mw_block *b, const struct mw_mheap_block *sorted, size_t n)
{
	struct mw_mheap_block key = { .addr = b->addr };
	const struct mw_mheap_block *c = bsearch(&key, sorted, n, sizeof(*sorted), heap_block_cmp);
	uint64_t want = mw_glibc_chunk(b->size);

	return c && c->size >= want && c->size < want + 32;
}

size_t mw_mledger_confirm(struct mw_mledger *ml, uint32_t pid, uint64_t now,
			  const struct mw_mheap_span *spans, size_t nspans,
			  const struct mw_mheap_block *blocks, size_t nblocks)
{
	struct mw_mfreed_entry e = { .pid = pid, .now_mono_ns = now, .flags = MW_MFREED_CONFIRM };
	const struct mw_mproc *p = mw_mledger_find(ml, pid);
	struct mw_mheap_block *sorted;
	uint64_t *gone = NULL, *live = NULL, *both;
	size_t ng = 0, cg = 0, nl = 0, cl = 0;
	int err = 0;

	if (!p || !p->dark_ns)
		return 0;
	sorted = malloc((nblocks ? nblocks : 1) * sizeof(*sorted));
	if (!sorted)
		return 0;
	mw_copy(sorted, blocks, nblocks * sizeof(*sorted));
	qsort(sorted, nblocks, sizeof(*sorted), heap_block_cmp);
	for (size_t i = 0; i <= ml->leak.bmask && !err; i++) {
		const struct mw_block *b = &ml->leak.blocks[i];

		if (!b->addr || b->pid != pid || b->known || b->ts_ns >= p->dark_ns ||
		    b->ts_ns >= now || !span_of(spans, nspans, b->addr))
			continue;
		if (still_there(b, sorted, nblocks)) {
			err = mw_grow(&live, nl, &cl, sizeof(*live), 256);
			if (!err)
				live[nl++] = b->addr;
		} else {
			err = mw_grow(&gone, ng, &cg, sizeof(*gone), 256);
			if (!err)
				gone[ng++] = b->addr;
		}
	}
	free(sorted);
	both = err || !(ng + nl) ? NULL : malloc((ng + nl) * sizeof(*both));
	if (both) {
		mw_copy(both, gone, ng * sizeof(*gone));
		mw_copy(both + ng, live, nl * sizeof(*live));
		e.n = (uint32_t)ng;
		record(ml, MW_ENTRY_MFREED, &e, sizeof(e), both, (ng + nl) * sizeof(*both));
		freed_apply(ml, &e, both, both + ng, nl);
	}
	free(both);
	free(gone);
	free(live);
	return both ? ng + nl : 0;
}

/*
 * Why the live blocks of [start, end) (an arena heap that existed at the
 * attach when existed) are not all known, or NULL: attached mid-life, a heap
 * is known whole when the walk found it whole; one the walk did not see came
 * later (or, for an arena heap there at the attach, is not glibc's).
 */
static const char *span_gap(const struct mw_mledger *ml, const struct mw_mproc *mp, uint64_t start,
			    uint64_t end, bool existed)
{
	bool seen = false;

	if (ml->probes_off)
		return "probes_off";
	if (!mp || !mp->midlife)
		return NULL;
	if (!mp->walked)
		return "not_walked";
	if (mp->walk_status)
		return mw_heapwalk_reason(mp->walk_status);
	for (size_t i = 0; i < mp->nwspans; i++) {
		const struct mw_mheap_span *w = &mp->wspans[i];

		if (w->start >= end || (w->end <= start && w->end > w->start) ||
		    (w->end == w->start && (w->start < start || w->start >= end)))
			continue;
		if (w->status)
			return mw_heapwalk_reason(w->status);
		seen = true;
	}
	return !seen && existed ? "not_found" : NULL;
}

/* The committed spans of p's glibc heaps: the brk heap and every arena heap. */
static void heap_spans(const struct mw_mledger *ml, const struct mw_process *p,
		       struct mw_heap_span **out, size_t *n)
{
	const struct mw_mproc *mp = NULL;

	size_t na = p->alloc ? mw_alloc_narenas(p->alloc) : 0, cap = 1, k = 0;
	struct mw_heap_span *v;

	for (size_t i = 0; i < na; i++)
		cap += mw_alloc_arena(p->alloc, i)->nheaps;
	for (size_t i = 0; i < ml->nprocs; i++)
		if (ml->procs[i].pid == p->pid)
			mp = &ml->procs[i];
	v = calloc(cap, sizeof(*v));
	*out = v;
	*n = 0;
	if (!v)
		return;
	if (p->start_brk && p->brk > p->start_brk)
		v[k++] = (struct mw_heap_span){
			MW_ARENA_MAIN,
			p->start_brk,
			p->brk,
			span_gap(ml, mp, p->start_brk, p->brk, false),
			0,
		};
	for (size_t i = 0; i < na; i++) {
		const struct mw_arena *a = mw_alloc_arena(p->alloc, i);

		for (size_t h = 0; h < a->nheaps; h++)
			if (a->heaps[h].rw_end > a->heaps[h].base)
				v[k++] = (struct mw_heap_span){
					a->id,
					a->heaps[h].base,
					a->heaps[h].rw_end,
					span_gap(ml, mp, a->heaps[h].base, a->heaps[h].rw_end,
						 a->creator_tid == 0),
					h ? MW_GLIBC_HEAP_HEAD : MW_GLIBC_ARENA_HEAD,
				};
	}
	*n = k;
}

static void report_retention(struct mw_mledger *ml, const struct mw_process *p, uint64_t ts,
			     bool estimated, const char *gap)
{
	struct mw_heap_span *spans;
	struct mw_retention *r;
	size_t ns, nr;

	if (p->alloc && mw_alloc_allocator(p->alloc) != MW_ALLOCATOR_GLIBC &&
	    mw_alloc_allocator(p->alloc) != MW_ALLOCATOR_UNKNOWN)
		return;
	heap_spans(ml, p, &spans, &ns);
	for (size_t i = 0; spans && gap && i < ns; i++)
		spans[i].incomplete = gap;
	r = calloc(ns ? ns : 1, sizeof(*r));
	if (spans && r && ns) {
		nr = mw_retention_compute(&ml->leak, p->pid, spans, ns, MW_TRIM_THRESHOLD, r);
		mw_out_retention(&ml->s->out, ts, p->pid, &ml->leak, r, nr, estimated);
	}
	free(r);
	free(spans);
}

/*
 * Blocks of unknown fate that are glibc mmapped chunks (the chunk's header 16 bytes before
 * the block, at the start of a mapping of its own): such a chunk is freed by munmap, which
 * the syscall tracing sees whether the probes are attached or not, so one whose mapping the
 * model still has (a malloc_chunk region holding it whole) is in use: of known fate. Its
 * mapping may be gone when the process is (an OOM kill), but the model's is there until
 * its final report. (A chunk freed unseen and its address mapped again for another chunk
 * counts as the first, as a heap walk would count it.)
 */
static void chunks_confirm(struct mw_mledger *ml, const struct mw_mproc *mp,
			   const struct mw_process *p)
{
	for (size_t i = 0; p && mp->dark_ns && i <= ml->leak.bmask; i++) {
		struct mw_block *b = &ml->leak.blocks[i];
		const struct mw_region *g;

		if (!b->addr || b->pid != mp->pid || b->known || b->ts_ns >= mp->dark_ns ||
		    b->addr < 16)
			continue;
		g = mw_regions_find(&p->regions, b->addr - 16);
		if (g && g->cls == MW_CLASS_MALLOC_CHUNK && g->end > b->addr &&
		    b->size <= g->end - b->addr)
			b->known = 1;
	}
}

void mw_mledger_report(struct mw_mledger *ml, const struct mw_mreport_entry *in)
{
	const struct mw_malloc_config *m = &ml->mc;
	struct mw_mproc *mp = proc_of(ml, in->pid);
	const struct mw_process *p = mw_model_find(&ml->s->model, in->pid);
	uint64_t now = in->now_mono_ns;
	uint64_t ts = now + (uint64_t)ml->s->dctx.mono_to_epoch_ns; /* wraps, defined */
	uint64_t min_age = (uint64_t)(m->min_age_s * 1e9);
	struct mw_leak_row *rows = NULL, *all = NULL, *by_count = NULL, *known = NULL;
	struct mw_malloc_sum sum = {
		.pid = in->pid,
		.estimated = m->sample_every > 1 || m->sample_bytes || (mp && mp->sampler_mean) ||
			     (mp && mp->scaled),
		.sampler = mp && mp->sampler_mean,
		.sampler_path = mp && mp->sampler_ring ? "ring" : "probe",
		.c = in->c,
		.st = in->st,
		.unwind_failed = in->unwind_failed,
	};
	char sampling[48] = "off";
	long n, nall, nknown;
	struct mw_budget_out bo = {};

	record(ml, MW_ENTRY_MREPORT, in, sizeof(*in), NULL, 0);
	if (!mp)
		return;
	bo.e = &mp->budget;
	sum.comm = p ? p->comm : mp->comm;
	sum.allocator = mp->allocator;
	sum.est_bytes = mp->est_bytes;
	sum.est_count = mp->est_count;
	sum.stacks_full = mp->stacks_full;
	if (mp->sampler_mean) {
		/* The kernel's sums of the sampler's weights (malloc.bpf.c): lost records or not. */
		sum.est_bytes = (double)in->c.bytes[MW_MFN_MALLOC];
		sum.est_count = (double)in->c.calls[MW_MFN_MALLOC] / 65536.0;
		memset(sum.c.calls, 0, sizeof(sum.c.calls));
		memset(sum.c.bytes, 0, sizeof(sum.c.bytes));
	}
	if (mp->sampler_mean)
		snprintf(sampling, sizeof(sampling), "sampler bytes %llu",
			 (unsigned long long)mp->sampler_mean);
	else if (m->sample_every > 1)
		snprintf(sampling, sizeof(sampling), "every %u", m->sample_every);
	else if (m->sample_bytes)
		snprintf(sampling, sizeof(sampling), "bytes %llu",
			 (unsigned long long)m->sample_bytes);
	sum.sampling = sampling;
	nall = mw_leak_aggregate(&ml->leak, in->pid, UINT64_MAX, false, &all);
	chunks_confirm(ml, mp, p);
	/*
	 * Detached windows (the budget, --duty, the rate guard): frees made then were not
	 * seen, so a block allocated before the last one and not seen freed has an unknown
	 * fate: counted apart, never a leak. Outstanding and leaks are the blocks of known
	 * fate (all of them when never detached).
	 */
	nknown = mw_mledger_known_rows(ml, in->pid, UINT64_MAX, false, &known);
	for (long i = 0; i < nknown; i++) {
		sum.out_bytes += known[i].bytes;
		sum.out_count += known[i].count;
	}
	for (long i = 0; i < nall; i++) {
		bo.unknown_bytes += all[i].bytes;
		bo.unknown_count += all[i].count;
		bo.late_bytes += ml->leak.stacks[all[i].stack].late_bytes;
	}
	bo.unknown_bytes -= sum.out_bytes;
	bo.unknown_count -= sum.out_count;
	mw_leak_found(&ml->leak, in->pid, &sum.found_count, &sum.found_bytes);
	mw_out_malloc_sum(&ml->s->out, ts, &sum);
	if (mp->has_budget)
		mw_out_malloc_budget(&ml->s->out, ts, &bo);
	/* A leak is a block of known fate: allocated after the last detached window, or
	 * found still in use by a heap walk since. */
	n = mw_mledger_known_rows(ml, in->pid, now > min_age ? now - min_age : 0, false, &rows);
	if (n >= 0 && (by_count = malloc(((size_t)n + 1) * sizeof(*by_count)))) {
		memcpy(by_count, rows, (size_t)n * sizeof(*rows));
		mw_leak_aggregate_sort(by_count, (size_t)n, true);
		mw_out_leaks(&ml->s->out, ts, &ml->leak, rows, by_count, (size_t)n, m->min_age_s,
			     now, sum.estimated, mp->scaled);
		if (in->final && ml->folded)
			mw_leak_folded(ml->folded, &ml->leak, rows, (size_t)n);
	}
	if (mp->dark_ns) {
		struct mw_leak_row *unknown = NULL;
		long nu = mw_leak_aggregate_fate(&ml->leak, in->pid, mp->dark_ns, UINT64_MAX, false,
						 false, &unknown);

		if (nu >= 0)
			mw_out_fate_unknown(&ml->s->out, ts, &ml->leak, unknown, (size_t)nu, now,
					    sum.estimated, mp->scaled);
		free(unknown);
	}
	/* Growth is measured between reports of all blocks, whatever --min-age. */
	if (nall > 0)
		mw_leak_mark(&ml->leak, all, (size_t)nall);
	/* Blocks the tables had no room for: no heap is known whole. */
	if (p)
		report_retention(ml, p, ts, sum.estimated,
				 in->c.live_full || ml->leak.blocks_full ? "not_tracked" : NULL);
	free(known);
	if (in->final) {
		mp->done = true;
		if (ml->folded)
			fflush(ml->folded);
	}
	free(rows);
	free(all);
	free(by_count);
	if (ml->after_report)
		ml->after_report(ml->after_report_ctx, in->pid, in->final);
}

int mw_mledger_report_entry(struct mw_mledger *ml, const void *data, size_t len)
{
	struct mw_mreport_entry re;

	if (len == MW_MREPORT_V1_LEN) {
		/* Counters without their per-process health counters: the session's, as
		 * those recordings' reports showed them. */
		memset(&re, 0, sizeof(re));
		memcpy(&re, data, 24 + MW_MREPORT_V1_COUNTERS);
		memcpy(&re.st, (const char *)data + 24 + MW_MREPORT_V1_COUNTERS, sizeof(re.st));
		re.c.unknown_frees = re.st.unknown_frees;
		re.c.live_full = re.st.live_full;
		re.c.rb_drops = re.st.rb_drops;
		re.c.stack_short = re.st.stack_short;
	} else if (len == sizeof(re)) {
		memcpy(&re, data, sizeof(re));
	} else {
		return -EINVAL;
	}
	mw_mledger_report(ml, &re);
	return 0;
}

void mw_mledger_budget(struct mw_mledger *ml, const struct mw_mbudget_entry *e)
{
	struct mw_mproc *p = proc_of(ml, e->pid);

	record(ml, MW_ENTRY_MBUDGET, e, sizeof(*e), NULL, 0);
	if (!p)
		return;
	if (!p->has_budget)
		p->trace_ns = e->now_mono_ns - e->wall_ns;
	if (e->dark_ns && e->dark_ns != p->dark_ns) {
		/* The interval that the detach ends: its attached time stopped growing then
		 * (unless the probes came back before this entry: a tick's worth more). */
		interval_close(ml, p, e->dark_ns, e, true);
		p->dark_prev_ns = p->dark_ns;
		p->dark_ns = e->dark_ns;
		forget_known(ml, e->pid);
		/* A report's entry that brings the detach (the event loop had not been told):
		 * the time since it is the report's too. */
		if (!e->attached && e->now_mono_ns > e->dark_ns)
			interval_close(ml, p, e->now_mono_ns, e, false);
	} else if (p->seg_on || e->attached) {
		/* A report (an entry that ends no window): a boundary here, so it counts the
		 * window it falls in and those merged before, and the time since (the first
		 * one, attached, opens the account). */
		interval_close(ml, p, e->now_mono_ns, e, false);
	}
	p->budget = *e;
	p->has_budget = true;
}

long mw_mledger_known_rows(const struct mw_mledger *ml, uint32_t pid, uint64_t max_ts,
			   bool by_count, struct mw_leak_row **rows)
{
	return mw_leak_aggregate_fate(&ml->leak, pid, mw_mledger_known_from(ml, pid), max_ts, true,
				      by_count, rows);
}

bool mw_mledger_scaled(const struct mw_mledger *ml, uint32_t pid)
{
	for (size_t i = 0; i < ml->nprocs; i++)
		if (ml->procs[i].pid == pid)
			return ml->procs[i].scaled;
	return false;
}

uint64_t mw_mledger_known_from(const struct mw_mledger *ml, uint32_t pid)
{
	for (size_t i = 0; i < ml->nprocs; i++)
		if (ml->procs[i].pid == pid)
			return ml->procs[i].dark_ns;
	return 0;
}

void mw_mledger_guard(struct mw_mledger *ml, const struct mw_mguard_entry *g)
{
	record(ml, MW_ENTRY_MGUARD, g, sizeof(*g), NULL, 0);
	ml->probes_off = true; /* blocks made while it is away stay unknown */
	mw_out_malloc_guard(&ml->s->out,
			    (uint64_t)((int64_t)g->now_mono_ns + ml->s->dctx.mono_to_epoch_ns),
			    g->rate, g->limit, g->off_ns);
}

void mw_mledger_sampler(struct mw_mledger *ml, uint32_t pid, uint64_t mean, uint32_t flags)
{
	struct mw_msampler_entry e = { .pid = pid, .flags = flags, .mean = mean };
	struct mw_mproc *p = proc_of(ml, pid);

	record(ml, MW_ENTRY_MSAMPLER, &e, sizeof(e), NULL, 0);
	if (p) {
		p->sampler_mean = mean;
		p->sampler_ring = flags & MW_MSAMPLER_RING;
	}
}
