// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Loader: privileges and kernel checks, open -> configure -> load -> attach. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <linux/capability.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include "base/errmsg.h"
#include "loader.h"
#include "base/vmlinux_btf.h"
#include "memwatch.skel.h"

#define TRACEFS "/sys/kernel/tracing"

#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif
#ifndef CAP_BPF
#define CAP_BPF 39
#endif

static bool verbose;

static int libbpf_print_fn(enum libbpf_print_level level, const char *fmt, va_list args)
{
	if (level == LIBBPF_DEBUG && !verbose)
		return 0;
	if (!verbose)
		return 0; /* errors are reported once, by us, as one line */
	return vfprintf(stderr, fmt, args);
}

static bool has_cap(const struct __user_cap_data_struct d[2], int cap)
{
	return d[cap / 32].effective & (1U << (cap % 32));
}

/*
 * What memwatch needs, as root or as capabilities: loading and attaching BPF
 * (CAP_BPF and CAP_PERFMON; CAP_SYS_ADMIN also grants both), and reading the
 * targets' /proc/PID/maps, environ and map_files (CAP_SYS_PTRACE, and
 * CAP_DAC_READ_SEARCH for /proc and cgroup files of other users).
 */
static int check_privileges(char *err, size_t errsz)
{
	static const struct {
		int cap;
		const char *name;
		bool admin_grants; /* CAP_SYS_ADMIN implies it for BPF */
	} need[] = {
		{ CAP_BPF, "CAP_BPF", true },
		{ CAP_PERFMON, "CAP_PERFMON", true },
		{ CAP_SYS_PTRACE, "CAP_SYS_PTRACE", false },
		{ CAP_DAC_READ_SEARCH, "CAP_DAC_READ_SEARCH", false },
	};
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2] = {};
	char missing[128] = "";
	size_t off = 0;

	if (syscall(SYS_capget, &h, d))
		return mw_fail(err, errsz, -errno, "cannot read capabilities: %s", strerror(errno));
	for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
		if (has_cap(d, need[i].cap) || (need[i].admin_grants && has_cap(d, CAP_SYS_ADMIN)))
			continue;
		off += snprintf(missing + off, sizeof(missing) - off, "%s%s", off ? ", " : "",
				need[i].name);
	}
	if (off)
		return mw_fail(err, errsz, -EPERM,
			       "missing capability %s: run as root (sudo), or with CAP_BPF, "
			       "CAP_PERFMON, CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH",
			       missing);
	return 0;
}

static int check_kernel(char *err, size_t errsz)
{
	if (access("/sys/kernel/btf/vmlinux", R_OK))
		return mw_fail(
			err, errsz, -ENOTSUP,
			"kernel has no BTF (/sys/kernel/btf/vmlinux): needs CONFIG_DEBUG_INFO_BTF=y");
	if (!libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_TRACEPOINT, NULL))
		return mw_fail(
			err, errsz, -ENOTSUP,
			"kernel refuses BPF tracepoint programs: needs CONFIG_BPF_SYSCALL and CONFIG_BPF_EVENTS");
	return 0;
}

/* Syscall tracepoints need tracefs; a fresh boot may not have it mounted.
 * MEMWATCH_RAW_SYSCALLS=1 forces the fallback (used by the tests). */
static bool tracefs_ready(void)
{
	const char *force = getenv("MEMWATCH_RAW_SYSCALLS");
	struct stat st;

	if (force && *force == '1')
		return false;
	if (stat(TRACEFS "/events/syscalls", &st) == 0)
		return true;
	if (mount("nodev", TRACEFS, "tracefs", 0, NULL) && errno != EBUSY)
		return false;
	return stat(TRACEFS "/events/syscalls", &st) == 0;
}

/*
 * Whether the kernel's sched_process_exit tracepoint passes group_dead (the exiting thread
 * is its process's last): its BTF prototype (void *ctx, task, group_dead) has three
 * parameters then, two before. The kernel's own answer, not a guess from its version.
 */
static bool exit_has_group_dead(void)
{
	struct btf *btf = btf__load_vmlinux_btf();
	const struct btf_type *t;
	bool has = false;
	int id;

	if (!btf)
		return false;
	id = btf__find_by_name_kind(btf, "btf_trace_sched_process_exit", BTF_KIND_TYPEDEF);
	t = id > 0 ? btf__type_by_id(btf, id) : NULL;
	if (t)
		t = btf__type_by_id(btf, t->type); /* the pointer */
	if (t && btf_is_ptr(t))
		t = btf__type_by_id(btf, t->type);
	has = t && btf_is_func_proto(t) && btf_vlen(t) >= 3;
	btf__free(btf);
	return has;
}

/* Tracepoints or the raw fallback; enter probes only when calls are timed:
 * without them each call costs one probe, not two. */
static void choose_programs(struct memwatch_bpf *s, bool raw, bool timed, bool rss)
{
	struct bpf_program *enter[] = {
		s->progs.sys_enter_brk,	   s->progs.sys_enter_mmap,
		s->progs.sys_enter_munmap, s->progs.sys_enter_mprotect,
		s->progs.sys_enter_mremap, s->progs.sys_enter_madvise,
		s->progs.sys_enter_shmat,  s->progs.sys_enter_pkey_mprotect,
	};
	/* shmdt's enter finds the size of the segment it detaches: loaded untimed too. */
	struct bpf_program *always[] = {
		s->progs.sys_exit_brk,		 s->progs.sys_exit_mmap,
		s->progs.sys_exit_munmap,	 s->progs.sys_exit_mprotect,
		s->progs.sys_exit_mremap,	 s->progs.sys_exit_madvise,
		s->progs.sys_exit_shmat,	 s->progs.sys_exit_shmdt,
		s->progs.sys_exit_pkey_mprotect, s->progs.sys_enter_shmdt,
		s->progs.sys_enter_exit_group,
	};

	for (size_t i = 0; i < sizeof(enter) / sizeof(enter[0]); i++)
		bpf_program__set_autoload(enter[i], !raw && timed);
	/* munmap, madvise and mremap open their rss_delta window at the enter. */
	if (!raw && rss) {
		bpf_program__set_autoload(s->progs.sys_enter_munmap, true);
		bpf_program__set_autoload(s->progs.sys_enter_madvise, true);
		bpf_program__set_autoload(s->progs.sys_enter_mremap, true);
	}
	for (size_t i = 0; i < sizeof(always) / sizeof(always[0]); i++)
		bpf_program__set_autoload(always[i], !raw);
	bpf_program__set_autoload(s->progs.raw_sys_enter, raw);
	bpf_program__set_autoload(s->progs.raw_sys_exit, raw);
}

/* x86's page_fault_user tracepoint, where the kernel has it (BTF names its tp_btf type). */
static bool have_fault_tracepoint(void)
{
	struct btf *vmlinux = btf__load_vmlinux_btf();
	bool have;

	if (!vmlinux)
		return false;
	have = btf__find_by_name_kind(vmlinux, "btf_trace_page_fault_user", BTF_KIND_TYPEDEF) > 0;
	btf__free(vmlinux);
	return have;
}

/*
 * rss_delta needs the per-CPU resident counters (Linux 6.2: mm->rss_stat[] is an array of
 * percpu_counter), bpf_map_lookup_percpu_elem (5.19) to measure the per-CPU offsets, bpf_loop
 * (5.17) and the rss_stat tracepoint with the mm. Elsewhere syscall records carry none.
 */
static bool have_rss_delta(void)
{
	struct btf *btf = btf__load_vmlinux_btf();
	bool ok;
	int id;

	if (!btf)
		return false;
	id = btf__find_by_name_kind(btf, "percpu_counter", BTF_KIND_STRUCT);
	ok = id > 0 && btf__find_by_name_kind(btf, "btf_trace_rss_stat", BTF_KIND_TYPEDEF) > 0 &&
	     libbpf_probe_bpf_helper(BPF_PROG_TYPE_TRACEPOINT, BPF_FUNC_map_lookup_percpu_elem,
				     NULL) > 0 &&
	     libbpf_probe_bpf_helper(BPF_PROG_TYPE_TRACEPOINT, BPF_FUNC_loop, NULL) > 0;
	/* Before 6.2 mm->rss_stat was a struct mm_rss_stat of atomics (exact, but the verifier
	 * would refuse reading it as percpu_counters). */
	ok = ok && btf__find_by_name_kind(btf, "mm_rss_stat", BTF_KIND_STRUCT) < 0;
	btf__free(btf);
	return ok;
}

/* One of the two exit programs; the line that says what a kernel without the exact one
 * costs, once. */
static void choose_exit_program(struct memwatch_bpf *s)
{
	bool gd = exit_has_group_dead();

	bpf_program__set_autoload(s->progs.sched_process_exit_gd, gd);
	bpf_program__set_autoload(s->progs.sched_process_exit, !gd);
	if (!gd)
		mw_p_err("kernel lacks sched_process_exit's group_dead: a thread that ends as its "
			 "process exits may be taken for the process's end");
}

/*
 * Does the kernel's oom:mark_victim pass the victim's task? It has since 6.8
 * (task, uid); before, only a pid, which the program cannot read as a task:
 * the verifier would refuse the whole object. BTF's typedef of the traced
 * function says which.
 */
static bool oom_tracepoint_has_task(void)
{
	struct btf *btf = btf__load_vmlinux_btf();
	const struct btf_type *t;
	const struct btf_param *args;
	bool ok = false;
	int id;

	if (!btf)
		return false;
	id = btf__find_by_name_kind(btf, "btf_trace_mark_victim", BTF_KIND_TYPEDEF);
	t = id > 0 ? btf__type_by_id(btf, btf__type_by_id(btf, id)->type) : NULL;
	if (t && btf_is_ptr(t))
		t = btf__type_by_id(btf, t->type);
	if (t && btf_is_func_proto(t) && btf_vlen(t) >= 2) {
		args = btf_params(t);
		t = btf__type_by_id(btf, args[1].type); /* args[0]: the tracepoint's data */
		if (t && btf_is_ptr(t))
			t = btf__type_by_id(btf, t->type);
		ok = t && btf_is_struct(t) &&
		     !strcmp(btf__name_by_offset(btf, t->name_off), "task_struct");
	}
	btf__free(btf);
	return ok;
}

/*
 * The first write to each page of the ring costs the process whose probe makes it: ~18 us a
 * 4 KiB page on the bench's VM, 35-40 ms of a traced spinner's CPU time in its first burst with
 * the 8 MiB ring of --stacks -c (a second burst of the same process did not pay it). warm_ring
 * writes each page once now, before anything is attached, so memwatch's start pays it instead;
 * the records it reserves are discarded, and skipped whenever the ring is full by moving the
 * consumer's position to the producer's (the ring's own pages, as libbpf maps them): reading
 * them would map all of the ring into memwatch's RSS at once. Best effort: a kernel that cannot
 * run it leaves the ring as it was.
 */
static void warm_ring(struct mw_loader *l, uint64_t ring_size)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts);
	int fd = bpf_program__fd(l->skel->progs.warm_ring);
	int map = bpf_map__fd(l->skel->maps.events);
	uint64_t want = ring_size / MW_WARM_RECORD + 1, done = 0;
	uint64_t runs = 2 * (want / MW_WARM_PER_RUN) + 4;
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	unsigned long *cons, *prod;

	if (fd < 0)
		return;
	cons = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_SHARED, map, 0);
	prod = mmap(NULL, pg, PROT_READ, MAP_SHARED, map, (off_t)pg);
	for (; cons != MAP_FAILED && prod != MAP_FAILED && done < want && runs; runs--) {
		if (bpf_prog_test_run_opts(fd, &opts))
			break;
		done += opts.retval;
		__atomic_store_n(cons, __atomic_load_n(prod, __ATOMIC_ACQUIRE), __ATOMIC_RELEASE);
	}
	if (cons != MAP_FAILED)
		munmap(cons, pg);
	if (prod != MAP_FAILED)
		munmap(prod, pg);
}

int mw_loader_start(struct mw_loader *l, const struct mw_loader_opts *o, mw_record_fn fn, void *ctx,
		    char *err, size_t errsz)
{
	struct memwatch_bpf *s;
	int ret;

	memset(l, 0, sizeof(*l));
	l->wake_fd = -1;
	verbose = o->verbose;
	libbpf_set_print(libbpf_print_fn);
	ret = check_privileges(err, errsz);
	if (ret)
		return ret;
	ret = check_kernel(err, errsz);
	if (ret)
		return ret;
	l->ncpus = libbpf_num_possible_cpus();
	if (l->ncpus <= 0)
		return mw_fail(err, errsz, -EINVAL, "cannot count CPUs");
	l->raw_syscalls = !tracefs_ready();

	s = memwatch_bpf__open_opts(&(struct bpf_object_open_opts){
		.sz = sizeof(struct bpf_object_open_opts),
		.btf_custom_path = mw_vmlinux_btf_path(),
	});
	if (!s)
		return mw_fail(err, errsz, -errno, "cannot open BPF object: %s", strerror(errno));
	l->skel = s;
	s->rodata->follow_forks = o->follow_forks;
	/* Wake the consumer when a quarter of the ring is pending (timer covers the rest). */
	s->rodata->wake_bytes = o->ring_size / 4;
	/* Each CPU looks at the pending data once per this many bytes of its records: all
	 * together add at most wake_bytes / 4 before one looks (64 KiB at most: a reader that
	 * lags is woken again that soon). */
	s->rodata->wake_step = (__u32)(o->ring_size / 16 / (__u64)l->ncpus);
	if (s->rodata->wake_step > 64 * 1024)
		s->rodata->wake_step = 64 * 1024;
	if (!s->rodata->wake_step)
		s->rodata->wake_step = 1;
	ret = bpf_map__set_max_entries(s->maps.events, o->ring_size);
	if (!ret && o->max_threads) {
		ret = bpf_map__set_max_entries(s->maps.threads, o->max_threads);
		if (!ret)
			ret = bpf_map__set_max_entries(s->maps.exited, o->max_threads);
	}
	/* The hints of --stacks: a slot each otherwise. */
	if (!ret && !o->stacks)
		ret = bpf_map__set_max_entries(s->maps.stack_hints, 1);
	if (!ret && o->max_targets)
		ret = bpf_map__set_max_entries(s->maps.targets, o->max_targets);
	if (ret) {
		mw_fail(err, errsz, ret, "cannot size BPF maps: %s", strerror(-ret));
		goto cleanup;
	}
	s->rodata->timed = o->timed;
	s->rodata->nr_cpus = (__u32)l->ncpus;
	s->rodata->want_stacks = o->stacks;
	s->rodata->stacks_maps_only = o->stacks_maps_only;
	s->rodata->rss_sums = have_rss_delta();
	l->rss_delta = o->rss_delta && s->rodata->rss_sums;
	s->rodata->rss_delta = l->rss_delta;
	bpf_program__set_autoload(s->progs.rss_stat, l->rss_delta);
	choose_programs(s, l->raw_syscalls, o->timed, l->rss_delta);
	/* Without the fault probe the threads' fault counts say they are unknown. */
	l->faults = !o->no_faults && have_fault_tracepoint();
	bpf_program__set_autoload(s->progs.page_fault_user, l->faults);
	s->bss->faults_on = l->faults;
	if (o->fault_stacks && !l->faults) {
		ret = mw_fail(err, errsz, -EOPNOTSUPP,
			      "--fault-stacks: this kernel has no page_fault_user tracepoint");
		goto cleanup;
	}
	s->rodata->fault_sample = o->fault_stacks;
	choose_exit_program(s);
	/* BPF_PROG_TYPE_SYSCALL (5.14): without it the ring is not warmed (warm_ring). */
	bpf_program__set_autoload(s->progs.warm_ring,
				  o->warm_ring && libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_SYSCALL,
									     NULL) == 1);
	l->oom_probe = oom_tracepoint_has_task();
	bpf_program__set_autoload(s->progs.mark_victim, l->oom_probe);

	ret = memwatch_bpf__load(s);
	if (ret) {
		mw_fail(err, errsz, ret,
			"cannot load BPF programs: %s (run with -v for the verifier log)",
			strerror(-ret));
		goto cleanup;
	}
	/* The ring's reader first: its pages are written once before a probe can write there. */
	l->rb = ring_buffer__new(bpf_map__fd(s->maps.events), (ring_buffer_sample_fn)fn, ctx, NULL);
	if (!l->rb) {
		ret = -errno;
		mw_fail(err, errsz, ret, "cannot set up the ring buffer: %s", strerror(-ret));
		goto cleanup;
	}
	if (o->warm_ring)
		warm_ring(l, o->ring_size);
	ret = memwatch_bpf__attach(s);
	if (ret) {
		mw_fail(err, errsz, ret, "cannot attach BPF programs: %s (run with -v for details)",
			strerror(-ret));
		goto cleanup;
	}
	return 0;

cleanup:
	mw_loader_stop(l);
	return ret;
}

int mw_loader_add_target(struct mw_loader *l, uint32_t tgid)
{
	__u8 one = 1;

	if (bpf_map__update_elem(l->skel->maps.targets, &tgid, sizeof(tgid), &one, sizeof(one),
				 BPF_ANY))
		return -errno;
	return 0;
}

int mw_loader_set_cgroups(struct mw_loader *l, const int *fds, size_t n)
{
	__u32 i;

	if (n > MW_MAX_CGROUPS)
		return -E2BIG;
	/* Shrink the count first: no probe looks at a slot being rewritten. */
	if (n < l->skel->bss->ncgroups)
		__atomic_store_n(&l->skel->bss->ncgroups, (__u32)n, __ATOMIC_SEQ_CST);
	for (i = 0; i < n; i++) {
		__u32 fd = (__u32)fds[i];

		if (bpf_map__update_elem(l->skel->maps.cgroups, &i, sizeof(i), &fd, sizeof(fd),
					 BPF_ANY))
			return -errno;
	}
	for (; i < MW_MAX_CGROUPS; i++)
		bpf_map__delete_elem(l->skel->maps.cgroups, &i, sizeof(i), 0);
	__atomic_store_n(&l->skel->bss->ncgroups, (__u32)n, __ATOMIC_SEQ_CST);
	return 0;
}

void mw_loader_comm_watch(struct mw_loader *l, bool on)
{
	__atomic_store_n(&l->skel->bss->comm_watch, on, __ATOMIC_SEQ_CST);
}

int mw_loader_comm_add(struct mw_loader *l, const char *comm)
{
	char key[MW_COMM_LEN] = {};
	__u8 one = 1;

	strncpy(key, comm, sizeof(key) - 1);
	if (bpf_map__update_elem(l->skel->maps.comms, key, sizeof(key), &one, sizeof(one), BPF_ANY))
		return -errno;
	return 0;
}

void mw_loader_comm_clear(struct mw_loader *l)
{
	char key[MW_COMM_LEN], next[MW_COMM_LEN];

	/* Delete the first key until none is left: deleting while walking skips keys. */
	while (!bpf_map__get_next_key(l->skel->maps.comms, NULL, next, sizeof(next))) {
		memcpy(key, next, sizeof(key));
		if (bpf_map__delete_elem(l->skel->maps.comms, key, sizeof(key), 0))
			break;
	}
}

void mw_loader_remove_target(struct mw_loader *l, uint32_t tgid)
{
	bpf_map__delete_elem(l->skel->maps.targets, &tgid, sizeof(tgid), 0);
}

bool mw_loader_is_target(struct mw_loader *l, uint32_t tgid)
{
	__u8 v;

	return !bpf_map__lookup_elem(l->skel->maps.targets, &tgid, sizeof(tgid), &v, sizeof(v), 0);
}

int mw_loader_poll(struct mw_loader *l, int timeout_ms)
{
	int ret;

	if (l->wake_fd >= 0) {
		/* The ring's epoll fd and the wake-up: whichever comes first. */
		struct pollfd p[2] = {
			{ .fd = ring_buffer__epoll_fd(l->rb), .events = POLLIN },
			{ .fd = l->wake_fd, .events = POLLIN },
		};
		uint64_t n;

		ret = poll(p, 2, timeout_ms);
		if (ret < 0)
			return -errno;
		if (p[1].revents & POLLIN)
			(void)!read(l->wake_fd, &n, sizeof(n));
		return ring_buffer__consume(l->rb);
	}
	ret = ring_buffer__poll(l->rb, timeout_ms);
	if (ret < 0)
		return ret;
	/* Records submitted without a wake-up are only seen by consuming. */
	return ring_buffer__consume(l->rb);
}

int mw_loader_thread_counters(struct mw_loader *l, uint32_t tid, uint64_t exit_ts,
			      struct mw_thread_counters *c)
{
	struct mw_exit_key key = { .ts_ns = exit_ts, .tid = tid };

	/* An exited thread's final counters were moved aside at its exit. */
	if (exit_ts &&
	    !bpf_map__lookup_elem(l->skel->maps.exited, &key, sizeof(key), c, sizeof(*c), 0))
		return 0;
	if (bpf_map__lookup_elem(l->skel->maps.threads, &tid, sizeof(tid), c, sizeof(*c), 0))
		return -errno;
	return 0;
}

void mw_loader_forget_thread(struct mw_loader *l, uint32_t tid, uint64_t exit_ts)
{
	struct mw_exit_key key = { .ts_ns = exit_ts, .tid = tid };

	/* Not "threads" then: the tid may be another thread's already. */
	if (exit_ts && !bpf_map__delete_elem(l->skel->maps.exited, &key, sizeof(key), 0))
		return;
	bpf_map__delete_elem(l->skel->maps.threads, &tid, sizeof(tid), 0);
}

int mw_loader_set_stack_top(struct mw_loader *l, uint32_t tid, uint64_t top)
{
	return bpf_map__update_elem(l->skel->maps.stack_tops, &tid, sizeof(tid), &top, sizeof(top),
				    BPF_ANY);
}

int mw_loader_set_stack_hint(struct mw_loader *l, const struct mw_stack_hint *h)
{
	__u32 slot = mw_hint_slot(h->tid, h->ip);

	return bpf_map__update_elem(l->skel->maps.stack_hints, &slot, sizeof(slot), h, sizeof(*h),
				    BPF_ANY);
}

void mw_loader_stats(struct mw_loader *l, struct mw_stats *sum)
{
	struct mw_stats per[l->ncpus];
	__u32 zero = 0;

	memset(sum, 0, sizeof(*sum));
	if (bpf_map__lookup_elem(l->skel->maps.stats, &zero, sizeof(zero), per, sizeof(per), 0))
		return;
	for (int i = 0; i < l->ncpus; i++) {
		sum->rb_drops += per[i].rb_drops;
		sum->unpaired += per[i].unpaired;
		sum->inflight_full += per[i].inflight_full;
		sum->threads_full += per[i].threads_full;
		sum->targets_full += per[i].targets_full;
		sum->events += per[i].events;
		sum->adopted += per[i].adopted;
		sum->stacks_same += per[i].stacks_same;
	}
}

int mw_loader_attach_usdt(struct mw_loader *l, uint32_t pid, const char *binary)
{
	struct {
		const char *name;
		struct bpf_program *prog;
	} probes[MW_USDT_COUNT] = {
		[MW_USDT_ARENA_NEW] = { "memory_arena_new", l->skel->progs.usdt_arena_new },
		[MW_USDT_ARENA_REUSE] = { "memory_arena_reuse", l->skel->progs.usdt_arena_reuse },
		[MW_USDT_ARENA_REUSE_FREE_LIST] = { "memory_arena_reuse_free_list",
						    l->skel->progs.usdt_arena_reuse_free_list },
		[MW_USDT_HEAP_NEW] = { "memory_heap_new", l->skel->progs.usdt_heap_new },
		[MW_USDT_HEAP_MORE] = { "memory_heap_more", l->skel->progs.usdt_heap_more },
		[MW_USDT_HEAP_LESS] = { "memory_heap_less", l->skel->progs.usdt_heap_less },
		[MW_USDT_HEAP_FREE] = { "memory_heap_free", l->skel->progs.usdt_heap_free },
		[MW_USDT_SBRK_MORE] = { "memory_sbrk_more", l->skel->progs.usdt_sbrk_more },
		[MW_USDT_SBRK_LESS] = { "memory_sbrk_less", l->skel->progs.usdt_sbrk_less },
	};
	int attached = 0;

	for (int i = 0; i < MW_USDT_COUNT; i++) {
		struct bpf_link *link;

		if (l->nusdt == MW_MAX_USDT_LINKS)
			return attached ? attached : -ENOSPC;
		link = bpf_program__attach_usdt(probes[i].prog, (pid_t)pid, binary, "libc",
						probes[i].name, NULL);
		if (!link)
			continue; /* this libc lacks the probe (Debian's has none) */
		l->usdt[l->nusdt++] = link;
		attached++;
	}
	return attached;
}

static void destroy_usdt(struct mw_loader *l)
{
	for (size_t i = 0; i < l->nusdt; i++)
		bpf_link__destroy(l->usdt[i]);
	l->nusdt = 0;
}

void mw_loader_detach(struct mw_loader *l)
{
	if (!l->skel)
		return;
	/* One store stops every probe; then the links can go one by one. */
	__atomic_store_n(&l->skel->bss->stopping, true, __ATOMIC_SEQ_CST);
	destroy_usdt(l);
	memwatch_bpf__detach(l->skel);
}

void mw_loader_stop(struct mw_loader *l)
{
	destroy_usdt(l);
	ring_buffer__free(l->rb);
	memwatch_bpf__destroy(l->skel);
	l->rb = NULL;
	l->skel = NULL;
}
