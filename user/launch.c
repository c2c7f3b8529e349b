// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Launch mode. The child asks to be traced and execs; the kernel stops it
 * with SIGTRAP after the exec, before its first instruction. memwatch adds it
 * to the BPF targets and reads /proc/PID/maps (the exact post-exec baseline),
 * then detaches: ptrace is used for that one stop only.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include "base/errmsg.h"
#include "launch.h"

static int check_file(const char *path)
{
	struct stat st;

	if (stat(path, &st))
		return 127;
	if (S_ISDIR(st.st_mode) || access(path, X_OK))
		return 126;
	return 0;
}

int mw_launch_check(char *const cmd[], char *err, size_t errsz)
{
	const char *name = cmd[0], *path = getenv("PATH");
	char buf[PATH_MAX];
	int best = 127;

	if (!*name)
		return mw_fail(err, errsz, 127, "empty command name");
	if (strchr(name, '/')) {
		best = check_file(name);
	} else {
		if (!path)
			path = "/usr/local/bin:/usr/bin:/bin";
		while (*path && best) {
			const char *end = strchrnul(path, ':');
			int len = (int)(end - path), r;

			snprintf(buf, sizeof(buf), "%.*s/%s", len ? len : 1, len ? path : ".",
				 name);
			r = check_file(buf);
			if (r < best)
				best = r;
			path = *end ? end + 1 : end;
		}
	}
	if (best == 127)
		return mw_fail(err, errsz, 127, "%s: command not found", name);
	if (best == 126)
		return mw_fail(err, errsz, 126,
			       "%s: not executable (permission denied or a directory)", name);
	return 0;
}

int mw_launch_start(char *const cmd[], pid_t *pid, char *err, size_t errsz)
{
	int fds[2], status, child_errno = 0;
	ssize_t n;
	pid_t p;

	if (pipe2(fds, O_CLOEXEC))
		return mw_fail(err, errsz, -errno, "pipe: %s", strerror(errno));
	p = fork();
	if (p < 0) {
		int e = errno;

		close(fds[0]);
		close(fds[1]);
		return mw_fail(err, errsz, -e, "fork: %s", strerror(e));
	}
	if (p == 0) {
		int e;

		close(fds[0]);
		/* The child must not inherit memwatch's signal dispositions. */
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGPIPE, SIG_DFL);
		/*
		 * With --malloc the command is stopped in exit() until memwatch has
		 * read its last records; should memwatch die meanwhile (even by
		 * SIGKILL), the kernel resumes it.
		 */
		prctl(PR_SET_PDEATHSIG, SIGCONT);
		if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) == 0)
			execvp(cmd[0], cmd);
		e = errno;
		if (write(fds[1], &e, sizeof(e)) < 0)
			_exit(127);
		_exit(e == ENOENT ? 127 : 126);
	}
	close(fds[1]);
	while (waitpid(p, &status, 0) < 0) {
		if (errno != EINTR) {
			close(fds[0]);
			return mw_fail(err, errsz, -errno, "waitpid: %s", strerror(errno));
		}
	}
	n = read(fds[0], &child_errno, sizeof(child_errno));
	close(fds[0]);
	if (n == sizeof(child_errno))
		return mw_fail(err, errsz, -child_errno, "%s: %s", cmd[0], strerror(child_errno));
	if (!WIFSTOPPED(status) || WSTOPSIG(status) != SIGTRAP) {
		kill(p, SIGKILL);
		waitpid(p, &status, 0);
		return mw_fail(err, errsz, -ECHILD, "%s: did not stop after exec", cmd[0]);
	}
	*pid = p;
	return 0;
}

int mw_launch_release(pid_t pid)
{
	return ptrace(PTRACE_DETACH, pid, NULL, NULL) ? -errno : 0;
}
