/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* `memwatch maps -p PID`: a pmap-like one-shot view with classes, arenas and RSS. */
#ifndef MW_MAPS_CMD_H
#define MW_MAPS_CMD_H

/* Runs the subcommand (argv[0] == "maps"); returns the exit status. */
int mw_maps_main(int argc, char **argv);

#endif /* MW_MAPS_CMD_H */
