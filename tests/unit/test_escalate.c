// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Escalation's rate limits, on a made-up clock. */
#include <stdlib.h>
#include "trigger/escalate.h"
#include "unit.h"

#define S 1000000000ULL

static const struct mw_esc_policy pol = {
	.dur_ns = 10 * S,
	.proc_gap_ns = 600 * S,
	.max_active = 2,
	.max_per_window = 3,
	.window_ns = 3600 * S,
};

TEST(escalate_per_process_gap)
{
	struct mw_esc_state *s = calloc(1, sizeof(*s));
	uint32_t due[4];

	CHECK_EQ_INT(mw_esc_request(s, &pol, 7, 100 * S), MW_ESC_START);
	CHECK(mw_esc_active(s, 7));
	CHECK_EQ_INT(mw_esc_request(s, &pol, 7, 105 * S), MW_ESC_ACTIVE);
	CHECK_EQ_INT(mw_esc_due(s, 109 * S, NULL, NULL, due, 4), 0);
	CHECK_EQ_INT(mw_esc_due(s, 110 * S, NULL, NULL, due, 4), 1);
	CHECK_EQ_INT(due[0], 7);
	CHECK(!mw_esc_active(s, 7));
	/* Fired again soon after: refused until 600 s after its start. */
	CHECK_EQ_INT(mw_esc_request(s, &pol, 7, 200 * S), MW_ESC_PROC_LIMIT);
	CHECK_EQ_INT(mw_esc_request(s, &pol, 7, 699 * S), MW_ESC_PROC_LIMIT);
	CHECK_EQ_INT(mw_esc_request(s, &pol, 7, 700 * S), MW_ESC_START);
	free(s);
}

TEST(escalate_host_limits)
{
	struct mw_esc_state *s = calloc(1, sizeof(*s));
	uint32_t due[4];

	CHECK_EQ_INT(mw_esc_request(s, &pol, 1, 0), MW_ESC_START);
	CHECK_EQ_INT(mw_esc_request(s, &pol, 2, 1 * S), MW_ESC_START);
	CHECK_EQ_INT(mw_esc_request(s, &pol, 3, 2 * S), MW_ESC_HOST_BUSY); /* two at once */
	CHECK_EQ_INT(mw_esc_due(s, 10 * S, NULL, NULL, due, 4), 1);
	CHECK_EQ_INT(mw_esc_request(s, &pol, 3, 10 * S), MW_ESC_START);
	CHECK_EQ_INT(mw_esc_due(s, 30 * S, NULL, NULL, due, 4), 2);
	/* Three started within the hour: the storm stops here. */
	CHECK_EQ_INT(mw_esc_request(s, &pol, 4, 40 * S), MW_ESC_HOST_LIMIT);
	CHECK_EQ_INT(mw_esc_request(s, &pol, 4, 3600 * S), MW_ESC_START);
	free(s);
}

static bool gone_5(void *ctx, uint32_t pid)
{
	(void)ctx;
	return pid == 5;
}

TEST(escalate_ends_with_the_process)
{
	struct mw_esc_state *s = calloc(1, sizeof(*s));
	uint32_t due[4];

	CHECK_EQ_INT(mw_esc_request(s, &pol, 5, 0), MW_ESC_START);
	CHECK_EQ_INT(mw_esc_request(s, &pol, 6, 0), MW_ESC_START);
	CHECK_EQ_INT(mw_esc_due(s, 1 * S, gone_5, NULL, due, 4), 1);
	CHECK_EQ_INT(due[0], 5);
	CHECK(mw_esc_active(s, 6));
	CHECK_EQ_STR(mw_esc_verdict_name(MW_ESC_HOST_LIMIT), "host_limit");
	free(s);
}

/* Hundreds of processes: the oldest remembered start is forgotten first. */
TEST(escalate_remembers_bounded)
{
	struct mw_esc_policy p = pol;
	struct mw_esc_state *s = calloc(1, sizeof(*s));
	uint32_t due[4];

	p.max_per_window = MW_ESC_MAX_WINDOW;
	p.window_ns = 1;
	for (uint32_t pid = 1; pid <= MW_ESC_REMEMBERED + 1; pid++) {
		CHECK_EQ_INT(mw_esc_request(s, &p, pid, pid * S), MW_ESC_START);
		CHECK_EQ_INT(mw_esc_due(s, pid * S + p.dur_ns, NULL, NULL, due, 4), 1);
	}
	CHECK_EQ_INT(s->nlast, MW_ESC_REMEMBERED);
	/* pid 1 was evicted: it may start again; pid 2 may not. */
	CHECK_EQ_INT(mw_esc_request(s, &p, 2, 300 * S), MW_ESC_PROC_LIMIT);
	CHECK_EQ_INT(mw_esc_request(s, &p, 1, 300 * S), MW_ESC_START);
	free(s);
}
