// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The live metrics endpoint. See exporter.h.
 *
 * Threads: libmicrohttpd's polling thread runs the request handler, which
 * never reads the model. A scrape takes a ticket (req_seq), is suspended, and
 * wakes the event loop through an eventfd; the loop renders once for every
 * ticket taken so far (done_seq), swaps the rendering in under the mutex and
 * resumes every scrape it answered; each then gets a copy of that rendering.
 * So scrapes in flight together share one rendering, none waits for the
 * loop's 50 ms tick, and what a scrape gets was rendered after it arrived. A
 * housekeeping thread resumes a scrape the loop has not answered within 2 s
 * (it is busy or stopping) with the last rendering, or 503 when there is none.
 *
 * Slow clients: every connection is in a table (conn_mu) that
 * libmicrohttpd's callbacks keep, and it removes a connection from it before
 * it closes the socket, so shutting a socket down under conn_mu never hits a
 * reused descriptor. A connection must deliver a whole request within
 * HEADER_NS of connecting (or of its previous response) and take its response
 * within BUSY_NS, or the housekeeping thread shuts it down; at most MAX_CONNS
 * connections, PER_IP from one address, and a new one over a limit takes the
 * place of the oldest connection that is still sending its request. Trickled
 * header lines keep libmicrohttpd's idle timeout alive, not these deadlines.
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
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dlfcn.h>
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
#define MAX_CONNS 128
#define PER_IP 64
/* A connection may be made room for only once it has been sending its request this long: a
 * scraper sends it at once, a slow client is older than that, and a busy memwatch (the
 * sanitized build under load) may take a second to read a request that did arrive. */
#define EVICT_AFTER_NS 5000000000ULL
/* Room over MAX_CONNS for sockets shut down but not closed yet. */
#define CONN_SLACK 32
#define HEADER_NS (10 * 1000000000ULL)
#define BUSY_NS (30 * 1000000000ULL)
#define IDLE_S 10
#define HOUSEKEEPING_NS 100000000ULL
/* Renderings at most this often: a flood of scrapes cannot keep the loop rendering. */
#define MIN_RENDER_GAP_NS 5000000ULL

/* One TCP connection (libmicrohttpd's socket context); under conn_mu. */
struct conn {
	int fd;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	uint64_t phase_ns; /* when it connected, or its last request began or ended */
	bool busy;	   /* a request is being answered (or waits for a rendering) */
	bool shut;	   /* shut down by a limit or a deadline: closing */
	struct conn *next, *prev;
};

/* A scrape waiting for a rendering (suspended); under mu. */
struct waiter {
	struct MHD_Connection *c;
	uint64_t ticket;
	uint64_t since_ns;
	bool resumed;
	struct waiter *next;
};

struct mw_exporter {
	struct MHD_Daemon *httpd;
	pthread_t housekeeper;
	bool housekeeper_started;
	int listen_fd;
	int wake_fd;  /* eventfd: a scrape wakes the event loop */
	int stats_fd; /* BPF_STATS_RUN_TIME while held; -1 when refused */
	bool per_tid;
	double start_time_s;
	uint64_t next_sample_ns;
	uint64_t last_render_ns;
	struct mw_growth growth;      /* event loop only */
	struct mw_thread_names names; /* event loop only */
	struct mw_buf scratch;	      /* event loop only */
	pthread_mutex_t conn_mu;
	struct conn *conns; /* under conn_mu */
	size_t nconns;
	uint64_t evicted, timed_out;
	pthread_mutex_t mu;
	pthread_cond_t cv; /* wakes the housekeeper at stop, and a profile's requester */
	mw_exporter_profile_fn prof_fn; /* set before the first request; run by the loop */
	void *prof_ctx;
	/* under mu: */
	struct mw_buf snap; /* the last rendering */
	uint64_t req_seq, done_seq;
	uint64_t scrapes;
	struct waiter *waiting;
	bool stopping;
	/* one /debug/pprof request at a time (under mu): name asked, the loop's answer */
	char prof_name[16];
	uint64_t prof_req, prof_done;
	void *prof_body;
	size_t prof_len;
	int prof_ret;
	char prof_why[160];
};

/*
 * libmicrohttpd is opened when an endpoint starts, not linked: linked, it and the TLS
 * stack it brings (gnutls, p11-kit, nettle, gmp, ...) were mapped, relocated and their
 * constructors run in every memwatch, with or without --prometheus: 2.5 MB of its
 * resident memory.
 */
#define MHD_SONAME "libmicrohttpd.so.12" /* the ABI of <microhttpd.h>: libmicrohttpd12 */

static struct {
	__typeof__(MHD_start_daemon) *start_daemon;
	__typeof__(MHD_stop_daemon) *stop_daemon;
	__typeof__(MHD_create_response_from_buffer) *create_response_from_buffer;
	__typeof__(MHD_add_response_header) *add_response_header;
	__typeof__(MHD_queue_response) *queue_response;
	__typeof__(MHD_destroy_response) *destroy_response;
	__typeof__(MHD_get_connection_info) *get_connection_info;
	__typeof__(MHD_suspend_connection) *suspend_connection;
	__typeof__(MHD_resume_connection) *resume_connection;
} mhd;

static int mhd_open(char *err, size_t errsz)
{
	static void *lib;
	void *fn[sizeof(mhd) / sizeof(void *)];
	static const char *const names[] = {
		"MHD_start_daemon",
		"MHD_stop_daemon",
		"MHD_create_response_from_buffer",
		"MHD_add_response_header",
		"MHD_queue_response",
		"MHD_destroy_response",
		"MHD_get_connection_info",
		"MHD_suspend_connection",
		"MHD_resume_connection",
	};

	_Static_assert(sizeof(names) / sizeof(names[0]) == sizeof(fn) / sizeof(fn[0]),
		       "one name per libmicrohttpd function");
	if (lib)
		return 0;
	lib = dlopen(MHD_SONAME, RTLD_NOW | RTLD_LOCAL);
	if (!lib)
		return mw_fail(err, errsz, -ENOENT,
			       "--prometheus needs libmicrohttpd (" MHD_SONAME ", Debian's "
			       "libmicrohttpd12): %s",
			       dlerror());
	for (size_t i = 0; i < sizeof(fn) / sizeof(fn[0]); i++) {
		fn[i] = dlsym(lib, names[i]);
		if (!fn[i]) {
			dlclose(lib);
			lib = NULL;
			return mw_fail(err, errsz, -ENOENT, "--prometheus: %s has no %s",
				       MHD_SONAME, names[i]);
		}
	}
	memcpy(&mhd, fn, sizeof(mhd));
	return 0;
}

/* ---------- HTTP side (libmicrohttpd's thread, and the housekeeper) ---------- */

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *type,
			     const char *body, size_t len)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = mhd.create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	mhd.add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	ret = mhd.queue_response(c, status, r);
	mhd.destroy_response(r);
	return ret;
}

static struct conn *conn_of(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *i =
		mhd.get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return i ? i->socket_context : NULL;
}

/* Under conn_mu: the socket is still open (it leaves the table before it is closed). */
static void conn_shut(struct conn *k)
{
	if (k->shut)
		return;
	k->shut = true;
	/* libmicrohttpd sees the end of the stream and closes the connection. */
	if (k->fd >= 0)
		shutdown(k->fd, SHUT_RDWR);
}

/* Serve a scrape whose ticket was rendered (or that waited too long). Under mu. */
static enum MHD_Result serve_snapshot(struct mw_exporter *e, struct MHD_Connection *c)
{
	static const char unavailable[] = "memwatch: no metrics rendered yet\n";

	if (!e->snap.len)
		return reply(c, MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain", unavailable,
			     sizeof(unavailable) - 1);
	e->scrapes++;
	/* MUST_COPY: the copy is made before the mutex is released. */
	return reply(c, MHD_HTTP_OK, CONTENT_TYPE, e->snap.p, e->snap.len);
}

static enum MHD_Result serve_metrics(struct mw_exporter *e, struct MHD_Connection *c,
				     void **con_cls)
{
	struct waiter *w = *con_cls;
	enum MHD_Result ret;
	uint64_t one = 1;

	pthread_mutex_lock(&e->mu);
	if (w) {
		/* Resumed: rendered for it, or it waited too long, or memwatch is stopping. */
		ret = serve_snapshot(e, c);
		pthread_mutex_unlock(&e->mu);
		return ret;
	}
	if (e->stopping) {
		ret = serve_snapshot(e, c);
		pthread_mutex_unlock(&e->mu);
		return ret;
	}
	w = calloc(1, sizeof(*w));
	if (!w) {
		pthread_mutex_unlock(&e->mu);
		return MHD_NO;
	}
	w->c = c;
	w->ticket = ++e->req_seq;
	w->since_ns = mw_now_ns(CLOCK_MONOTONIC);
	w->next = e->waiting;
	e->waiting = w;
	*con_cls = w;
	mhd.suspend_connection(c);
	pthread_mutex_unlock(&e->mu);
	(void)!write(e->wake_fd, &one, sizeof(one));
	return MHD_YES;
}

static bool wait_until(struct mw_exporter *e, const struct timespec *until, uint64_t ticket)
{
	while (e->prof_done < ticket && !e->stopping)
		if (pthread_cond_timedwait(&e->cv, &e->mu, until) == ETIMEDOUT)
			return false;
	return e->prof_done >= ticket;
}

/*
 * GET /debug/pprof/NAME: asked of the event loop (woken at once), one request at a time.
 * Unlike a scrape it waits in libmicrohttpd's thread: a profile is rare, asked by hand.
 */
static enum MHD_Result serve_profile(struct mw_exporter *e, struct MHD_Connection *c,
				     const char *name)
{
	static const char busy[] = "memwatch: the profile was not rendered in time\n";
	struct MHD_Response *r;
	struct timespec until;
	enum MHD_Result ret;
	uint64_t ticket, ns, one = 1;
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
	(void)!write(e->wake_fd, &one, sizeof(one));
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
	r = mhd.create_response_from_buffer(e->prof_len, e->prof_body, MHD_RESPMEM_MUST_COPY);
	pthread_mutex_unlock(&e->mu);
	if (!r)
		return MHD_NO;
	mhd.add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/octet-stream");
	snprintf(msg, sizeof(msg), "attachment; filename=\"%s\"", name);
	mhd.add_response_header(r, "Content-Disposition", msg);
	ret = mhd.queue_response(c, MHD_HTTP_OK, r);
	mhd.destroy_response(r);
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	static const char not_found[] = "memwatch: not found; metrics are at /metrics\n";
	static const char not_allowed[] = "memwatch: only GET and HEAD\n";
	struct mw_exporter *e = cls;
	struct conn *k = conn_of(c);

	(void)version;
	(void)upload;
	if (*upload_size)
		return MHD_NO; /* no request bodies */
	pthread_mutex_lock(&e->conn_mu);
	if (k && !k->busy) {
		k->busy = true;
		k->phase_ns = mw_now_ns(CLOCK_MONOTONIC);
	}
	pthread_mutex_unlock(&e->conn_mu);
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
	return serve_metrics(e, c, con_cls);
}

/* The request is over (answered, or the client went away): drop its waiter. */
static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct mw_exporter *e = cls;
	struct waiter *w = *con_cls, **pp;
	struct conn *k = conn_of(c);

	(void)toe;
	pthread_mutex_lock(&e->conn_mu);
	if (k) {
		k->busy = false;
		k->phase_ns = mw_now_ns(CLOCK_MONOTONIC);
	}
	pthread_mutex_unlock(&e->conn_mu);
	if (!w)
		return;
	pthread_mutex_lock(&e->mu);
	for (pp = &e->waiting; *pp; pp = &(*pp)->next)
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	pthread_mutex_unlock(&e->mu);
	free(w);
	*con_cls = NULL;
}

static bool same_addr(const struct sockaddr *a, socklen_t alen, const struct sockaddr_storage *b)
{
	if (a->sa_family != b->ss_family)
		return false;
	if (a->sa_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
		       ((const struct sockaddr_in *)b)->sin_addr.s_addr;
	if (a->sa_family == AF_INET6)
		return !memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
			       &((const struct sockaddr_in6 *)b)->sin6_addr,
			       sizeof(struct in6_addr));
	return alen > 0;
}

/* The connection that has been sending its request the longest (of addr when given), if
 * that is longer than EVICT_AFTER_NS. */
static struct conn *oldest_sending(struct mw_exporter *e, const struct sockaddr *addr,
				   socklen_t alen)
{
	uint64_t now = mw_now_ns(CLOCK_MONOTONIC);
	struct conn *best = NULL;

	for (struct conn *k = e->conns; k; k = k->next)
		if (!k->busy && !k->shut && (!addr || same_addr(addr, alen, &k->addr)) &&
		    (!best || k->phase_ns < best->phase_ns))
			best = k;
	return best && now - best->phase_ns >= EVICT_AFTER_NS ? best : NULL;
}

/* A new connection: within the limits, making room by shutting the oldest connection that is
 * still sending its request when it would go over one. */
static enum MHD_Result on_accept(void *cls, const struct sockaddr *addr, socklen_t alen)
{
	struct mw_exporter *e = cls;
	size_t total = 0, same = 0;
	enum MHD_Result ok = MHD_YES;
	struct conn *victim;

	pthread_mutex_lock(&e->conn_mu);
	for (struct conn *k = e->conns; k; k = k->next) {
		if (k->shut)
			continue;
		total++;
		same += same_addr(addr, alen, &k->addr);
	}
	if (same >= PER_IP) {
		victim = oldest_sending(e, addr, alen);
		if (victim) {
			conn_shut(victim);
			e->evicted++;
			total--;
		} else {
			ok = MHD_NO;
		}
	}
	if (ok == MHD_YES && total >= MAX_CONNS) {
		victim = oldest_sending(e, NULL, 0);
		if (victim) {
			conn_shut(victim);
			e->evicted++;
		} else {
			ok = MHD_NO;
		}
	}
	pthread_mutex_unlock(&e->conn_mu);
	return ok;
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
			  enum MHD_ConnectionNotificationCode toe)
{
	struct mw_exporter *e = cls;
	struct conn *k = *socket_context;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *fd =
			mhd.get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
		const union MHD_ConnectionInfo *ad =
			mhd.get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

		k = calloc(1, sizeof(*k));
		if (!k)
			return; /* untracked: still bounded by libmicrohttpd's own limit */
		k->fd = fd ? fd->connect_fd : -1;
		if (ad && ad->client_addr) {
			k->addrlen = ad->client_addr->sa_family == AF_INET6
					     ? sizeof(struct sockaddr_in6)
					     : sizeof(struct sockaddr_in);
			memcpy(&k->addr, ad->client_addr, k->addrlen);
		}
		k->phase_ns = mw_now_ns(CLOCK_MONOTONIC);
		pthread_mutex_lock(&e->conn_mu);
		k->next = e->conns;
		if (e->conns)
			e->conns->prev = k;
		e->conns = k;
		e->nconns++;
		pthread_mutex_unlock(&e->conn_mu);
		*socket_context = k;
		return;
	}
	if (!k)
		return;
	/* Closed: libmicrohttpd closes the socket after this returns. */
	pthread_mutex_lock(&e->conn_mu);
	if (k->prev)
		k->prev->next = k->next;
	else
		e->conns = k->next;
	if (k->next)
		k->next->prev = k->prev;
	e->nconns--;
	pthread_mutex_unlock(&e->conn_mu);
	free(k);
	*socket_context = NULL;
}

/* Deadlines: requests that take too long to arrive or to be taken; scrapes the loop did
 * not answer in time get the last rendering. */
static void housekeeping(struct mw_exporter *e, uint64_t now)
{
	pthread_mutex_lock(&e->conn_mu);
	for (struct conn *k = e->conns; k; k = k->next) {
		uint64_t limit = k->busy ? BUSY_NS : HEADER_NS;

		if (!k->shut && now - k->phase_ns > limit) {
			conn_shut(k);
			e->timed_out++;
		}
	}
	pthread_mutex_unlock(&e->conn_mu);
	/* Under mu (the caller holds it): */
	for (struct waiter *w = e->waiting; w; w = w->next)
		if (!w->resumed && (e->stopping || now - w->since_ns > WAIT_RENDER_NS)) {
			w->resumed = true;
			mhd.resume_connection(w->c);
		}
}

static void *housekeeper_main(void *arg)
{
	struct mw_exporter *e = arg;

	pthread_mutex_lock(&e->mu);
	while (!e->stopping) {
		struct timespec until;
		uint64_t ns;

		clock_gettime(CLOCK_REALTIME, &until);
		ns = (uint64_t)until.tv_nsec + HOUSEKEEPING_NS;
		until.tv_sec += (time_t)(ns / 1000000000ULL);
		until.tv_nsec = (long)(ns % 1000000000ULL);
		pthread_cond_timedwait(&e->cv, &e->mu, &until);
		housekeeping(e, mw_now_ns(CLOCK_MONOTONIC));
	}
	pthread_mutex_unlock(&e->mu);
	return NULL;
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
 * showed. Exited threads keep the final counts read at their exit. Resident memory of
 * every live process too (s->resident: /proc/PID/status, recorded).
 */
static void refresh_counters(struct mw_session *s, struct mw_loader *l)
{
	for (size_t i = 0; i < s->model.nprocs; i++) {
		struct mw_process *p = s->model.procs[i];
		struct mw_resident r;

		if (p->exited)
			continue;
		if (s->resident && !s->resident(s->src_ctx, p->pid, &r))
			mw_session_resident(s, p->pid, &r, false);
		for (size_t k = 0; k < p->nthreads; k++) {
			struct mw_thread *t = &p->threads[k];
			struct mw_thread_counters c;

			if (t->exited || mw_loader_thread_counters(l, t->tid, 0, &c))
				continue;
			mw_thread_set_kernel(t, &c, s->model.page_size);
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
		.oom_kills = s->oom_kills,
		.triggers_fired = s->triggers_fired,
		.escalations = s->escalations,
		.fault_stacks = s->cfg->fault_stacks != 0,
		.fprofs = s->fprofs,
		.nfprofs = s->nfprofs,
		.page_size = s->model.page_size,
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
	if (now - e->last_render_ns < MIN_RENDER_GAP_NS)
		return; /* the next turn comes soon: mw_exporter_wait_ms */
	pthread_mutex_lock(&e->mu);
	ticket = e->req_seq;
	scrapes = e->scrapes;
	pthread_mutex_unlock(&e->mu);
	if (ticket == e->done_seq)
		return; /* done_seq is written only by this thread */
	render(e, s, l, scrapes);
	e->last_render_ns = mw_now_ns(CLOCK_MONOTONIC);
	pthread_mutex_lock(&e->mu);
	if (!e->scratch.oom) {
		tmp = e->snap;
		e->snap = e->scratch;
		e->scratch = tmp;
	}
	e->done_seq = ticket;
	for (struct waiter *w = e->waiting; w; w = w->next)
		if (!w->resumed && w->ticket <= ticket) {
			w->resumed = true;
			mhd.resume_connection(w->c);
		}
	pthread_mutex_unlock(&e->mu);
}

int mw_exporter_wait_ms(const struct mw_exporter *e, int max_ms)
{
	uint64_t now, left;
	bool pending;

	if (!e)
		return max_ms;
	pthread_mutex_lock((pthread_mutex_t *)&e->mu);
	pending = e->req_seq != e->done_seq;
	pthread_mutex_unlock((pthread_mutex_t *)&e->mu);
	if (!pending)
		return max_ms;
	now = mw_now_ns(CLOCK_MONOTONIC);
	if (now - e->last_render_ns >= MIN_RENDER_GAP_NS)
		return 0;
	left = (MIN_RENDER_GAP_NS - (now - e->last_render_ns) + 999999) / 1000000;
	return left < (uint64_t)max_ms ? (int)left : max_ms;
}

int mw_exporter_wake_fd(const struct mw_exporter *e)
{
	return e ? e->wake_fd : -1;
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
	if (bind(fd, (const struct sockaddr *)&a->addr, a->len) || listen(fd, 128)) {
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
	int fd, ret;

	*out = NULL;
	if (!cfg->prometheus)
		return 0;
	if (mw_listen_parse(cfg->prometheus, &a, err, errsz))
		return -EINVAL; /* the CLI checked it already */
	if (mhd_open(err, errsz))
		return -ENOENT;
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
	pthread_mutex_init(&e->conn_mu, NULL);
	pthread_cond_init(&e->cv, NULL);
	e->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	/* Probe run time: counted by the kernel while this fd is held (root only). */
	e->stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
	if (e->wake_fd < 0) {
		ret = -errno;
		mw_exporter_stop(e);
		return mw_fail(err, errsz, ret, "--prometheus: eventfd: %s", strerror(-ret));
	}
	/* The server thread inherits a mask with every signal blocked, as does the
	 * housekeeper: Ctrl-C and SIGTERM stay with the event loop. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	e->httpd = mhd.start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME, 0,
		on_accept, e, on_request, e, MHD_OPTION_LISTEN_SOCKET, fd,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)(MAX_CONNS + CONN_SLACK),
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)IDLE_S, MHD_OPTION_NOTIFY_CONNECTION,
		on_connection, e, MHD_OPTION_NOTIFY_COMPLETED, on_completed, e, MHD_OPTION_END);
	ret = e->httpd ? pthread_create(&e->housekeeper, NULL, housekeeper_main, e) : 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!e->httpd) {
		mw_exporter_stop(e);
		return mw_fail(err, errsz, -EIO, "--prometheus %s: cannot start the HTTP server",
			       a.text);
	}
	e->listen_fd = -1; /* MHD_stop_daemon closes it */
	if (ret) {
		mw_exporter_stop(e);
		return mw_fail(err, errsz, -ret, "--prometheus %s: cannot start a thread", a.text);
	}
	e->housekeeper_started = true;
	*out = e;
	return 0;
}

void mw_exporter_stop(struct mw_exporter *e)
{
	if (!e)
		return;
	/* Every waiting scrape resumed (it gets the last rendering): libmicrohttpd refuses to
	 * stop with a suspended connection. */
	pthread_mutex_lock(&e->mu);
	e->stopping = true;
	pthread_cond_broadcast(&e->cv);
	if (e->httpd)
		housekeeping(e, mw_now_ns(CLOCK_MONOTONIC));
	pthread_mutex_unlock(&e->mu);
	if (e->housekeeper_started)
		pthread_join(e->housekeeper, NULL);
	if (e->httpd)
		mhd.stop_daemon(e->httpd);
	if (e->listen_fd >= 0)
		close(e->listen_fd);
	if (e->stats_fd >= 0)
		close(e->stats_fd);
	if (e->wake_fd >= 0)
		close(e->wake_fd);
	while (e->waiting) {
		struct waiter *w = e->waiting;

		e->waiting = w->next;
		free(w);
	}
	mw_growth_free(&e->growth);
	mw_thread_names_free(&e->names);
	mw_buf_free(&e->scratch);
	mw_buf_free(&e->snap);
	free(e->prof_body);
	pthread_cond_destroy(&e->cv);
	pthread_mutex_destroy(&e->mu);
	pthread_mutex_destroy(&e->conn_mu);
	free(e);
}
