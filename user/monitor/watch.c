// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Targets by name and cgroup, live. See watch.h. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "base/clock.h"
#include "base/errmsg.h"
#include "base/json.h"
#include "base/text.h"
#include "loader/loader.h"
#include "ledger/procfs.h"
#include "session/session.h"
#include "watch.h"

#define TICK_NS 1000000000ULL

static void close_cgroups(struct mw_watch *w)
{
	for (size_t i = 0; i < w->ncg; i++)
		close(w->cgfds[i]);
	w->ncg = 0;
}

/* The kernel side for the current cfg; on failure nothing changes in the kernel. */
static int setup(struct mw_watch *w, char *err, size_t errsz)
{
	const struct mw_config *cfg = w->cfg;
	struct mw_comm_set comms;
	int fds[MW_MAX_WATCH], ret;
	size_t nfds = 0;
	char lit[MW_COMM_LEN];

	if (mw_comm_set_init(&comms, cfg->comms, cfg->ncomms, err, errsz))
		return -1;
	for (size_t i = 0; i < cfg->ncgroups; i++) {
		if (mw_cgroup_open(cfg->cgroups[i], &fds[nfds], err, errsz))
			goto fail;
		nfds++;
	}
	ret = mw_loader_set_cgroups(w->loader, fds, nfds);
	if (ret) {
		mw_fail(err, errsz, ret, "cannot watch cgroups in the kernel: %s", strerror(-ret));
		goto fail;
	}
	close_cgroups(w);
	memcpy(w->cgfds, fds, nfds * sizeof(fds[0]));
	w->ncg = nfds;
	mw_comm_set_free(&w->comms);
	w->comms = comms;
	/* Names matched before may not match the new expressions. */
	mw_loader_comm_clear(w->loader);
	for (size_t i = 0; i < cfg->ncomms; i++)
		if (mw_regex_literal(cfg->comms[i], lit, sizeof(lit)))
			mw_loader_comm_add(w->loader, lit);
	mw_loader_comm_watch(w->loader, cfg->ncomms > 0);
	return 0;

fail:
	while (nfds)
		close(fds[--nfds]);
	mw_comm_set_free(&comms);
	return -1;
}

int mw_watch_start(struct mw_watch *w, const struct mw_config *cfg, struct mw_loader *loader,
		   struct mw_session *s, mw_adopt_fn adopt, void *ctx, char *err, size_t errsz)
{
	memset(w, 0, sizeof(*w));
	w->cfg = cfg;
	w->loader = loader;
	w->s = s;
	w->adopt = adopt;
	w->ctx = ctx;
	w->known = calloc(cfg->max_procs, sizeof(*w->known));
	if (!w->known)
		return mw_fail(err, errsz, -1, "out of memory");
	return setup(w, err, errsz);
}

static struct mw_watched *known_find(struct mw_watch *w, uint32_t pid)
{
	for (size_t i = 0; i < w->nknown; i++)
		if (w->known[i].pid == pid)
			return &w->known[i];
	return NULL;
}

static void known_drop(struct mw_watch *w, struct mw_watched *k)
{
	*k = w->known[--w->nknown];
}

/* pid's old record belongs to a process that is gone (its exit was missed). */
static void forget_old(struct mw_watch *w, uint32_t pid)
{
	struct mw_watched *k = known_find(w, pid);
	struct mw_process *p = mw_model_find(&w->s->model, pid);

	if (p && !p->exited) {
		w->reused++;
		mw_session_gone(w->s, pid, -1, mw_now_ns(CLOCK_REALTIME));
	}
	if (k)
		known_drop(w, k);
}

/* Room for one more process (--max-procs), else count the refusal (once per process: the
 * cgroup rescan finds a refused one again every second). */
static bool room(struct mw_watch *w, bool count)
{
	if (mw_session_live(w->s) < w->cfg->max_procs && w->nknown < w->cfg->max_procs)
		return true;
	if (count)
		w->refused++;
	return false;
}

/*
 * A process the kernel already follows: take its baseline. by_kernel: the
 * kernel adopted it (its records are in the ring from its fork or exec on).
 */
static void take(struct mw_watch *w, uint32_t pid, bool after_exec, bool by_kernel)
{
	uint64_t start = 0;

	forget_old(w, pid);
	if (!room(w, true)) {
		mw_loader_remove_target(w->loader, pid);
		return;
	}
	mw_read_starttime(pid, &start);
	if (w->adopt(w->ctx, pid, after_exec)) {
		if (!by_kernel) {
			/* Gone already: its exit may have run before it was a target. */
			mw_loader_remove_target(w->loader, pid);
			return;
		}
		/*
		 * Gone before its baseline could be read (a short-lived process): its
		 * calls and exit are queued all the same. Counted on an empty map.
		 */
		if (mw_session_seed(w->s, pid, "", 0, 0, 0, 0, false))
			return;
	}
	w->known[w->nknown++] = (struct mw_watched){ .pid = pid, .start = start };
	w->adopted++;
	/* strace's "Process N attached", in a daemon's log too; a service that forks
	 * hundreds of workers a second makes one line a second of it, unless -v. */
	{
		struct mw_process *p = mw_model_find(&w->s->model, pid);
		char comm[MW_TEXT_ROOM(MW_COMM_LEN)];

		if (w->cfg->verbose)
			mw_p_err("pid %u (%s) attached%s", pid,
				 p ? mw_text_quote(comm, sizeof(comm), p->comm, MW_COMM_LEN) : "?",
				 after_exec ? " at exec" : "");
		else
			mw_p_limited(&w->attach_log, "pid %u (%s) attached%s", pid,
				     p ? mw_text_quote(comm, sizeof(comm), p->comm, MW_COMM_LEN)
				       : "?",
				     after_exec ? " at exec" : "");
	}
}

/* A running process that matches: into the kernel's filter first, then its baseline.
 * rescan: found again by the periodic cgroup scan (a refusal was counted already). */
static void adopt_running(struct mw_watch *w, uint32_t pid, bool rescan)
{
	struct mw_process *p = mw_model_find(&w->s->model, pid);
	struct mw_watched *k = known_find(w, pid);
	uint64_t start;
	bool kthread = false;
	uint32_t tgid;

	if (pid == (uint32_t)getpid())
		return;
	if (p && !p->exited) {
		/* Traced already, unless the pid now names another process. */
		if (!k || mw_read_starttime(pid, &start) || start == k->start)
			return;
	}
	if (mw_read_is_kthread(pid, &kthread) || kthread)
		return;
	if (mw_read_tgid(pid, &tgid) || tgid != pid)
		return;
	if (!room(w, !rescan))
		return;
	if (mw_loader_add_target(w->loader, pid)) {
		w->refused++;
		return;
	}
	take(w, pid, false, false);
}

void mw_watch_scan(struct mw_watch *w)
{
	const struct mw_config *cfg = w->cfg;
	uint32_t *pids = NULL;
	size_t n = 0;

	for (size_t i = 0; i < cfg->npids; i++)
		if (!mw_model_find(&w->s->model, cfg->pids[i]))
			adopt_running(w, cfg->pids[i], false);
	for (size_t i = 0; i < cfg->ncgroups; i++)
		mw_cgroup_pids(cfg->cgroups[i], (size_t)cfg->max_procs * 4, &pids, &n);
	if (w->comms.n) {
		uint32_t *all = NULL;
		size_t nall = 0;
		char comm[MW_COMM_LEN];

		if (mw_proc_pids(&all, &nall) == 0)
			for (size_t i = 0; i < nall; i++)
				if (mw_read_comm(all[i], all[i], comm) == 0 &&
				    mw_comm_set_match(&w->comms, comm)) {
					mw_loader_comm_add(w->loader, comm);
					adopt_running(w, all[i], false);
				}
		free(all);
	}
	for (size_t i = 0; i < n; i++)
		adopt_running(w, pids[i], false);
	free(pids);
}

bool mw_watch_event(struct mw_watch *w, const struct mw_event *ev)
{
	switch (ev->kind) {
	case MW_EV_ADOPT: take(w, ev->adopt.pid, ev->adopt.how == MW_ADOPT_EXEC, true); return true;
	case MW_EV_EXEC_SEEN:
		w->notices++;
		if (!mw_comm_set_match(&w->comms, ev->comm))
			return true;
		/* The next exec with this name is adopted in the kernel, from its start. */
		mw_loader_comm_add(w->loader, ev->comm);
		adopt_running(w, ev->pid, false);
		return true;
	default: return false;
	}
}

void mw_watch_tick(struct mw_watch *w, uint64_t now_ns)
{
	uint32_t *pids = NULL;
	size_t n = 0;

	if (now_ns < w->next_tick_ns)
		return;
	w->next_tick_ns = now_ns + TICK_NS;
	/* Forget the finalized; a live pid with another start time is another process. */
	for (size_t i = 0; i < w->nknown;) {
		struct mw_watched *k = &w->known[i];
		struct mw_process *p = mw_model_find(&w->s->model, k->pid);
		uint64_t start;

		if (!p || p->exited) {
			known_drop(w, k);
			continue;
		}
		if (mw_read_starttime(k->pid, &start) == 0 && start != k->start) {
			forget_old(w, k->pid);
			continue;
		}
		i++;
	}
	/* Processes moved into a watched cgroup (they fork or exec there: the kernel has them). */
	for (size_t i = 0; i < w->cfg->ncgroups; i++)
		mw_cgroup_pids(w->cfg->cgroups[i], (size_t)w->cfg->max_procs * 4, &pids, &n);
	for (size_t i = 0; i < n; i++)
		if (!mw_model_find(&w->s->model, pids[i]))
			adopt_running(w, pids[i], true);
	free(pids);
}

bool mw_watch_active(const struct mw_watch *w)
{
	return w->cfg && (w->cfg->ncomms || w->cfg->ncgroups);
}

int mw_watch_reload(struct mw_watch *w, char *err, size_t errsz)
{
	if (setup(w, err, errsz)) {
		w->reload_errors++;
		return -1;
	}
	w->reloads++;
	mw_watch_scan(w);
	return 0;
}

void mw_watch_report(struct mw_watch *w, uint64_t ts_ns)
{
	struct mw_output *o = &w->s->out;
	struct mw_stats st;
	struct mw_json j;

	mw_loader_stats(w->loader, &st);
	if (!o->json) {
		fprintf(o->f,
			"memwatch: stats: %zu processes (max %u), %" PRIu64 " adopted, %" PRIu64
			" refused, %" PRIu64 " records, %" PRIu64 " lost, %" PRIu64
			" targets full, %" PRIu64 " threads full, %" PRIu64 " output errors\n",
			mw_session_live(w->s), w->cfg->max_procs, w->adopted, w->refused,
			(uint64_t)st.events, (uint64_t)st.rb_drops, (uint64_t)st.targets_full,
			(uint64_t)st.threads_full, w->s->out_errors);
		return;
	}
	mw_json_begin(&j, o->f);
	mw_json_str(&j, "type", "stats");
	mw_json_uint(&j, "ts_ns", ts_ns);
	mw_json_uint(&j, "procs", mw_session_live(w->s));
	mw_json_uint(&j, "max_procs", w->cfg->max_procs);
	mw_json_uint(&j, "max_threads", w->cfg->max_threads);
	mw_json_uint(&j, "adopted", w->adopted);
	mw_json_uint(&j, "refused", w->refused);
	mw_json_uint(&j, "exec_notices", w->notices);
	mw_json_uint(&j, "pids_reused", w->reused);
	mw_json_uint(&j, "reloads", w->reloads);
	mw_json_uint(&j, "reload_errors", w->reload_errors);
	mw_json_uint(&j, "output_errors", w->s->out_errors);
	mw_json_obj_begin(&j, "kernel");
	mw_json_uint(&j, "records", st.events);
	mw_json_uint(&j, "lost", st.rb_drops);
	mw_json_uint(&j, "unpaired", st.unpaired);
	mw_json_uint(&j, "inflight_full", st.inflight_full);
	mw_json_uint(&j, "threads_full", st.threads_full);
	mw_json_uint(&j, "targets_full", st.targets_full);
	mw_json_uint(&j, "adopted", st.adopted);
	mw_json_obj_end(&j);
	mw_json_end(&j);
}

void mw_watch_stop(struct mw_watch *w)
{
	mw_p_flush(&w->attach_log);
	close_cgroups(w);
	mw_comm_set_free(&w->comms);
	free(w->known);
	w->known = NULL;
	w->nknown = 0;
}
