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
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
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

/* Per thread: bytes left before the next sample point, and the random state. */
static TLS int64_t left;
static TLS uint64_t rng;
static TLS int resolving; /* inside dlsym: serve from the bootstrap buffer */

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

/*
 * The countdown crossed zero. A new thread (left 0, rng 0) first draws its
 * first gap: the process starts a gap fresh on each thread. The gap after a
 * sample is drawn fresh at the end of the allocation (the process is memoryless).
 */
static __attribute__((noinline, cold)) void sample(void *p, size_t n)
{
	struct timespec ts;

	if (!rng) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		rng = ((uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ULL) ^ (uintptr_t)&left ^
		      ((uint64_t)ts.tv_sec << 32);
		left += mws_gap(mws_rand(&rng), mean);
		if (left > 0)
			return;
	}
	left = mws_gap(mws_rand(&rng), mean);
	if (!p || !mwsampler_alloc_semaphore)
		return; /* no tracer: nothing to keep */
	if (!mws_table_add(&table, p))
		p = NULL;
	STAP_PROBE3(mwsampler, alloc, p, n, (uint64_t)mws_weight(n, mean));
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
static __attribute__((constructor)) void init(void)
{
	const char *env = getenv(MWS_ENV_BYTES);
	uint64_t v = env ? mws_parse_bytes(env) : 0;

	resolve();
	if (v)
		mean = v;
	left = 0;
	rng = 0;
	mwsampler_info.mean = mean;
	mwsampler_info.interposes = dlsym(RTLD_DEFAULT, "malloc") == (void *)hook_malloc;
	atomic_thread_fence(memory_order_release);
	mwsampler_info.magic = MWS_INFO_MAGIC;
}
