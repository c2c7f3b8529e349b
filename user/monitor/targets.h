/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Target selection beyond -p, the parts that need no BPF: process names
 * against --comm regexes, cgroup v2 directories and their processes, and a
 * process's start time (a pid that is reused is a new process).
 */
#ifndef MW_TARGETS_H
#define MW_TARGETS_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "base/options.h"

struct mw_comm_set {
	regex_t re[MW_MAX_WATCH];
	size_t n;
};

/* A --comm expression is refused before regcomp() when longer than this, or when glibc
 * would make more than MW_COMM_REGEX_COST copies of its parts, or copies x optional copies
 * over MW_COMM_REGEX_EPSILON (mw_comm_regex_cost). */
#define MW_COMM_REGEX_MAX 256
#define MW_COMM_REGEX_COST 4096
#define MW_COMM_REGEX_EPSILON (64 * MW_COMM_REGEX_COST)
/* What regcomp() will do, as a number compared with MW_COMM_REGEX_COST (see targets.c). */
uint64_t mw_comm_regex_cost(const char *s);
/* Compile one --comm expression (POSIX extended, no sub-matches). 0, or -1 with a reason. */
int mw_comm_regex_compile(regex_t *re, const char *s, char *err, size_t errsz);
/* Compile the --comm expressions (POSIX extended). 0, or -1 with a reason. */
int mw_comm_set_init(struct mw_comm_set *s, const char *const *res, size_t n, char *err,
		     size_t errsz);
/* Whether a process name (the kernel's comm, at most 15 bytes) matches one of them. */
bool mw_comm_set_match(const struct mw_comm_set *s, const char *comm);
void mw_comm_set_free(struct mw_comm_set *s);
/*
 * The one name an expression can match when it is `^literal$` (backslash
 * escapes allowed, no other operator) and the literal fits a comm: such names
 * go to the kernel before any process has them. False otherwise.
 */
bool mw_regex_literal(const char *re, char *out, size_t outsz);

/* Field 22 of /proc/PID/stat (start time in clock ticks since boot). */
int mw_stat_starttime(const char *stat_text, uint64_t *start);
int mw_read_starttime(uint32_t pid, uint64_t *start);

/* Open a cgroup v2 directory (O_RDONLY|O_DIRECTORY), checking that it is one. 0 or -errno,
 * with a reason in err. */
int mw_cgroup_open(const char *path, int *fd, char *err, size_t errsz);
/*
 * The processes of a cgroup and its descendants (cgroup.procs of each, at
 * most max pids, at most 16 levels), appended to *pids (malloc'd; caller
 * frees). 0 or -errno.
 */
int mw_cgroup_pids(const char *path, size_t max, uint32_t **pids, size_t *n);
/* The numeric entries of /proc (processes), malloc'd. 0 or -errno. */
int mw_proc_pids(uint32_t **pids, size_t *n);

#endif /* MW_TARGETS_H */
