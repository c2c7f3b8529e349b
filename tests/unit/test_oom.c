// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The OOM killer's victim: its record decoded, and its ledger written at once. */
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>
#include "base/options.h"
#include "session/session.h"
#include "wire/decode.h"
#include "events.h"
#include "unit.h"

TEST(decode_oom_record)
{
	static const struct mw_decode_ctx ctx = { .mono_to_epoch_ns = 1000, .page_size = 4096 };
	struct mw_task_rec r = {
		.hdr = { .type = MW_REC_OOM, .tgid = 7, .tid = 8, .ts_ns = 5, .comm = "victim" },
		.vm_pages = 3,
		.child_tgid = 9,
	};
	struct mw_event ev;

	CHECK_EQ_INT(mw_decode(&ctx, &r, sizeof(r), &ev), 0);
	CHECK_EQ_INT(ev.kind, MW_EV_OOM);
	CHECK_EQ_INT(ev.pid, 7);
	CHECK_EQ_INT(ev.tid, 8);
	CHECK_EQ_INT(ev.task.child_pid, 9);
	CHECK_EQ_INT(ev.task.vm_bytes, 3 * 4096);
	CHECK_EQ_STR(ev.comm, "victim");
	CHECK_EQ_INT(mw_decode(&ctx, &r, sizeof(r) - 1, &ev), -EINVAL);
}

static void mmap_by(struct mw_session *s, uint32_t tid, uint64_t ts, uint64_t addr, uint64_t len)
{
	struct mw_event ev = ut_syscall(7, tid, ts, MW_SYS_MMAP, (int64_t)addr, 0, len,
					PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1);

	CHECK_EQ_INT(mw_session_event(s, &ev, NULL, 0), 0);
}

TEST(oom_names_the_biggest_thread_and_growth)
{
	struct mw_config cfg = { .json = true, .summary_only = true };
	struct mw_event oom = {
		.kind = MW_EV_OOM, .ts_ns = 900, .mono_ns = 900, .pid = 7, .tid = 7, .comm = "victim"
	};
	struct mw_session s;
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);

	mw_session_init(&s, &cfg, out, 4096, 0);
	CHECK_EQ_INT(mw_session_seed(&s, 7, "", 0, 0, 0, 10, false), 0);
	mmap_by(&s, 7, 100, 0x10000000, 1 << 20);
	mmap_by(&s, 8, 200, 0x20000000, 2 << 20);
	mmap_by(&s, 8, 300, 0x30000000, 1 << 20);
	oom.task.child_pid = 9;
	CHECK_EQ_INT(mw_session_event(&s, &oom, NULL, 0), 0);
	CHECK_EQ_INT(s.oom_kills, 1);
	fflush(out);
	CHECK(strstr(buf, "{\"type\":\"oom\",\"ts_ns\":900,\"pid\":7,\"tid\":7,") == buf);
	CHECK(strstr(buf, "\"oom_pid\":9,\"mapped\":4194304,\"committed\":4194304,"
			  "\"growth\":{\"since_ns\":10,\"mapped\":4194304,\"committed\":4194304}"));
	CHECK(strstr(buf, "\"top_thread\":{\"tid\":8,\"comm\":\"t8\",\"bytes\":3145728}"));
	CHECK(strstr(buf, "\"top_class\":\"anon\""));
	mw_session_free(&s);
	fclose(out);
	free(buf);
}
