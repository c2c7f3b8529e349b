/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Launch mode: start COMMAND stopped right after its exec, so its baseline
 * address space can be read before its first syscall, then let it run. */
#ifndef MW_LAUNCH_H
#define MW_LAUNCH_H

#include <stddef.h>
#include <sys/types.h>

/* Resolve cmd[0] like execvp. 0, or the exit status a shell would use
 * (127 not found, 126 not executable) with a one-line reason in err. */
int mw_launch_check(char *const cmd[], char *err, size_t errsz);
/* Fork and exec; on success *pid is stopped just after exec. Negative errno
 * and a reason in err on failure. */
int mw_launch_start(char *const cmd[], pid_t *pid, char *err, size_t errsz);
/* Let the stopped command run (ptrace detach). */
int mw_launch_release(pid_t pid);

#endif /* MW_LAUNCH_H */
