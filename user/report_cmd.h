/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* `memwatch report IN -o OUT.html`: one HTML page from an NDJSON run or a recording. */
#ifndef MW_REPORT_CMD_H
#define MW_REPORT_CMD_H

/* Runs the subcommand (argv[0] == "report"); returns the exit status. */
int mw_report_main(int argc, char **argv);
/* The page for the NDJSON file or recording in, written whole to out (an incident bundle's
 * report.html too). 0, or 1 with the reason said on stderr. */
int mw_report_file(const char *in, const char *out);

#endif /* MW_REPORT_CMD_H */
