// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* glibc's malloc layout from the libc's debuginfo. See glibc_layout.h. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <dwarf.h>
#include <gelf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwelf.h>
#include <elfutils/libdwfl.h>
#include "ledger/procfs.h"
#include "glibc_layout.h"

#define MAX_LIBCS 16 /* distinct libc builds remembered */

/* One libc build: the layout with its symbols at their file addresses. */
struct libc_ent {
	uint8_t bid[64];
	int bid_len;
	uint32_t status;
	struct mw_glibc_layout l;
	uint64_t load_vaddr; /* page vaddr of the PT_LOAD at file offset 0 */
};

struct mw_glibc_cache {
	struct libc_ent ents[MAX_LIBCS];
	int n;
};

struct mw_glibc_cache *mw_glibc_cache_new(void)
{
	return calloc(1, sizeof(struct mw_glibc_cache));
}

void mw_glibc_cache_free(struct mw_glibc_cache *c)
{
	free(c);
}

static bool named(Dwarf_Die *d, const char *name)
{
	const char *n = dwarf_diename(d);

	return n && !strcmp(n, name);
}

/* The offset of member name in the structure die; false if it has none. */
static bool member(Dwarf_Die *st, const char *name, uint32_t *off, Dwarf_Die *type)
{
	Dwarf_Die m;
	Dwarf_Attribute a;
	Dwarf_Word v;

	if (dwarf_child(st, &m))
		return false;
	do {
		if (dwarf_tag(&m) != DW_TAG_member || !named(&m, name))
			continue;
		if (!dwarf_attr(&m, DW_AT_data_member_location, &a) || dwarf_formudata(&a, &v))
			return false;
		*off = (uint32_t)v;
		if (type &&
		    (!dwarf_attr_integrate(&m, DW_AT_type, &a) || !dwarf_formref_die(&a, type)))
			return false;
		return true;
	} while (dwarf_siblingof(&m, &m) == 0);
	return false;
}

/* The three structures, from the compilation unit of malloc.c (arena.c is part of it). */
static bool read_types(Dwarf_Die *cu, struct mw_glibc_layout *l)
{
	Dwarf_Die d, fast;
	Dwarf_Word sz;
	int found = 0;

	l->mp_hp_pagesize = UINT32_MAX;
	if (dwarf_child(cu, &d))
		return false;
	do {
		int bytes;

		if (dwarf_tag(&d) != DW_TAG_structure_type || !dwarf_hasattr(&d, DW_AT_byte_size))
			continue;
		bytes = dwarf_bytesize(&d);
		if (named(&d, "malloc_state") && member(&d, "flags", &l->ms_flags, NULL) &&
		    member(&d, "fastbinsY", &l->ms_fastbins, &fast) &&
		    member(&d, "top", &l->ms_top, NULL) && member(&d, "next", &l->ms_next, NULL) &&
		    dwarf_aggregate_size(&fast, &sz) == 0) {
			l->ms_size = (uint32_t)bytes;
			l->nfastbins = (uint32_t)(sz / 8);
			found |= 1;
		} else if (named(&d, "_heap_info") && member(&d, "ar_ptr", &l->hi_ar_ptr, NULL) &&
			   member(&d, "prev", &l->hi_prev, NULL) &&
			   member(&d, "size", &l->hi_heap_size, NULL)) {
			l->hi_size = (uint32_t)bytes;
			found |= 2;
		} else if (named(&d, "malloc_par") &&
			   member(&d, "sbrk_base", &l->mp_sbrk_base, NULL)) {
			if (!member(&d, "hp_pagesize", &l->mp_hp_pagesize, NULL))
				l->mp_hp_pagesize = UINT32_MAX;
			found |= 4;
		}
	} while (dwarf_siblingof(&d, &d) == 0);
	return found == 7 && l->ms_size && l->nfastbins && l->nfastbins <= 64;
}

static bool is_malloc_c(Dwarf_Die *cu)
{
	const char *name = dwarf_diename(cu);
	size_t len = name ? strlen(name) : 0;

	return len >= 8 && !strcmp(name + len - 8, "malloc.c") &&
	       (len == 8 || name[len - 9] == '/');
}

/*
 * The unit of malloc.c: the one holding malloc's code (found through the
 * address ranges, no need to decode every unit), else by name.
 */
static bool find_types(Dwfl_Module *mod, Dwarf *dw, uint64_t malloc_addr, struct mw_glibc_layout *l)
{
	Dwarf_CU *cu = NULL, *next;
	Dwarf_Die cudie, sub, *at;
	uint8_t unit_type;
	Dwarf_Half version;
	Dwarf_Addr bias;

	at = malloc_addr ? dwfl_module_addrdie(mod, malloc_addr, &bias) : NULL;
	if (at && is_malloc_c(at))
		return read_types(at, l);
	while (dwarf_get_units(dw, cu, &next, &version, &unit_type, &cudie, &sub) == 0) {
		cu = next;
		if (is_malloc_c(&cudie))
			return read_types(&cudie, l);
	}
	return false;
}

/* main_arena, mp_ and tcache_key: local symbols, in the debuginfo's symbol
 * table; and where malloc's code is. */
static bool find_symbols(Dwfl_Module *mod, struct mw_glibc_layout *l, uint64_t *malloc_addr)
{
	int n = dwfl_module_getsymtab(mod);

	for (int i = 1; i < n; i++) {
		GElf_Sym sym;
		GElf_Addr addr;
		const char *name = dwfl_module_getsym_info(mod, i, &sym, &addr, NULL, NULL, NULL);

		if (name && GELF_ST_TYPE(sym.st_info) == STT_FUNC && !strcmp(name, "__libc_malloc"))
			*malloc_addr = addr;
		if (!name || GELF_ST_TYPE(sym.st_info) != STT_OBJECT)
			continue;
		if (!strcmp(name, "main_arena"))
			l->main_arena = sym.st_value;
		else if (!strcmp(name, "mp_"))
			l->mp = sym.st_value;
		else if (!strcmp(name, "tcache_key"))
			l->tcache_key = sym.st_value;
	}
	return l->main_arena && l->mp;
}

static uint64_t load_vaddr(Elf *elf)
{
	size_t phnum;

	if (elf_getphdrnum(elf, &phnum))
		return 0;
	for (size_t i = 0; i < phnum; i++) {
		GElf_Phdr ph;

		if (gelf_getphdr(elf, (int)i, &ph) && ph.p_type == PT_LOAD && ph.p_offset == 0)
			return ph.p_vaddr & ~0xfffULL;
	}
	return 0;
}

static const Dwfl_Callbacks callbacks = {
	.find_elf = dwfl_build_id_find_elf,
	.find_debuginfo = dwfl_standard_find_debuginfo,
	.section_address = dwfl_offline_section_address,
};

/* Read one libc build (fd is the session's on success, closed otherwise). */
static void read_libc(struct libc_ent *e, const char *path, int fd)
{
	Dwfl *dwfl = dwfl_begin(&callbacks);
	uint64_t malloc_addr = 0;
	Dwfl_Module *mod;
	Dwarf_Addr bias;
	Dwarf *dw;
	Elf *elf;

	e->status = MW_HEAPWALK_NO_DEBUGINFO;
	if (!dwfl) {
		close(fd);
		return;
	}
	dwfl_report_begin(dwfl);
	mod = dwfl_report_elf(dwfl, path, path, fd, 0, true);
	dwfl_report_end(dwfl, NULL, NULL);
	if (!mod) {
		close(fd);
		e->status = MW_HEAPWALK_NO_LIBC;
		dwfl_end(dwfl);
		return;
	}
	elf = dwfl_module_getelf(mod, &bias);
	e->load_vaddr = elf ? load_vaddr(elf) : 0;
	dw = dwfl_module_getdwarf(mod, &bias);
	if (dw && find_symbols(mod, &e->l, &malloc_addr) && find_types(mod, dw, malloc_addr, &e->l))
		e->status = MW_HEAPWALK_OK;
	dwfl_end(dwfl); /* closes fd */
}

int mw_glibc_layout_of(struct mw_glibc_cache *c, uint32_t pid, const char *path,
		       struct mw_glibc_layout *out)
{
	uint64_t base = 0, end = 0, bias;
	const void *bidp = NULL;
	struct libc_ent *e = NULL;
	char mapped[PATH_MAX], *text = NULL;
	int fd, bid_len, found;
	Elf *elf;

	if (!path || !*path)
		return MW_HEAPWALK_NO_LIBC;
	if (mw_read_maps_text(pid, &text))
		return -ESRCH;
	found = mw_maps_find_file(text, path, &base, &end, mapped, sizeof(mapped));
	free(text);
	if (found)
		return -ENOENT;
	path = mapped;
	fd = mw_open_mapped_file(pid, base, end, path);
	if (fd < 0)
		return MW_HEAPWALK_NO_LIBC;
	elf_version(EV_CURRENT);
	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	bid_len = elf ? dwelf_elf_gnu_build_id(elf, &bidp) : -1;
	for (int i = 0; bid_len > 0 && i < c->n; i++)
		if (c->ents[i].bid_len == bid_len && !memcmp(c->ents[i].bid, bidp, (size_t)bid_len))
			e = &c->ents[i];
	if (!e && bid_len > 0 && bid_len <= 64) {
		/* A new build: the oldest entry goes when the cache is full. */
		e = &c->ents[c->n < MAX_LIBCS ? c->n++ : 0];
		memset(e, 0, sizeof(*e));
		memcpy(e->bid, bidp, (size_t)bid_len);
		e->bid_len = bid_len;
		elf_end(elf);
		elf = NULL;
		read_libc(e, path, fd);
		fd = -1;
	}
	if (elf)
		elf_end(elf);
	if (fd >= 0)
		close(fd);
	if (!e)
		return MW_HEAPWALK_NO_DEBUGINFO; /* no build-id: no debuginfo to find */
	if (e->status)
		return e->status;
	bias = base - e->load_vaddr;
	*out = e->l;
	out->main_arena += bias;
	out->mp += bias;
	if (out->tcache_key)
		out->tcache_key += bias;
	return MW_HEAPWALK_OK;
}
