// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * libmemwatch-sampler.so: an LD_PRELOAD interposer for the malloc family that
 * samples allocations by bytes in the process itself and reports only the
 * samples, through USDT probes with semaphores:
 *
 *   mwsampler:alloc(ptr, size, weight)  a sampled block (ptr 0: its table
 *                                       bucket was full, so its free will not
 *                                       be reported); weight = the bytes it
 *                                       stands for (sampler.h)
 *   mwsampler:free(ptr)                 a sampled block was freed (memwatch
 *                                       does not attach it: it reads the
 *                                       table of sampled blocks instead)
 *   mwsampler:ring(head)                while attached (memwatch), samples go
 *                                       to a ring in this process's memory
 *                                       and fire no probe; it fires once per
 *                                       half ring written (sampler.h)
 *
 * Every call is forwarded to the next allocator in symbol order (RTLD_NEXT:
 * glibc, or a jemalloc/tcmalloc preloaded after this library); C++ new and
 * delete reach us through malloc and free. An allocation costs a per-thread
 * countdown; only when it crosses zero (once per MEMWATCH_SAMPLE_BYTES on
 * average) does the slow path run, and it fires a probe only while a tracer
 * has the probe's semaphore up. A free costs one load while no sampled block
 * is outstanding, one cache line of the table otherwise.
 *
 * Never break the host: nothing here allocates; the next allocator is looked
 * up on the first call (dlsym's own allocations, if any, come from a static
 * bootstrap buffer); no locks (fork-safe); thread state is initial-exec TLS;
 * the table is lock-free, so a signal handler's malloc is as safe as the next
 * allocator makes it.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
/*
 * sdt.h's 1-byte nop at each probe. (A 5-byte one lets Linux 6.18 turn the
 * uprobe into a call to a trampoline after its first hit, 4x cheaper per
 * sample here; but then forked children died at that call and probes hit in a
 * signal handler were lost: tests/e2e/test_sampler.py.)
 */
#define _SDT_HAS_SEMAPHORES 1
#include <sys/sdt.h>
#include "sampler.h"

#define EXPORT __attribute__((visibility("default")))
#define TLS __thread __attribute__((tls_model("initial-exec")))
#define unlikely(x) __builtin_expect(!!(x), 0)

/* Raised by the kernel while a tracer's uprobe is on the probe (the USDT semaphore). */
unsigned short mwsampler_alloc_semaphore __attribute__((section(".probes"), used));
unsigned short mwsampler_free_semaphore __attribute__((section(".probes"), used));
unsigned short mwsampler_ring_semaphore __attribute__((section(".probes"), used));

static void *(*next_malloc)(size_t);
static void (*next_free)(void *);
static void *(*next_calloc)(size_t, size_t);
static void *(*next_realloc)(void *, size_t);
static void *(*next_reallocarray)(void *, size_t, size_t);
static int (*next_posix_memalign)(void **, size_t, size_t);
static void *(*next_aligned_alloc)(size_t, size_t);
static void *(*next_memalign)(size_t, size_t);
static void *(*next_valloc)(size_t);
static void *(*next_pvalloc)(size_t);

static uint64_t mean = MWS_DEFAULT_BYTES;
EXPORT struct mws_info mwsampler_info; /* for memwatch (sampler.h) */
static _Atomic int resolved;
static struct mws_table table;
/* The table for memwatch (sampler.h); the library itself uses the local name, no GOT. */
EXPORT extern struct mws_table mwsampler_table __attribute__((alias("table")));

static struct mws_ring ring;
EXPORT extern struct mws_ring mwsampler_ring __attribute__((alias("ring")));
static pid_t self_pid; /* for process_vm_readv on ourselves; set again in a fork's child */

/* Per thread: bytes left before the next sample point, and the random state. */
static TLS int64_t left;
static TLS uint64_t rng;
static TLS int resolving; /* inside dlsym: serve from the bootstrap buffer */
/*
 * Per thread, for the ring: its id (0 until asked; reset in a fork's child),
 * and a span of its stack known readable ([stk_lo, stk_hi), stk_end: stk_hi is
 * the stack's end), so that a sample copies its stack bytes with memcpy and
 * asks the kernel only when it runs outside it. in_ring: a sample is being
 * written; one from a signal handler meanwhile neither uses nor changes the span.
 */
static TLS uint32_t my_tid;
static TLS uintptr_t stk_lo, stk_hi;
static TLS bool stk_end;
static TLS volatile sig_atomic_t in_ring;

/* The bootstrap buffer: what is allocated while the next allocator is looked up. */
#define BOOT_BYTES (64 * 1024)
static _Alignas(64) unsigned char boot[BOOT_BYTES];
static _Atomic size_t boot_used;

static bool in_boot(const void *p)
{
	return (const unsigned char *)p >= boot && (const unsigned char *)p < boot + BOOT_BYTES;
}

/* 16-byte aligned, after a 16-byte header holding the size (for realloc). */
static void *boot_alloc(size_t n, size_t align)
{
	size_t need, at;

	if (align < 16)
		align = 16;
	if (n > BOOT_BYTES || align > 4096)
		return NULL;
	need = (n + 16 + align + 15) & ~(size_t)15;
	at = atomic_fetch_add(&boot_used, need);
	if (at + need > BOOT_BYTES)
		return NULL;
	unsigned char *p = boot + at + 16;

	p += (align - (uintptr_t)p % align) % align;
	memcpy(p - sizeof(size_t), &n, sizeof(n));
	return p;
}

static size_t boot_size(const void *p)
{
	size_t n;

	memcpy(&n, (const unsigned char *)p - sizeof(size_t), sizeof(n));
	return n;
}

static void say(const char *a, const char *b, const char *c)
{
	const char *parts[3] = { a, b, c };

	for (int i = 0; i < 3; i++)
		if (parts[i] && write(2, parts[i], strlen(parts[i])) < 0)
			return;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

#define LOOKUP(name) (*(void **)&next_##name = dlsym(RTLD_NEXT, #name))

/* The next allocator, and the mean. Idempotent; racing threads look up the same symbols. */
static __attribute__((noinline, cold)) void resolve(void)
{
	const char *env;

	if (atomic_load(&resolved))
		return;
	resolving = 1;
	LOOKUP(malloc);
	LOOKUP(free);
	LOOKUP(calloc);
	LOOKUP(realloc);
	LOOKUP(reallocarray);
	LOOKUP(posix_memalign);
	LOOKUP(aligned_alloc);
	LOOKUP(memalign);
	LOOKUP(valloc);
	LOOKUP(pvalloc);
	resolving = 0;
	env = getenv(MWS_ENV_BYTES);
	/* Not a size: the default (memwatch says so; the host's stderr is not ours). */
	if (env && *env && mws_parse_bytes(env))
		mean = mws_parse_bytes(env);
	if (!next_malloc || !next_free)
		say("memwatch-sampler: no next malloc/free (RTLD_NEXT): allocations fail\n", NULL,
		    NULL);
	atomic_store(&resolved, 1);
}

/* Ready to forward, or false inside the lookup (the caller serves from the buffer). */
static inline bool ready(void)
{
	if (unlikely(!atomic_load_explicit(&resolved, memory_order_acquire))) {
		if (resolving)
			return false;
		resolve();
	}
	return true;
}

/* The ring's geometry, from the environment (idempotent; before main: one thread). */
static void ring_setup(void)
{
	const char *slots = getenv(MWS_ENV_RING), *wait = getenv(MWS_ENV_RING_WAIT);
	uint64_t us = MWS_RING_WAIT_US;

	if (wait && (!strcmp(wait, "0") || mws_parse_bytes(wait)))
		us = mws_parse_bytes(wait); /* 0: never wait */
	ring.wait_ns = us * 1000;
	ring.nslots = slots && mws_ring_slots(slots) ? mws_ring_slots(slots) : MWS_RING_SLOTS;
	ring.rec_size = sizeof(struct mws_rec);
	ring.magic = MWS_RING_MAGIC;
}

/* The ring's slots, mapped by the first sample that has a reader (a reader stays long). */
static __attribute__((noinline, cold)) void ring_map(void)
{
	int none = MWS_RING_NONE;
	void *m;

	/* Before the constructor (another allocator's start-up calls malloc first). */
	if (!ring.nslots)
		ring_setup();
	if (!atomic_compare_exchange_strong(&ring.state, &none, MWS_RING_MAPPING))
		return; /* another thread maps it (this sample is dropped, counted) */
	m = mmap(NULL, (size_t)ring.nslots * sizeof(struct mws_rec), PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED) {
		atomic_store(&ring.state, MWS_RING_FAILED);
		return;
	}
	ring.slots = (uintptr_t)m;
	atomic_store(&ring.wake_at, ring.nslots / 2);
	atomic_store_explicit(&ring.state, MWS_RING_READY, memory_order_release);
}

/*
 * Up to want bytes of our own memory from sp, page by page so that a read
 * that reaches the end of the stack stops there (whole iovec elements): the
 * bytes read, 0 if none.
 */
static size_t self_read(void *dst, uintptr_t sp, size_t want)
{
	uintptr_t split = (sp | 4095) + 1;
	struct iovec local = { dst, want }, remote[2] = { { (void *)sp, want } };
	unsigned long nr = 1;
	ssize_t got;

	/* A sample before the constructor (another allocator's start-up): not known yet. */
	if (!self_pid)
		self_pid = getpid();
	if (split < sp + want) {
		remote[0].iov_len = split - sp;
		remote[1] = (struct iovec){ (void *)split, sp + want - split };
		nr = 2;
	}
	got = process_vm_readv(self_pid, &local, 1, remote, nr, 0);
	return got > 0 ? (size_t)got : 0;
}

/* Copy the stack from sp into dst (MWS_RING_STACK bytes at most): the bytes copied. */
static size_t copy_stack(uint8_t *dst, uintptr_t sp, bool nested)
{
	size_t got;

	if (!nested && sp >= stk_lo && sp < stk_hi && (sp + MWS_RING_STACK <= stk_hi || stk_end)) {
		got = stk_hi - sp < MWS_RING_STACK ? stk_hi - sp : MWS_RING_STACK;
		memcpy(dst, (const void *)sp, got);
		return got;
	}
	got = self_read(dst, sp, MWS_RING_STACK);
	if (!got) {
		/* Not allowed here (a seccomp filter): the page sp is in is there. */
		got = ((sp | 4095) + 1) - sp;
		memcpy(dst, (const void *)sp, got);
		return got;
	}
	if (nested)
		return got;
	if (sp + got < stk_lo || sp > stk_hi) {
		stk_lo = sp; /* another stack (a signal stack, a coroutine's) */
		stk_hi = sp + got;
		stk_end = got < MWS_RING_STACK;
	} else {
		stk_lo = sp < stk_lo ? sp : stk_lo;
		stk_hi = sp + got > stk_hi ? sp + got : stk_hi;
		stk_end = stk_end || got < MWS_RING_STACK;
	}
	return got;
}

/* Wake memwatch: a trap, once per half ring written or per wait. */
static void ring_wake(uint64_t head)
{
	STAP_PROBE1(mwsampler, ring, head);
	atomic_fetch_add_explicit(&ring.fired, 1, memory_order_relaxed);
}

/*
 * A whole ring unread at pos: wait for memwatch to read (it is woken now), at
 * most wait_ns, and not at all while it has read nothing since the last wait
 * timed out. True: there is room now.
 */
static __attribute__((noinline, cold)) bool ring_wait(uint64_t pos)
{
	uint64_t tail = atomic_load(&ring.tail), until;
	const struct timespec nap = { 0, 20000 };

	if (!ring.wait_ns || atomic_load(&ring.stalled) == tail + 1)
		return false;
	atomic_fetch_add_explicit(&ring.waited, 1, memory_order_relaxed);
	ring_wake(pos);
	until = now_ns() + ring.wait_ns;
	do {
		nanosleep(&nap, NULL);
		if (pos - atomic_load(&ring.tail) < ring.nslots)
			return true;
	} while (now_ns() < until && mwsampler_ring_semaphore); /* memwatch gone: no wait */
	atomic_store(&ring.stalled, tail + 1);
	return false;
}

/*
 * A sample into the ring: the caller's registers at the label below (one asm
 * statement, so the unwind tables describe that very point) and its stack
 * from there, as the BPF program would have taken them at a probe.
 */
static __attribute__((noinline)) void ring_put(void *p, size_t n, uint64_t weight)
{
	bool nested = in_ring;
	struct mws_rec *r;
	uint64_t pos, old, w;

	/* The estimates' sums first: every sample counts in them, written or dropped. */
	atomic_fetch_add_explicit(&ring.weight, weight, memory_order_relaxed);
	atomic_fetch_add_explicit(&ring.count16, mws_count16(n, weight), memory_order_relaxed);
	if (unlikely(atomic_load_explicit(&ring.state, memory_order_acquire) != MWS_RING_READY)) {
		ring_map();
		if (atomic_load_explicit(&ring.state, memory_order_acquire) != MWS_RING_READY) {
			atomic_fetch_add_explicit(&ring.unmapped, 1, memory_order_relaxed);
			return;
		}
	}
	/*
	 * A position, unless memwatch has a whole ring to read: then waited for, or
	 * dropped; at once from a signal handler that interrupted a write, which
	 * memwatch waits for.
	 */
	pos = atomic_load(&ring.head);
	do {
		if (pos - atomic_load(&ring.tail) >= ring.nslots) {
			if (nested || !ring_wait(pos)) {
				atomic_fetch_add_explicit(&ring.full, 1, memory_order_relaxed);
				return;
			}
			pos = atomic_load(&ring.head);
			continue;
		}
	} while (!atomic_compare_exchange_weak(&ring.head, &pos, pos + 1));
	atomic_fetch_add_explicit(&ring.samples, 1, memory_order_relaxed);
	r = (struct mws_rec *)ring.slots + (pos & (ring.nslots - 1));
	old = atomic_load_explicit(&r->seq, memory_order_relaxed);
	/* Busy (a write this one interrupted, or one memwatch gave up on), or a later lap's. */
	if ((old & 1) || old >= 2 * pos + 1 ||
	    !atomic_compare_exchange_strong(&r->seq, &old, 2 * pos + 1)) {
		atomic_fetch_add_explicit(&ring.busy, 1, memory_order_relaxed);
		return;
	}
	in_ring = 1;
	atomic_signal_fence(memory_order_seq_cst);
	__asm__ volatile("leaq 1f(%%rip), %%rax\n\t"
			 "movq %%rax, 0(%0)\n\t"
			 "movq %%rsp, 8(%0)\n\t"
			 "movq %%rbp, 16(%0)\n\t"
			 "movq %%rbx, 24(%0)\n\t"
			 "movq %%r12, 32(%0)\n\t"
			 "movq %%r13, 40(%0)\n\t"
			 "movq %%r14, 48(%0)\n\t"
			 "movq %%r15, 56(%0)\n"
			 "1:"
			 :
			 : "r"(r->regs)
			 : "rax", "memory");
	r->stack_len = (uint32_t)copy_stack(r->stack, (uintptr_t)r->regs[MWS_RSP], nested);
	if (!my_tid)
		my_tid = (uint32_t)gettid();
	r->tid = my_tid;
	r->ptr = (uintptr_t)p;
	r->size = n;
	r->weight = weight;
	r->time_ns = now_ns();
	atomic_store_explicit(&r->seq, 2 * pos + 2, memory_order_release);
	atomic_signal_fence(memory_order_seq_cst);
	in_ring = nested;
	/* Half a ring since the last wake: memwatch reads it now, not at its next tick. */
	w = atomic_load_explicit(&ring.wake_at, memory_order_relaxed);
	if (pos + 1 >= w &&
	    atomic_compare_exchange_strong(&ring.wake_at, &w, pos + 1 + ring.nslots / 2))
		ring_wake(pos + 1);
}

/*
 * The countdown crossed zero. A new thread (left 0, rng 0) first draws its
 * first gap: the process starts a gap fresh on each thread. The gap after a
 * sample is drawn fresh at the end of the allocation (the process is memoryless).
 */
static __attribute__((noinline, cold)) void sample(void *p, size_t n)
{
	struct timespec ts;
	uint64_t w;

	if (!rng) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		rng = ((uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ULL) ^ (uintptr_t)&left ^
		      ((uint64_t)ts.tv_sec << 32);
		left += mws_gap(mws_rand(&rng), mean);
		if (left > 0)
			return;
	}
	left = mws_gap(mws_rand(&rng), mean);
	if (!p || !(mwsampler_alloc_semaphore | mwsampler_ring_semaphore))
		return; /* no tracer: nothing to keep */
	w = (uint64_t)mws_weight(n, mean);
	if (!w)
		w = n ? n : 1;
	if (!mws_table_add(&table, p))
		p = NULL;
	/* memwatch reads the ring: no trap (another tracer may still be on the probe). */
	if (mwsampler_ring_semaphore)
		ring_put(p, n, w);
	if (!mwsampler_alloc_semaphore)
		return;
	STAP_PROBE3(mwsampler, alloc, p, n, w);
	atomic_fetch_add_explicit(&mwsampler_info.alloc_fired, 1, memory_order_relaxed);
}

static inline void *account(void *p, size_t n)
{
	left -= (int64_t)(n & (SIZE_MAX >> 1));
	if (unlikely(left <= 0))
		sample(p, n);
	return p;
}

static __attribute__((noinline, cold)) void sampled_free(void *p)
{
	if (!mwsampler_free_semaphore)
		return;
	STAP_PROBE1(mwsampler, free, p);
	atomic_fetch_add_explicit(&mwsampler_info.free_fired, 1, memory_order_relaxed);
}

static inline void forget(void *p)
{
	if (unlikely(mws_table_del(&table, p)))
		sampled_free(p);
}

/* Under a name of its own too: the constructor compares it with the malloc the process uses. */
static void *hook_malloc(size_t n)
{
	if (unlikely(!ready()))
		return boot_alloc(n, 16);
	return account(next_malloc(n), n);
}

EXPORT void *malloc(size_t n) __attribute__((alias("hook_malloc")));

EXPORT void free(void *p)
{
	if (unlikely(!p || in_boot(p)))
		return;
	forget(p);
	next_free(p);
}

EXPORT void *calloc(size_t k, size_t n)
{
	size_t total;

	if (__builtin_mul_overflow(k, n, &total))
		total = SIZE_MAX;
	if (unlikely(!ready()))
		return boot_alloc(total, 16); /* the buffer is zero: never reused */
	return account(next_calloc(k, n), total);
}

EXPORT void *realloc(void *old, size_t n)
{
	if (unlikely(!ready()))
		return NULL;
	if (unlikely(in_boot(old))) {
		void *p = next_malloc(n);
		size_t m = boot_size(old);

		if (p)
			memcpy(p, old, m < n ? m : n);
		return account(p, n);
	}
	/*
	 * Reported before the call: once it returns, another thread may get the
	 * same address and sample it. Should realloc fail, the block stays
	 * allocated but untracked (an underestimate, never a false leak).
	 */
	if (old)
		forget(old);
	return account(next_realloc(old, n), n);
}

EXPORT void *reallocarray(void *old, size_t k, size_t n)
{
	size_t total;

	if (__builtin_mul_overflow(k, n, &total)) {
		errno = ENOMEM;
		return NULL;
	}
	if (unlikely(!ready()))
		return NULL;
	if (unlikely(in_boot(old)))
		return realloc(old, total);
	if (old)
		forget(old);
	return account(next_reallocarray(old, k, n), total);
}

EXPORT int posix_memalign(void **out, size_t align, size_t n)
{
	int rc;

	if (unlikely(!ready())) {
		*out = boot_alloc(n, align);
		return *out ? 0 : ENOMEM;
	}
	rc = next_posix_memalign(out, align, n);
	account(rc ? NULL : *out, n);
	return rc;
}

EXPORT void *aligned_alloc(size_t align, size_t n)
{
	if (unlikely(!ready()))
		return boot_alloc(n, align);
	return account(next_aligned_alloc(align, n), n);
}

EXPORT void *memalign(size_t align, size_t n)
{
	if (unlikely(!ready()))
		return boot_alloc(n, align);
	return account(next_memalign(align, n), n);
}

EXPORT void *valloc(size_t n)
{
	if (unlikely(!ready()))
		return boot_alloc(n, 4096);
	return account(next_valloc(n), n);
}

EXPORT void *pvalloc(size_t n)
{
	if (unlikely(!ready()))
		return boot_alloc(n, 4096);
	return account(next_pvalloc(n), n);
}

/*
 * Before main, while the process is one thread: the lookup, if no call made it
 * yet, and the mean again (a call from the dynamic loader before libc's own
 * start-up may have found no environment yet); this thread draws its first
 * gap afresh with it.
 */
/*
 * A fork's child: a process of its own, whose ring (a copy of the parent's, with
 * the parent's records) and counts start afresh; its one thread has another id.
 */
static void child_after_fork(void)
{
	if (atomic_load(&ring.state) == MWS_RING_READY)
		munmap((void *)(uintptr_t)ring.slots, (size_t)ring.nslots * sizeof(struct mws_rec));
	ring.slots = 0;
	atomic_store(&ring.head, 0);
	atomic_store(&ring.wake_at, 0);
	atomic_store(&ring.samples, 0);
	atomic_store(&ring.weight, 0);
	atomic_store(&ring.count16, 0);
	atomic_store(&ring.busy, 0);
	atomic_store(&ring.full, 0);
	atomic_store(&ring.waited, 0);
	atomic_store(&ring.tail, 0);
	atomic_store(&ring.stalled, 0);
	atomic_store(&ring.unmapped, 0);
	atomic_store(&ring.fired, 0);
	atomic_store(&ring.state, MWS_RING_NONE);
	self_pid = getpid();
	my_tid = 0;
}

static __attribute__((constructor)) void init(void)
{
	const char *env = getenv(MWS_ENV_BYTES);
	uint64_t v = env ? mws_parse_bytes(env) : 0;

	resolve();
	if (v)
		mean = v;
	self_pid = getpid();
	if (!ring.nslots)
		ring_setup();
	pthread_atfork(NULL, NULL, child_after_fork);
	left = 0;
	rng = 0;
	mwsampler_info.mean = mean;
	mwsampler_info.interposes = dlsym(RTLD_DEFAULT, "malloc") == (void *)hook_malloc;
	atomic_thread_fence(memory_order_release);
	mwsampler_info.magic = MWS_INFO_MAGIC;
}

/*
 * At exit (exit(), not _exit or a signal), samples memwatch has not read yet
 * would be lost with the process: wake it and wait for them (at most
 * EXIT_WAIT_NS, or the ring's wait if longer). Under memwatch's exit() hold it
 * has read them already.
 */
#define EXIT_WAIT_NS (100 * 1000000ULL)

static __attribute__((destructor)) void fini(void)
{
	uint64_t head = atomic_load(&ring.head), until;
	const struct timespec nap = { 0, 100000 };

	if (!mwsampler_ring_semaphore || atomic_load(&ring.state) != MWS_RING_READY ||
	    atomic_load(&ring.tail) >= head)
		return;
	ring_wake(head);
	until = now_ns() + (ring.wait_ns > EXIT_WAIT_NS ? ring.wait_ns : EXIT_WAIT_NS);
	while (atomic_load(&ring.tail) < head && mwsampler_ring_semaphore && now_ns() < until)
		nanosleep(&nap, NULL);
}
