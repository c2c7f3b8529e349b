// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * bump_alloc.so: a lock-free allocator for tests, async-signal-safe throughout (one atomic add
 * into a reserved region; free keeps nothing), so that a program may malloc from a signal
 * handler at any point. Preloaded after libmemwatch-sampler.so it is the allocator the sampler
 * forwards to (tests/e2e/test_sampler.py, with tests/workloads/sig_malloc.c). Built by the
 * test: gcc -shared -fPIC -O2 bump_alloc.c -o bump_alloc.so
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#define ARENA (4UL << 30)
#define HDR 16

static _Atomic uintptr_t base;
static _Atomic size_t used;

static uintptr_t arena(void)
{
	uintptr_t b = atomic_load(&base), zero = 0;
	void *m;

	if (b)
		return b;
	m = mmap(NULL, ARENA, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		 -1, 0);
	if (m == MAP_FAILED)
		return 0;
	if (!atomic_compare_exchange_strong(&base, &zero, (uintptr_t)m)) {
		munmap(m, ARENA);
		return zero;
	}
	return (uintptr_t)m;
}

/* n bytes aligned to align (a power of two >= 16), the size 8 bytes before. */
static void *bump(size_t n, size_t align)
{
	uintptr_t b = arena(), p;
	size_t need, at;

	if (!b || n > ARENA)
		return NULL;
	if (align < HDR)
		align = HDR;
	need = (n + HDR + align + 15) & ~(size_t)15;
	at = atomic_fetch_add(&used, need);
	if (at + need > ARENA)
		return NULL;
	p = b + at + HDR;
	p = (p + align - 1) & ~(uintptr_t)(align - 1);
	memcpy((void *)(p - 8), &n, sizeof(n));
	return (void *)p;
}

void *malloc(size_t n)
{
	return bump(n, 16);
}

void free(void *p)
{
	(void)p;
}

void *calloc(size_t k, size_t n)
{
	size_t t;

	if (__builtin_mul_overflow(k, n, &t))
		return NULL;
	return bump(t, 16); /* fresh anonymous memory is zero */
}

void *realloc(void *old, size_t n)
{
	void *p = bump(n, 16);
	size_t m;

	if (p && old) {
		memcpy(&m, (char *)old - 8, sizeof(m));
		memcpy(p, old, m < n ? m : n);
	}
	return p;
}

void *reallocarray(void *old, size_t k, size_t n)
{
	size_t t;

	if (__builtin_mul_overflow(k, n, &t)) {
		errno = ENOMEM;
		return NULL;
	}
	return realloc(old, t);
}

int posix_memalign(void **out, size_t align, size_t n)
{
	*out = bump(n, align);
	return *out ? 0 : ENOMEM;
}

void *aligned_alloc(size_t align, size_t n)
{
	return bump(n, align);
}

void *memalign(size_t align, size_t n)
{
	return bump(n, align);
}

void *valloc(size_t n)
{
	return bump(n, 4096);
}

void *pvalloc(size_t n)
{
	return bump((n + 4095) & ~(size_t)4095, 4096);
}

size_t malloc_usable_size(void *p)
{
	size_t n = 0;

	if (p)
		memcpy(&n, (char *)p - 8, sizeof(n));
	return n;
}
