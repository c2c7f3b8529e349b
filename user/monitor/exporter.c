// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The live metrics endpoint. See exporter.h.
 *
 * Threads: libmicrohttpd's polling thread runs the request handler, which
 * never reads the model. It takes a ticket (req_seq) and waits on a condition
 * variable until the event loop has rendered a snapshot for that ticket
 * (done_seq), then copies the snapshot out under the mutex. The loop polls
 * the ring every 50 ms, so a scrape waits at most about that long, and what
 * it gets was rendered after it arrived: after a workload finished, its final
 * counts. If the loop does not answer in time (memwatch is stopping) the
 * handler serves the last snapshot, or 503 when there is none.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <microhttpd.h>
#include "base/clock.h"
#include "base/errmsg.h"
#include "exporter.h"
#include "listen.h"
#include "memwatch.skel.h"
#include "metrics.h"

#define WAIT_RENDER_NS 2000000000ULL
#define SAMPLE_NS 1000000000ULL
#define MAX_PROBES 48
#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct mw_exporter {
	struct MHD_Daemon *httpd;
	int listen_fd;
	int stats_fd; /* BPF_STATS_RUN_TIME while held; -1 when refused */
	bool per_tid;
	double start_time_s;
	uint64_t next_sample_ns;
	struct mw_growth growth;      /* event loop only */
	struct mw_thread_names names; /* event loop only */
	struct mw_buf scratch;	      /* event loop only */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	mw_exporter_profile_fn prof_fn; /* set before the first request; run by the loop */
	void *prof_ctx;
	/* under mu: */
	struct mw_buf snap; /* the last rendering */
	uint64_t req_seq, done_seq;
	uint64_t scrapes;
	bool stopping;
	/* one /debug/pprof request at a time (under mu): name asked, the loop's answer */
	char prof_name[16];
	uint64_t prof_req, prof_done;
	void *prof_body;
	size_t prof_len;
	int prof_ret;
	char prof_why[160];
};

/* ---------- HTTP side (libmicrohttpd's thread) ---------- */

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *type,
			     const char *body, size_t len)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result serve_metrics(struct mw_exporter *e, struct MHD_Connection *c)
{
	static const char unavailable[] = "memwatch: no metrics rendered yet\n";
	struct timespec until;
	uint64_t ticket, ns;
	enum MHD_Result ret;

	clock_gettime(CLOCK_REALTIME, &until);
	ns = (uint64_t)until.tv_nsec + WAIT_RENDER_NS;
	until.tv_sec += (time_t)(ns / 1000000000ULL);
	until.tv_nsec = (long)(ns % 1000000000ULL);
	pthread_mutex_lock(&e->mu);
	ticket = ++e->req_seq;
	while (e->done_seq < ticket && !e->stopping)
		if (pthread_cond_timedwait(&e->cv, &e->mu, &until) == ETIMEDOUT)
			break;
	if (!e->snap.len) {
		pthread_mutex_unlock(&e->mu);
		return reply(c, MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain", unavailable,
			     sizeof(unavailable) - 1);
	}
	e->scrapes++;
	/* MUST_COPY: the copy is made before the mutex is released. */
	ret = reply(c, MHD_HTTP_OK, CONTENT_TYPE, e->snap.p, e->snap.len);
	pthread_mutex_unlock(&e->mu);
	return ret;
}

static bool wait_until(struct mw_exporter *e, const struct timespec *until, uint64_t ticket)
{
	while (e->prof_done < ticket && !e->stopping)
		if (pthread_cond_timedwait(&e->cv, &e->mu, until) == ETIMEDOUT)
			return false;
	return e->prof_done >= ticket;
}

/* GET /debug/pprof/NAME: asked of the event loop, like /metrics, one request at a time. */
static enum MHD_Result serve_profile(struct mw_exporter *e, struct MHD_Connection *c,
				     const char *name)
{
	static const char busy[] = "memwatch: the profile was not rendered in time\n";
	struct MHD_Response *r;
	struct timespec until;
	enum MHD_Result ret;
	uint64_t ticket, ns;
	char msg[200];

	clock_gettime(CLOCK_REALTIME, &until);
	ns = (uint64_t)until.tv_nsec + 2 * WAIT_RENDER_NS;
	until.tv_sec += (time_t)(ns / 1000000000ULL);
	until.tv_nsec = (long)(ns % 1000000000ULL);
	pthread_mutex_lock(&e->mu);
	/* A request still pending (its client gave up): the loop answers it first. */
	if (!wait_until(e, &until, e->prof_req)) {
		pthread_mutex_unlock(&e->mu);
		return reply(c, MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain", busy, sizeof(busy) - 1);
	}
	snprintf(e->prof_name, sizeof(e->prof_name), "%s", name);
	ticket = ++e->prof_req;
	if (!wait_until(e, &until, ticket)) {
		pthread_mutex_unlock(&e->mu);
		return reply(c, MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain", busy, sizeof(busy) - 1);
	}
	if (e->prof_ret) {
		snprintf(msg, sizeof(msg), "memwatch: %s\n",
			 e->prof_ret == -ENOENT ? e->prof_why : strerror(-e->prof_ret));
		pthread_mutex_unlock(&e->mu);
		return reply(c,
			     e->prof_ret == -ENOENT ? MHD_HTTP_NOT_FOUND
						    : MHD_HTTP_INTERNAL_SERVER_ERROR,
			     "text/plain", msg, strlen(msg));
	}
	r = MHD_create_response_from_buffer(e->prof_len, e->prof_body, MHD_RESPMEM_MUST_COPY);
	pthread_mutex_unlock(&e->mu);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/octet-stream");
	snprintf(msg, sizeof(msg), "attachment; filename=\"%s\"", name);
	MHD_add_response_header(r, "Content-Disposition", msg);
	ret = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	static const char not_found[] = "memwatch: not found; metrics are at /metrics\n";
	static const char not_allowed[] = "memwatch: only GET and HEAD\n";
	struct mw_exporter *e = cls;

	(void)version;
	(void)upload;
	if (*upload_size)
		return MHD_NO; /* no request bodies */
	(void)con_cls;
	if (!strncmp(url, "/debug/pprof/", 13) && e->prof_fn) {
		if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
			return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", not_allowed,
				     sizeof(not_allowed) - 1);
		return serve_profile(e, c, url + 13);
	}
	if (strcmp(url, "/metrics"))
		return reply(c, MHD_HTTP_NOT_FOUND, "text/plain", not_found, sizeof(not_found) - 1);
	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
		return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", not_allowed,
			     sizeof(not_allowed) - 1);
	return serve_metrics(e, c);
}

/* ---------- event loop side ---------- */

static void own_usage(double *cpu_s, uint64_t *rss)
{
	struct rusage ru;
	unsigned long long size = 0, resident = 0;
	FILE *f;

	*cpu_s = 0;
	*rss = 0;
	if (getrusage(RUSAGE_SELF, &ru) == 0)
		*cpu_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
			 (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
	f = fopen("/proc/self/statm", "r");
	if (!f)
		return;
	if (fscanf(f, "%llu %llu", &size, &resident) == 2)
		*rss = resident * (uint64_t)sysconf(_SC_PAGESIZE);
	fclose(f);
}

static size_t probe_stats(struct mw_loader *l, struct mw_probe_stat *v, size_t max)
{
	struct bpf_program *prog;
	size_t n = 0;

	if (!l->skel)
		return 0;
	bpf_object__for_each_program(prog, l->skel->obj)
	{
		struct bpf_prog_info info;
		__u32 len = sizeof(info);
		int fd = bpf_program__fd(prog);

		if (fd < 0 || n == max)
			continue;
		memset(&info, 0, sizeof(info));
		if (bpf_obj_get_info_by_fd(fd, &info, &len))
			continue;
		snprintf(v[n].name, sizeof(v[n].name), "%s", bpf_program__name(prog));
		v[n].run_cnt = info.run_cnt;
		v[n].run_time_ns = info.run_time_ns;
		n++;
	}
	return n;
}

/*
 * The kernel's exact counters of every live thread, read now: between a
 * thread's start and its exit record the model only knows what the events
 * showed. Exited threads keep the final counts read at their exit.
 */
static void refresh_counters(struct mw_session *s, struct mw_loader *l)
{
	for (size_t i = 0; i < s->model.nprocs; i++) {
		struct mw_process *p = s->model.procs[i];

		if (p->exited)
			continue;
		for (size_t k = 0; k < p->nthreads; k++) {
			struct mw_thread *t = &p->threads[k];
			struct mw_thread_counters c;

			if (t->exited || mw_loader_thread_counters(l, t->tid, 0, &c))
				continue;
			memcpy(t->kernel.calls, c.calls, sizeof(c.calls));
			memcpy(t->kernel.errors, c.errors, sizeof(c.errors));
			memcpy(t->kernel.dur_ns, c.dur_ns, sizeof(c.dur_ns));
			t->have_kernel = true;
		}
	}
}

static void render(struct mw_exporter *e, struct mw_session *s, struct mw_loader *l,
		   uint64_t scrapes)
{
	struct mw_probe_stat probes[MAX_PROBES];
	struct mw_stats st;
	struct mw_metrics_in in = {
		.model = &s->model,
		.growth = &e->growth,
		.names = &e->names,
		.kstats = &st,
		.probes = probes,
		.probe_stats = e->stats_fd >= 0,
		.per_tid = e->per_tid,
		.start_time_s = e->start_time_s,
		.scrapes = scrapes,
		.output_errors = s->out_errors,
	};

	refresh_counters(s, l);
	mw_thread_names_update(&e->names, &s->model);
	mw_loader_stats(l, &st);
	in.nprobes = probe_stats(l, probes, MAX_PROBES);
	own_usage(&in.cpu_seconds, &in.rss_bytes);
	e->scratch.len = 0;
	e->scratch.oom = false;
	mw_metrics_render(&e->scratch, &in);
}

/* A pending /debug/pprof request: rendered here, the thread that owns the session. */
static void answer_profile(struct mw_exporter *e)
{
	char name[sizeof(e->prof_name)], why[sizeof(e->prof_why)] = "";
	uint64_t ticket;
	void *body = NULL;
	size_t len = 0;
	int ret;

	pthread_mutex_lock(&e->mu);
	ticket = e->prof_req;
	memcpy(name, e->prof_name, sizeof(name));
	pthread_mutex_unlock(&e->mu);
	if (ticket == e->prof_done) /* prof_done is written only by this thread */
		return;
	ret = e->prof_fn(e->prof_ctx, name, &body, &len, why, sizeof(why));
	pthread_mutex_lock(&e->mu);
	free(e->prof_body);
	e->prof_body = ret ? NULL : body;
	e->prof_len = ret ? 0 : len;
	e->prof_ret = ret;
	memcpy(e->prof_why, why, sizeof(why));
	e->prof_done = ticket;
	pthread_cond_broadcast(&e->cv);
	pthread_mutex_unlock(&e->mu);
}

void mw_exporter_profiles(struct mw_exporter *e, mw_exporter_profile_fn fn, void *ctx)
{
	if (!e)
		return;
	e->prof_fn = fn;
	e->prof_ctx = ctx;
}

void mw_exporter_tick(struct mw_exporter *e, struct mw_session *s, struct mw_loader *l)
{
	uint64_t now, ticket, scrapes;
	struct mw_buf tmp;

	if (!e)
		return;
	if (e->prof_fn)
		answer_profile(e);
	now = mw_now_ns(CLOCK_MONOTONIC);
	if (now >= e->next_sample_ns) {
		mw_growth_sample(&e->growth, &s->model, now);
		e->next_sample_ns = now + SAMPLE_NS;
	}
	pthread_mutex_lock(&e->mu);
	ticket = e->req_seq;
	scrapes = e->scrapes;
	pthread_mutex_unlock(&e->mu);
	if (ticket == e->done_seq)
		return; /* done_seq is written only by this thread */
	render(e, s, l, scrapes);
	pthread_mutex_lock(&e->mu);
	if (!e->scratch.oom) {
		tmp = e->snap;
		e->snap = e->scratch;
		e->scratch = tmp;
	}
	e->done_seq = ticket;
	pthread_cond_broadcast(&e->cv);
	pthread_mutex_unlock(&e->mu);
}

/* ---------- lifecycle ---------- */

static int listen_on(const struct mw_listen *a, char *err, size_t errsz)
{
	int one = 1, fd;

	fd = socket(a->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return mw_fail(err, errsz, -errno, "--prometheus %s: socket: %s", a->text,
			       strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (a->addr.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)&a->addr, a->len) || listen(fd, 16)) {
		int e = errno;

		close(fd);
		if (e == EADDRINUSE)
			return mw_fail(err, errsz, -e,
				       "--prometheus %s: address already in use: pick another port",
				       a->text);
		return mw_fail(err, errsz, -e, "--prometheus %s: cannot listen: %s", a->text,
			       strerror(e));
	}
	return fd;
}

int mw_exporter_start(struct mw_exporter **out, const struct mw_config *cfg, char *err,
		      size_t errsz)
{
	struct mw_exporter *e;
	struct mw_listen a;
	struct timespec now;
	sigset_t all, old;
	int fd;

	*out = NULL;
	if (!cfg->prometheus)
		return 0;
	if (mw_listen_parse(cfg->prometheus, &a, err, errsz))
		return -EINVAL; /* the CLI checked it already */
	fd = listen_on(&a, err, errsz);
	if (fd < 0)
		return fd;
	e = calloc(1, sizeof(*e));
	if (!e) {
		close(fd);
		return mw_fail(err, errsz, -ENOMEM, "out of memory");
	}
	e->listen_fd = fd;
	e->per_tid = cfg->per_tid;
	clock_gettime(CLOCK_REALTIME, &now);
	e->start_time_s = (double)now.tv_sec + (double)now.tv_nsec / 1e9;
	mw_growth_init(&e->growth);
	mw_thread_names_init(&e->names);
	mw_buf_init(&e->scratch);
	mw_buf_init(&e->snap);
	pthread_mutex_init(&e->mu, NULL);
	pthread_cond_init(&e->cv, NULL);
	/* Probe run time: counted by the kernel while this fd is held (root only). */
	e->stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
	/* The server thread inherits a mask with every signal blocked: Ctrl-C
	 * and SIGTERM stay with the event loop. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	e->httpd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO, 0, NULL, NULL,
				    on_request, e, MHD_OPTION_LISTEN_SOCKET, fd,
				    MHD_OPTION_CONNECTION_LIMIT, (unsigned)16,
				    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10, MHD_OPTION_END);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!e->httpd) {
		mw_exporter_stop(e);
		return mw_fail(err, errsz, -EIO, "--prometheus %s: cannot start the HTTP server",
			       a.text);
	}
	e->listen_fd = -1; /* MHD_stop_daemon closes it */
	*out = e;
	return 0;
}

void mw_exporter_stop(struct mw_exporter *e)
{
	if (!e)
		return;
	pthread_mutex_lock(&e->mu);
	e->stopping = true;
	pthread_cond_broadcast(&e->cv);
	pthread_mutex_unlock(&e->mu);
	if (e->httpd)
		MHD_stop_daemon(e->httpd);
	if (e->listen_fd >= 0)
		close(e->listen_fd);
	if (e->stats_fd >= 0)
		close(e->stats_fd);
	mw_growth_free(&e->growth);
	mw_thread_names_free(&e->names);
	mw_buf_free(&e->scratch);
	mw_buf_free(&e->snap);
	free(e->prof_body);
	pthread_cond_destroy(&e->cv);
	pthread_mutex_destroy(&e->mu);
	free(e);
}
