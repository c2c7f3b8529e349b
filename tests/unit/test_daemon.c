// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Continuous monitoring without root: the config file through the option
 * parser, the --comm decision, new options, rotation (pure parts, then the
 * sink on a temp directory), the start-time parser, config reload rules. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include "base/ratelimit.h"
#include "cli.h"
#include "config.h"
#include "daemon.h"
#include "monitor/rotate.h"
#include "monitor/targets.h"
#include "unit.h"

static int conf(struct mw_config *c, struct mw_confbuf *keep, char *err, const char *text)
{
	mw_cli_defaults(c);
	return mw_config_parse_text("t.conf", text, c, keep, err, 256);
}

TEST(config_keys_are_long_options)
{
	struct mw_confbuf keep = { 0 };
	struct mw_config c;
	char err[256];

	CHECK_EQ_INT(conf(&c, &keep, err,
			  "# memwatch\n"
			  "\n"
			  "  comm = ^memcached$  \n"
			  "comm=^a b$\n"
			  "cgroup = /sys/fs/cgroup/foo\n"
			  "output = /var/log/memwatch/events.ndjson\n"
			  "rotate = 64M,5\n"
			  "json\n"
			  "summary-only = no\n"
			  "follow-forks = yes\n"
			  "max-procs = 50\n"
			  "pid = 12,34\n"),
		     0);
	CHECK_EQ_INT(c.ncomms, 2);
	CHECK_EQ_STR(c.comms[0], "^memcached$");
	CHECK_EQ_STR(c.comms[1], "^a b$"); /* inner spaces kept, outer trimmed */
	CHECK_EQ_INT(c.ncgroups, 1);
	CHECK_EQ_STR(c.cgroups[0], "/sys/fs/cgroup/foo");
	CHECK_EQ_STR(c.out_path, "/var/log/memwatch/events.ndjson");
	CHECK_EQ_INT(c.rotate_size, 64 << 20);
	CHECK_EQ_INT(c.rotate_count, 5);
	CHECK(c.json && !c.summary_only && c.follow);
	CHECK_EQ_INT(c.max_procs, 50);
	CHECK_EQ_INT(c.npids, 2);
	CHECK_EQ_INT(mw_cli_finish(&c, err, sizeof(err)), 0);
	mw_confbuf_free(&keep);
}

TEST(config_errors_name_file_and_line)
{
	struct mw_confbuf keep = { 0 };
	struct mw_config c;
	char err[256];

	CHECK_EQ_INT(conf(&c, &keep, err, "comm = x\n\nbogus = 1\n"), -1);
	CHECK_EQ_STR(err, "t.conf:3: unknown key 'bogus'");
	CHECK_EQ_INT(conf(&c, &keep, err, "comm = ^a(\n"), -1);
	CHECK(strncmp(err, "t.conf:1: --comm: '^a(' is not a regular expression", 51) == 0);
	CHECK_EQ_INT(conf(&c, &keep, err, "#\nmax-procs = 0\n"), -1);
	CHECK(strstr(err, "t.conf:2: --max-procs") == err);
	CHECK_EQ_INT(conf(&c, &keep, err, "output =\n"), -1);
	CHECK_EQ_STR(err, "t.conf:1: 'output' needs a value");
	CHECK_EQ_INT(conf(&c, &keep, err, "json = maybe\n"), -1);
	CHECK(strstr(err, "t.conf:1: 'json' is a flag") == err);
	CHECK_EQ_INT(conf(&c, &keep, err, "config = /etc/x\n"), -1);
	CHECK(strstr(err, "t.conf:1: a config file cannot name another") == err);
	CHECK_EQ_INT(conf(&c, &keep, err, "pid 12\n"), -1);
	CHECK(strstr(err, "t.conf:1: expected") == err);
	CHECK_EQ_INT(conf(&c, &keep, err, "help\n"), -1);
	CHECK_EQ_INT(conf(&c, &keep, err, "rotate = 64M\n"), -1);
	CHECK(strstr(err, "t.conf:1: --rotate") == err);
	mw_confbuf_free(&keep);
}

static int parse(struct mw_config *c, char *err, int argc, char **argv)
{
	return mw_cli_parse(argc, argv, c, err, 256);
}

TEST(cli_comm_cgroup_daemon)
{
	struct mw_config c;
	char err[256];
	char *ok[] = { "memwatch", "--comm", "^a$",    "--cgroup", "/sys/fs/cgroup/x",
		       "-p",	   "5",	     "--comm", "b",	   NULL };
	char *nothing[] = { "memwatch", "--json", NULL };
	char *cmd[] = { "memwatch", "--comm", "x", "ls", NULL };
	char *dcmd[] = { "memwatch", "--daemon", "--", "ls", NULL };
	char *rel[] = { "memwatch", "--cgroup", "foo", NULL };
	char *rot[] = { "memwatch", "--comm", "x", "--rotate", "1M,2", NULL };
	char *d[] = { "memwatch", "--daemon", "--comm", "x", NULL };

	CHECK_EQ_INT(parse(&c, err, 9, ok), 0);
	CHECK_EQ_INT(c.ncomms, 2);
	CHECK_EQ_INT(c.ncgroups, 1);
	CHECK_EQ_INT(c.npids, 1);
	CHECK_EQ_INT(c.max_procs, 1024);
	CHECK_EQ_INT(c.max_threads, 16384);
	CHECK_EQ_INT(parse(&c, err, 2, nothing), -1);
	CHECK(strstr(err, "nothing to trace") != NULL);
	CHECK_EQ_INT(parse(&c, err, 4, cmd), -1);
	CHECK(strstr(err, "not both") != NULL);
	CHECK_EQ_INT(parse(&c, err, 4, dcmd), -1);
	CHECK_EQ_INT(parse(&c, err, 3, rel), -1);
	CHECK(strstr(err, "absolute") != NULL);
	CHECK_EQ_INT(parse(&c, err, 5, rot), -1);
	CHECK(strstr(err, "--rotate needs -o FILE") != NULL);
	CHECK_EQ_INT(parse(&c, err, 4, d), 0);
	CHECK(c.daemon && c.json); /* the daemon's sink is NDJSON */
}

TEST(comm_regex_decision)
{
	const char *res[] = { "^memcached$", "^nginx: (worker|master)", "java" };
	struct mw_comm_set s;
	char err[256], lit[16];

	CHECK_EQ_INT(mw_comm_set_init(&s, res, 3, err, sizeof(err)), 0);
	CHECK(mw_comm_set_match(&s, "memcached"));
	CHECK(!mw_comm_set_match(&s, "memcached2"));
	CHECK(!mw_comm_set_match(&s, "xmemcached"));
	CHECK(mw_comm_set_match(&s, "nginx: worker p"));
	CHECK(!mw_comm_set_match(&s, "nginx"));
	CHECK(mw_comm_set_match(&s, "openjdk-java"));
	CHECK(!mw_comm_set_match(&s, "ops"));
	mw_comm_set_free(&s);

	/* Names the kernel can match before any process has them. */
	CHECK(mw_regex_literal("^memcached$", lit, sizeof(lit)));
	CHECK_EQ_STR(lit, "memcached");
	CHECK(mw_regex_literal("^a\\.b$", lit, sizeof(lit)));
	CHECK_EQ_STR(lit, "a.b");
	CHECK(!mw_regex_literal("^a.b$", lit, sizeof(lit)));
	CHECK(!mw_regex_literal("memcached", lit, sizeof(lit)));
	CHECK(!mw_regex_literal("^memcached", lit, sizeof(lit)));
	CHECK(!mw_regex_literal("^(a|b)$", lit, sizeof(lit)));
	CHECK(!mw_regex_literal("^a\\$", lit, sizeof(lit)));
	CHECK(!mw_regex_literal("^0123456789abcdef$", lit, sizeof(lit))); /* > 15 bytes */
	CHECK(!mw_regex_literal("^$", lit, sizeof(lit)));
}

/* --comm '(ab)++++++++++++++++++++++' took 17 s and 4.1 GB in regcomp(): refused at once. */
TEST(comm_regex_compile_is_bounded)
{
	const char *ok[] = {
		"^memcached$",	   "^(nginx|php-fpm|worker-[0-9]+)$",
		"[a-z]{1,15}",	   "java",
		"^a[[:digit:]]+b", "(a|b|c)*x?",
		"^[]a-]{2,3}$",
	};
	/* The last ones: optional copies (the fuzzer found the first; glibc took 2.3 s). */
	const char *bad[] = {
		"(ab)++++++++++++++++++++++",
		"a{1,100}{1,100}",
		"((((a+)+)+)+){200}",
		"(x{1,32767}){1,32767}",
		"oup^am95+++++++++\x99+++++++????+\"+++++????++++",
		"a?{0,2000}",
		"(a|b?){0,2000}",
		"a+++++????+++++++",
	};
	struct timespec a, b;
	char err[512], big[400];
	regex_t re;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		CHECK(mw_comm_regex_cost(ok[i]) < 100);
		CHECK_EQ_INT(mw_comm_regex_compile(&re, ok[i], err, sizeof(err)), 0);
		regfree(&re);
	}
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK(mw_comm_regex_cost(bad[i]) > MW_COMM_REGEX_COST);
		CHECK_EQ_INT(mw_comm_regex_compile(&re, bad[i], err, sizeof(err)), -1);
		CHECK(strstr(err, "repeats too much") != NULL);
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	CHECK(b.tv_sec - a.tv_sec < 1);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	CHECK_EQ_INT(mw_comm_regex_compile(&re, big, err, sizeof(err)), -1);
	CHECK(strstr(err, "characters long") != NULL);
	/* Malformed ones still reach regcomp, which says what is wrong. */
	CHECK_EQ_INT(mw_comm_regex_compile(&re, "(ab", err, sizeof(err)), -1);
	CHECK(strstr(err, "is not a regular expression") != NULL);
	CHECK_EQ_INT(mw_comm_regex_compile(&re, "a{2", err, sizeof(err)), -1);
	CHECK_EQ_INT(mw_comm_regex_compile(&re, "[a", err, sizeof(err)), -1);
}

TEST(stat_starttime)
{
	uint64_t t = 0;

	CHECK_EQ_INT(mw_stat_starttime("1234 (a) b) c) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 "
				       "0 0 20 0 1 0 987654 5000 100 ...",
				       &t),
		     0);
	CHECK_EQ_INT(t, 987654);
	CHECK_EQ_INT(mw_stat_starttime("1234 (x) S 1 2 3", &t), -EINVAL);
	CHECK_EQ_INT(mw_stat_starttime("no comm", &t), -EINVAL);
	CHECK_EQ_INT(mw_read_starttime((uint32_t)getpid(), &t), 0);
	CHECK(t > 0);
}

TEST(rotate_take_whole_lines)
{
	const char *b = "aaaa\nbb\ncccccc\n"; /* 5 + 3 + 7 */

	CHECK_EQ_INT(mw_rotate_take(b, 15, 0, 0), 15); /* no limit */
	CHECK_EQ_INT(mw_rotate_take(b, 15, 0, 100), 15);
	CHECK_EQ_INT(mw_rotate_take(b, 15, 0, 8), 8); /* two lines fit exactly */
	CHECK_EQ_INT(mw_rotate_take(b, 15, 0, 7), 5);
	CHECK_EQ_INT(mw_rotate_take(b, 15, 3, 7), 0); /* rotate first */
	CHECK_EQ_INT(mw_rotate_take(b, 15, 0, 2), 5); /* oversized line, empty file */
	CHECK_EQ_INT(mw_rotate_take(b + 8, 7, 1, 5), 0);
}

TEST(rotate_names)
{
	char n[32];

	CHECK_EQ_INT(mw_rotate_name(n, sizeof(n), "/var/log/x", 0), 0);
	CHECK_EQ_STR(n, "/var/log/x");
	CHECK_EQ_INT(mw_rotate_name(n, sizeof(n), "/var/log/x", 12), 0);
	CHECK_EQ_STR(n, "/var/log/x.12");
	CHECK_EQ_INT(mw_rotate_name(n, 8, "/var/log/x", 1), -1);
}

static size_t file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) ? (size_t)-1 : (size_t)st.st_size;
}

/* Lines written in odd pieces (as stdio flushes them) land whole, in order, across files. */
TEST(sink_rotates_between_lines)
{
	char dir[] = "/tmp/mw-unit-rotate-XXXXXX", path[64], name[80], line[64], *all;
	size_t total = 0, got = 0;
	struct mw_sink *s;
	FILE *f;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/ev", dir);
	s = mw_sink_open(path, 4096, 100, false, &f);
	CHECK(s != NULL);
	if (!s)
		return;
	for (int i = 0; i < 2000; i++) {
		int n = snprintf(line, sizeof(line), "{\"seq\":%d,\"pad\":\"%.*s\"}\n", i, i % 37,
				 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");

		fwrite(line, 1, (size_t)n, f);
		total += (size_t)n;
		if (i % 97 == 0)
			fflush(f); /* cut lines at arbitrary points */
	}
	CHECK(mw_sink_rotations(s) > 5);
	CHECK_EQ_INT(fclose(f), 0);
	/* Oldest first: ev.N ... ev.1, ev. */
	all = calloc(1, total + 1);
	for (int i = 100; i >= 0; i--) {
		FILE *r;
		size_t n, sz;

		mw_rotate_name(name, sizeof(name), path, (uint32_t)i);
		sz = file_size(name);
		if (sz == (size_t)-1)
			continue;
		CHECK(sz <= 4096);
		r = fopen(name, "r");
		n = fread(all + got, 1, total - got, r);
		fclose(r);
		CHECK(n == 0 || all[got + n - 1] == '\n');
		got += n;
		unlink(name);
	}
	rmdir(dir);
	CHECK_EQ_INT(got, total);
	/* Every line once, in order. */
	{
		char *p = all;
		int seq = 0, ok = 1;

		while (*p) {
			int v = -1;

			sscanf(p, "{\"seq\":%d,", &v);
			ok &= v == seq++;
			p = strchr(p, '\n') + 1;
		}
		CHECK(ok);
		CHECK_EQ_INT(seq, 2000);
	}
	free(all);
}

/* At most one message a second; the ones held back are counted for the next. */
TEST(ratelimit_once_a_second_with_counts)
{
	struct mw_ratelimit r = { 0 };
	uint64_t held = 99, s = 1000000000ULL;

	CHECK(mw_ratelimit_pass(&r, 5 * s, &held));
	CHECK_EQ_INT(held, 0);
	for (int i = 1; i <= 40; i++)
		CHECK(!mw_ratelimit_pass(&r, 5 * s + (uint64_t)i * s / 50, &held));
	CHECK(mw_ratelimit_pass(&r, 6 * s, &held));
	CHECK_EQ_INT(held, 40);
	CHECK(mw_ratelimit_pass(&r, 9 * s, &held));
	CHECK_EQ_INT(held, 0);
}

/* A full disk (/dev/full): every write fails, the stream never does, and what was lost is
 * counted. */
TEST(sink_counts_failed_writes_and_stays_usable)
{
	struct mw_sink_health h;
	struct mw_sink *s;
	FILE *f;

	s = mw_sink_open("/dev/full", 0, 0, false, &f);
	CHECK(s != NULL);
	if (!s)
		return;
	for (int i = 0; i < 100; i++)
		fprintf(f, "{\"seq\":%d}\n", i);
	CHECK_EQ_INT(fflush(f), 0);
	CHECK(!ferror(f));
	mw_sink_health(s, &h);
	CHECK(h.errors >= 1);
	CHECK(h.failing);
	CHECK_EQ_INT(h.last_err, ENOSPC);
	CHECK_EQ_INT(h.lost_bytes, 10 * 10 + 90 * 11);
	CHECK_EQ_INT(h.recoveries, 0);
	/* The last write failed: close says so. */
	fprintf(f, "{\"seq\":100}\n");
	CHECK(fclose(f) != 0);
}

/* A pipe whose reader is slow: writes that cannot go in (EAGAIN) are lost, counted, and
 * once the reader has caught up writing resumes. */
TEST(sink_resumes_when_writing_works_again)
{
	struct mw_sink_health h;
	struct mw_sink *s;
	int fds[2];
	char buf[4096];
	FILE *f;
	ssize_t n;

	CHECK_EQ_INT(pipe2(fds, O_NONBLOCK), 0);
	s = mw_sink_fd(fds[1], &f);
	CHECK(s != NULL);
	if (!s)
		return;
	/* 2 MB into a 64 KiB pipe: most of it is lost. */
	for (int i = 0; i < 20000; i++)
		fprintf(f, "{\"seq\":%05d,\"pad\":\"%080d\"}\n", i, 0);
	fflush(f);
	mw_sink_health(s, &h);
	CHECK(h.errors > 0 && h.failing && h.last_err == EAGAIN);
	while (read(fds[0], buf, sizeof(buf)) > 0)
		; /* the reader catches up (a pipe may hold a line cut short: nothing to take back) */
	fprintf(f, "{\"seq\":\"after\"}\n");
	fflush(f);
	mw_sink_health(s, &h);
	CHECK(!h.failing);
	CHECK_EQ_INT(h.recoveries, 1);
	n = read(fds[0], buf, sizeof(buf) - 1);
	CHECK(n > 0);
	buf[n > 0 ? n : 0] = '\0';
	CHECK_EQ_STR(buf, "{\"seq\":\"after\"}\n");
	CHECK(!ferror(f));
	fclose(f); /* not the fd's owner: the pipe stays open */
	CHECK(write(fds[1], "x", 1) == 1);
	close(fds[0]);
	close(fds[1]);
}

/* SIGHUP: targets and output change; what BPF was loaded with stays. */
TEST(reload_keeps_load_time_options)
{
	char dir[] = "/tmp/mw-unit-conf-XXXXXX", path[64], err[256];
	char *argv[] = { "memwatch", "--config", path, "-T", NULL };
	struct mw_config_source src = { .argc = 4, .argv = argv, .daemon_cmd = true };
	struct mw_config c;
	char kept[256];
	FILE *f;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/memwatch.conf", dir);
	f = fopen(path, "w");
	fputs("comm = ^a$\nmax-procs = 10\n", f);
	fclose(f);
	CHECK_EQ_INT(mw_config_build(src.argc, src.argv, true, &c, &src.keep, err, sizeof(err)), 0);
	c.source = &src;
	CHECK(c.daemon && c.show_dur);
	CHECK_EQ_INT(c.max_procs, 10);
	f = fopen(path, "w");
	fputs("comm = ^a$\ncomm = ^b$\ncgroup = /x\nmax-procs = 20\n", f);
	fclose(f);
	CHECK_EQ_INT(mw_daemon_reload_config(&c, kept, sizeof(kept), err, sizeof(err)), 0);
	CHECK_EQ_STR(kept, "--max-procs");
	CHECK_EQ_INT(c.ncomms, 2);
	CHECK_EQ_STR(c.comms[1], "^b$");
	CHECK_EQ_INT(c.ncgroups, 1);
	CHECK_EQ_INT(c.max_procs, 10); /* the kernel's maps are sized already */
	CHECK(c.show_dur);
	f = fopen(path, "w");
	fputs("comm = ^c$\nnope = 1\n", f);
	fclose(f);
	CHECK_EQ_INT(mw_daemon_reload_config(&c, kept, sizeof(kept), err, sizeof(err)), -1);
	CHECK(strstr(err, "memwatch.conf:2: unknown key 'nope'") != NULL);
	CHECK_EQ_INT(c.ncomms, 2); /* the old configuration stays */
	CHECK_EQ_STR(c.comms[0], "^a$");
	mw_confbuf_free(&src.keep);
	/*
	 * --malloc sampling changed on SIGHUP: the probes keep sampling as they were loaded, so
	 * the user side must keep weighing by the same options (it used to take the new ones
	 * silently), and the reload says which options it kept.
	 */
	f = fopen(path, "w");
	fputs("comm = ^a$\nmalloc\nsample = 8\nfolded = /tmp/one.folded\n"
	      "prometheus = 127.0.0.1:9464\n",
	      f);
	fclose(f);
	CHECK_EQ_INT(mw_config_build(src.argc, src.argv, true, &c, &src.keep, err, sizeof(err)), 0);
	c.source = &src;
	CHECK(c.mal.on && c.mal.sample_every == 8);
	f = fopen(path, "w");
	fputs("comm = ^b$\nmalloc\nsample = 100\nmax-probe-rate = 5000\n"
	      "folded = /tmp/two.folded\nprometheus = 127.0.0.1:9465\n",
	      f);
	fclose(f);
	CHECK_EQ_INT(mw_daemon_reload_config(&c, kept, sizeof(kept), err, sizeof(err)), 0);
	CHECK_EQ_STR(kept, "--prometheus, --folded, --sample, --max-probe-rate");
	CHECK_EQ_STR(c.comms[0], "^b$");
	CHECK_EQ_INT(c.mal.sample_every, 8);
	CHECK_EQ_INT(c.mal.max_probe_rate, 0);
	CHECK_EQ_STR(c.mal.folded_path, "/tmp/one.folded"); /* alive: the old file's strings went */
	CHECK_EQ_STR(c.prometheus, "127.0.0.1:9464");
	/* The file still differs from what runs: said again. */
	CHECK_EQ_INT(mw_daemon_reload_config(&c, kept, sizeof(kept), err, sizeof(err)), 0);
	CHECK_EQ_STR(kept, "--prometheus, --folded, --sample, --max-probe-rate");
	f = fopen(path, "w");
	fputs("comm = ^c$\nmalloc\nsample = 8\nfolded = /tmp/one.folded\n"
	      "prometheus = 127.0.0.1:9464\n",
	      f);
	fclose(f);
	CHECK_EQ_INT(mw_daemon_reload_config(&c, kept, sizeof(kept), err, sizeof(err)), 0);
	CHECK_EQ_STR(kept, "");
	CHECK_EQ_STR(c.comms[0], "^c$");
	unlink(path);
	rmdir(dir);
	mw_confbuf_free(&src.keep);
}
