// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Event streams a crafted recording (or a confused kernel side) could feed the session: the
 * region model, the pending-unmap claims, forks of pids the model has, the allocator
 * analysis and both outputs, with arbitrary addresses, lengths and return values. Faster
 * than fuzz_record, which spends its time in the recording format. Each input is a list of
 * 42-byte events: [0] what, [1] which pid and thread, [2..9] ret, then four arguments.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "base/options.h"
#include "session/session.h"

#define REC 42

static const char maps[] =
	"555555554000-555555556000 r--p 00000000 fe:01 1 /usr/bin/srv\n"
	"55555555a000-55555557b000 rw-p 00000000 00:00 0 [heap]\n"
	"7f0030000000-7f0034021000 rw-p 00000000 00:00 0 \n"
	"7f0034021000-7f0038000000 ---p 00000000 00:00 0 \n"
	"7ffff7d80000-7ffff7da6000 r-xp 00000000 fe:01 2 /usr/lib/x86_64-linux-gnu/libc.so.6\n"
	"7ffffffde000-7ffffffff000 rw-p 00000000 00:00 0 [stack]\n";

static uint64_t u64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *null;
	struct mw_config cfg = { .maps_at_exit = true, .max_threads = 4 };
	struct mw_session s;
	uint64_t ts = 1000;

	if (!null)
		null = fopen("/dev/null", "w");
	if (!null || size < 1)
		return 0;
	cfg.json = data[0] & 1;
	cfg.show_dur = data[0] & 2;
	mw_session_init(&s, &cfg, null, 4096, 0);
	s.retire_threads = data[0] & 4;
	mw_session_seed(&s, 1, maps, 0x55555555a000ULL, 0x10000000, 0x21000, 500, false);
	for (size_t off = 1; off + REC <= size; off += REC) {
		const uint8_t *r = data + off;
		struct mw_event ev = { .mono_ns = ts, .ts_ns = ts };
		uint32_t what = r[0] % 16;

		ts += 1000;
		ev.pid = 1 + (r[1] >> 4) % 3;
		ev.tid = ev.pid + (r[1] & 3);
		snprintf(ev.comm, sizeof(ev.comm), "t%u", ev.tid);
		if (what < 10) {
			ev.kind = MW_EV_SYSCALL;
			ev.sc.sys = (enum mw_sys)(what % MW_SYS_COUNT);
			ev.sc.ret = (int64_t)u64(r + 2);
			for (int i = 0; i < 4; i++)
				ev.sc.args[i] = u64(r + 10 + 8 * i);
			ev.sc.dur_ns = r[41];
		} else {
			static const enum mw_event_kind kinds[] = {
				MW_EV_FORK,	  MW_EV_EXIT,	MW_EV_EXEC,
				MW_EV_THREAD_NEW, MW_EV_RENAME, MW_EV_EXIT_GROUP,
			};

			ev.kind = kinds[what - 10];
			ev.task.child_pid = 1 + r[2] % 4;
			ev.task.child_tid = ev.task.child_pid + (r[3] & 3);
			memcpy(ev.task.child_comm, r + 10, MW_COMM_LEN - 1);
			ev.task.group_dead = r[4] & 1;
			ev.task.exit_code = (int32_t)r[5];
			ev.task.vm_bytes = u64(r + 26);
			ev.task.stack_bytes = u64(r + 34);
		}
		if (mw_session_event(&s, &ev, NULL, 0))
			break;
		if (!mw_model_find(&s.model, 1) && !(r[41] & 1))
			mw_session_seed(&s, 1, maps, 0, 0, 0, ts, false);
	}
	mw_session_report_all(&s, ts, true);
	mw_session_free(&s);
	return 0;
}
