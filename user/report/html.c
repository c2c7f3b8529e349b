// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The report's page. See html.h. */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "html.h"
#include "ledger/format.h"

#define CW 960 /* chart width and height, margins */
#define CH 220
#define ML 70
#define MR 150
#define MT 24
#define MB 26
#define FW 1100 /* flame graph width, row height */
#define FH 18

static const char *const palette[] = {
	"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948",
	"#b07aa1", "#ff9da7", "#9c755f", "#bab0ac", "#1f77b4", "#8c564b",
};

static void esc(FILE *f, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '&': fputs("&amp;", f); break;
		case '"': fputs("&quot;", f); break;
		case '\'': fputs("&#39;", f); break;
		default:
			if ((unsigned char)*s >= 0x20 || *s == '\t')
				fputc(*s, f);
		}
	}
}

static const char *human(char *buf, size_t sz, double v)
{
	mw_fmt_size(buf, sz, (int64_t)v);
	return buf;
}

static void span_text(char *buf, size_t sz, double s)
{
	if (s < 120)
		snprintf(buf, sz, "%.3gs", s);
	else if (s < 7200)
		snprintf(buf, sz, "%.0fm%02.0fs", floor(s / 60), fmod(s, 60));
	else
		snprintf(buf, sz, "%.0fh%02.0fm", floor(s / 3600), fmod(s / 60, 60));
}

/* ---------- charts ---------- */

struct chart {
	FILE *f;
	double ymin, ymax;
	size_t nb;
	int legend; /* legend rows written */
};

static double cx(const struct chart *c, size_t b)
{
	return ML + (double)b * (CW - ML - MR) / (double)(c->nb > 1 ? c->nb - 1 : 1);
}

static double cy(const struct chart *c, double v)
{
	double span = c->ymax > c->ymin ? c->ymax - c->ymin : 1;

	return MT + (CH - MT - MB) * (1 - (v - c->ymin) / span);
}

static void chart_begin(struct chart *c, FILE *f, const struct mw_rep *r, const char *title,
			double ymin, double ymax, size_t nb)
{
	double secs = (double)(r->t1 - r->t0) / 1e9;
	char a[32];

	c->f = f;
	c->ymin = ymin < 0 ? ymin : 0;
	c->ymax = ymax > c->ymin ? ymax * 1.05 : c->ymin + 1;
	c->nb = nb;
	c->legend = 0;
	fprintf(f, "<svg class=\"chart\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\">", CW, CH,
		CW, CH);
	fprintf(f, "<text x=\"%d\" y=\"15\" class=\"ct\">", ML);
	esc(f, title);
	fputs("</text>", f);
	for (int i = 0; i <= 4; i++) {
		double v = c->ymin + (c->ymax - c->ymin) * i / 4, y = cy(c, v);

		fprintf(f, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" class=\"grid\"/>", ML,
			CW - MR, y, y);
		fprintf(f, "<text x=\"%d\" y=\"%.1f\" class=\"yl\">%s</text>", ML - 6, y + 4,
			human(a, sizeof(a), v));
	}
	for (int i = 0; i <= 5; i++) {
		double x = ML + (CW - ML - MR) * i / 5.0;

		span_text(a, sizeof(a), secs * i / 5);
		fprintf(f, "<text x=\"%.1f\" y=\"%d\" class=\"xl\">%s</text>", x, CH - 8, a);
	}
}

static void legend(struct chart *c, const char *color, const char *label)
{
	FILE *f = c->f;
	int y = MT + 4 + c->legend++ * 16;

	fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"10\" height=\"10\" fill=\"%s\"/>", CW - MR + 8,
		y, color);
	fprintf(f, "<text x=\"%d\" y=\"%d\" class=\"lg\">", CW - MR + 22, y + 9);
	esc(f, label);
	fputs("</text>", f);
}

/* Bucket values carried forward (a step line: each value holds until the next). */
static void carried(const struct mw_rep_series *s, double *out, bool *known)
{
	bool have = false;
	double v = 0;

	for (size_t b = 0; b < s->nb; b++) {
		if (s->set[b]) {
			v = (double)s->v[b];
			have = true;
		}
		out[b] = v;
		known[b] = have;
	}
}

static void chart_line(struct chart *c, const struct mw_rep_series *s, const char *color,
		       const char *label, bool dots)
{
	double *v = calloc(s->nb, sizeof(double));
	bool *k = calloc(s->nb, sizeof(bool)), started = false;

	if (!v || !k)
		goto out;
	carried(s, v, k);
	fprintf(c->f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" points=\"",
		color);
	for (size_t b = 0; b < s->nb; b++) {
		if (!k[b])
			continue;
		if (started)
			fprintf(c->f, "%.1f,%.1f ", cx(c, b), cy(c, v[b - 1]));
		fprintf(c->f, "%.1f,%.1f ", cx(c, b), cy(c, v[b]));
		started = true;
	}
	fputs("\"/>", c->f);
	/* Values known only at reports (committed, resident): a dot at each, so a run with one
	 * report still shows its value. */
	for (size_t b = 0; b < s->nb; b++)
		if (s->set[b] && dots)
			fprintf(c->f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>",
				cx(c, b), cy(c, v[b]), color);
	legend(c, color, label);
out:
	free(v);
	free(k);
}

static double series_max(const struct mw_rep_series *s, double *min)
{
	double m = 0;

	for (size_t b = 0; b < s->nb; b++)
		if (s->set[b]) {
			m = (double)s->v[b] > m ? (double)s->v[b] : m;
			if (min && (double)s->v[b] < *min)
				*min = (double)s->v[b];
		}
	return m;
}

static void chart_sizes(FILE *f, const struct mw_rep *r, const struct mw_rep_proc *p)
{
	struct chart c;
	double ymax = series_max(&p->mapped, NULL);
	char label[64];

	chart_begin(&c, f, r, "Address space of the process: mapped, committed, resident", 0, ymax,
		    MW_REP_BUCKETS);
	chart_line(&c, &p->mapped, palette[0], "mapped", false);
	if (p->have_committed)
		chart_line(&c, &p->committed, palette[1], "committed", true);
	if (p->have_resident) {
		chart_line(&c, &p->resident, palette[2], "resident", true);
	} else {
		snprintf(label, sizeof(label), "resident: unknown");
		legend(&c, "#ddd", label);
	}
	fputs("</svg>\n", f);
}

static const struct mw_rep_series *thread_series(const struct mw_rep_thread *t, bool acc)
{
	return acc ? &t->acc : &t->net;
}

/* Threads stacked: each one's net mapped (its own calls' sum) or net committed (at each
 * report); below zero drawn as zero. */
static void chart_threads(FILE *f, const struct mw_rep *r, const size_t *idx, size_t n, bool acc)
{
	size_t nb = MW_REP_TBUCKETS, shown = n < MW_REP_MAX_THREADS ? n : MW_REP_MAX_THREADS;
	double *sum = calloc(nb, sizeof(double)), *v = calloc(nb, sizeof(double));
	double *base = calloc(nb, sizeof(double)), ymax = 0;
	bool *k = calloc(nb, sizeof(bool));
	struct chart c;
	char label[64];

	if (!sum || !v || !base || !k)
		goto out;
	for (size_t i = 0; i < n; i++) {
		carried(thread_series(&r->threads[idx[i]], acc), v, k);
		for (size_t b = 0; b < nb; b++)
			sum[b] += v[b] > 0 ? v[b] : 0;
	}
	for (size_t b = 0; b < nb; b++)
		ymax = sum[b] > ymax ? sum[b] : ymax;
	chart_begin(&c, f, r,
		    acc ? "Per thread: the accessible bytes each thread's calls added (stacked, at "
			  "each report)"
			: "Per thread: what each thread mapped, less what it unmapped (stacked)",
		    0, ymax, nb);
	for (size_t i = 0; i <= shown && i < n + 1; i++) {
		bool other = i == shown;

		if (other && shown == n)
			break;
		memset(v, 0, nb * sizeof(double));
		for (size_t j = other ? shown : i; j < (other ? n : i + 1); j++) {
			double *t = calloc(nb, sizeof(double));

			if (!t)
				goto out;
			carried(thread_series(&r->threads[idx[j]], acc), t, k);
			for (size_t b = 0; b < nb; b++)
				v[b] += t[b] > 0 ? t[b] : 0;
			free(t);
		}
		fprintf(f, "<polygon fill=\"%s\" fill-opacity=\"0.8\" points=\"",
			other ? "#999" : palette[i % 12]);
		for (size_t b = 0; b < nb; b++)
			fprintf(f, "%.1f,%.1f ", cx(&c, b), cy(&c, base[b] + v[b]));
		for (size_t b = nb; b-- > 0;)
			fprintf(f, "%.1f,%.1f ", cx(&c, b), cy(&c, base[b]));
		fputs("\"/>", f);
		for (size_t b = 0; b < nb; b++)
			base[b] += v[b];
		if (other)
			snprintf(label, sizeof(label), "%zu other threads", n - shown);
		else
			snprintf(label, sizeof(label), "%u %s", r->threads[idx[i]].tid,
				 r->threads[idx[i]].comm);
		legend(&c, other ? "#999" : palette[i % 12], label);
	}
	fputs("</svg>\n", f);
out:
	free(sum);
	free(v);
	free(base);
	free(k);
}

/* Arena count over time, and one lane per thread that created arenas, a mark per creation. */
static void chart_arenas(FILE *f, const struct mw_rep *r, const struct mw_rep_proc *p)
{
	uint32_t lanes[MW_REP_MAX_LANES];
	size_t nl = 0, count = 0;
	int h;
	struct chart c = { .f = f, .nb = MW_REP_BUCKETS, .ymin = 0 };
	double secs = (double)(r->t1 - r->t0) / 1e9, x0 = ML, y = 0;
	char a[32];

	for (size_t i = 0; i < p->naev; i++) {
		bool seen = false;

		for (size_t l = 0; l < nl; l++)
			seen |= lanes[l] == p->aev[i].tid;
		if (!seen && nl < MW_REP_MAX_LANES)
			lanes[nl++] = p->aev[i].tid;
	}
	h = MT + 60 + (int)nl * 18 + MB;
	fprintf(f, "<svg class=\"chart\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\">", CW, h,
		CW, h);
	fprintf(f,
		"<text x=\"%d\" y=\"15\" class=\"ct\">Arenas: how many, and which thread "
		"created each (a mark per arena, a ring per added heap)</text>",
		ML);
	for (size_t i = 0; i < p->naev; i++)
		count += p->aev[i].created;
	/* The count, as a step line in a 50-pixel band. */
	fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" points=\"%d,%d ",
		palette[0], ML, MT + 50);
	for (size_t i = 0, k = 0; i < p->naev; i++) {
		double x = ML + (double)mw_rep_bucket(r, p->aev[i].ts, c.nb) * (CW - ML - MR) /
					(double)(c.nb - 1);

		if (!p->aev[i].created)
			continue;
		y = MT + 50 - 45.0 * (double)++k / (double)(count ? count : 1);
		fprintf(f, "%.1f,%.1f %.1f,%.1f ", x,
			MT + 50 - 45.0 * (double)(k - 1) / (double)(count ? count : 1), x, y);
		x0 = x;
	}
	fprintf(f, "%d,%.1f\"/>", CW - MR, p->naev ? y : MT + 50.0);
	(void)x0;
	fprintf(f, "<text x=\"%d\" y=\"%d\" class=\"yl\">%zu</text>", ML - 6, MT + 10, count);
	fprintf(f, "<text x=\"%d\" y=\"%d\" class=\"yl\">0</text>", ML - 6, MT + 52);
	for (size_t l = 0; l < nl; l++) {
		int ly = MT + 70 + (int)l * 18;
		const char *comm = "";

		for (size_t i = 0; i < r->nthreads; i++)
			if (r->threads[i].pid == p->pid && r->threads[i].tid == lanes[l])
				comm = r->threads[i].comm;
		fprintf(f, "<line x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\" class=\"grid\"/>", ML,
			CW - MR, ly, ly);
		fprintf(f, "<text x=\"%d\" y=\"%d\" class=\"lg\">%u ", CW - MR + 8, ly + 4,
			lanes[l]);
		esc(f, comm);
		fputs("</text>", f);
		for (size_t i = 0; i < p->naev; i++) {
			const struct mw_rep_arena_ev *e = &p->aev[i];
			double x = ML + (double)mw_rep_bucket(r, e->ts, c.nb) * (CW - ML - MR) /
						(double)(c.nb - 1);

			if (e->tid != lanes[l])
				continue;
			fprintf(f,
				"<circle cx=\"%.1f\" cy=\"%d\" r=\"5\" fill=\"%s\" stroke=\"%s\">"
				"<title>arena %d %s by thread %u at +%.6fs</title></circle>",
				x, ly, e->created ? palette[1] : "none", palette[1], e->arena,
				e->created ? "created" : "got a heap", e->tid,
				(double)(e->ts - r->t0) / 1e9);
		}
	}
	for (int i = 0; i <= 5; i++) {
		span_text(a, sizeof(a), secs * i / 5);
		fprintf(f, "<text x=\"%.1f\" y=\"%d\" class=\"xl\">%s</text>",
			ML + (CW - ML - MR) * i / 5.0, h - 8, a);
	}
	fputs("</svg>\n", f);
	if (p->aev_dropped)
		fprintf(f, "<p class=\"note\">%zu more arena events are not drawn.</p>\n",
			p->aev_dropped);
}

/* ---------- flame graph (icicle: the outermost frame on top) ---------- */

struct flame {
	FILE *f;
	const struct mw_rep_tree *t;
	double total;
	size_t drawn, hidden;
	int depth;
};

static void flame_node(struct flame *fl, uint32_t k, double x, int d)
{
	const struct mw_rep_node *n = &fl->t->v[k];
	double w = n->value / fl->total * FW, cx = x;
	char a[32];
	int chars = (int)(w / 7);

	if (w < 0.5 || fl->drawn >= MW_REP_MAX_NODES) {
		fl->hidden++;
		return;
	}
	fl->drawn++;
	fl->depth = d + 1 > fl->depth ? d + 1 : fl->depth;
	fprintf(fl->f, "<g class=\"f\" data-x=\"%.2f\" data-w=\"%.2f\" data-d=\"%d\">", x, w, d);
	fprintf(fl->f, "<title>");
	esc(fl->f, n->name);
	if (n->where[0]) {
		fputs(" ", fl->f);
		esc(fl->f, n->where);
	}
	fprintf(fl->f, ": %s (%.1f%%)</title>", human(a, sizeof(a), n->value),
		100 * n->value / fl->total);
	fprintf(fl->f,
		"<rect x=\"%.2f\" y=\"%d\" width=\"%.2f\" height=\"%d\" fill=\"hsl(%d,70%%,%d%%)\"/>",
		x, d * FH, w, FH - 1, 20 + (int)(strlen(n->name) * 7 % 40), 60 + d % 3 * 5);
	fprintf(fl->f, "<text x=\"%.2f\" y=\"%d\">", x + 3, d * FH + 13);
	if (chars > 2) {
		char name[MW_REP_FRAME_LEN];

		snprintf(name, sizeof(name), "%s", n->name);
		if ((int)strlen(name) > chars)
			name[chars > 2 ? chars - 2 : 0] = '\0';
		esc(fl->f, name);
		if (strlen(name) < strlen(n->name))
			fputs("..", fl->f);
	}
	fputs("</text></g>", fl->f);
	for (uint32_t c = n->child; c; c = fl->t->v[c].next) {
		flame_node(fl, c, cx, d + 1);
		cx += fl->t->v[c].value / fl->total * FW;
	}
}

static void flame_graph(FILE *f, const struct mw_rep_tree *t, const char *title, int id)
{
	struct flame fl = { .f = f, .t = t };
	char a[32];
	long pos;

	if (!t->n || t->v[0].value <= 0)
		return;
	fl.total = t->v[0].value;
	fprintf(f, "<h3>");
	esc(f, title);
	fprintf(f, ": %s%s</h3>\n", human(a, sizeof(a), fl.total),
		t->estimated ? " (estimated)" : "");
	fprintf(f,
		"<div class=\"fctl\">search <input type=\"search\" data-flame=\"fg%d\" "
		"placeholder=\"function name\"> <button data-reset=\"fg%d\">reset zoom</button> "
		"<span class=\"match\" id=\"fg%d-match\"></span> (click a box to zoom)</div>\n",
		id, id, id);
	/* The height is known once the nodes are out: written in a placeholder, patched after. */
	fprintf(f, "<svg class=\"flame\" id=\"fg%d\" width=\"%d\" ", id, FW);
	pos = ftell(f);
	fprintf(f, "height=\"%06d\" viewBox=\"0 0 %d %06d\">", 0, FW, 0);
	flame_node(&fl, 0, 0, 0);
	fputs("</svg>\n", f);
	if (pos >= 0 && fseek(f, pos, SEEK_SET) == 0) {
		fprintf(f, "height=\"%06d\" viewBox=\"0 0 %d %06d\">", fl.depth * FH, FW,
			fl.depth * FH);
		fseek(f, 0, SEEK_END);
	}
	if (fl.hidden)
		fprintf(f,
			"<p class=\"note\">%zu call paths too narrow to draw are left out.</p>\n",
			fl.hidden);
}

/* ---------- page ---------- */

static const char css[] =
	"body{font:14px/1.4 sans-serif;margin:20px;color:#222}"
	"h1{font-size:20px}h2{font-size:17px;margin-top:32px;border-bottom:1px solid #ccc}"
	"h3{font-size:15px}table{border-collapse:collapse;margin:8px 0}"
	"td,th{padding:2px 10px;text-align:right;border-bottom:1px solid #eee}"
	"td.l,th.l{text-align:left}.chart{display:block;margin:10px 0}"
	".ct{font-weight:bold;font-size:13px}.yl{font-size:11px;text-anchor:end;fill:#555}"
	".xl{font-size:11px;text-anchor:middle;fill:#555}.lg{font-size:11px}"
	".grid{stroke:#e6e6e6}.flame text{font-size:11px;pointer-events:none}"
	".flame g{cursor:pointer}.flame rect{stroke:#fff;stroke-width:0.5}"
	".flame rect.hit{fill:#e040fb}.diag{background:#fff4e5;border-left:4px solid #f28e2b;"
	"padding:6px 10px;margin:8px 0}.note{color:#666;font-size:12px}.unk{color:#999}";

/* Search (highlight and the share matched) and zoom of the flame graphs. */
static const char script[] =
	"(function(){'use strict';"
	"function boxes(svg){return Array.prototype.slice.call(svg.querySelectorAll('g.f'));}"
	"function zoom(svg,g){var x=+g.dataset.x,w=+g.dataset.w,d=+g.dataset.d,W=+svg.getAttribute('width');"
	"boxes(svg).forEach(function(b){var bx=+b.dataset.x,bw=+b.dataset.w,bd=+b.dataset.d,"
	"r=b.querySelector('rect'),t=b.querySelector('text');"
	"var inside=bx+bw>x+1e-6&&bx<x+w-1e-6&&(bd>=d||(bx<=x+1e-6&&bx+bw>=x+w-1e-6));"
	"b.style.display=inside?'':'none';if(!inside)return;"
	"var nx=bd<d?0:(bx-x)/w*W,nw=bd<d?W:bw/w*W;r.setAttribute('x',nx);r.setAttribute('width',nw);"
	"t.setAttribute('x',nx+3);var name=b.querySelector('title').textContent.split(' ')[0];"
	"var n=Math.floor(nw/7);t.textContent=n>2?(name.length>n?name.slice(0,n-2)+'..':name):'';});}"
	"function reset(svg){var W=+svg.getAttribute('width');boxes(svg).forEach(function(b){"
	"b.style.display='';var r=b.querySelector('rect'),t=b.querySelector('text');"
	"r.setAttribute('x',b.dataset.x);r.setAttribute('width',b.dataset.w);"
	"t.setAttribute('x',+b.dataset.x+3);var name=b.querySelector('title').textContent.split(' ')[0];"
	"var n=Math.floor(+b.dataset.w/7);t.textContent=n>2?(name.length>n?name.slice(0,n-2)+'..':name):'';});}"
	"function search(svg,q,out){var W=+svg.getAttribute('width'),hit=[];boxes(svg).forEach(function(b){"
	"var name=b.querySelector('title').textContent.split(' ')[0],m=q&&name.indexOf(q)>=0;"
	"b.querySelector('rect').classList.toggle('hit',!!m);if(m)hit.push(b);});"
	"var sum=0;hit.forEach(function(b){var x=+b.dataset.x,w=+b.dataset.w,d=+b.dataset.d;"
	"if(!hit.some(function(a){return +a.dataset.d<d&&+a.dataset.x<=x&&+a.dataset.x+(+a.dataset.w)>=x+w;}))sum+=w;});"
	"out.textContent=q?('matched '+(100*sum/W).toFixed(1)+'%'):'';}"
	"document.querySelectorAll('svg.flame').forEach(function(svg){"
	"svg.addEventListener('click',function(e){var g=e.target.closest('g.f');if(g)zoom(svg,g);});});"
	"document.querySelectorAll('input[data-flame]').forEach(function(i){"
	"var svg=document.getElementById(i.dataset.flame);i.addEventListener('input',function(){"
	"search(svg,i.value,document.getElementById(i.dataset.flame+'-match'));});});"
	"document.querySelectorAll('button[data-reset]').forEach(function(b){"
	"b.addEventListener('click',function(){reset(document.getElementById(b.dataset.reset));});});"
	/* #search=NAME in the address: that search on every graph (a link to share). */
	"var h=decodeURIComponent(location.hash||'');if(h.indexOf('#search=')===0){"
	"document.querySelectorAll('input[data-flame]').forEach(function(i){i.value=h.slice(8);"
	"search(document.getElementById(i.dataset.flame),i.value,"
	"document.getElementById(i.dataset.flame+'-match'));});}"
	"})();";

static void proc_table(FILE *f, const struct mw_rep *r, const size_t *order)
{
	char a[32], b[32], c[32];

	fputs("<table><tr><th>pid</th><th class=\"l\">command</th><th>threads</th><th>mapped</th>"
	      "<th>committed</th><th>resident</th><th>arenas</th><th>diagnoses</th></tr>\n",
	      f);
	for (size_t i = 0; i < r->nprocs; i++) {
		const struct mw_rep_proc *p = &r->procs[order[i]];

		fprintf(f, "<tr><td><a href=\"#pid%u\">%u</a></td><td class=\"l\">", p->pid,
			p->pid);
		esc(f, p->comm);
		fprintf(f,
			"</td><td>%" PRIu64 "</td><td>%s</td><td>%s</td><td>%s</td><td>%zu</td>"
			"<td>%zu</td></tr>\n",
			p->threads, human(a, sizeof(a), (double)p->last_mapped),
			p->have_committed ? human(b, sizeof(b), (double)p->last_committed) : "?",
			p->have_resident ? human(c, sizeof(c), (double)p->last_resident)
					 : "<span class=\"unk\">unknown</span>",
			p->narenas, p->ndiag);
	}
	fputs("</table>\n", f);
}

static void thread_table(FILE *f, const struct mw_rep *r, const size_t *idx, size_t n)
{
	char a[32], b[32];

	fputs("<table><tr><th>tid</th><th class=\"l\">thread</th><th>net mapped (last)</th>"
	      "<th>peak</th><th>arenas created</th><th class=\"l\">still mapped, by class</th>"
	      "</tr>\n",
	      f);
	for (size_t i = 0; i < n; i++) {
		const struct mw_rep_thread *t = &r->threads[idx[i]];
		bool first = true;

		fprintf(f, "<tr><td>%u</td><td class=\"l\">", t->tid);
		esc(f, t->comm);
		fprintf(f, "</td><td>%s</td><td>%s</td><td>%u</td><td class=\"l\">",
			human(a, sizeof(a), (double)t->cur), human(b, sizeof(b), (double)t->peak),
			t->arenas_created);
		for (int c = 0; c < MW_CLASS_COUNT; c++) {
			if (!t->by_class[c])
				continue;
			fprintf(f, "%s%s %s", first ? "" : ", ", mw_class_name(c),
				human(a, sizeof(a), (double)t->by_class[c]));
			first = false;
		}
		fputs("</td></tr>\n", f);
	}
	fputs("</table>\n", f);
}

/* Classes: what the threads mapped that is still mapped, summed (their last summaries). */
static void class_bars(FILE *f, const struct mw_rep *r, const size_t *idx, size_t n)
{
	uint64_t sum[MW_CLASS_COUNT] = { 0 }, max = 0;
	int rows = 0;
	char a[32];

	for (size_t i = 0; i < n; i++)
		for (int c = 0; c < MW_CLASS_COUNT; c++)
			sum[c] += r->threads[idx[i]].by_class[c];
	for (int c = 0; c < MW_CLASS_COUNT; c++) {
		max = sum[c] > max ? sum[c] : max;
		rows += sum[c] > 0;
	}
	if (!rows)
		return;
	fprintf(f,
		"<svg class=\"chart\" width=\"%d\" height=\"%d\"><text x=\"%d\" y=\"15\" "
		"class=\"ct\">Classes: what the traced threads mapped that is still mapped</text>",
		CW, 30 + rows * 20, ML);
	rows = 0;
	for (int c = 0; c < MW_CLASS_COUNT; c++) {
		double w;

		if (!sum[c])
			continue;
		w = (double)sum[c] / (double)max * (CW - 260);
		fprintf(f, "<text x=\"110\" y=\"%d\" class=\"yl\">%s</text>", 40 + rows * 20,
			mw_class_name(c));
		fprintf(f, "<rect x=\"116\" y=\"%d\" width=\"%.1f\" height=\"14\" fill=\"%s\"/>",
			29 + rows * 20, w, palette[c % 12]);
		fprintf(f, "<text x=\"%.1f\" y=\"%d\" class=\"lg\">%s</text>", 122 + w,
			40 + rows * 20, human(a, sizeof(a), (double)sum[c]));
		rows++;
	}
	fputs("</svg>\n", f);
}

static size_t reports_of(const struct mw_rep_series *s)
{
	size_t n = 0;

	for (size_t b = 0; b < s->nb; b++)
		n += s->set[b];
	return n;
}

static void proc_section(FILE *f, const struct mw_rep *r, const struct mw_rep_proc *p, int *fid)
{
	static const char *const stack_titles[MW_REP_NSTACKS] = {
		"Outstanding allocations by call stack (--malloc leaks)",
		"Page faults by call stack",
		"Mapped bytes by call stack (memory syscalls)",
	};
	size_t n, *idx = mw_rep_threads_of(r, p->pid, &n);

	fprintf(f, "<h2 id=\"pid%u\">pid %u: ", p->pid, p->pid);
	esc(f, p->comm);
	fprintf(f, "</h2>\n");
	chart_sizes(f, r, p);
	if (idx && n)
		chart_threads(f, r, idx, n, false);
	/* Committed per thread is known at reports only: drawn when there are several. */
	if (idx && n && reports_of(&r->threads[idx[0]].acc) > 1)
		chart_threads(f, r, idx, n, true);
	if (p->naev)
		chart_arenas(f, r, p);
	if (idx)
		class_bars(f, r, idx, n);
	for (int k = 0; k < MW_REP_NSTACKS; k++)
		flame_graph(f, &p->stacks[k], stack_titles[k], (*fid)++);
	if (p->ndiag) {
		fputs("<h3>Diagnoses</h3>\n", f);
		for (size_t i = 0; i < p->ndiag; i++) {
			fputs("<div class=\"diag\"><b>", f);
			esc(f, p->diag[i].kind);
			fputs("</b>: ", f);
			esc(f, p->diag[i].message);
			fputs("<br>options: ", f);
			esc(f, p->diag[i].remedy);
			fputs("</div>\n", f);
		}
	}
	if (idx) {
		fputs("<h3>Threads</h3>\n", f);
		thread_table(f, r, idx, n);
	}
	free(idx);
}

static const struct mw_rep *order_rep;

static int by_size(const void *a, const void *b)
{
	const struct mw_rep_proc *x = &order_rep->procs[*(const size_t *)a];
	const struct mw_rep_proc *y = &order_rep->procs[*(const size_t *)b];

	if (x->last_mapped != y->last_mapped)
		return x->last_mapped < y->last_mapped ? 1 : -1;
	return (x->pid > y->pid) - (x->pid < y->pid);
}

void mw_rep_html(FILE *f, const struct mw_rep *r, const char *source)
{
	size_t *order = malloc((r->nprocs + 1) * sizeof(*order));
	char a[32];
	int fid = 0;

	if (!order)
		return;
	for (size_t i = 0; i < r->nprocs; i++)
		order[i] = i;
	order_rep = r;
	qsort(order, r->nprocs, sizeof(*order), by_size);
	fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
	      "<title>memwatch report</title><style>",
	      f);
	fputs(css, f);
	fputs("</style></head><body>\n<h1>memwatch report: ", f);
	esc(f, source);
	span_text(a, sizeof(a), (double)(r->t1 - r->t0) / 1e9);
	fprintf(f,
		"</h1>\n<p>%zu processes, %zu threads, %" PRIu64 " objects over %s "
		"(each chart shows the last exact value in each of its time steps; resident "
		"memory where the run measured it).</p>\n",
		r->nprocs, r->nthreads, r->objects, a);
	proc_table(f, r, order);
	for (size_t i = 0; i < r->nprocs && i < MW_REP_MAX_PROCS; i++)
		proc_section(f, r, &r->procs[order[i]], &fid);
	if (r->nprocs > MW_REP_MAX_PROCS)
		fprintf(f, "<p class=\"note\">%zu smaller processes are in the table only.</p>\n",
			r->nprocs - MW_REP_MAX_PROCS);
	fputs("<script>", f);
	fputs(script, f);
	fputs("</script>\n</body></html>\n", f);
	free(order);
}
