// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The module store: each ELF file opened once per build-id, whichever process
 * maps it, through that process's /proc/PID/map_files (targets in another
 * mount namespace) or /proc/PID/root. Its debuginfo is found by libdwfl's
 * standard search: build-id under /usr/lib/debug/.build-id, then debuglink. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <elfutils/libdwelf.h>
#include <gelf.h>
#include "ustack_int.h"

#define PAGE_MASK_4K (~(uint64_t)0xfff)

const char *us_intern(struct mw_symbolizer *s, const char *str, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull;
	struct us_str *e, **b;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (uint8_t)str[i]) * 0x100000001b3ull;
	b = &s->strs[h % US_STR_BUCKETS];
	for (e = *b; e; e = e->next)
		if (!strncmp(e->s, str, len) && e->s[len] == '\0')
			return e->s;
	if (s->str_bytes + len + 1 > US_MAX_STRINGS)
		return NULL;
	e = malloc(sizeof(*e) + len + 1);
	if (!e)
		return NULL;
	memcpy(e->s, str, len);
	e->s[len] = '\0';
	e->next = *b;
	*b = e;
	s->str_bytes += len + 1;
	return e->s;
}

/* Open the file of um as pid sees it: map_files names the exact mapped file
 * (needs CAP_SYS_ADMIN or ptrace rights); the root path is checked against
 * the inode in maps, so a file replaced since (an upgrade) is not used. */
static int open_mapped(uint32_t pid, const struct mw_umod *um)
{
	char path[PATH_MAX + 64];
	struct stat st;
	int fd;

	snprintf(path, sizeof(path), "/proc/%u/map_files/%" PRIx64 "-%" PRIx64, pid,
		 um->first_start, um->first_end);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0)
		return fd;
	snprintf(path, sizeof(path), "/proc/%u/root%s", pid, um->path);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) || st.st_ino != um->inode) {
		close(fd);
		return -ESTALE;
	}
	return fd;
}

static bool same_key(const struct us_mod *m, const uint8_t *bid, int bid_len, const char *key)
{
	if (bid_len)
		return m->bid_len == bid_len && !memcmp(m->bid, bid, (size_t)bid_len);
	return m->key && key && !strcmp(m->key, key);
}

static void load_segments(struct us_mod *m)
{
	size_t phnum;

	if (elf_getphdrnum(m->elf, &phnum))
		return;
	for (size_t i = 0; i < phnum; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(m->elf, (int)i, &ph) || ph.p_type != PT_LOAD)
			continue;
		if (m->nload < US_MAX_SEGS) {
			m->page_vaddr[m->nload] = ph.p_vaddr & PAGE_MASK_4K;
			m->page_off[m->nload] = ph.p_offset & PAGE_MASK_4K;
			m->page_len[m->nload] = ph.p_offset + ph.p_filesz - m->page_off[m->nload];
			m->nload++;
		}
		/* Writable data differs at run time from the file: never read it. */
		if (!(ph.p_flags & PF_W) && m->nsegs < US_MAX_SEGS) {
			m->segs[m->nsegs].vaddr = ph.p_vaddr;
			m->segs[m->nsegs].filesz = ph.p_filesz;
			m->segs[m->nsegs].off = ph.p_offset;
			m->nsegs++;
		}
	}
}

static const Dwfl_Callbacks mod_callbacks = {
	.find_elf = dwfl_build_id_find_elf,
	.find_debuginfo = dwfl_standard_find_debuginfo,
	.section_address = dwfl_offline_section_address,
};

struct us_mod *us_mod_get(struct mw_symbolizer *s, uint32_t pid, const struct mw_umod *um)
{
	const void *bidp = NULL;
	uint8_t bid[64];
	int bid_len = 0, fd;
	char key[PATH_MAX + 64];
	struct us_mod *m;
	Elf *elf;
	GElf_Ehdr eh;
	GElf_Addr bias;

	fd = open_mapped(pid, um);
	if (fd < 0) {
		s->st.mod_failed++;
		return NULL;
	}
	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (!elf || elf_kind(elf) != ELF_K_ELF) {
		if (elf)
			elf_end(elf);
		close(fd);
		s->st.mod_failed++;
		return NULL;
	}
	bid_len = dwelf_elf_gnu_build_id(elf, &bidp);
	if (bid_len > (int)sizeof(bid) || bid_len < 0)
		bid_len = 0;
	if (bid_len)
		memcpy(bid, bidp, (size_t)bid_len);
	elf_end(elf);
	snprintf(key, sizeof(key), "%u:%u:%" PRIu64 ":%s", um->dev_major, um->dev_minor, um->inode,
		 um->path);
	for (m = s->mods; m; m = m->next) {
		if (same_key(m, bid, bid_len, key)) {
			close(fd);
			s->st.mod_shared++;
			return m;
		}
	}
	if (s->nmods >= US_MAX_MODS) {
		close(fd);
		s->st.mod_dropped++;
		return NULL;
	}
	m = calloc(1, sizeof(*m));
	if (!m || (!bid_len && !(m->key = strdup(key))))
		goto fail;
	m->bid_len = bid_len;
	memcpy(m->bid, bid, (size_t)bid_len);
	if (bid_len) {
		char hex[2 * sizeof(bid) + 1];

		for (int i = 0; i < bid_len; i++)
			snprintf(hex + 2 * i, 3, "%02x", bid[i]);
		m->bid_hex = us_intern(s, hex, (size_t)bid_len * 2);
	}
	m->dwfl = dwfl_begin(&mod_callbacks);
	if (!m->dwfl)
		goto fail;
	dwfl_report_begin(m->dwfl);
	/* base 0 with add_p_vaddr: the module sits at its own vaddrs (bias 0).
	 * um->path names the file for the debuglink search. On success the
	 * session owns fd (closed by dwfl_end); it stays the module's fd. */
	m->dm = dwfl_report_elf(m->dwfl, um->path, um->path, fd, 0, true);
	dwfl_report_end(m->dwfl, NULL, NULL);
	if (!m->dm)
		goto fail;
	m->fd = fd;
	fd = -1;
	m->elf = dwfl_module_getelf(m->dm, &bias);
	if (!m->elf || !gelf_getehdr(m->elf, &eh))
		goto fail;
	m->is_exec = eh.e_type == ET_EXEC;
	m->no_dwarf = us_mod_symbols_only(um->path);
	load_segments(m);
	m->next = s->mods;
	s->mods = m;
	s->nmods++;
	s->st.mod_opens++;
	return m;
fail:
	if (fd >= 0)
		close(fd);
	if (m) {
		if (m->dwfl)
			dwfl_end(m->dwfl);
		free(m->key);
		free(m);
	}
	s->st.mod_failed++;
	return NULL;
}

/*
 * glibc's libc holds the probed functions (every --malloc stack starts there) and the
 * syscall wrappers: its debuginfo (libc6-dbg) names its local functions through its
 * symbol table, which is cheap, but opening its DWARF for file:line and inlined names
 * makes libdw decompress every debug section, 10 MB of memwatch's heap kept for the
 * whole run (plus the 4 MB file read in). A line inside glibc's malloc is not what an
 * operator looks for, so libc's frames carry the function and the address only.
 */
bool us_mod_symbols_only(const char *path)
{
	const char *base = path ? strrchr(path, '/') : NULL;

	base = base ? base + 1 : path;
	return base && (!strncmp(base, "libc.so", 7) || !strncmp(base, "libc-", 5));
}

void us_mod_free_all(struct mw_symbolizer *s)
{
	while (s->mods) {
		struct us_mod *m = s->mods;

		s->mods = m->next;
		dwfl_end(m->dwfl); /* closes m->fd */
		free(m->key);
		free(m);
	}
	s->nmods = 0;
}

/*
 * The loader maps each PT_LOAD at its vaddr plus the bias. A file mapped
 * otherwise (node remaps part of its own text elsewhere, at an offset inside a
 * segment) has the bias that puts that offset at the vaddr it has in the file;
 * that holds for a non-PIE executable too.
 */
uint64_t us_mod_bias(const struct us_mod *m, uint64_t start, uint64_t off)
{
	for (int i = 0; i < m->nload; i++)
		if (m->page_off[i] == (off & PAGE_MASK_4K))
			return start - m->page_vaddr[i];
	for (int i = 0; i < m->nload; i++)
		if (off >= m->page_off[i] && off - m->page_off[i] < m->page_len[i])
			return start - (m->page_vaddr[i] + (off - m->page_off[i]));
	if (m->is_exec)
		return 0;
	return start - (m->nload ? m->page_vaddr[0] : 0);
}

bool us_mod_read(const struct us_mod *m, uint64_t rel, uint64_t *val)
{
	size_t size;
	const char *raw;

	for (int i = 0; i < m->nsegs; i++) {
		const struct us_seg *g = &m->segs[i];

		if (rel < g->vaddr || rel + sizeof(*val) > g->vaddr + g->filesz)
			continue;
		raw = elf_rawfile(m->elf, &size);
		if (!raw || g->off + (rel - g->vaddr) + sizeof(*val) > size)
			return false;
		memcpy(val, raw + g->off + (rel - g->vaddr), sizeof(*val));
		return true;
	}
	return false;
}
