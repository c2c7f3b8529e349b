// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Ring-buffer record decoding. */
#include <errno.h>
#include "wire/decode.h"
#include "unit.h"

static const struct mw_decode_ctx ctx = { .mono_to_epoch_ns = 1000, .page_size = 4096 };

TEST(decode_syscall_record)
{
	struct mw_syscall_rec r = {
		.hdr = { .type = MW_REC_SYSCALL, .tgid = 10, .tid = 11, .ts_ns = 5 },
		.args = { 1, 2, 3, 4, 5, 6 },
		.ret = -12,
		.dur_ns = 77,
		.sys = MW_SYS_MMAP,
	};
	struct mw_event ev;

	memcpy(r.hdr.comm, "0123456789abcdef", 16); /* no NUL: decoded name is cut */
	CHECK_EQ_INT(mw_decode(&ctx, &r, sizeof(r), &ev), 0);
	CHECK_EQ_INT(ev.kind, MW_EV_SYSCALL);
	CHECK_EQ_INT(ev.ts_ns, 1005);
	CHECK_EQ_INT(ev.mono_ns, 5);
	CHECK_EQ_INT(ev.pid, 10);
	CHECK_EQ_INT(ev.tid, 11);
	CHECK_EQ_STR(ev.comm, "0123456789abcde");
	CHECK_EQ_INT(ev.sc.sys, MW_SYS_MMAP);
	CHECK_EQ_INT(ev.sc.args[5], 6);
	CHECK_EQ_INT(ev.sc.ret, -12);
	CHECK(mw_ret_is_error(ev.sc.ret));
	CHECK_EQ_INT(ev.sc.dur_ns, 77);
}

TEST(decode_syscall_record_without_rss_delta_says_unknown)
{
	struct mw_syscall_rec r = { .hdr = { .type = MW_REC_SYSCALL }, .sys = MW_SYS_MUNMAP };
	struct mw_event ev;

	CHECK_EQ_INT(mw_decode(&ctx, &r, sizeof(r), &ev), 0);
	CHECK(!ev.sc.rss_known);
}

TEST(decode_syscall_rss_delta_scales_signed_pages)
{
	struct mw_syscall_rss_rec r = {
		.sc = { .hdr = { .type = MW_REC_SYSCALL, .tgid = 3, .tid = 4 },
			.args = { 0x1000, 0x3000 },
			.sys = MW_SYS_MADVISE },
		.rss = { .anon = -3, .file = 1, .shmem = 0 },
	};
	struct mw_event ev;

	CHECK_EQ_INT(mw_decode(&ctx, &r, sizeof(r), &ev), 0);
	CHECK_EQ_INT(ev.kind, MW_EV_SYSCALL);
	CHECK_EQ_INT(ev.sc.sys, MW_SYS_MADVISE);
	CHECK(ev.sc.rss_known);
	CHECK_EQ_INT(ev.sc.rss_anon, -3 * 4096);
	CHECK_EQ_INT(ev.sc.rss_file, 4096);
	CHECK_EQ_INT(ev.sc.rss_shmem, 0);
	CHECK_EQ_INT(ev.sc.rss_delta, -2 * 4096);
	/* 0 is a known effect, not an unknown one. */
	r.rss = (struct mw_rss_delta){ 0 };
	CHECK_EQ_INT(mw_decode(&ctx, &r, sizeof(r), &ev), 0);
	CHECK(ev.sc.rss_known);
	CHECK_EQ_INT(ev.sc.rss_anon, 0);
	/* Only the calls that carry one; a count that overflows bytes is not pages. */
	r.sc.sys = MW_SYS_MMAP;
	CHECK_EQ_INT(mw_decode(&ctx, &r, sizeof(r), &ev), -EINVAL);
	r.sc.sys = MW_SYS_MUNMAP;
	r.rss.anon = INT64_MIN / 2;
	CHECK_EQ_INT(mw_decode(&ctx, &r, sizeof(r), &ev), -EINVAL);
	/* Parts that fit whose sum does not (a crafted recording). */
	r.rss = (struct mw_rss_delta){ .anon = INT64_MAX / 4096, .file = INT64_MAX / 4096 };
	CHECK_EQ_INT(mw_decode(&ctx, &r, sizeof(r), &ev), -EINVAL);
}

TEST(decode_task_record_scales_pages)
{
	struct mw_task_rec r = {
		.hdr = { .type = MW_REC_EXIT_GROUP, .tgid = 3, .tid = 3 },
		.vm_pages = 10,
	};
	struct mw_event ev;

	CHECK_EQ_INT(mw_decode(&ctx, &r, sizeof(r), &ev), 0);
	CHECK_EQ_INT(ev.task.vm_bytes, 40960);
}

TEST(decode_rss_record_scales_pages)
{
	struct mw_rss_rec r = {
		.hdr = { .type = MW_REC_RSS, .tgid = 3, .tid = 4 },
		.file = 1,
		.anon = 2,
		.swap = 3,
		.shmem = 4,
		.slack = 5,
	};
	struct mw_event ev;

	CHECK_EQ_INT(mw_decode(&ctx, &r, sizeof(r), &ev), 0);
	CHECK_EQ_INT(ev.kind, MW_EV_RSS);
	CHECK_EQ_INT(ev.rss.file, 4096);
	CHECK_EQ_INT(ev.rss.anon, 8192);
	CHECK_EQ_INT(ev.rss.swap, 3 * 4096);
	CHECK_EQ_INT(ev.rss.shmem, 4 * 4096);
	CHECK_EQ_INT(ev.rss.slack, 5 * 4096);
	CHECK_EQ_INT(mw_decode(&ctx, &r, sizeof(r) - 1, &ev), -EINVAL);
}

TEST(decode_syscall_stack_record)
{
	struct {
		struct mw_syscall_stack_rec r;
		uint8_t stack[64];
	} b = { .r = { .sc = { .hdr = { .type = MW_REC_SYSCALL_STACK, .tgid = 3, .tid = 4 },
			       .ret = 0x1000,
			       .sys = MW_SYS_BRK },
		       .stack_len = 64 } };
	struct mw_event ev;

	b.r.regs[16] = 0x401000;
	b.stack[0] = 0xab;
	CHECK_EQ_INT(mw_decode(&ctx, &b, sizeof(b), &ev), 0);
	CHECK_EQ_INT(ev.kind, MW_EV_SYSCALL); /* a syscall to everything downstream */
	CHECK_EQ_INT(ev.sc.sys, MW_SYS_BRK);
	CHECK_EQ_INT(ev.sc.ret, 0x1000);
	CHECK(ev.sc.regs != NULL && ev.sc.regs[16] == 0x401000);
	CHECK(ev.sc.stack == b.stack && ev.sc.stack_len == 64);
	/* Stack bytes claimed beyond the record: refused. */
	CHECK_EQ_INT(mw_decode(&ctx, &b, sizeof(b) - 1, &ev), -EINVAL);
	CHECK_EQ_INT(mw_decode(&ctx, &b, sizeof(b.r) - 1, &ev), -EINVAL);
	/* A plain record has none. */
	b.r.sc.hdr.type = MW_REC_SYSCALL;
	CHECK_EQ_INT(mw_decode(&ctx, &b.r.sc, sizeof(b.r.sc), &ev), 0);
	CHECK(ev.sc.regs == NULL && ev.sc.stack == NULL && ev.sc.stack_len == 0);
}

/* --stacks: a call sent without its stack names the record whose frames it has. */
TEST(decode_syscall_same_record)
{
	struct {
		struct mw_syscall_same_rec r;
		struct mw_rss_delta d;
	} b = { .r = { .sc = { .hdr = { .type = MW_REC_SYSCALL_SAME, .tgid = 3, .tid = 4 },
			       .sys = MW_SYS_MUNMAP },
		       .ip = 0x7f0000001234,
		       .base_ts = 99 },
		.d = { .anon = -1 } };
	struct mw_event ev;

	CHECK_EQ_INT(mw_decode(&ctx, &b.r, sizeof(b.r), &ev), 0);
	CHECK_EQ_INT(ev.kind, MW_EV_SYSCALL);
	CHECK_EQ_INT(ev.sc.sys, MW_SYS_MUNMAP);
	CHECK(ev.sc.same_ts == 99 && ev.sc.same_ip == 0x7f0000001234);
	CHECK(ev.sc.regs == NULL && ev.sc.stack == NULL && !ev.sc.rss_known);
	CHECK_EQ_INT(mw_decode(&ctx, &b, sizeof(b), &ev), 0);
	CHECK(ev.sc.rss_known && ev.sc.rss_anon == -4096);
	CHECK_EQ_INT(mw_decode(&ctx, &b, sizeof(b.r) - 1, &ev), -EINVAL);
	/* No record at time 0: not one. */
	b.r.base_ts = 0;
	CHECK_EQ_INT(mw_decode(&ctx, &b.r, sizeof(b.r), &ev), -EINVAL);
}

/* --stacks: a known rss_delta follows the stack bytes, wherever they end. */
TEST(decode_syscall_stack_record_with_rss_delta)
{
	struct mw_rss_delta d = { .anon = -2, .file = 0, .shmem = -1 };
	struct {
		struct mw_syscall_stack_rec r;
		uint8_t stack[61 + sizeof(struct mw_rss_delta)];
	} b = { .r = { .sc = { .hdr = { .type = MW_REC_SYSCALL_STACK }, .sys = MW_SYS_MUNMAP },
		       .stack_len = 61 } };
	size_t size = sizeof(b.r) + 61 + sizeof(d);
	struct mw_event ev;

	memcpy(b.stack + 61, &d, sizeof(d));
	CHECK_EQ_INT(mw_decode(&ctx, &b, size, &ev), 0);
	CHECK(ev.sc.stack_len == 61 && ev.sc.rss_known);
	CHECK_EQ_INT(ev.sc.rss_anon, -8192);
	CHECK_EQ_INT(ev.sc.rss_shmem, -4096);
	/* Without it: unknown; a tail of another size is not one. */
	CHECK_EQ_INT(mw_decode(&ctx, &b, size - sizeof(d), &ev), 0);
	CHECK(!ev.sc.rss_known);
	CHECK_EQ_INT(mw_decode(&ctx, &b, size - 1, &ev), -EINVAL);
}

TEST(decode_rejects_short_and_unknown)
{
	struct mw_syscall_rec r = { .hdr = { .type = MW_REC_SYSCALL }, .sys = MW_SYS_MMAP };
	struct mw_event ev;

	CHECK_EQ_INT(mw_decode(&ctx, &r, sizeof(r) - 1, &ev), -EINVAL);
	CHECK_EQ_INT(mw_decode(&ctx, &r, 4, &ev), -EINVAL);
	r.sys = MW_SYS_COUNT;
	CHECK_EQ_INT(mw_decode(&ctx, &r, sizeof(r), &ev), -EINVAL);
	r.sys = 0;
	r.hdr.type = 99;
	CHECK_EQ_INT(mw_decode(&ctx, &r, sizeof(r), &ev), -EINVAL);
	CHECK(!mw_ret_is_error(-4096));
	CHECK(mw_ret_is_error(-4095));
}
