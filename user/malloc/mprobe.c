// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Allocator probes: which file holds a target's allocator, and the uprobes on it. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "base/vmlinux_btf.h"
#include "base/grow.h"
#include "elfsyms.h"
#include "base/errmsg.h"
#include "mprobe.h"
#include "ledger/procfs.h"
#include "ledger/regions.h"
#include "malloc.skel.h"
#include "sampler/sampler.h"

/* uprobe_multi links (Linux 6.6); libbpf 1.1 predates them: the bpf() call by hand. */
#define MW_TRACE_UPROBE_MULTI 48
#define MW_UPROBE_MULTI_RETURN 1U
#define MW_BPF_LINK_CREATE 28

enum kind {
	K_ALLOC,
	K_CXX,
	K_EXIT
};
enum {
	FN_EXIT = MW_MFN_COUNT
};

/* The attach table: symbol, function (the cookie of its entry probe), which module has it:
 * the allocator (malloc family), libstdc++ or the allocator (C++ operators), libc (exit). */
static const struct {
	const char *sym;
	int fn;
	enum kind kind;
} points[] = {
	{ "malloc", MW_MFN_MALLOC, K_ALLOC },
	{ "calloc", MW_MFN_CALLOC, K_ALLOC },
	{ "realloc", MW_MFN_REALLOC, K_ALLOC },
	{ "reallocarray", MW_MFN_REALLOCARRAY, K_ALLOC },
	{ "posix_memalign", MW_MFN_POSIX_MEMALIGN, K_ALLOC },
	/* glibc 2.36: aligned_alloc is an alias of memalign; one probe per address. */
	{ "memalign", MW_MFN_MEMALIGN, K_ALLOC },
	{ "aligned_alloc", MW_MFN_ALIGNED_ALLOC, K_ALLOC },
	{ "valloc", MW_MFN_VALLOC, K_ALLOC },
	{ "pvalloc", MW_MFN_PVALLOC, K_ALLOC },
	{ "free", MW_MFN_FREE, K_ALLOC },
	{ "_Znwm", MW_MFN_NEW, K_CXX },
	{ "_ZnwmRKSt9nothrow_t", MW_MFN_NEW, K_CXX },
	{ "_ZnwmSt11align_val_t", MW_MFN_NEW, K_CXX },
	{ "_ZnwmSt11align_val_tRKSt9nothrow_t", MW_MFN_NEW, K_CXX },
	{ "_Znam", MW_MFN_NEW_ARRAY, K_CXX },
	{ "_ZnamRKSt9nothrow_t", MW_MFN_NEW_ARRAY, K_CXX },
	{ "_ZnamSt11align_val_t", MW_MFN_NEW_ARRAY, K_CXX },
	{ "_ZnamSt11align_val_tRKSt9nothrow_t", MW_MFN_NEW_ARRAY, K_CXX },
	{ "_ZdlPv", MW_MFN_DELETE, K_CXX },
	{ "_ZdlPvm", MW_MFN_DELETE, K_CXX },
	{ "_ZdlPvRKSt9nothrow_t", MW_MFN_DELETE, K_CXX },
	{ "_ZdlPvSt11align_val_t", MW_MFN_DELETE, K_CXX },
	{ "_ZdlPvmSt11align_val_t", MW_MFN_DELETE, K_CXX },
	{ "_ZdlPvSt11align_val_tRKSt9nothrow_t", MW_MFN_DELETE, K_CXX },
	{ "_ZdaPv", MW_MFN_DELETE_ARRAY, K_CXX },
	{ "_ZdaPvm", MW_MFN_DELETE_ARRAY, K_CXX },
	{ "_ZdaPvRKSt9nothrow_t", MW_MFN_DELETE_ARRAY, K_CXX },
	{ "_ZdaPvSt11align_val_t", MW_MFN_DELETE_ARRAY, K_CXX },
	{ "_ZdaPvmSt11align_val_t", MW_MFN_DELETE_ARRAY, K_CXX },
	{ "_ZdaPvSt11align_val_tRKSt9nothrow_t", MW_MFN_DELETE_ARRAY, K_CXX },
	{ "exit", FN_EXIT, K_EXIT },
};
#define NPOINTS (sizeof(points) / sizeof(points[0]))
_Static_assert(NPOINTS <= sizeof(((struct mw_mpoint *)0)->offs) / sizeof(uint64_t), "link size");

/* The programs; each gets one uprobe_multi link per probed file. */
enum {
	L_ENTER,
	L_ALLOC_RET,
	L_DELETE_RET,
	L_EXIT,
	L_COUNT
};

static const char *const fn_names[MW_MFN_COUNT] = {
	[MW_MFN_MALLOC] = "malloc",
	[MW_MFN_CALLOC] = "calloc",
	[MW_MFN_REALLOC] = "realloc",
	[MW_MFN_REALLOCARRAY] = "reallocarray",
	[MW_MFN_POSIX_MEMALIGN] = "posix_memalign",
	[MW_MFN_ALIGNED_ALLOC] = "aligned_alloc",
	[MW_MFN_MEMALIGN] = "memalign",
	[MW_MFN_VALLOC] = "valloc",
	[MW_MFN_PVALLOC] = "pvalloc",
	[MW_MFN_NEW] = "operator new",
	[MW_MFN_NEW_ARRAY] = "operator new[]",
	[MW_MFN_FREE] = "free",
	[MW_MFN_DELETE] = "operator delete",
	[MW_MFN_DELETE_ARRAY] = "operator delete[]",
};

const char *mw_mfn_name(uint32_t fn)
{
	return fn < MW_MFN_COUNT ? fn_names[fn] : "?";
}

static struct bpf_program *prog_of(const struct mw_mprobe *m, int kind)
{
	struct malloc_bpf *s = m->skel;

	switch (kind) {
	case L_ENTER: return s->progs.alloc_enter;
	case L_ALLOC_RET: return s->progs.alloc_exit;
	case L_DELETE_RET: return s->progs.delete_exit;
	default: return s->progs.exit_enter;
	}
}

int mw_mprobe_open(struct mw_mprobe *m, const struct mw_mprobe_opts *o, char *err, size_t errsz)
{
	struct malloc_bpf *s;
	int ret;

	memset(m, 0, sizeof(*m));
	m->ncpus = libbpf_num_possible_cpus();
	if (m->ncpus <= 0)
		return mw_fail(err, errsz, -EINVAL, "cannot count CPUs");
	s = malloc_bpf__open_opts(&(struct bpf_object_open_opts){
		.sz = sizeof(struct bpf_object_open_opts),
		.btf_custom_path = mw_vmlinux_btf_path(),
	});
	if (!s)
		return mw_fail(err, errsz, -errno, "cannot open the allocator BPF object: %s",
			       strerror(errno));
	m->skel = s;
	s->rodata->stack_bytes = o->stack_bytes;
	s->rodata->sample_every = o->sample_every;
	s->rodata->sample_bytes = o->sample_bytes;
	s->rodata->max_rate = o->max_rate;
	s->rodata->hold_exit = o->hold_exit;
	s->rodata->holder_tgid = (__u32)getpid();
	/* Gaps between byte samples: quantiles of an exponential with mean sample_bytes. */
	for (int i = 0; o->sample_bytes && i < MW_SAMPLE_TABLE; i++)
		s->rodata->exp_gap[i] =
			(__u64)(-log(1.0 - (i + 0.5) / MW_SAMPLE_TABLE) * (double)o->sample_bytes) +
			1;
	/* A program loaded for uprobe_multi links cannot be attached through perf events. */
	m->multi = mw_mprobe_has_multi();
	for (int k = 0; k < L_COUNT && m->multi; k++)
		bpf_program__set_expected_attach_type(prog_of(m, k),
						      (enum bpf_attach_type)MW_TRACE_UPROBE_MULTI);
	ret = bpf_map__set_max_entries(s->maps.live, o->max_outstanding);
	/* The ring is mapped twice into memwatch (libbpf, for records that wrap): 8 MiB is
	 * 16 MiB of memwatch's RSS, 16 MiB was 32 MiB. A wake-up comes at 1 MiB pending;
	 * 4 MiB lost records of a launch's first burst while the first unwind loaded libc's
	 * debug information (tests/e2e/test_malloc.py, malloc_leaks_glibc). */
	if (!ret)
		ret = bpf_map__set_max_entries(s->maps.mevents, MW_MALLOC_RING);
	if (ret) {
		mw_fail(err, errsz, ret, "cannot size the outstanding table: %s", strerror(-ret));
		goto fail;
	}
	ret = malloc_bpf__load(s);
	if (ret) {
		mw_fail(err, errsz, ret,
			"cannot load the allocator BPF programs: %s (run with -v "
			"for the verifier log)",
			strerror(-ret));
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

static int link_multi(struct mw_mpoint *p, int prog_fd)
{
	union {
		struct {
			uint32_t prog_fd, target_fd, attach_type, flags;
			uint64_t path, offsets, ref_ctr_offsets, cookies;
			uint32_t cnt, flags2, pid;
		} lc;
		uint8_t raw[144]; /* the kernel checks that what it does not know is zero */
	} attr;
	int fd;

	memset(&attr, 0, sizeof(attr));
	attr.lc.prog_fd = (uint32_t)prog_fd;
	attr.lc.attach_type = MW_TRACE_UPROBE_MULTI;
	attr.lc.path = (uint64_t)(uintptr_t)p->path;
	attr.lc.offsets = (uint64_t)(uintptr_t)p->offs;
	attr.lc.cookies = (uint64_t)(uintptr_t)p->cookies;
	attr.lc.cnt = p->n;
	attr.lc.flags2 = p->ret ? MW_UPROBE_MULTI_RETURN : 0;
	attr.lc.pid = p->pid;
	fd = (int)syscall(__NR_bpf, MW_BPF_LINK_CREATE, &attr, sizeof(attr));
	if (fd < 0)
		return -errno;
	p->fd = fd;
	return 0;
}

static bool point_on(const struct mw_mpoint *p)
{
	for (uint32_t i = 0; i < p->n; i++)
		if (p->links[i])
			return true;
	return p->fd >= 0;
}

static void point_off(struct mw_mpoint *p)
{
	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
	for (uint32_t i = 0; i < p->n; i++) {
		bpf_link__destroy(p->links[i]); /* NULL: nothing */
		p->links[i] = NULL;
	}
}

/* Without uprobe_multi: a perf-event uprobe per function, each with its cookie. All of them
 * or none. */
static int link_each(struct mw_mprobe *m, struct mw_mpoint *p)
{
	struct bpf_program *prog = prog_of(m, p->kind);

	p->fd = -1;
	for (uint32_t i = 0; i < p->n; i++) {
		LIBBPF_OPTS(bpf_uprobe_opts, uo, .bpf_cookie = p->cookies[i], .retprobe = p->ret);

		p->links[i] = bpf_program__attach_uprobe_opts(prog, (pid_t)p->pid, p->path,
							      p->offs[i], &uo);
		if (!p->links[i]) {
			int err = -errno;

			point_off(p);
			return err ? err : -EINVAL;
		}
	}
	return 0;
}

static int attach_point(struct mw_mprobe *m, struct mw_mpoint *p)
{
	if (!m->multi)
		return link_each(m, p);
	return link_multi(p, bpf_program__fd(prog_of(m, p->kind)));
}

bool mw_mprobe_has_multi(void)
{
	/* r0 = 0; exit */
	const struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	LIBBPF_OPTS(bpf_prog_load_opts, po,
		    .expected_attach_type = (enum bpf_attach_type)MW_TRACE_UPROBE_MULTI);
	const char *force = getenv("MEMWATCH_NO_UPROBE_MULTI");
	struct mw_mpoint p = { .path = "/", .n = 1, .fd = -1 };
	int prog, ret;

	if (force && *force == '1')
		return false;
	/* A kernel that does not know the attach type may refuse the program already. */
	prog = bpf_prog_load(BPF_PROG_TYPE_KPROBE, NULL, "GPL", insns, 2, &po);
	if (prog < 0)
		return false;
	ret = link_multi(&p, prog);
	if (!ret)
		close(p.fd);
	close(prog);
	return ret == -EBADF;
}

static int add_point(struct mw_mprobe *m, struct mw_mpoint *p)
{
	int err;

	if (!p->n)
		return 0;
	if (mw_grow(&m->points, m->npoints, &m->cappoints, sizeof(*m->points), 16))
		return -ENOMEM;
	err = attach_point(m, p);
	if (err)
		return err;
	m->points[m->npoints++] = *p;
	return 0;
}

struct cand {
	char path[PATH_MAX]; /* valid here */
	char name[PATH_MAX]; /* in the target */
	uint64_t off[NPOINTS];
	bool is_exe, is_libc, is_cxx;
};

/* Where the dynamic loader finds a DT_NEEDED or LD_PRELOAD name (Debian's default paths). */
static bool resolve_lib(uint32_t pid, const char *lib, char *path, char *name)
{
	static const char *const dirs[] = {
		"/lib/x86_64-linux-gnu",
		"/usr/lib/x86_64-linux-gnu",
		"/lib64",
		"/usr/lib64",
		"/lib",
		"/usr/lib",
		"/usr/local/lib",
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

static int add_module(struct mw_mprobe *m, uint32_t pid, const struct stat *st)
{
	if (mw_grow(&m->mods, m->nmods, &m->capmods, sizeof(*m->mods), 16))
		return -ENOMEM;
	m->mods[m->nmods] = (struct mw_mmodule){ .pid = pid, .dev = st->st_dev, .ino = st->st_ino };
	m->nmods++;
	return 0;
}

/* Attach the probes of one module (those of the kinds in mask): the malloc family too when it
 * is the allocator. */
static int attach_module(struct mw_mprobe *m, uint32_t pid, const struct cand *c, bool alloc,
			 unsigned int mask)
{
	bool libc = c->is_libc || (c->is_exe && alloc);
	struct mw_mpoint p[L_COUNT];
	const char *path = mw_intern_pin(c->path); /* kept by the link for re-attaching */
	int n = 0, err = 0;

	if (!path)
		return -ENOMEM;
	for (int k = 0; k < L_COUNT; k++)
		p[k] = (struct mw_mpoint){ .pid = pid,
					   .path = path,
					   .kind = k,
					   .fd = -1,
					   .ret = k == L_ALLOC_RET || k == L_DELETE_RET };
	for (size_t i = 0; i < NPOINTS; i++) {
		int fn = points[i].fn, k;
		bool dup = false;

		if (!c->off[i] || !(mask & (1U << points[i].kind)) ||
		    (points[i].kind == K_ALLOC && !alloc) || (points[i].kind == K_EXIT && !libc))
			continue;
		k = fn == FN_EXIT ? L_EXIT : L_ENTER;
		for (uint32_t j = 0; j < p[k].n; j++)
			dup |= p[k].offs[j] == c->off[i];
		if (dup)
			continue; /* an alias of a function already probed */
		p[k].offs[p[k].n] = c->off[i];
		p[k].cookies[p[k].n++] = (uint64_t)fn;
		if (fn == MW_MFN_FREE || fn == FN_EXIT)
			continue;
		k = fn == MW_MFN_DELETE || fn == MW_MFN_DELETE_ARRAY ? L_DELETE_RET : L_ALLOC_RET;
		p[k].offs[p[k].n++] = c->off[i];
	}
	for (int k = 0; k < L_COUNT && !err; k++) {
		err = add_point(m, &p[k]);
		n += p[k].n;
	}
	return err ? err : n;
}

static int add_pid(struct mw_mprobe *m, uint32_t pid, bool before_libs, char *what, size_t whatsz,
		   unsigned int mask)
{
	enum {
		MAXC = 64
	};
	const char *names[NPOINTS];
	struct mw_mbudget_ctr zero = {};
	struct cand *c = calloc(MAXC, sizeof(*c));
	size_t n;
	int alloc = -1, total = 0, err = 0;

	if (!c)
		return -ENOMEM;
	/* The budget's counters of this process, before its first probe can hit (BPF counts
	 * only what has an entry; kept across an exec). */
	bpf_map__update_elem(m->skel->maps.mbudget, &pid, sizeof(pid), &zero, sizeof(zero),
			     BPF_NOEXIST);
	for (size_t i = 0; i < NPOINTS; i++)
		names[i] = points[i].sym;
	n = before_libs ? cands_before_libs(pid, c, MAXC) : cands_mapped(pid, c, MAXC);
	if (before_libs && n)
		c[0].is_exe = true;
	for (size_t i = 0; i < n; i++) {
		const char *b = mw_path_base(c[i].name);

		c[i].is_libc = mw_is_libc_path(b);
		c[i].is_cxx = !strncmp(b, "libstdc++", 9);
		/* The in-process sampler is never the allocator: here it sees no call (another
		 * malloc comes first) or the process is not probed with uprobes at all. */
		if (!strncmp(b, MWS_LIB_PREFIX, strlen(MWS_LIB_PREFIX)) ||
		    mw_elf_find_funcs(c[i].path, names, NPOINTS, c[i].off) < 0)
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
		k = attach_module(m, pid, &c[i], (int)i == alloc, mask);
		if (k < 0) {
			err = k;
			break;
		}
		total += k;
		err = add_module(m, pid, &st);
	}
	if (what && whatsz)
		snprintf(what, whatsz, "%s", alloc >= 0 ? c[alloc].name : "");
	free(c);

	if (!err && total)
		m->attached = true;
	return err ? err : total;
}

int mw_mprobe_add_pid(struct mw_mprobe *m, uint32_t pid, bool before_libs, char *what,
		      size_t whatsz)
{
	return add_pid(m, pid, before_libs, what, whatsz,
		       (1U << K_ALLOC) | (1U << K_CXX) | (1U << K_EXIT));
}

int mw_mprobe_add_exit(struct mw_mprobe *m, uint32_t pid, bool before_libs)
{
	return add_pid(m, pid, before_libs, NULL, 0, 1U << K_EXIT);
}

/*
 * The USDT links of one sampler (libbpf finds the probes, their semaphores
 * raise): its alloc probe, and, for a sampler whose table memwatch does not
 * read, its free probe first and gone last (mw_mprobe_detach): a block is
 * reported only while its free will be seen. (A semaphore rises before its
 * program runs: blocks kept meanwhile are not reported, and their frees count
 * as unknown.) A sampler with a ring: its ring probe alone (in the alloc link's
 * place): its samples are read from its memory, they fire no probe.
 */
static int attach_usdt(struct mw_mprobe *m, struct mw_musdt *u)
{
	LIBBPF_OPTS(bpf_usdt_opts, o, .usdt_cookie = u->frees ? 0 : MW_USDT_TABLE);

	if (u->ring) {
		u->alloc = bpf_program__attach_usdt(m->skel->progs.sampler_ring, (pid_t)u->pid,
						    u->path, "mwsampler", "ring", NULL);
		return u->alloc ? 0 : -errno;
	}
	if (u->frees) {
		u->free = bpf_program__attach_usdt(m->skel->progs.sampler_free, (pid_t)u->pid,
						   u->path, "mwsampler", "free", NULL);
		if (!u->free)
			return -errno;
	}
	u->alloc = bpf_program__attach_usdt(m->skel->progs.sampler_alloc, (pid_t)u->pid, u->path,
					    "mwsampler", "alloc", &o);
	if (!u->alloc) {
		int err = -errno;

		bpf_link__destroy(u->free);
		u->free = NULL;
		return err;
	}
	return 0;
}

int mw_mprobe_add_sampler(struct mw_mprobe *m, uint32_t pid, const char *path, bool frees,
			  bool ring)
{
	struct mw_musdt u = { .pid = pid, .frees = frees, .ring = ring };
	struct stat st;
	int err;

	if (stat(path, &st))
		return -errno;
	for (size_t i = 0; i < m->nusdt; i++)
		if (m->usdt[i].pid == pid && m->usdt[i].dev == st.st_dev &&
		    m->usdt[i].ino == st.st_ino)
			return 0;
	u.path = mw_intern_pin(path); /* kept by the link for re-attaching */
	u.dev = st.st_dev;
	u.ino = st.st_ino;
	if (!u.path || mw_grow(&m->usdt, m->nusdt, &m->capusdt, sizeof(*m->usdt), 8))
		return -ENOMEM;
	err = attach_usdt(m, &u);
	if (err)
		return err;
	m->usdt[m->nusdt++] = u;
	m->attached = true;
	return 0;
}

void mw_mprobe_detach(struct mw_mprobe *m)
{
	for (size_t i = 0; i < m->npoints; i++)
		point_off(&m->points[i]);
	/* The semaphores fall with the links: the samplers stop reporting. */
	for (size_t i = 0; i < m->nusdt; i++) {
		bpf_link__destroy(m->usdt[i].alloc);
		bpf_link__destroy(m->usdt[i].free);
		m->usdt[i].alloc = m->usdt[i].free = NULL;
	}
	m->attached = false;
}

static void *close_point(void *arg)
{
	point_off(arg);
	return NULL;
}

/*
 * All of the process's links at once. Closing a link removes its breakpoints at
 * once, then waits for a grace period (tens of ms, 100 ms and more on a busy
 * host): one after the other, the links still there would trap all that time
 * (and a return probe left without its entry probe traps at every entry with no
 * program to count it). Each but the last is closed by a thread of its own. (Perf-event
 * uprobes take 0.7 to 0.95 s here however they are closed, each on a thread of its own
 * included: that is their detach cost, against 15 to 90 ms for uprobe_multi links.)
 */
void mw_mprobe_detach_pid(struct mw_mprobe *m, uint32_t pid)
{
	struct mw_mpoint *last = NULL;
	pthread_t th[16];
	__u8 one = 1;
	int n = 0;

	/* Held from now: a link's breakpoints go one after the other, over milliseconds. */
	bpf_map__update_elem(m->skel->maps.mheld, &pid, sizeof(pid), &one, sizeof(one), BPF_ANY);
	for (size_t i = 0; i < m->npoints; i++) {
		struct mw_mpoint *p = &m->points[i];

		if (p->pid != pid || p->kind == L_EXIT || !point_on(p))
			continue;
		if (last && (n == 16 || pthread_create(&th[n], NULL, close_point, last)))
			point_off(last); /* no thread: in turn */
		else if (last)
			n++;
		last = p;
	}
	if (last)
		point_off(last);
	for (int k = 0; k < n; k++)
		pthread_join(th[k], NULL);
	/* The in-process sampler's: its semaphores fall with the links, it stops reporting. */
	for (size_t i = 0; i < m->nusdt; i++) {
		if (m->usdt[i].pid != pid)
			continue;
		bpf_link__destroy(m->usdt[i].alloc);
		bpf_link__destroy(m->usdt[i].free);
		m->usdt[i].alloc = m->usdt[i].free = NULL;
	}
}

int mw_mprobe_reattach_pid(struct mw_mprobe *m, uint32_t pid)
{
	struct mw_mbudget_ctr b;
	int err = 0;

	/*
	 * Held (since the detach) until every link is in: mw_mprobe_open_pid. Calls of pid
	 * still "running" from before the detach are stale now (gen). Only user space writes
	 * gen, and the process's probes are away: no update is lost.
	 */
	if (!bpf_map__lookup_elem(m->skel->maps.mbudget, &pid, sizeof(pid), &b, sizeof(b), 0)) {
		b.gen++;
		bpf_map__update_elem(m->skel->maps.mbudget, &pid, sizeof(pid), &b, sizeof(b),
				     BPF_EXIST);
	}
	for (size_t i = 0; i < m->npoints; i++) {
		struct mw_mpoint *p = &m->points[i];
		int ret;

		if (p->pid != pid || point_on(p))
			continue;
		ret = attach_point(m, p);
		if (ret && !err)
			err = ret; /* the process exited: its points are gone */
	}
	for (size_t i = 0; i < m->nusdt; i++)
		if (m->usdt[i].pid == pid && !m->usdt[i].alloc && attach_usdt(m, &m->usdt[i]) &&
		    !err)
			err = -ESRCH;
	return err;
}

void mw_mprobe_open_pid(struct mw_mprobe *m, uint32_t pid)
{
	bpf_map__delete_elem(m->skel->maps.mheld, &pid, sizeof(pid), 0);
}

bool mw_mprobe_budget(const struct mw_mprobe *m, uint32_t pid, struct mw_mbudget_ctr *out)
{
	return !bpf_map__lookup_elem(m->skel->maps.mbudget, &pid, sizeof(pid), out, sizeof(*out),
				     0);
}

void mw_mprobe_budget_drop(struct mw_mprobe *m, uint32_t pid)
{
	bpf_map__delete_elem(m->skel->maps.mbudget, &pid, sizeof(pid), 0);
	bpf_map__delete_elem(m->skel->maps.mheld, &pid, sizeof(pid), 0);
}

/* malloc and free as memwatch calls them, through pointers the compiler cannot see through. */
static void *(*volatile calib_malloc)(size_t) = malloc;
static void (*volatile calib_free)(void *) = free;

/* CPU time of this thread per malloc+free pair, over n pairs. */
static double pair_ns(int n)
{
	struct timespec a, b;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
	for (int i = 0; i < n; i++)
		calib_free(calib_malloc(64));
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
	return ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / n;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The file holding the function at addr, as mapped in memwatch. */
static const char *file_of(const struct mw_regions *maps, uintptr_t addr)
{
	for (size_t i = 0; i < maps->n; i++)
		if (addr >= maps->v[i].start && addr < maps->v[i].end)
			return maps->v[i].name;
	return NULL;
}

int mw_mprobe_calibrate(struct mw_mprobe *m, struct mw_mcost *c)
{
	enum {
		ROUNDS = 5,
		PAIRS = 300
	};
	static const char *const names[2] = { "malloc", "free" };
	struct mw_mpoint e = { .pid = (uint32_t)getpid(), .kind = L_ENTER, .fd = -1 };
	struct mw_mpoint r = {
		.pid = (uint32_t)getpid(), .kind = L_ALLOC_RET, .ret = true, .fd = -1
	};
	double de[ROUNDS], dr[ROUNDS];
	struct mw_regions maps;
	const char *path = NULL;
	uint64_t off[2] = { 0, 0 };
	int err = 0;

	mw_regions_init(&maps);
	if (mw_read_maps((uint32_t)getpid(), &maps) == 0)
		path = file_of(&maps, (uintptr_t)calib_malloc);
	/* Both in the one file that defines them (libc, or an allocator memwatch was preloaded
	 * with): one link each, as a target's. */
	if (!path || path != file_of(&maps, (uintptr_t)calib_free) ||
	    mw_elf_find_funcs(path, names, 2, off) < 0 || !off[0] || !off[1]) {
		mw_regions_free(&maps);
		return -ENOENT;
	}
	e.path = r.path = path; /* interned: outlives maps */
	e.n = 2;
	e.offs[0] = r.offs[0] = off[0];
	e.offs[1] = off[1];
	e.cookies[0] = MW_MFN_MALLOC;
	e.cookies[1] = MW_MFN_FREE;
	r.n = 1;
	mw_regions_free(&maps);
	pair_ns(PAIRS); /* warm */
	for (int k = 0; k < ROUNDS && !err; k++) {
		double base = pair_ns(PAIRS), one;

		err = attach_point(m, &e);
		if (err)
			break;
		pair_ns(16); /* the breakpoints' first hits (page copies) */
		one = pair_ns(PAIRS);
		err = attach_point(m, &r);
		if (!err) {
			pair_ns(16);
			dr[k] = pair_ns(PAIRS) - one;
			point_off(&r);
		}
		de[k] = (one - base) / 2; /* two entry hits per pair */
		point_off(&e);
	}
	if (err)
		return err;
	qsort(de, ROUNDS, sizeof(de[0]), cmp_double);
	qsort(dr, ROUNDS, sizeof(dr[0]), cmp_double);
	c->enter_ns = de[ROUNDS / 2];
	c->ret_ns = dr[ROUNDS / 2];
	/* No measurable difference: the probes did not fire (malloc is not the one probed). */
	if (c->enter_ns < 20)
		return -ENOENT;
	if (c->ret_ns < 0)
		c->ret_ns = 0; /* noise around a cheap return probe */
	return 0;
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
		sum->unknown_frees += c.unknown_frees;
		sum->live_full += c.live_full;
		sum->rb_drops += c.rb_drops;
		sum->stack_short += c.stack_short;
	}
}

int mw_mprobe_track(const struct mw_mprobe *m, uint32_t pid, uint64_t addr, uint64_t size,
		    uint64_t ts_ns)
{
	struct mw_live v = { .size = size, .ts_ns = ts_ns, .tgid = pid, .tid = 0 };
	__u64 key = addr;

	if (bpf_map_update_elem(bpf_map__fd(m->skel->maps.live), &key, &v, BPF_NOEXIST))
		return -errno;
	return 0;
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
	free(m->mods);
	free(m->points);
	free(m->usdt);
	malloc_bpf__destroy(m->skel);
	memset(m, 0, sizeof(*m));
}
