// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* memwatch report's reader and model: bad input named by line; values into buckets. */
#include <stdlib.h>
#include <string.h>
#include "report/data.h"
#include "report/ndjson.h"
#include "unit.h"

static int add(void *ctx, struct json_object *o, const char *type)
{
	return mw_rep_add(ctx, o, type);
}

static int walk(struct mw_rep *r, const char *text, char *err, size_t errsz)
{
	return mw_ndjson_walk(text, strlen(text), add, r, err, errsz);
}

TEST(report_bad_input_named_by_line)
{
	struct mw_rep r;
	char err[128];

	mw_rep_init(&r);
	CHECK_EQ_INT(walk(&r, "{\"type\":\"note\",\"ts_ns\":1}\n{\"type\":\"sysc", err,
			  sizeof(err)),
		     -1);
	CHECK_EQ_STR(err, "line 2 is cut short: a truncated file");
	CHECK_EQ_INT(walk(&r, "{\"a\":1}\n", err, sizeof(err)), -1);
	CHECK_EQ_STR(err, "line 1 is not memwatch NDJSON (an object with a \"type\")");
	CHECK_EQ_INT(walk(&r, "\n[1,2]\n", err, sizeof(err)), -1);
	CHECK(strstr(err, "line 2 is not memwatch") != NULL);
	CHECK_EQ_INT(walk(&r, "{\"type\":1} x\n", err, sizeof(err)), -1);
	CHECK_EQ_STR(err, "line 1 is not JSON");
	CHECK_EQ_INT(walk(&r, "\n\n", err, sizeof(err)), -1);
	CHECK(strstr(err, "empty") != NULL);
	mw_rep_free(&r);
}

/* The size before the first summary is that summary's less the calls before it; the calls
 * then add up to the next summary, which sets the value again. */
TEST(report_model_buckets)
{
	static const char run[] =
		"{\"type\":\"syscall\",\"ts_ns\":1000,\"pid\":7,\"tid\":8,\"comm\":\"w\","
		"\"vm_delta\":4096}\n"
		"{\"type\":\"syscall\",\"ts_ns\":2000,\"pid\":7,\"tid\":8,\"comm\":\"w\","
		"\"vm_delta\":8192}\n"
		"{\"type\":\"arena_create\",\"ts_ns\":2000,\"pid\":7,\"tid\":8,\"arena\":1}\n"
		"{\"type\":\"thread_summary\",\"ts_ns\":3000,\"pid\":7,\"tid\":8,\"comm\":\"w\","
		"\"net\":12288,\"by_class\":{\"arena_heap\":12288}}\n"
		"{\"type\":\"process_summary\",\"ts_ns\":3000,\"pid\":7,\"comm\":\"app\","
		"\"mapped\":100000,\"committed\":50000}\n"
		"{\"type\":\"leak\",\"ts_ns\":3000,\"pid\":7,\"bytes\":300,\"stack\":"
		"[{\"func\":\"f\",\"file\":\"a.c\",\"line\":3},{\"func\":\"main\"}]}\n"
		"{\"type\":\"leak\",\"ts_ns\":3000,\"pid\":7,\"bytes\":100,\"stack\":"
		"[{\"func\":\"g\"},{\"func\":\"main\"}]}\n";
	struct mw_rep r;
	struct mw_rep_proc *p;
	char err[128];
	size_t last = MW_REP_BUCKETS - 1, n, *idx;

	mw_rep_init(&r);
	CHECK_EQ_INT(walk(&r, run, err, sizeof(err)), 0);
	CHECK_EQ_INT(r.nprocs, 1);
	CHECK_EQ_INT(r.t0, 1000);
	CHECK_EQ_INT(r.t1, 3000);
	CHECK_EQ_INT(mw_rep_begin_pass2(&r), 0);
	CHECK_EQ_INT(walk(&r, run, err, sizeof(err)), 0);
	p = &r.procs[0];
	CHECK_EQ_STR(p->comm, "app");
	CHECK(p->mapped.set[0] && p->mapped.v[0] == 100000 - 8192);
	CHECK(p->mapped.set[last] && p->mapped.v[last] == 100000);
	CHECK(p->committed.set[last] && p->committed.v[last] == 50000 && !p->have_resident);
	CHECK_EQ_INT(p->naev, 1);
	/* The leaks as a tree: main (400) over f (300) and g (100). */
	CHECK_EQ_INT(p->stacks[MW_REP_LEAKS].n, 4);
	CHECK(p->stacks[MW_REP_LEAKS].v[0].value == 400);
	CHECK_EQ_STR(p->stacks[MW_REP_LEAKS].v[1].name, "main");
	CHECK(p->stacks[MW_REP_LEAKS].v[1].value == 400);
	CHECK_EQ_STR(p->stacks[MW_REP_LEAKS].v[2].where, "a.c:3");
	idx = mw_rep_threads_of(&r, 7, &n);
	CHECK(idx && n == 1);
	CHECK_EQ_STR(r.threads[idx[0]].comm, "w");
	CHECK_EQ_INT(r.threads[idx[0]].peak, 12288);
	CHECK_EQ_INT(r.threads[idx[0]].arenas_created, 1);
	free(idx);
	mw_rep_free(&r);
}
