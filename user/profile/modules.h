/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * pprof's mappings, live: where each file is mapped in a process (from
 * /proc/PID/maps while it runs) and the file's GNU build-id (its ELF note,
 * read through the process's root, so a file in another mount namespace is
 * the one it runs). Kept per process and file, so a process that has exited
 * keeps what was read while it ran; a process never seen alive gets the
 * build-id of the file at that path and no range.
 */
#ifndef MW_PROF_MODULES_H
#define MW_PROF_MODULES_H

#include <stddef.h>
#include <stdint.h>
#include "pprof.h"

struct mw_modules;

struct mw_modules *mw_modules_new(void);
void mw_modules_free(struct mw_modules *m);
/* A mw_prof_module_fn (ctx: the mw_modules). */
int mw_modules_lookup(void *ctx, uint32_t pid, const char *path, struct mw_prof_module *out);
/* The build-id of an ELF file as hex ("" when it has none). 0, or -errno. Pure but for the read. */
int mw_elf_build_id(const char *path, char *hex, size_t hexsz);

#endif /* MW_PROF_MODULES_H */
