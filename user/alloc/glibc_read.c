// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * What a process's memory and libc say about its allocator at attach (see
 * alloc.h, mw_alloc_read_facts): main_arena and mp_ from libc's symbols (its
 * own .symtab, or the debuginfo file named by its build-id, as Debian's
 * libc6-dbg installs it), glibc's arena list and mapped chunks read with
 * process_vm_readv (no stop, no ptrace), and each blocked thread's stack
 * pointer from /proc/PID/task/TID/syscall. The only I/O of this folder.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/uio.h>
#include <gelf.h>
#include <libelf.h>
#include <elfutils/libdwelf.h>
#include "base/grow.h"
#include "alloc.h"
#include "arena_limit.h"
#include "ledger/procfs.h"

#define MAX_CHUNKS 65536
#define MAX_RANGES 262144
#define MAX_STACK (256ULL << 20) /* a thread stack, at most */
#define MAX_GUARD (1ULL << 20)	 /* its guard (nptl's page, HotSpot's zone) */

/* A pagemap kept open across the many reads of one attach. */
struct pagemap {
	uint32_t pid;
	int fd;
};

#define PM_PRESENT (1ULL << 63)
#define PM_SWAPPED (1ULL << 62)

/*
 * Reading must not change the process: a page never touched would be faulted
 * in by process_vm_readv (and counted in its RSS). /proc/PID/pagemap says which
 * pages are there: one never touched reads as the zeros it holds; one swapped
 * out is not read (-EAGAIN).
 */
int mw_mem_read_pid(void *ctx, uint32_t pid, uint64_t addr, void *buf, size_t len)
{
	struct pagemap *pm_fd = ctx;
	char path[64];
	int fd, err = 0;

	if (pm_fd && pm_fd->fd >= 0 && pm_fd->pid == pid) {
		fd = pm_fd->fd;
	} else {
		snprintf(path, sizeof(path), "/proc/%u/pagemap", pid);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return -errno;
		if (pm_fd) {
			if (pm_fd->fd >= 0)
				close(pm_fd->fd);
			pm_fd->fd = fd;
			pm_fd->pid = pid;
		}
	}
	for (uint64_t cur = addr; cur < addr + len && !err;) {
		uint64_t next = (cur | 4095) + 1, pm = 0,
			 n = (next < addr + len ? next : addr + len) - cur;
		struct iovec l = { .iov_base = (char *)buf + (cur - addr), .iov_len = n };
		struct iovec r = { .iov_base = (void *)(uintptr_t)cur, .iov_len = n };

		if (pread(fd, &pm, sizeof(pm), (off_t)(cur / 4096 * sizeof(pm))) != sizeof(pm))
			err = -EFAULT;
		else if (pm & PM_SWAPPED)
			err = -EAGAIN;
		else if (!(pm & PM_PRESENT))
			memset(l.iov_base, 0, n);
		else if (process_vm_readv((pid_t)pid, &l, 1, &r, 1, 0) != (ssize_t)n)
			err = -EFAULT;
		cur = next;
	}
	if (!pm_fd)
		close(fd);
	return err;
}

struct syms {
	uint64_t main_arena, main_arena_size, mp, mp_size;
};

/* main_arena and mp_ in the .symtab of the ELF file fd (local symbols). */
static bool symtab_syms(int fd, struct syms *out)
{
	Elf *e = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	Elf_Scn *scn = NULL;
	bool found = false;

	if (!e)
		return false;
	while ((scn = elf_nextscn(e, scn))) {
		GElf_Shdr sh;
		Elf_Data *d;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_SYMTAB || !sh.sh_entsize)
			continue;
		d = elf_getdata(scn, NULL);
		for (size_t i = 0; d && i < sh.sh_size / sh.sh_entsize; i++) {
			GElf_Sym sym;
			const char *name;

			if (!gelf_getsym(d, (int)i, &sym) ||
			    GELF_ST_TYPE(sym.st_info) != STT_OBJECT)
				continue;
			name = elf_strptr(e, sh.sh_link, sym.st_name);
			if (name && !strcmp(name, "main_arena")) {
				out->main_arena = sym.st_value;
				out->main_arena_size = sym.st_size;
			} else if (name && !strcmp(name, "mp_")) {
				out->mp = sym.st_value;
				out->mp_size = sym.st_size;
			}
		}
		found = out->main_arena != 0;
	}
	elf_end(e);
	return found;
}

/* libc's load address (its offset-0 mapping) minus the vaddr that maps there. */
static bool load_bias(Elf *e, uint64_t map_start, uint64_t *bias)
{
	size_t n;

	if (elf_getphdrnum(e, &n))
		return false;
	for (size_t i = 0; i < n; i++) {
		GElf_Phdr ph;

		if (gelf_getphdr(e, (int)i, &ph) && ph.p_type == PT_LOAD && ph.p_offset == 0) {
			*bias = map_start - (ph.p_vaddr & ~4095ULL);
			return true;
		}
	}
	return false;
}

/* The debuginfo file of a build-id, in the target's root, then in memwatch's. */
static int open_debuginfo(uint32_t pid, const unsigned char *id, int len)
{
	char hex[129], path[256];
	int fd;

	if (len < 2 || len > 64)
		return -1;
	for (int i = 0; i < len; i++)
		snprintf(hex + 2 * i, 3, "%02x", id[i]);
	snprintf(path, sizeof(path), "/proc/%u/root/usr/lib/debug/.build-id/%.2s/%s.debug", pid,
		 hex, hex + 2);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0)
		return fd;
	snprintf(path, sizeof(path), "/usr/lib/debug/.build-id/%.2s/%s.debug", hex, hex + 2);
	return open(path, O_RDONLY | O_CLOEXEC);
}

/* main_arena's and mp_'s addresses in the process, 0 when libc's symbols are not
 * at hand. */
static void libc_symbols(uint32_t pid, const char *maps_text, struct syms *out)
{
	uint64_t start, end, bias;
	char path[4096];
	const void *id;
	int fd, dfd, len;
	Elf *e;

	memset(out, 0, sizeof(*out));
	if (mw_maps_find_file(maps_text, "libc.so.6", &start, &end, path, sizeof(path)))
		return;
	fd = mw_open_mapped_file(pid, start, end, path);
	if (fd < 0)
		return;
	elf_version(EV_CURRENT);
	e = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (!e || !load_bias(e, start, &bias))
		goto out;
	if (!symtab_syms(fd, out)) {
		len = dwelf_elf_gnu_build_id(e, &id);
		dfd = len > 0 ? open_debuginfo(pid, id, len) : -1;
		if (dfd >= 0) {
			symtab_syms(dfd, out);
			close(dfd);
		}
	}
	/* Only the layout this code knows. */
	if (out->main_arena_size != MW_GLIBC_STATE_SIZE)
		out->main_arena = 0;
	if (out->main_arena)
		out->main_arena += bias;
	if (out->mp)
		out->mp += bias;
out:
	if (e)
		elf_end(e);
	close(fd);
}

/* The default huge page size (glibc's hugetlb=2), from /proc/meminfo. */
static uint64_t default_hugepage(void)
{
	char line[128];
	unsigned long long kb = 0;
	FILE *f = fopen("/proc/meminfo", "re");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "Hugepagesize: %llu kB", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb * 1024;
}

/* The mappings of maps text one per line (the kernel's VMAs, unmerged). */
static size_t vmas_of(const char *maps, struct mw_region **out)
{
	size_t n = 0, cap = 0;

	*out = NULL;
	for (const char *line = maps; line && *line;) {
		const char *nl = strchr(line, '\n');
		struct mw_region g;

		if (!mw_maps_parse_line(line, &g) && !mw_grow(out, n, &cap, sizeof(**out), 64))
			(*out)[n++] = g;
		line = nl ? nl + 1 : NULL;
	}
	return n;
}

static bool anon_private(const struct mw_region *g)
{
	return !g->name &&
	       !(g->flags & (MW_RF_FILE | MW_RF_SHARED | MW_RF_HEAP | MW_RF_STACK | MW_RF_SPECIAL));
}

/*
 * The stack a blocked thread's stack pointer is in: an anonymous read-write
 * mapping right above its PROT_NONE guard (nptl's, with HotSpot's zone over it
 * in a JVM). A stack pointer elsewhere (a goroutine's stack inside Go's heap)
 * names no mapping: nothing is claimed.
 */
static bool stack_of(const struct mw_region *v, size_t n, uint64_t sp, struct mw_stack_range *k)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (v[mid].end <= sp)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == n || lo == 0 || v[lo].start > sp || !anon_private(&v[lo]) ||
	    v[lo].prot != (PROT_READ | PROT_WRITE) || v[lo].end - v[lo].start > MAX_STACK)
		return false;
	if (v[lo - 1].end != v[lo].start || !anon_private(&v[lo - 1]) || v[lo - 1].prot ||
	    v[lo - 1].end - v[lo - 1].start > MAX_GUARD)
		return false;
	*k = (struct mw_stack_range){ v[lo - 1].start, v[lo].start, v[lo].end };
	return true;
}

/* vm.overcommit_memory is 2 (jemalloc then maps without MAP_NORESERVE). */
static bool overcommit_never(void)
{
	char c = 0;
	int fd = open("/proc/sys/vm/overcommit_memory", O_RDONLY | O_CLOEXEC);

	if (fd >= 0) {
		if (read(fd, &c, 1) != 1)
			c = 0;
		close(fd);
	}
	return c == '2';
}

static bool push_range(struct mw_range **v, size_t *n, size_t *cap, uint64_t start, uint64_t end)
{
	if (*n >= MAX_RANGES || mw_grow(v, *n, cap, sizeof(**v), 16))
		return false;
	(*v)[(*n)++] = (struct mw_range){ start, end - start };
	return true;
}

/* The anonymous private read-write mappings mapped MAP_NORESERVE (smaps VmFlags
 * "nr"): jemalloc's extents. */
static void noreserve_vmas(uint32_t pid, struct mw_alloc_facts *f)
{
	char path[64], *line = NULL;
	unsigned long long s = 0, e = 0;
	bool cand = false;
	size_t len = 0, cap = 0;
	FILE *in;

	snprintf(path, sizeof(path), "/proc/%u/smaps", pid);
	in = fopen(path, "re");
	if (!in)
		return;
	while (getline(&line, &len, in) > 0) {
		unsigned long long ls, le;
		char perms[8], name[2];

		/* A mapping's line (sscanf writes what it matched, even on a line it
		 * then rejects: hence ls, le); anonymous ones have no name field. */
		if (sscanf(line, "%llx-%llx %7s", &ls, &le, perms) == 3) {
			s = ls;
			e = le;
			cand = !strcmp(perms, "rw-p") &&
			       sscanf(line, "%*s %*s %*s %*s %*s %1s", name) != 1;
			continue;
		}
		if (!strncmp(line, "VmFlags:", 8)) {
			if (cand && strstr(line, " nr") &&
			    !push_range(&f->noreserve, &f->nnoreserve, &cap, s, e))
				break;
			cand = false;
		}
	}
	f->vmflags = !ferror(in);
	free(line);
	fclose(in);
}

/* Anonymous read-write mappings that are no allocator's by position: right above
 * a PROT_NONE mapping (a thread stack over its guard), right after a file's
 * writable private mapping (its .bss). */
static void foreign_vmas(const struct mw_region *v, size_t n, struct mw_alloc_facts *f)
{
	size_t cap = 0;

	for (size_t i = 1; i < n; i++) {
		const struct mw_region *g = &v[i], *b = &v[i - 1];

		if (!anon_private(g) || g->prot != (PROT_READ | PROT_WRITE) || b->end != g->start)
			continue;
		if ((anon_private(b) && !b->prot) ||
		    ((b->flags & MW_RF_FILE) && !(b->flags & MW_RF_SHARED) &&
		     (b->prot & PROT_WRITE)))
			if (!push_range(&f->foreign, &f->nforeign, &cap, g->start, g->end))
				return;
	}
}

/* Each blocked thread's user stack pointer ("nr args... sp pc" in task/TID/syscall),
 * and the stack it is in. */
static void thread_stacks(uint32_t pid, const struct mw_region *v, size_t nv,
			  struct mw_alloc_facts *f)
{
	uint32_t *tids = NULL;
	size_t n = 0;

	if (mw_list_tids(pid, &tids, &n))
		return;
	f->stacks = calloc(n ? n : 1, sizeof(*f->stacks));
	for (size_t i = 0; f->stacks && i < n; i++) {
		char path[64], buf[512], *tok, *save = NULL, *prev = NULL, *last = NULL;
		struct mw_stack_range k;
		bool dup = false;
		ssize_t len;
		int fd;

		snprintf(path, sizeof(path), "/proc/%u/task/%u/syscall", pid, tids[i]);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		len = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (len <= 0)
			continue;
		buf[len] = '\0';
		if (!strncmp(buf, "running", 7))
			continue; /* on a CPU in user space: no registers to read */
		for (tok = strtok_r(buf, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save)) {
			prev = last;
			last = tok;
		}
		if (!prev || !stack_of(v, nv, strtoull(prev, NULL, 0), &k))
			continue;
		for (size_t j = 0; j < f->nstacks; j++)
			dup |= f->stacks[j].start == k.start;
		if (!dup)
			f->stacks[f->nstacks++] = k;
	}
	free(tids);
}

int mw_alloc_read_facts(uint32_t pid, const char *maps_text, const struct mw_regions *maps,
			const char *env, size_t envlen, struct mw_alloc_facts *f)
{
	struct pagemap pm = { .fd = -1 };
	const struct mw_mem live_mem = { .read = mw_mem_read_pid, .ctx = &pm };
	unsigned long hugetlb = env ? mw_glibc_hugetlb(env, envlen) : 0;
	uint64_t heap_max = 0, hp = 0, mp_hp;
	struct mw_region *v = NULL;
	struct syms sy;
	size_t nv;
	int err;

	memset(f, 0, sizeof(*f));
	if (hugetlb >= 2)
		hp = hugetlb == 2 ? default_hugepage() : hugetlb;
	libc_symbols(pid, maps_text, &sy);
	/* glibc's own setting, when its symbols say where it is. */
	if (sy.mp && sy.mp_size == MW_GLIBC_MP_SIZE &&
	    !mw_mem_read_pid(NULL, pid, sy.mp + MW_GLIBC_MP_HP_PAGESIZE, &mp_hp, sizeof(mp_hp)))
		hp = mp_hp;
	if (hp && !(hp & (hp - 1)))
		heap_max = 4 * hp;
	mw_glibc_arenas_read(&live_mem, pid, maps, sy.main_arena, heap_max, &f->arenas);
	/* A list that kept changing under the walk: the heaps' own layout may still do. */
	if (f->arenas.how == MW_ARENAS_UNKNOWN && sy.main_arena)
		mw_glibc_arenas_read(&live_mem, pid, maps, 0, heap_max, &f->arenas);
	err = mw_glibc_find_chunks(&live_mem, pid, maps, &f->chunks, &f->nchunks, MAX_CHUNKS);
	if (pm.fd >= 0)
		close(pm.fd);
	if (err)
		return err;
	nv = vmas_of(maps_text, &v);
	thread_stacks(pid, v, nv, f);
	foreign_vmas(v, nv, f);
	free(v);
	f->overcommit_never = overcommit_never();
	/* smaps costs the kernel a walk of every page table: only where it says whose
	 * memory is whose. */
	if (strstr(maps_text, "/libjemalloc.so") ||
	    (env && mw_environ_get(env, envlen, "LD_PRELOAD") &&
	     strstr(mw_environ_get(env, envlen, "LD_PRELOAD"), "libjemalloc")))
		noreserve_vmas(pid, f);
	return 0;
}
