// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The symbolizer: the cache in front of the unwinder, symbol and line lookup
 * in the shared modules, and the per-process state's lifetime. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <dwarf.h>
#include <gelf.h>
#include <elfutils/libdw.h>
#include "ustack_int.h"

#define US_CACHE_SETS 1024 /* x MW_UCACHE_WAYS unwinds */

/* libsupc++'s demangler (linked statically; C has no <cxxabi.h>). */
char *__cxa_demangle(const char *mangled, char *out, size_t *len, int *status);

struct mw_symbolizer *mw_sym_new(void)
{
	struct mw_symbolizer *s;

	if (elf_version(EV_CURRENT) == EV_NONE)
		return NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->resolved = calloc(US_MAX_RESOLVED, sizeof(*s->resolved));
	if (!s->resolved) {
		free(s);
		return NULL;
	}
	mw_ucache_init(&s->cache, US_CACHE_SETS);
	return s;
}

void mw_sym_free(struct mw_symbolizer *s)
{
	if (!s)
		return;
	/* Processes first: their sessions hold references to the modules' Elfs. */
	while (s->procs) {
		struct us_proc *p = s->procs;

		s->procs = p->next;
		us_proc_free(p);
	}
	us_mod_free_all(s);
	mw_ucache_free(&s->cache);
	for (int i = 0; i < US_STR_BUCKETS; i++) {
		while (s->strs[i]) {
			struct us_str *e = s->strs[i];

			s->strs[i] = e->next;
			free(e);
		}
	}
	free(s->resolved);
	free(s);
}

void mw_sym_cache_enable(struct mw_symbolizer *s, int on)
{
	if (s)
		s->cache_off = !on;
}

void mw_sym_jit_recheck(struct mw_symbolizer *s, uint32_t pid)
{
	for (struct us_proc *p = s ? s->procs : NULL; p; p = p->next)
		if (p->pid == pid)
			p->jit.tried = false;
}

void mw_sym_invalidate(struct mw_symbolizer *s, uint32_t pid)
{
	struct us_proc **pp, *p;

	for (pp = &s->procs; (p = *pp); pp = &p->next) {
		if (p->pid == pid) {
			*pp = p->next;
			us_proc_free(p);
			s->nprocs--;
			break;
		}
	}
	mw_ucache_drop_pid(&s->cache, pid);
}

int mw_sym_unwind(struct mw_symbolizer *s, const struct mw_ustack_capture *c, uint64_t *ips,
		  size_t max)
{
	uint32_t offs_here[MW_UCACHE_MAXF], *offs = offs_here;
	enum mw_ucache_stop stop;
	struct us_proc *p;
	uint32_t read_end;
	bool cacheable;
	size_t n;
	int err;

	if (!s || !c || !ips || max == 0 || (c->stack_len && !c->stack))
		return -EINVAL;
	if (max > US_MAX_FRAMES)
		max = US_MAX_FRAMES;
	s->st.unwinds++;
	s->last_top = 0;
	n = s->cache_off ? 0
			 : mw_ucache_lookup(&s->cache, c->pid, c->regs[16], c->stack, c->stack_len,
					    ips, max);
	if (n) {
		if (s->cache.hit_read_end)
			s->last_top = c->regs[7] + s->cache.hit_read_end;
		return (int)n;
	}
	p = us_proc_get(s, c->pid, &err);
	if (!p) {
		ips[0] = c->regs[16];
		return err == -ESRCH ? -ESRCH : 1;
	}
	if (max > MW_UCACHE_MAXF) {
		offs = malloc(max * sizeof(*offs));
		if (!offs)
			return -ENOMEM;
	}
	s->st.full_unwinds++;
	n = (size_t)us_unwind_full(p, c, ips, offs, max, &stop, &cacheable);
	read_end = stop == MW_UCACHE_END && !p->read_failed ? p->read_end : 0;
	if (read_end)
		s->last_top = c->regs[7] + read_end;
	/* Longer unwinds than an entry holds are not cached. */
	if (cacheable && !s->cache_off && n <= MW_UCACHE_MAXF)
		mw_ucache_insert(&s->cache, c->pid, ips, offs, n, stop, c->stack_len, read_end);
	if (offs != offs_here)
		free(offs);
	return (int)n;
}

static int by_off(const void *a, const void *b)
{
	uint32_t x = ((const struct us_read *)a)->off, y = ((const struct us_read *)b)->off;

	return x < y ? -1 : x > y;
}

/* One unwind of c from some registers (p->min_regs): the frames when it read only inside
 * the copy and did not stop where the copy ran out, and then the words it read (p->log). */
static int unwind_min(struct us_proc *p, const struct mw_ustack_capture *c, uint64_t *ips,
		      size_t max, uint8_t min_regs)
{
	uint32_t offs[US_MAX_FRAMES];
	enum mw_ucache_stop stop;
	bool cacheable;
	int n;

	p->min_regs = min_regs;
	n = us_unwind_full(p, c, ips, offs, max, &stop, &cacheable);
	p->min_regs = 0;
	if (stop == MW_UCACHE_COPY || p->read_failed || p->nlog >= US_LOG_MAX)
		return -EAGAIN;
	return n;
}

/* Did the unwind just made read only words of r? */
static bool reads_within(const struct us_proc *p, const struct mw_ustack_reads *r)
{
	for (unsigned int i = 0; i < p->nlog; i++) {
		uint32_t k = 0;

		while (k < r->n && r->offs[k] != p->log[i].off)
			k++;
		if (k == r->n)
			return false;
	}
	return true;
}

int mw_sym_unwind_reads(struct mw_symbolizer *s, const struct mw_ustack_capture *c, uint64_t *ips,
			size_t max, struct mw_ustack_reads *r)
{
	struct mw_ustack_capture alt = *c;
	uint64_t again[US_MAX_FRAMES];
	struct us_read log[US_LOG_MAX];
	unsigned int nlog;
	struct us_proc *p;
	uint8_t *copy, mode = US_REGS_IP_SP;
	uint32_t keep = 0;
	int n, err;

	if (!s || !c || !ips || !r || max == 0 || !c->stack || !c->stack_len)
		return -EINVAL;
	if (max > US_MAX_FRAMES)
		max = US_MAX_FRAMES;
	p = us_proc_get(s, c->pid, &err);
	if (!p)
		return err ? err : -ESRCH;
	s->st.full_unwinds++;
	/* rip and rsp alone; where that is not enough, rbp too (frames that keep it). */
	n = unwind_min(p, c, ips, max, mode);
	if (n < 0) {
		mode = US_REGS_IP_SP_BP;
		n = unwind_min(p, c, ips, max, mode);
	}
	if (n < 0)
		return n;
	nlog = p->nlog;
	memcpy(log, p->log, nlog * sizeof(*log));
	qsort(log, nlog, sizeof(*log), by_off);
	r->n = 0;
	for (unsigned int i = 0; i < nlog; i++) {
		if (r->n && r->offs[r->n - 1] == log[i].off)
			continue;
		if (r->n == MW_USTACK_READS_MAX)
			return -E2BIG;
		r->offs[r->n] = log[i].off;
		r->vals[r->n++] = log[i].val;
	}
	if (!r->n || r->offs[r->n - 1] + 8 > c->stack_len)
		return -EAGAIN;
	/*
	 * A word read is not always a word used: each frame's saved registers are read, most of
	 * them never used again (a loop counter a caller keeps in rbx). Each word is changed in
	 * turn (two ways): where the unwind still gives the same frames and reads no other word,
	 * its value did not matter, and it is left out of the hint.
	 */
	copy = malloc(c->stack_len);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, c->stack, c->stack_len);
	alt.stack = copy;
	for (uint32_t i = 0; i < r->n; i++) {
		static const uint64_t flip[2] = { 0x5a5a5a5a5a5a5a5aull, 0xfff0000000000ff8ull };
		bool used = false;

		for (int k = 0; k < 2 && !used; k++) {
			uint64_t w = r->vals[i] ^ flip[k];
			int m;

			memcpy(copy + r->offs[i], &w, sizeof(w));
			m = unwind_min(p, &alt, again, max, mode);
			used = m != n || memcmp(again, ips, (size_t)n * sizeof(*ips)) ||
			       !reads_within(p, r);
		}
		memcpy(copy + r->offs[i], &r->vals[i], sizeof(r->vals[i]));
		if (used) {
			r->offs[keep] = r->offs[i];
			r->vals[keep++] = r->vals[i];
		}
	}
	free(copy);
	if (!keep)
		return -EAGAIN;
	r->n = keep;
	r->span = r->offs[keep - 1] + 8;
	r->need_bp = mode == US_REGS_IP_SP_BP;
	return n;
}

uint64_t mw_sym_proc_serial(const struct mw_symbolizer *s, uint32_t pid)
{
	for (const struct us_proc *p = s ? s->procs : NULL; p; p = p->next)
		if (p->pid == pid)
			return p->serial;
	return 0;
}

uint64_t mw_sym_last_top(const struct mw_symbolizer *s)
{
	return s ? s->last_top : 0;
}

static struct us_resolved *slot_of(struct mw_symbolizer *s, const struct us_mod *m, uint64_t key)
{
	uint64_t h = (key ^ (uintptr_t)m) * 0x9e3779b97f4a7c15ull;

	return &s->resolved[(h >> 40) % US_MAX_RESOLVED];
}

/* The name to show: without a symbol version ("__libc_start_main@@GLIBC_2.34"
 * in Debian's debug symtabs), C++ names demangled. Owned by s or by the ELF. */
static const char *nice_name(struct mw_symbolizer *s, const char *name)
{
	const char *at = strchr(name, '@'), *orig = name, *out = name;
	char *plain = NULL, *dem;
	int status = -1;

	if (at && at != name) {
		plain = strndup(name, (size_t)(at - name));
		if (!plain)
			return orig;
		name = plain;
		out = us_intern(s, plain, strlen(plain));
	}
	if (name[0] == '_' && name[1] == 'Z') {
		dem = __cxa_demangle(name, NULL, NULL, &status);
		if (dem && status == 0) {
			const char *d = us_intern(s, dem, strlen(dem));

			if (d)
				out = d;
		}
		free(dem);
	}
	free(plain);
	return out ? out : orig; /* orig: past the string budget */
}

/* The innermost inlined function at look, if look is in inlined code: the
 * line table gives that function's line, so the name must be its name too
 * (a leaking helper inlined into main is reported as the helper). */
static const char *inlined_name(Dwfl_Module *dm, uint64_t look)
{
	Dwarf_Die *cu, *scopes = NULL;
	const char *name = NULL;
	Dwarf_Addr bias;
	int n;

	cu = dwfl_module_addrdie(dm, look, &bias);
	if (!cu)
		return NULL;
	n = dwarf_getscopes(cu, look - bias, &scopes);
	for (int i = 0; i < n; i++) {
		int tag = dwarf_tag(&scopes[i]);

		if (tag == DW_TAG_inlined_subroutine) {
			Dwarf_Attribute a;

			name = dwarf_formstring(
				dwarf_attr_integrate(&scopes[i], DW_AT_linkage_name, &a));
			if (!name)
				name = dwarf_diename(&scopes[i]);
			break;
		}
		if (tag == DW_TAG_subprogram)
			break;
	}
	free(scopes);
	return name;
}

/* Symbol and line of rel (a file vaddr of m); look is the address looked up. */
static void lookup(struct mw_symbolizer *s, struct us_mod *m, uint64_t look, struct us_resolved *r)
{
	GElf_Off off = 0;
	GElf_Sym sym;
	const char *name;
	Dwfl_Line *line;

	name = dwfl_module_addrinfo(m->dm, look, &off, &sym, NULL, NULL, NULL);
	r->sym_start = name ? look - off : 0;
	r->func = NULL;
	if (name) {
		const char *inl = m->no_dwarf ? NULL : inlined_name(m->dm, look);

		r->func = nice_name(s, inl ? inl : name);
	}
	r->file = NULL;
	r->line = 0;
	line = m->no_dwarf ? NULL : dwfl_module_getsrc(m->dm, look);
	if (line) {
		int lineno = 0;
		const char *file = dwfl_lineinfo(line, NULL, &lineno, NULL, NULL, NULL);

		if (file && lineno > 0) {
			r->file = file;
			r->line = lineno;
		}
	}
}

static int resolve(struct mw_symbolizer *s, uint32_t pid, uint64_t addr, int is_return,
		   struct mw_frame *f)
{
	const struct us_pmod *pm;
	struct us_resolved *r;
	struct us_proc *p;
	uint64_t rel, key;
	int err;

	memset(f, 0, sizeof(*f));
	f->addr = addr;
	if (!s)
		return -EINVAL;
	s->st.resolves++;
	p = us_proc_get(s, pid, &err);
	if (!p)
		return err;
	pm = us_proc_module(p, addr);
	if (!pm) {
		/* Outside every file: JIT-compiled code, named by the runtime's perf map. */
		f->func = us_proc_jit_name(s, p, addr);
		f->jit = f->func != NULL;
		return 0;
	}
	f->module = pm->path;
	if (!pm->mod) {
		/* The file is not readable: its offset is what the maps say. */
		if (addr >= pm->exec_start && addr < pm->exec_end) {
			f->rel = addr - pm->exec_start + pm->exec_off;
			f->rel_kind = MW_REL_FILE;
		}
		return 0;
	}
	rel = addr - pm->bias;
	f->rel = rel;
	f->rel_kind = MW_REL_VADDR;
	f->build_id = pm->mod->bid_hex;
	key = rel | (is_return ? 1ull << 63 : 0);
	r = slot_of(s, pm->mod, key);
	if (r->mod == pm->mod && r->rel == key) {
		s->st.resolve_hits++;
	} else {
		if (r->mod)
			s->st.resolve_evictions++;
		r->mod = pm->mod;
		r->rel = key;
		/* A return address follows its call: addr - 1 is in the calling line. */
		lookup(s, pm->mod, is_return && rel ? rel - 1 : rel, r);
	}
	f->func = r->func;
	f->file = r->file;
	f->line = r->line;
	f->offset = r->func ? rel - r->sym_start : 0;
	return 0;
}

int mw_sym_resolve_ip(struct mw_symbolizer *s, uint32_t pid, uint64_t addr, int is_return,
		      struct mw_frame *f)
{
	return resolve(s, pid, addr, is_return, f);
}

/* Without the caller's word, an address is taken as a return address unless
 * it is the first byte of a function (a probed entry: ips[0] at a uprobe). */
int mw_sym_resolve(struct mw_symbolizer *s, uint32_t pid, uint64_t addr, struct mw_frame *f)
{
	int err = resolve(s, pid, addr, 0, f);

	if (err || (f->func && f->offset == 0))
		return err;
	return resolve(s, pid, addr, 1, f);
}

void mw_sym_stats(const struct mw_symbolizer *s, struct mw_sym_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (!s)
		return;
	out->unwinds = s->st.unwinds;
	out->full_unwinds = s->st.full_unwinds;
	out->cache_hits = s->cache.st.hits;
	out->cache_evictions = s->cache.st.evictions;
	out->cache_entries = s->cache.st.entries;
	out->cache_bytes = s->cache.st.bytes;
	out->resolves = s->st.resolves;
	out->resolve_hits = s->st.resolve_hits;
	out->resolve_evictions = s->st.resolve_evictions;
	out->procs = s->nprocs;
	out->proc_evictions = s->st.proc_evictions;
	out->modules = s->nmods;
	out->module_shared = s->st.mod_shared;
	out->module_failed = s->st.mod_failed + s->st.mod_dropped;
}

uint32_t mw_ustack_read(uint32_t pid, uint64_t addr, uint8_t *buf, uint32_t len)
{
	uint32_t got = 0;

	while (got < len) {
		size_t chunk = 4096 - ((addr + got) & 4095);
		struct iovec l, r;
		ssize_t n;

		if (chunk > len - got)
			chunk = len - got;
		l.iov_base = buf + got;
		l.iov_len = chunk;
		r.iov_base = (void *)(uintptr_t)(addr + got);
		r.iov_len = chunk;
		n = process_vm_readv((pid_t)pid, &l, 1, &r, 1, 0);
		if (n <= 0)
			break;
		got += (uint32_t)n;
	}
	return got;
}
