// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* memwatch top. See top.h. */
#include <curses.h>
#include <fcntl.h>
#include <inttypes.h>
#include <langinfo.h>
#include <locale.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "alloc/alloc.h"
#include "base/errmsg.h"
#include "ledger/format.h"
#include "ledger/totals.h"
#include "malloc/leak.h"
#include "top.h"
#include "topdata.h"

#define SAMPLE_NS 1000000000ULL
#define SPARK_MAX 60
#define TOP_STACKS 8

enum {
	PAIR_UP = 1,
	PAIR_DOWN,
	PAIR_SPARK,
	PAIR_TITLE
};

struct mw_top {
	struct mw_top_data d;
	enum mw_top_key key;
	char filter[64], edit[64];
	bool editing;
	size_t sel;	 /* selected row among the shown ones */
	uint32_t detail; /* pid whose details are shown, 0: the list */
	int scroll;	 /* first line of the details shown */
	uint64_t next_sample_ns;
	bool utf8, color, dirty;
	int saved_err, err_pipe; /* stderr while the screen is ours: read here, shown last */
	char last_err[256];
	size_t err_len;
};

/* memwatch's own notices (stderr) would scribble over the screen: they go through a pipe
 * while top runs and the latest is shown on the bottom line. */
static void capture_stderr(struct mw_top *t)
{
	int fds[2];

	t->saved_err = t->err_pipe = -1;
	if (pipe2(fds, O_NONBLOCK | O_CLOEXEC))
		return;
	fflush(stderr);
	t->saved_err = dup(STDERR_FILENO);
	if (t->saved_err < 0 || dup2(fds[1], STDERR_FILENO) < 0) {
		close(fds[0]);
		close(fds[1]);
		if (t->saved_err >= 0)
			close(t->saved_err);
		t->saved_err = -1;
		return;
	}
	close(fds[1]);
	t->err_pipe = fds[0];
}

static void read_stderr(struct mw_top *t)
{
	char buf[1024];
	ssize_t n;

	while (t->err_pipe >= 0 && (n = read(t->err_pipe, buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] == '\n') {
				t->last_err[t->err_len] = '\0';
				t->err_len = 0;
				t->dirty = true;
				continue;
			}
			if (t->err_len + 1 < sizeof(t->last_err))
				t->last_err[t->err_len++] = buf[i] >= 32 ? buf[i] : '?';
		}
	}
}

/* The terminal's stderr again; after a failure, the line that says why goes there too. */
static void release_stderr(struct mw_top *t, bool failed)
{
	if (t->saved_err < 0)
		return;
	fflush(stderr);
	read_stderr(t);
	dup2(t->saved_err, STDERR_FILENO);
	close(t->saved_err);
	close(t->err_pipe);
	if (failed && t->err_len) {
		t->last_err[t->err_len] = '\0';
		fprintf(stderr, "%s\n", t->last_err);
	} else if (failed && t->last_err[0]) {
		fprintf(stderr, "%s\n", t->last_err);
	}
}

struct mw_top *mw_top_start(char *err, size_t errsz)
{
	struct mw_top *t;
	const char *cs;

	if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
		mw_fail(err, errsz, -1, "memwatch top needs a terminal on stdin and stdout");
		return NULL;
	}
	t = calloc(1, sizeof(*t));
	if (!t) {
		mw_fail(err, errsz, -1, "out of memory");
		return NULL;
	}
	mw_top_data_init(&t->d);
	setlocale(LC_CTYPE, "");
	cs = nl_langinfo(CODESET);
	t->utf8 = cs && !strcmp(cs, "UTF-8");
	set_escdelay(25);
	if (!initscr()) {
		free(t);
		mw_fail(err, errsz, -1, "cannot set up the terminal (TERM=%s)",
			getenv("TERM") ? getenv("TERM") : "");
		return NULL;
	}
	cbreak(); /* Ctrl-C still stops memwatch, which gives the terminal back */
	noecho();
	nodelay(stdscr, TRUE);
	keypad(stdscr, TRUE);
	curs_set(0);
	/* The eight basic colours only: an 8-colour terminal (or tmux over ssh) shows it all. */
	if (has_colors() && start_color() == OK) {
		use_default_colors();
		init_pair(PAIR_UP, COLOR_RED, -1);
		init_pair(PAIR_DOWN, COLOR_GREEN, -1);
		init_pair(PAIR_SPARK, COLOR_CYAN, -1);
		init_pair(PAIR_TITLE, COLOR_BLACK, COLOR_CYAN);
		t->color = true;
	}
	t->dirty = true;
	capture_stderr(t);
	return t;
}

void mw_top_stop(struct mw_top *t, bool failed)
{
	if (!t)
		return;
	endwin();
	release_stderr(t, failed);
	mw_top_data_free(&t->d);
	free(t);
}

/* ---------- drawing ---------- */

static void put(int y, int x, const char *s)
{
	if (y < LINES && x < COLS)
		mvaddnstr(y, x, s, COLS - x);
}

static void title(struct mw_top *t, const char *text)
{
	attron(t->color ? COLOR_PAIR(PAIR_TITLE) : A_REVERSE);
	move(0, 0);
	clrtoeol();
	for (int x = 0; x < COLS; x++)
		addch(' ');
	put(0, 0, text);
	attroff(t->color ? COLOR_PAIR(PAIR_TITLE) : A_REVERSE);
}

static void size_of(char *buf, size_t sz, uint64_t v)
{
	mw_fmt_size(buf, sz, (int64_t)v);
}

static void rate_of(char *buf, size_t sz, bool known, double v)
{
	if (!known)
		snprintf(buf, sz, "-");
	else
		mw_fmt_delta(buf, sz, (int64_t)v);
}

static size_t shown(struct mw_top *t, size_t *idx, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < t->d.n && n < max; i++)
		if (mw_top_match(&t->d.v[i], t->filter))
			idx[n++] = i;
	return n;
}

static void draw_list(struct mw_top *t)
{
	char head[256], a[32], b[32], c[32], g[32], line[512], spark[SPARK_MAX * 3 + 1];
	size_t idx[1024], n = shown(t, idx, sizeof(idx) / sizeof(idx[0]));
	int spark_w = COLS - 94 > SPARK_MAX ? SPARK_MAX : COLS - 94;

	snprintf(head, sizeof(head), " memwatch top: %zu processes, sorted by %s%s%s%s", n,
		 mw_top_key_name(t->key), *t->filter ? ", filter: " : "", t->filter,
		 t->editing ? "" : "");
	title(t, head);
	if (t->editing) {
		snprintf(line, sizeof(line),
			 "filter (name or pid, Enter applies, Esc cancels): %s_", t->edit);
		put(1, 0, line);
	} else {
		put(1, 0,
		    "sort: m mapped  c committed  r resident  g growth  a arenas  s syscalls/s  "
		    "p pid   / filter   Enter details   q quit");
	}
	attron(A_BOLD);
	snprintf(line, sizeof(line), "%7s %-15s %9s %9s %9s %9s %6s %10s %7s  %s", "PID", "COMM",
		 "MAPPED", "COMMITTED", "RESIDENT", "GROWTH/s", "ARENAS", "SYSCALLS/s", "THREADS",
		 spark_w > 8 ? "MAPPED, LAST MINUTE" : "");
	put(3, 0, line);
	attroff(A_BOLD);
	if (t->sel >= n)
		t->sel = n ? n - 1 : 0;
	for (size_t i = 0; i < n && 4 + (int)i < LINES; i++) {
		const struct mw_top_row *r = &t->d.v[idx[i]];
		char rate[32];

		size_of(a, sizeof(a), r->mapped);
		size_of(b, sizeof(b), r->committed);
		if (r->resident_known)
			size_of(c, sizeof(c), r->resident);
		else
			snprintf(c, sizeof(c), "unknown");
		rate_of(g, sizeof(g), r->growth_known, r->growth);
		if (r->rate_known)
			snprintf(rate, sizeof(rate), "%.1f", r->calls_rate);
		else
			snprintf(rate, sizeof(rate), "-");
		if (i == t->sel)
			attron(A_REVERSE);
		snprintf(line, sizeof(line), "%7" PRIu32 " %-15.15s %9s %9s %9s ", r->pid, r->comm,
			 a, b, c);
		move(4 + (int)i, 0);
		clrtoeol();
		addnstr(line, COLS);
		if (t->color && r->growth_known && r->growth)
			attron(COLOR_PAIR(r->growth > 0 ? PAIR_UP : PAIR_DOWN));
		snprintf(line, sizeof(line), "%9s", g);
		addnstr(line, COLS);
		if (t->color)
			attroff(COLOR_PAIR(PAIR_UP) | COLOR_PAIR(PAIR_DOWN));
		snprintf(line, sizeof(line), " %6zu %10s %7zu  ", r->arenas, rate, r->threads);
		addnstr(line, COLS);
		if (spark_w > 8) {
			mw_sparkline(r->hist, r->nhist, (size_t)spark_w, t->utf8, spark,
				     sizeof(spark));
			if (t->color)
				attron(COLOR_PAIR(PAIR_SPARK));
			addnstr(spark, COLS);
			if (t->color)
				attroff(COLOR_PAIR(PAIR_SPARK));
		}
		if (i == t->sel)
			attroff(A_REVERSE);
	}
	if (!n)
		put(4, 0,
		    *t->filter ? "(no traced process matches the filter)"
			       : "(no traced process yet)");
}

/* The details are drawn as lines, from t->scroll on. */
struct lines {
	struct mw_top *t;
	int y, skip;
};

static void line_out(struct lines *l, bool bold, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void line_out(struct lines *l, bool bold, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	if (l->skip > 0) {
		l->skip--;
		return;
	}
	if (l->y >= LINES)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (bold)
		attron(A_BOLD);
	put(l->y++, 0, buf);
	if (bold)
		attroff(A_BOLD);
}

static void detail_threads(struct lines *l, const struct mw_process *p)
{
	char a[32], b[32];

	line_out(l, true, "%7s %-15s %6s %6s %6s %6s %6s %6s %6s %9s %9s", "TID", "COMM", "brk",
		 "mmap", "munmap", "mprot", "mremap", "madv", "errors", "NET", "ACCESS");
	for (size_t i = 0; i < p->nthreads; i++) {
		const struct mw_thread *t = &p->threads[i];
		const struct mw_counts *k = mw_thread_counts(t);
		uint64_t errors = 0;

		for (int s = 0; s < MW_SYS_COUNT; s++)
			errors += k->errors[s];
		mw_fmt_delta(a, sizeof(a), mw_thread_net(t));
		mw_fmt_delta(b, sizeof(b), t->accessible);
		line_out(l, false,
			 "%7" PRIu32 " %-15.15s %6" PRIu64 " %6" PRIu64 " %6" PRIu64 " %6" PRIu64
			 " %6" PRIu64 " %6" PRIu64 " %6" PRIu64 " %9s %9s%s",
			 t->tid, t->comm, k->calls[MW_SYS_BRK], k->calls[MW_SYS_MMAP],
			 k->calls[MW_SYS_MUNMAP], k->calls[MW_SYS_MPROTECT],
			 k->calls[MW_SYS_MREMAP], k->calls[MW_SYS_MADVISE], errors, a, b,
			 t->exited ? "  (exited)" : "");
	}
}

static void detail_arenas(struct lines *l, const struct mw_process *p)
{
	size_t n = p->alloc ? mw_alloc_narenas(p->alloc) : 0;
	char a[32], b[32], c[32];

	line_out(l, false, "%s", "");
	if (!n) {
		line_out(l, false, "no glibc arenas besides main (allocator %s)",
			 p->alloc ? mw_allocator_name(mw_alloc_allocator(p->alloc)) : "unknown");
		return;
	}
	line_out(l, true, "%7s %7s %5s %9s %9s %9s %7s", "ARENA", "CREATOR", "HEAPS", "RESERVED",
		 "COMMITTED", "TRIMMED", "THREADS");
	for (size_t i = 0; i < n; i++) {
		const struct mw_arena *ar = mw_alloc_arena(p->alloc, i);

		size_of(a, sizeof(a), ar->reserved);
		size_of(b, sizeof(b), ar->committed);
		size_of(c, sizeof(c), ar->trimmed);
		line_out(l, false, "%7d %7" PRIu32 " %5zu %9s %9s %9s %7zu", ar->id,
			 ar->creator_tid, ar->nheaps, a, b, c, ar->nthreads);
	}
}

static void detail_classes(struct lines *l, const struct mw_totals *tot)
{
	char a[32], b[32];

	line_out(l, false, "%s", "");
	line_out(l, true, "%-13s %9s %9s", "CLASS", "MAPPED", "COMMITTED");
	for (int c = 0; c < MW_CLASS_COUNT; c++) {
		if (!tot->mapped_by[c])
			continue;
		size_of(a, sizeof(a), tot->mapped_by[c]);
		size_of(b, sizeof(b), tot->committed_by[c]);
		line_out(l, false, "%-13s %9s %9s", mw_class_name(c), a, b);
	}
}

static void detail_stacks(struct lines *l, const struct mw_process *p, const struct mw_mledger *ml)
{
	struct mw_leak_row *rows = NULL;
	long n;

	line_out(l, false, "%s", "");
	if (!ml) {
		line_out(l, false,
			 "(memwatch top --malloc shows the call stacks that hold the heap)");
		return;
	}
	/* Held: the blocks of known fate (none freed while the probes were away). */
	n = mw_mledger_known_rows(ml, p->pid, UINT64_MAX, false, &rows);
	line_out(l, true, "%10s %8s  %s", "HELD", "BLOCKS", "ALLOCATED AT (innermost first)");
	for (long i = 0; i < n && i < TOP_STACKS; i++) {
		const struct mw_stack_ent *st = &ml->leak.stacks[rows[i].stack];
		char where[400] = "", name[160], a[32];
		size_t off = 0;

		for (uint32_t k = 0; k < st->n && k < 4 && off < sizeof(where) - 1; k++) {
			mw_frame_name(st->frames ? &st->frames[k] : NULL, st->ips[k], name,
				      sizeof(name));
			off += (size_t)snprintf(where + off, sizeof(where) - off, "%s%s",
						k ? " < " : "", name);
		}
		size_of(a, sizeof(a), (uint64_t)rows[i].bytes);
		line_out(l, false, "%10s %8.0f  %s", a, rows[i].count,
			 st->n ? where : "(stack unknown)");
	}
	if (n == 0)
		line_out(l, false, "(no outstanding blocks)");
	free(rows);
}

static void draw_detail(struct mw_top *t, const struct mw_session *s, const struct mw_mledger *ml)
{
	const struct mw_process *p = mw_model_find(&s->model, t->detail);
	struct lines l = { .t = t, .y = 3, .skip = t->scroll };
	char head[256], res[48];
	struct mw_totals tot;
	size_t live = 0;

	if (!p || p->exited) {
		snprintf(head, sizeof(head), " pid %u: no longer traced   Esc: back  q: quit",
			 t->detail);
		title(t, head);
		return;
	}
	snprintf(head, sizeof(head), " pid %u (%s)   Up/Down scroll  Esc: back  q: quit", p->pid,
		 p->comm);
	title(t, head);
	mw_process_totals(p, &tot);
	for (size_t i = 0; i < p->nthreads; i++)
		live += !p->threads[i].exited;
	if (p->resident.known)
		snprintf(res, sizeof(res), "%" PRIu64 " B", mw_resident_bytes(&p->resident));
	else
		snprintf(res, sizeof(res), "unknown");
	/* Exact bytes here: the numbers to compare with NDJSON and Prometheus. */
	snprintf(head, sizeof(head),
		 "mapped %" PRIu64 " B  committed %" PRIu64 " B  resident %s  threads %zu  "
		 "arenas %zu  syscalls %" PRIu64,
		 tot.mapped, tot.committed, res, live, p->alloc ? mw_alloc_narenas(p->alloc) : 0,
		 mw_process_calls(p));
	put(1, 0, head);
	detail_threads(&l, p);
	detail_arenas(&l, p);
	detail_classes(&l, &tot);
	detail_stacks(&l, p, ml);
}

static void draw(struct mw_top *t, const struct mw_session *s, const struct mw_mledger *ml)
{
	erase();
	if (t->detail)
		draw_detail(t, s, ml);
	else
		draw_list(t);
	if (t->last_err[0] && LINES > 5) {
		move(LINES - 1, 0);
		clrtoeol();
		put(LINES - 1, 0, t->last_err);
	}
	refresh();
	t->dirty = false;
}

/* ---------- keys ---------- */

static void edit_key(struct mw_top *t, int c)
{
	size_t len = strlen(t->edit);

	if (c == '\n' || c == '\r' || c == KEY_ENTER) {
		memcpy(t->filter, t->edit, sizeof(t->filter));
		t->editing = false;
		t->sel = 0;
	} else if (c == 27) {
		t->editing = false;
	} else if ((c == KEY_BACKSPACE || c == 127 || c == 8) && len) {
		t->edit[len - 1] = '\0';
	} else if (c >= 32 && c < 127 && len + 1 < sizeof(t->edit)) {
		t->edit[len] = (char)c;
		t->edit[len + 1] = '\0';
	}
}

static void select_row(struct mw_top *t)
{
	size_t idx[1024], n = shown(t, idx, sizeof(idx) / sizeof(idx[0]));

	if (t->sel < n) {
		t->detail = t->d.v[idx[t->sel]].pid;
		t->scroll = 0;
	}
}

/* True: quit. */
static bool key(struct mw_top *t, int c)
{
	static const char sort_keys[MW_TOP_NKEYS] = { 'm', 'c', 'r', 'g', 'a', 's', 'p' };

	t->dirty = true;
	if (t->editing) {
		edit_key(t, c);
		return false;
	}
	if (c == 'q' || c == 'Q')
		return true;
	if (t->detail) {
		if (c == 27 || c == KEY_LEFT || c == KEY_BACKSPACE || c == 'b')
			t->detail = 0;
		else if (c == KEY_DOWN || c == 'j')
			t->scroll++;
		else if ((c == KEY_UP || c == 'k') && t->scroll > 0)
			t->scroll--;
		return false;
	}
	for (int k = 0; k < MW_TOP_NKEYS; k++)
		if (c == sort_keys[k])
			t->key = k;
	if (c == '/') {
		t->editing = true;
		memcpy(t->edit, t->filter, sizeof(t->edit));
	} else if (c == KEY_DOWN || c == 'j') {
		t->sel++;
	} else if ((c == KEY_UP || c == 'k') && t->sel > 0) {
		t->sel--;
	} else if (c == '\n' || c == '\r' || c == KEY_ENTER || c == KEY_RIGHT) {
		select_row(t);
	}
	return false;
}

bool mw_top_tick(struct mw_top *t, struct mw_session *s, const struct mw_mledger *ml,
		 uint64_t now_ns)
{
	int c;

	read_stderr(t);
	while ((c = getch()) != ERR) {
		if (c == KEY_RESIZE) {
			t->dirty = true;
			continue;
		}
		if (key(t, c))
			return true;
	}
	if (now_ns >= t->next_sample_ns) {
		mw_session_counters_now(s);
		mw_top_refresh(&t->d, &s->model);
		mw_top_sample(&t->d, &s->model, now_ns);
		t->next_sample_ns = now_ns + SAMPLE_NS;
		t->dirty = true;
	} else if (t->dirty) {
		mw_top_refresh(&t->d, &s->model);
	}
	if (t->dirty) {
		mw_top_sort(&t->d, t->key);
		draw(t, s, ml);
	}
	return false;
}
