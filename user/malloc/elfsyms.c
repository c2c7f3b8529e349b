// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* ELF symbol lookups for attaching allocator probes (libelf, no DWARF). */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>
#include "elfsyms.h"

static int open_elf(const char *path, int *fd, Elf **e)
{
	if (elf_version(EV_CURRENT) == EV_NONE)
		return -EINVAL;
	*fd = open(path, O_RDONLY | O_CLOEXEC);
	if (*fd < 0)
		return -errno;
	*e = elf_begin(*fd, ELF_C_READ_MMAP, NULL);
	if (!*e || elf_kind(*e) != ELF_K_ELF) {
		if (*e)
			elf_end(*e);
		close(*fd);
		return -ENOEXEC;
	}
	return 0;
}

static bool name_is(const char *sym, const char *want)
{
	size_t n = strlen(want);

	return !strncmp(sym, want, n) && (sym[n] == '\0' || sym[n] == '@');
}

int mw_elf_find_funcs(const char *path, const char *const *names, size_t n, uint64_t *addr)
{
	Elf_Scn *scn = NULL;
	int fd, found = 0, err;
	Elf *e;

	memset(addr, 0, n * sizeof(*addr));
	err = open_elf(path, &fd, &e);
	if (err)
		return err;
	while ((scn = elf_nextscn(e, scn))) {
		GElf_Shdr sh;
		Elf_Data *d;

		if (!gelf_getshdr(scn, &sh) ||
		    (sh.sh_type != SHT_DYNSYM && sh.sh_type != SHT_SYMTAB))
			continue;
		d = elf_getdata(scn, NULL);
		if (!d || !sh.sh_entsize)
			continue;
		for (size_t k = 0; k < sh.sh_size / sh.sh_entsize; k++) {
			GElf_Sym s;
			const char *name;
			int type;

			if (!gelf_getsym(d, (int)k, &s) || s.st_shndx == SHN_UNDEF || !s.st_value)
				continue;
			type = GELF_ST_TYPE(s.st_info);
			if (type != STT_FUNC && type != STT_GNU_IFUNC)
				continue;
			name = elf_strptr(e, sh.sh_link, s.st_name);
			if (!name)
				continue;
			for (size_t i = 0; i < n; i++)
				if (!addr[i] && name_is(name, names[i])) {
					addr[i] = s.st_value;
					found++;
				}
		}
	}
	/* Uprobes take file offsets: through the loadable segment holding each one. */
	for (size_t i = 0; i < n; i++) {
		size_t nph = 0;
		uint64_t off = 0;

		if (!addr[i] || elf_getphdrnum(e, &nph))
			continue;
		for (size_t k = 0; k < nph && !off; k++) {
			GElf_Phdr ph;

			if (gelf_getphdr(e, (int)k, &ph) && ph.p_type == PT_LOAD &&
			    addr[i] >= ph.p_vaddr && addr[i] < ph.p_vaddr + ph.p_filesz)
				off = addr[i] - ph.p_vaddr + ph.p_offset;
		}
		if (!off)
			found--;
		addr[i] = off;
	}
	elf_end(e);
	close(fd);
	return found;
}

int mw_elf_needed(const char *path, char *buf, size_t bufsz, const char **names, size_t max)
{
	Elf_Scn *scn = NULL;
	size_t off = 0;
	int fd, n = 0, err;
	Elf *e;

	err = open_elf(path, &fd, &e);
	if (err)
		return err;
	while ((scn = elf_nextscn(e, scn))) {
		GElf_Shdr sh;
		Elf_Data *d;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_DYNAMIC || !sh.sh_entsize)
			continue;
		d = elf_getdata(scn, NULL);
		for (size_t k = 0; d && k < sh.sh_size / sh.sh_entsize && (size_t)n < max; k++) {
			GElf_Dyn dyn;
			const char *s;
			size_t len;

			if (!gelf_getdyn(d, (int)k, &dyn) || dyn.d_tag != DT_NEEDED)
				continue;
			s = elf_strptr(e, sh.sh_link, dyn.d_un.d_val);
			len = s ? strlen(s) + 1 : 0;
			if (!s || off + len > bufsz)
				continue;
			memcpy(buf + off, s, len);
			names[n++] = buf + off;
			off += len;
		}
	}
	elf_end(e);
	close(fd);
	return n;
}
