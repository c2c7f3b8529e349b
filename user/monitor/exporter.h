/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The --prometheus endpoint of a live session: libmicrohttpd serves GET
 * /metrics on its own thread; the text is rendered by the event loop (the
 * only thread that touches the model) when a scrape asks for it.
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
/* Stop serving and free; NULL does nothing. */
void mw_exporter_stop(struct mw_exporter *e);

#endif /* MW_EXPORTER_H */
