/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Opening memwatch's output files (-o, the daemon's output, --record,
 * --folded, rotation) safely when memwatch runs as root and someone else can
 * write the directory: a symbolic link is never followed (O_NOFOLLOW), a
 * regular file with other hard links is refused (it may be anyone's file),
 * truncation happens only after those checks, and a rotated-in file is made
 * anew (O_EXCL), never reused. Descriptors are close-on-exec.
 */
#ifndef MW_OUTFILE_H
#define MW_OUTFILE_H

#include <stdio.h>

enum mw_out_mode {
	MW_OUT_TRUNC,  /* create, or empty what is there */
	MW_OUT_APPEND, /* create, or append to what is there */
	MW_OUT_NEW,    /* create; fail with EEXIST when something is there */
};

/* A descriptor open for writing, or -errno: -ELOOP for a symbolic link, -EMLINK for a
 * regular file with more than one link. */
int mw_out_open(const char *path, enum mw_out_mode mode);
/* The same as a stream ("w" or "a" buffering as fopen's); NULL with errno set. */
FILE *mw_out_fopen(const char *path, enum mw_out_mode mode);
/* Why an mw_out_open failed, for "cannot open PATH: <this>". */
const char *mw_out_strerror(int err);

#endif /* MW_OUTFILE_H */
