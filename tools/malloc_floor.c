// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * malloc_floor: loader for bpf/malloc_floor.bpf.c, the counters-only baseline of the malloc
 * part of `make bench` (tools/bench_malloc.sh).
 *
 *   malloc_floor [-v] -p PID   count PID's malloc calls, malloc returns and free calls
 *
 * Finds the libc that PID has mapped (/proc/PID/maps, opened through /proc/PID/root as memwatch
 * does, so a target in another mount namespace works), attaches a uprobe on malloc, a uretprobe
 * on malloc and a uprobe on free to PID only, and prints "malloc_floor: attached to pid PID
 * (LIBC)" on stderr. Runs until PID has exited or it gets SIGINT/SIGTERM, then prints
 *   malloc_floor: malloc N returns N free N
 * on stderr (the counts summed over all CPUs) and exits 0.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "malloc_floor.skel.h"

#define FLOOR_NAME "malloc_floor"
#include "floor_common.h"

#define USAGE "usage: malloc_floor [-v] -p PID\n"

/* Counter slots, as enum in bpf/malloc_floor.bpf.c. */
enum {
	MF_MALLOC,
	MF_MALLOC_RET,
	MF_FREE,
	MF_COUNT
};

/* "libc.so.6", "libc-2.31.so": glibc's C library, not libcrypto or libc++. */
static bool is_libc(const char *path)
{
	const char *base = strrchr(path, '/');

	base = base ? base + 1 : path;
	return !strncmp(base, "libc.so", 7) || (!strncmp(base, "libc-", 5) && strstr(base, ".so"));
}

/* The path of the libc mapped by pid, as seen from its root; -ENOENT when there is none. */
static int find_libc(pid_t pid, char *out, size_t size)
{
	char path[64], line[4096 + 256];
	int err = -ENOENT;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char *name = strchr(line, '/');

		if (!name)
			continue;
		name[strcspn(name, "\n")] = '\0';
		if (!is_libc(name))
			continue;
		if ((size_t)snprintf(out, size, "/proc/%d/root%s", pid, name) >= size) {
			err = -ENAMETOOLONG;
			break;
		}
		err = 0;
		break;
	}
	fclose(f);
	return err;
}

static struct bpf_link *attach(struct bpf_program *prog, pid_t pid, const char *lib,
			       const char *func, bool retprobe)
{
	LIBBPF_OPTS(bpf_uprobe_opts, opts, .func_name = func, .retprobe = retprobe);
	struct bpf_link *link = bpf_program__attach_uprobe_opts(prog, pid, lib, 0, &opts);

	if (!link)
		p_err("cannot attach a %s to %s in %s: %s", retprobe ? "uretprobe" : "uprobe", func,
		      lib, strerror(errno));
	return link;
}

static void wait_pid(pid_t pid)
{
	while (!exiting && !(kill(pid, 0) && errno == ESRCH))
		usleep(50 * 1000);
}

static int report(struct malloc_floor_bpf *skel)
{
	static const char *const names[MF_COUNT] = { "malloc", "returns", "free" };
	int ncpus = libbpf_num_possible_cpus(), fd = bpf_map__fd(skel->maps.counts);
	unsigned long long total[MF_COUNT] = {};
	__u64 *v;

	if (ncpus <= 0) {
		p_err("cannot count the possible CPUs: %s", strerror(-ncpus));
		return -1;
	}
	v = calloc(ncpus, sizeof(*v));
	if (!v) {
		p_err("out of memory");
		return -1;
	}
	for (__u32 k = 0; k < MF_COUNT; k++) {
		if (bpf_map_lookup_elem(fd, &k, v)) {
			p_err("cannot read the counts map: %s", strerror(errno));
			free(v);
			return -1;
		}
		for (int c = 0; c < ncpus; c++)
			total[k] += v[c];
	}
	free(v);
	fputs("malloc_floor:", stderr);
	for (int k = 0; k < MF_COUNT; k++)
		fprintf(stderr, " %s %llu", names[k], total[k]);
	fputc('\n', stderr);
	return 0;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_signal };
	struct bpf_link *links[3] = {};
	struct malloc_floor_bpf *skel = NULL;
	char lib[4096], *end;
	pid_t pid = 0;
	int opt, err, ret = 1;
	__u8 one = 1;
	__u32 tgid;

	while ((opt = getopt(argc, argv, "hvp:")) != -1) {
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
	if (!pid || optind != argc) {
		fputs(USAGE, stderr);
		return 2;
	}
	if (kill(pid, 0) && errno == ESRCH) {
		p_err("no such process: %d", pid);
		return 1;
	}
	err = find_libc(pid, lib, sizeof(lib));
	if (err) {
		p_err("pid %d: no libc mapped (/proc/%d/maps): %s", pid, pid, strerror(-err));
		return 1;
	}

	libbpf_set_print(libbpf_print_fn);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	skel = malloc_floor_bpf__open_and_load();
	if (!skel) {
		p_err("cannot load BPF programs: %s (-v for the verifier log)", strerror(errno));
		goto cleanup;
	}
	tgid = pid;
	err = bpf_map__update_elem(skel->maps.targets, &tgid, sizeof(tgid), &one, sizeof(one),
				   BPF_ANY);
	if (err) {
		p_err("cannot add pid %d to the filter: %s", pid, strerror(-err));
		goto cleanup;
	}
	links[0] = attach(skel->progs.malloc_enter, pid, lib, "malloc", false);
	links[1] = links[0] ? attach(skel->progs.malloc_exit, pid, lib, "malloc", true) : NULL;
	links[2] = links[1] ? attach(skel->progs.free_enter, pid, lib, "free", false) : NULL;
	if (!links[2])
		goto cleanup;
	fprintf(stderr, "malloc_floor: attached to pid %d (%s)\n", pid, lib);

	wait_pid(pid);
	if (report(skel))
		goto cleanup;
	ret = 0;

cleanup:
	for (int i = 0; i < 3; i++)
		bpf_link__destroy(links[i]);
	malloc_floor_bpf__destroy(skel);
	return ret;
}
