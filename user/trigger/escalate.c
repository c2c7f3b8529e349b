// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Escalation's rate limits. See escalate.h. */
#include <string.h>
#include "escalate.h"

const char *mw_esc_verdict_name(enum mw_esc_verdict v)
{
	switch (v) {
	case MW_ESC_START: return "start";
	case MW_ESC_ACTIVE: return "active";
	case MW_ESC_PROC_LIMIT: return "process_limit";
	case MW_ESC_HOST_BUSY: return "host_busy";
	case MW_ESC_HOST_LIMIT: return "host_limit";
	}
	return "?";
}

bool mw_esc_active(const struct mw_esc_state *s, uint32_t pid)
{
	for (size_t i = 0; i < s->nactive; i++)
		if (s->active[i].pid == pid)
			return true;
	return false;
}

/* Starts within the window ending at now. */
static size_t recent_starts(const struct mw_esc_state *s, uint64_t window, uint64_t now)
{
	size_t n = 0;

	for (size_t i = 0; i < s->nstarts; i++) {
		uint64_t t = s->starts[(s->head + i) % MW_ESC_MAX_WINDOW];

		n += t + window > now;
	}
	return n;
}

static void remember(struct mw_esc_state *s, uint32_t pid, uint64_t now)
{
	size_t i;

	for (i = 0; i < s->nlast && s->last[i].pid != pid; i++)
		;
	if (i == s->nlast) {
		if (s->nlast == MW_ESC_REMEMBERED) {
			/* Evict the oldest start: it is the least likely to still hold. */
			i = 0;
			for (size_t k = 1; k < s->nlast; k++)
				if (s->last[k].start_ns < s->last[i].start_ns)
					i = k;
		} else {
			s->nlast++;
		}
	}
	s->last[i].pid = pid;
	s->last[i].start_ns = now;
}

enum mw_esc_verdict mw_esc_request(struct mw_esc_state *s, const struct mw_esc_policy *p,
				   uint32_t pid, uint64_t now)
{
	uint32_t max_active = p->max_active < MW_ESC_MAX_ACTIVE ? p->max_active : MW_ESC_MAX_ACTIVE;
	uint32_t max_window = p->max_per_window < MW_ESC_MAX_WINDOW ? p->max_per_window
								    : MW_ESC_MAX_WINDOW;

	if (mw_esc_active(s, pid))
		return MW_ESC_ACTIVE;
	for (size_t i = 0; i < s->nlast; i++)
		if (s->last[i].pid == pid && s->last[i].start_ns + p->proc_gap_ns > now)
			return MW_ESC_PROC_LIMIT;
	if (s->nactive >= max_active)
		return MW_ESC_HOST_BUSY;
	if (recent_starts(s, p->window_ns, now) >= max_window)
		return MW_ESC_HOST_LIMIT;
	s->active[s->nactive].pid = pid;
	s->active[s->nactive].end_ns = now + p->dur_ns;
	s->nactive++;
	remember(s, pid, now);
	if (s->nstarts == MW_ESC_MAX_WINDOW) {
		s->head = (s->head + 1) % MW_ESC_MAX_WINDOW;
		s->nstarts--;
	}
	s->starts[(s->head + s->nstarts) % MW_ESC_MAX_WINDOW] = now;
	s->nstarts++;
	return MW_ESC_START;
}

size_t mw_esc_due(struct mw_esc_state *s, uint64_t now, bool (*pid_gone)(void *, uint32_t),
		  void *ctx, uint32_t *out, size_t max)
{
	size_t n = 0, k = 0;

	for (size_t i = 0; i < s->nactive; i++) {
		bool due = now >= s->active[i].end_ns ||
			   (pid_gone && pid_gone(ctx, s->active[i].pid));

		if (due && n < max)
			out[n++] = s->active[i].pid;
		else
			s->active[k++] = s->active[i];
	}
	s->nactive = k;
	return n;
}
