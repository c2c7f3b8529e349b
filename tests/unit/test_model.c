// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The process model driven by synthetic event streams. */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include "ledger/model.h"
#include "ledger/procfs.h"
#include "events.h"
#include "unit.h"

#define PG 4096ULL
#define PID 100

static const char *baseline_maps =
	"555555554000-555555556000 r--p 00000000 fe:01 1 /usr/bin/w\n"
	"555555556000-555555558000 r-xp 00002000 fe:01 1 /usr/bin/w\n"
	"555555558000-55555555a000 rw-p 00004000 fe:01 1 /usr/bin/w\n"
	"55555555a000-55555557b000 rw-p 00000000 00:00 0 [heap]\n"
	"7ffff7fc0000-7ffff7fc2000 r-xp 00000000 00:00 0 [vdso]\n"
	"7ffffffde000-7ffffffff000 rw-p 00000000 00:00 0 [stack]\n"
	"ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0 [vsyscall]\n";

static uint64_t ts;

static struct mw_event sc(uint32_t tid, enum mw_sys sys, int64_t ret, uint64_t a0, uint64_t a1,
			  uint64_t a2, uint64_t a3, uint64_t a4)
{
	return ut_syscall(PID, tid, ts += 1000, sys, ret, a0, a1, a2, a3, a4);
}

static struct mw_process *seeded(struct mw_model *m)
{
	struct mw_regions maps;
	struct mw_process *p;

	mw_model_init(m, PG);
	mw_regions_init(&maps);
	CHECK_EQ_INT(mw_maps_parse(baseline_maps, &maps), 0);
	p = mw_model_process(m, PID);
	CHECK(p != NULL);
	ts = 5000;
	/* VmSize leaves [vsyscall] out. */
	CHECK_EQ_INT(mw_model_seed(p, &maps, 0x55555555a000ULL, mw_regions_bytes(&maps) - PG,
				   0x21000, ts),
		     0);
	mw_regions_free(&maps);
	return p;
}

static int64_t apply(struct mw_model *m, struct mw_event ev)
{
	struct mw_apply a;

	CHECK_EQ_INT(mw_model_apply(m, &ev, &a), 0);
	CHECK(a.proc != NULL);
	return a.vm_delta;
}

TEST(model_seed_takes_break_from_heap)
{
	struct mw_model m;
	struct mw_process *p = seeded(&m);

	CHECK_EQ_HEX(p->start_brk, 0x55555555a000ULL);
	CHECK_EQ_HEX(p->brk, 0x55555557b000ULL);
	CHECK_EQ_INT(p->net, 0);
	/* [vsyscall] is not in the mm (not in VmSize): the model leaves it out. */
	CHECK(mw_regions_find(&p->regions, 0xffffffffff600000ULL) == NULL);
	mw_model_free(&m);
}

TEST(model_mmap_munmap_ledger)
{
	struct mw_model m;
	struct mw_process *p = seeded(&m);
	uint64_t a = 0x7f0000000000ULL;
	struct mw_thread *t;

	CHECK_EQ_INT(apply(&m, sc(101, MW_SYS_MMAP, a, 0, 10000, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS, -1)),
		     3 * PG);
	/* MAP_FIXED over the middle page: replaced, no growth. */
	CHECK_EQ_INT(apply(&m, sc(101, MW_SYS_MMAP, a + PG, a + PG, PG, PROT_READ,
				  MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1)),
		     0);
	/* munmap of a range only half mapped counts the mapped half. */
	CHECK_EQ_INT(apply(&m, sc(101, MW_SYS_MUNMAP, 0, a + 2 * PG, 2 * PG, 0, 0, 0)),
		     -(int64_t)PG);
	/* A failed call changes nothing but is counted. */
	CHECK_EQ_INT(apply(&m, sc(101, MW_SYS_MUNMAP, -22, a + 1, PG, 0, 0, 0)), 0);
	t = mw_process_find_thread(p, 101);
	CHECK(t != NULL);
	CHECK_EQ_INT(t->seen_calls[MW_SYS_MMAP], 2);
	CHECK_EQ_INT(mw_thread_counts(t)->calls[MW_SYS_MMAP], 2);
	CHECK_EQ_INT(mw_thread_counts(t)->calls[MW_SYS_MUNMAP], 2);
	CHECK_EQ_INT(mw_thread_counts(t)->errors[MW_SYS_MUNMAP], 1);
	/* Once the kernel's counters are read they are the counts; later records are
	 * counted as seen only (the kernel's next read has them). */
	{
		struct mw_thread_counters kc = { .calls[MW_SYS_MMAP] = 3,
						 .calls[MW_SYS_MUNMAP] = 2,
						 .errors[MW_SYS_MUNMAP] = 1,
						 .dur_ns[MW_SYS_MMAP] = 77 };

		mw_thread_set_kernel(t, &kc, PG);
		CHECK_EQ_INT(mw_thread_dropped(t), 1); /* an mmap the events did not show */
		CHECK_EQ_INT(apply(&m, sc(101, MW_SYS_MUNMAP, -22, a + 1, PG, 0, 0, 0)), 0);
		CHECK_EQ_INT(mw_thread_counts(t)->calls[MW_SYS_MUNMAP], 2);
		CHECK_EQ_INT(mw_thread_counts(t)->errors[MW_SYS_MUNMAP], 1);
		CHECK_EQ_INT(mw_thread_counts(t)->dur_ns[MW_SYS_MMAP], 77);
		CHECK_EQ_INT(t->seen_calls[MW_SYS_MUNMAP], 3);
		CHECK_EQ_INT(mw_thread_dropped(t), 1); /* never below zero per call */
	}
	CHECK_EQ_INT(t->mapped, 4 * PG);
	CHECK_EQ_INT(t->unmapped, 2 * PG);
	CHECK_EQ_INT(p->net, 2 * PG);
	mw_model_free(&m);
}

TEST(model_mprotect_moves_reserved_to_accessible)
{
	struct mw_model m;
	struct mw_process *p = seeded(&m);
	uint64_t a = 0x7f0000000000ULL;
	struct mw_thread *t;

	apply(&m, sc(7, MW_SYS_MMAP, a, 0, 64 * PG, PROT_NONE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1));
	CHECK_EQ_INT(apply(&m, sc(7, MW_SYS_MPROTECT, 0, a, 33 * PG, PROT_READ | PROT_WRITE, 0, 0)),
		     0);
	t = mw_process_find_thread(p, 7);
	CHECK_EQ_INT(t->accessible, 33 * PG);
	CHECK_EQ_INT(t->reserved, 31 * PG);
	mw_model_free(&m);
}

TEST(model_brk_grow_and_trim)
{
	struct mw_model m;
	struct mw_process *p = seeded(&m);
	uint64_t end = 0x55555557b000ULL;

	CHECK_EQ_INT(apply(&m, sc(PID, MW_SYS_BRK, (int64_t)end, 0, 0, 0, 0, 0)), 0);
	CHECK_EQ_INT(
		apply(&m, sc(PID, MW_SYS_BRK, (int64_t)(end + 0x21000), end + 0x21000, 0, 0, 0, 0)),
		0x21000);
	/* Not page aligned: the heap ends at the next page. */
	CHECK_EQ_INT(
		apply(&m, sc(PID, MW_SYS_BRK, (int64_t)(end + 0x22010), end + 0x22010, 0, 0, 0, 0)),
		0x2000);
	CHECK_EQ_INT(apply(&m, sc(PID, MW_SYS_BRK, (int64_t)end, end, 0, 0, 0, 0)), -0x23000);
	/* A refused brk returns the old break: no change. */
	CHECK_EQ_INT(apply(&m, sc(PID, MW_SYS_BRK, (int64_t)end, end + (1ULL << 40), 0, 0, 0, 0)),
		     0);
	CHECK_EQ_INT(p->net, 0);
	CHECK(mw_regions_find(&p->regions, end - 1) != NULL);
	CHECK(mw_regions_find(&p->regions, end) == NULL);
	mw_model_free(&m);
}

TEST(model_mremap_move_and_grow)
{
	struct mw_model m;
	struct mw_process *p = seeded(&m);
	uint64_t a = 0x7f0000000000ULL, b = 0x7f1000000000ULL;

	apply(&m, sc(9, MW_SYS_MMAP, a, 0, 4 * PG, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1));
	CHECK_EQ_INT(apply(&m, sc(9, MW_SYS_MREMAP, a, a, 4 * PG, 8 * PG, MREMAP_MAYMOVE, 0)),
		     4 * PG);
	CHECK_EQ_INT(apply(&m, sc(9, MW_SYS_MREMAP, b, a, 8 * PG, 2 * PG,
				  MREMAP_MAYMOVE | MREMAP_FIXED, b)),
		     -6 * (int64_t)PG);
	CHECK(mw_regions_find(&p->regions, a) == NULL);
	CHECK(mw_regions_find(&p->regions, b + PG) != NULL);
	CHECK_EQ_INT(mw_regions_find(&p->regions, b)->prot, PROT_READ | PROT_WRITE);
	mw_model_free(&m);
}

/* The prot of the region holding addr, -1 when nothing is mapped there. */
static int prot_at(const struct mw_process *p, uint64_t addr)
{
	const struct mw_region *g = mw_regions_find(&p->regions, addr);

	return g ? (int)g->prot : -1;
}

/* tests/workloads/dontunmap.c's sequence: the pages move, the source stays mapped (and is
 * charged when unmapped later); with MREMAP_FIXED the destination's overlap is replaced. */
TEST(model_mremap_dontunmap_keeps_the_source)
{
	struct mw_model m;
	struct mw_process *p = seeded(&m);
	uint64_t a = 0x7f0000000000ULL, b = 0x7f0000100000ULL, c = 0x7f0000200000ULL;
	struct mw_thread *t;

	apply(&m, sc(9, MW_SYS_MMAP, a, 0, 16 * PG, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1));
	CHECK_EQ_INT(apply(&m, sc(9, MW_SYS_MREMAP, b, a, 16 * PG, 16 * PG,
				  MREMAP_MAYMOVE | MREMAP_DONTUNMAP, 0)),
		     16 * PG);
	CHECK_EQ_INT(prot_at(p, a), PROT_READ | PROT_WRITE);
	CHECK_EQ_INT(prot_at(p, a + 15 * PG), PROT_READ | PROT_WRITE);
	CHECK_EQ_INT(prot_at(p, b), PROT_READ | PROT_WRITE);
	CHECK_EQ_INT(prot_at(p, b + 15 * PG), PROT_READ | PROT_WRITE);
	CHECK_EQ_INT(apply(&m, sc(9, MW_SYS_MPROTECT, 0, a, 4 * PG, PROT_READ, 0, 0)), 0);
	CHECK_EQ_INT(prot_at(p, a), PROT_READ);
	apply(&m, sc(9, MW_SYS_MMAP, c, 0, 32 * PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1));
	CHECK_EQ_INT(apply(&m, sc(9, MW_SYS_MREMAP, c + 8 * PG, b + 8 * PG, 8 * PG, 8 * PG,
				  MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP, c + 8 * PG)),
		     0);
	CHECK_EQ_INT(prot_at(p, b + 8 * PG), PROT_READ | PROT_WRITE);
	CHECK_EQ_INT(prot_at(p, c + 7 * PG), PROT_READ);
	CHECK_EQ_INT(prot_at(p, c + 8 * PG), PROT_READ | PROT_WRITE);
	CHECK_EQ_INT(prot_at(p, c + 15 * PG), PROT_READ | PROT_WRITE);
	CHECK_EQ_INT(prot_at(p, c + 16 * PG), PROT_READ);
	CHECK_EQ_INT(apply(&m, sc(9, MW_SYS_MUNMAP, 0, a, 16 * PG, 0, 0, 0)), -16 * (int64_t)PG);
	CHECK_EQ_INT(prot_at(p, a), -1);
	t = mw_process_find_thread(p, 9);
	CHECK(t != NULL);
	if (t) {
		CHECK_EQ_INT(t->mapped, 72 * PG);
		CHECK_EQ_INT(t->unmapped, 24 * PG);
	}
	CHECK_EQ_INT(p->net, 48 * PG);
	mw_model_free(&m);
}

TEST(model_mmap_shared_and_file_flags)
{
	struct mw_model m;
	struct mw_process *p = seeded(&m);
	uint64_t a = 0x7f0000000000ULL, b = 0x7f0000100000ULL, c = 0x7f0000200000ULL;
	const struct mw_region *g;

	apply(&m, sc(9, MW_SYS_MMAP, a, 0, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1));
	apply(&m, sc(9, MW_SYS_MMAP, b, 0, PG, PROT_READ, MAP_SHARED | MAP_ANONYMOUS, -1));
	apply(&m, sc(9, MW_SYS_MMAP, c, 0, PG, PROT_READ, MAP_PRIVATE, 3));
	g = mw_regions_find(&p->regions, a);
	CHECK(g && !(g->flags & (MW_RF_SHARED | MW_RF_FILE)));
	g = mw_regions_find(&p->regions, b);
	CHECK(g && (g->flags & MW_RF_SHARED) && !(g->flags & MW_RF_FILE));
	g = mw_regions_find(&p->regions, c);
	CHECK(g && !(g->flags & MW_RF_SHARED) && (g->flags & MW_RF_FILE));
	mw_model_free(&m);
}

/* dropped: per syscall, the kernel's count less the records seen, never below zero (a record
 * can arrive after the counters were read). */
TEST(model_thread_dropped_from_kernel_counters)
{
	struct mw_thread t = { .tid = 5 };

	t.seen_calls[MW_SYS_MMAP] = 7;
	t.counts.calls[MW_SYS_MMAP] = 10;
	CHECK_EQ_INT(mw_thread_dropped(&t), 0); /* no kernel counters yet */
	t.have_kernel = true;
	CHECK_EQ_INT(mw_thread_dropped(&t), 3);
	t.seen_calls[MW_SYS_MUNMAP] = 5;
	t.counts.calls[MW_SYS_MUNMAP] = 5;
	t.seen_calls[MW_SYS_BRK] = 2;
	t.counts.calls[MW_SYS_BRK] = 1;
	CHECK_EQ_INT(mw_thread_dropped(&t), 3);
	t.counts.calls[MW_SYS_MADVISE] = 4;
	CHECK_EQ_INT(mw_thread_dropped(&t), 7);
}

TEST(model_fork_copies_address_space_without_dontfork)
{
	struct mw_model m;
	struct mw_process *p = seeded(&m), *c;
	uint64_t a = 0x7f0000000000ULL;
	struct mw_event ev = { .kind = MW_EV_FORK, .pid = PID, .tid = PID, .mono_ns = 9999999 };
	struct mw_apply ap;

	apply(&m, sc(PID, MW_SYS_MMAP, a, 0, 4 * PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1));
	apply(&m, sc(PID, MW_SYS_MADVISE, 0, a, PG, MADV_DONTFORK, 0, 0));
	ev.task.child_pid = 200;
	ev.task.vm_bytes = 12345 * PG;
	ev.task.stack_bytes = 33 * PG;
	ev.task.child_tid = 200;
	strcpy(ev.task.child_comm, "kid");
	CHECK_EQ_INT(mw_model_apply(&m, &ev, &ap), 0);
	c = mw_model_find(&m, 200);
	CHECK(c != NULL);
	CHECK(ap.child == c);
	CHECK_EQ_INT(mw_regions_bytes(&c->regions), mw_regions_bytes(&p->regions) - PG);
	CHECK_EQ_INT(c->vm_start, 12345 * PG);
	CHECK_EQ_INT(c->stack_start, 33 * PG);
	CHECK_EQ_STR(mw_process_find_thread(c, 200)->comm, "kid");
	CHECK_EQ_INT(c->parent, PID);
	mw_model_free(&m);
}

/* Counts the allocator states made and freed through the model's ops. */
static int alloc_live;

static struct mw_alloc *count_fork(const struct mw_alloc *a)
{
	(void)a;
	alloc_live++;
	return malloc(1);
}

static void count_free(struct mw_alloc *a)
{
	alloc_live--;
	free(a);
}

/*
 * A fork record for a pid the model still has live (its exit record lost, or a crafted
 * recording): the old record goes whole (its allocator state leaked, and its threads stayed),
 * and a process "forking itself" is ignored.
 */
TEST(model_fork_over_a_live_pid_replaces_it)
{
	struct mw_model m;
	struct mw_process *p = seeded(&m), *c;
	struct mw_event ev = { .kind = MW_EV_FORK, .pid = PID, .tid = PID, .mono_ns = 9999999 };
	struct mw_apply ap;

	m.alloc_ops = (struct mw_alloc_ops){ .fork = count_fork, .free = count_free };
	p->alloc = malloc(1);
	alloc_live = 1;
	ev.task.child_pid = 200;
	ev.task.child_tid = 200;
	strcpy(ev.task.child_comm, "kid");
	CHECK_EQ_INT(mw_model_apply(&m, &ev, &ap), 0);
	c = mw_model_find(&m, 200);
	CHECK(c && mw_process_thread(c, 201)); /* a second thread in the first child */
	CHECK_EQ_INT(alloc_live, 2);
	/* Pid 200 again, while the model has it live. */
	CHECK_EQ_INT(mw_model_apply(&m, &ev, &ap), 0);
	c = mw_model_find(&m, 200);
	CHECK(c != NULL && ap.child == c);
	CHECK_EQ_INT(alloc_live, 2); /* the first child's state was freed */
	CHECK_EQ_INT(c->nthreads, 1);
	CHECK(mw_process_find_thread(c, 201) == NULL);
	CHECK_EQ_INT(m.nprocs, 2);
	/* A process cannot be its own child. */
	ev.task.child_pid = PID;
	CHECK_EQ_INT(mw_model_apply(&m, &ev, &ap), 0);
	CHECK(ap.child == NULL && mw_model_find(&m, PID) == p);
	CHECK_EQ_INT(alloc_live, 2);
	mw_model_free(&m);
	CHECK_EQ_INT(alloc_live, 0);
}

TEST(model_exec_asks_for_reseed_and_exit_marks_process)
{
	struct mw_model m;
	struct mw_process *p = seeded(&m);
	struct mw_event ev = { .kind = MW_EV_EXEC, .pid = PID, .tid = PID, .mono_ns = 1 };
	struct mw_apply a;

	strcpy(ev.comm, "newimage");
	CHECK_EQ_INT(mw_model_apply(&m, &ev, &a), 0);
	CHECK(p->needs_seed);
	CHECK_EQ_INT(p->regions.n, 0);
	CHECK_EQ_STR(p->comm, "newimage");
	ev.kind = MW_EV_EXIT;
	ev.task.group_dead = true;
	ev.task.exit_code = 3 << 8;
	CHECK_EQ_INT(mw_model_apply(&m, &ev, &a), 0);
	CHECK(a.proc_exited);
	CHECK(p->exited);
	CHECK_EQ_INT(p->exit_code, 3 << 8);
	mw_model_free(&m);
}

/* Threads that exit together come in any order: the process ends with the last exit, not with
 * the one that said group_dead; an exec leaves one thread (the others' exits came before). */
TEST(model_process_ends_with_its_last_thread_exit)
{
	struct mw_model m;
	struct mw_process *p = seeded(&m);
	struct mw_event ev = { .kind = MW_EV_THREAD_NEW, .pid = PID, .tid = PID, .mono_ns = 1 };
	struct mw_apply a;

	ev.task.child_tid = PID + 1;
	CHECK_EQ_INT(mw_model_apply(&m, &ev, &a), 0);
	ev.task.child_tid = PID + 2;
	CHECK_EQ_INT(mw_model_apply(&m, &ev, &a), 0);
	CHECK_EQ_INT(mw_process_threads_left(p), 3);
	ev.kind = MW_EV_EXIT;
	ev.task.group_dead = true;
	ev.task.exit_code = 5 << 8;
	CHECK_EQ_INT(mw_model_apply(&m, &ev, &a), 0);
	CHECK(a.proc_exited && !a.proc_done && !p->exited && p->group_dead);
	CHECK_EQ_INT(p->exit_code, 5 << 8);
	ev.tid = PID + 2;
	ev.task.group_dead = false;
	ev.task.exit_code = 0;
	CHECK_EQ_INT(mw_model_apply(&m, &ev, &a), 0);
	CHECK(!a.proc_exited && !a.proc_done && !p->exited);
	ev.tid = PID + 1;
	CHECK_EQ_INT(mw_model_apply(&m, &ev, &a), 0);
	CHECK(!a.proc_exited && a.proc_done && p->exited);
	CHECK_EQ_INT(p->exit_code, 5 << 8);
	mw_model_free(&m);

	/* exec from thread PID + 1: it goes on as PID; the old leader's exit came first. */
	p = seeded(&m);
	ev = (struct mw_event){ .kind = MW_EV_THREAD_NEW, .pid = PID, .tid = PID, .mono_ns = 1 };
	ev.task.child_tid = PID + 1;
	CHECK_EQ_INT(mw_model_apply(&m, &ev, &a), 0);
	ev.kind = MW_EV_EXIT;
	CHECK_EQ_INT(mw_model_apply(&m, &ev, &a), 0);
	ev.kind = MW_EV_EXEC;
	CHECK_EQ_INT(mw_model_apply(&m, &ev, &a), 0);
	CHECK_EQ_INT(mw_process_threads_left(p), 1);
	CHECK(!mw_process_find_thread(p, PID)->exited);
	ev.kind = MW_EV_EXIT;
	ev.task.group_dead = true;
	CHECK_EQ_INT(mw_model_apply(&m, &ev, &a), 0);
	CHECK(a.proc_exited && a.proc_done && p->exited);
	mw_model_free(&m);
}

TEST(model_events_for_unknown_processes_are_ignored)
{
	struct mw_model m;
	struct mw_event ev;
	struct mw_apply a;

	seeded(&m);
	ev = sc(5, MW_SYS_MMAP, 0x1000, 0, PG, 0, MAP_PRIVATE | MAP_ANONYMOUS, 0);
	ev.pid = 4242;
	CHECK_EQ_INT(mw_model_apply(&m, &ev, &a), 0);
	CHECK(a.proc == NULL);
	mw_model_free(&m);
}

TEST(model_raced_events_are_idempotent)
{
	struct mw_model m;
	struct mw_process *p = seeded(&m);
	uint64_t heap_end = 0x55555557b000ULL;
	struct mw_event ev;
	struct mw_apply a;

	/* A munmap of the heap's last page that the snapshot already reflects... */
	ev = sc(PID, MW_SYS_MMAP, 0x555555558000LL, 0x555555558000ULL, 2 * PG,
		PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED | MAP_ANONYMOUS, -1);
	ev.mono_ns = 10; /* before the snapshot ended */
	CHECK_EQ_INT(mw_model_apply(&m, &ev, &a), 0);
	CHECK(a.raced);
	CHECK_EQ_INT(p->raced, 1);
	/* ...leaves the same map: replacing a region with itself. */
	CHECK_EQ_INT(mw_regions_bytes(&p->regions),
		     0x2000 + 0x2000 + 0x2000 + 0x21000 + 0x2000 + 0x21000);
	CHECK(mw_regions_find(&p->regions, heap_end - 1) != NULL);
	mw_model_free(&m);
}

TEST(model_resync_keeps_baseline_and_books_unattributed)
{
	struct mw_model m;
	struct mw_process *p = seeded(&m);
	struct mw_regions maps;
	uint64_t vm0 = p->vm_start;

	mw_regions_init(&maps);
	CHECK_EQ_INT(mw_regions_copy(&maps, &p->regions, false), 0);
	{
		struct mw_region r = { .start = 0x7f0000000000ULL,
				       .end = 0x7f0000010000ULL,
				       .prot = 3 };
		struct mw_vm_delta d = { 0 };

		CHECK_EQ_INT(mw_regions_map(&maps, &r, &d), 0);
	}
	CHECK_EQ_INT(mw_model_resync(p, &maps, 123456), 0);
	CHECK_EQ_INT(p->unattributed, 0x10000);
	CHECK_EQ_INT(p->net, 0x10000);
	CHECK_EQ_INT(p->vm_start, vm0);
	mw_regions_free(&maps);
	mw_model_free(&m);
}

TEST(model_out_of_order_munmap_is_charged_to_its_thread)
{
	struct mw_model m;
	struct mw_process *p = seeded(&m);
	uint64_t x = 0x7f0000000000ULL;
	struct mw_event unmap;

	apply(&m, sc(1, MW_SYS_MMAP, x, 0, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		     -1));
	/* Thread 1 unmaps x; thread 2 gets x; thread 2's record arrives first. */
	unmap = sc(1, MW_SYS_MUNMAP, 0, x, PG, 0, 0, 0);
	unmap.sc.dur_ns = 5000; /* it began before thread 2's mmap ended */
	CHECK_EQ_INT(apply(&m, sc(2, MW_SYS_MMAP, x, 0, PG, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS, -1)),
		     PG);
	unmap.mono_ns = ts += 1000;
	CHECK_EQ_INT(apply(&m, unmap), -(int64_t)PG);
	/* Thread 2's mapping survives the late munmap. */
	CHECK(mw_regions_find(&p->regions, x) != NULL);
	CHECK_EQ_INT(mw_process_find_thread(p, 1)->unmapped, PG);
	CHECK_EQ_INT(mw_process_find_thread(p, 2)->unmapped, 0);
	CHECK_EQ_INT(p->npending, 0);
	/* Thread 2's own later munmap began after: it unmaps the live mapping. */
	CHECK_EQ_INT(apply(&m, sc(2, MW_SYS_MUNMAP, 0, x, PG, 0, 0, 0)), -(int64_t)PG);
	CHECK(mw_regions_find(&p->regions, x) == NULL);
	CHECK_EQ_INT(p->net, 0); /* each thread mapped and unmapped one page */
	mw_model_free(&m);
}

TEST(model_unclaimed_takeover_expires_into_unattributed)
{
	struct mw_model m;
	struct mw_process *p = seeded(&m);
	uint64_t x = 0x7f0000000000ULL;
	struct mw_event late;

	apply(&m, sc(1, MW_SYS_MMAP, x, 0, 2 * PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1));
	apply(&m, sc(2, MW_SYS_MMAP, x, 0, 2 * PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1));
	CHECK_EQ_INT(p->npending, 1);
	/* The munmap that freed it was lost: a second later it is written off. */
	late = sc(3, MW_SYS_BRK, 0x55555557b000LL, 0, 0, 0, 0, 0);
	late.mono_ns += 2 * MW_PENDING_TTL_NS;
	apply(&m, late);
	CHECK_EQ_INT(p->npending, 0);
	CHECK_EQ_INT(p->unattributed, -2 * (int64_t)PG);
	CHECK_EQ_INT(p->net, 2 * PG);
	CHECK_EQ_INT(mw_regions_bytes(&p->regions) - 0x4a000, 2 * PG);
	mw_model_free(&m);
}

TEST(model_out_of_order_munmap_without_durations)
{
	struct mw_model m;
	struct mw_process *p = seeded(&m);
	uint64_t x = 0x7f0000000000ULL;
	struct mw_event late;

	apply(&m, sc(1, MW_SYS_MMAP, x, 0, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1));
	late = sc(1, MW_SYS_MUNMAP, 0, x, PG, 0, 0, 0); /* dur_ns 0: calls not timed */
	CHECK_EQ_INT(
		apply(&m, sc(2, MW_SYS_MMAP, x, 0, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1)),
		PG);
	/* Thread 2 cannot have freed what it found mapped: its own munmap unmaps its mapping. */
	CHECK_EQ_INT(p->npending, 1);
	late.mono_ns = ts += 1000;
	CHECK_EQ_INT(apply(&m, late), -(int64_t)PG);
	CHECK(mw_regions_find(&p->regions, x) != NULL);
	CHECK_EQ_INT(apply(&m, sc(2, MW_SYS_MUNMAP, 0, x, PG, 0, 0, 0)), -(int64_t)PG);
	CHECK(mw_regions_find(&p->regions, x) == NULL);
	CHECK_EQ_INT(p->net, 0);
	mw_model_free(&m);
}

TEST(model_class_bytes_per_thread_in_one_pass)
{
	struct mw_model m;
	struct mw_process *p;
	uint64_t(*by)[MW_CLASS_COUNT];
	struct mw_region a = { .start = 0x10000, .end = 0x30000, .prot = 3, .tid = 20 };
	struct mw_region b = { .start = 0x40000, .end = 0x41000, .prot = 3, .tid = 10 };
	struct mw_region c = { .start = 0x50000, .end = 0x58000, .prot = 0, .tid = 20 };
	struct mw_region u = { .start = 0x60000, .end = 0x61000, .prot = 3, .tid = 0 };

	mw_model_init(&m, 4096);
	p = mw_model_process(&m, 10);
	CHECK(p != NULL);
	CHECK(mw_process_thread(p, 10) && mw_process_thread(p, 20));
	CHECK_EQ_INT(mw_regions_map(&p->regions, &a, NULL), 0);
	CHECK_EQ_INT(mw_regions_map(&p->regions, &b, NULL), 0);
	CHECK_EQ_INT(mw_regions_map(&p->regions, &c, NULL), 0);
	CHECK_EQ_INT(mw_regions_map(&p->regions, &u, NULL), 0);
	CHECK_EQ_INT(mw_regions_label(&p->regions, 0x10000, 0x30000, MW_CLASS_ARENA_HEAP, 1), 0);
	CHECK_EQ_INT(mw_regions_label(&p->regions, 0x50000, 0x58000, MW_CLASS_THREAD_STACK, -1), 0);
	by = mw_process_class_bytes(p);
	CHECK(by != NULL);
	/* threads are sorted by tid: row 0 is tid 10, row 1 tid 20; unknown creators count nowhere. */
	CHECK_EQ_INT(by[0][MW_CLASS_ANON], 0x1000);
	CHECK_EQ_INT(by[1][MW_CLASS_ARENA_HEAP], 0x20000);
	CHECK_EQ_INT(by[1][MW_CLASS_THREAD_STACK], 0x8000);
	CHECK_EQ_INT(by[0][MW_CLASS_ARENA_HEAP] + by[1][MW_CLASS_ANON], 0);
	free(by);
	mw_model_free(&m);
}

/* A busy process at attach: its maps were read in two pieces while two calls ran. */
static const char *busy_maps = "555555554000-555555556000 r--p 00000000 fe:01 1 /usr/bin/w\n"
			       "7f0000000000-7f0000010000 rw-p 00000000 00:00 0 \n"
			       "7f1000000000-7f1000010000 rw-p 00000000 00:00 0 \n"
			       "7ffffffde000-7ffffffff000 rw-p 00000000 00:00 0 [stack]\n";
#define X 0x7f0000000000ULL
#define Y 0x7f1000000000ULL
#define BUSY_BYTES (0x2000 + 0x10000 + 0x10000 + 0x21000)

/* Pieces: up to Y read between 1000 and 2000, from Y on between 3000 and 4000; the
 * snapshot ended (VmSize read) at 5000. */
static struct mw_process *seeded_busy(struct mw_model *m, uint64_t vm_size)
{
	static const struct mw_maps_piece pieces[] = {
		{ .lo = 0, .t_before = 1000, .t_after = 2000 },
		{ .lo = 0x7f0000010000ULL, .t_before = 3000, .t_after = 4000 },
	};
	struct mw_regions maps;
	struct mw_process *p;

	mw_model_init(m, PG);
	mw_regions_init(&maps);
	CHECK_EQ_INT(mw_maps_parse(busy_maps, &maps), 0);
	p = mw_model_process(m, PID);
	CHECK_EQ_INT(mw_model_seed(p, &maps, 0, vm_size, 0x21000, 5000), 0);
	CHECK_EQ_INT(mw_model_set_pieces(p, pieces, 2), 0);
	mw_regions_free(&maps);
	return p;
}

static struct mw_event at(struct mw_event ev, uint64_t mono_ns)
{
	ev.mono_ns = ev.ts_ns = mono_ns;
	return ev;
}

TEST(model_raced_call_the_snapshot_shows_is_skipped)
{
	struct mw_model m;
	struct mw_process *p = seeded_busy(&m, BUSY_BYTES);
	struct mw_event ev;
	struct mw_apply a;

	/* Y was mapped at 2500, before its piece was read (3000): the snapshot has it. Applied
	 * again it would look like a mapping landing on one an unseen munmap freed. */
	ev = at(sc(2, MW_SYS_MMAP, (int64_t)Y, 0, 0x10000, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1),
		2500);
	CHECK_EQ_INT(mw_model_apply(&m, &ev, &a), 0);
	CHECK(a.raced);
	CHECK_EQ_INT(a.vm_delta, 0);
	CHECK_EQ_INT(p->npending, 0);
	CHECK(mw_regions_find(&p->regions, Y)->flags & MW_RF_BASELINE);
	/* X was mapped at 1500, while its piece was being read: the map shows it as read. */
	ev = at(sc(2, MW_SYS_MMAP, (int64_t)X, 0, 0x10000, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1),
		1500);
	CHECK_EQ_INT(mw_model_apply(&m, &ev, &a), 0);
	CHECK_EQ_INT(p->npending, 0);
	mw_model_settle(p);
	CHECK_EQ_INT(p->raced, 2);
	CHECK_EQ_INT(p->unattributed, 0);
	CHECK_EQ_INT(p->net, 0);
	CHECK_EQ_INT(mw_process_find_thread(p, 2)->mapped, 0);
	mw_model_free(&m);
}

TEST(model_raced_call_after_its_piece_repairs_without_growth)
{
	struct mw_model m;
	/* VmSize, read at 5000, no longer has X: it was unmapped at 2500, after its piece. */
	struct mw_process *p = seeded_busy(&m, BUSY_BYTES - 0x10000);
	struct mw_event ev;
	struct mw_apply a;

	ev = at(sc(3, MW_SYS_MUNMAP, 0, X, 0x10000, 0, 0, 0), 2500);
	CHECK_EQ_INT(mw_model_apply(&m, &ev, &a), 0);
	CHECK(a.raced);
	CHECK_EQ_INT(a.vm_delta, -0x10000);
	CHECK(mw_regions_find(&p->regions, X) == NULL);
	/* Before the baseline: no growth, no thread ledger. */
	CHECK_EQ_INT(p->net, 0);
	CHECK_EQ_INT(mw_process_find_thread(p, 3)->unmapped, 0);
	/* The first call 50 ms later settles the baseline: the map agrees with VmSize. */
	ev = at(sc(3, MW_SYS_MPROTECT, 0, Y, PG, PROT_READ, 0, 0), 5000 + MW_SETTLE_NS + 1);
	CHECK_EQ_INT(mw_model_apply(&m, &ev, &a), 0);
	CHECK(!p->settle_pending);
	CHECK_EQ_INT(p->unattributed, 0);
	CHECK_EQ_INT(p->vm_start + p->net, mw_regions_bytes(&p->regions));
	mw_model_free(&m);
}

TEST(model_raced_call_after_the_settling_takes_its_booking_back)
{
	struct mw_model m;
	/* VmSize, read at 5000, no longer has X: unmapped at 4500, after its piece. */
	struct mw_process *p = seeded_busy(&m, BUSY_BYTES - 0x10000);
	struct mw_event ev;
	struct mw_apply a;

	/* The first call 50 ms on settles the baseline before X's munmap is in: the map,
	 * which still has X, is 64K over VmSize, and nothing explains it. */
	ev = at(sc(3, MW_SYS_MPROTECT, 0, Y, PG, PROT_READ, 0, 0), 5000 + MW_SETTLE_NS + 1);
	CHECK_EQ_INT(mw_model_apply(&m, &ev, &a), 0);
	CHECK(!p->settle_pending);
	CHECK_EQ_INT(p->unattributed, 0x10000);
	/* Then the munmap's record, held up on its way: the map is right again, and so is net. */
	ev = at(sc(4, MW_SYS_MUNMAP, 0, X, 0x10000, 0, 0, 0), 4500);
	CHECK_EQ_INT(mw_model_apply(&m, &ev, &a), 0);
	CHECK(a.raced);
	CHECK(mw_regions_find(&p->regions, X) == NULL);
	CHECK_EQ_INT(p->unattributed, 0);
	CHECK_EQ_INT(p->net, 0);
	CHECK_EQ_INT(p->vm_start + p->net, mw_regions_bytes(&p->regions));
	CHECK_EQ_INT(mw_process_find_thread(p, 4)->unmapped, 0);
	mw_model_free(&m);
}

TEST(model_settle_moves_a_call_vmsize_showed_before_the_baseline)
{
	struct mw_model m;
	/* VmSize read at 5000 already lacked Y, but the munmap's record says 5100. */
	struct mw_process *p = seeded_busy(&m, BUSY_BYTES - 0x10000);
	struct mw_event ev;
	struct mw_apply a;

	ev = at(sc(4, MW_SYS_MUNMAP, 0, Y, 0x10000, 0, 0, 0), 5100);
	CHECK_EQ_INT(mw_model_apply(&m, &ev, &a), 0);
	CHECK(!a.raced);
	CHECK_EQ_INT(p->net, -0x10000);
	mw_model_settle(p);
	CHECK_EQ_INT(p->unattributed, 0);
	CHECK_EQ_INT(p->net, 0);
	CHECK_EQ_INT(p->raced, 1);
	CHECK_EQ_INT(mw_process_find_thread(p, 4)->unmapped, 0);
	mw_model_free(&m);
	/* What no call just after the snapshot explains is unattributed, not hidden. */
	p = seeded_busy(&m, BUSY_BYTES - 0x3000);
	mw_model_settle(p);
	CHECK_EQ_INT(p->unattributed, 0x3000);
	CHECK_EQ_INT(p->vm_start + p->net, mw_regions_bytes(&p->regions));
	mw_model_free(&m);
}

TEST(model_exec_record_is_the_baseline)
{
	struct mw_model m;
	struct mw_process *p = seeded(&m);
	struct mw_event ev = { .kind = MW_EV_EXEC, .pid = PID, .tid = PID, .mono_ns = 9000 };
	struct mw_regions maps;
	struct mw_apply a;

	apply(&m, sc(PID, MW_SYS_MMAP, 0x7f0000000000LL, 0, PG, PROT_READ,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1));
	ev.task.vm_bytes = 0x300000;
	ev.task.stack_bytes = 0x21000;
	CHECK_EQ_INT(mw_model_apply(&m, &ev, &a), 0);
	CHECK_EQ_INT(p->vm_start, 0x300000);
	CHECK_EQ_INT(p->net, 0);
	/* Gone before /proc could be read: the calls after the exec still add up. */
	ts = 10000;
	CHECK_EQ_INT(apply(&m, sc(PID, MW_SYS_MMAP, 0x7f0000100000LL, 0, 0x10000, PROT_READ,
				  MAP_PRIVATE | MAP_ANONYMOUS, -1)),
		     0x10000);
	ev.kind = MW_EV_EXIT_GROUP;
	ev.task.vm_bytes = 0x310000;
	CHECK_EQ_INT(mw_model_apply(&m, &ev, &a), 0);
	CHECK_EQ_INT(p->net + mw_process_stack_delta(p), p->vm_end - p->vm_start);
	mw_model_free(&m);

	/* Read in time: the map read later keeps the exec's numbers, its stack cut back. */
	p = seeded(&m);
	ev.kind = MW_EV_EXEC;
	ev.task.vm_bytes = 0x29000;
	ev.task.stack_bytes = 0x20000;
	CHECK_EQ_INT(mw_model_apply(&m, &ev, &a), 0);
	mw_regions_init(&maps);
	CHECK_EQ_INT(mw_maps_parse("555555554000-55555555d000 r-xp 00000000 fe:01 1 /usr/bin/w\n"
				   "7ffffffde000-7ffffffff000 rw-p 00000000 00:00 0 [stack]\n",
				   &maps),
		     0);
	CHECK_EQ_INT(mw_model_seed(p, &maps, 0, 0x99999000, 0x21000, 0), 0);
	mw_regions_free(&maps);
	CHECK_EQ_INT(p->vm_start, 0x29000);
	CHECK_EQ_INT(p->stack_start, 0x20000);
	CHECK_EQ_INT(mw_regions_bytes(&p->regions), 0x29000);
	CHECK_EQ_INT(p->unattributed, 0);
	mw_model_free(&m);
}

TEST(model_shmat_shmdt_and_pkey_mprotect)
{
	struct mw_model m;
	struct mw_process *p = seeded(&m);
	uint64_t s1 = 0x7f0000000000ULL, mm = 0x7f0000100000ULL;
	struct mw_event ev;
	const struct mw_region *r;

	ev = sc(PID, MW_SYS_SHMAT, (int64_t)s1, 7, 0, 010000 /* SHM_RDONLY */, 0, 0);
	ev.sc.pages = 4;
	CHECK_EQ_INT(apply(&m, ev), 4 * PG);
	r = mw_regions_find(&p->regions, s1);
	CHECK(r && (r->flags & MW_RF_SHM) && r->prot == PROT_READ && r->cls == MW_CLASS_SHM);
	/* SHM_REMAP over 4 of 8 pages of a mapping: replaced, no growth. */
	apply(&m, sc(PID, MW_SYS_MMAP, (int64_t)mm, 0, 8 * PG, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1));
	ev = sc(PID, MW_SYS_SHMAT, (int64_t)(mm + PG), 7, mm + PG, 040000 /* SHM_REMAP */, 0, 0);
	ev.sc.pages = 4;
	CHECK_EQ_INT(apply(&m, ev), 0);
	/* shmdt with the segment's size removes its mappings, nothing else. */
	ev = sc(PID, MW_SYS_SHMDT, 0, mm + PG, 0, 0, 0, 0);
	ev.sc.pages = 4;
	CHECK_EQ_INT(apply(&m, ev), -4 * (int64_t)PG);
	CHECK(mw_regions_find(&p->regions, mm) && mw_regions_find(&p->regions, mm + 5 * PG));
	/* Without a size (the kernel could not read it): the segment's run at the address. */
	ev = sc(PID, MW_SYS_SHMDT, 0, s1, 0, 0, 0, 0);
	CHECK_EQ_INT(apply(&m, ev), -4 * (int64_t)PG);
	/* pkey_mprotect is an mprotect for the ledger. */
	CHECK_EQ_INT(apply(&m, sc(PID, MW_SYS_PKEY_MPROTECT, 0, mm, PG, PROT_READ, -1, 0)), 0);
	CHECK_EQ_INT(mw_regions_find(&p->regions, mm)->prot, PROT_READ);
	CHECK_EQ_INT(mw_process_find_thread(p, PID)->seen_calls[MW_SYS_SHMAT], 2);
	mw_model_free(&m);
}

TEST(model_growsdown_mapping_is_not_stack_growth)
{
	struct mw_model m;
	struct mw_process *p = seeded(&m);
	uint64_t g = 0x200000000000ULL;
	struct mw_event ev = { .kind = MW_EV_EXIT_GROUP, .pid = PID, .tid = PID };
	struct mw_apply a;

	CHECK_EQ_INT(apply(&m, sc(PID, MW_SYS_MMAP, (int64_t)g, g, 16 * PG, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS | MAP_GROWSDOWN, -1)),
		     16 * PG);
	CHECK_EQ_INT(p->stack_calls, 16 * PG);
	/* VmStk at the end: the main stack, the mapping and 8 pages it grew by faults. */
	ev.mono_ns = ts += 1000;
	ev.task.vm_bytes = p->vm_start + 24 * PG;
	ev.task.stack_bytes = 0x21000 + 24 * PG;
	CHECK_EQ_INT(mw_model_apply(&m, &ev, &a), 0);
	CHECK_EQ_INT(mw_process_stack_delta(p), 8 * PG);
	CHECK_EQ_INT(p->net + mw_process_stack_delta(p), p->vm_end - p->vm_start);
	mw_model_free(&m);
}
