// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The allocator-probe options. */
#include "cli.h"
#include "cli_malloc.h"
#include "cli_args.h"
#include "unit.h"

TEST(cli_malloc_defaults_and_values)
{
	struct mw_config c;
	char err[256];

	CHECK_EQ_INT(ut_parse(&c, err, "-p", "5", NULL), 0);
	CHECK(!c.mal.on);
	CHECK_EQ_INT(ut_parse(&c, err, "--malloc", "-p", "5", NULL), 0);
	CHECK(c.mal.on);
	CHECK_EQ_INT(c.mal.stack_bytes, MW_DEFAULT_STACK_BYTES);
	CHECK_EQ_INT(c.mal.max_outstanding, MW_DEFAULT_OUTSTANDING);
	CHECK_EQ_INT(ut_parse(&c, err, "--malloc", "--min-age", "2.5", "--folded", "f.txt",
			      "--sample-bytes", "512K", "--duty", "1,10", "--max-probe-rate",
			      "100000", "--stack-bytes", "0", "--max-outstanding", "1M", "--",
			      "cmd", NULL),
		     0);
	CHECK(c.mal.min_age_s == 2.5);
	CHECK_EQ_STR(c.mal.folded_path, "f.txt");
	CHECK_EQ_INT(c.mal.sample_bytes, 512 * 1024);
	CHECK(c.mal.duty_on_s == 1 && c.mal.duty_period_s == 10);
	CHECK_EQ_INT(c.mal.max_probe_rate, 100000);
	CHECK_EQ_INT(c.mal.stack_bytes, 0);
	CHECK_EQ_INT(c.mal.max_outstanding, 1 << 20);
	CHECK(c.cmd != NULL); /* argv itself was parse()'s local */
	CHECK_EQ_INT(ut_parse(&c, err, "--malloc", "--sample", "10", "-p", "5", NULL), 0);
	CHECK_EQ_INT(c.mal.sample_every, 10);
}

TEST(cli_malloc_max_overhead)
{
	struct mw_config c;
	char err[256];

	/* A running process (-p, --comm, --cgroup, the daemon) gets a budget by default... */
	CHECK_EQ_INT(ut_parse(&c, err, "--malloc", "-p", "5", NULL), 0);
	CHECK(c.mal.max_overhead_pct == MW_DEFAULT_MAX_OVERHEAD_PCT);
	CHECK_EQ_INT(ut_parse(&c, err, "--malloc", "--comm", "^x$", NULL), 0);
	CHECK(c.mal.max_overhead_pct == MW_DEFAULT_MAX_OVERHEAD_PCT);
	/* ...a launched command none, unless asked. */
	CHECK_EQ_INT(ut_parse(&c, err, "--malloc", "--", "cmd", NULL), 0);
	CHECK(c.mal.max_overhead_pct == 0);
	CHECK_EQ_INT(ut_parse(&c, err, "--malloc", "--max-overhead", "2.5", "--", "cmd", NULL), 0);
	CHECK(c.mal.max_overhead_pct == 2.5);
	CHECK_EQ_INT(ut_parse(&c, err, "--malloc", "--max-overhead", "0", "-p", "5", NULL), 0);
	CHECK(c.mal.max_overhead_pct == 0);
	CHECK_EQ_INT(ut_parse(&c, err, "--malloc", "--max-overhead", "10%", "-p", "5", NULL), 0);
	CHECK(c.mal.max_overhead_pct == 10);
	CHECK_EQ_INT(ut_parse(&c, err, "--malloc", "--max-overhead", "x", "-p", "5", NULL), -1);
	CHECK(strstr(err, "percentage") != NULL);
	CHECK_EQ_INT(ut_parse(&c, err, "--malloc", "--max-overhead", "-1", "-p", "5", NULL), -1);
	CHECK_EQ_INT(ut_parse(&c, err, "--malloc", "--max-overhead", "1001", "-p", "5", NULL), -1);
	CHECK_EQ_INT(ut_parse(&c, err, "--malloc", "--max-overhead", "nan", "-p", "5", NULL), -1);
	CHECK_EQ_INT(ut_parse(&c, err, "--max-overhead", "5", "-p", "5", NULL), -1);
	CHECK(strstr(err, "need --malloc") != NULL);
	CHECK_EQ_INT(ut_parse(&c, err, "--max-overhead", "5", "--replay", "x.rec", NULL), -1);
}

TEST(cli_malloc_errors)
{
	struct mw_config c;
	char err[256];

	CHECK_EQ_INT(ut_parse(&c, err, "--min-age", "1", "-p", "5", NULL), -1);
	CHECK(strstr(err, "need --malloc") != NULL);
	CHECK_EQ_INT(ut_parse(&c, err, "--malloc", "--sample", "2", "--sample-bytes", "4", "-p",
			      "5", NULL),
		     -1);
	CHECK(strstr(err, "not both") != NULL);
	CHECK_EQ_INT(ut_parse(&c, err, "--malloc", "--sample", "0", "-p", "5", NULL), -1);
	CHECK_EQ_INT(ut_parse(&c, err, "--malloc", "--sample", "x", "-p", "5", NULL), -1);
	CHECK_EQ_INT(ut_parse(&c, err, "--malloc", "--duty", "5", "-p", "5", NULL), -1);
	CHECK(strstr(err, "ON,PERIOD") != NULL);
	CHECK_EQ_INT(ut_parse(&c, err, "--malloc", "--duty", "5,1", "-p", "5", NULL), -1);
	CHECK_EQ_INT(ut_parse(&c, err, "--malloc", "--duty", "0,1", "-p", "5", NULL), -1);
	CHECK_EQ_INT(ut_parse(&c, err, "--malloc", "--min-age", "-1", "-p", "5", NULL), -1);
	CHECK_EQ_INT(ut_parse(&c, err, "--malloc", "--stack-bytes", "16385", "-p", "5", NULL), -1);
	CHECK(strstr(err, "out of range") != NULL);
	CHECK_EQ_INT(ut_parse(&c, err, "--malloc", "--max-outstanding", "0", "-p", "5", NULL), -1);
	CHECK_EQ_INT(ut_parse(&c, err, "--malloc", "--folded", "", "-p", "5", NULL), -1);
	/* A replay takes the recorded run's probe settings; only its reports can be asked for. */
	CHECK_EQ_INT(ut_parse(&c, err, "--malloc", "--sample", "10", "--replay", "x.rec", NULL),
		     -1);
	CHECK(strstr(err, "recorded run") != NULL);
	CHECK_EQ_INT(
		ut_parse(&c, err, "--replay", "x.rec", "--folded", "f", "--min-age", "2", NULL), 0);
	CHECK_EQ_INT(ut_parse(&c, err, "--malloc", "--replay", "x.rec", NULL), 0);
}

/* --folded: --malloc's outstanding bytes, or --stacks' mapped bytes; alone it has none. */
TEST(cli_folded_with_stacks)
{
	struct mw_config c;
	char err[256];

	CHECK_EQ_INT(ut_parse(&c, err, "--stacks", "--folded", "f", "-p", "5", NULL), 0);
	CHECK_EQ_STR(c.mal.folded_path, "f");
	CHECK(!c.mal.on);
	CHECK_EQ_INT(ut_parse(&c, err, "--folded", "f", "-p", "5", NULL), -1);
	CHECK(strstr(err, "need --malloc") != NULL);
}
