// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * floor: loader for bpf/floor.bpf.c, the counters-only baseline of `make bench`.
 *
 *   floor [-v] -p PID            count PID's memory syscalls until it exits (or Ctrl-C)
 *   floor [-v] [--] CMD [ARG...] launch CMD, count, exit with CMD's status
 *
 * Launch mode forks first: the child waits on a pipe, so it runs nothing before the
 * probes are attached and its pid is in the filter; then it is released and execs.
 * At exit the total of counted calls (and per syscall) goes to stderr.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "memwatch.h"
#include "floor.skel.h"

#define FLOOR_NAME "floor"
#include "floor_common.h"

#define TRACEFS "/sys/kernel/tracing"
#define USAGE "usage: floor [-v] -p PID | floor [-v] [--] COMMAND [ARG...]\n"

/* Same layout as struct floor_counts in bpf/floor.bpf.c. */
struct counts {
	__u64 calls[MW_SYS_COUNT];
};

static const char *const sys_names[MW_SYS_COUNT] = {
	"brk", "mmap", "munmap", "mprotect", "mremap", "madvise", "shmat", "shmdt", "pkey_mprotect",
};

/* Syscall tracepoints need tracefs; a fresh boot may not have it mounted. */
static int tracefs_ready(void)
{
	struct stat st;

	if (stat(TRACEFS "/events/syscalls", &st) == 0)
		return 0;
	if (mount("nodev", TRACEFS, "tracefs", 0, NULL) && errno != EBUSY)
		return -errno;
	return stat(TRACEFS "/events/syscalls", &st) ? -errno : 0;
}

/*
 * The child blocks until the loader writes the go byte (or closes the pipe
 * after a failure: EOF means exit without running anything).
 */
static pid_t start_paused(char *const cmd[], int *go_fd)
{
	int fds[2];
	pid_t pid;
	char go;

	if (pipe2(fds, O_CLOEXEC))
		return -errno;
	pid = fork();
	if (pid < 0) {
		int e = errno;

		close(fds[0]);
		close(fds[1]);
		return -e;
	}
	if (pid == 0) {
		close(fds[1]);
		if (read(fds[0], &go, 1) != 1)
			_exit(127);
		execvp(cmd[0], cmd);
		fprintf(stderr, "floor: %s: %s\n", cmd[0], strerror(errno));
		_exit(errno == ENOENT ? 127 : 126);
	}
	close(fds[0]);
	*go_fd = fds[1];
	return pid;
}

static int wait_child(pid_t pid, int *status)
{
	bool forwarded = false;

	while (waitpid(pid, status, 0) < 0) {
		if (errno != EINTR)
			return -errno;
		/* SIGINT/SIGTERM to us: pass it on once, keep counting until the child is gone. */
		if (exiting && !forwarded) {
			kill(pid, exiting);
			forwarded = true;
		}
	}
	return 0;
}

/* -p mode: until the process is gone or we are told to stop. */
static void wait_pid(pid_t pid)
{
	while (!exiting && !(kill(pid, 0) && errno == ESRCH))
		usleep(100 * 1000);
}

static int report(struct floor_bpf *skel)
{
	int fd = bpf_map__fd(skel->maps.counts);
	struct counts sum = {}, c;
	__u32 key, next, *prev = NULL;
	unsigned long long total = 0;
	unsigned int threads = 0;
	int err;

	while ((err = bpf_map_get_next_key(fd, prev, &next)) == 0) {
		if (bpf_map_lookup_elem(fd, &next, &c) == 0) {
			for (int i = 0; i < MW_SYS_COUNT; i++)
				sum.calls[i] += c.calls[i];
			threads++;
		}
		key = next;
		prev = &key;
	}
	if (err != -ENOENT) {
		p_err("cannot read the counts map: %s", strerror(-err));
		return err;
	}
	for (int i = 0; i < MW_SYS_COUNT; i++)
		total += sum.calls[i];
	fprintf(stderr, "floor: %llu calls in %u threads (", total, threads);
	for (int i = 0; i < MW_SYS_COUNT; i++)
		fprintf(stderr, "%s%s %llu", i ? ", " : "", sys_names[i],
			(unsigned long long)sum.calls[i]);
	fprintf(stderr, ")%s\n", skel->bss->counts_full ? "; counts map full, some lost" : "");
	return 0;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_signal };
	struct floor_bpf *skel = NULL;
	char *const *cmd = NULL;
	pid_t pid = 0, child = 0;
	int go_fd = -1, status = 0, opt, err, ret = 1;
	__u8 one = 1;
	__u32 tgid;
	char *end;

	while ((opt = getopt(argc, argv, "+hvp:")) != -1) {
		switch (opt) {
		case 'p':
			errno = 0;
			pid = strtol(optarg, &end, 10);
			if (errno || end == optarg || *end || pid <= 0) {
				p_err("-p: not a process id: %s", optarg);
				return 2;
			}
			break;
		case 'v': verbose = true; break;
		case 'h': fputs(USAGE, stdout); return 0;
		default: fputs(USAGE, stderr); return 2;
		}
	}
	if (optind < argc)
		cmd = &argv[optind];
	if (!pid == !cmd) {
		fputs(USAGE, stderr);
		return 2;
	}
	if (pid && kill(pid, 0) && errno == ESRCH) {
		p_err("no such process: %d", pid);
		return 1;
	}

	libbpf_set_print(libbpf_print_fn);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	err = tracefs_ready();
	if (err) {
		p_err("cannot mount tracefs at %s: %s", TRACEFS, strerror(-err));
		return 1;
	}
	if (cmd) {
		/* Forked before any BPF object exists, so the child inherits none of it. */
		child = start_paused(cmd, &go_fd);
		if (child < 0) {
			p_err("fork: %s", strerror(-child));
			return 1;
		}
		pid = child;
	}

	skel = floor_bpf__open();
	if (!skel) {
		err = -errno;
		p_err("cannot open BPF object: %s", strerror(-err));
		goto cleanup;
	}
	err = floor_bpf__load(skel);
	if (err) {
		p_err("cannot load BPF programs: %s (-v for the verifier log)", strerror(-err));
		goto cleanup;
	}
	tgid = pid;
	err = bpf_map__update_elem(skel->maps.targets, &tgid, sizeof(tgid), &one, sizeof(one),
				   BPF_ANY);
	if (err) {
		p_err("cannot add pid %d to the filter: %s", pid, strerror(-err));
		goto cleanup;
	}
	err = floor_bpf__attach(skel);
	if (err) {
		p_err("cannot attach BPF programs: %s", strerror(-err));
		goto cleanup;
	}

	if (cmd) {
		if (write(go_fd, "g", 1) != 1) {
			err = -errno;
			p_err("cannot release %s: %s", cmd[0], strerror(-err));
			goto cleanup;
		}
		close(go_fd);
		go_fd = -1;
		err = wait_child(child, &status);
		if (err) {
			p_err("waitpid: %s", strerror(-err));
			goto cleanup;
		}
		child = 0; /* reaped */
	} else {
		wait_pid(pid);
	}
	err = report(skel);
	if (err)
		goto cleanup;
	if (cmd)
		ret = WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
	else
		ret = 0;

cleanup:
	if (go_fd >= 0)
		close(go_fd); /* EOF: a child that was never released exits at once */
	if (child > 0)
		waitpid(child, NULL, 0);
	floor_bpf__destroy(skel);
	return ret;
}
