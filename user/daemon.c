// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Daemon mode: SIGHUP's new configuration. See daemon.h. */
#include <string.h>
#include "config.h"
#include "daemon.h"
#include "base/errmsg.h"

int mw_daemon_reload_config(struct mw_config *cfg, bool *kept, char *err, size_t errsz)
{
	struct mw_config_source *src = cfg->source;
	struct mw_confbuf keep = { 0 }, old;
	struct mw_config next;

	*kept = false;
	if (!src)
		return mw_fail(err, errsz, -1, "no configuration to reload");
	if (mw_config_build(src->argc, src->argv, src->daemon_cmd, &next, &keep, err, errsz)) {
		mw_confbuf_free(&keep);
		return -1;
	}
	/* Fixed once the BPF side is loaded and the session set up. */
#define KEEP(field)                                                                 \
	do {                                                                        \
		*kept |= memcmp(&next.field, &cfg->field, sizeof(next.field)) != 0; \
		next.field = cfg->field;                                            \
	} while (0)
	KEEP(follow);
	KEEP(json);
	KEEP(summary_only);
	KEEP(show_dur);
	KEEP(verbose);
	KEEP(maps_at_exit);
	KEEP(ring_size);
	KEEP(max_procs);
	KEEP(max_threads);
	KEEP(interval_s);
	KEEP(duration_s);
	KEEP(daemon);
#undef KEEP
	next.replay_path = cfg->replay_path;
	next.cmd = cfg->cmd;
	next.source = src;
	old = src->keep;
	src->keep = keep;
	*cfg = next;
	mw_confbuf_free(&old);
	return 0;
}
