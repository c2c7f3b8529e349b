/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * glibc's arena limit: how many arenas (besides main) a process may create
 * before its threads share them. Pure: the caller reads the environment and
 * counts the CPUs.
 */
#ifndef MW_ARENA_LIMIT_H
#define MW_ARENA_LIMIT_H

#include <stddef.h>

/* glibc's arena limit for a process: MALLOC_ARENA_MAX or
 * GLIBC_TUNABLES=...glibc.malloc.arena_max=N from its environment (NUL-separated,
 * as /proc/PID/environ), else 8 x online CPUs. *source says which. */
int mw_arena_limit(const char *environ, size_t len, int online_cpus, const char **source);
/* GLIBC_TUNABLES=...glibc.malloc.hugetlb=N from the same environment: 0 (absent), 1
 * (transparent huge pages: heaps unchanged), 2 (the default huge page size), or a
 * huge page size in bytes. With 2 or a size, glibc's heaps are 4 huge pages and its
 * main arena maps segments instead of moving brk. */
unsigned long mw_glibc_hugetlb(const char *environ, size_t len);

#endif /* MW_ARENA_LIMIT_H */
