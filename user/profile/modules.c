// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* pprof's mappings, live. See modules.h. */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <libelf.h>
#include "base/grow.h"
#include "modules.h"

#define MAX_MODULES 4096 /* cached (process, file) pairs; the oldest go first */
#define NT_GNU_BUILD_ID_TYPE 3

struct mod_ent {
	uint32_t pid;
	char *path;
	struct mw_prof_module m;
	int found; /* 0: nothing known */
};

struct mw_modules {
	struct mod_ent *v;
	size_t n, cap;
};

struct mw_modules *mw_modules_new(void)
{
	if (elf_version(EV_CURRENT) == EV_NONE)
		return NULL;
	return calloc(1, sizeof(struct mw_modules));
}

void mw_modules_free(struct mw_modules *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n; i++)
		free(m->v[i].path);
	free(m->v);
	free(m);
}

static int note_build_id(Elf *e, char *hex, size_t hexsz)
{
	Elf_Scn *scn = NULL;

	while ((scn = elf_nextscn(e, scn))) {
		GElf_Shdr sh;
		Elf_Data *d;
		size_t off = 0, name_off, desc_off;
		GElf_Nhdr nh;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_NOTE ||
		    !(d = elf_getdata(scn, NULL)))
			continue;
		while ((off = gelf_getnote(d, off, &nh, &name_off, &desc_off)) > 0) {
			const unsigned char *desc = (const unsigned char *)d->d_buf + desc_off;

			if (nh.n_type != NT_GNU_BUILD_ID_TYPE || nh.n_namesz != 4 ||
			    memcmp((const char *)d->d_buf + name_off, "GNU", 4))
				continue;
			hex[0] = '\0';
			for (size_t i = 0; i < nh.n_descsz && 2 * i + 2 < hexsz; i++)
				snprintf(hex + 2 * i, 3, "%02x", desc[i]);
			return 0;
		}
	}
	return 0;
}

int mw_elf_build_id(const char *path, char *hex, size_t hexsz)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), ret;
	Elf *e;

	hex[0] = '\0';
	if (fd < 0)
		return -errno;
	e = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	ret = e ? note_build_id(e, hex, hexsz) : -EINVAL;
	if (e)
		elf_end(e);
	close(fd);
	return ret;
}

/* The lowest and highest address of path's mappings in pid, and the first one's offset. */
static int read_range(uint32_t pid, const char *path, struct mw_prof_module *m)
{
	char file[64], line[4608];
	FILE *f;
	int found = 0;

	snprintf(file, sizeof(file), "/proc/%" PRIu32 "/maps", pid);
	f = fopen(file, "re");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long s, e, off;
		int name = 0;

		if (sscanf(line, "%llx-%llx %*s %llx %*s %*s %n", &s, &e, &off, &name) < 3 || !name)
			continue;
		line[strcspn(line, "\n")] = '\0';
		if (strcmp(line + name, path))
			continue;
		if (!found || s < m->start) {
			m->start = s;
			m->offset = off;
		}
		if (e > m->limit)
			m->limit = e;
		found = 1;
	}
	fclose(f);
	return found;
}

static struct mod_ent *find(struct mw_modules *m, uint32_t pid, const char *path)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->v[i].pid == pid && !strcmp(m->v[i].path, path))
			return &m->v[i];
	return NULL;
}

int mw_modules_lookup(void *ctx, uint32_t pid, const char *path, struct mw_prof_module *out)
{
	struct mw_modules *m = ctx;
	struct mod_ent *e = find(m, pid, path);
	char root[4352];

	if (e && e->found && e->m.limit) {
		*out = e->m;
		return 0;
	}
	if (!e) {
		if (m->n == MAX_MODULES) {
			free(m->v[0].path);
			memmove(m->v, m->v + 1, --m->n * sizeof(*m->v));
		}
		if (mw_grow(&m->v, m->n, &m->cap, sizeof(*m->v), 32))
			return -1;
		e = &m->v[m->n];
		memset(e, 0, sizeof(*e));
		e->pid = pid;
		e->path = strdup(path);
		if (!e->path)
			return -1;
		m->n++;
	}
	/* While the process runs: its own view of the file, and where it is mapped. */
	snprintf(root, sizeof(root), "/proc/%" PRIu32 "/root%s", pid, path);
	if (read_range(pid, path, &e->m)) {
		mw_elf_build_id(root, e->m.build_id, sizeof(e->m.build_id));
		e->found = 1;
	} else if (!e->found && mw_elf_build_id(path, e->m.build_id, sizeof(e->m.build_id)) == 0) {
		e->found = 1;
	}
	if (!e->found)
		return -1;
	*out = e->m;
	return 0;
}
