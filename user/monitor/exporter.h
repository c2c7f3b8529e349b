/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The --prometheus endpoint of a live session: libmicrohttpd serves GET
 * /metrics on its own thread; the text is rendered by the event loop (the
 * only thread that touches the model) when a scrape asks for it, woken
 * through mw_exporter_wake_fd. Connections are limited in number (in all and
 * per address) and in time (to send a request, to take a response).
 */
#ifndef MW_EXPORTER_H
#define MW_EXPORTER_H

#include <stddef.h>
#include "base/options.h"
#include "loader/loader.h"
#include "session/session.h"

struct mw_exporter;

/*
 * Bind cfg->prometheus and start serving (nothing when it is NULL: *out is
 * NULL and 0 is returned). On failure a negative errno and a one-line reason
 * in err.
 */
int mw_exporter_start(struct mw_exporter **out, const struct mw_config *cfg, char *err,
		      size_t errsz);
/* From the event loop, at every turn: samples growth once a second and
 * answers pending scrapes with a fresh rendering. NULL does nothing. */
void mw_exporter_tick(struct mw_exporter *e, struct mw_session *s, struct mw_loader *l);
/* How long the event loop may wait for its next turn (at most max_ms): less while a scrape
 * waits for a rendering. */
int mw_exporter_wait_ms(const struct mw_exporter *e, int max_ms);
/* Readable when a scrape waits: the event loop polls it with the ring (-1 for NULL). */
int mw_exporter_wake_fd(const struct mw_exporter *e);
/*
 * GET /debug/pprof/NAME: the event loop renders the profile through fn (the
 * session's profiles: the exporter knows none of them) when asked. fn returns
 * 0 with a malloc'd gzip'd profile in *body, -ENOENT with a one-line reason in
 * why when the run does not collect it (served as 404), or another -errno.
 */
typedef int (*mw_exporter_profile_fn)(void *ctx, const char *name, void **body, size_t *len,
				      char *why, size_t whysz);
void mw_exporter_profiles(struct mw_exporter *e, mw_exporter_profile_fn fn, void *ctx);
/* Stop serving and free; NULL does nothing. */
void mw_exporter_stop(struct mw_exporter *e);

#endif /* MW_EXPORTER_H */
