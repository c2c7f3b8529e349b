/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* `memwatch maps -p PID`: a pmap-like one-shot view with classes, arenas and RSS. */
#ifndef MW_MAPS_CMD_H
#define MW_MAPS_CMD_H

#include <stddef.h>
#include <stdint.h>

/* glibc's arena limit for a process: MALLOC_ARENA_MAX or
 * GLIBC_TUNABLES=...glibc.malloc.arena_max=N from its environment (NUL-separated,
 * as /proc/PID/environ), else 8 x online CPUs. *source says which. */
int mw_arena_limit(const char *environ, size_t len, int online_cpus, const char **source);
/* Count CPUs in a /sys/devices/system/cpu/online list ("0-3,5"). */
int mw_parse_cpu_list(const char *s);
/* CPUs online on this host (1 if unknown). */
int mw_online_cpus(void);
/* Runs the subcommand (argv[0] == "maps"); returns the exit status. */
int mw_maps_main(int argc, char **argv);

#endif /* MW_MAPS_CMD_H */
