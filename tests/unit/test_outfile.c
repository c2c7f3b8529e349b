// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Output files that whoever can write the log directory cannot turn against memwatch (run as
 * root): no symbolic link followed, no file with other links written, rotation never reopens.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "base/atomic.h"
#include "base/outfile.h"
#include "monitor/rotate.h"
#include "unit.h"

static void put(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	fputs(text, f);
	fclose(f);
}

static const char *slurp(const char *path)
{
	static char buf[4096];
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return "(none)";
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

struct dir {
	char d[64], victim[96], out[96];
};

static void dir_init(struct dir *t)
{
	snprintf(t->d, sizeof(t->d), "/tmp/mw-unit-outfile-XXXXXX");
	CHECK(mkdtemp(t->d) != NULL);
	snprintf(t->victim, sizeof(t->victim), "%s/victim", t->d);
	snprintf(t->out, sizeof(t->out), "%s/out", t->d);
	put(t->victim, "precious\n");
}

static void dir_free(struct dir *t)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", t->d);
	CHECK_EQ_INT(system(cmd), 0);
}

TEST(outfile_refuses_links)
{
	struct dir t;
	int fd;

	dir_init(&t);
	/* A symbolic link, in every mode: nothing written, nothing truncated. */
	CHECK_EQ_INT(symlink(t.victim, t.out), 0);
	CHECK_EQ_INT(mw_out_open(t.out, MW_OUT_TRUNC), -ELOOP);
	CHECK_EQ_INT(mw_out_open(t.out, MW_OUT_APPEND), -ELOOP);
	CHECK_EQ_INT(mw_out_open(t.out, MW_OUT_NEW), -EEXIST);
	CHECK(mw_out_fopen(t.out, MW_OUT_TRUNC) == NULL && errno == ELOOP);
	CHECK(strstr(mw_out_strerror(ELOOP), "symbolic link"));
	/* A hard link to someone's file. */
	unlink(t.out);
	CHECK_EQ_INT(link(t.victim, t.out), 0);
	CHECK_EQ_INT(mw_out_open(t.out, MW_OUT_TRUNC), -EMLINK);
	CHECK_EQ_INT(mw_out_open(t.out, MW_OUT_APPEND), -EMLINK);
	CHECK(strstr(mw_out_strerror(-EMLINK), "hard links"));
	CHECK_EQ_STR(slurp(t.victim), "precious\n");
	/* A plain file: truncated or appended to, close-on-exec. */
	unlink(t.out);
	put(t.out, "old\n");
	fd = mw_out_open(t.out, MW_OUT_APPEND);
	CHECK(fd >= 0 && (fcntl(fd, F_GETFD) & FD_CLOEXEC));
	CHECK_EQ_INT(write(fd, "more\n", 5), 5);
	close(fd);
	CHECK_EQ_STR(slurp(t.out), "old\nmore\n");
	fd = mw_out_open(t.out, MW_OUT_TRUNC);
	CHECK(fd >= 0);
	close(fd);
	CHECK_EQ_STR(slurp(t.out), "");
	/* Not a regular file: /dev/null is fine. */
	fd = mw_out_open("/dev/null", MW_OUT_TRUNC);
	CHECK(fd >= 0);
	close(fd);
	dir_free(&t);
}

/* Someone swaps the log for a link to another file between rotations: the rotation moves the
 * link away and makes a new file; the other file is never written. */
TEST(outfile_rotation_never_writes_through_a_swapped_file)
{
	struct dir t;
	char one[128];
	struct mw_sink *s;
	FILE *f;

	dir_init(&t);
	s = mw_sink_open(t.out, 64, 2, false, &f);
	CHECK(s != NULL);
	if (!s)
		return;
	fputs("0123456789012345678901234567890123456789\n", f);
	fflush(f);
	unlink(t.out);
	CHECK_EQ_INT(symlink(t.victim, t.out), 0);
	fputs("after the swap: this line goes into a new file\n", f);
	fflush(f);
	CHECK_EQ_INT(mw_sink_rotations(s), 1);
	CHECK_EQ_STR(slurp(t.victim), "precious\n");
	snprintf(one, sizeof(one), "%s.1", t.out);
	{
		struct stat st;

		CHECK(lstat(one, &st) == 0 && S_ISLNK(st.st_mode)); /* the link, moved */
		CHECK(lstat(t.out, &st) == 0 && S_ISREG(st.st_mode));
	}
	CHECK_EQ_STR(slurp(t.out), "after the swap: this line goes into a new file\n");
	/* SIGHUP's reopen refuses a link and keeps writing to the file it has. */
	unlink(t.out);
	CHECK_EQ_INT(symlink(t.victim, t.out), 0);
	CHECK_EQ_INT(mw_sink_reopen(s, t.out, 64, 2), -ELOOP);
	CHECK_EQ_INT(fclose(f), 0);
	CHECK_EQ_STR(slurp(t.victim), "precious\n");
	dir_free(&t);
}

/* A whole file replaced at once (--perfetto, --pprof files, reports): the old one stays until the
 * commit, an abort leaves it and nothing beside it, and an open that cannot create the temporary
 * file fails with the path, holding nothing (the sanitized unit run checks for leaks). */
TEST(atomic_replace_commit_abort_and_unwritable)
{
	struct mw_atomic a;
	struct dir t;
	char err[256] = "", cmd[160];

	dir_init(&t);
	put(t.out, "old\n");
	CHECK_EQ_INT(mw_atomic_open(&a, t.out, err, sizeof(err)), 0);
	fputs("new\n", a.f);
	CHECK_EQ_STR(slurp(t.out), "old\n");
	CHECK_EQ_INT(mw_atomic_commit(&a, err, sizeof(err)), 0);
	CHECK_EQ_STR(slurp(t.out), "new\n");
	mw_atomic_abort(&a); /* safe after a commit */
	CHECK_EQ_INT(mw_atomic_open(&a, t.out, err, sizeof(err)), 0);
	fputs("never\n", a.f);
	mw_atomic_abort(&a);
	CHECK_EQ_STR(slurp(t.out), "new\n");
	snprintf(cmd, sizeof(cmd), "test $(ls -A %s | wc -l) -eq 2", t.d); /* out and victim */
	CHECK_EQ_INT(system(cmd), 0);
	CHECK_EQ_INT(mw_atomic_open(&a, "/nonexistent/t.pftrace", err, sizeof(err)), -1);
	CHECK(strstr(err, "/nonexistent/t.pftrace") != NULL);
	CHECK(a.path == NULL && a.tmp == NULL && a.f == NULL);
	mw_atomic_abort(&a); /* safe after a failed open */
	dir_free(&t);
}
