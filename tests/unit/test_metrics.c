// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The Prometheus renderer on a model built from events, the growth windows,
 * and the --prometheus address parser. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/mman.h>
#include "cli.h"
#include "monitor/listen.h"
#include "monitor/metrics.h"
#include "session/faults.h"
#include "ledger/model.h"
#include "ledger/procfs.h"
#include "cli_args.h"
#include "events.h"
#include "unit.h"

#define PG 4096ULL
#define PID 100

static const char *maps_text = "555555554000-555555556000 r--p 00000000 fe:01 1 /usr/bin/srv\n"
			       "55555555a000-55555557b000 rw-p 00000000 00:00 0 [heap]\n"
			       "7ffffffde000-7ffffffff000 rw-p 00000000 00:00 0 [stack]\n";

static uint64_t ts;

static struct mw_event ev_of(enum mw_event_kind kind, uint32_t pid, uint32_t tid, const char *comm)
{
	struct mw_event ev = { .kind = kind, .mono_ns = ts += 1000, .pid = pid, .tid = tid };

	snprintf(ev.comm, sizeof(ev.comm), "%s", comm);
	return ev;
}

static void apply(struct mw_model *m, struct mw_event ev)
{
	struct mw_apply a;

	CHECK_EQ_INT(mw_model_apply(m, &ev, &a), 0);
}

static void sys_call(struct mw_model *m, uint32_t tid, const char *comm, enum mw_sys sys,
		     int64_t ret, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3)
{
	struct mw_event ev =
		ut_syscall(PID, tid, ts += 1000, sys, ret, a0, a1, a2, a3, (uint64_t)-1);

	snprintf(ev.comm, sizeof(ev.comm), "%s", comm);
	apply(m, ev);
}

static void new_thread(struct mw_model *m, uint32_t tid, const char *comm)
{
	struct mw_event ev = ev_of(MW_EV_THREAD_NEW, PID, PID, "srv");

	ev.task.child_pid = PID;
	ev.task.child_tid = tid;
	snprintf(ev.task.child_comm, sizeof(ev.task.child_comm), "%s", comm);
	apply(m, ev);
}

static void thread_exit(struct mw_model *m, uint32_t tid, const char *comm, bool group_dead)
{
	struct mw_event ev = ev_of(MW_EV_EXIT, PID, tid, comm);

	ev.task.group_dead = group_dead;
	apply(m, ev);
}

#define RW (PROT_READ | PROT_WRITE)
#define PA (MAP_PRIVATE | MAP_ANONYMOUS)

/* srv (pid 100): worker 101 maps 16 pages RW and fails one mmap; worker 102
 * maps 8 pages PROT_NONE and 4 RW, then exits; io 103 unmaps 4 of 101's pages. */
static struct mw_process *build(struct mw_model *m)
{
	struct mw_regions maps;
	struct mw_process *p;

	mw_model_init(m, PG);
	mw_regions_init(&maps);
	CHECK_EQ_INT(mw_maps_parse(maps_text, &maps), 0);
	p = mw_model_process(m, PID);
	CHECK(p != NULL);
	memcpy(p->comm, "srv", 4);
	ts = 5000;
	CHECK_EQ_INT(mw_model_seed(p, &maps, 0x55555555a000ULL, mw_regions_bytes(&maps), 0x21000,
				   ts),
		     0);
	mw_regions_free(&maps);
	new_thread(m, 101, "worker");
	new_thread(m, 102, "worker");
	new_thread(m, 103, "io");
	sys_call(m, 101, "worker", MW_SYS_MMAP, 0x7f0000000000, 0, 16 * PG, RW, PA);
	sys_call(m, 101, "worker", MW_SYS_MMAP, -22, 0, 0, RW, PA);
	sys_call(m, 102, "worker", MW_SYS_MMAP, 0x7f0000100000, 0, 8 * PG, PROT_NONE, PA);
	sys_call(m, 102, "worker", MW_SYS_MMAP, 0x7f0000200000, 0, 4 * PG, RW, PA);
	thread_exit(m, 102, "worker", false);
	sys_call(m, 103, "io", MW_SYS_MUNMAP, 0, 0x7f0000000000, 4 * PG, 0, 0);
	return p;
}

static char *render_names(const struct mw_model *m, bool per_tid, const struct mw_growth *g,
			  const struct mw_thread_names *tn)
{
	struct mw_stats st = { .rb_drops = 7, .events = 1234, .threads_full = 2 };
	struct mw_probe_stat probes[1] = { { "sys_exit_mmap", 42, 1500000000 } };
	struct mw_metrics_in in = {
		.model = m,
		.growth = g,
		.names = tn,
		.kstats = &st,
		.probes = probes,
		.nprobes = 1,
		.probe_stats = true,
		.per_tid = per_tid,
		.cpu_seconds = 1.5,
		.rss_bytes = 8 << 20,
		.start_time_s = 1700000000.0,
		.output_errors = 5,
	};
	struct mw_buf b;

	mw_buf_init(&b);
	CHECK_EQ_INT(mw_metrics_render(&b, &in), 0);
	CHECK(b.p != NULL && b.len == strlen(b.p));
	return b.p;
}

static char *render(const struct mw_model *m, bool per_tid, const struct mw_growth *g)
{
	return render_names(m, per_tid, g, NULL);
}

/* The value of the one sample line that starts with series (name{labels}). */
static bool sample(const char *text, const char *series, double *v)
{
	size_t n = strlen(series);

	for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		if (!strncmp(l, series, n) && l[n] == ' ') {
			*v = strtod(l + n + 1, NULL);
			return true;
		}
	}
	return false;
}

#define CHECK_SAMPLE(text, series, want)                                              \
	do {                                                                          \
		double _v = -1;                                                       \
		if (!sample(text, series, &_v))                                       \
			unit_fail(__FILE__, __LINE__, "no sample %s", series);        \
		else if (_v != (double)(want))                                        \
			unit_fail(__FILE__, __LINE__, "%s = %g, want %g", series, _v, \
				  (double)(want));                                    \
	} while (0)

TEST(metrics_calls_by_thread_name_include_exited_threads)
{
	struct mw_model m;
	char *t;

	build(&m);
	t = render(&m, false, NULL);
	/* 101 (1 ok + 1 failed) + 102 (2, exited): the name's sum must not drop at an exit. */
	CHECK_SAMPLE(
		t,
		"memwatch_syscalls_total{pid=\"100\",comm=\"srv\",thread=\"worker\",syscall=\"mmap\"}",
		4);
	CHECK_SAMPLE(
		t,
		"memwatch_syscall_errors_total{pid=\"100\",comm=\"srv\",thread=\"worker\",syscall=\"mmap\"}",
		1);
	CHECK_SAMPLE(
		t,
		"memwatch_syscalls_total{pid=\"100\",comm=\"srv\",thread=\"io\",syscall=\"munmap\"}",
		1);
	CHECK_SAMPLE(
		t,
		"memwatch_syscalls_total{pid=\"100\",comm=\"srv\",thread=\"io\",syscall=\"mmap\"}",
		0);
	/* One series per name: no tid label, "worker" appears once per syscall. */
	CHECK(strstr(t, "tid=") == NULL);
	CHECK(strstr(strstr(t, "thread=\"worker\",syscall=\"mmap\"") + 1,
		     "memwatch_syscalls_total{pid=\"100\",comm=\"srv\",thread=\"worker\",syscall=\"mmap\"}") ==
	      NULL);
	CHECK_SAMPLE(t, "memwatch_threads{pid=\"100\",comm=\"srv\"}", 3); /* 100, 101, 103 */
	free(t);
	mw_model_free(&m);
}

TEST(metrics_per_tid)
{
	struct mw_model m;
	char *t;

	build(&m);
	t = render(&m, true, NULL);
	CHECK_SAMPLE(
		t, "memwatch_syscalls_total{pid=\"100\",comm=\"srv\",tid=\"101\",syscall=\"mmap\"}",
		2);
	CHECK_SAMPLE(
		t, "memwatch_syscalls_total{pid=\"100\",comm=\"srv\",tid=\"102\",syscall=\"mmap\"}",
		2);
	CHECK_SAMPLE(
		t,
		"memwatch_syscall_errors_total{pid=\"100\",comm=\"srv\",tid=\"101\",syscall=\"mmap\"}",
		1);
	CHECK(strstr(t, "thread=") == NULL);
	free(t);
	mw_model_free(&m);
}

TEST(metrics_kernel_counts_win_over_events)
{
	struct mw_model m;
	struct mw_process *p;
	struct mw_thread *w;
	char *t;

	p = build(&m);
	w = mw_process_find_thread(p, 103);
	CHECK(w != NULL);
	/* The ring lost 9 of io's munmaps: the kernel's exact counters are what is exported. */
	w->counts.calls[MW_SYS_MUNMAP] = 10;
	w->counts.errors[MW_SYS_MUNMAP] = 3;
	w->have_kernel = true;
	t = render(&m, false, NULL);
	CHECK_SAMPLE(
		t,
		"memwatch_syscalls_total{pid=\"100\",comm=\"srv\",thread=\"io\",syscall=\"munmap\"}",
		10);
	CHECK_SAMPLE(
		t,
		"memwatch_syscall_errors_total{pid=\"100\",comm=\"srv\",thread=\"io\",syscall=\"munmap\"}",
		3);
	free(t);
	mw_model_free(&m);
}

TEST(metrics_bytes_by_class)
{
	struct mw_model m;
	struct mw_process *p;
	uint64_t base = 0x2000 + 0x21000 + 0x21000; /* the baseline: exe page pair, heap, stack */
	char *t;

	p = build(&m);
	/* Label 102's PROT_NONE reservation and its RW mapping as a thread stack and its guard. */
	CHECK_EQ_INT(mw_regions_label(&p->regions, 0x7f0000100000, 0x7f0000100000 + 8 * PG,
				      MW_CLASS_STACK_GUARD, -1),
		     0);
	CHECK_EQ_INT(mw_regions_label(&p->regions, 0x7f0000200000, 0x7f0000200000 + 4 * PG,
				      MW_CLASS_THREAD_STACK, -1),
		     0);
	t = render(&m, false, NULL);
	CHECK_SAMPLE(t, "memwatch_mapped_bytes{pid=\"100\",comm=\"srv\",class=\"stack_guard\"}",
		     8 * PG);
	CHECK_SAMPLE(t, "memwatch_committed_bytes{pid=\"100\",comm=\"srv\",class=\"stack_guard\"}",
		     0);
	CHECK_SAMPLE(t, "memwatch_mapped_bytes{pid=\"100\",comm=\"srv\",class=\"thread_stack\"}",
		     4 * PG);
	CHECK_SAMPLE(t, "memwatch_committed_bytes{pid=\"100\",comm=\"srv\",class=\"thread_stack\"}",
		     4 * PG);
	/* The rest is unclassified here (no allocator analysis): the baseline and 101's 12 pages. */
	CHECK_SAMPLE(t, "memwatch_mapped_bytes{pid=\"100\",comm=\"srv\",class=\"anon\"}",
		     base + 12 * PG);
	CHECK_SAMPLE(t, "memwatch_mapped_bytes{pid=\"100\",comm=\"srv\",class=\"arena_heap\"}", 0);
	CHECK_SAMPLE(t, "memwatch_arenas{pid=\"100\",comm=\"srv\"}", 0);
	CHECK_SAMPLE(t, "memwatch_arena_committed_bytes{pid=\"100\",comm=\"srv\"}", 0);
	free(t);
	mw_model_free(&m);
}

TEST(metrics_exited_process_disappears)
{
	struct mw_model m;
	char *t;

	build(&m);
	thread_exit(&m, 101, "worker", false);
	thread_exit(&m, 103, "io", false);
	thread_exit(&m, PID, "srv", true);
	t = render(&m, false, NULL);
	CHECK(strstr(t, "pid=\"100\"") == NULL);
	CHECK_SAMPLE(t, "memwatch_traced_processes", 0);
	free(t);
	mw_model_free(&m);
}

TEST(metrics_kernel_self_and_probe_families)
{
	struct mw_model m;
	char *t;

	build(&m);
	t = render(&m, false, NULL);
	CHECK_SAMPLE(t, "memwatch_events_lost_total", 7);
	CHECK_SAMPLE(t, "memwatch_events_total", 1234);
	CHECK_SAMPLE(t, "memwatch_kernel_drops_total{reason=\"threads_full\"}", 2);
	CHECK_SAMPLE(t, "memwatch_probe_hits_total{program=\"sys_exit_mmap\"}", 42);
	CHECK_SAMPLE(t, "memwatch_probe_seconds_total{program=\"sys_exit_mmap\"}", 1.5);
	CHECK_SAMPLE(t, "process_cpu_seconds_total", 1.5);
	CHECK_SAMPLE(t, "process_resident_memory_bytes", 8 << 20);
	CHECK_SAMPLE(t, "memwatch_output_errors_total", 5);
	/* Every family has its HELP and TYPE, and counters end in _total. */
	for (const char *l = t; *l; l = strchr(l, '\n') + 1) {
		char name[128], help[160], type[160];
		size_t n = strcspn(l, "{ ");

		if (*l == '#')
			continue;
		CHECK(n < sizeof(name));
		memcpy(name, l, n);
		name[n] = '\0';
		snprintf(help, sizeof(help), "# HELP %s ", name);
		snprintf(type, sizeof(type), "# TYPE %s ", name);
		CHECK(strstr(t, help) != NULL);
		CHECK(strstr(t, type) != NULL);
		if (strstr(strstr(t, type), "counter\n") == strstr(t, type) + strlen(type))
			CHECK(n > 6 && !strcmp(name + n - 6, "_total"));
	}
	free(t);
	mw_model_free(&m);
}

TEST(metrics_label_values_escaped)
{
	struct mw_model m;
	struct mw_process *p;
	char *t;

	p = build(&m);
	memcpy(p->comm, "a\"b\\c\nd\xff", 9);
	t = render(&m, false, NULL);
	CHECK(strstr(t, "comm=\"a\\\"b\\\\c\\nd\xef\xbf\xbd\"") != NULL);
	free(t);
	/* A surrogate, a code point past U+10FFFF, an overlong slash: each byte is
	 * U+FFFD, or Prometheus refuses the whole scrape. */
	memcpy(p->comm, "s\xed\xa0\x80p\xf4\x90\x80\x80o\xc0\xaf", 13);
	p->comm[13] = 0;
	t = render(&m, false, NULL);
	CHECK(strstr(t, "comm=\"s\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdp\xef\xbf\xbd\xef\xbf\xbd"
			"\xef\xbf\xbd\xef\xbf\xbdo\xef\xbf\xbd\xef\xbf\xbd\"") != NULL);
	free(t);
	mw_model_free(&m);
}

TEST(metrics_growth_rate_over_window)
{
	struct mw_model m;
	struct mw_growth g;
	struct mw_process *p;
	double rate = -1;
	char *t;

	p = build(&m);
	mw_growth_init(&g);
	CHECK_EQ_INT(mw_growth_sample(&g, &m, 1000000000ULL), 0);
	CHECK(!mw_growth_rate(&g, p, &rate)); /* one sample: no rate yet */
	sys_call(&m, 101, "worker", MW_SYS_MMAP, 0x7f0001000000, 0, 256 * PG, RW, PA);
	CHECK_EQ_INT(mw_growth_sample(&g, &m, 3000000000ULL), 0);
	CHECK(mw_growth_rate(&g, p, &rate));
	CHECK(rate == 256 * PG / 2.0);
	t = render(&m, false, &g);
	CHECK_SAMPLE(t, "memwatch_vm_growth_bytes_per_second{pid=\"100\",comm=\"srv\"}",
		     256 * PG / 2.0);
	free(t);
	/* Flat for longer than the window: the grow falls out of it, the rate is 0. */
	for (int i = 0; i < MW_GROWTH_SAMPLES; i++)
		CHECK_EQ_INT(mw_growth_sample(&g, &m, 4000000000ULL + i * 1000000000ULL), 0);
	CHECK(mw_growth_rate(&g, p, &rate));
	CHECK(rate == 0);
	CHECK_EQ_INT(g.v[0].n, MW_GROWTH_SAMPLES);
	/* A process that left the model loses its window. */
	mw_model_forget(&m, PID);
	CHECK_EQ_INT(mw_growth_sample(&g, &m, 99000000000ULL), 0);
	CHECK_EQ_INT(g.n, 0);
	mw_growth_free(&g);
	mw_model_free(&m);
}

static void rename_thread(struct mw_model *m, uint32_t tid, const char *comm)
{
	struct mw_event ev = ev_of(MW_EV_RENAME, PID, tid, "");

	ev.task.child_tid = tid;
	snprintf(ev.task.child_comm, sizeof(ev.task.child_comm), "%s", comm);
	apply(m, ev);
}

#define W_MMAP \
	"memwatch_syscalls_total{pid=\"100\",comm=\"srv\",thread=\"worker\",syscall=\"mmap\"}"
#define A_MMAP \
	"memwatch_syscalls_total{pid=\"100\",comm=\"srv\",thread=\"acceptor\",syscall=\"mmap\"}"
#define A_ERR \
	"memwatch_syscall_errors_total{pid=\"100\",comm=\"srv\",thread=\"acceptor\",syscall=\"mmap\"}"

TEST(metrics_rename_keeps_counters_monotonic)
{
	struct mw_thread_names tn;
	struct mw_model m;
	char *t;

	build(&m);
	mw_thread_names_init(&tn);
	CHECK_EQ_INT(mw_thread_names_update(&tn, &m), 0);
	t = render_names(&m, false, NULL, &tn);
	CHECK_SAMPLE(t, W_MMAP, 4);
	free(t);
	/* 101 (2 mmaps as "worker") becomes "acceptor" and maps once more, failing once more. */
	rename_thread(&m, 101, "acceptor");
	sys_call(&m, 101, "acceptor", MW_SYS_MMAP, 0x7f0003000000, 0, PG, RW, PA);
	sys_call(&m, 101, "acceptor", MW_SYS_MMAP, -12, 0, 1ULL << 50, RW, PA);
	CHECK_EQ_INT(mw_thread_names_update(&tn, &m), 0);
	t = render_names(&m, false, NULL, &tn);
	CHECK_SAMPLE(t, W_MMAP, 4); /* not 2: what 101 did as "worker" stays there */
	CHECK_SAMPLE(t, A_MMAP, 2);
	CHECK_SAMPLE(t, A_ERR, 1);
	free(t);
	/* Without the state, the counts follow the current name (and "worker" drops). */
	t = render(&m, false, NULL);
	CHECK_SAMPLE(t, W_MMAP, 2);
	CHECK_SAMPLE(t, A_MMAP, 4);
	free(t);
	/* Back to "worker": its series gets only what came after, the carry stays with it. */
	rename_thread(&m, 101, "worker");
	sys_call(&m, 101, "worker", MW_SYS_MMAP, 0x7f0004000000, 0, PG, RW, PA);
	CHECK_EQ_INT(mw_thread_names_update(&tn, &m), 0);
	t = render_names(&m, false, NULL, &tn);
	CHECK_SAMPLE(t, W_MMAP, 5);
	CHECK_SAMPLE(t, A_MMAP, 2);
	free(t);
	/* --per-tid ignores it: the tid's series is all of the thread's calls. */
	t = render_names(&m, true, NULL, &tn);
	CHECK_SAMPLE(
		t, "memwatch_syscalls_total{pid=\"100\",comm=\"srv\",tid=\"101\",syscall=\"mmap\"}",
		5);
	free(t);
	/* The process leaves the model: its state goes. */
	mw_model_forget(&m, PID);
	CHECK_EQ_INT(mw_thread_names_update(&tn, &m), 0);
	CHECK_EQ_INT(tn.n, 0);
	mw_thread_names_free(&tn);
	mw_model_free(&m);
}

/* The kernel's fault counts of a thread, as the counters map gives them. */
static void faults_of(struct mw_model *m, uint32_t tid, uint64_t pages)
{
	struct mw_thread_counters c = { .tgid = PID,
					.flags = MW_TC_FAULTS,
					.faulted_pages = pages };
	struct mw_thread *t = mw_process_find_thread(mw_model_find(m, PID), tid);

	CHECK(t != NULL);
	mw_thread_set_kernel(t, &c, PG);
}

#define W_FAULTED "memwatch_faulted_bytes_total{pid=\"100\",comm=\"srv\",thread=\"worker\"}"
#define A_FAULTED "memwatch_faulted_bytes_total{pid=\"100\",comm=\"srv\",thread=\"acceptor\"}"

TEST(metrics_resident_and_faulted)
{
	struct mw_thread_names tn;
	struct mw_model m;
	struct mw_process *p = build(&m);
	char *t;

	/* Nothing read yet: no series, not zeros. */
	t = render(&m, false, NULL);
	CHECK(strstr(t, "memwatch_resident_bytes{") == NULL);
	CHECK(strstr(t, "memwatch_faulted_bytes_total{") == NULL);
	free(t);
	mw_process_set_resident(
		p,
		&(struct mw_resident){ .known = true, .anon = 5 * PG, .file = 3 * PG, .shmem = PG },
		true);
	faults_of(&m, 101, 10);
	faults_of(&m, 102, 6); /* exited: its final counts stay in the name's total */
	faults_of(&m, 103, 1);
	mw_thread_names_init(&tn);
	CHECK_EQ_INT(mw_thread_names_update(&tn, &m), 0);
	t = render_names(&m, false, NULL, &tn);
	CHECK_SAMPLE(t, "memwatch_resident_bytes{pid=\"100\",comm=\"srv\",kind=\"anon\"}", 5 * PG);
	CHECK_SAMPLE(t, "memwatch_resident_bytes{pid=\"100\",comm=\"srv\",kind=\"file\"}", 3 * PG);
	CHECK_SAMPLE(t, "memwatch_resident_bytes{pid=\"100\",comm=\"srv\",kind=\"shmem\"}", PG);
	CHECK_SAMPLE(t, W_FAULTED, 16 * PG);
	CHECK_SAMPLE(t, "memwatch_faulted_bytes_total{pid=\"100\",comm=\"srv\",thread=\"io\"}", PG);
	CHECK(strstr(t, "# TYPE memwatch_faulted_bytes_total counter") != NULL);
	free(t);
	/* 101 becomes "acceptor" and faults 4 pages more: "worker" keeps what it counted. */
	rename_thread(&m, 101, "acceptor");
	faults_of(&m, 101, 14);
	CHECK_EQ_INT(mw_thread_names_update(&tn, &m), 0);
	t = render_names(&m, false, NULL, &tn);
	CHECK_SAMPLE(t, W_FAULTED, 16 * PG);
	CHECK_SAMPLE(t, A_FAULTED, 4 * PG);
	free(t);
	t = render_names(&m, true, NULL, &tn);
	CHECK_SAMPLE(t, "memwatch_faulted_bytes_total{pid=\"100\",comm=\"srv\",tid=\"101\"}",
		     14 * PG);
	free(t);
	mw_thread_names_free(&tn);
	mw_model_free(&m);
}

/* Daemon mode forgets exited threads beyond its bound: their counts must stay in their name's total. */
TEST(metrics_forgotten_threads_keep_counters_monotonic)
{
	struct mw_thread_names tn;
	struct mw_process *p;
	struct mw_model m;
	char *t;

	p = build(&m);
	mw_thread_names_init(&tn);
	/* 101 was "worker" (2 mmaps), becomes "acceptor" (1 more), then exits and is forgotten. */
	CHECK_EQ_INT(mw_thread_names_update(&tn, &m), 0);
	rename_thread(&m, 101, "acceptor");
	sys_call(&m, 101, "acceptor", MW_SYS_MMAP, 0x7f0003000000, 0, PG, RW, PA);
	CHECK_EQ_INT(mw_thread_names_update(&tn, &m), 0);
	t = render_names(&m, false, NULL, &tn);
	CHECK_SAMPLE(t, W_MMAP, 4);
	CHECK_SAMPLE(t, A_MMAP, 1);
	free(t);
	/* It maps once more between two scrapes, then is forgotten (with 102, long exited). */
	sys_call(&m, 101, "acceptor", MW_SYS_MMAP, 0x7f0004000000, 0, PG, RW, PA);
	thread_exit(&m, 101, "acceptor", false);
	mw_process_forget_thread(p, 101);
	mw_process_forget_thread(p, 102);
	CHECK(mw_process_find_thread(p, 101) == NULL && mw_process_find_thread(p, 102) == NULL);
	CHECK_EQ_INT(mw_thread_names_update(&tn, &m), 0);
	t = render_names(&m, false, NULL, &tn);
	CHECK_SAMPLE(t, W_MMAP, 4); /* 2 of 101 as "worker" + 2 of 102 */
	CHECK_SAMPLE(t, A_MMAP, 2); /* both of 101's as "acceptor", the last one too */
	free(t);
	mw_thread_names_free(&tn);
	mw_model_free(&m);
}

/* Lines of a rendering that start with prefix, and the sum of their values. */
static size_t count_series(const char *text, const char *prefix, double *sum)
{
	size_t n = 0, len = strlen(prefix);

	/* memchr over the line's own length: strchr is O(rest of the text) per call under
	 * ASan's strict string checks, quadratic over 800 renderings. */
	*sum = 0;
	for (const char *l = text, *end = text + strlen(text); l < end;) {
		const char *nl = memchr(l, '\n', (size_t)(end - l));
		const char *eol = nl ? nl : end;

		if ((size_t)(eol - l) > len && !strncmp(l, prefix, len)) {
			const char *brace = memchr(l, '}', (size_t)(eol - l));

			n++;
			*sum += brace ? strtod(brace + 2, NULL) : 0;
		}
		l = eol + 1;
	}
	return n;
}

/*
 * A thread that renames itself before every scrape (issue: 12 more permanent series per
 * scrape, 1200 -> 4800 over 800 scrapes): the series stop growing at MW_TN_MAX_NAMES names
 * plus "(other)", every call is counted exactly once, and no series ever goes down.
 */
TEST(metrics_renames_cannot_multiply_series)
{
	static const char mmaps[] = "memwatch_syscalls_total{pid=\"100\",comm=\"srv\",thread=";
	struct mw_thread_names tn;
	struct mw_model m;
	size_t series = 0, last_series = 0;
	double sum, other_last = 0;
	char name[16], *t = NULL;

	build(&m);
	mw_thread_names_init(&tn);
	for (int i = 0; i < 800; i++) {
		snprintf(name, sizeof(name), "w-%d", i);
		rename_thread(&m, 103, name);
		sys_call(&m, 103, name, MW_SYS_MMAP, 0x7f0010000000 + (uint64_t)i * PG, 0, PG, RW,
			 PA);
		CHECK_EQ_INT(mw_thread_names_update(&tn, &m), 0);
		free(t);
		t = render_names(&m, false, NULL, &tn);
		last_series = series;
		series = count_series(t, mmaps, &sum);
		CHECK(series >= last_series);
		/* build(): 4 mmaps and 1 munmap; then one mmap per rename. */
		if (sum != 4 + 1 + 1 + i + 0.0) {
			unit_fail(__FILE__, __LINE__, "scrape %d: %g calls counted", i, sum);
			break;
		}
		if (i > MW_TN_MAX_NAMES) {
			double other;

			CHECK(sample(t,
				     "memwatch_syscalls_total{pid=\"100\",comm=\"srv\",thread="
				     "\"(other)\",syscall=\"mmap\"}",
				     &other));
			CHECK(other >= other_last);
			other_last = other;
		}
	}
	/* 6 syscalls per name: MW_TN_MAX_NAMES names and "(other)". */
	CHECK(series <= (MW_TN_MAX_NAMES + 1) * MW_SYS_COUNT);
	CHECK(series > 100 * MW_SYS_COUNT);
	free(t);
	mw_thread_names_free(&tn);
	mw_model_free(&m);
}

static bool listen_ok(const char *s, const char *text)
{
	struct mw_listen a;
	char err[256];

	if (mw_listen_parse(s, &a, err, sizeof(err))) {
		unit_fail(__FILE__, __LINE__, "%s: %s", s, err);
		return false;
	}
	if (strcmp(a.text, text))
		unit_fail(__FILE__, __LINE__, "%s -> %s, want %s", s, a.text, text);
	return true;
}

static void listen_bad(const char *s, const char *want)
{
	struct mw_listen a;
	char err[256] = "";

	if (!mw_listen_parse(s, &a, err, sizeof(err)))
		unit_fail(__FILE__, __LINE__, "'%s' accepted", s);
	else if (!strstr(err, want))
		unit_fail(__FILE__, __LINE__, "'%s': '%s' lacks '%s'", s, err, want);
}

TEST(listen_address_forms)
{
	struct mw_listen a;
	char err[256];

	CHECK(listen_ok(":9464", "127.0.0.1:9464"));
	CHECK(listen_ok("9464", "127.0.0.1:9464"));
	CHECK(listen_ok("0.0.0.0:80", "0.0.0.0:80"));
	CHECK(listen_ok("[::1]:9464", "[::1]:9464"));
	CHECK_EQ_INT(mw_listen_parse("[::1]:9464", &a, err, sizeof(err)), 0);
	CHECK_EQ_INT(a.addr.ss_family, AF_INET6);
	CHECK_EQ_INT(ntohs(((struct sockaddr_in6 *)&a.addr)->sin6_port), 9464);
	CHECK_EQ_INT(mw_listen_parse(":65535", &a, err, sizeof(err)), 0);
	CHECK_EQ_INT(a.addr.ss_family, AF_INET);
	CHECK_EQ_INT(ntohl(((struct sockaddr_in *)&a.addr)->sin_addr.s_addr), 0x7f000001);
	listen_bad("", "empty");
	listen_bad(":0", "port must be 1..65535");
	listen_bad(":65536", "port must be 1..65535");
	listen_bad("127.0.0.1:", "no port");
	listen_bad("127.0.0.1:9x", "port must be");
	listen_bad("localhost:9464", "not a numeric IPv4");
	listen_bad("1.2.3:9464", "not a numeric IPv4");
	listen_bad("::1:9464", "[ADDR]:PORT");
	listen_bad("[::1]9464", "[IPV6]:PORT");
	listen_bad("[::g]:9464", "not a numeric IPv6");
}

TEST(cli_prometheus_options)
{
	struct mw_config c;
	char err[256];

	CHECK_EQ_INT(ut_parse(&c, err, "--prometheus", ":9464", "-p", "1", NULL), 0);
	CHECK_EQ_STR(c.prometheus, ":9464");
	CHECK(!c.per_tid);
	CHECK_EQ_INT(ut_parse(&c, err, "--prometheus", "[::1]:1", "--per-tid", "-p", "1", NULL), 0);
	CHECK(c.per_tid);
	CHECK_EQ_INT(ut_parse(&c, err, "--prometheus", "x:1", "-p", "1", NULL), -1);
	CHECK(strstr(err, "--prometheus") != NULL);
	CHECK_EQ_INT(ut_parse(&c, err, "--per-tid", "-p", "1", NULL), -1);
	CHECK_EQ_STR(err, "--per-tid needs --prometheus");
	CHECK_EQ_INT(ut_parse(&c, err, "--prometheus", ":1", "--replay", "f", NULL), -1);
}

static char *render_fprof(const struct mw_model *m, bool on, const struct mw_fprof *fp, size_t n)
{
	struct mw_metrics_in in = {
		.model = m, .fault_stacks = on, .fprofs = fp, .nfprofs = n, .page_size = PG
	};
	struct mw_buf b;

	mw_buf_init(&b);
	CHECK_EQ_INT(mw_metrics_render(&b, &in), 0);
	return b.p;
}

#define EST "memwatch_faulted_bytes_estimated_total{pid=\"100\",comm=\"srv\",class="

/* --fault-stacks' samples by class: their own family (samples x N x page size), never in the
 * exact one; absent without --fault-stacks, and for a process with no samples. */
TEST(metrics_faulted_estimated_by_class)
{
	struct mw_fprof fp[2] = { { .pid = PID }, { .pid = 4242 } };
	struct mw_model m;
	struct mw_process *p = build(&m);
	const struct mw_region *anon = mw_regions_find(&p->regions, 0x7f0000200000ULL);
	char *t;

	CHECK(anon != NULL && anon->cls == MW_CLASS_ANON);
	for (int i = 0; i < 3; i++)
		CHECK_EQ_INT(mw_fprof_add(&fp[0], 102, NULL, 0, anon, 64), 0);
	for (int i = 0; i < 2; i++)
		CHECK_EQ_INT(mw_fprof_add(&fp[0], 103, NULL, 0, NULL, 64), 0);
	CHECK_EQ_INT(mw_fprof_add(&fp[1], 4242, NULL, 0, NULL, 64), 0); /* not traced */
	t = render_fprof(&m, false, fp, 2);
	CHECK(strstr(t, "memwatch_faulted_bytes_estimated_total") == NULL);
	free(t);
	t = render_fprof(&m, true, fp, 2);
	CHECK(strstr(t, "# TYPE memwatch_faulted_bytes_estimated_total counter") != NULL);
	CHECK(strstr(t, "# HELP memwatch_faulted_bytes_estimated_total Estimated bytes") != NULL);
	CHECK_SAMPLE(t, EST "\"anon\"}", 3 * 64 * PG);
	CHECK_SAMPLE(t, EST "\"unknown\"}", 2 * 64 * PG);
	CHECK(strstr(t, EST "\"main_heap\"}") == NULL); /* none sampled there: no series */
	CHECK(strstr(t, "pid=\"4242\"") == NULL);
	CHECK(strstr(t, "memwatch_faulted_bytes_total{pid=\"100\",comm=\"srv\",class") == NULL);
	free(t);
	/* Monotone: one more sample adds N pages. */
	CHECK_EQ_INT(mw_fprof_add(&fp[0], 102, NULL, 0, anon, 64), 0);
	t = render_fprof(&m, true, fp, 2);
	CHECK_SAMPLE(t, EST "\"anon\"}", 4 * 64 * PG);
	free(t);
	/* Gone from the model: gone from the scrape. */
	p->exited = true;
	t = render_fprof(&m, true, fp, 2);
	CHECK(strstr(t, EST) == NULL);
	free(t);
	mw_fprof_free(&fp[0]);
	mw_fprof_free(&fp[1]);
	mw_model_free(&m);
}
