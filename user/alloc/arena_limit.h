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

#endif /* MW_ARENA_LIMIT_H */
