// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Allocator probes: which file holds a target's allocator, and the uprobes on it. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "elfsyms.h"
#include "errmsg.h"
#include "mprobe.h"
#include "procfs.h"
#include "regions.h"
#include "malloc.skel.h"

enum { P_MALLOC, P_CALLOC, P_REALLOC, P_REALLOCARRAY, P_POSIX_MEMALIGN, P_ALIGNED_ALLOC,
       P_MEMALIGN, P_VALLOC, P_PVALLOC, P_NEW, P_NEW_ARRAY, P_FREE, P_DELETE, P_DELETE_ARRAY,
       P_ALLOC_EXIT, P_DELETE_EXIT, P_EXIT, P_COUNT };

enum kind { K_ALLOC, K_CXX, K_EXIT };

/* The attach table: symbol, entry program, return program, which module has it:
 * the allocator (malloc family), libstdc++ or the allocator (C++ operators), libc (exit). */
static const struct {
	const char *sym;
	int enter, exit;
	enum kind kind;
} points[] = {
	{ "malloc", P_MALLOC, P_ALLOC_EXIT, K_ALLOC },
	{ "calloc", P_CALLOC, P_ALLOC_EXIT, K_ALLOC },
	{ "realloc", P_REALLOC, P_ALLOC_EXIT, K_ALLOC },
	{ "reallocarray", P_REALLOCARRAY, P_ALLOC_EXIT, K_ALLOC },
	{ "posix_memalign", P_POSIX_MEMALIGN, P_ALLOC_EXIT, K_ALLOC },
	/* glibc 2.36: aligned_alloc is an alias of memalign; one probe per address. */
	{ "memalign", P_MEMALIGN, P_ALLOC_EXIT, K_ALLOC },
	{ "aligned_alloc", P_ALIGNED_ALLOC, P_ALLOC_EXIT, K_ALLOC },
	{ "valloc", P_VALLOC, P_ALLOC_EXIT, K_ALLOC },
	{ "pvalloc", P_PVALLOC, P_ALLOC_EXIT, K_ALLOC },
	{ "free", P_FREE, -1, K_ALLOC },
	{ "_Znwm", P_NEW, P_ALLOC_EXIT, K_CXX },
	{ "_ZnwmRKSt9nothrow_t", P_NEW, P_ALLOC_EXIT, K_CXX },
	{ "_ZnwmSt11align_val_t", P_NEW, P_ALLOC_EXIT, K_CXX },
	{ "_ZnwmSt11align_val_tRKSt9nothrow_t", P_NEW, P_ALLOC_EXIT, K_CXX },
	{ "_Znam", P_NEW_ARRAY, P_ALLOC_EXIT, K_CXX },
	{ "_ZnamRKSt9nothrow_t", P_NEW_ARRAY, P_ALLOC_EXIT, K_CXX },
	{ "_ZnamSt11align_val_t", P_NEW_ARRAY, P_ALLOC_EXIT, K_CXX },
	{ "_ZnamSt11align_val_tRKSt9nothrow_t", P_NEW_ARRAY, P_ALLOC_EXIT, K_CXX },
	{ "_ZdlPv", P_DELETE, P_DELETE_EXIT, K_CXX },
	{ "_ZdlPvm", P_DELETE, P_DELETE_EXIT, K_CXX },
	{ "_ZdlPvRKSt9nothrow_t", P_DELETE, P_DELETE_EXIT, K_CXX },
	{ "_ZdlPvSt11align_val_t", P_DELETE, P_DELETE_EXIT, K_CXX },
	{ "_ZdlPvmSt11align_val_t", P_DELETE, P_DELETE_EXIT, K_CXX },
	{ "_ZdlPvSt11align_val_tRKSt9nothrow_t", P_DELETE, P_DELETE_EXIT, K_CXX },
	{ "_ZdaPv", P_DELETE_ARRAY, P_DELETE_EXIT, K_CXX },
	{ "_ZdaPvm", P_DELETE_ARRAY, P_DELETE_EXIT, K_CXX },
	{ "_ZdaPvRKSt9nothrow_t", P_DELETE_ARRAY, P_DELETE_EXIT, K_CXX },
	{ "_ZdaPvSt11align_val_t", P_DELETE_ARRAY, P_DELETE_EXIT, K_CXX },
	{ "_ZdaPvmSt11align_val_t", P_DELETE_ARRAY, P_DELETE_EXIT, K_CXX },
	{ "_ZdaPvSt11align_val_tRKSt9nothrow_t", P_DELETE_ARRAY, P_DELETE_EXIT, K_CXX },
	{ "exit", P_EXIT, -1, K_EXIT },
};
#define NPOINTS (sizeof(points) / sizeof(points[0]))

static const char *const fn_names[MW_MFN_COUNT] = {
	[MW_MFN_MALLOC] = "malloc", [MW_MFN_CALLOC] = "calloc", [MW_MFN_REALLOC] = "realloc",
	[MW_MFN_REALLOCARRAY] = "reallocarray", [MW_MFN_POSIX_MEMALIGN] = "posix_memalign",
	[MW_MFN_ALIGNED_ALLOC] = "aligned_alloc", [MW_MFN_MEMALIGN] = "memalign",
	[MW_MFN_VALLOC] = "valloc", [MW_MFN_PVALLOC] = "pvalloc", [MW_MFN_NEW] = "operator new",
	[MW_MFN_NEW_ARRAY] = "operator new[]", [MW_MFN_FREE] = "free",
	[MW_MFN_DELETE] = "operator delete", [MW_MFN_DELETE_ARRAY] = "operator delete[]",
};

const char *mw_mfn_name(uint32_t fn)
{
	return fn < MW_MFN_COUNT ? fn_names[fn] : "?";
}

static struct bpf_program *prog_of(const struct mw_mprobe *m, int p)
{
	struct malloc_bpf *s = m->skel;
	struct bpf_program *progs[P_COUNT] = {
		[P_MALLOC] = s->progs.malloc_enter, [P_CALLOC] = s->progs.calloc_enter,
		[P_REALLOC] = s->progs.realloc_enter, [P_REALLOCARRAY] = s->progs.reallocarray_enter,
		[P_POSIX_MEMALIGN] = s->progs.posix_memalign_enter,
		[P_ALIGNED_ALLOC] = s->progs.aligned_alloc_enter,
		[P_MEMALIGN] = s->progs.memalign_enter, [P_VALLOC] = s->progs.valloc_enter,
		[P_PVALLOC] = s->progs.pvalloc_enter, [P_NEW] = s->progs.new_enter,
		[P_NEW_ARRAY] = s->progs.new_array_enter, [P_FREE] = s->progs.free_enter,
		[P_DELETE] = s->progs.delete_enter, [P_DELETE_ARRAY] = s->progs.delete_array_enter,
		[P_ALLOC_EXIT] = s->progs.alloc_exit, [P_DELETE_EXIT] = s->progs.delete_exit,
		[P_EXIT] = s->progs.exit_enter,
	};

	return progs[p];
}

int mw_mprobe_open(struct mw_mprobe *m, const struct mw_mprobe_opts *o, char *err, size_t errsz)
{
	struct malloc_bpf *s;
	int ret;

	memset(m, 0, sizeof(*m));
	m->ncpus = libbpf_num_possible_cpus();
	if (m->ncpus <= 0)
		return mw_fail(err, errsz, -EINVAL, "cannot count CPUs");
	s = malloc_bpf__open();
	if (!s)
		return mw_fail(err, errsz, -errno, "cannot open the allocator BPF object: %s",
			       strerror(errno));
	m->skel = s;
	s->rodata->stack_bytes = o->stack_bytes;
	s->rodata->sample_every = o->sample_every;
	s->rodata->sample_bytes = o->sample_bytes;
	s->rodata->max_rate = o->max_rate;
	s->rodata->stop_at_exit = true;
	/* Gaps between byte samples: quantiles of an exponential with mean sample_bytes. */
	for (int i = 0; o->sample_bytes && i < MW_SAMPLE_TABLE; i++)
		s->rodata->exp_gap[i] = (__u64)(-log(1.0 - (i + 0.5) / MW_SAMPLE_TABLE) *
						(double)o->sample_bytes) + 1;
	ret = bpf_map__set_max_entries(s->maps.live, o->max_outstanding);
	if (ret) {
		mw_fail(err, errsz, ret, "cannot size the outstanding table: %s", strerror(-ret));
		goto fail;
	}
	ret = malloc_bpf__load(s);
	if (ret) {
		mw_fail(err, errsz, ret, "cannot load the allocator BPF programs: %s (run with -v "
			"for the verifier log)", strerror(-ret));
		goto fail;
	}
	return 0;
fail:
	mw_mprobe_close(m);
	return ret;
}

int mw_mprobe_ring_fd(const struct mw_mprobe *m)
{
	return bpf_map__fd(m->skel->maps.mevents);
}

static int attach_point(struct mw_mprobe *m, struct mw_mpoint *p)
{
	LIBBPF_OPTS(bpf_uprobe_opts, uo, .retprobe = p->ret);

	p->link = bpf_program__attach_uprobe_opts(prog_of(m, p->prog), (pid_t)p->pid, p->path,
						  p->offset, &uo);
	return p->link ? 0 : -errno;
}

static int add_point(struct mw_mprobe *m, uint32_t pid, const char *path, uint64_t off, int prog,
		     bool ret)
{
	struct mw_mpoint *p;
	int err;

	if (m->npoints == m->cappoints) {
		size_t cap = m->cappoints ? 2 * m->cappoints : 64;
		void *v = realloc(m->points, cap * sizeof(*m->points));

		if (!v)
			return -ENOMEM;
		m->points = v;
		m->cappoints = cap;
	}
	p = &m->points[m->npoints];
	*p = (struct mw_mpoint){ .pid = pid, .path = mw_intern(path), .offset = off,
				 .prog = prog, .ret = ret };
	if (!p->path)
		return -ENOMEM;
	err = attach_point(m, p);
	if (err)
		return err;
	m->npoints++;
	return 0;
}

struct cand {
	char path[PATH_MAX];	/* valid here */
	char name[PATH_MAX];	/* in the target */
	uint64_t off[NPOINTS];
	bool is_exe, is_libc, is_cxx;
};

static const char *base_of(const char *name)
{
	const char *b = strrchr(name, '/');

	return b ? b + 1 : name;
}

/* Where the dynamic loader finds a DT_NEEDED or LD_PRELOAD name (Debian's default paths). */
static bool resolve_lib(uint32_t pid, const char *lib, char *path, char *name)
{
	static const char *const dirs[] = {
		"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64",
		"/lib", "/usr/lib", "/usr/local/lib",
	};

	if (strchr(lib, '/')) {
		snprintf(name, PATH_MAX, "%s", lib);
		snprintf(path, PATH_MAX, "/proc/%u/root%s", pid, lib);
		return access(path, R_OK) == 0;
	}
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(name, PATH_MAX, "%s/%s", dirs[i], lib);
		snprintf(path, PATH_MAX, "/proc/%u/root%s", pid, name);
		if (access(path, R_OK) == 0)
			return true;
	}
	return false;
}

static size_t push_cand(struct cand *c, size_t n, size_t max, const char *path, const char *name)
{
	if (n == max)
		return n;
	for (size_t i = 0; i < n; i++)
		if (!strcmp(c[i].name, name))
			return n;
	memset(&c[n], 0, sizeof(c[n]));
	snprintf(c[n].path, sizeof(c[n].path), "%s", path);
	snprintf(c[n].name, sizeof(c[n].name), "%s", name);
	return n + 1;
}

/* Launch mode: the executable, LD_PRELOAD, then the executable's DT_NEEDED, as ld.so will. */
static size_t cands_before_libs(uint32_t pid, struct cand *c, size_t max)
{
	char path[PATH_MAX], name[PATH_MAX], exe[PATH_MAX], buf[4096], *env = NULL;
	const char *needed[64];
	size_t n = 0, envlen;
	ssize_t len;
	int nn;

	snprintf(path, sizeof(path), "/proc/%u/exe", pid);
	len = readlink(path, exe, sizeof(exe) - 1);
	exe[len > 0 ? len : 0] = '\0';
	n = push_cand(c, n, max, path, exe);
	if (mw_read_environ(pid, &env, &envlen) == 0) {
		const char *pre = mw_environ_get(env, envlen, "LD_PRELOAD");
		char list[4096], *save = NULL;

		snprintf(list, sizeof(list), "%s", pre ? pre : "");
		for (char *t = strtok_r(list, ": ", &save); t; t = strtok_r(NULL, ": ", &save))
			if (resolve_lib(pid, t, path, name))
				n = push_cand(c, n, max, path, name);
		free(env);
	}
	snprintf(path, sizeof(path), "/proc/%u/exe", pid);
	nn = mw_elf_needed(path, buf, sizeof(buf), needed, 64);
	for (int i = 0; i < nn; i++)
		if (resolve_lib(pid, needed[i], path, name))
			n = push_cand(c, n, max, path, name);
	return n;
}

/* Attach: every mapped executable file, through map_files (another mount namespace works). */
static size_t cands_mapped(uint32_t pid, struct cand *c, size_t max)
{
	struct mw_regions maps;
	char path[PATH_MAX], exe[PATH_MAX];
	size_t n = 0;
	ssize_t len;

	snprintf(path, sizeof(path), "/proc/%u/exe", pid);
	len = readlink(path, exe, sizeof(exe) - 1);
	exe[len > 0 ? len : 0] = '\0';
	mw_regions_init(&maps);
	if (mw_read_maps(pid, &maps) == 0) {
		for (size_t i = 0; i < maps.n; i++) {
			const struct mw_region *g = &maps.v[i];

			if (!g->name || g->name[0] != '/' || !(g->prot & PROT_EXEC))
				continue;
			snprintf(path, sizeof(path), "/proc/%u/map_files/%llx-%llx", pid,
				 (unsigned long long)g->start, (unsigned long long)g->end);
			n = push_cand(c, n, max, path, g->name);
			if (n && !strcmp(c[n - 1].name, exe))
				c[n - 1].is_exe = true;
		}
	}
	mw_regions_free(&maps);
	return n;
}

static bool known_module(struct mw_mprobe *m, uint32_t pid, const struct stat *st)
{
	for (size_t i = 0; i < m->nmods; i++)
		if (m->mods[i].pid == pid && m->mods[i].dev == st->st_dev &&
		    m->mods[i].ino == st->st_ino)
			return true;
	return false;
}

static int add_module(struct mw_mprobe *m, uint32_t pid, const struct stat *st,
		      const struct cand *c, bool alloc)
{
	void *v = realloc(m->mods, (m->nmods + 1) * sizeof(*m->mods));

	if (!v)
		return -ENOMEM;
	m->mods = v;
	m->mods[m->nmods] = (struct mw_mmodule){ .pid = pid, .dev = st->st_dev, .ino = st->st_ino,
		.path = strdup(c->path), .name = strdup(c->name), .alloc = alloc };
	m->nmods++;
	return 0;
}

/* Attach the probes of one module: the malloc family too when it is the allocator. */
static int attach_module(struct mw_mprobe *m, uint32_t pid, const struct cand *c, bool alloc)
{
	bool libc = c->is_libc || (c->is_exe && alloc);
	uint64_t done[NPOINTS];
	size_t ndone = 0;
	int n = 0, err;

	for (size_t i = 0; i < NPOINTS; i++) {
		bool dup = false;

		if (!c->off[i] || (points[i].kind == K_ALLOC && !alloc) ||
		    (points[i].kind == K_EXIT && !libc))
			continue;
		for (size_t k = 0; k < ndone; k++)
			dup |= done[k] == c->off[i];
		if (dup)
			continue;	/* an alias of a function already probed */
		done[ndone++] = c->off[i];
		err = add_point(m, pid, c->path, c->off[i], points[i].enter, false);
		if (!err && points[i].exit >= 0)
			err = add_point(m, pid, c->path, c->off[i], points[i].exit, true);
		if (err)
			return err;
		n += points[i].exit >= 0 ? 2 : 1;
	}
	return n;
}

int mw_mprobe_add_pid(struct mw_mprobe *m, uint32_t pid, bool before_libs, char *what,
		      size_t whatsz)
{
	enum { MAXC = 64 };
	const char *names[NPOINTS];
	struct cand *c = calloc(MAXC, sizeof(*c));
	size_t n;
	int alloc = -1, total = 0, err = 0;

	if (!c)
		return -ENOMEM;
	for (size_t i = 0; i < NPOINTS; i++)
		names[i] = points[i].sym;
	n = before_libs ? cands_before_libs(pid, c, MAXC) : cands_mapped(pid, c, MAXC);
	if (before_libs && n)
		c[0].is_exe = true;
	for (size_t i = 0; i < n; i++) {
		const char *b = base_of(c[i].name);

		c[i].is_libc = !strncmp(b, "libc.so", 7) || !strncmp(b, "libc-", 5);
		c[i].is_cxx = !strncmp(b, "libstdc++", 9);
		if (mw_elf_find_funcs(c[i].path, names, NPOINTS, c[i].off) < 0)
			memset(c[i].off, 0, sizeof(c[i].off));
	}
	/*
	 * The allocator is what the PLT resolves malloc to: the executable's own
	 * (static or interposing), else a preloaded or linked-in allocator, else libc.
	 */
	for (size_t i = 0; i < n && alloc < 0; i++)
		if (c[i].is_exe && c[i].off[0])
			alloc = (int)i;
	for (size_t i = 0; i < n && alloc < 0; i++)
		if (!c[i].is_libc && c[i].off[0])
			alloc = (int)i;
	for (size_t i = 0; i < n && alloc < 0; i++)
		if (c[i].off[0])
			alloc = (int)i;
	for (size_t i = 0; i < n && !err; i++) {
		struct stat st;
		int k;

		if ((int)i != alloc && !c[i].is_cxx && !c[i].is_libc)
			continue;
		if (stat(c[i].path, &st) || known_module(m, pid, &st))
			continue;
		k = attach_module(m, pid, &c[i], (int)i == alloc);
		if (k < 0) {
			err = k;
			break;
		}
		total += k;
		err = add_module(m, pid, &st, &c[i], (int)i == alloc);
	}
	if (what && whatsz)
		snprintf(what, whatsz, "%s", alloc >= 0 ? c[alloc].name : "");
	free(c);
	if (!err && total)
		m->attached = true;
	return err ? err : total;
}

static void *destroy_link(void *link)
{
	bpf_link__destroy(link);
	return NULL;
}

/*
 * Removing a uprobe waits for a grace period (about 0.1 s here): one after
 * the other, 40 probes would hold the event loop for seconds. From threads,
 * the waits overlap.
 */
void mw_mprobe_detach(struct mw_mprobe *m)
{
	enum { BATCH = 64 };
	pthread_t th[BATCH];
	bool started[BATCH];

	for (size_t i = 0; i < m->npoints; i += BATCH) {
		size_t n = m->npoints - i < BATCH ? m->npoints - i : BATCH;

		for (size_t k = 0; k < n; k++) {
			struct bpf_link *link = m->points[i + k].link;

			m->points[i + k].link = NULL;
			started[k] = link && !pthread_create(&th[k], NULL, destroy_link, link);
			if (link && !started[k])
				bpf_link__destroy(link);
		}
		for (size_t k = 0; k < n; k++)
			if (started[k])
				pthread_join(th[k], NULL);
	}
	m->attached = false;
}

int mw_mprobe_reattach(struct mw_mprobe *m)
{
	int err = 0;

	__atomic_add_fetch(&m->skel->bss->generation, 1, __ATOMIC_SEQ_CST);
	for (size_t i = 0; i < m->npoints; i++)
		if (!m->points[i].link && attach_point(m, &m->points[i]) && !err)
			err = -errno;	/* a process that exited: its points are gone */
	m->attached = true;
	return err;
}

bool mw_mprobe_tripped(const struct mw_mprobe *m, uint64_t *rate)
{
	if (!m->skel->bss->tripped)
		return false;
	if (rate)
		*rate = m->skel->bss->tripped_rate;
	return true;
}

void mw_mprobe_reset_guard(struct mw_mprobe *m)
{
	m->skel->bss->win_hits = 0;
	m->skel->bss->win_start_ns = 0;
	__atomic_store_n(&m->skel->bss->tripped, 0, __ATOMIC_SEQ_CST);
}

void mw_mprobe_stats(const struct mw_mprobe *m, struct mw_malloc_stats *sum)
{
	struct mw_malloc_stats per[m->ncpus];
	__u32 zero = 0;

	memset(sum, 0, sizeof(*sum));
	if (bpf_map__lookup_elem(m->skel->maps.mstats, &zero, sizeof(zero), per, sizeof(per), 0))
		return;
	for (int i = 0; i < m->ncpus; i++) {
		sum->rb_drops += per[i].rb_drops;
		sum->live_full += per[i].live_full;
		sum->unknown_frees += per[i].unknown_frees;
		sum->threads_full += per[i].threads_full;
		sum->stack_short += per[i].stack_short;
		sum->hits += per[i].hits;
	}
}

void mw_mprobe_counters(const struct mw_mprobe *m, uint32_t pid, struct mw_malloc_counters *sum)
{
	int fd = bpf_map__fd(m->skel->maps.mthreads);
	__u32 key, next, *prev = NULL;
	struct mw_malloc_counters c;

	memset(sum, 0, sizeof(*sum));
	sum->tgid = pid;
	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, &c) || c.tgid != pid)
			continue;
		for (int i = 0; i < MW_MFN_COUNT; i++) {
			sum->calls[i] += c.calls[i];
			sum->bytes[i] += c.bytes[i];
		}
		sum->sampled += c.sampled;
	}
}

void mw_mprobe_live(const struct mw_mprobe *m, uint32_t pid, mw_live_fn fn, void *ctx)
{
	int fd = bpf_map__fd(m->skel->maps.live);
	__u64 key, next, *prev = NULL;
	struct mw_live v;

	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, &v) == 0 && v.tgid == pid)
			fn(ctx, key, &v);
	}
}

void mw_mprobe_close(struct mw_mprobe *m)
{
	mw_mprobe_detach(m);
	for (size_t i = 0; i < m->nmods; i++) {
		free(m->mods[i].path);
		free(m->mods[i].name);
	}
	free(m->mods);
	free(m->points);
	malloc_bpf__destroy(m->skel);
	memset(m, 0, sizeof(*m));
}
