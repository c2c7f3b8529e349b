// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * `memwatch maps -p PID [--json]`: every mapping of a process (one row per
 * kernel VMA, as pmap -X shows them) with its class, arena, committed bytes
 * and RSS, then the arenas and the arena limit in force. Needs no BPF.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include "alloc/alloc.h"
#include "base/clock.h"
#include "ledger/format.h"
#include "base/json.h"
#include "base/text.h"
#include "maps_cmd.h"
#include "ledger/procfs.h"
#include "alloc/arena_limit.h"
#include "base/errmsg.h"

static uint64_t rss_of(const struct mw_rss *v, size_t n, uint64_t start)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].start == start)
			return v[i].rss;
	return 0;
}

static void print_row(FILE *f, bool json, uint32_t pid, uint64_t ts_ns, const struct mw_region *vma,
		      const struct mw_region *cls, uint64_t rss)
{
	uint64_t size = vma->end - vma->start, committed = vma->prot ? size : 0;
	const char *cname = mw_class_name(cls ? cls->cls : MW_CLASS_ANON);
	int arena = cls ? mw_region_arena(cls) : -1;
	char p[5], a[32], b[32], c[32];
	struct mw_json j;

	mw_region_perm(vma, p);
	if (!json) {
		static char name[MW_TEXT_ROOM(MW_TEXT_NAME_MAX)];
		char ar[16] = "-";

		if (arena > 0)
			snprintf(ar, sizeof(ar), "%d", arena);
		mw_fmt_size(a, sizeof(a), (int64_t)size);
		mw_fmt_size(b, sizeof(b), (int64_t)committed);
		mw_fmt_size(c, sizeof(c), (int64_t)rss);
		/* A file or memfd name is the target's choice: escaped as strace would. */
		fprintf(f, "%012" PRIx64 " %6s %6s %6s %s %-12s %5s %s\n", vma->start, a, b, c, p,
			cname, ar,
			vma->name ? mw_text_quote(name, sizeof(name), vma->name, MW_TEXT_NAME_MAX)
				  : "");
		return;
	}
	mw_json_begin(&j, f);
	mw_json_str(&j, "type", "region");
	mw_json_uint(&j, "ts_ns", ts_ns);
	mw_json_uint(&j, "pid", pid);
	mw_json_addr(&j, "start", vma->start);
	mw_json_addr(&j, "end", vma->end);
	mw_json_uint(&j, "size", size);
	mw_json_uint(&j, "committed", committed);
	mw_json_uint(&j, "rss", rss);
	mw_json_str(&j, "perm", p);
	mw_json_str(&j, "class", cname);
	if (arena > 0)
		mw_json_int(&j, "arena", arena);
	if (vma->name)
		mw_json_str(&j, "name", vma->name);
	mw_json_end(&j);
}

/* The allocator, and for glibc's the arenas and the limit in force (another
 * allocator has no glibc arenas, and glibc's limit does not apply to it). */
static void print_summary(FILE *f, bool json, uint32_t pid, uint64_t ts_ns,
			  const struct mw_alloc *al, uint64_t total, uint64_t total_rss, int limit,
			  const char *limit_src)
{
	enum mw_allocator alloc = mw_alloc_allocator(al);
	bool glibc = alloc == MW_ALLOCATOR_GLIBC, known = mw_alloc_arenas_known(al);
	struct mw_json j;
	char a[32], b[32];

	if (!json) {
		mw_fmt_size(a, sizeof(a), (int64_t)total);
		mw_fmt_size(b, sizeof(b), (int64_t)total_rss);
		fprintf(f, "total %s, RSS %s; allocator %s", a, b, mw_allocator_name(alloc));
		if (glibc && known)
			fprintf(f, "; %zu arenas besides main (%s), limit %d (%s)",
				mw_alloc_narenas(al), mw_alloc_arenas_why(al), limit, limit_src);
		else if (glibc)
			fprintf(f, "; arenas unknown (%s), limit %d (%s)", mw_alloc_arenas_why(al),
				limit, limit_src);
		fputc('\n', f);
		return;
	}
	mw_json_begin(&j, f);
	mw_json_str(&j, "type", "maps_summary");
	mw_json_uint(&j, "ts_ns", ts_ns);
	mw_json_uint(&j, "pid", pid);
	mw_json_uint(&j, "size", total);
	mw_json_uint(&j, "rss", total_rss);
	mw_json_str(&j, "allocator", mw_allocator_name(alloc));
	if (glibc) {
		if (known)
			mw_json_uint(&j, "arenas", mw_alloc_narenas(al));
		else
			mw_json_null(&j, "arenas");
		mw_json_str(&j, "arenas_source", mw_alloc_arenas_why(al));
		mw_json_int(&j, "arena_limit", limit);
		mw_json_str(&j, "arena_limit_source", limit_src);
	}
	mw_json_end(&j);
}

/*
 * Whose /proc entry shows pid's address space: its own, or, where its leader thread has exited
 * (a zombie has no memory, its maps are empty) while other threads run, one of theirs.
 * -ESRCH: every thread has exited.
 */
static int reader_of(uint32_t pid, uint32_t *tid)
{
	uint32_t *tids = NULL;
	size_t n = 0;
	char state;

	*tid = pid;
	if (mw_read_state(pid, pid, &state) || (state != 'Z' && state != 'X'))
		return 0; /* running, or gone: the reads below say which */
	if (!mw_list_tids(pid, &tids, &n))
		for (size_t i = 0; i < n && *tid == pid; i++)
			if (tids[i] != pid && !mw_thread_gone(pid, tids[i]))
				*tid = tids[i];
	free(tids);
	return *tid == pid ? -ESRCH : 0;
}

static int maps_of(uint32_t pid, bool json, FILE *f)
{
	struct mw_regions merged;
	struct mw_rss *rss = NULL;
	struct mw_alloc *al = NULL;
	struct mw_alloc_ev ev[16];
	char *text = NULL, *env = NULL, *line, *save = NULL;
	struct mw_alloc_facts facts = {};
	uint64_t start_brk = 0, total = 0, total_rss = 0;
	/* Every object of one look has its time, as every NDJSON object of memwatch has. */
	uint64_t ts_ns = mw_now_ns(CLOCK_REALTIME);
	size_t nrss = 0, envlen = 0;
	uint32_t src;
	const char *limit_src;
	int err, limit;

	mw_regions_init(&merged);
	if (reader_of(pid, &src)) {
		err = -ESRCH;
		mw_p_err("maps: pid %u has exited (a zombie its parent has not reaped): it has no "
			 "mappings",
			 pid);
		goto out;
	}
	err = mw_read_maps_text(src, &text);
	if (!err)
		err = mw_maps_parse(text, &merged);
	if (!err)
		err = mw_read_smaps(src, &rss, &nrss);
	if (err) {
		mw_p_err("cannot read the mappings of pid %u: %s", pid, strerror(-err));
		goto out;
	}
	mw_read_start_brk(src, &start_brk);
	if (mw_read_environ(src, &env, &envlen))
		env = NULL;
	al = mw_alloc_new();
	if (!al || mw_alloc_read_facts(src, text, &merged, env, envlen, &facts)) {
		err = -ENOMEM;
		mw_p_err("out of memory");
		goto out;
	}
	mw_alloc_seed(al, &merged, start_brk, &facts, ev, 16);
	if (!json)
		fprintf(f, "%-12s %6s %6s %6s %s %-12s %5s %s\n", "ADDRESS", "SIZE", "COMMIT",
			"RSS", "PERM", "CLASS", "ARENA", "NAME");
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		struct mw_region vma;

		if (mw_maps_parse_line(line, &vma))
			continue;
		if (vma.name && !strcmp(vma.name, "[vsyscall]"))
			continue; /* not part of the mm; pmap -X leaves it out too */
		total += vma.end - vma.start;
		total_rss += rss_of(rss, nrss, vma.start);
		print_row(f, json, pid, ts_ns, &vma, mw_regions_find(&merged, vma.start),
			  rss_of(rss, nrss, vma.start));
	}
	limit = 8 * mw_read_online_cpus();
	limit_src = "8 x online CPUs";
	if (env)
		limit = mw_arena_limit(env, envlen, mw_read_online_cpus(), &limit_src);
	print_summary(f, json, pid, ts_ns, al, total, total_rss, limit, limit_src);
out:
	mw_alloc_facts_free(&facts);
	mw_alloc_free(al);
	mw_regions_free(&merged);
	free(text);
	free(rss);
	free(env);
	return err ? 1 : 0;
}

int mw_maps_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "pid", required_argument, NULL, 'p' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	long pid = 0;
	bool json = false;
	char *end;
	int c;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:p:h", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			pid = strtol(optarg, &end, 10);
			if (end == optarg || *end || pid <= 0 || pid > 1 << 30) {
				mw_p_err("maps: -p: '%s' is not a process id", optarg);
				return 2;
			}
			break;
		case 'j': json = true; break;
		case 'h':
			printf("Usage: memwatch maps -p PID [--json]\n"
			       "Every mapping with its class, arena, committed bytes and RSS (from\n"
			       "/proc/PID/smaps), then the allocator and the arena limit in force.\n");
			return 0;
		default:
			mw_p_err("maps: bad option '%s' (see memwatch maps --help)",
				 argv[optind - 1]);
			return 2;
		}
	}
	if (!pid || optind < argc) {
		mw_p_err("maps: give exactly -p PID (see memwatch maps --help)");
		return 2;
	}
	return maps_of((uint32_t)pid, json, stdout);
}
