/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Which of a list of function names an ELF file defines (.dynsym and .symtab), and where. */
#ifndef MW_ELFSYMS_H
#define MW_ELFSYMS_H

#include <stddef.h>
#include <stdint.h>

/*
 * For each names[i], off[i] = the file offset of its code when path defines it
 * as a function (a versioned name "malloc@@GLIBC_2.2.5" counts as "malloc"),
 * else 0: what a uprobe attaches to.
 * Returns how many were found, or a negative errno.
 */
int mw_elf_find_funcs(const char *path, const char *const *names, size_t n, uint64_t *off);
/* The DT_NEEDED names of path, one NUL-terminated string each in buf (at most
 * max names); returns how many, or a negative errno. */
int mw_elf_needed(const char *path, char *buf, size_t bufsz, const char **names, size_t max);

#endif /* MW_ELFSYMS_H */
