// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The in-process sampler's pure parts (user/sampler/sampler.h: settings,
 * gaps, weights, the table of sampled blocks) and memwatch's side of it
 * (malloc/msampler.c: LD_PRELOAD, its own frames; the ledger's weights and
 * their recording). The sampling is checked as a whole: a thread's countdown
 * over a known stream of sizes, as the library runs it, must estimate the
 * bytes and the count within 2%.
 */
#include <math.h>
#include <stdlib.h>
#include "base/options.h"
#include "malloc/mledger.h"
#include "malloc/msampler.h"
#include "sampler/sampler.h"
#include "session/session.h"
#include "wire/record.h"
#include "unit.h"

TEST(sampler_parse_bytes)
{
	CHECK_EQ_INT(mws_parse_bytes("524288"), 524288);
	CHECK_EQ_INT(mws_parse_bytes("64"), 64);
	CHECK_EQ_INT(mws_parse_bytes("512K"), 512 * 1024);
	CHECK_EQ_INT(mws_parse_bytes("4m"), 4 << 20);
	CHECK_EQ_INT(mws_parse_bytes("1G"), 1 << 30);
	CHECK_EQ_INT(mws_parse_bytes("1024G"), 1ULL << 40);
	CHECK_EQ_INT(mws_parse_bytes("1025G"), 0);
	CHECK_EQ_INT(mws_parse_bytes("0"), 0);
	CHECK_EQ_INT(mws_parse_bytes(""), 0);
	CHECK_EQ_INT(mws_parse_bytes("-5"), 0);
	CHECK_EQ_INT(mws_parse_bytes("12KB"), 0);
	CHECK_EQ_INT(mws_parse_bytes("1.5M"), 0);
	CHECK_EQ_INT(mws_parse_bytes(NULL), 0);
	CHECK_EQ_INT(mws_parse_bytes("99999999999999999999999"), 0);
}

TEST(sampler_weight)
{
	/* Far above the mean: always sampled, stands for itself. */
	CHECK(fabs(mws_weight(1 << 30, 4096) - (1 << 30)) < 1);
	/* Far below: p ~ n / mean, stands for about the mean. */
	CHECK(fabs(mws_weight(16, 1 << 20) - (1 << 20)) < 16);
	/* n = mean: n / (1 - 1/e). */
	CHECK(fabs(mws_weight(1000, 1000) - 1000 / (1 - exp(-1))) < 1e-6);
	CHECK(mws_weight(0, 1000) == 0);
}

TEST(sampler_gaps_mean)
{
	uint64_t s = 12345;
	double sum = 0;
	int64_t lo = INT64_MAX;

	for (int i = 0; i < 200000; i++) {
		int64_t g = mws_gap(mws_rand(&s), 10000);

		sum += (double)g;
		lo = g < lo ? g : lo;
	}
	CHECK(fabs(sum / 200000 - 10000) < 100); /* the mean within 1% */
	CHECK(lo >= 1);
	CHECK_EQ_INT(mws_gap(0, 10000), 1);
	CHECK(mws_gap(UINT64_MAX, 1ULL << 40) <= INT64_C(1) << 60);
}

/* The library's countdown (sampler.c: account, sample) over a stream of sizes. */
static void simulate(uint64_t mean, double *est_bytes, double *est_count, double *bytes,
		     double *count, int *samples)
{
	uint64_t rng = 0x1234567, x = 99;
	int64_t left = 0;
	bool seeded = false;

	*est_bytes = *est_count = *bytes = *count = 0;
	*samples = 0;
	for (int i = 0; i < 400000; i++) {
		uint64_t n = 16 + (mws_rand(&x) % 4096);

		if (i % 100 == 0)
			n = 100000; /* some large ones */
		*bytes += (double)n;
		*count += 1;
		left -= (int64_t)n;
		if (left > 0)
			continue;
		if (!seeded) {
			seeded = true;
			left += mws_gap(mws_rand(&rng), mean);
			if (left > 0)
				continue;
		}
		left = mws_gap(mws_rand(&rng), mean);
		*est_bytes += mws_weight(n, mean);
		*est_count += mws_weight(n, mean) / (double)n;
		(*samples)++;
	}
}

TEST(sampler_estimates_unbiased)
{
	double eb, ec, b, c;
	int k;

	simulate(65536, &eb, &ec, &b, &c, &k);
	CHECK(k > 1000 && k < 100000);
	CHECK(fabs(eb - b) < 0.02 * b);
	CHECK(fabs(ec - c) < 0.02 * c);
}

TEST(sampler_table)
{
	static struct mws_table t;
	int kept = 0, tries = 0;

	CHECK(!mws_table_del(&t, (void *)0x1000)); /* empty: nothing read */
	CHECK(mws_table_add(&t, (void *)0x1000));
	CHECK(mws_table_add(&t, (void *)0x2000));
	CHECK_EQ_INT(t.used, 2);
	CHECK(!mws_table_del(&t, (void *)0x3000));
	CHECK(mws_table_del(&t, (void *)0x1000));
	CHECK(!mws_table_del(&t, (void *)0x1000)); /* a second free is not reported again */
	CHECK(!mws_table_del(&t, NULL));
	CHECK_EQ_INT(t.used, 1);
	/* One bucket holds 8: the ninth block of the same bucket is counted, not kept. */
	for (uintptr_t p = 16; tries < MWS_SLOTS && p < (1 << 26); p += 16) {
		if (mws_bucket_of(&t, p) != mws_bucket_of(&t, 0x2000) || p == 0x2000)
			continue;
		tries++;
		kept += mws_table_add(&t, (void *)p);
	}
	CHECK_EQ_INT(tries, MWS_SLOTS);
	CHECK_EQ_INT(kept, MWS_SLOTS - 1);
	CHECK_EQ_INT(t.overflow, 1);
	CHECK(mws_table_del(&t, (void *)0x2000)); /* still found in its full bucket */
}

TEST(msampler_preload)
{
	char e[256];

	CHECK_EQ_INT(mw_msampler_in_preload("/x/libmemwatch-sampler.so", e, sizeof(e)), 0);
	CHECK_EQ_STR(e, "/x/libmemwatch-sampler.so");
	CHECK_EQ_INT(mw_msampler_in_preload("libjemalloc.so.2: /o/libmemwatch-sampler.so", e,
					    sizeof(e)),
		     1);
	CHECK_EQ_STR(e, "/o/libmemwatch-sampler.so");
	CHECK_EQ_INT(
		mw_msampler_in_preload("::libmemwatch-sampler.so:libtcmalloc.so", e, sizeof(e)), 0);
	CHECK_EQ_INT(mw_msampler_in_preload("/lib/libfoo.so", e, sizeof(e)), -1);
	CHECK_EQ_INT(mw_msampler_in_preload("", e, sizeof(e)), -1);
}

TEST(msampler_mean_from_environ)
{
	const char env[] = "A=1\0MEMWATCH_SAMPLE_BYTES=64K\0B=2";
	const char bad[] = "MEMWATCH_SAMPLE_BYTES=lots";

	CHECK_EQ_INT(mw_msampler_mean_of(env, sizeof(env)), 65536);
	CHECK_EQ_INT(mw_msampler_mean_of(bad, sizeof(bad)), MWS_DEFAULT_BYTES);
	CHECK_EQ_INT(mw_msampler_mean_of("A=1", 4), MWS_DEFAULT_BYTES);
}

TEST(msampler_skips_its_frames)
{
	struct mw_frame f[] = {
		{ .module = "/usr/lib/memwatch/libmemwatch-sampler.so", .func = "sample" },
		{ .module = "/usr/lib/memwatch/libmemwatch-sampler.so", .func = "malloc" },
		{ .module = "/usr/lib/x86_64-linux-gnu/libstdc++.so.6",
		  .func = "operator new(unsigned long)" },
		{ .module = "/app", .func = "make_obj" },
		{ .module = "/app", .func = "main" },
	};
	struct mw_frame plain[] = { { .module = "/app", .func = "leak" } };
	struct mw_frame lib[] = {
		{ .module = "/x/libmemwatch-sampler.so", .func = "malloc" },
		{ .module = "/usr/lib/x86_64-linux-gnu/libstdc++.so.6",
		  .func = "__cxa_allocate_exception" },
	};

	CHECK_EQ_INT(mw_msampler_skip(f, 5), 3);
	CHECK_EQ_INT(mw_msampler_skip(f, 2), 2);
	CHECK_EQ_INT(mw_msampler_skip(plain, 1), 0);
	/* libstdc++ below the sampler is skipped only as operator new. */
	CHECK_EQ_INT(mw_msampler_skip(lib, 2), 1);
	/* operator new not under the sampler: a uprobe-era stack, kept whole. */
	CHECK_EQ_INT(mw_msampler_skip(f + 2, 3), 0);
}

/* The ledger takes each sample's weight and a recording keeps it: a replay of the
 * recorded entries reports the same estimates. */
static void feed(struct mw_mledger *ml, uint64_t addr, uint64_t size, uint64_t weight, uint64_t ip)
{
	struct mw_event ev = { .kind = MW_EV_MALLOC, .mono_ns = 1000, .pid = 42, .tid = 42 };

	ev.mal.fn = MW_MFN_MALLOC;
	ev.mal.addr = addr;
	ev.mal.size = size;
	ev.mal.weight = weight;
	mw_mledger_alloc(ml, &ev, &ip, 1, NULL, NULL);
}

static void run_ledger(FILE *rec, const void *replay, size_t len, char **json, size_t *jlen)
{
	struct mw_config cfg = { .json = true };
	struct mw_mreport_entry in = { .now_mono_ns = 2000, .pid = 42, .final = 1 };
	/* The kernel's sums of the four samples' weights (malloc.bpf.c: sampler_alloc). */
	uint64_t w[4][2] = { { 4096, 100 }, { 4096, 100 }, { 1 << 20, 1 << 20 }, { 4096, 64 } };

	for (int i = 0; i < 4; i++) {
		in.c.bytes[MW_MFN_MALLOC] += w[i][0];
		in.c.calls[MW_MFN_MALLOC] += (w[i][0] << 16) / w[i][1];
	}
	struct mw_session s;
	struct mw_mledger ml;
	char err[128];
	FILE *out = open_memstream(json, jlen);

	cfg.mal.on = true;
	mw_session_init(&s, &cfg, out, 4096, 0);
	s.rec = rec;
	CHECK_EQ_INT(mw_mledger_init(&ml, &s, &cfg.mal, 1000, err, sizeof(err)), 0);
	if (!replay) {
		mw_mledger_proc(&ml, 42, "app", "/x/libmemwatch-sampler.so", 0);
		mw_mledger_sampler(&ml, 42, 4096, 0);
		feed(&ml, 0x1000, 100, 4096, 0x401000); /* stands for ~41 blocks */
		feed(&ml, 0x2000, 100, 4096, 0x401000);
		feed(&ml, 0x3000, 1 << 20, 1 << 20, 0x402000); /* itself */
		feed(&ml, 0, 64, 4096, 0x403000);	       /* sampled, not kept */
	} else {
		struct mw_replay r;
		struct mw_entry e;

		CHECK_EQ_INT(mw_replay_init(&r, replay, len), 0);
		while (mw_replay_next(&r, &e) == 1) {
			if (e.kind == MW_ENTRY_MPROC)
				mw_mledger_proc(&ml, 42, "app", "/x/libmemwatch-sampler.so", 0);
			else if (e.kind == MW_ENTRY_MSAMPLER)
				mw_mledger_sampler(
					&ml, 42, ((const struct mw_msampler_entry *)e.data)->mean,
					((const struct mw_msampler_entry *)e.data)->flags);
			else if (e.kind == MW_ENTRY_MALLOC)
				CHECK_EQ_INT(mw_mledger_alloc_entry(&ml, e.data, e.len), 0);
		}
	}
	mw_mledger_report(&ml, &in);
	mw_mledger_destroy(&ml);
	mw_session_free(&s);
	fclose(out);
}

TEST(mledger_sampler_weights_recorded)
{
	char *rec = NULL, *a = NULL, *b = NULL;
	size_t rlen = 0, alen = 0, blen = 0;
	FILE *rf = open_memstream(&rec, &rlen);

	CHECK_EQ_INT(mw_record_begin(rf, 4096, 0), 0);
	run_ledger(rf, NULL, 0, &a, &alen);
	fclose(rf);
	CHECK(strstr(a, "\"sampling\":\"sampler bytes 4096\""));
	CHECK(strstr(a, "\"calls\":null"));
	CHECK(strstr(a, "\"estimated\":true"));
	/* 2 x 4096 bytes for the small stack, in ~82 blocks; the large block alone. */
	CHECK(strstr(a, "\"bytes\":8192,\"count\":82"));
	CHECK(strstr(a, "\"bytes\":1048576,\"count\":1"));
	/* The allocated estimate is the kernel's sum (records lost or not), with the unkept
	 * sample: 41 + 41 + 1 + 64 allocations; the outstanding bytes are the records'. */
	CHECK(strstr(a, "\"estimated_bytes\":1060864"));
	CHECK(strstr(a, "\"estimated_count\":147"));
	CHECK(strstr(a, "\"outstanding_bytes\":1056768"));
	run_ledger(NULL, rec, rlen, &b, &blen);
	CHECK(strstr(b, "\"bytes\":8192,\"count\":82"));
	CHECK(strstr(b, "\"estimated_bytes\":1060864"));
	CHECK(strstr(b, "\"sampling\":\"sampler bytes 4096\""));
	free(rec);
	free(a);
	free(b);
}

TEST(msampler_slots)
{
	uint64_t slots[8] = { 0, 0x3000, 0, 0x1000, 0x2000, 0, 0, 0x10 }, out[8];

	CHECK_EQ_INT(mw_msampler_slots(slots, 8, out), 4);
	CHECK_EQ_INT(out[0], 0x10);
	CHECK_EQ_INT(out[1], 0x1000);
	CHECK_EQ_INT(out[2], 0x2000);
	CHECK_EQ_INT(out[3], 0x3000);
	/* In place, as memwatch reads it; an empty table has nothing. */
	CHECK_EQ_INT(mw_msampler_slots(slots, 8, slots), 4);
	CHECK_EQ_INT(slots[3], 0x3000);
	memset(slots, 0, sizeof(slots));
	CHECK_EQ_INT(mw_msampler_slots(slots, 8, out), 0);
}

/*
 * The sampler's frees read from its table (no free probe): the blocks of the process the
 * table no longer has are freed, the others and other processes' stay; a sample at an address
 * already live replaces the old block (freed, its slot reused); a table that cannot be read
 * makes every block's fate unknown, none a leak. A recording replays to the same report.
 */
static void table_ledger(FILE *rec, const void *replay, size_t len, char **json, size_t *jlen)
{
	struct mw_config cfg = { .json = true };
	struct mw_mreport_entry in = { .now_mono_ns = 5000, .pid = 42, .final = 1 };
	const uint64_t live[] = { 0x1000, 0x3000, 0x9000 }; /* 0x9000: sampled before, unseen */
	struct mw_session s;
	struct mw_mledger ml;
	char err[128];
	FILE *out = open_memstream(json, jlen);

	cfg.mal.on = true;
	mw_session_init(&s, &cfg, out, 4096, 0);
	s.rec = rec;
	CHECK_EQ_INT(mw_mledger_init(&ml, &s, &cfg.mal, 1000, err, sizeof(err)), 0);
	mw_mledger_proc(&ml, 42, "app", "/x/libmemwatch-sampler.so", 0);
	mw_mledger_sampler(&ml, 42, 64, 0);
	if (!replay) {
		feed(&ml, 0x1000, 100, 100, 0x401000);
		feed(&ml, 0x2000, 200, 200, 0x401000);
		feed(&ml, 0x3000, 300, 300, 0x402000);
		feed(&ml, 0x4000, 400, 400, 0x402000);
		CHECK_EQ_INT(mw_mledger_sampler_sync(&ml, 42, 2000, live, 3, true), 2);
		CHECK(mw_leak_find(&ml.leak, 0x1000) && mw_leak_find(&ml.leak, 0x3000));
		CHECK(!mw_leak_find(&ml.leak, 0x2000) && !mw_leak_find(&ml.leak, 0x4000));
		/* Read again, unchanged: nothing freed, nothing recorded. */
		CHECK_EQ_INT(mw_mledger_sampler_sync(&ml, 42, 2500, live, 3, true), 0);
		/* 0x3000 freed and sampled again before the next read: one block, the new one. */
		feed(&ml, 0x3000, 3000, 3000, 0x403000);
		CHECK_EQ_INT(ml.leak.nblocks, 2);
		CHECK_EQ_INT(mw_leak_find(&ml.leak, 0x3000)->size, 3000);
	} else {
		struct mw_replay r;
		struct mw_entry e;

		CHECK_EQ_INT(mw_replay_init(&r, replay, len), 0);
		while (mw_replay_next(&r, &e) == 1) {
			if (e.kind == MW_ENTRY_MALLOC)
				CHECK_EQ_INT(mw_mledger_alloc_entry(&ml, e.data, e.len), 0);
			else if (e.kind == MW_ENTRY_MFREED)
				CHECK_EQ_INT(mw_mledger_freed_entry(&ml, e.data, e.len), 0);
		}
	}
	mw_mledger_report(&ml, &in);
	mw_mledger_destroy(&ml);
	mw_session_free(&s);
	fclose(out);
}

TEST(mledger_sampler_frees_from_table)
{
	char *rec = NULL, *a = NULL, *b = NULL;
	size_t rlen = 0, alen = 0, blen = 0;
	FILE *rf = open_memstream(&rec, &rlen);

	CHECK_EQ_INT(mw_record_begin(rf, 4096, 0), 0);
	table_ledger(rf, NULL, 0, &a, &alen);
	fclose(rf);
	/* Left: 0x1000 (100 bytes) and the new 0x3000 (3000 bytes), each its own stack. */
	CHECK(strstr(a, "\"outstanding_bytes\":3100,\"outstanding_count\":2"));
	CHECK(strstr(a, "\"bytes\":3000,\"count\":1"));
	CHECK(strstr(a, "\"bytes\":100,\"count\":1"));
	CHECK(!strstr(a, "\"bytes\":300,") && !strstr(a, "\"bytes\":200,"));
	table_ledger(NULL, rec, rlen, &b, &blen);
	CHECK_EQ_INT(blen, alen);
	CHECK(blen == alen && !memcmp(a, b, alen));
	free(rec);
	free(a);
	free(b);
}

/* The table could not be read (the process is gone): every block's fate is unknown. */
TEST(mledger_sampler_table_lost)
{
	struct mw_config cfg = { .json = true };
	struct mw_mreport_entry in = { .now_mono_ns = 5000, .pid = 42, .final = 1 };
	struct mw_session s;
	struct mw_mledger ml;
	char err[128], *json = NULL;
	size_t jlen = 0;
	FILE *out = open_memstream(&json, &jlen);

	cfg.mal.on = true;
	mw_session_init(&s, &cfg, out, 4096, 0);
	CHECK_EQ_INT(mw_mledger_init(&ml, &s, &cfg.mal, 1000, err, sizeof(err)), 0);
	mw_mledger_proc(&ml, 42, "app", "/x/libmemwatch-sampler.so", 0);
	mw_mledger_sampler(&ml, 42, 64, 0);
	/* No block: nothing to say. */
	CHECK_EQ_INT(mw_mledger_sampler_sync(&ml, 42, 1500, NULL, 0, false), 0);
	feed(&ml, 0x1000, 100, 100, 0x401000);
	feed(&ml, 0x2000, 200, 200, 0x402000);
	CHECK_EQ_INT(mw_mledger_sampler_sync(&ml, 42, 2000, NULL, 0, false), 2);
	CHECK_EQ_INT(ml.leak.nblocks, 2);
	mw_mledger_report(&ml, &in);
	mw_mledger_destroy(&ml);
	mw_session_free(&s);
	fclose(out);
	CHECK(strstr(json, "\"type\":\"fate_unknown\""));
	CHECK(!strstr(json, "\"type\":\"leak\""));
	CHECK(strstr(json, "\"outstanding_bytes\":0,\"outstanding_count\":0"));
	free(json);
}

/* A record as the sampler writes it at position pos (committed). */
static void ring_rec(struct mws_rec *r, uint64_t pos, uint64_t ptr, uint64_t size, uint64_t w)
{
	memset(r, 0, sizeof(*r));
	r->seq = 2 * pos + 2;
	r->ptr = ptr;
	r->size = size;
	r->weight = w;
	r->time_ns = 1000 + pos;
	r->tid = 43;
	r->stack_len = 64;
	for (int i = 0; i < MWS_NREGS; i++)
		r->regs[i] = 0x100 + (uint64_t)i;
	r->stack[0] = 0xaa;
}

struct ring_seen {
	uint64_t ptrs[16];
	int n;
};

static void ring_collect(void *ctx, const struct mws_rec *r)
{
	struct ring_seen *s = ctx;

	if (s->n < 16)
		s->ptrs[s->n++] = r->ptr;
}

/* A ring record is the event the BPF program makes at mwsampler:alloc: registers in DWARF order. */
TEST(msampler_ring_event)
{
	static struct mws_rec r;
	struct mw_event ev;

	ring_rec(&r, 5, 0x7000, 100, 4096);
	CHECK(mw_msampler_ring_event(&r, 42, 4096, &ev));
	CHECK_EQ_INT(ev.kind, MW_EV_MALLOC);
	CHECK_EQ_INT(ev.mal.fn, MW_MFN_MALLOC);
	CHECK_EQ_INT(ev.pid, 42);
	CHECK_EQ_INT(ev.tid, 43);
	CHECK_EQ_INT(ev.mono_ns, 1005);
	CHECK_EQ_HEX(ev.mal.addr, 0x7000);
	CHECK_EQ_INT(ev.mal.size, 100);
	CHECK_EQ_INT(ev.mal.weight, 4096);
	CHECK_EQ_HEX(ev.mal.regs[16], 0x100 + MWS_RIP);
	CHECK_EQ_HEX(ev.mal.regs[7], 0x100 + MWS_RSP);
	CHECK_EQ_HEX(ev.mal.regs[6], 0x100 + MWS_RBP);
	CHECK_EQ_HEX(ev.mal.regs[3], 0x100 + MWS_RBX);
	CHECK_EQ_HEX(ev.mal.regs[12], 0x100 + MWS_R12);
	CHECK_EQ_HEX(ev.mal.regs[15], 0x100 + MWS_R15);
	CHECK_EQ_INT(ev.mal.regs[0], 0); /* not taken: caller-saved, no CFI needs them */
	CHECK(ev.mal.stack == r.stack && ev.mal.stack_len == 64);
	/* The stack as long as --stack-bytes at most, and never past the record's own. */
	CHECK(mw_msampler_ring_event(&r, 42, 16, &ev) && ev.mal.stack_len == 16);
	r.stack_len = 1u << 30;
	CHECK(mw_msampler_ring_event(&r, 42, 1u << 20, &ev) && ev.mal.stack_len == MWS_RING_STACK);
	/* No weight: not a record the sampler wrote. */
	r.weight = 0;
	CHECK(!mw_msampler_ring_event(&r, 42, 4096, &ev));
}

/*
 * The reader's accounting: positions a ring's length behind the head were written over (lost);
 * a record whose slot a later writer may have entered during the copy is lost; one half-written
 * stops the read until it is whole, or is lost after MW_MRING_STALLS reads (a writer that found
 * its slot busy never completes it), or at once when the process is stopped.
 */
TEST(msampler_ring_accounting)
{
	static struct mws_rec recs[4];
	struct mw_mring c = { .tail = 0 };
	struct ring_seen seen = { .n = 0 };

	CHECK_EQ_INT(mws_ring_slots("8"), 8);
	CHECK_EQ_INT(mws_ring_slots("6"), 0);
	CHECK_EQ_INT(mws_ring_slots("1"), 0);
	CHECK_EQ_INT(mws_ring_slots("131072"), 0);
	CHECK_EQ_INT(mws_count16(100, 4096), (4096 << 16) / 100);
	/* 10 written into 4 slots before the first read: 6 lost, the last 4 there. */
	mw_msampler_ring_begin(&c, 10, 4);
	CHECK_EQ_INT(c.lost, 6);
	CHECK_EQ_INT(c.tail, 6);
	for (int i = 0; i < 4; i++)
		ring_rec(&recs[i], 6 + (uint64_t)i, 0x1000 * (6 + (uint64_t)i), 16, 16);
	CHECK(mw_msampler_ring_take(&c, recs, 4, 10, 4, false, ring_collect, &seen));
	CHECK_EQ_INT(c.read, 4);
	CHECK_EQ_INT(c.tail, 10);
	CHECK_EQ_INT(seen.n, 4);
	CHECK_EQ_HEX(seen.ptrs[0], 0x6000);
	CHECK_EQ_HEX(seen.ptrs[3], 0x9000);
	/* Positions 10..13; after the copy the head is 15: position 10's slot was entered again. */
	for (int i = 0; i < 4; i++)
		ring_rec(&recs[i], 10 + (uint64_t)i, 0x1000 * (10 + (uint64_t)i), 16, 16);
	CHECK(mw_msampler_ring_take(&c, recs, 4, 15, 4, false, ring_collect, &seen));
	CHECK_EQ_INT(c.lost, 7);
	CHECK_EQ_INT(c.read, 7);
	CHECK_EQ_INT(c.tail, 14);
	/* 14 half-written (15 whole): the read stops there, MW_MRING_STALLS times, then counts it. */
	ring_rec(&recs[0], 14, 0xe000, 16, 16);
	recs[0].seq = 2 * 14 + 1;
	ring_rec(&recs[1], 15, 0xf000, 16, 16);
	for (int k = 1; k < MW_MRING_STALLS; k++) {
		CHECK(!mw_msampler_ring_take(&c, recs, 2, 16, 4, false, ring_collect, &seen));
		CHECK_EQ_INT(c.tail, 14);
	}
	CHECK(mw_msampler_ring_take(&c, recs, 2, 16, 4, false, ring_collect, &seen));
	CHECK_EQ_INT(c.lost, 8);
	CHECK_EQ_INT(c.read, 8);
	CHECK_EQ_INT(c.tail, 16);
	/* The last records of a stopped process: one never written (a busy slot) is lost now. */
	ring_rec(&recs[0], 16, 0x10000, 16, 16);
	recs[1].seq = 2 * 13 + 2; /* position 17: its slot still holds 13's record */
	CHECK(mw_msampler_ring_take(&c, recs, 2, 18, 4, true, ring_collect, &seen));
	CHECK_EQ_INT(c.read, 9);
	CHECK_EQ_INT(c.lost, 9);
	CHECK_EQ_INT(c.tail, 18);
	/* Every position is read or lost, once. */
	CHECK_EQ_INT(c.read + c.lost, 18);
	/* A record of a table that could not keep its block (ptr 0) is read, counted apart. */
	ring_rec(&recs[0], 18, 0, 16, 16);
	CHECK(mw_msampler_ring_take(&c, recs, 1, 19, 4, false, ring_collect, &seen));
	CHECK_EQ_INT(c.not_kept, 1);
}

/*
 * Samples from the ring through the ledger as the live path feeds them (decoded events), with
 * the ring's flag in the sampler's entry: the summary says "ring", and a replay of the
 * recording gives the same report, byte for byte.
 */
static void ring_ledger(FILE *rec, const void *replay, size_t len, char **json, size_t *jlen)
{
	struct mw_config cfg = { .json = true };
	struct mw_mreport_entry in = { .now_mono_ns = 5000, .pid = 42, .final = 1 };
	static struct mws_rec r;
	struct mw_session s;
	struct mw_mledger ml;
	char err[128];
	FILE *out = open_memstream(json, jlen);

	cfg.mal.on = true;
	mw_session_init(&s, &cfg, out, 4096, 0);
	s.rec = rec;
	CHECK_EQ_INT(mw_mledger_init(&ml, &s, &cfg.mal, 1000, err, sizeof(err)), 0);
	if (!replay) {
		mw_mledger_proc(&ml, 42, "app", "/x/libmemwatch-sampler.so", 0);
		mw_mledger_sampler(&ml, 42, 4096, MW_MSAMPLER_RING);
		for (uint64_t i = 0; i < 3; i++) {
			struct mw_event ev;
			uint64_t ip = 0x401000 + 0x1000 * (i & 1);

			ring_rec(&r, i, 0x1000 * (i + 1), 100, 4096);
			CHECK(mw_msampler_ring_event(&r, 42, 4096, &ev));
			mw_mledger_alloc(&ml, &ev, &ip, 1, NULL, NULL);
		}
	} else {
		struct mw_replay rp;
		struct mw_entry e;

		CHECK_EQ_INT(mw_replay_init(&rp, replay, len), 0);
		while (mw_replay_next(&rp, &e) == 1) {
			const struct mw_msampler_entry *se = e.data;

			if (e.kind == MW_ENTRY_MPROC)
				mw_mledger_proc(&ml, 42, "app", "/x/libmemwatch-sampler.so", 0);
			else if (e.kind == MW_ENTRY_MSAMPLER)
				mw_mledger_sampler(&ml, 42, se->mean, se->flags);
			else if (e.kind == MW_ENTRY_MALLOC)
				CHECK_EQ_INT(mw_mledger_alloc_entry(&ml, e.data, e.len), 0);
		}
	}
	mw_mledger_report(&ml, &in);
	mw_mledger_destroy(&ml);
	mw_session_free(&s);
	fclose(out);
}

TEST(mledger_sampler_ring_recorded)
{
	char *rec = NULL, *a = NULL, *b = NULL;
	size_t rlen = 0, alen = 0, blen = 0;
	FILE *rf = open_memstream(&rec, &rlen);

	CHECK_EQ_INT(mw_record_begin(rf, 4096, 0), 0);
	ring_ledger(rf, NULL, 0, &a, &alen);
	fclose(rf);
	CHECK(strstr(a, "\"sampler_path\":\"ring\""));
	CHECK(strstr(a, "\"outstanding_bytes\":12288"));
	CHECK(strstr(a, "\"bytes\":8192,\"count\":82")); /* two samples of ~41 blocks each */
	ring_ledger(NULL, rec, rlen, &b, &blen);
	CHECK_EQ_INT(blen, alen);
	CHECK(blen == alen && !memcmp(a, b, alen));
	free(rec);
	free(a);
	free(b);
}
