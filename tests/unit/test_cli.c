// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Command-line parsing. */
#include "base/size.h"
#include "cli.h"
#include "cli_args.h"
#include "unit.h"

TEST(cli_pids_list_and_repeat)
{
	struct mw_config c;
	char err[256];

	CHECK_EQ_INT(ut_parse(&c, err, "-p", "12,34", "-p", "56", NULL), 0);
	CHECK_EQ_INT(c.npids, 3);
	CHECK_EQ_INT(c.pids[0], 12);
	CHECK_EQ_INT(c.pids[2], 56);
	CHECK(c.cmd == NULL);
}

TEST(cli_bad_pids)
{
	struct mw_config c;
	char err[256];

	CHECK_EQ_INT(ut_parse(&c, err, "-p", "abc", NULL), -1);
	CHECK(strstr(err, "not a process id") != NULL);
	CHECK_EQ_INT(ut_parse(&c, err, "-p", "0", NULL), -1);
	CHECK_EQ_INT(ut_parse(&c, err, "-p", "-5", NULL), -1);
	CHECK_EQ_INT(ut_parse(&c, err, "-p", "12,", NULL), -1);
	CHECK_EQ_INT(ut_parse(&c, err, "-p", "12,12", NULL), -1);
	CHECK(strstr(err, "twice") != NULL);
	CHECK_EQ_INT(ut_parse(&c, err, "-p", "99999999999", NULL), -1);
	CHECK_EQ_INT(ut_parse(&c, err, "-p", NULL), -1);
	CHECK(strstr(err, "needs a value") != NULL);
}

TEST(cli_command_keeps_its_own_flags)
{
	struct mw_config c;
	char err[256];

	CHECK_EQ_INT(ut_parse(&c, err, "-f", "--json", "--", "ls", "-l", "-p", NULL), 0);
	CHECK(c.follow && c.json);
	CHECK_EQ_STR(c.cmd[0], "ls");
	CHECK_EQ_STR(c.cmd[1], "-l");
	CHECK_EQ_STR(c.cmd[2], "-p");
	CHECK(c.cmd[3] == NULL);
	CHECK_EQ_INT(ut_parse(&c, err, "-c", "true", NULL), 0);
	CHECK_EQ_STR(c.cmd[0], "true");
}

TEST(cli_exclusive_and_missing_targets)
{
	struct mw_config c;
	char err[256];

	CHECK_EQ_INT(ut_parse(&c, err, "-p", "1", "--", "ls", NULL), -1);
	CHECK(strstr(err, "not both") != NULL);
	CHECK_EQ_INT(ut_parse(&c, err, "-c", NULL), -1);
	CHECK(strstr(err, "nothing to trace") != NULL);
	CHECK_EQ_INT(ut_parse(&c, err, "--bogus", "-p", "1", NULL), -1);
	CHECK(strstr(err, "unknown option") != NULL);
	CHECK_EQ_INT(ut_parse(&c, err, "-Z", "-p", "1", NULL), -1);
	CHECK(strstr(err, "-Z") != NULL);
}

TEST(cli_seconds_and_sizes)
{
	struct mw_config c;
	char err[256];

	CHECK_EQ_INT(ut_parse(&c, err, "-i", "0.5", "-d", "3", "-p", "1", NULL), 0);
	CHECK(c.interval_s == 0.5 && c.duration_s == 3);
	CHECK_EQ_INT(ut_parse(&c, err, "-i", "0", "-p", "1", NULL), -1);
	CHECK_EQ_INT(ut_parse(&c, err, "-d", "-1", "-p", "1", NULL), -1);
	CHECK_EQ_INT(ut_parse(&c, err, "-d", "nan", "-p", "1", NULL), -1);
	CHECK_EQ_INT(ut_parse(&c, err, "-d", "2s", "-p", "1", NULL), -1);
	CHECK_EQ_INT(ut_parse(&c, err, "--ring-size", "64K", "-p", "1", NULL), 0);
	CHECK_EQ_INT(c.ring_size, 65536);
	CHECK_EQ_INT(ut_parse(&c, err, "--ring-size", "5000", "-p", "1", NULL), -1);
	CHECK_EQ_INT(ut_parse(&c, err, "--ring-size", "2048", "-p", "1", NULL), -1);
	CHECK_EQ_INT(ut_parse(&c, err, "-p", "1", NULL), 0);
	CHECK_EQ_INT(c.ring_size, 4 << 20);
	/* Records with stacks: a larger ring, unless one was asked for. */
	CHECK_EQ_INT(ut_parse(&c, err, "--stacks", "-p", "1", NULL), 0);
	CHECK_EQ_INT(c.ring_size, 16 << 20);
	/* -c: most records without a copy, read fast (no stream): a ring that stays cached. */
	CHECK_EQ_INT(ut_parse(&c, err, "--stacks", "-c", "-p", "1", NULL), 0);
	CHECK_EQ_INT(c.ring_size, 8 << 20);
	CHECK_EQ_INT(ut_parse(&c, err, "--stacks", "-c", "--record", "x", "-p", "1", NULL), 0);
	CHECK_EQ_INT(c.ring_size, 16 << 20);
	CHECK_EQ_INT(ut_parse(&c, err, "--fault-stacks", "-p", "1", NULL), 0);
	CHECK_EQ_INT(c.ring_size, 16 << 20);
	CHECK_EQ_INT(ut_parse(&c, err, "--stacks", "--fault-stacks", "-p", "1", NULL), 0);
	CHECK_EQ_INT(c.ring_size, 16 << 20);
	CHECK_EQ_INT(ut_parse(&c, err, "--stacks", "--ring-size", "64K", "-p", "1", NULL), 0);
	CHECK_EQ_INT(c.ring_size, 65536);
}

/* rss_delta is off unless asked for, and only that asks for it. */
TEST(cli_rss_delta)
{
	struct mw_config c;
	char err[256];

	CHECK_EQ_INT(ut_parse(&c, err, "--stacks", "-p", "1", NULL), 0);
	CHECK(!c.rss_delta);
	CHECK_EQ_INT(ut_parse(&c, err, "--rss-delta", "-p", "1", NULL), 0);
	CHECK(c.rss_delta && !c.no_faults);
}

TEST(cli_help_and_version)
{
	struct mw_config c;
	char err[256];

	CHECK_EQ_INT(ut_parse(&c, err, "-h", NULL), 0);
	CHECK(c.help);
	CHECK_EQ_INT(ut_parse(&c, err, "--version", NULL), 0);
	CHECK(c.version);
}

TEST(cli_sizes_one_parser)
{
	uint64_t v = 0;

	CHECK_EQ_INT(mw_parse_size("4096", "KM", &v), 0);
	CHECK_EQ_INT(v, 4096);
	CHECK_EQ_INT(mw_parse_size("64k", "KM", &v), 0);
	CHECK_EQ_INT(v, 64 << 10);
	CHECK_EQ_INT(mw_parse_size("2G", "KMG", &v), 0);
	CHECK(v == 2ULL << 30);
	CHECK_EQ_INT(mw_parse_size("2G", "KM", &v), -1); /* a suffix this option does not take */
	CHECK_EQ_INT(mw_parse_size("5 ", "KMG", &v), -1);
	CHECK_EQ_INT(mw_parse_size("1KB", "KMG", &v), -1);
	CHECK_EQ_INT(mw_parse_size("-1", "KMG", &v), -1);
	CHECK_EQ_INT(mw_parse_size("", "KMG", &v), -1);
	/* (2^44 + 1) M wraps to 1M in 64 bits: refused, not taken for a valid ring size. */
	CHECK_EQ_INT(mw_parse_size("17592186044417M", "KM", &v), -1);
	CHECK_EQ_INT(mw_parse_size("99999999999999999999", "", &v), -1);
}
