/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Repeated warnings at most once a second: the ones held back in between are
 * counted and said with the next one that goes out ("... (N more)"). Pure:
 * the caller gives the time.
 */
#ifndef MW_RATELIMIT_H
#define MW_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

#define MW_RATELIMIT_NS 1000000000ULL

struct mw_ratelimit {
	uint64_t next_ns; /* when the next message may go out */
	uint64_t held;	  /* messages held back since the last one went out */
};

/* May a message go out at now_ns? If so, *held gets how many were held back before it. */
static inline bool mw_ratelimit_pass(struct mw_ratelimit *r, uint64_t now_ns, uint64_t *held)
{
	if (r->next_ns && now_ns < r->next_ns) {
		r->held++;
		return false;
	}
	*held = r->held;
	r->held = 0;
	r->next_ns = now_ns + MW_RATELIMIT_NS;
	return true;
}

#endif /* MW_RATELIMIT_H */
