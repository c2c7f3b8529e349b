// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* NDJSON leak objects: the top stacks by bytes and by count, each once. */
#include <stdlib.h>
#include "malloc/leak.h"
#include "malloc/leak_output.h"
#include "unit.h"

TEST(leak_output_top_by_bytes_and_count)
{
	struct mw_output o = { .json = true };
	struct mw_leak_row *rows, *by_count;
	struct mw_leak l;
	char *buf = NULL;
	size_t len = 0, lines = 0;
	long n;

	CHECK_EQ_INT(mw_leak_init(&l, 20000, 200), 0);
	/* Stack i: i blocks of 3000000 / i^2 bytes: bytes fall with i, counts rise. */
	for (uint64_t i = 1; i <= 150; i++) {
		uint64_t ip = 0x400000 + i;
		bool fresh;
		uint32_t s = mw_leak_stack(&l, 7, &ip, 1, &fresh);

		for (uint64_t k = 0; k < i; k++) {
			struct mw_block b = { .addr = (i << 20) + (k << 4),
					      .size = 3000000 / (i * i),
					      .ts_ns = 1,
					      .pid = 7,
					      .stack = s,
					      .weight = 1 };

			mw_leak_alloc(&l, &b);
		}
	}
	n = mw_leak_aggregate(&l, 7, UINT64_MAX, false, &rows);
	CHECK_EQ_INT(n, 150);
	by_count = malloc(sizeof(*by_count) * (size_t)n);
	memcpy(by_count, rows, sizeof(*rows) * (size_t)n);
	mw_leak_aggregate_sort(by_count, (size_t)n, true);
	o.f = open_memstream(&buf, &len);
	mw_out_leaks(&o, 1, &l, rows, by_count, (size_t)n, 0, 10, false, false);
	fclose(o.f);
	/* 1..100 by bytes, 51..150 by count: 150 objects, none twice. */
	for (char *p = buf; (p = strchr(p, '\n')); p++)
		lines++;
	CHECK_EQ_INT(lines, 150);
	CHECK(strstr(buf, "\"addr\":\"0x400001\"") && strstr(buf, "\"addr\":\"0x400096\""));
	CHECK(!strstr(strstr(buf, "\"addr\":\"0x400033\"") + 1, "\"addr\":\"0x400033\""));
	free(buf);
	free(rows);
	free(by_count);
	mw_leak_destroy(&l);
}
