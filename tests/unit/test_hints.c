// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* --stacks' hints, user space's table (user/stacks/hints.c): what a hint says and checks, when
 * one is tried, and which frames a call sent without its stack gets: those of the record it
 * names under the same process state, or none. */
#include <string.h>
#include "stacks/hints.h"
#include "unit.h"

enum {
	TID = 4242,
	PID = 4240,
	IP = 0x401136,
	SP = 0x7ffd1000,
	BP = 0x7ffd1040
};

static struct mw_ustack_capture capture(void)
{
	struct mw_ustack_capture c = { .pid = PID, .tid = TID };

	c.regs[6] = BP;
	c.regs[7] = SP;
	c.regs[16] = IP;
	return c;
}

static struct mw_ustack_reads reads(uint32_t n, bool need_bp)
{
	struct mw_ustack_reads r = { .n = n, .span = 8 * n + 8, .need_bp = need_bp };

	for (uint32_t i = 0; i < n; i++) {
		r.offs[i] = 8 * i + 8;
		r.vals[i] = 0x7f0000001000ULL + i;
	}
	return r;
}

TEST(hints_build_fields_and_check)
{
	struct mw_ustack_capture c = capture();
	struct mw_ustack_reads r = reads(3, true);
	struct mw_stack_hint h;
	__u64 sum;

	CHECK(mw_hints_build(&c, 1000, &r, &h));
	CHECK_EQ_INT(h.base_ts, 1000);
	CHECK_EQ_HEX(h.ip, IP);
	CHECK_EQ_HEX(h.sp, SP);
	CHECK_EQ_HEX(h.bp, BP);
	CHECK_EQ_INT(h.flags, MW_HINT_BP);
	CHECK_EQ_INT(h.tid, TID);
	CHECK_EQ_INT(h.n, 3);
	CHECK_EQ_INT(h.span, 32);
	/* The kernel recomputes the check as it compares: the same fold, word by word. */
	sum = mw_hint_head(1000, IP, SP, BP, TID, 3, 32, MW_HINT_BP);
	for (uint32_t i = 0; i < 3; i++) {
		CHECK_EQ_INT(h.offs[i], 8 * i + 8);
		sum = mw_hint_mix(sum, h.offs[i], h.vals[i], i);
	}
	CHECK_EQ_HEX(h.check, sum);
	/* Without rbp the hint neither names nor checks it. */
	r = reads(3, false);
	CHECK(mw_hints_build(&c, 1000, &r, &h));
	CHECK_EQ_INT(h.bp, 0);
	CHECK_EQ_INT(h.flags, 0);
	/* Nothing to compare, more than the kernel copies, or no record: no hint. */
	r = reads(0, false);
	CHECK(!mw_hints_build(&c, 1000, &r, &h));
	r = reads(3, false);
	r.span = MW_SYS_STACK_BYTES + 8;
	CHECK(!mw_hints_build(&c, 1000, &r, &h));
	r = reads(3, false);
	CHECK(!mw_hints_build(&c, 0, &r, &h));
}

TEST(hints_due_at_powers_of_two_and_after_serving)
{
	struct mw_hints *t = mw_hints_new();
	struct mw_ustack_capture c = capture();
	struct mw_ustack_reads r = reads(2, false);
	uint64_t ips[MW_HINT_FRAMES] = { IP, 0x401200 }, out[MW_HINT_FRAMES];
	struct mw_stack_hint h;
	bool due[9];

	CHECK(t != NULL);
	if (!t)
		return;
	for (int i = 0; i < 9; i++)
		due[i] = mw_hints_due(t, PID, TID, IP, 100 + i);
	CHECK(due[0] && due[1] && !due[2] && due[3] && !due[4] && !due[6] && due[7] && !due[8]);
	CHECK(mw_hints_build(&c, 108, &r, &h));
	mw_hints_installed(t, &h, PID, 7, ips, 2, true, 200);
	/* Copies the kernel made before the hint went in say nothing against it. */
	CHECK(!mw_hints_due(t, PID, TID, IP, 150));
	CHECK(!mw_hints_due(t, PID, TID, IP, 199));
	/* A call served by the hint starts the count again: the next copy tries a new one. */
	CHECK_EQ_INT(mw_hints_frames(t, PID, TID, IP, 108, 7, out, MW_HINT_FRAMES), 2);
	CHECK(mw_hints_due(t, PID, TID, IP, 300));
	CHECK(mw_hints_due(t, PID, TID, IP, 301));
	CHECK(!mw_hints_due(t, PID, TID, IP, 302));
	mw_hints_free(t);
}

TEST(hints_frames_only_for_the_record_named_under_the_same_state)
{
	struct mw_hints *t = mw_hints_new();
	struct mw_ustack_capture c = capture();
	struct mw_ustack_reads r = reads(2, false);
	uint64_t a[MW_HINT_FRAMES] = { IP, 0x401200, 0x401300 },
		 b[MW_HINT_FRAMES] = { IP, 0x401900 };
	uint64_t out[MW_HINT_FRAMES];
	struct mw_stack_hint h;

	CHECK(t != NULL);
	if (!t)
		return;
	CHECK_EQ_INT(mw_hints_frames(t, PID, TID, IP, 10, 7, out, MW_HINT_FRAMES), 0);
	CHECK(mw_hints_build(&c, 10, &r, &h));
	mw_hints_installed(t, &h, PID, 7, a, 3, true, 1);
	CHECK_EQ_INT(mw_hints_frames(t, PID, TID, IP, 10, 7, out, MW_HINT_FRAMES), 3);
	CHECK_EQ_HEX(out[2], 0x401300);
	/* Another record's time, another state of the process (an exec, a dlopen seen), another
	 * thread, process or pc: unknown. */
	CHECK_EQ_INT(mw_hints_frames(t, PID, TID, IP, 11, 7, out, MW_HINT_FRAMES), 0);
	CHECK_EQ_INT(mw_hints_frames(t, PID, TID, IP, 10, 8, out, MW_HINT_FRAMES), 0);
	CHECK_EQ_INT(mw_hints_frames(t, PID, TID, IP, 10, 0, out, MW_HINT_FRAMES), 0);
	CHECK_EQ_INT(mw_hints_frames(t, PID, TID + 1, IP, 10, 7, out, MW_HINT_FRAMES), 0);
	CHECK_EQ_INT(mw_hints_frames(t, PID + 1, TID, IP, 10, 7, out, MW_HINT_FRAMES), 0);
	CHECK_EQ_INT(mw_hints_frames(t, PID, TID, IP + 1, 10, 7, out, MW_HINT_FRAMES), 0);
	/* At most max frames. */
	CHECK_EQ_INT(mw_hints_frames(t, PID, TID, IP, 10, 7, out, 2), 2);
	/* A newer hint: the kernel may still send calls naming the older (in flight in the ring),
	 * which keep their frames; a third evicts the first. */
	CHECK(mw_hints_build(&c, 20, &r, &h));
	mw_hints_installed(t, &h, PID, 7, b, 2, true, 2);
	CHECK_EQ_INT(mw_hints_frames(t, PID, TID, IP, 20, 7, out, MW_HINT_FRAMES), 2);
	CHECK_EQ_HEX(out[1], 0x401900);
	CHECK_EQ_INT(mw_hints_frames(t, PID, TID, IP, 10, 7, out, MW_HINT_FRAMES), 3);
	CHECK(mw_hints_build(&c, 30, &r, &h));
	mw_hints_installed(t, &h, PID, 7, a, 3, true, 3);
	CHECK_EQ_INT(mw_hints_frames(t, PID, TID, IP, 10, 7, out, MW_HINT_FRAMES), 0);
	CHECK_EQ_INT(mw_hints_frames(t, PID, TID, IP, 20, 7, out, MW_HINT_FRAMES), 2);
	/* A hint the kernel did not take names nothing. */
	CHECK(mw_hints_build(&c, 40, &r, &h));
	mw_hints_installed(t, &h, PID, 7, b, 2, false, 4);
	CHECK_EQ_INT(mw_hints_frames(t, PID, TID, IP, 40, 7, out, MW_HINT_FRAMES), 0);
	CHECK_EQ_INT(mw_hints_frames(t, PID, TID, IP, 30, 7, out, MW_HINT_FRAMES), 3);
	mw_hints_free(t);
}
