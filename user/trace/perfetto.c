// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Perfetto traces. See perfetto.h. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include "alloc/alloc.h"
#include "base/atomic.h"
#include "base/errmsg.h"
#include "base/grow.h"
#include "ledger/format.h"
#include "ledger/totals.h"
#include "perfetto.h"
#include "perfetto_trace.pb-c.h"

typedef Perfetto__Protos__TracePacket Packet;
typedef Perfetto__Protos__TrackDescriptor TrackDesc;
typedef Perfetto__Protos__TrackEvent TrackEvent;
typedef Perfetto__Protos__DebugAnnotation Annot;

struct tthread {
	uint32_t tid;
	uint64_t uuid, net_uuid, acc_uuid;
	char name[MW_COMM_LEN]; /* as last described */
	bool dirty;
	uint64_t ts; /* its latest call */
};

struct tarena {
	int id;
	uint64_t uuid;
	bool dirty;
	uint64_t ts, committed;
};

struct tproc {
	uint32_t pid;
	const struct mw_process *proc;
	uint64_t uuid, mapped_uuid, committed_uuid, resident_uuid;
	bool described, dirty, resident_described;
	uint64_t ts, last_flush;
	struct tthread *th;
	size_t nth, capth;
	struct tarena *ar;
	size_t nar, capar;
};

struct mw_perfetto {
	struct mw_atomic file;
	uint64_t next_uuid;
	bool started;
	int err; /* first write error */
	uint8_t *buf;
	size_t cap;
	struct tproc *v;
	size_t n, cap_v;
};

/* ---------- packets ---------- */

static void put_packet(struct mw_perfetto *t, Packet *pk)
{
	uint8_t head[11];
	size_t len, h = 0;
	uint64_t v;

	pk->has_trusted_packet_sequence_id = true;
	pk->trusted_packet_sequence_id = 1;
	if (!t->started) {
		pk->has_sequence_flags = true;
		pk->sequence_flags = 1; /* SEQ_INCREMENTAL_STATE_CLEARED */
		t->started = true;
	}
	len = perfetto__protos__trace_packet__get_packed_size(pk);
	if (mw_grow_to(&t->buf, len, &t->cap, 1, 4096)) {
		t->err = t->err ? t->err : -ENOMEM;
		return;
	}
	perfetto__protos__trace_packet__pack(pk, t->buf);
	/* Trace.packet (field 1, length-delimited), then the packet. */
	head[h++] = 0x0a;
	for (v = len; v >= 0x80; v >>= 7)
		head[h++] = (uint8_t)(v | 0x80);
	head[h++] = (uint8_t)v;
	if (fwrite(head, 1, h, t->file.f) != h || fwrite(t->buf, 1, len, t->file.f) != len)
		t->err = t->err ? t->err : -EIO;
}

static void put_track(struct mw_perfetto *t, TrackDesc *td)
{
	Packet pk = PERFETTO__PROTOS__TRACE_PACKET__INIT;

	pk.track_descriptor = td;
	put_packet(t, &pk);
}

static void describe_counter(struct mw_perfetto *t, uint64_t uuid, uint64_t parent,
			     const char *name)
{
	TrackDesc td = PERFETTO__PROTOS__TRACK_DESCRIPTOR__INIT;
	Perfetto__Protos__CounterDescriptor cd = PERFETTO__PROTOS__COUNTER_DESCRIPTOR__INIT;

	td.has_uuid = td.has_parent_uuid = true;
	td.uuid = uuid;
	td.parent_uuid = parent;
	td.name = (char *)name;
	cd.has_unit = true;
	cd.unit = PERFETTO__PROTOS__COUNTER_DESCRIPTOR__UNIT__UNIT_SIZE_BYTES;
	td.counter = &cd;
	put_track(t, &td);
}

static void put_counter(struct mw_perfetto *t, uint64_t uuid, uint64_t ts, int64_t value)
{
	Packet pk = PERFETTO__PROTOS__TRACE_PACKET__INIT;
	TrackEvent te = PERFETTO__PROTOS__TRACK_EVENT__INIT;

	pk.has_timestamp = true;
	pk.timestamp = ts;
	te.has_type = te.has_track_uuid = te.has_counter_value = true;
	te.type = PERFETTO__PROTOS__TRACK_EVENT__TYPE__TYPE_COUNTER;
	te.track_uuid = uuid;
	te.counter_value = value;
	pk.track_event = &te;
	put_packet(t, &pk);
}

/* An instant on a track with up to 4 annotations (name, value; value NULL: num). */
struct annot {
	const char *name, *str;
	uint64_t num;
};

static void put_instant(struct mw_perfetto *t, uint64_t uuid, uint64_t ts, const char *name,
			const struct annot *a, size_t na)
{
	Packet pk = PERFETTO__PROTOS__TRACE_PACKET__INIT;
	TrackEvent te = PERFETTO__PROTOS__TRACK_EVENT__INIT;
	Annot an[4], *anp[4];
	char *cat = "memwatch";

	for (size_t i = 0; i < na && i < 4; i++) {
		perfetto__protos__debug_annotation__init(&an[i]);
		an[i].name = (char *)a[i].name;
		if (a[i].str) {
			an[i].string_value = (char *)a[i].str;
		} else {
			an[i].has_uint_value = true;
			an[i].uint_value = a[i].num;
		}
		anp[i] = &an[i];
	}
	pk.has_timestamp = true;
	pk.timestamp = ts;
	te.has_type = te.has_track_uuid = true;
	te.type = PERFETTO__PROTOS__TRACK_EVENT__TYPE__TYPE_INSTANT;
	te.track_uuid = uuid;
	te.name = (char *)name;
	te.n_categories = 1;
	te.categories = &cat;
	te.n_debug_annotations = na < 4 ? na : 4;
	te.debug_annotations = anp;
	pk.track_event = &te;
	put_packet(t, &pk);
}

/* ---------- tracks ---------- */

static struct tproc *proc_of(struct mw_perfetto *t, const struct mw_process *p)
{
	struct tproc *tp;

	for (size_t i = 0; i < t->n; i++)
		if (t->v[i].proc == p && t->v[i].pid == p->pid)
			return &t->v[i];
	if (mw_grow(&t->v, t->n, &t->cap_v, sizeof(*t->v), 16)) {
		t->err = t->err ? t->err : -ENOMEM;
		return NULL;
	}
	tp = &t->v[t->n++];
	memset(tp, 0, sizeof(*tp));
	tp->pid = p->pid;
	tp->proc = p;
	tp->uuid = t->next_uuid++;
	tp->mapped_uuid = t->next_uuid++;
	tp->committed_uuid = t->next_uuid++;
	tp->resident_uuid = t->next_uuid++;
	return tp;
}

static void proc_drop(struct mw_perfetto *t, struct tproc *tp)
{
	free(tp->th);
	free(tp->ar);
	*tp = t->v[--t->n];
}

static struct tthread *thread_of(struct mw_perfetto *t, struct tproc *tp, uint32_t tid)
{
	struct tthread *th;

	for (size_t i = 0; i < tp->nth; i++)
		if (tp->th[i].tid == tid)
			return &tp->th[i];
	if (mw_grow(&tp->th, tp->nth, &tp->capth, sizeof(*tp->th), 8)) {
		t->err = t->err ? t->err : -ENOMEM;
		return NULL;
	}
	th = &tp->th[tp->nth++];
	memset(th, 0, sizeof(*th));
	th->tid = tid;
	th->uuid = t->next_uuid++;
	th->net_uuid = t->next_uuid++;
	th->acc_uuid = t->next_uuid++;
	return th;
}

static struct tarena *arena_of(struct mw_perfetto *t, struct tproc *tp, int id)
{
	struct tarena *ar;

	for (size_t i = 0; i < tp->nar; i++)
		if (tp->ar[i].id == id)
			return &tp->ar[i];
	if (mw_grow(&tp->ar, tp->nar, &tp->capar, sizeof(*tp->ar), 8)) {
		t->err = t->err ? t->err : -ENOMEM;
		return NULL;
	}
	ar = &tp->ar[tp->nar++];
	memset(ar, 0, sizeof(*ar));
	ar->id = id;
	ar->uuid = 0; /* described when first written */
	return ar;
}

static void describe_proc(struct mw_perfetto *t, struct tproc *tp, const struct mw_process *p)
{
	TrackDesc td = PERFETTO__PROTOS__TRACK_DESCRIPTOR__INIT;
	Perfetto__Protos__ProcessDescriptor pd = PERFETTO__PROTOS__PROCESS_DESCRIPTOR__INIT;

	td.has_uuid = true;
	td.uuid = tp->uuid;
	pd.has_pid = true;
	pd.pid = (int32_t)p->pid;
	pd.process_name = (char *)p->comm;
	td.process = &pd;
	put_track(t, &td);
	describe_counter(t, tp->mapped_uuid, tp->uuid, "mapped");
	describe_counter(t, tp->committed_uuid, tp->uuid, "committed");
	tp->described = true;
}

/* A thread's track and counters; again after a rename (the name is the descriptor's). */
static void describe_thread(struct mw_perfetto *t, struct tproc *tp, struct tthread *th,
			    const char *comm)
{
	TrackDesc td = PERFETTO__PROTOS__TRACK_DESCRIPTOR__INIT;
	Perfetto__Protos__ThreadDescriptor d = PERFETTO__PROTOS__THREAD_DESCRIPTOR__INIT;
	bool first = !th->name[0];

	td.has_uuid = td.has_parent_uuid = true;
	td.uuid = th->uuid;
	td.parent_uuid = tp->uuid;
	d.has_pid = d.has_tid = true;
	d.pid = (int32_t)tp->pid;
	d.tid = (int32_t)th->tid;
	d.thread_name = (char *)comm;
	td.thread = &d;
	put_track(t, &td);
	snprintf(th->name, sizeof(th->name), "%s", comm[0] ? comm : "?");
	if (first) {
		describe_counter(t, th->net_uuid, th->uuid, "net mapped");
		describe_counter(t, th->acc_uuid, th->uuid, "net committed");
	}
}

static void ensure_thread(struct mw_perfetto *t, struct tproc *tp, struct tthread *th,
			  const struct mw_process *p)
{
	const struct mw_thread *mt = mw_process_find_thread(p, th->tid);
	const char *comm = mt && mt->comm[0] ? mt->comm : p->comm;

	if (!tp->described)
		describe_proc(t, tp, p);
	if (!th->name[0] || strncmp(th->name, comm[0] ? comm : "?", sizeof(th->name)))
		describe_thread(t, tp, th, comm);
}

/* Everything pending of one process, at the times of the calls that set it. */
static void flush(struct mw_perfetto *t, struct tproc *tp, const struct mw_process *p, uint64_t now)
{
	if (!tp->described)
		describe_proc(t, tp, p);
	if (tp->dirty) {
		struct mw_totals tot;

		mw_process_totals(p, &tot);
		put_counter(t, tp->mapped_uuid, tp->ts, (int64_t)tot.mapped);
		put_counter(t, tp->committed_uuid, tp->ts, (int64_t)tot.committed);
		/* Resident bytes exist once something read the kernel's counters: the track
		 * appears then, never with a made-up value before. */
		if (p->resident.known) {
			if (!tp->resident_described)
				describe_counter(t, tp->resident_uuid, tp->uuid, "resident");
			tp->resident_described = true;
			put_counter(t, tp->resident_uuid, tp->ts,
				    (int64_t)mw_resident_bytes(&p->resident));
		}
		tp->dirty = false;
	}
	for (size_t i = 0; i < tp->nth; i++) {
		struct tthread *th = &tp->th[i];
		const struct mw_thread *mt = mw_process_find_thread(p, th->tid);

		if (!th->dirty || !mt)
			continue;
		ensure_thread(t, tp, th, p);
		put_counter(t, th->net_uuid, th->ts, mw_thread_net(mt));
		put_counter(t, th->acc_uuid, th->ts, mt->accessible);
		th->dirty = false;
	}
	for (size_t i = 0; i < tp->nar; i++) {
		struct tarena *ar = &tp->ar[i];
		char name[48];

		if (!ar->dirty)
			continue;
		if (!ar->uuid) {
			ar->uuid = t->next_uuid++;
			snprintf(name, sizeof(name), "arena %d committed", ar->id);
			describe_counter(t, ar->uuid, tp->uuid, name);
		}
		put_counter(t, ar->uuid, ar->ts, (int64_t)ar->committed);
		ar->dirty = false;
	}
	tp->last_flush = now;
}

/* ---------- the session's hooks ---------- */

static void large_mapping(struct mw_perfetto *t, struct tthread *th, const struct mw_event *ev)
{
	const struct mw_syscall_ev *sc = &ev->sc;
	uint64_t len = sc->sys == MW_SYS_MREMAP ? sc->args[2] : sc->args[1];
	char name[64], size[32], addr[32];
	struct annot a[3];

	if ((sc->sys != MW_SYS_MMAP && sc->sys != MW_SYS_MREMAP) || mw_ret_is_error(sc->ret) ||
	    len < MW_PERFETTO_LARGE)
		return;
	mw_fmt_size(size, sizeof(size), (int64_t)len);
	snprintf(name, sizeof(name), "%s %s", mw_sys_name(sc->sys), size);
	snprintf(addr, sizeof(addr), "0x%" PRIx64, (uint64_t)sc->ret);
	a[0] = (struct annot){ .name = "len", .num = len };
	a[1] = (struct annot){ .name = "addr", .str = addr };
	a[2] = (struct annot){ .name = "prot", .num = sc->sys == MW_SYS_MMAP ? sc->args[2] : 0 };
	put_instant(t, th->uuid, ev->ts_ns, name, a, sc->sys == MW_SYS_MMAP ? 3 : 2);
}

static void on_event(void *ctx, const struct mw_event *ev, const struct mw_apply *a)
{
	struct mw_perfetto *t = ctx;
	struct tproc *tp;
	struct tthread *th;

	if (!a->proc || !a->thread ||
	    (ev->kind != MW_EV_SYSCALL && ev->kind != MW_EV_RENAME && ev->kind != MW_EV_THREAD_NEW))
		return;
	tp = proc_of(t, a->proc);
	th = tp ? thread_of(t, tp, ev->tid) : NULL;
	if (!th)
		return;
	if (ev->kind == MW_EV_SYSCALL) {
		tp->dirty = th->dirty = true;
		tp->ts = th->ts = ev->ts_ns;
		ensure_thread(t, tp, th, a->proc);
		large_mapping(t, th, ev);
	} else if (th->name[0]) {
		ensure_thread(t, tp, th, a->proc); /* a rename: the track takes the new name */
	}
	if (ev->ts_ns >= tp->last_flush + MW_PERFETTO_MIN_GAP_NS)
		flush(t, tp, a->proc, ev->ts_ns);
}

static const char *arena_what(enum mw_alloc_ev_kind k)
{
	switch (k) {
	case MW_AEV_ARENA_CREATE: return "created";
	case MW_AEV_ARENA_HEAP_NEW: return "new heap";
	case MW_AEV_ARENA_HEAP_DELETE: return "heap deleted";
	case MW_AEV_ARENA_REUSE: return "reused";
	case MW_AEV_ARENA_SHRINK: return "trimmed";
	default: return NULL;
	}
}

static void on_alloc(void *ctx, const struct mw_process *p, const struct mw_alloc_ev *e)
{
	struct mw_perfetto *t = ctx;
	const char *what = arena_what(e->kind);
	struct tproc *tp;
	struct tarena *ar;
	uint64_t track;
	char name[64], base[32];
	struct annot a[3];

	if (e->kind < MW_AEV_ARENA_CREATE || e->kind > MW_AEV_ARENA_REUSE || e->arena <= 0)
		return;
	tp = proc_of(t, p);
	ar = tp ? arena_of(t, tp, e->arena) : NULL;
	if (!ar)
		return;
	if (e->kind != MW_AEV_ARENA_REUSE) {
		ar->committed = e->committed;
		ar->ts = e->ts_ns;
		ar->dirty = true;
	}
	if (!what)
		return; /* growth: the counter says it */
	track = tp->uuid;
	if (!tp->described)
		describe_proc(t, tp, p);
	if (e->tid) {
		struct tthread *th = thread_of(t, tp, e->tid);

		if (!th)
			return;
		ensure_thread(t, tp, th, p);
		track = th->uuid;
	}
	snprintf(name, sizeof(name), "arena %d %s", e->arena, what);
	snprintf(base, sizeof(base), "0x%" PRIx64, e->base);
	a[0] = (struct annot){ .name = "base", .str = base };
	a[1] = (struct annot){ .name = "reserved", .num = e->reserved };
	a[2] = (struct annot){ .name = "committed", .num = e->committed };
	put_instant(t, track, e->ts_ns, name, a, 3);
}

static void on_report(void *ctx, uint64_t ts, const struct mw_process *p, bool final)
{
	struct mw_perfetto *t = ctx;
	struct tproc *tp = proc_of(t, p);

	if (!tp)
		return;
	flush(t, tp, p, ts); /* what was pending, at its own times */
	/* Then every track as it is at the report. */
	tp->dirty = true;
	tp->ts = ts;
	for (size_t i = 0; i < p->nthreads; i++) {
		struct tthread *th = thread_of(t, tp, p->threads[i].tid);

		if (th) {
			th->dirty = true;
			th->ts = ts;
		}
	}
	flush(t, tp, p, ts);
	if (final)
		proc_drop(t, tp);
}

const struct mw_session_hooks mw_perfetto_hooks = {
	.event = on_event,
	.alloc = on_alloc,
	.report = on_report,
};

struct mw_perfetto *mw_perfetto_open(const char *path, char *err, size_t errsz)
{
	struct mw_perfetto *t = calloc(1, sizeof(*t));

	if (!t) {
		mw_fail(err, errsz, -1, "out of memory");
		return NULL;
	}
	if (mw_atomic_open(&t->file, path, err, errsz)) {
		free(t);
		return NULL;
	}
	t->next_uuid = 1;
	return t;
}

static void free_state(struct mw_perfetto *t)
{
	while (t->n)
		proc_drop(t, &t->v[t->n - 1]);
	free(t->v);
	free(t->buf);
	free(t);
}

int mw_perfetto_close(struct mw_perfetto *t, char *err, size_t errsz)
{
	int ret;

	if (t->err) {
		mw_fail(err, errsz, -1, "--perfetto: cannot write the trace: %s",
			strerror(-t->err));
		mw_atomic_abort(&t->file);
		free_state(t);
		return -1;
	}
	ret = mw_atomic_commit(&t->file, err, errsz);
	free_state(t);
	return ret;
}

void mw_perfetto_abort(struct mw_perfetto *t)
{
	if (!t)
		return;
	mw_atomic_abort(&t->file);
	free_state(t);
}
