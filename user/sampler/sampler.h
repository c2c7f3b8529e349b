/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The in-process allocation sampler (libmemwatch-sampler.so, sampler.c): the
 * parts that are pure, shared with memwatch (which attaches to its probes and
 * must read its settings the same way) and with the unit tests. Header only,
 * C11 and <stdatomic.h>: it may include nothing of memwatch.
 *
 * Sampling: a Poisson process over the bytes a thread allocates, of mean
 * MEMWATCH_SAMPLE_BYTES. An allocation of n bytes holds at least one of its
 * points with probability p(n) = 1 - exp(-n / mean); a sampled allocation
 * stands for n / p(n) bytes (its weight) and 1 / p(n) allocations, which
 * makes every sum of weights an unbiased estimate of the bytes allocated.
 */
#ifndef MW_SAMPLER_H
#define MW_SAMPLER_H

#include <math.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MWS_ENV_BYTES "MEMWATCH_SAMPLE_BYTES"
#define MWS_DEFAULT_BYTES (512 * 1024) /* tcmalloc's mean */
#define MWS_MAX_BYTES (1ULL << 40)
#define MWS_LIB_PREFIX "libmemwatch-sampler" /* the file name memwatch looks for in maps */
#define MWS_PROVIDER "mwsampler"	     /* USDT: mwsampler:alloc(ptr, size, weight) */
#define MWS_PROBE_ALLOC "alloc"		     /* and mwsampler:free(ptr) */
#define MWS_PROBE_FREE "free"

/*
 * What the sampler says of itself, in its memory (the exported symbol
 * mwsampler_info, set before main): whether its malloc is the one the process
 * calls (a malloc found earlier in symbol order, in the executable or an
 * LD_PRELOAD entry before it, leaves it without a call), and its mean.
 * memwatch reads it when it attaches: the environment a process started with
 * may be overwritten by then (servers write their status over it).
 */
#define MWS_INFO_SYM "mwsampler_info"
#define MWS_INFO_MAGIC 0x3153574dU /* "MWS1" */

struct mws_info {
	uint32_t magic;	     /* MWS_INFO_MAGIC once set */
	uint32_t interposes; /* 1: the process's malloc is the sampler's */
	uint64_t mean;
	/*
	 * The probes fired with a tracer on them (their semaphore up), i.e. the
	 * traps they cost: counted after the magic's prefix, which is all memwatch
	 * reads (MWS_INFO_HEAD), so a sampler without them reads the same.
	 */
	_Atomic uint64_t alloc_fired, free_fired;
};

#define MWS_INFO_HEAD 16 /* the bytes of struct mws_info before alloc_fired */
_Static_assert(offsetof(struct mws_info, alloc_fired) == MWS_INFO_HEAD, "mws_info's head");

/*
 * MEMWATCH_SAMPLE_BYTES: a decimal number of bytes, with an optional K, M or G
 * (binary units), from 1 to 2^40. 0 for anything else (the caller says so and
 * keeps the default).
 */
static inline uint64_t mws_parse_bytes(const char *s)
{
	uint64_t v = 0, mul = 1;

	if (!s || *s < '0' || *s > '9')
		return 0;
	for (; *s >= '0' && *s <= '9'; s++) {
		v = v * 10 + (uint64_t)(*s - '0');
		if (v > MWS_MAX_BYTES)
			return 0;
	}
	switch (*s) {
	case 'k':
	case 'K':
		mul = 1ULL << 10;
		s++;
		break;
	case 'm':
	case 'M':
		mul = 1ULL << 20;
		s++;
		break;
	case 'g':
	case 'G':
		mul = 1ULL << 30;
		s++;
		break;
	}
	if (*s || !v || v > MWS_MAX_BYTES / mul)
		return 0;
	return v * mul;
}

/* The bytes a sampled allocation of n bytes stands for: n / p(n), at least n. */
static inline double mws_weight(uint64_t n, uint64_t mean)
{
	double p;

	if (!n || !mean)
		return (double)n;
	p = -expm1(-(double)n / (double)mean);
	return p > 0 ? (double)n / p : (double)n;
}

/*
 * A gap of the Poisson process: -mean * ln(1 - u), u uniform in [0, 1) from
 * the top 53 bits of r; at least 1 byte, and bounded so that a countdown of
 * int64_t cannot overflow.
 */
static inline int64_t mws_gap(uint64_t r, uint64_t mean)
{
	double u = (double)(r >> 11) * 0x1.0p-53, g = -log1p(-u) * (double)mean;

	if (g < 1)
		return 1;
	if (g > 0x1.0p60)
		return INT64_C(1) << 60;
	return (int64_t)g;
}

/* xorshift64*: the per-thread random numbers (state never 0). */
static inline uint64_t mws_rand(uint64_t *s)
{
	uint64_t x = *s ? *s : 0x9e3779b97f4a7c15ULL;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dULL;
}

/*
 * The table of sampled blocks still allocated: MWS_BUCKETS buckets of 8 slots,
 * each bucket one cache line. Exported (MWS_TABLE_SYM, of the size of struct
 * mws_table: that size is its geometry), so that memwatch reads which of the
 * samples it has seen are still allocated from the process's memory, and a
 * sample costs one probe hit (mwsampler:alloc), not two: a free of a sampled
 * block only empties its slot, and fires mwsampler:free only for a tracer that
 * attached to it (an older memwatch, a bpftrace script).
 * Lock-free (compare-and-swap on a slot), so it is thread-safe, fork-safe and
 * async-signal-safe; a block whose bucket is full is not kept (the caller
 * counts it). A free that finds the table empty reads one shared counter and
 * nothing else; otherwise it reads one cache line.
 */
#define MWS_SLOTS 8
#define MWS_BUCKETS 2048 /* 16384 blocks, 128 KiB */
#define MWS_TABLE_BLOCKS (MWS_SLOTS * MWS_BUCKETS)

struct mws_bucket {
	_Atomic uintptr_t slot[MWS_SLOTS];
} __attribute__((aligned(64)));

#define MWS_TABLE_SYM "mwsampler_table"

struct mws_table {
	struct mws_bucket b[MWS_BUCKETS]; /* first: memwatch reads them alone */
	_Atomic long used;		  /* blocks in the table */
	_Atomic long overflow;		  /* blocks not kept: their bucket was full */
};

static inline struct mws_bucket *mws_bucket_of(struct mws_table *t, uintptr_t p)
{
	uint64_t h = (uint64_t)p * 0x9e3779b97f4a7c15ULL;

	return &t->b[(h >> 32) & (MWS_BUCKETS - 1)];
}

/* Keep p; false when its bucket is full (counted in overflow). */
static inline bool mws_table_add(struct mws_table *t, void *ptr)
{
	struct mws_bucket *b = mws_bucket_of(t, (uintptr_t)ptr);

	for (int i = 0; i < MWS_SLOTS; i++) {
		uintptr_t zero = 0;

		if (atomic_load_explicit(&b->slot[i], memory_order_relaxed))
			continue;
		if (atomic_compare_exchange_strong(&b->slot[i], &zero, (uintptr_t)ptr)) {
			atomic_fetch_add(&t->used, 1);
			return true;
		}
	}
	atomic_fetch_add_explicit(&t->overflow, 1, memory_order_relaxed);
	return false;
}

/* Drop p; true when it was there (a sampled block: its free is reported). */
static inline bool mws_table_del(struct mws_table *t, void *ptr)
{
	struct mws_bucket *b;

	if (!ptr || !atomic_load_explicit(&t->used, memory_order_relaxed))
		return false;
	b = mws_bucket_of(t, (uintptr_t)ptr);
	for (int i = 0; i < MWS_SLOTS; i++) {
		uintptr_t want = (uintptr_t)ptr;

		if (atomic_load_explicit(&b->slot[i], memory_order_relaxed) != want)
			continue;
		if (atomic_compare_exchange_strong(&b->slot[i], &want, 0)) {
			atomic_fetch_sub(&t->used, 1);
			return true;
		}
	}
	return false;
}

/*
 * The ring: the probe-free sample path. While memwatch reads it (it attaches
 * mwsampler:ring, so the kernel holds that probe's semaphore up for as long as
 * its link lives, and drops it if memwatch dies), a sample fires no probe: the
 * sampler writes it into a bounded ring in its own memory (mmap'd on the first
 * sample with a reader, never malloc'd), with the registers and the stack
 * bytes memwatch's BPF program would have copied, and memwatch reads the ring
 * with process_vm_readv every few ms. mwsampler:ring(head) fires once per half
 * ring written, to wake memwatch early on a burst.
 *
 * Multi-producer and lock-free: a writer claims a position (head, a
 * compare-and-swap while head - tail < nslots), then its slot (pos mod nslots)
 * by its sequence word: CAS from a committed or empty value below 2*pos+1 to
 * 2*pos+1 (busy), and commits with 2*pos+2. A slot found busy (a write it
 * interrupted, from a signal handler) is not taken: the sample is dropped and
 * counted (busy). Records are never written over before memwatch read them:
 * memwatch writes tail (the positions it has read) into the process, and a
 * writer that finds a whole ring unread fires mwsampler:ring and waits for it
 * (up to MEMWATCH_SAMPLER_RING_WAIT us, and not again until memwatch has read
 * more: a reader that stalls costs one wait), then drops the sample, counted
 * (full). The reader knows a record by its sequence: 2*pos+2 and a head still
 * at most pos+nslots after the copy, else it was (or may have been) written
 * over: lost, and counted. Position and sequence never wrap (64 bits).
 */
#define MWS_RING_SYM "mwsampler_ring"
#define MWS_RING_MAGIC 0x3252574dU	     /* "MWR2" */
#define MWS_PROBE_RING "ring"		     /* mwsampler:ring(head) */
#define MWS_ENV_RING "MEMWATCH_SAMPLER_RING" /* slots (a power of two): tests force a tiny ring */
#define MWS_ENV_RING_WAIT "MEMWATCH_SAMPLER_RING_WAIT" /* us a full ring waits for memwatch */
#define MWS_RING_WAIT_US 2000
#define MWS_RING_SLOTS 1024 /* 4.3 MiB: ~6 ms of a malloc loop's samples here */
#define MWS_RING_MAX_SLOTS 65536
#define MWS_RING_STACK 4096 /* stack bytes per sample: memwatch's --stack-bytes default */

/* The registers a sample carries: what a DWARF unwind from inside the sampler needs. */
enum mws_reg {
	MWS_RIP,
	MWS_RSP,
	MWS_RBP,
	MWS_RBX,
	MWS_R12,
	MWS_R13,
	MWS_R14,
	MWS_R15,
	MWS_NREGS
};

struct mws_rec {
	_Atomic uint64_t seq; /* 2*pos+1 while written, 2*pos+2 once whole; 0: never */
	uint64_t ptr;	      /* the block (0: the table of sampled blocks was full) */
	uint64_t size, weight;
	uint64_t time_ns; /* CLOCK_MONOTONIC (the kernel's ktime, as bpf_ktime_get_ns) */
	uint32_t tid, stack_len;
	uint64_t regs[MWS_NREGS];
	uint8_t stack[MWS_RING_STACK]; /* stack_len bytes from regs[MWS_RSP] */
};

enum mws_ring_state {
	MWS_RING_NONE,
	MWS_RING_MAPPING,
	MWS_RING_READY,
	MWS_RING_FAILED
};

/*
 * Exported (MWS_RING_SYM, of the size of struct mws_ring: its layout); slots is
 * the ring's address in the process once state is MWS_RING_READY.
 */
struct mws_ring {
	uint32_t magic;	 /* MWS_RING_MAGIC: set before main */
	uint32_t nslots; /* a power of two */
	uint64_t rec_size;
	uint64_t slots;
	_Atomic int state; /* enum mws_ring_state */
	uint32_t pad;
	_Atomic uint64_t head;	  /* positions claimed: records written or being written */
	_Atomic uint64_t tail;	  /* positions memwatch has read (it writes this) */
	_Atomic uint64_t wake_at; /* mwsampler:ring fires when head passes it */
	_Atomic uint64_t stalled; /* tail + 1 when a wait for memwatch last timed out, else 0 */
	uint64_t wait_ns;	  /* MEMWATCH_SAMPLER_RING_WAIT */
	/* Totals since the start, lost records or not: the estimates come from them. */
	_Atomic uint64_t samples;	  /* positions claimed (= head) */
	_Atomic uint64_t weight, count16; /* of every sample, unmapped too; count in 1/65536ths */
	_Atomic uint64_t busy;		  /* samples dropped: their slot was busy */
	_Atomic uint64_t full;	   /* samples dropped: a whole ring unread (after the wait) */
	_Atomic uint64_t waited;   /* samples that waited for memwatch to read */
	_Atomic uint64_t unmapped; /* samples dropped: no ring (mmap failed) */
	_Atomic uint64_t fired;	   /* mwsampler:ring hits (traps) */
};

/* A power of two from 2 to MWS_RING_MAX_SLOTS, or 0. */
static inline uint32_t mws_ring_slots(const char *s)
{
	uint64_t v = mws_parse_bytes(s);

	return v >= 2 && v <= MWS_RING_MAX_SLOTS && !(v & (v - 1)) ? (uint32_t)v : 0;
}

/* The estimated count a sample stands for, in 1/65536ths (as malloc.bpf.c sums it). */
static inline uint64_t mws_count16(uint64_t size, uint64_t weight)
{
	return size ? (weight << 16) / size : 1 << 16;
}

/*
 * The reader's verdict on position pos: its slot's sequence as copied, and
 * head read after the copy.
 */
enum mws_verdict {
	MWS_REC_OK,
	MWS_REC_LOST,
	MWS_REC_PENDING
};

static inline enum mws_verdict mws_ring_verdict(uint64_t pos, uint64_t seq, uint64_t head_after,
						uint32_t nslots)
{
	if (head_after > pos + nslots || seq > 2 * pos + 2)
		return MWS_REC_LOST; /* a writer of a later lap may have been in it */
	return seq == 2 * pos + 2 ? MWS_REC_OK : MWS_REC_PENDING;
}

#endif /* MW_SAMPLER_H */
