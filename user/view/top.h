/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * memwatch top: the live session drawn on the terminal with ncurses, once a
 * second and at each key. The event loop calls mw_top_tick at every turn; the
 * numbers come from the session's model and the kernel's counters through
 * topdata.h, the same ones every other output shows.
 *
 * Keys: m c r g a s p sort (mapped, committed, resident, growth, arenas,
 * syscalls/s, pid); / filter; Up/Down select; Enter details of a process
 * (threads, arenas, classes, top stacks with --malloc); Esc or Left back; q quits.
 */
#ifndef MW_TOP_H
#define MW_TOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "malloc/mledger.h"
#include "session/session.h"

struct mw_top;

/* Take the terminal (stdin and stdout must be one). NULL with a reason in err. */
struct mw_top *mw_top_start(char *err, size_t errsz);
/* One turn: keys, and a redraw when due. ml: --malloc's ledger or NULL. True: q was pressed. */
bool mw_top_tick(struct mw_top *t, struct mw_session *s, const struct mw_mledger *ml,
		 uint64_t now_ns);
/* Give the terminal back as it was (failed: memwatch's last notice, the reason, is printed
 * again on it); NULL does nothing. */
void mw_top_stop(struct mw_top *t, bool failed);

#endif /* MW_TOP_H */
