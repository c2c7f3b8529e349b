// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Trigger specifications and their evaluation on samples. See trigger.h. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "base/errmsg.h"
#include "base/size.h"
#include "trigger.h"

static const char *const metric_names[MW_TM_COUNT] = { "mapped", "committed", "resident" };

const char *mw_trig_metric_name(enum mw_trig_metric m)
{
	return m < MW_TM_COUNT ? metric_names[m] : "?";
}

int mw_trig_parse_duration(const char *s, uint64_t *ns)
{
	static const struct {
		const char *unit;
		double ns;
	} units[] = { { "ms", 1e6 }, { "s", 1e9 }, { "m", 60e9 }, { "h", 3600e9 }, { "", 1e9 } };
	char *end;
	double v;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtod(s, &end);
	if (errno || !isfinite(v) || v <= 0)
		return -1;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(end, units[i].unit))
			continue;
		if (v * units[i].ns >= 1e18 || v * units[i].ns < 1e6)
			return -1; /* a millisecond to 31 years */
		*ns = (uint64_t)(v * units[i].ns);
		return 0;
	}
	return -1;
}

/* After a name: ">=" or ">". Returns the text after it, or NULL. */
static const char *after_ge(const char *s)
{
	if (s[0] != '>')
		return NULL;
	return s[1] == '=' ? s + 2 : s + 1;
}

static int parse_metric(const char *s, const char *rest, struct mw_trigger *t, char *err,
			size_t errsz)
{
	char size[32];
	const char *slash, *lv;

	if (*rest == '+') {
		slash = strchr(rest, '/');
		if (!slash || (size_t)(slash - rest - 1) >= sizeof(size))
			return mw_fail(
				err, errsz, -1,
				"--trigger: '%s': growth needs SIZE/WINDOW (e.g. %s+512M/10m)", s,
				mw_trig_metric_name(t->metric));
		memcpy(size, rest + 1, slash - rest - 1);
		size[slash - rest - 1] = '\0';
		if (mw_parse_size(size, "KMG", &t->bytes) || !t->bytes)
			return mw_fail(err, errsz, -1, "--trigger: '%s': '%s' is not a size", s,
				       size);
		if (mw_trig_parse_duration(slash + 1, &t->window_ns))
			return mw_fail(err, errsz, -1,
				       "--trigger: '%s': '%s' is not a window (e.g. 30s, 10m, 1h)",
				       s, slash + 1);
		t->kind = MW_TRIG_GROWTH;
		return 0;
	}
	lv = after_ge(rest);
	if (!lv)
		return mw_fail(err, errsz, -1,
			       "--trigger: '%s': expected %s+SIZE/WINDOW or %s>=SIZE", s,
			       mw_trig_metric_name(t->metric), mw_trig_metric_name(t->metric));
	if (mw_parse_size(lv, "KMG", &t->bytes) || !t->bytes)
		return mw_fail(err, errsz, -1, "--trigger: '%s': '%s' is not a size", s, lv);
	t->kind = MW_TRIG_LEVEL;
	return 0;
}

int mw_trigger_parse(const char *s, struct mw_trigger *t, char *err, size_t errsz)
{
	const char *lv;
	char *end;

	memset(t, 0, sizeof(*t));
	if (strlen(s) >= sizeof(t->spec))
		return mw_fail(err, errsz, -1, "--trigger: '%.40s...' is too long", s);
	strcpy(t->spec, s);
	for (int m = 0; m < MW_TM_COUNT; m++) {
		size_t len = strlen(metric_names[m]);

		if (!strncmp(s, metric_names[m], len) && (s[len] == '+' || s[len] == '>')) {
			t->metric = (enum mw_trig_metric)m;
			return parse_metric(s, s + len, t, err, errsz);
		}
	}
	if (!strncmp(s, "arenas", 6) && (lv = after_ge(s + 6))) {
		t->kind = MW_TRIG_ARENAS;
		if (!strcmp(lv, "limit"))
			return 0;
		errno = 0;
		t->n = (uint32_t)strtoul(lv, &end, 10);
		if (*lv < '0' || *lv > '9' || errno || *end || !t->n || t->n > 1 << 20)
			return mw_fail(err, errsz, -1,
				       "--trigger: '%s': arenas>= takes 'limit' or a count", s);
		return 0;
	}
	if (!strncmp(s, "cgroup", 6) && (lv = after_ge(s + 6))) {
		t->kind = MW_TRIG_CGROUP;
		errno = 0;
		t->pct = strtod(lv, &end);
		if (*lv < '0' || *lv > '9' || errno || strcmp(end, "%") || !(t->pct > 0) ||
		    t->pct > 100)
			return mw_fail(err, errsz, -1,
				       "--trigger: '%s': cgroup>= takes a percentage (e.g. 90%%)",
				       s);
		return 0;
	}
	if (!strcmp(s, "diagnosis") || !strncmp(s, "diagnosis=", 10)) {
		t->kind = MW_TRIG_DIAGNOSIS;
		if (s[9] == '=' && (!s[10] || strlen(s + 10) >= sizeof(t->diag)))
			return mw_fail(err, errsz, -1,
				       "--trigger: '%s': diagnosis=KIND needs a kind", s);
		if (s[9] == '=')
			strcpy(t->diag, s + 10);
		return 0;
	}
	return mw_fail(err, errsz, -1,
		       "--trigger: '%s' is not a trigger (mapped|committed|resident+SIZE/WINDOW, "
		       "...>=SIZE, arenas>=limit|N, cgroup>=PCT%%, diagnosis[=KIND])",
		       s);
}

void mw_trig_reset(struct mw_trig_proc *p)
{
	memset(p, 0, sizeof(*p));
}

/* The growth ring of one trigger: keep samples window/16 apart, none older than the window. */
static void growth_sample(struct mw_trig_state *st, uint64_t window, uint64_t ts, uint64_t v)
{
	uint64_t gap = window / MW_TRIG_HISTORY;

	while (st->nhist && st->hist[st->head].ts_ns + window < ts) {
		st->head = (st->head + 1) % MW_TRIG_HISTORY;
		st->nhist--;
	}
	if (st->nhist) {
		uint32_t last = (st->head + st->nhist - 1) % MW_TRIG_HISTORY;

		if (ts < st->hist[last].ts_ns + gap)
			return;
	}
	if (st->nhist == MW_TRIG_HISTORY) {
		st->head = (st->head + 1) % MW_TRIG_HISTORY;
		st->nhist--;
	}
	st->hist[(st->head + st->nhist) % MW_TRIG_HISTORY].ts_ns = ts;
	st->hist[(st->head + st->nhist) % MW_TRIG_HISTORY].v = v;
	st->nhist++;
}

static bool growth_fires(const struct mw_trigger *t, struct mw_trig_state *st,
			 const struct mw_trig_sample *s, struct mw_trig_fire *f)
{
	uint64_t v = s->v[t->metric], from = v, from_ts = s->ts_ns;

	if (!s->have[t->metric]) {
		st->nhist = 0; /* a gap: growth is measured again from the next value */
		return false;
	}
	growth_sample(st, t->window_ns, s->ts_ns, v);
	for (uint32_t i = 0; i < st->nhist; i++) {
		uint32_t k = (st->head + i) % MW_TRIG_HISTORY;

		if (st->hist[k].v < from) {
			from = st->hist[k].v;
			from_ts = st->hist[k].ts_ns;
		}
	}
	if (st->have_base && st->base_ts + t->window_ns < s->ts_ns)
		st->have_base = false;
	if (st->have_base && st->base > from) {
		from = st->base;
		from_ts = st->base_ts;
	}
	if (v < from || v - from < t->bytes)
		return false;
	st->have_base = true;
	st->base = v;
	st->base_ts = s->ts_ns;
	f->value = v;
	f->from = from;
	f->from_ts_ns = from_ts;
	return true;
}

static bool has_diag(const struct mw_trigger *t, const struct mw_trig_sample *s)
{
	for (size_t i = 0; i < s->ndiags; i++)
		if (!t->diag[0] || !strcmp(t->diag, s->diags[i]))
			return true;
	return false;
}

/* A level: true while past it. value/from: for the record. */
static bool level_holds(const struct mw_trigger *t, const struct mw_trig_sample *s,
			struct mw_trig_fire *f)
{
	switch (t->kind) {
	case MW_TRIG_LEVEL:
		f->value = s->v[t->metric];
		f->from = t->bytes;
		return s->have[t->metric] && s->v[t->metric] >= t->bytes;
	case MW_TRIG_ARENAS: {
		/* glibc's limit counts the main arena; narenas does not. */
		uint64_t level = t->n ? t->n
				      : (s->arena_limit > 0 ? (uint64_t)s->arena_limit - 1 : 0);

		f->value = s->narenas < 0 ? 0 : (uint64_t)s->narenas;
		f->from = level;
		return s->narenas >= 0 && level && f->value >= level;
	}
	case MW_TRIG_CGROUP:
		f->value = s->cg_usage;
		f->from = s->cg_limit;
		return s->cg_limit && (double)s->cg_usage >= (double)s->cg_limit * t->pct / 100;
	case MW_TRIG_DIAGNOSIS: f->value = f->from = 0; return has_diag(t, s);
	case MW_TRIG_GROWTH: break;
	}
	return false;
}

size_t mw_trig_eval(const struct mw_trigger *t, size_t n, struct mw_trig_proc *p,
		    const struct mw_trig_sample *s, struct mw_trig_fire *out, size_t max)
{
	size_t fired = 0;

	for (size_t i = 0; i < n && i < MW_TRIG_MAX; i++) {
		struct mw_trig_state *st = &p->st[i];
		struct mw_trig_fire f = { .trigger = i };
		bool now;

		if (t[i].kind == MW_TRIG_GROWTH) {
			if (!growth_fires(&t[i], st, s, &f))
				continue;
		} else {
			now = level_holds(&t[i], s, &f);
			if (!now || st->fired) {
				st->fired = now;
				continue;
			}
			st->fired = true;
		}
		if (fired < max)
			out[fired++] = f;
	}
	return fired;
}
