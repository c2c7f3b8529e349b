// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The live session. Order matters for exactness: BPF is attached and the
 * targets are in its filter map *before* /proc is read, so no syscall falls
 * between the baseline and the stream; events that raced the snapshot are
 * applied idempotently by the model.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>
#include "decode.h"
#include "launch.h"
#include "loader.h"
#include "model.h"
#include "output.h"
#include "procfs.h"
#include "trace.h"

#define POLL_MS 50
#define LIVENESS_NS 1000000000ULL

static volatile sig_atomic_t exiting;

static void on_signal(int sig)
{
	exiting = 1;
	/* A second Ctrl-C kills memwatch at once. */
	signal(sig, SIG_DFL);
}

struct session {
	const struct mw_config *cfg;
	struct mw_loader loader;
	struct mw_model model;
	struct mw_output out;
	struct mw_decode_ctx dctx;
	pid_t child;		/* launch mode: the command */
	int child_status;
	bool child_reaped;
	uint64_t lost_reported;
	uint64_t bad_records;
	int err;		/* first fatal error inside the callback */
};

static void p_err(const char *fmt, ...)
{
	va_list ap;

	fputs("memwatch: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static uint64_t now_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* Baseline of one process from /proc, taken after it is in the BPF filter. */
static int seed_process(struct mw_process *p)
{
	struct mw_regions maps;
	uint64_t start_brk = 0, vm = 0;
	uint32_t *tids = NULL;
	size_t ntids = 0;
	int err;

	mw_regions_init(&maps);
	err = mw_read_maps(p->pid, &maps);
	if (!err)
		err = mw_read_start_brk(p->pid, &start_brk);
	if (!err)
		err = mw_read_vmsize(p->pid, &vm);
	if (!err)
		err = mw_model_seed(p, &maps, start_brk, vm, now_ns(CLOCK_MONOTONIC));
	mw_regions_free(&maps);
	if (err)
		return err;
	if (mw_list_tids(p->pid, &tids, &ntids) == 0) {
		for (size_t i = 0; i < ntids; i++) {
			struct mw_thread *t = mw_process_thread(p, tids[i]);

			if (t && !t->comm[0])
				mw_read_comm(p->pid, tids[i], t->comm);
		}
		free(tids);
	}
	mw_read_comm(p->pid, p->pid, p->comm);
	return 0;
}

static void collect_counters(struct session *s, struct mw_thread *t, bool forget)
{
	struct mw_thread_counters c;

	if (mw_loader_thread_counters(&s->loader, t->tid, &c) == 0) {
		memcpy(t->kernel.calls, c.calls, sizeof(c.calls));
		memcpy(t->kernel.errors, c.errors, sizeof(c.errors));
		memcpy(t->kernel.dur_ns, c.dur_ns, sizeof(c.dur_ns));
		t->have_kernel = true;
	}
	if (forget)
		mw_loader_forget_thread(&s->loader, t->tid);
}

static void report_process(struct session *s, struct mw_process *p, bool final)
{
	uint64_t ts = now_ns(CLOCK_REALTIME);

	for (size_t i = 0; i < p->nthreads; i++)
		collect_counters(s, &p->threads[i], final);
	if (!p->exited)
		mw_read_vmsize(p->pid, &p->vm_end);
	mw_out_process(&s->out, ts, p);
	if (final && s->cfg->maps_at_exit)
		mw_out_regions(&s->out, ts, p);
}

static int on_record(void *ctx, void *data, size_t size)
{
	struct session *s = ctx;
	struct mw_event ev;
	struct mw_apply a;
	int err;

	if (mw_decode(&s->dctx, data, size, &ev)) {
		s->bad_records++;
		return 0;
	}
	err = mw_model_apply(&s->model, &ev, &a);
	if (err == -ENOMEM) {
		s->err = err;
		return err;	/* stops the ring loop: out of memory */
	}
	if (a.proc && a.proc->needs_seed && seed_process(a.proc))
		a.proc->needs_seed = false;	/* gone already; its exit follows */
	mw_out_event(&s->out, &ev, &a);
	if (ev.kind == MW_EV_EXIT && a.thread && !a.proc_exited)
		collect_counters(s, a.thread, true);
	if (a.proc_exited) {
		report_process(s, a.proc, true);
		mw_model_forget(&s->model, a.proc->pid);
	}
	return 0;
}

static size_t live_processes(const struct session *s)
{
	size_t n = 0;

	for (size_t i = 0; i < s->model.nprocs; i++)
		n += !s->model.procs[i]->exited;
	return n;
}

/* Backstop for a lost exit record: a process that is gone is finalized. */
static void check_liveness(struct session *s)
{
	for (size_t i = 0; i < s->model.nprocs; i++) {
		struct mw_process *p = s->model.procs[i];
		bool gone;

		if (p->exited)
			continue;
		if (s->child && p->pid == (uint32_t)s->child)
			gone = s->child_reaped;
		else
			gone = kill((pid_t)p->pid, 0) && errno == ESRCH;
		if (!gone)
			continue;
		mw_loader_poll(&s->loader, 0);	/* its records may still be queued */
		if (mw_model_find(&s->model, p->pid) != p)
			return;	/* finalized by its exit record meanwhile */
		p->exited = true;
		if (s->child && p->pid == (uint32_t)s->child)
			p->exit_code = s->child_status;
		report_process(s, p, true);
		mw_model_forget(&s->model, p->pid);
		return;	/* the array changed: next round checks the rest */
	}
}

/* Lost records leave the region model behind: bring it back to the kernel's view. */
static void resync_processes(struct session *s)
{
	struct mw_regions maps;

	mw_loader_poll(&s->loader, 0);	/* apply what is queued before the snapshot */
	mw_regions_init(&maps);
	for (size_t i = 0; i < s->model.nprocs; i++) {
		struct mw_process *p = s->model.procs[i];

		if (p->exited || mw_read_maps(p->pid, &maps))
			continue;
		mw_model_resync(p, &maps, now_ns(CLOCK_MONOTONIC));
	}
	mw_regions_free(&maps);
}

static void report_lost(struct session *s)
{
	struct mw_stats st;
	uint64_t lost;

	mw_loader_stats(&s->loader, &st);
	lost = st.rb_drops;
	if (lost > s->lost_reported) {
		mw_out_lost(&s->out, now_ns(CLOCK_REALTIME), lost - s->lost_reported);
		s->lost_reported = lost;
		resync_processes(s);
	}
}

static void reap_child(struct session *s)
{
	int status;

	if (!s->child || s->child_reaped)
		return;
	if (waitpid(s->child, &status, WNOHANG) == s->child) {
		s->child_status = status;
		s->child_reaped = true;
	}
}

static int check_pid(uint32_t pid)
{
	bool kthread = false;
	char comm[MW_COMM_LEN] = "";
	int err = mw_read_is_kthread(pid, &kthread);

	if (err == -ENOENT || err == -ESRCH) {
		p_err("no such process: %u", pid);
		return -1;
	}
	if (err) {
		p_err("cannot read /proc/%u/stat: %s", pid, strerror(-err));
		return -1;
	}
	if (kthread) {
		mw_read_comm(pid, pid, comm);
		p_err("pid %u (%s) is a kernel thread: it has no user address space to trace",
		      pid, comm);
		return -1;
	}
	return 0;
}

static int setup_targets(struct session *s)
{
	const struct mw_config *cfg = s->cfg;
	char err[256];
	int ret;

	if (cfg->cmd) {
		ret = mw_launch_start(cfg->cmd, &s->child, err, sizeof(err));
		if (ret) {
			p_err("%s", err);
			return ret == -ENOENT ? 127 : 126;
		}
		if ((ret = mw_loader_add_target(&s->loader, s->child)) ||
		    !mw_model_process(&s->model, s->child) ||
		    seed_process(mw_model_find(&s->model, s->child))) {
			p_err("cannot set up tracing of %s: %s", cfg->cmd[0], strerror(ret ? -ret : ENOMEM));
			kill(s->child, SIGKILL);
			return 1;
		}
		if (mw_launch_release(s->child)) {
			p_err("cannot start %s: %s", cfg->cmd[0], strerror(errno));
			kill(s->child, SIGKILL);
			return 1;
		}
		return 0;
	}
	for (size_t i = 0; i < cfg->npids; i++) {
		uint32_t pid = cfg->pids[i];
		struct mw_process *p;

		ret = mw_loader_add_target(&s->loader, pid);
		if (ret) {
			p_err("cannot add pid %u to the BPF filter: %s", pid, strerror(-ret));
			return 1;
		}
		p = mw_model_process(&s->model, pid);
		if (!p) {
			p_err("out of memory");
			return 1;
		}
		ret = seed_process(p);
		if (ret) {
			p_err("cannot read the address space of pid %u: %s", pid, strerror(-ret));
			return 1;
		}
	}
	return 0;
}

static void announce(struct session *s)
{
	const struct mw_config *cfg = s->cfg;
	char pids[128] = "";
	size_t off = 0;

	if (cfg->cmd)
		return;	/* launch mode: stderr belongs to the command */
	for (size_t i = 0; i < cfg->npids && off < sizeof(pids) - 16; i++)
		off += snprintf(pids + off, sizeof(pids) - off, "%s%u", i ? "," : "", cfg->pids[i]);
	fprintf(stderr, "memwatch: tracing pid %s%s%s; Ctrl-C to stop\n", pids,
		cfg->follow ? " and its children" : "",
		s->loader.raw_syscalls ? " (raw syscall tracepoints: tracefs unavailable)" : "");
}

static void finish(struct session *s)
{
	mw_loader_poll(&s->loader, 0);
	report_lost(s);
	for (size_t i = 0; i < s->model.nprocs; i++)
		report_process(s, s->model.procs[i], true);
	if (s->bad_records) {
		char msg[96];

		snprintf(msg, sizeof(msg), "%llu malformed records skipped",
			 (unsigned long long)s->bad_records);
		mw_out_note(&s->out, now_ns(CLOCK_REALTIME), msg);
	}
}

int mw_trace_run(const struct mw_config *cfg)
{
	struct mw_loader_opts lo = {
		.follow_forks = cfg->follow,
		.verbose = cfg->verbose,
		.ring_size = cfg->ring_size,
	};
	struct session s = { .cfg = cfg };
	uint64_t start, next_interval = 0, next_liveness, deadline = 0;
	struct sigaction sa = { .sa_handler = on_signal };
	char err[256];
	int ret = 0;

	if (cfg->cmd) {
		ret = mw_launch_check(cfg->cmd, err, sizeof(err));
		if (ret) {
			p_err("%s", err);
			return ret;
		}
	}
	for (size_t i = 0; i < cfg->npids; i++)
		if (check_pid(cfg->pids[i]))
			return 1;

	s.out.json = cfg->json;
	s.out.summary_only = cfg->summary_only;
	s.out.show_dur = cfg->show_dur;
	s.out.f = stderr;	/* strace habit: the trace goes to stderr unless -o */
	if (cfg->out_path) {
		s.out.f = fopen(cfg->out_path, "w");
		if (!s.out.f) {
			p_err("cannot open %s: %s", cfg->out_path, strerror(errno));
			return 1;
		}
	}
	mw_model_init(&s.model, (uint64_t)sysconf(_SC_PAGESIZE));
	s.dctx.page_size = s.model.page_size;
	s.dctx.mono_to_epoch_ns = (int64_t)(now_ns(CLOCK_REALTIME) - now_ns(CLOCK_MONOTONIC));

	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	ret = mw_loader_start(&s.loader, &lo, on_record, &s, err, sizeof(err));
	if (ret) {
		p_err("%s", err);
		ret = 1;
		goto cleanup;
	}
	ret = setup_targets(&s);
	if (ret)
		goto cleanup;
	announce(&s);

	start = now_ns(CLOCK_MONOTONIC);
	next_liveness = start + LIVENESS_NS;
	if (cfg->interval_s)
		next_interval = start + (uint64_t)(cfg->interval_s * 1e9);
	if (cfg->duration_s)
		deadline = start + (uint64_t)(cfg->duration_s * 1e9);

	while (!exiting) {
		uint64_t now;

		ret = mw_loader_poll(&s.loader, POLL_MS);
		if (ret < 0 && ret != -EINTR) {
			p_err(s.err ? "out of memory" : "reading the ring buffer failed: %s",
			      strerror(-ret));
			ret = 1;
			goto cleanup;
		}
		ret = 0;
		reap_child(&s);
		report_lost(&s);
		now = now_ns(CLOCK_MONOTONIC);
		if (now >= next_liveness || s.child_reaped) {
			check_liveness(&s);
			next_liveness = now + LIVENESS_NS;
		}
		if (next_interval && now >= next_interval) {
			for (size_t i = 0; i < s.model.nprocs; i++)
				report_process(&s, s.model.procs[i], false);
			next_interval += (uint64_t)(cfg->interval_s * 1e9);
		}
		fflush(s.out.f);
		if (ferror(s.out.f)) {
			p_err("cannot write output: %s", strerror(errno));
			ret = 1;
			goto cleanup;
		}
		if (!live_processes(&s) || (deadline && now >= deadline))
			break;
	}
	finish(&s);

cleanup:
	mw_loader_stop(&s.loader);
	if (s.out.f) {
		fflush(s.out.f);
		if (s.out.f != stderr)
			fclose(s.out.f);
	}
	if (!ret && s.child) {
		/* Its exit record comes before it becomes a zombie: wait for that. */
		if (!s.child_reaped && !live_processes(&s) &&
		    waitpid(s.child, &s.child_status, 0) == s.child)
			s.child_reaped = true;
		if (s.child_reaped) {
			if (WIFSIGNALED(s.child_status))
				ret = 128 + WTERMSIG(s.child_status);
			else
				ret = WEXITSTATUS(s.child_status);
		}
	}
	mw_model_free(&s.model);
	return ret;
}
