// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The in-process sampler from memwatch's side. See msampler.h. */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>
#include "base/errmsg.h"
#include "wire/event.h"
#include "elfsyms.h"
#include "ledger/procfs.h"
#include "mledger.h"
#include "mprobe.h"
#include "msampler.h"
#include "sampler/sampler.h"

static bool is_sampler_name(const char *path)
{
	return !strncmp(mw_path_base(path), MWS_LIB_PREFIX, strlen(MWS_LIB_PREFIX));
}

int mw_msampler_in_preload(const char *preload, char *entry, size_t entrysz)
{
	int idx = 0;

	while (preload && *preload) {
		size_t len = strcspn(preload, ": ");

		if (len) {
			char name[PATH_MAX];

			snprintf(name, sizeof(name), "%.*s", (int)len, preload);
			if (is_sampler_name(name)) {
				snprintf(entry, entrysz, "%s", name);
				return idx;
			}
			idx++;
		}
		preload += len;
		preload += strspn(preload, ": ");
	}
	return -1;
}

uint64_t mw_msampler_mean_of(const char *env, size_t envlen)
{
	const char *v = mw_environ_get(env, envlen, MWS_ENV_BYTES);
	uint64_t mean = v && *v ? mws_parse_bytes(v) : 0;

	return mean ? mean : MWS_DEFAULT_BYTES;
}

uint32_t mw_msampler_skip(const struct mw_frame *f, uint32_t n)
{
	uint32_t k = 0;

	while (k < n && f[k].module && is_sampler_name(f[k].module))
		k++;
	if (!k)
		return 0; /* not a stack taken in the sampler */
	while (k < n && f[k].module && !strncmp(mw_path_base(f[k].module), "libstdc++", 9) &&
	       f[k].func && !strncmp(f[k].func, "operator new", 12))
		k++;
	return k;
}

/* A library name of LD_PRELOAD as ld.so finds it: its path in pid's mount namespace. */
static bool lib_name(uint32_t pid, const char *entry, char *name, size_t sz)
{
	static const char *const dirs[] = { "/lib/x86_64-linux-gnu",
					    "/usr/lib/x86_64-linux-gnu",
					    "/lib64",
					    "/usr/lib64",
					    "/lib",
					    "/usr/lib",
					    "/usr/local/lib" };
	char path[PATH_MAX + 32];

	if (strchr(entry, '/')) {
		snprintf(name, sz, "%s", entry);
		snprintf(path, sizeof(path), "/proc/%u/root%s", pid, name);
		return access(path, R_OK) == 0;
	}
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(name, sz, "%s/%s", dirs[i], entry);
		snprintf(path, sizeof(path), "/proc/%u/root%s", pid, name);
		if (access(path, R_OK) == 0)
			return true;
	}
	return false;
}

static bool defines_malloc(const char *path)
{
	static const char *const name[] = { "malloc" };
	uint64_t off = 0;

	return mw_elf_find_funcs(path, name, 1, &off) > 0 && off;
}

/*
 * Does the sampler interpose malloc in pid? Only if nothing the dynamic loader
 * searches first defines malloc: the executable itself, or an LD_PRELOAD
 * entry before the sampler's.
 */
static bool interposes(uint32_t pid, const char *preload, int idx)
{
	char path[PATH_MAX + 32], name[PATH_MAX], list[4096], *save = NULL;
	int i = 0;

	snprintf(path, sizeof(path), "/proc/%u/exe", pid);
	if (defines_malloc(path))
		return false;
	snprintf(list, sizeof(list), "%s", preload ? preload : "");
	for (char *t = strtok_r(list, ": ", &save); t && i < idx; t = strtok_r(NULL, ": ", &save)) {
		i++;
		if (!lib_name(pid, t, name, sizeof(name)))
			continue;
		snprintf(path, sizeof(path), "/proc/%u/root%s", pid, name);
		if (defines_malloc(path))
			return false;
	}
	return true;
}

/*
 * The sampler's file as mapped in pid (its name there, "" when it is not
 * mapped) and where its first page is (the mapping of file offset 0).
 */
static void mapped_sampler(uint32_t pid, char *name, size_t sz, uint64_t *base)
{
	char path[64], line[PATH_MAX + 128], file[PATH_MAX];
	unsigned long long start, off;
	FILE *f;

	*name = '\0';
	*base = 0;
	snprintf(path, sizeof(path), "/proc/%u/maps", pid);
	f = fopen(path, "re");
	if (!f)
		return;
	while (!*base && fgets(line, sizeof(line), f))
		if (sscanf(line, "%llx-%*x %*s %llx %*s %*s %4095s", &start, &off, file) == 3 &&
		    file[0] == '/' && !off && is_sampler_name(file)) {
			snprintf(name, sz, "%s", file);
			*base = start;
		}
	fclose(f);
}

/*
 * The address of a defined dynamic symbol of a shared object, relative to its
 * load base (0: none), and its size (size may be NULL).
 */
static uint64_t dynsym_value(const char *path, const char *want, uint64_t *size)
{
	Elf_Scn *scn = NULL;
	uint64_t v = 0;
	Elf *e;
	int fd;

	if (elf_version(EV_CURRENT) == EV_NONE || (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	e = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	while (e && !v && (scn = elf_nextscn(e, scn))) {
		GElf_Shdr sh;
		Elf_Data *d;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_DYNSYM || !sh.sh_entsize ||
		    !(d = elf_getdata(scn, NULL)))
			continue;
		for (size_t k = 0; k < sh.sh_size / sh.sh_entsize && !v; k++) {
			GElf_Sym sym;
			const char *n;

			if (gelf_getsym(d, (int)k, &sym) && sym.st_shndx != SHN_UNDEF &&
			    (n = elf_strptr(e, sh.sh_link, sym.st_name)) && !strcmp(n, want)) {
				v = sym.st_value;
				if (size)
					*size = sym.st_size;
			}
		}
	}
	if (e)
		elf_end(e);
	close(fd);
	return v;
}

/* What the running sampler says of itself (sampler.h); false before its constructor ran. */
static bool read_info(uint32_t pid, const char *path, uint64_t base, struct mws_info *info)
{
	uint64_t v = dynsym_value(path, MWS_INFO_SYM, NULL);

	/* Its head only: what every sampler has (its counters come after). */
	return v && base &&
	       mw_ustack_read(pid, base + v, (uint8_t *)info, MWS_INFO_HEAD) == MWS_INFO_HEAD &&
	       info->magic == MWS_INFO_MAGIC;
}

/*
 * Where the library at path keeps its table of sampled blocks (relative to
 * its load base), or 0: a sampler that does not export it, or of another
 * geometry (its size says).
 */
static uint64_t table_of(const char *path)
{
	uint64_t size = 0, v = dynsym_value(path, MWS_TABLE_SYM, &size);

	return size == sizeof(struct mws_table) ? v : 0;
}

/* The same for its ring (a sampler without one, or of another layout: 0). */
static uint64_t ring_of(const char *path)
{
	uint64_t size = 0, v = dynsym_value(path, MWS_RING_SYM, &size);

	return size == sizeof(struct mws_ring) ? v : 0;
}

int mw_msampler_attach(struct mw_mprobe *m, struct mw_mledger *ml, uint32_t pid, const char *comm,
		       bool before_libs, uint64_t *table_off, uint64_t *ring_off, char *err,
		       size_t errsz)
{
	char name[PATH_MAX], entry[PATH_MAX], path[PATH_MAX + 32], *env = NULL;
	const char *preload = NULL;
	struct mws_info info;
	size_t envlen = 0;
	uint64_t mean, base = 0;
	bool first;
	int idx = -1, ret;

	*name = '\0';
	if (mw_read_environ(pid, &env, &envlen) == 0)
		preload = mw_environ_get(env, envlen, "LD_PRELOAD");
	if (preload)
		idx = mw_msampler_in_preload(preload, entry, sizeof(entry));
	if (before_libs) {
		if (idx < 0 || !lib_name(pid, entry, name, sizeof(name)))
			*name = '\0';
	} else {
		mapped_sampler(pid, name, sizeof(name), &base);
	}
	snprintf(path, sizeof(path), "/proc/%u/root%s", pid, name);
	if (!*name) {
		first = false;
	} else if (!before_libs && read_info(pid, path, base, &info)) {
		/* Running: it says itself (the environment may have been written over). */
		first = info.interposes;
		mean = info.mean;
	} else {
		first = idx >= 0 && interposes(pid, preload, idx);
		mean = mw_msampler_mean_of(env, envlen);
	}
	free(env);
	*table_off = *ring_off = 0;
	if (!*name)
		return MW_MSAMPLER_NONE;
	if (!first)
		return MW_MSAMPLER_BYPASSED;
	/*
	 * Its samples are read from its ring where it has one (with its table: the
	 * frees), else its alloc probe fires; its frees are read from its table, and a
	 * sampler without one fires its free probe.
	 */
	*table_off = table_of(path);
	*ring_off = *table_off ? ring_of(path) : 0;
	ret = *ring_off ? mw_mprobe_add_sampler(m, pid, path, false, true) : -ENOENT;
	if (ret)
		*ring_off = 0; /* no ring probe in it: the probe path */
	if (ret)
		ret = mw_mprobe_add_sampler(m, pid, path, !*table_off, false);
	if (ret)
		return mw_fail(err, errsz, ret, "cannot attach to the sampler's probes in %s: %s",
			       name, strerror(-ret));
	/* The hold at exit(), so the last samples are unwound while the process is there. */
	ret = mw_mprobe_add_exit(m, pid, before_libs);
	if (ret < 0)
		return mw_fail(err, errsz, ret, "cannot attach the exit() probe: %s",
			       strerror(-ret));
	mw_mledger_proc(ml, pid, comm, name, before_libs ? 0 : MW_MPROC_MIDLIFE);
	mw_mledger_sampler(ml, pid, mean, *ring_off ? MW_MSAMPLER_RING : 0);
	return MW_MSAMPLER_ATTACHED;
}

/* The library next to this memwatch: installed (../lib/memwatch/), or in its build tree. */
static bool find_lib(char *out, size_t sz)
{
	static const char *const rel[] = { "/../lib/memwatch/libmemwatch-sampler.so",
					   "/.output/libmemwatch-sampler.so" };
	const char *env = getenv("MEMWATCH_SAMPLER");
	char exe[PATH_MAX], cand[PATH_MAX + 64];
	ssize_t n;

	if (sz < PATH_MAX)
		return false;
	if (env && *env)
		return realpath(env, out) != NULL;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return false;
	exe[n] = '\0';
	*strrchr(exe, '/') = '\0';
	for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
		snprintf(cand, sizeof(cand), "%s%s", exe, rel[i]);
		if (access(cand, R_OK) == 0 && realpath(cand, out))
			return true;
	}
	return false;
}

int mw_msampler_preload(char *err, size_t errsz)
{
	const char *old = getenv("LD_PRELOAD");
	char lib[PATH_MAX], *val;
	size_t len;

	if (!find_lib(lib, sizeof(lib)))
		return mw_fail(err, errsz, -1,
			       "--sampler: libmemwatch-sampler.so not found (%s, or next to "
			       "memwatch: ../lib/memwatch/, .output/); set MEMWATCH_SAMPLER",
			       getenv("MEMWATCH_SAMPLER") ? getenv("MEMWATCH_SAMPLER")
							  : "MEMWATCH_SAMPLER unset");
	/* First: it must see malloc before any allocator preloaded after it. */
	len = strlen(lib) + (old ? strlen(old) + 1 : 0) + 1;
	val = malloc(len);
	if (!val)
		return mw_fail(err, errsz, -1, "out of memory");
	snprintf(val, len, "%s%s%s", lib, old && *old ? ":" : "", old ? old : "");
	if (setenv("LD_PRELOAD", val, 1)) {
		free(val);
		return mw_fail(err, errsz, -1, "LD_PRELOAD: %s", strerror(errno));
	}
	free(val);
	return 0;
}

uint32_t mw_msampler_trim(struct mw_symbolizer *sym, uint32_t pid, uint64_t *ips, uint32_t n)
{
	struct mw_frame f[8];
	uint32_t m = n < 8 ? n : 8, k;

	for (uint32_t i = 0; i < m; i++)
		if (mw_sym_resolve_ip(sym, pid, ips[i], i > 0, &f[i]))
			memset(&f[i], 0, sizeof(f[i]));
	k = mw_msampler_skip(f, m);
	memmove(ips, ips + k, (n - k) * sizeof(*ips));
	return n - k;
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

size_t mw_msampler_slots(const uint64_t *slots, size_t nslots, uint64_t *out)
{
	size_t n = 0;

	for (size_t i = 0; i < nslots; i++)
		if (slots[i])
			out[n++] = slots[i];
	qsort(out, n, sizeof(*out), u64_cmp);
	return n;
}

int mw_msampler_table(uint32_t pid, uint64_t table_off, uint64_t **addrs, size_t *n)
{
	const size_t len = sizeof(((struct mws_table *)0)->b);
	char name[PATH_MAX];
	uint64_t base, *slots;
	struct iovec local, remote;
	ssize_t got;

	*addrs = NULL;
	*n = 0;
	mapped_sampler(pid, name, sizeof(name), &base);
	if (!*name)
		return -ENOENT; /* not mapped (yet, or no more: an exec, an exit) */
	slots = malloc(len);
	if (!slots)
		return -ENOMEM;
	local = (struct iovec){ slots, len };
	remote = (struct iovec){ (void *)(uintptr_t)(base + table_off), len };
	/* One copy, while the process runs: a slot read is a slot's value, whole (aligned
	 * words), before or after a change; one that changes meanwhile is being freed. */
	got = process_vm_readv((pid_t)pid, &local, 1, &remote, 1, 0);
	if (got != (ssize_t)len) {
		int err = got < 0 ? -errno : -EIO;

		free(slots);
		return err;
	}
	*n = mw_msampler_slots(slots, len / sizeof(*slots), slots);
	*addrs = slots;
	return 0;
}

uint64_t mw_msampler_base(uint32_t pid)
{
	char name[PATH_MAX];
	uint64_t base;

	mapped_sampler(pid, name, sizeof(name), &base);
	return base;
}

bool mw_msampler_ring_event(const struct mws_rec *r, uint32_t pid, uint32_t stack_max,
			    struct mw_event *ev)
{
	static const int dwarf[MWS_NREGS] = {
		[MWS_RIP] = 16, [MWS_RSP] = 7,	[MWS_RBP] = 6,	[MWS_RBX] = 3,
		[MWS_R12] = 12, [MWS_R13] = 13, [MWS_R14] = 14, [MWS_R15] = 15,
	};

	memset(ev, 0, sizeof(*ev));
	if (!r->weight)
		return false; /* the sampler writes none: not a record */
	ev->kind = MW_EV_MALLOC;
	ev->mono_ns = r->time_ns;
	ev->pid = pid;
	ev->tid = r->tid;
	ev->mal.fn = MW_MFN_MALLOC;
	ev->mal.addr = r->ptr;
	ev->mal.size = r->size;
	ev->mal.weight = r->weight;
	for (int i = 0; i < MWS_NREGS; i++)
		ev->mal.regs[dwarf[i]] = r->regs[i];
	ev->mal.stack = r->stack;
	ev->mal.stack_len = r->stack_len < MWS_RING_STACK ? r->stack_len : MWS_RING_STACK;
	if (ev->mal.stack_len > stack_max)
		ev->mal.stack_len = stack_max;
	return true;
}

void mw_msampler_ring_begin(struct mw_mring *c, uint64_t head, uint32_t nslots)
{
	if (c->tail > head)
		c->tail =
			head; /* a ring started afresh (cannot be: a fork's child is another pid) */
	if (head - c->tail > nslots) {
		c->lost += head - c->tail - nslots; /* written over before this read */
		c->tail = head - nslots;
	}
}

bool mw_msampler_ring_take(struct mw_mring *c, const struct mws_rec *recs, size_t k,
			   uint64_t head_after, uint32_t nslots, bool final, mw_mring_fn fn,
			   void *ctx)
{
	for (size_t i = 0; i < k; i++) {
		uint64_t pos = c->tail;

		switch (mws_ring_verdict(pos, recs[i].seq, head_after, nslots)) {
		case MWS_REC_OK:
			c->read++;
			if (!recs[i].ptr)
				c->not_kept++;
			fn(ctx, &recs[i]);
			break;
		case MWS_REC_LOST: c->lost++; break;
		case MWS_REC_PENDING:
			/*
			 * Still being written, or never to be (a writer that found its slot
			 * busy, counted by the sampler): waited for MW_MRING_STALLS reads,
			 * then lost; at once when the process is stopped.
			 */
			if (pos != c->stall_pos) {
				c->stall_pos = pos;
				c->stalls = 0;
			}
			if (!final && ++c->stalls < MW_MRING_STALLS)
				return false;
			c->lost++;
			break;
		}
		c->tail = pos + 1;
	}
	return true;
}

/* Bytes of pid's memory at addr, whole: 0, or a negative errno. */
static int peek(uint32_t pid, uint64_t addr, void *buf, size_t len)
{
	struct iovec local = { buf, len }, remote = { (void *)(uintptr_t)addr, len };
	ssize_t got = process_vm_readv((pid_t)pid, &local, 1, &remote, 1, 0);

	if (got == (ssize_t)len)
		return 0;
	return got < 0 ? -errno : -EIO;
}

/* Bytes of pid's memory at addr written, whole: 0, or a negative errno. */
static int poke(uint32_t pid, uint64_t addr, const void *buf, size_t len)
{
	struct iovec local = { (void *)buf, len }, remote = { (void *)(uintptr_t)addr, len };
	ssize_t put = process_vm_writev((pid_t)pid, &local, 1, &remote, 1, 0);

	if (put == (ssize_t)len)
		return 0;
	return put < 0 ? -errno : -EIO;
}

#define RING_CHUNK 24 /* records per copy: 100 KiB */
#define RING_PASSES 8

/* The whole records of a chunk, in order (unwound once the slots are given back). */
struct kept {
	const struct mws_rec *r[RING_CHUNK];
	size_t n;
};

static void keep_rec(void *ctx, const struct mws_rec *r)
{
	struct kept *k = ctx;

	k->r[k->n++] = r;
}

/* One pass: the header, then the records from c->tail to the head it says. 1: some read. */
static int ring_pass(uint32_t pid, uint64_t hdr, struct mw_mring *c, bool final, mw_mring_fn fn,
		     void *ctx, struct mws_rec *buf)
{
	struct mws_ring h;
	uint64_t head, after, tail0 = c->tail;
	int ret = peek(pid, hdr, &h, sizeof(h));
	struct kept got;
	bool stop;

	if (ret)
		return ret;
	if (!h.magic)
		return 0; /* its constructor has not run yet */
	if (h.magic != MWS_RING_MAGIC || h.rec_size != sizeof(struct mws_rec) || h.nslots < 2 ||
	    h.nslots > MWS_RING_MAX_SLOTS || (h.nslots & (h.nslots - 1)))
		return -EPROTO;
	c->samples = h.samples;
	c->weight = h.weight;
	c->count16 = h.count16;
	c->busy = h.busy;
	c->unmapped = h.unmapped;
	c->full = h.full;
	c->waited = h.waited;
	c->fired = h.fired;
	if (h.state != MWS_RING_READY)
		return 0;
	/* A first read goes on from where a reader before this one stopped (0: none). */
	if (!c->nslots)
		c->tail = h.tail;
	c->nslots = h.nslots;
	head = h.head;
	mw_msampler_ring_begin(c, head, h.nslots);
	while (c->tail < head) {
		uint64_t slot = c->tail & (h.nslots - 1), k = head - c->tail;

		if (k > RING_CHUNK)
			k = RING_CHUNK;
		if (k > h.nslots - slot)
			k = h.nslots - slot;
		ret = peek(pid, h.slots + slot * sizeof(*buf), buf, k * sizeof(*buf));
		/* After the copy: a writer that claimed a slot of the copy's since may be in it. */
		if (!ret)
			ret = peek(pid, hdr + offsetof(struct mws_ring, head), &after,
				   sizeof(after));
		if (ret)
			return ret;
		got.n = 0;
		stop = !mw_msampler_ring_take(c, buf, k, after, h.nslots, final, keep_rec, &got);
		/* Copied up to here: the slots are the writers' again, before the slow part. */
		ret = poke(pid, hdr + offsetof(struct mws_ring, tail), &c->tail, sizeof(c->tail));
		for (size_t i = 0; i < got.n; i++)
			fn(ctx, got.r[i]);
		if (ret || stop)
			return ret ? ret : c->tail != tail0;
	}
	return c->tail != tail0;
}

int mw_msampler_ring_read(uint32_t pid, uint64_t hdr, struct mw_mring *c, bool final,
			  mw_mring_fn fn, void *ctx)
{
	struct mws_rec *buf = malloc(RING_CHUNK * sizeof(*buf));
	int ret = -ENOMEM;

	/* Again while it had something: what was written meanwhile (a few passes at most). */
	for (int pass = 0; buf && pass < RING_PASSES; pass++) {
		ret = ring_pass(pid, hdr, c, final, fn, ctx, buf);
		if (ret <= 0)
			break;
		ret = 0;
	}
	free(buf);
	return ret < 0 ? ret : 0;
}
