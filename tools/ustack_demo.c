// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * ustack_demo: the user-stack library (user/ustack.h) on a live process, without BPF.
 *
 *   ustack_demo [-n BYTES] PID      every thread's stack, symbolized (needs ptrace rights)
 *
 * Each thread is stopped in turn (PTRACE_SEIZE + PTRACE_INTERRUPT), its registers read
 * (PTRACE_GETREGS) and BYTES of its stack copied (process_vm_readv, default 8192: about
 * what a probe copies), then released; the copy is unwound and symbolized like a probe's
 * capture. A development aid, like eu-stack, for checking what a capture turns into.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <sys/wait.h>
#include "stacks/ustack.h"

#define MAXF 64
#define USAGE "usage: ustack_demo [-n BYTES] PID\n"

/* Stop tid, take registers and stack, let it go. 0 or negative errno. */
static int capture(pid_t pid, pid_t tid, uint8_t *buf, uint32_t len, struct mw_ustack_capture *c)
{
	struct user_regs_struct ur;
	int status, err = 0;

	if (ptrace(PTRACE_SEIZE, tid, NULL, NULL) || ptrace(PTRACE_INTERRUPT, tid, NULL, NULL))
		return -errno;
	if (waitpid(tid, &status, __WALL) != tid) {
		err = -errno;
		goto out;
	}
	if (ptrace(PTRACE_GETREGS, tid, NULL, &ur)) {
		err = -errno;
		goto out;
	}
	c->pid = (uint32_t)pid;
	c->tid = (uint32_t)tid;
	c->regs[0] = ur.rax, c->regs[1] = ur.rdx, c->regs[2] = ur.rcx, c->regs[3] = ur.rbx;
	c->regs[4] = ur.rsi, c->regs[5] = ur.rdi, c->regs[6] = ur.rbp, c->regs[7] = ur.rsp;
	c->regs[8] = ur.r8, c->regs[9] = ur.r9, c->regs[10] = ur.r10, c->regs[11] = ur.r11;
	c->regs[12] = ur.r12, c->regs[13] = ur.r13, c->regs[14] = ur.r14;
	c->regs[15] = ur.r15, c->regs[16] = ur.rip;
	c->stack = buf;
	c->stack_len = mw_ustack_read(pid, ur.rsp, buf, len);
out:
	ptrace(PTRACE_DETACH, tid, NULL, NULL);
	return err;
}

static void print_stack(struct mw_symbolizer *s, const struct mw_ustack_capture *c)
{
	uint64_t ips[MAXF];
	int n = mw_sym_unwind(s, c, ips, MAXF);

	printf("thread %u (%u bytes of stack):\n", c->tid, c->stack_len);
	if (n < 0) {
		printf("  unwind failed: %s\n", strerror(-n));
		return;
	}
	for (int i = 0; i < n; i++) {
		struct mw_frame f;

		mw_sym_resolve_ip(s, c->pid, ips[i], i > 0, &f);
		printf("  #%-2d 0x%016llx %s", i, (unsigned long long)ips[i],
		       f.func ? f.func : "??");
		if (f.func)
			printf("+0x%llx", (unsigned long long)f.offset);
		if (f.file)
			printf(" (%s:%d)", f.file, f.line);
		printf(" [%s]\n", f.module ? f.module : "?");
	}
}

int main(int argc, char **argv)
{
	uint32_t len = 8192;
	struct mw_symbolizer *s = NULL;
	struct mw_sym_stats st;
	uint8_t *buf = NULL;
	char path[64];
	struct dirent *e;
	DIR *d = NULL;
	int opt, rc = 1;
	long pid;
	char *end;

	while ((opt = getopt(argc, argv, "n:")) != -1) {
		if (opt != 'n' || (len = (uint32_t)strtoul(optarg, &end, 10)) == 0 || *end ||
		    len > (1u << 20)) {
			fprintf(stderr, "ustack_demo: -n takes 1..1048576 bytes\n" USAGE);
			return 2;
		}
	}
	if (optind != argc - 1 || (pid = strtol(argv[optind], &end, 10)) <= 0 || *end) {
		fprintf(stderr, USAGE);
		return 2;
	}
	snprintf(path, sizeof(path), "/proc/%ld/task", pid);
	d = opendir(path);
	if (!d) {
		fprintf(stderr, "ustack_demo: %s: %s\n", path, strerror(errno));
		return 1;
	}
	buf = malloc(len);
	s = mw_sym_new();
	if (!buf || !s) {
		fprintf(stderr, "ustack_demo: out of memory\n");
		goto cleanup;
	}
	while ((e = readdir(d))) {
		struct mw_ustack_capture c = { 0 };
		long tid = strtol(e->d_name, &end, 10);
		int err;

		if (tid <= 0 || *end)
			continue;
		err = capture((pid_t)pid, (pid_t)tid, buf, len, &c);
		if (err) {
			fprintf(stderr, "ustack_demo: thread %ld: %s\n", tid, strerror(-err));
			continue;
		}
		print_stack(s, &c);
	}
	mw_sym_stats(s, &st);
	printf("modules %llu (shared %llu, failed %llu), full unwinds %llu\n",
	       (unsigned long long)st.modules, (unsigned long long)st.module_shared,
	       (unsigned long long)st.module_failed, (unsigned long long)st.full_unwinds);
	rc = 0;
cleanup:
	mw_sym_free(s);
	free(buf);
	closedir(d);
	return rc;
}
