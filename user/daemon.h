/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Daemon mode: the configuration rebuilt on SIGHUP. */
#ifndef MW_DAEMON_H
#define MW_DAEMON_H

#include <stddef.h>
#include "base/options.h"

/*
 * Build cfg again from its source (config file and command line). On success
 * cfg is replaced in place: targets (-p, --comm, --cgroup) and the output
 * (-o, --rotate) take the new values; what is fixed once BPF is loaded
 * (--json, -T, -f, --ring-size, --max-*, -i, --prometheus, every --malloc
 * option ...) keeps the running one, and kept lists ("-T, --sample") those
 * that differed (empty when none). On failure cfg is untouched and err holds
 * the reason (NAME:LINE: ...).
 */
int mw_daemon_reload_config(struct mw_config *cfg, char *kept, size_t keptsz, char *err,
			    size_t errsz);

#endif /* MW_DAEMON_H */
