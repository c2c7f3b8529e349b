// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * memwatch report: reads IN whole (an NDJSON file memwatch wrote, or a --record recording,
 * replayed through the session to NDJSON in memory), builds the report's model in two passes
 * and writes the page through a temporary file renamed over OUT, so a failed run never leaves
 * half a page where a good one was.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include "base/atomic.h"
#include "base/errmsg.h"
#include "cli.h"
#include "replay.h"
#include "report/data.h"
#include "report/html.h"
#include "report/ndjson.h"
#include "report_cmd.h"
#include "wire/record.h"

#define USAGE "Usage: memwatch report IN -o OUT.html\n"

static void usage(FILE *f)
{
	fputs(USAGE "One self-contained HTML page (inline SVG, a little script, nothing fetched)\n"
		    "from IN: an NDJSON file memwatch wrote (--json -o), or a --record recording.\n"
		    "  -o, --output FILE   the page to write (replaced whole)\n"
		    "  -h, --help          this text\n",
	      f);
}

/* A recording, replayed as NDJSON into memory (*buf malloc'd). */
static int replay_ndjson(const char *in, char **buf, size_t *len)
{
	struct mw_config cfg;
	FILE *mem;
	int ret;

	mw_cli_defaults(&cfg);
	cfg.json = true;
	cfg.replay_path = in;
	mem = open_memstream(buf, len);
	if (!mem) {
		mw_p_err("out of memory");
		return 1;
	}
	ret = mw_replay_to(&cfg, mem);
	if (fclose(mem) && !ret) {
		mw_p_err("out of memory");
		ret = 1;
	}
	return ret;
}

static int walk_fn(void *ctx, struct json_object *o, const char *type)
{
	return mw_rep_add(ctx, o, type);
}

static int build(struct mw_rep *r, const char *in, const char *buf, size_t len)
{
	char err[256];
	int ret = mw_ndjson_walk(buf, len, walk_fn, r, err, sizeof(err));

	if (!ret && !r->nprocs) {
		snprintf(err, sizeof(err), "no process in it: not a memwatch run");
		ret = -1;
	}
	if (!ret)
		ret = mw_rep_begin_pass2(r);
	if (!ret)
		ret = mw_ndjson_walk(buf, len, walk_fn, r, err, sizeof(err));
	if (ret == -ENOMEM)
		snprintf(err, sizeof(err), "out of memory");
	if (ret)
		mw_p_err("%s: %s", in, err);
	return ret ? 1 : 0;
}

static int write_page(const struct mw_rep *r, const char *in, const char *out)
{
	struct mw_atomic a;
	const char *base = strrchr(in, '/');
	char err[300];

	if (mw_atomic_open(&a, out, err, sizeof(err))) {
		mw_p_err("%s", err);
		return 1;
	}
	mw_rep_html(a.f, r, base ? base + 1 : in);
	if (mw_atomic_commit(&a, err, sizeof(err))) {
		mw_p_err("%s", err);
		return 1;
	}
	return 0;
}

int mw_report_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *out = NULL;
	int c;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'o': out = optarg; break;
		case 'h': usage(stdout); return 0;
		default:
			fprintf(stderr,
				"memwatch: report: unknown option or missing value '%s' (%s)",
				argv[optind - 1], "see memwatch report --help\n");
			return 2;
		}
	}
	if (optind != argc - 1 || !out || !*out) {
		fprintf(stderr, "memwatch: report needs one input and -o OUT.html (%s)\n",
			"see memwatch report --help");
		return 2;
	}
	return mw_report_file(argv[optind], out);
}

int mw_report_file(const char *in, const char *out)
{
	char *text = NULL;
	void *map = MAP_FAILED;
	struct mw_rep r;
	struct stat st;
	size_t len = 0;
	int fd, ret;

	fd = open(in, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st)) {
		mw_p_err("cannot read %s: %s", in, strerror(errno));
		if (fd >= 0)
			close(fd);
		return 1;
	}
	if (!S_ISREG(st.st_mode) || st.st_size == 0) {
		mw_p_err("%s: %s", in,
			 st.st_size ? "not a regular file" : "empty: no memwatch NDJSON");
		close(fd);
		return 1;
	}
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (map == MAP_FAILED) {
		mw_p_err("cannot read %s: %s", in, strerror(errno));
		return 1;
	}
	len = (size_t)st.st_size;
	if (len >= 8 && !memcmp(map, MW_RECORD_MAGIC, 5)) {
		ret = replay_ndjson(in, &text, &len);
		if (ret) {
			munmap(map, (size_t)st.st_size);
			free(text);
			return ret;
		}
	}
	mw_rep_init(&r);
	ret = build(&r, in, text ? text : map, len);
	if (!ret)
		ret = write_page(&r, in, out);
	mw_rep_free(&r);
	munmap(map, (size_t)st.st_size);
	free(text);
	return ret;
}
