/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Typed events for unit tests, as the decoder makes them from ring records. */
#ifndef MW_TEST_EVENTS_H
#define MW_TEST_EVENTS_H

#include <stdio.h>
#include "wire/event.h"

/* A completed syscall of thread tid at time ts (both clocks), named "t<tid>". */
static inline struct mw_event ut_syscall(uint32_t pid, uint32_t tid, uint64_t ts, enum mw_sys sys,
					 int64_t ret, uint64_t a0, uint64_t a1, uint64_t a2,
					 uint64_t a3, uint64_t a4)
{
	struct mw_event ev = {
		.kind = MW_EV_SYSCALL,
		.mono_ns = ts,
		.ts_ns = ts,
		.pid = pid,
		.tid = tid,
	};

	snprintf(ev.comm, sizeof(ev.comm), "t%u", tid);
	ev.sc.sys = sys;
	ev.sc.ret = ret;
	ev.sc.args[0] = a0;
	ev.sc.args[1] = a1;
	ev.sc.args[2] = a2;
	ev.sc.args[3] = a3;
	ev.sc.args[4] = a4;
	return ev;
}

#endif /* MW_TEST_EVENTS_H */
