// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Triggers: specifications, and their evaluation on recorded numbers. */
#include <stdlib.h>
#include <string.h>
#include "trigger/trigger.h"
#include "unit.h"

#define S 1000000000ULL
#define M (1ULL << 20)

static struct mw_trigger parse_ok(const char *spec)
{
	struct mw_trigger t;
	char err[256] = "";

	CHECK_EQ_INT(mw_trigger_parse(spec, &t, err, sizeof(err)), 0);
	CHECK_EQ_STR(err, "");
	return t;
}

TEST(trigger_parse_forms)
{
	struct mw_trigger t = parse_ok("mapped+512M/10m");

	CHECK_EQ_INT(t.kind, MW_TRIG_GROWTH);
	CHECK_EQ_INT(t.metric, MW_TM_MAPPED);
	CHECK_EQ_INT(t.bytes, 512 * M);
	CHECK_EQ_INT(t.window_ns, 600 * S);
	CHECK_EQ_STR(t.spec, "mapped+512M/10m");
	t = parse_ok("committed+64K/500ms");
	CHECK_EQ_INT(t.metric, MW_TM_COMMITTED);
	CHECK_EQ_INT(t.bytes, 64 << 10);
	CHECK_EQ_INT(t.window_ns, S / 2);
	t = parse_ok("resident+1G/2h");
	CHECK_EQ_INT(t.metric, MW_TM_RESIDENT);
	CHECK_EQ_INT(t.window_ns, 7200 * S);
	CHECK_EQ_INT(parse_ok("mapped+1M/30").window_ns, 30 * S);
	t = parse_ok("committed>=2G");
	CHECK_EQ_INT(t.kind, MW_TRIG_LEVEL);
	CHECK_EQ_INT(t.bytes, 2048 * M);
	CHECK_EQ_INT(parse_ok("mapped>100M").bytes, 100 * M);
	t = parse_ok("arenas>=limit");
	CHECK_EQ_INT(t.kind, MW_TRIG_ARENAS);
	CHECK_EQ_INT(t.n, 0);
	CHECK_EQ_INT(parse_ok("arenas>=8").n, 8);
	t = parse_ok("cgroup>90%");
	CHECK_EQ_INT(t.kind, MW_TRIG_CGROUP);
	CHECK(t.pct == 90);
	t = parse_ok("diagnosis");
	CHECK_EQ_INT(t.kind, MW_TRIG_DIAGNOSIS);
	CHECK_EQ_STR(t.diag, "");
	CHECK_EQ_STR(parse_ok("diagnosis=arenas_at_limit").diag, "arenas_at_limit");
}

TEST(trigger_parse_rejects)
{
	static const char *const bad[] = {
		"",
		"mapped",
		"mapped+",
		"mapped+512M",
		"mapped+512M/",
		"mapped+0/10s",
		"mapped+12X/10s",
		"mapped+1M/10x",
		"mapped+1M/-1",
		"mapped>=",
		"mapped>=0",
		"rss+1M/1s",
		"arenas>=",
		"arenas>=0",
		"arenas>=lim",
		"cgroup>=90",
		"cgroup>=0%",
		"cgroup>=101%",
		"diagnosis=",
		"mapped+1M/0s",
	};
	struct mw_trigger t;
	char err[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		CHECK_EQ_INT(mw_trigger_parse(bad[i], &t, err, sizeof(err)), -1);
		CHECK(!strncmp(err, "--trigger: ", 11));
	}
}

static struct mw_trig_sample at(uint64_t sec, uint64_t mapped)
{
	struct mw_trig_sample s = { .ts_ns = sec * S, .narenas = -1 };

	s.v[MW_TM_MAPPED] = mapped;
	s.have[MW_TM_MAPPED] = true;
	return s;
}

static size_t eval_at(const struct mw_trigger *t, struct mw_trig_proc *p, uint64_t sec,
		      uint64_t mapped, struct mw_trig_fire *f, size_t max)
{
	struct mw_trig_sample s = at(sec, mapped);

	return mw_trig_eval(t, 1, p, &s, f, max);
}

/* A process idle at 100 MB, then growing 10 MB a second: mapped+64M/10s. */
TEST(trigger_growth_fires_once_per_size)
{
	struct mw_trigger t = parse_ok("mapped+64M/10s");
	struct mw_trig_proc *p = calloc(1, sizeof(*p));
	struct mw_trig_fire f[2];
	int fires = 0, first = -1;

	for (uint64_t sec = 0; sec < 30; sec++)
		CHECK_EQ_INT(eval_at(&t, p, sec, 100 * M, f, 2), 0);
	for (uint64_t sec = 30; sec < 50; sec++) {
		size_t n = eval_at(&t, p, sec, 100 * M + (sec - 29) * 10 * M, f, 2);

		if (n && first < 0) {
			first = (int)sec;
			CHECK_EQ_INT(f[0].from, 100 * M);
			CHECK_EQ_INT(f[0].value, 170 * M);
		}
		fires += (int)n;
	}
	/* 70 MB past the idle level at 36 s; then each further 64 MB: 43 s (140 MB more) fires
	 * no earlier than 70 MB later. */
	CHECK_EQ_INT(first, 36);
	CHECK_EQ_INT(fires, 2);
	free(p);
}

/* Growth slower than the window: 5 MB a second against +64M/10s never fires. */
TEST(trigger_growth_window_bounds)
{
	struct mw_trigger t = parse_ok("mapped+64M/10s");
	struct mw_trig_proc *p = calloc(1, sizeof(*p));
	struct mw_trig_fire f;
	size_t n = 0;

	for (uint64_t sec = 0; sec < 120; sec++)
		n += eval_at(&t, p, sec, 5 * M * sec, &f, 1);
	CHECK_EQ_INT(n, 0);
	/* A jump of 64 MB fires at once. */
	CHECK_EQ_INT(eval_at(&t, p, 120, 5 * M * 119 + 64 * M, &f, 1), 1);
	free(p);
}

/* An unknown value never fires, and growth across the gap is not counted. */
TEST(trigger_unknown_never_fires)
{
	struct mw_trigger t[2] = { parse_ok("resident+1M/10s"), parse_ok("cgroup>=50%") };
	struct mw_trig_proc *p = calloc(1, sizeof(*p));
	struct mw_trig_sample s = at(1, 10 * M);
	struct mw_trig_fire f[2];

	CHECK_EQ_INT(mw_trig_eval(t, 2, p, &s, f, 2), 0);
	s = at(2, 100 * M);
	CHECK_EQ_INT(mw_trig_eval(t, 2, p, &s, f, 2), 0);
	s.have[MW_TM_RESIDENT] = true;
	s.v[MW_TM_RESIDENT] = 5 * M;
	CHECK_EQ_INT(mw_trig_eval(t, 2, p, &s, f, 2), 0);
	free(p);
}

/* Levels fire when crossed, again only after being left. */
TEST(trigger_levels_edge)
{
	struct mw_trigger t[4] = { parse_ok("mapped>=1G"), parse_ok("arenas>=limit"),
				   parse_ok("cgroup>=90%"), parse_ok("diagnosis=arenas_at_limit") };
	static const char *const none[] = { "main_heap_not_trimmed" };
	static const char *const lim[] = { "main_heap_not_trimmed", "arenas_at_limit" };
	struct mw_trig_proc *p = calloc(1, sizeof(*p));
	struct mw_trig_sample s = at(1, 512 * M);
	struct mw_trig_fire f[4];

	s.narenas = 6;
	s.arena_limit = 8;
	s.cg_limit = 100 * M;
	s.cg_usage = 89 * M;
	s.diags = none;
	s.ndiags = 1;
	CHECK_EQ_INT(mw_trig_eval(t, 4, p, &s, f, 4), 0);
	s.v[MW_TM_MAPPED] = 1024 * M;
	s.narenas = 7; /* 7 + main = glibc's limit of 8 */
	s.cg_usage = 90 * M;
	s.diags = lim;
	s.ndiags = 2;
	CHECK_EQ_INT(mw_trig_eval(t, 4, p, &s, f, 4), 4);
	CHECK_EQ_INT(f[1].value, 7);
	CHECK_EQ_INT(f[1].from, 7);
	CHECK_EQ_INT(f[2].value, 90 * M);
	CHECK_EQ_INT(f[2].from, 100 * M);
	CHECK_EQ_INT(mw_trig_eval(t, 4, p, &s, f, 4), 0); /* still past: no repeat */
	s.v[MW_TM_MAPPED] = 1000 * M;
	CHECK_EQ_INT(mw_trig_eval(t, 4, p, &s, f, 4), 0);
	s.v[MW_TM_MAPPED] = 1100 * M;
	CHECK_EQ_INT(mw_trig_eval(t, 4, p, &s, f, 4), 1);
	CHECK_EQ_INT(f[0].trigger, 0);
	/* The limit unknown: arenas>=limit cannot fire; no cgroup limit: neither can cgroup. */
	mw_trig_reset(p);
	s.arena_limit = 0;
	s.cg_limit = 0;
	s.ndiags = 0;
	s.v[MW_TM_MAPPED] = 0;
	CHECK_EQ_INT(mw_trig_eval(t, 4, p, &s, f, 4), 0);
	free(p);
}
