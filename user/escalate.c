// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Escalation: the deeper layers for one process, for a while. See escalate.h. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include "report_cmd.h"
#include "alloc/diagnose.h"
#include "base/clock.h"
#include "base/errmsg.h"
#include "base/json.h"
#include "base/text.h"
#include "escalate.h"
#include "ledger/format.h"
#include "session/output.h"
#include "trigger/escalate.h"
#include "trigger/trigger.h"

#define PROC_GAP_NS (3600ULL * 1000000000ULL) /* one escalation per process an hour */
#define HOST_MAX_ACTIVE 2		      /* at once on the host */
#define HOST_MAX_PER_HOUR 6		      /* started on the host per hour */
#define MAX_DIAGS 8

/* One escalation under way: what its bundle needs at the end. */
struct esc_run {
	uint32_t pid;
	char comm[MW_COMM_LEN];
	char spec[MW_TRIG_SPEC_LEN];
	uint64_t start_ns; /* Unix epoch */
	struct tsnap {
		uint32_t tid;
		int64_t net;
	} * threads; /* each thread's net mapped bytes at the start */
	size_t nthreads;
};

struct mw_escalation {
	struct mw_session *s;
	struct mw_mtrace *m;
	bool all_probed; /* --malloc: the probes are on every process */
	char *dir;
	struct mw_esc_policy pol;
	struct mw_esc_state st;
	struct esc_run runs[MW_ESC_MAX_ACTIVE];
	size_t nruns;
	mw_bundle_fn extra;
	void *extra_ctx;
};

struct mw_escalation *mw_escalation_new(const struct mw_config *cfg, struct mw_session *s,
					struct mw_mtrace *m, mw_bundle_fn extra, void *extra_ctx,
					char *err, size_t errsz)
{
	struct mw_escalation *e;

	err[0] = '\0';
	if (!cfg->incident_dir)
		return NULL;
	if (mkdir(cfg->incident_dir, 0750) && errno != EEXIST) {
		mw_fail(err, errsz, -errno, "--incident-dir %s: %s", cfg->incident_dir,
			strerror(errno));
		return NULL;
	}
	e = calloc(1, sizeof(*e));
	if (!e || !(e->dir = strdup(cfg->incident_dir))) {
		free(e);
		mw_fail(err, errsz, -ENOMEM, "out of memory");
		return NULL;
	}
	e->s = s;
	e->m = m;
	e->all_probed = cfg->mal.on;
	e->extra = extra;
	e->extra_ctx = extra_ctx;
	e->pol = (struct mw_esc_policy){
		.dur_ns = cfg->escalate_ns,
		.proc_gap_ns = PROC_GAP_NS,
		.max_active = HOST_MAX_ACTIVE,
		.max_per_window = HOST_MAX_PER_HOUR,
		.window_ns = 3600ULL * 1000000000ULL,
	};
	return e;
}

/* A name the process chose, for a text line (quoted when not all printable). */
struct qname {
	char s[MW_TEXT_ROOM(MW_COMM_LEN)];
};

static const char *qc(struct qname *q, const char *comm)
{
	return mw_text_quote(q->s, sizeof(q->s), comm, MW_COMM_LEN);
}

static void json_head(struct mw_json *j, FILE *f, uint64_t ts, uint32_t pid, const char *comm,
		      const char *spec, const char *state)
{
	mw_json_begin(j, f);
	mw_json_str(j, "type", "escalation");
	mw_json_uint(j, "ts_ns", ts);
	mw_json_uint(j, "pid", pid);
	mw_json_str(j, "comm", comm);
	mw_json_str(j, "trigger", spec);
	mw_json_str(j, "state", state);
}

static struct mw_process *live_proc(struct mw_escalation *e, uint32_t pid)
{
	struct mw_process *p = mw_model_find(&e->s->model, pid);

	return p && !p->exited ? p : NULL;
}

void mw_escalation_fire(void *ctx, uint32_t pid, const char *spec, uint64_t now_mono)
{
	struct mw_escalation *e = ctx;
	struct mw_process *p = live_proc(e, pid);
	uint64_t ts = now_mono + e->s->dctx.mono_to_epoch_ns;
	enum mw_esc_verdict v;
	struct esc_run *r;
	struct mw_json j;
	struct qname q;

	if (!p)
		return;
	v = mw_esc_request(&e->st, &e->pol, pid, now_mono);
	if (v == MW_ESC_ACTIVE)
		return; /* another trigger of a process escalated already */
	if (v != MW_ESC_START || mw_mtrace_escalate(e->m, pid)) {
		if (e->s->out.json) {
			json_head(&j, e->s->out.f, ts, pid, p->comm, spec, "refused");
			mw_json_str(&j, "reason",
				    v == MW_ESC_START ? "probes" : mw_esc_verdict_name(v));
			mw_json_end(&j);
		} else {
			fprintf(e->s->out.f, "!!! pid %u (%s): no escalation for %s: %s\n", pid,
				qc(&q, p->comm), spec,
				v == MW_ESC_START ? "probes" : mw_esc_verdict_name(v));
		}
		if (v == MW_ESC_START) /* the probes failed: it ends at the next tick */
			e->st.active[e->st.nactive - 1].pid = 0;
		return;
	}
	e->s->escalations++;
	r = &e->runs[e->nruns++];
	memset(r, 0, sizeof(*r));
	r->pid = pid;
	memcpy(r->comm, p->comm, sizeof(r->comm));
	snprintf(r->spec, sizeof(r->spec), "%s", spec);
	r->start_ns = ts;
	r->threads = calloc(p->nthreads ? p->nthreads : 1, sizeof(*r->threads));
	for (size_t i = 0; r->threads && i < p->nthreads; i++) {
		r->threads[i].tid = p->threads[i].tid;
		r->threads[i].net = (int64_t)p->threads[i].mapped - (int64_t)p->threads[i].unmapped;
	}
	r->nthreads = r->threads ? p->nthreads : 0;
	if (e->s->out.json) {
		json_head(&j, e->s->out.f, ts, pid, p->comm, spec, "start");
		mw_json_uint(&j, "until_ns", ts + e->pol.dur_ns);
		mw_json_end(&j);
	} else {
		fprintf(e->s->out.f, "!!! pid %u (%s): %s: allocation probes on for %.0f s\n", pid,
			qc(&q, p->comm), spec, (double)e->pol.dur_ns / 1e9);
	}
	/* Logged too: the daemon's log, memwatch top's status line. */
	mw_p_err("pid %u (%s): trigger %s: allocation probes on for %.0f s", pid, qc(&q, p->comm),
		 spec, (double)e->pol.dur_ns / 1e9);
}

/* The thread whose net mapped bytes grew most since the start (NULL: none grew). */
static const struct mw_thread *top_thread(const struct esc_run *r, const struct mw_process *p,
					  int64_t *grew)
{
	const struct mw_thread *best = NULL;

	*grew = 0;
	for (size_t i = 0; p && i < p->nthreads; i++) {
		const struct mw_thread *t = &p->threads[i];
		int64_t d = (int64_t)t->mapped - (int64_t)t->unmapped;

		for (size_t k = 0; k < r->nthreads; k++)
			if (r->threads[k].tid == t->tid)
				d -= r->threads[k].net;
		if (d > *grew) {
			*grew = d;
			best = t;
		}
	}
	return best;
}

/* The bundle's incident.ndjson: the process's ledger, arenas, diagnoses and the probes'
 * report (leaks with their stacks), written by the session's own writers. */
static int write_slice(struct mw_escalation *e, const struct esc_run *r, struct mw_process *p,
		       const char *path, uint64_t ts)
{
	struct mw_output saved = e->s->out;
	FILE *f = fopen(path, "w");
	struct mw_diag d[MAX_DIAGS];
	struct mw_json j;
	int n, err;

	if (!f)
		return -errno;
	e->s->out.f = f;
	e->s->out.json = true;
	json_head(&j, f, r->start_ns, r->pid, r->comm, r->spec, "start");
	mw_json_end(&j);
	if (p) {
		mw_out_process(&e->s->out, ts, p);
		if (p->alloc)
			mw_out_arenas(&e->s->out, ts, p);
		n = mw_diagnose(p, p->arena_limit, d, MAX_DIAGS);
		for (int i = 0; i < n; i++)
			mw_out_diag(&e->s->out, ts, p, &d[i]);
		mw_mtrace_report_pid(e->m, r->pid);
	}
	e->s->out = saved;
	err = ferror(f) ? -EIO : 0;
	if (fclose(f) && !err)
		err = -errno;
	return err;
}

/* A name for the bundle's directory: pid, comm (file-name safe) and the start time. */
static void bundle_dir(const struct mw_escalation *e, const struct esc_run *r, char *buf, size_t sz)
{
	char comm[MW_COMM_LEN], when[32];
	time_t t = (time_t)(r->start_ns / 1000000000ULL);
	struct tm tm;

	for (size_t i = 0; i < sizeof(comm); i++) {
		char c = r->comm[i];

		comm[i] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
					  (c >= '0' && c <= '9') || c == '-' || c == '.' ||
					  c == '\0'
				  ? c
				  : '_';
	}
	comm[sizeof(comm) - 1] = '\0';
	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y%m%dT%H%M%SZ", &tm);
	snprintf(buf, sz, "%s/%s-%u-%s", e->dir, when, r->pid, comm);
}

/* The bundle's report.html, the page `memwatch report` makes, from its NDJSON file (a failure
 * is said on stderr; the rest of the bundle stands). */
static void bundle_page(const char *dir, const char *ndjson)
{
	char in[4200], out[4200];

	snprintf(in, sizeof(in), "%s/%s", dir, ndjson);
	snprintf(out, sizeof(out), "%s/report.html", dir);
	mw_report_file(in, out);
}

static void end_run(struct mw_escalation *e, struct esc_run *r, uint64_t now_mono)
{
	uint64_t ts = now_mono + e->s->dctx.mono_to_epoch_ns;
	struct mw_process *p = live_proc(e, r->pid);
	char dir[4096], path[4200], stack[512] = "", bstr[32], tstr[32];
	struct qname q, q2;
	const struct mw_thread *big;
	double bytes = 0, count = 0;
	bool have_stack;
	int64_t grew;
	FILE *f;
	int err;

	bundle_dir(e, r, dir, sizeof(dir));
	err = mkdir(dir, 0750) ? -errno : 0;
	snprintf(path, sizeof(path), "%s/incident.ndjson", dir);
	if (!err)
		err = write_slice(e, r, p, path, ts);
	/* The report above named the stacks: the top one now. */
	have_stack = mw_mtrace_top_stack(e->m, r->pid, stack, sizeof(stack), &bytes, &count) == 0;
	big = top_thread(r, p, &grew);
	mw_fmt_size(bstr, sizeof(bstr), (int64_t)bytes);
	mw_fmt_size(tstr, sizeof(tstr), grew);
	snprintf(path, sizeof(path), "%s/summary.txt", dir);
	if (!err && (f = fopen(path, "w"))) {
		fprintf(f, "pid %u (%s): trigger %s; allocation probes on for %.0f s; top stack: ",
			r->pid, qc(&q, r->comm), r->spec, (double)e->pol.dur_ns / 1e9);
		if (have_stack)
			fprintf(f, "%s (%s in %.0f blocks seen allocated, not seen freed)", stack,
				bstr, count);
		else
			fprintf(f, "none (no allocation seen outstanding)");
		if (big)
			fprintf(f, "; top thread: %u (%s), %s mapped since the start\n", big->tid,
				qc(&q2, big->comm), tstr);
		else
			fprintf(f, "; top thread: none grew\n");
		if (fclose(f))
			err = -errno;
	} else if (!err) {
		err = -errno;
	}
	if (!err && e->extra)
		e->extra(e->extra_ctx, dir);
	if (!err)
		bundle_page(dir, "incident.ndjson");
	mw_mtrace_deescalate(e->m, r->pid);
	if (e->s->out.json) {
		struct mw_json j;

		json_head(&j, e->s->out.f, ts, r->pid, r->comm, r->spec, "end");
		if (err)
			mw_json_str(&j, "error", strerror(-err));
		else
			mw_json_str(&j, "bundle", dir);
		if (have_stack) {
			mw_json_str(&j, "top_stack", stack);
			mw_json_uint(&j, "top_stack_bytes", (uint64_t)bytes);
		}
		if (big) {
			mw_json_obj_begin(&j, "top_thread");
			mw_json_uint(&j, "tid", big->tid);
			mw_json_str(&j, "comm", big->comm);
			mw_json_int(&j, "bytes", grew);
			mw_json_obj_end(&j);
		}
		mw_json_end(&j);
	} else {
		fprintf(e->s->out.f, "!!! pid %u (%s): escalation ended: %s%s\n", r->pid,
			qc(&q, r->comm), err ? "no bundle: " : "bundle ",
			err ? strerror(-err) : dir);
	}
	if (err)
		mw_p_err("pid %u: incident bundle %s: %s", r->pid, dir, strerror(-err));
	else
		mw_p_err("pid %u (%s): escalation ended, bundle %s; top stack: %s", r->pid,
			 qc(&q, r->comm), dir, have_stack ? stack : "none");
	free(r->threads);
	r->threads = NULL;
}

void mw_escalation_oom(struct mw_escalation *e, const struct mw_event *ev, struct mw_process *p)
{
	struct mw_output saved;
	struct esc_run r = { .pid = p->pid, .start_ns = ev->ts_ns };
	char dir[4096], path[4200];
	struct mw_diag d[MAX_DIAGS];
	FILE *f = NULL, *g = NULL;
	int n, err;

	if (!e)
		return;
	memcpy(r.comm, p->comm, sizeof(r.comm));
	bundle_dir(e, &r, dir, sizeof(dir));
	strncat(dir, "-oom", sizeof(dir) - strlen(dir) - 1);
	err = mkdir(dir, 0750) ? -errno : 0;
	snprintf(path, sizeof(path), "%s/oom.ndjson", dir);
	if (!err && !(f = fopen(path, "w")))
		err = -errno;
	snprintf(path, sizeof(path), "%s/summary.txt", dir);
	if (!err && !(g = fopen(path, "w")))
		err = -errno;
	if (!err) {
		/* The session's writers, into the bundle: the oom object, the ledger, the
		 * probes' report when they are on; summary.txt: the oom object as text. */
		saved = e->s->out;
		e->s->out.f = f;
		e->s->out.json = true;
		mw_out_oom(&e->s->out, p, ev);
		mw_out_process(&e->s->out, ev->ts_ns, p);
		if (p->alloc)
			mw_out_arenas(&e->s->out, ev->ts_ns, p);
		n = mw_diagnose(p, p->arena_limit, d, MAX_DIAGS);
		for (int i = 0; i < n; i++)
			mw_out_diag(&e->s->out, ev->ts_ns, p, &d[i]);
		if (e->m && (e->all_probed || mw_mtrace_knows(e->m, p->pid)))
			mw_mtrace_report_pid(e->m, p->pid);
		e->s->out.f = g;
		e->s->out.json = false;
		mw_out_oom(&e->s->out, p, ev);
		e->s->out = saved;
		if (ferror(f) || ferror(g))
			err = -EIO;
	}
	if (f && fclose(f) && !err)
		err = -errno;
	if (g && fclose(g) && !err)
		err = -errno;
	if (!err)
		bundle_page(dir, "oom.ndjson");
	if (err)
		mw_p_err("pid %u: OOM bundle %s: %s", p->pid, dir, strerror(-err));
	else
		mw_p_err("pid %u: chosen by the OOM killer; bundle %s", p->pid, dir);
}

static bool gone(void *ctx, uint32_t pid)
{
	return !live_proc(ctx, pid);
}

static void end_due(struct mw_escalation *e, uint64_t now_mono, bool all)
{
	uint32_t due[MW_ESC_MAX_ACTIVE];
	size_t n = mw_esc_due(&e->st, all ? UINT64_MAX : now_mono, gone, e, due, MW_ESC_MAX_ACTIVE);

	for (size_t i = 0; i < n; i++) {
		for (size_t k = 0; k < e->nruns; k++) {
			if (e->runs[k].pid != due[i])
				continue;
			end_run(e, &e->runs[k], now_mono);
			e->runs[k] = e->runs[--e->nruns];
			break;
		}
	}
}

void mw_escalation_tick(struct mw_escalation *e, uint64_t now_mono)
{
	if (e && e->st.nactive)
		end_due(e, now_mono, false);
}

void mw_escalation_end_all(struct mw_escalation *e)
{
	if (e && e->st.nactive)
		end_due(e, mw_now_ns(CLOCK_MONOTONIC), true);
}

void mw_escalation_free(struct mw_escalation *e)
{
	if (!e)
		return;
	for (size_t i = 0; i < e->nruns; i++)
		free(e->runs[i].threads);
	free(e->dir);
	free(e);
}
